"""Campaign files into DAGs, for a DAG file to call: a whole folder, or one file.

**How a broken file shows up.** Airflow records import errors per parsed ``.py`` file, and a
module that raises contributes no DAG at all. So :func:`register_campaigns` never raises: it
puts every valid campaign's DAG into the DAG file's namespace and, when some files are broken,
one more object: a stand-in DAG whose validation (run by Airflow right after the import,
DAG by DAG) raises :class:`CampaignError` listing each broken file with line and key. Airflow
then keeps every good campaign and shows one import error, for the loader file, naming the
broken campaign files. For an import error attributed to each campaign file itself, give each
its own three-line DAG file calling :func:`campaign_dag` (see docs/campaigns.md).

Loading reads the YAML files and local items files only: no network, no connection lookup.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, MutableMapping
from pathlib import Path
from typing import Any

from airflow.sdk import DAG

from airflow_provider_wan.campaigns.dag import build_dag
from airflow_provider_wan.campaigns.files import CampaignFile, read_campaign
from airflow_provider_wan.campaigns.problems import CampaignError, Problem
from airflow_provider_wan.campaigns.static_checks import static_problems

ERRORS_DAG_ID = "wan_campaign_errors"
CAMPAIGN_SUFFIXES = (".yaml", ".yml")


def campaign_files(folder: str | os.PathLike[str]) -> list[Path]:
    """The campaign files under *folder* (recursively, sorted; hidden and ``_`` names skipped)."""
    root = Path(folder)
    found = []
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root).parts
        if any(part.startswith((".", "_")) for part in relative):
            continue
        if path.suffix.lower() in CAMPAIGN_SUFFIXES and path.is_file():
            found.append(path)
    return found


def load_campaign(
    path: str | os.PathLike[str],
    *,
    defaults: Mapping[str, Any] | None = None,
    base: str | os.PathLike[str] | None = None,
) -> CampaignFile:
    """Read, validate and check one campaign file as the DAG processor does.

    :param base: problems name files relative to this folder (default: the file's own).
    :raises CampaignError: every problem found, with file, line and key.
    """
    try:
        cf = read_campaign(path, defaults=defaults, base=base or Path(path).resolve().parent)
    except CampaignError as error:
        if error.partial is not None:  # list the items' and templates' problems too
            extra = [p for p in static_problems(error.partial) if p not in error.problems]
            problems = _in_file_order([*error.problems, *extra], error.partial.name)
            raise CampaignError(problems) from None
        raise
    problems = static_problems(cf)
    if problems:
        raise CampaignError(_in_file_order(problems, cf.name))
    return cf


def _in_file_order(problems: list[Problem], campaign: str) -> list[Problem]:
    """The campaign file's problems by line, then those of its items file."""
    return sorted(problems, key=lambda p: (p.file != campaign, p.file, p.line or 0))


def campaign_dag(path: str | os.PathLike[str], *, defaults: Mapping[str, Any] | None = None) -> DAG:
    """The DAG of one campaign file; a DAG file of its own makes its import error its own.

    A path relative to the calling DAG file's folder is fine: ``campaign_dag(Path(__file__)
    .with_suffix(".yaml"))``.

    :raises CampaignError: the file's problems (Airflow shows them as this file's import error).
    """
    return build_dag(load_campaign(path, defaults=defaults))


def load_campaigns(
    folder: str | os.PathLike[str], *, defaults: Mapping[str, Any] | None = None
) -> tuple[dict[str, DAG], list[Problem]]:
    """Every valid campaign under *folder* as a DAG by id, and the problems of the others.

    :param defaults: keys for every campaign that does not set them (e.g. ``connections``).
    """
    dags: dict[str, DAG] = {}
    owners: dict[str, str] = {}
    problems: list[Problem] = []
    for path in campaign_files(folder):
        try:
            cf = load_campaign(path, defaults=defaults, base=Path(folder).resolve().parent)
        except CampaignError as error:
            problems += error.problems
            continue
        name = cf.spec.name
        if name in owners:
            problems.append(
                cf.problem(("name",), "name", f"{name!r} is already the name of {owners[name]}")
            )
            continue
        try:
            dags[name] = build_dag(cf)
        except Exception as error:  # an Airflow rule the spec does not know: report it, go on
            problems.append(Problem(cf.name, None, "", f"{type(error).__name__}: {error}"))
            continue
        owners[name] = cf.name
    return dags, problems


class CampaignErrors(DAG):
    """Stands in for broken campaign files: Airflow validates it and records the error."""

    campaign_problems: list[Problem]

    def validate(self) -> None:
        raise CampaignError(getattr(self, "campaign_problems", []))


def errors_dag(problems: list[Problem]) -> DAG:
    """A stand-in DAG whose validation raises :class:`CampaignError` with *problems*."""
    stand_in = CampaignErrors(
        dag_id=ERRORS_DAG_ID, schedule=None, description="broken campaign files"
    )
    stand_in.campaign_problems = list(problems)
    return stand_in


def register_campaigns(
    folder: str | os.PathLike[str],
    namespace: MutableMapping[str, Any],
    *,
    defaults: Mapping[str, Any] | None = None,
) -> dict[str, DAG]:
    """Put the DAG of every valid campaign under *folder* into *namespace* (a DAG file's
    ``globals()``); broken files become one import error that names each of them.

    :returns: the DAGs, by id.
    """
    dags, problems = load_campaigns(folder, defaults=defaults)
    for dag_id, dag in dags.items():
        namespace[f"campaign__{dag_id}"] = dag
    if problems:
        namespace["campaign__errors"] = errors_dag(problems)
    return dags
