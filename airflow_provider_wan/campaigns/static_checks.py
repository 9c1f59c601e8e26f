"""The checks a campaign gets every time its DAG is built: cheap, local, no network.

On top of the spec's own validation: the items beside the YAML (readable, keys present and
unique), the templates (they compile; every name they read is a field of every item, a run
field, ``item`` or ``variant``) and the destination (a valid template for the upload mode).
Items in a bucket are read at run time only; the plan task then checks them fully.
"""

from __future__ import annotations

from datetime import datetime, timezone

from airflow_provider_wan.campaigns.files import CampaignFile
from airflow_provider_wan.campaigns.items import ItemSet, read_items
from airflow_provider_wan.campaigns.planning import render_destination
from airflow_provider_wan.campaigns.problems import Problem
from airflow_provider_wan.campaigns.prompts import PromptError, compile_template, missing_names
from airflow_provider_wan.campaigns.rendering import run_fields

_LISTED = 5
SAMPLE_RUN = run_fields(
    logical_date=datetime(2026, 1, 1, tzinfo=timezone.utc),
    run_id="scheduled__2026-01-01T00:00:00+00:00",
    dag_id="campaign",
)
"""Run fields used where a check needs some (the destination's ``{{ ds }}``)."""


def templates_of(cf: CampaignFile) -> list[tuple[tuple[str | int, ...], str, str]]:
    """(key path, key, source) of every template of the campaign."""
    spec = cf.spec
    found: list[tuple[tuple[str | int, ...], str, str]] = [(("prompt",), "prompt", spec.prompt)]
    if spec.negative_prompt:
        found.append((("negative_prompt",), "negative_prompt", spec.negative_prompt))
    found += [
        (("reference_images", n), f"reference_images[{n}]", source)
        for n, source in enumerate(spec.reference_images)
    ]
    return found


def template_problems(cf: CampaignFile, items: ItemSet | None) -> list[Problem]:
    """Templates that do not compile, or read a field some items lack (named with the items)."""
    problems = []
    for path, key, source in templates_of(cf):
        try:
            compiled = compile_template(source)
        except PromptError as error:
            problems.append(cf.problem(path, key, str(error)))
            continue
        if items is None:
            continue
        lacking: dict[str, list[str]] = {}
        for item in items.items:
            for name in missing_names(compiled, item.fields):
                place = f"{item.key} ({item.file}:{item.line})" if item.line else item.key
                lacking.setdefault(name, []).append(place)
        variant_fields = {name for v in cf.spec.variants for name in v.fields}
        for name, where in sorted(lacking.items()):
            if name in variant_fields:
                problems.append(
                    cf.problem(
                        path,
                        key,
                        f"uses {name!r}: a variant's fields are read as {{{{ variant.{name} }}}}",
                    )
                )
                continue
            listed = ", ".join(where[:_LISTED])
            more = f" and {len(where) - _LISTED} more" if len(where) > _LISTED else ""
            noun = "item does" if len(where) == 1 else f"{len(where)} items do"
            fields = ", ".join(sorted(items.field_names)) or "none"
            problems.append(
                cf.problem(
                    path,
                    key,
                    f"uses {name!r}, which {noun} not have: {listed}{more} (item fields: {fields})",
                )
            )
    return problems


def static_problems(cf: CampaignFile) -> list[Problem]:
    """Every problem found without network or connections (see the module's description)."""
    items = None if cf.spec.items.remote else read_items(cf)
    problems = list(items.problems) if items is not None else []
    problems += template_problems(cf, items)
    _, destination = render_destination(cf, cf.spec.destination, SAMPLE_RUN)
    problems += destination
    return problems
