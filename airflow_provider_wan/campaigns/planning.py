"""A run's plan: items rendered into requests, split into chunks, cut to the budget.

Pure (no Airflow, no network): the plan task runs it with the run's fields and items, and
``wan campaign render`` runs it with a date of your choosing, so both show the same requests.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_wan.campaigns.budget import planned_chunks
from airflow_provider_wan.campaigns.chunking import chunked
from airflow_provider_wan.campaigns.files import CampaignFile
from airflow_provider_wan.campaigns.items import Item
from airflow_provider_wan.campaigns.problems import Problem
from airflow_provider_wan.campaigns.prompts import PromptError, render
from airflow_provider_wan.campaigns.rendering import PlannedRequest, render_requests
from airflow_provider_wan.campaigns.spec import DEFAULT_COST_PER_IMAGE
from airflow_provider_wan.storage import (
    DestinationTemplate,
    ImageName,
    InvalidDestinationError,
    NameCollisionError,
    check_unique,
)
from airflow_provider_wan.storage.formats import extension_for


@dataclass
class RunPlan:
    """What one run will send, in chunks, and what the budget leaves out."""

    campaign: str
    items: int = 0
    destination: str = ""
    manifest: str = ""
    requests: list[PlannedRequest] = field(default_factory=list)
    chunks: list[list[PlannedRequest]] = field(default_factory=list)
    admitted: int = 0
    price: float = DEFAULT_COST_PER_IMAGE
    budget_usd: float | None = None
    problems: list[Problem] = field(default_factory=list)

    @property
    def images(self) -> int:
        return sum(request.images for request in self.requests)

    @property
    def estimated_cost(self) -> float:
        """The estimated cost of every request (USD)."""
        return round(self.images * self.price, 6)

    @property
    def submitted(self) -> list[list[PlannedRequest]]:
        """The chunks within the budget, in order."""
        return self.chunks[: self.admitted]

    @property
    def cut(self) -> list[list[PlannedRequest]]:
        """The chunks the budget leaves out."""
        return self.chunks[self.admitted :]

    @property
    def submitted_cost(self) -> float:
        return round(sum(r.images for chunk in self.submitted for r in chunk) * self.price, 6)

    def chunk_images(self) -> list[int]:
        """Images per submitted chunk, in order."""
        return [sum(request.images for request in chunk) for chunk in self.submitted]

    def describe(self) -> str:
        """A few lines for the log and the command line."""
        lines = [
            f"{self.items} item(s) -> {len(self.requests)} request(s), {self.images} image(s) "
            f"in {len(self.chunks)} chunk(s); estimated cost {self.estimated_cost:.2f} USD at "
            f"{self.price:.4f} per image",
        ]
        if self.budget_usd is not None:
            lines.append(
                f"budget {self.budget_usd:.2f} USD: {self.admitted} of {len(self.chunks)} chunk(s) "
                f"fit ({self.submitted_cost:.2f} USD estimated)"
            )
            if self.cut:
                keys = [r.item_key for chunk in self.cut for r in chunk]
                lines.append(
                    f"over budget, not submitted: {len(keys)} request(s) ({_listing(keys)})"
                )
        lines.append(f"destination: {self.destination}")
        return "\n".join(lines)


def _listing(keys: Sequence[str], limit: int = 5) -> str:
    shown = ", ".join(keys[:limit])
    return f"{shown} and {len(keys) - limit} more" if len(keys) > limit else shown


def render_destination(
    cf: CampaignFile, destination: str, run: Mapping[str, Any], *, override: bool = False
) -> tuple[str, list[Problem]]:
    """The destination with its run fields rendered (``{{ ds }}``), checked as a template.

    :param override: *destination* is the run's ``destination`` param, not the file's.
    """
    key = "params.destination" if override else "destination"

    def problem(message: str, at: str = "destination") -> Problem:
        if override:
            return Problem(cf.name, None, key, message)
        return cf.problem((at,), at, message)

    try:
        rendered = render(destination, run, collapse=False)
    except PromptError as error:
        return "", [problem(str(error))]
    try:
        template = DestinationTemplate(rendered)
    except InvalidDestinationError as error:
        return rendered, [problem(str(error))]
    problems = []
    if cf.spec.upload_mode == "push":
        if template.scheme == "file":
            problems.append(
                problem(
                    "push needs a gs:// or s3:// destination: Runware cannot write to a local "
                    "path (use upload_mode: pull)",
                    "upload_mode",
                )
            )
        elif not template.known_before_submission:
            problems.append(
                problem(
                    f"push mode needs names known before submission; {sorted(template.fields)} "
                    "may only use item_key, index, task_uuid and ext"
                )
            )
    return rendered, problems


def check_names(
    cf: CampaignFile, destination: str, requests: Sequence[PlannedRequest], run_id: str
) -> list[Problem]:
    """Two images of the run must never get the same name (checked before any spend)."""
    try:
        template = DestinationTemplate(destination)
    except InvalidDestinationError:
        return []  # reported by render_destination
    if "task_uuid" in template.fields and "item_key" not in template.fields:
        return []  # unique per task: the chunk's own check covers it
    ext = extension_for(cf.spec.generation.output_format)
    names = [ImageName(r.item_key, index, ext) for r in requests for index in range(r.images)]
    try:
        check_unique(template, names, run_id=run_id)
    except NameCollisionError as error:
        return [cf.problem(("destination",), "destination", str(error))]
    except InvalidDestinationError as error:
        return [cf.problem(("destination",), "destination", str(error))]
    return []


def plan_run(
    cf: CampaignFile,
    items: Sequence[Item],
    run: Mapping[str, Any],
    *,
    destination: str | None = None,
    max_items: int | None = None,
) -> RunPlan:
    """Render, check, chunk and budget one run.

    :param run: the run's fields (:func:`~.rendering.run_fields`).
    :param destination: another destination template for this run.
    :param max_items: only the first items (a sample).
    """
    spec = cf.spec
    budget = spec.budget
    plan = RunPlan(
        campaign=spec.name,
        price=budget.cost_per_image_usd if budget else DEFAULT_COST_PER_IMAGE,
        budget_usd=budget.limit_usd if budget else None,
    )
    chosen = list(items[:max_items] if max_items is not None else items)
    plan.items = len(chosen)
    rendered = render_requests(cf, chosen, run)
    plan.requests = rendered.requests
    plan.problems += rendered.problems
    plan.destination, problems = render_destination(
        cf, destination or spec.destination, run, override=destination is not None
    )
    plan.problems += problems
    if not problems:
        plan.manifest = str(DestinationTemplate(plan.destination).manifest_uri(str(run["run_id"])))
        plan.problems += check_names(cf, plan.destination, plan.requests, str(run["run_id"]))
    plan.chunks = chunked(plan.requests, spec.chunk_size)
    images = [sum(r.images for r in chunk) for chunk in plan.chunks]
    plan.admitted = planned_chunks(images, plan.price, plan.budget_usd)
    return plan
