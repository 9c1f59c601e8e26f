"""A campaign file as loaded: where it is, its parsed YAML (with lines) and its validated spec."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from airflow_provider_wan.campaigns.problems import CampaignError, Problem
from airflow_provider_wan.campaigns.spec import Campaign, validate_campaign
from airflow_provider_wan.campaigns.yaml_source import KeyPath, LocatedYAML, load_yaml


def display_path(path: Path, base: Path | None = None) -> str:
    """*path* relative to *base* (the working directory by default) when it is below it,
    else absolute."""
    start = (base or Path.cwd()).resolve()
    resolved = path.resolve()
    return str(resolved.relative_to(start)) if resolved.is_relative_to(start) else str(resolved)


@dataclass(frozen=True)
class CampaignFile:
    """A valid campaign and where it came from.

    :param path: the YAML file (absolute).
    :param name: how problems name the file.
    :param located: the parsed YAML with the line of each key.
    :param spec: the validated campaign.
    :param base: the folder that problems name files relative to (the working directory when
        None).
    """

    path: Path
    name: str
    located: LocatedYAML
    spec: Campaign
    base: Path | None = None

    def show(self, path: Path) -> str:
        """How problems name *path* (an items file): like the campaign file is named."""
        return display_path(path, self.base)

    @property
    def folder(self) -> Path:
        """The folder of the YAML: relative item files and reference images are read there."""
        return self.path.parent

    def problem(self, key_path: KeyPath, key: str, message: str) -> Problem:
        """A problem at *key_path* of this file."""
        return Problem(self.name, self.located.line_of(key_path), key, message)


def read_campaign(
    path: str | os.PathLike[str],
    *,
    defaults: Mapping[str, Any] | None = None,
    name: str | None = None,
    base: str | os.PathLike[str] | None = None,
) -> CampaignFile:
    """Parse and validate one campaign file (no items are read, no network).

    :param defaults: keys that apply when the file does not set them.
    :param name: how problems name the file (by default its path relative to *base*).
    :param base: the folder that problems name files relative to (default: the working
        directory; the DAG loader uses the DAGs folder).
    :raises CampaignError: listing every problem with file, line and key.
    """
    resolved = Path(path).resolve()
    root = Path(base) if base is not None else None
    label = name or display_path(resolved, root)
    located = load_yaml(resolved, label)
    spec, problems = validate_campaign(located, label, defaults=defaults)
    if spec is None or problems:
        error = CampaignError(problems or [Problem(label, None, "", "not a valid campaign")])
        error.partial = _salvage(resolved, label, located, problems, defaults, root)
        raise error
    return CampaignFile(resolved, label, located, spec, root)


def _salvage(
    path: Path,
    label: str,
    located: LocatedYAML,
    problems: list[Problem],
    defaults: Mapping[str, Any] | None,
    root: Path | None,
) -> CampaignFile | None:
    """The campaign without its broken top-level keys (their defaults instead), when that is
    valid: so the items and templates of a file with a typo elsewhere are checked too."""
    if not isinstance(located.data, Mapping):
        return None
    broken = {problem.key.split(".")[0].split("[")[0] for problem in problems}
    if "" in broken:
        return None
    kept = {key: value for key, value in located.data.items() if key not in broken}
    spec, _ = validate_campaign(LocatedYAML(kept, located.lines), label, defaults=defaults)
    return CampaignFile(path, label, located, spec, root) if spec is not None else None
