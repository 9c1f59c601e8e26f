"""Items into requests: each item (times each variant) renders the campaign's templates into one
wire-shaped ``imageInference`` request, validated by the API's own rules before anything is sent.

The same code renders at run time (the plan task), in ``wan campaign render`` and in
``wan campaign validate``, so what the command line shows is what the DAG sends.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from airflow_provider_wan.api.errors import InvalidRequestError
from airflow_provider_wan.api.validation import parse_inference
from airflow_provider_wan.api.wire import deep_merge
from airflow_provider_wan.campaigns.files import CampaignFile
from airflow_provider_wan.campaigns.items import Item, key_problem
from airflow_provider_wan.campaigns.problems import Problem
from airflow_provider_wan.campaigns.prompts import PromptError, context_for, render
from airflow_provider_wan.campaigns.spec import Campaign

MAX_LOCAL_REFERENCE_BYTES = 4 * 1024 * 1024
_LOCAL_IMAGE = re.compile(r"^[\w][\w ./-]*\.(png|jpe?g|webp)$", re.IGNORECASE)
_MAGIC = ((b"\x89PNG\r\n\x1a\n", "png"), (b"\xff\xd8\xff", "jpeg"), (b"RIFF", "webp"))
_LISTED = 5


def run_fields(*, logical_date: datetime, run_id: str, dag_id: str) -> dict[str, Any]:
    """The run's fields for templates: ``ds``, ``ds_nodash``, ``ts``, ``logical_date``,
    ``run_id``, ``dag_id`` and ``campaign`` (the DAG id)."""
    return {
        "ds": logical_date.strftime("%Y-%m-%d"),
        "ds_nodash": logical_date.strftime("%Y%m%d"),
        "ts": logical_date.isoformat(),
        "logical_date": logical_date,
        "run_id": run_id,
        "dag_id": dag_id,
        "campaign": dag_id,
    }


def wire_defaults(campaign: Campaign) -> dict[str, Any]:
    """The generation defaults as wire fields (what every request of the campaign shares)."""
    generation = campaign.generation
    defaults: dict[str, Any] = {
        "width": generation.width,
        "height": generation.height,
        "outputFormat": generation.output_format,
        "numberResults": generation.number_results,
        "providerSettings": {"alibaba": {"promptExtend": generation.prompt_extend}},
        "includeCost": True,
    }
    if generation.output_quality is not None:
        defaults["outputQuality"] = generation.output_quality
    if generation.safety is not None:
        safety = {"checkContent": generation.safety.check_content, "mode": generation.safety.mode}
        defaults["safety"] = {key: value for key, value in safety.items() if value is not None}
    return defaults


@dataclass(frozen=True)
class PlannedRequest:
    """One request of a run: the item key and the fields that vary per item (wire names)."""

    item_key: str
    body: dict[str, Any]
    images: int
    file: str
    line: int | None

    def wire(self, campaign: Campaign) -> dict[str, Any]:
        """The whole request as sent (defaults merged in, ``item_key`` left out)."""
        merged = deep_merge(wire_defaults(campaign), self.body)
        merged.pop("item_key", None)
        return merged


@dataclass
class Rendered:
    """The requests of a run, and every problem found while rendering them."""

    requests: list[PlannedRequest] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    @property
    def images(self) -> int:
        return sum(request.images for request in self.requests)


def local_reference(value: str, folder: Path) -> str | None:
    """A data URI for a reference image that is a file beside the campaign, else None.

    Only relative paths inside the campaign's folder are read (item data may come from a
    bucket: it must not be able to send any file of the worker to Runware).

    :raises ValueError: the file is outside the folder, missing, too large or not an image.
    """
    if not _LOCAL_IMAGE.match(value) or "://" in value:
        return None
    path = (folder / value).resolve()
    if not path.is_relative_to(folder.resolve()):
        raise ValueError(f"{value!r} is outside the campaign's folder")
    try:
        size = path.stat().st_size
        if size > MAX_LOCAL_REFERENCE_BYTES:
            raise ValueError(
                f"{value!r} is {size:,} bytes; a local reference image is at most "
                f"{MAX_LOCAL_REFERENCE_BYTES:,} (use a URL or an uploaded image UUID)"
            )
        data = path.read_bytes()
    except OSError as error:
        raise ValueError(f"cannot read the reference image {value!r}: {error.strerror}") from None
    kind = next((name for magic, name in _MAGIC if data.startswith(magic)), None)
    if kind is None or (kind == "webp" and data[8:12] != b"WEBP"):
        raise ValueError(f"{value!r} is not a PNG, JPEG or WEBP image")
    return f"data:image/{kind};base64,{base64.b64encode(data).decode('ascii')}"


class _MissingFields:
    """Items that lack a field a template reads, gathered into one problem per (template, field)."""

    def __init__(self) -> None:
        self.by_field: dict[tuple[str, str], list[Item]] = {}

    def add(self, template_key: str, name: str, item: Item) -> None:
        self.by_field.setdefault((template_key, name), []).append(item)

    def problems(self, cf: CampaignFile) -> list[Problem]:
        found = []
        for (template_key, name), items in self.by_field.items():
            listed = ", ".join(
                f"{item.key} ({item.file}:{item.line})" if item.line else item.key
                for item in items[:_LISTED]
            )
            more = f" and {len(items) - _LISTED} more" if len(items) > _LISTED else ""
            noun = "item does" if len(items) == 1 else f"{len(items)} items do"
            found.append(
                cf.problem(
                    _template_path(template_key),
                    template_key,
                    f"uses {name!r}, which {noun} not have: {listed}{more}",
                )
            )
        return found


def _template_path(template_key: str) -> tuple[str | int, ...]:
    if template_key.startswith("reference_images["):
        return ("reference_images", int(template_key.split("[")[1].rstrip("]")))
    return (template_key,)


def render_requests(cf: CampaignFile, items: Sequence[Item], run: Mapping[str, Any]) -> Rendered:
    """Render every item (times every variant) into a validated request.

    Problems name the campaign file and the template's line for a missing field (listing the
    items without it), and the item's file and line for a request that breaks an API rule.
    """
    campaign = cf.spec
    result = Rendered()
    missing = _MissingFields()
    defaults = wire_defaults(campaign)
    seen: dict[str, Item] = {}
    variants: list[Mapping[str, Any] | None] = [v.fields for v in campaign.variants] or [None]
    for item in items:
        for variant in variants:
            key = item.key if variant is None else f"{item.key}-{variant['name']}"
            reason = key_problem(key)
            if reason:
                result.problems.append(Problem(item.file, item.line, campaign.items.key, reason))
                continue
            if key in seen:
                result.problems.append(
                    Problem(
                        item.file,
                        item.line,
                        campaign.items.key,
                        f"item key {key!r} (with its variant) is also made by item "
                        f"{seen[key].key!r}; rename an item or a variant",
                    )
                )
                continue
            seen[key] = item
            request = _render_one(cf, item, key, variant, run, missing, result.problems)
            if request is None:
                continue
            try:
                task = parse_inference(deep_merge(defaults, request))
            except InvalidRequestError as error:
                for problem in error.problems:
                    result.problems.append(
                        Problem(
                            item.file,
                            item.line,
                            problem.field,
                            f"item {key!r}: {problem.rule} ({problem.value})",
                        )
                    )
                continue
            result.requests.append(
                PlannedRequest(
                    key, {"item_key": key, **request}, task.expected_images, item.file, item.line
                )
            )
    result.problems[:0] = missing.problems(cf)
    return result


def _render_one(
    cf: CampaignFile,
    item: Item,
    key: str,
    variant: Mapping[str, Any] | None,
    run: Mapping[str, Any],
    missing: _MissingFields,
    problems: list[Problem],
) -> dict[str, Any] | None:
    campaign = cf.spec
    context = context_for(item.fields, run, variant)
    templates: list[tuple[str, str]] = [("prompt", campaign.prompt)]
    if campaign.negative_prompt:
        templates.append(("negative_prompt", campaign.negative_prompt))
    templates += [
        (f"reference_images[{n}]", source) for n, source in enumerate(campaign.reference_images)
    ]
    values: dict[str, str] = {}
    failed = False
    for template_key, source in templates:
        try:
            values[template_key] = render(source, context)
        except PromptError as error:
            failed = True
            if error.field:
                missing.add(template_key, error.field, item)
            else:
                problems.append(
                    cf.problem(_template_path(template_key), template_key, f"item {key!r}: {error}")
                )
    if failed:
        return None
    request: dict[str, Any] = {"positivePrompt": values["prompt"]}
    if values.get("negative_prompt"):
        request["negativePrompt"] = values["negative_prompt"]
    references = []
    for n in range(len(campaign.reference_images)):
        value = values[f"reference_images[{n}]"]
        if not value:
            continue  # an item without this reference image
        try:
            references.append(local_reference(value, cf.folder) or value)
        except ValueError as error:
            problems.append(
                Problem(item.file, item.line, f"reference_images[{n}]", f"item {key!r}: {error}")
            )
            return None
    if references:
        request["inputs"] = {"referenceImages": references}
    safety = campaign.generation.safety
    if safety is not None and safety.mode is not None:
        request["safety"] = {"mode": safety.mode}  # the operator's defaults carry checkContent
    return request
