"""The end of a campaign run: one manifest from the chunks' parts, a contact sheet, a summary.

Pure, apart from the store it is handed: the finishing task (:mod:`.finish_operator`) gathers
what each chunk did and calls :func:`finish_run`. The run manifest is written **last**, after
the contact sheet and the summary, in one atomic write: a run's manifest exists only once
everything else about the run is on storage.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal

from airflow_provider_wan.campaigns.contact_sheet import Tile, render_contact_sheet
from airflow_provider_wan.campaigns.spec import Campaign
from airflow_provider_wan.outcome import allowed_failures
from airflow_provider_wan.storage import (
    FailureLine,
    ImageLine,
    ObjectStore,
    parse_uri,
    read_manifest,
    write_manifest,
)
from airflow_provider_wan.storage.manifest import normalize

Status = Literal["complete", "budget_reached", "incomplete", "too_many_failures"]
_READERS = 8
_LISTED = 20


@dataclass
class ChunkOutcome:
    """What became of one planned chunk.

    :param state: ``generated`` (its manifest part exists), ``refused`` (the budget stopped
        it before submission) or ``failed`` (it ended without a manifest part).
    """

    index: int
    item_keys: list[str]
    state: Literal["generated", "refused", "failed"]
    manifest: str | None = None
    tasks: int = 0
    airflow_state: str | None = None


@dataclass
class RunSummary:
    """What the run made; the XCom value of the finishing task and ``<run>.summary.json``."""

    campaign: str
    run_id: str
    status: list[Status] = field(default_factory=list)
    items: int = 0
    requests: int = 0
    chunks: int = 0
    generated_chunks: int = 0
    refused_chunks: int = 0
    failed_chunks: int = 0
    tasks: int = 0
    images: int = 0
    failures: int = 0
    allowed_failures: int = 0
    cost_usd: float = 0.0
    estimated_cost_usd: float = 0.0
    budget_usd: float | None = None
    duration_seconds: float | None = None
    not_generated: list[str] = field(default_factory=list)
    manifest: str = ""
    contact_sheet: str | None = None
    summary: str = ""
    messages: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        data = dict(self.__dict__)
        data["not_generated"] = self.not_generated[: _LISTED * 5]
        return data


def sibling(manifest: str, suffix: str) -> str:
    """``.../_manifests/<run>.jsonl`` -> ``.../_manifests/<run><suffix>``."""
    uri = parse_uri(manifest)
    stem = uri.name.removesuffix(".jsonl")
    return str(uri.parent.join(stem + suffix))


def merge_parts(store: ObjectStore, parts: Sequence[str]) -> list[ImageLine | FailureLine]:
    """Every line of the chunks' manifest parts, deduplicated and sorted."""
    lines: list[ImageLine | FailureLine] = []
    for part in parts:
        lines += read_manifest(store, part)
    return normalize(lines)


def _tiles(store: ObjectStore, lines: Sequence[ImageLine | FailureLine], limit: int) -> list[Tile]:
    images = [line for line in lines if isinstance(line, ImageLine)]
    failures = [line for line in lines if isinstance(line, FailureLine)]
    counts: dict[str, int] = {}
    for line in images:
        counts[line.item_key] = counts.get(line.item_key, 0) + 1
    shown = images[:limit]
    with ThreadPoolExecutor(max_workers=_READERS) as pool:
        data = list(pool.map(lambda line: _read_quietly(store, line.uri), shown))
    tiles, seen = [], dict.fromkeys(counts, 0)
    for line, content in zip(shown, data, strict=True):
        label = line.item_key
        if counts[line.item_key] > 1:
            seen[line.item_key] += 1
            label = f"{line.item_key} #{seen[line.item_key]}"
        tiles.append(Tile(label, content, "" if content is not None else "unreadable"))
    for failure in failures[: max(0, limit - len(tiles))]:
        tiles.append(Tile(failure.item_key, None, f"failed: {failure.code}"))
    return tiles


def _read_quietly(store: ObjectStore, uri: str) -> bytes | None:
    try:
        return store.read(uri)
    except Exception:  # a tile says "unreadable"; the sheet is a convenience, not the record
        return None


def finish_run(
    store: ObjectStore,
    campaign: Campaign,
    *,
    run_id: str,
    manifest: str,
    outcomes: Sequence[ChunkOutcome],
    cut_by_budget: Sequence[str],
    plan: dict[str, Any],
    duration_seconds: float | None,
) -> RunSummary:
    """Merge the parts, write the contact sheet and the summary, then the manifest; return
    the summary with its status (``complete`` only when nothing is missing or over policy)."""
    generated = [o for o in outcomes if o.state == "generated"]
    refused = [o for o in outcomes if o.state == "refused"]
    failed = [o for o in outcomes if o.state == "failed"]
    lines = merge_parts(store, [o.manifest for o in generated if o.manifest])
    images = [line for line in lines if isinstance(line, ImageLine)]
    failure_lines = [line for line in lines if isinstance(line, FailureLine)]
    tasks = sum(o.tasks for o in generated)
    failed_tasks = len({line.task_uuid for line in failure_lines})
    summary = RunSummary(
        campaign=campaign.name,
        run_id=run_id,
        items=int(plan.get("items", 0)),
        requests=int(plan.get("requests", 0)),
        chunks=int(plan.get("chunks", 0)),
        generated_chunks=len(generated),
        refused_chunks=len(refused)
        + (int(plan.get("chunks", 0)) - int(plan.get("submitted_chunks", 0))),
        failed_chunks=len(failed),
        tasks=tasks,
        images=len(images),
        failures=len(failure_lines),
        allowed_failures=allowed_failures(campaign.allow_failures, tasks),
        cost_usd=round(sum(line.cost or 0.0 for line in images), 6),
        estimated_cost_usd=float(plan.get("estimated_cost_usd", 0.0)),
        budget_usd=campaign.budget.limit_usd if campaign.budget else None,
        duration_seconds=round(duration_seconds, 3) if duration_seconds is not None else None,
        manifest=manifest,
        summary=sibling(manifest, ".summary.json"),
    )
    budget_keys = [key for o in refused for key in o.item_keys] + list(cut_by_budget)
    failed_keys = [key for o in failed for key in o.item_keys]
    summary.not_generated = budget_keys + failed_keys
    if budget_keys:
        summary.status.append("budget_reached")
        summary.messages.append(
            f"Budget of {summary.budget_usd:.2f} USD reached: {len(budget_keys)} request(s) "
            f"were not submitted ({_listing(budget_keys)}); spent {summary.cost_usd:.2f} USD"
        )
    if failed:
        summary.status.append("incomplete")
        summary.messages.append(
            f"{len(failed)} chunk(s) ended without storing their images "
            f"({', '.join(f'chunk {o.index}: {o.airflow_state}' for o in failed[:5])}); their "
            f"{len(failed_keys)} request(s) are not in this manifest ({_listing(failed_keys)}). "
            "Clear those chunks (and this task) to finish them: nothing is paid twice"
        )
    if failed_tasks > summary.allowed_failures:
        summary.status.append("too_many_failures")
        summary.messages.append(
            f"{failed_tasks} of {tasks} request(s) failed, more than allow_failures "
            f"({summary.allowed_failures}); the failures are listed in the manifest"
        )
    if not summary.status:
        summary.status.append("complete")
    sheet = campaign.contact_sheet
    if sheet.enabled:
        summary.contact_sheet = sibling(manifest, ".contact-sheet.png")
        png = render_contact_sheet(
            _tiles(store, lines, sheet.max_images),
            title=campaign.name,
            subtitle=f"{run_id}  |  {_subtitle(summary, len(images), sheet.max_images)}",
            thumbnail_px=sheet.thumbnail_px,
            aspect=campaign.generation.width / campaign.generation.height,
        )
        store.write_bytes(summary.contact_sheet, png, content_type="image/png")
    store.write_bytes(
        summary.summary,
        (json.dumps(summary.as_dict(), indent=2, default=str) + "\n").encode("utf-8"),
        content_type="application/json",
    )
    write_manifest(store, manifest, lines)  # last: the run is complete when it exists
    return summary


def _subtitle(summary: RunSummary, images: int, limit: int) -> str:
    shown = f" (first {limit} shown)" if images > limit else ""
    return (
        f"{summary.images} image(s){shown}, {summary.failures} failure(s), "
        f"{summary.cost_usd:.2f} USD, status: {', '.join(summary.status)}"
    )


def _listing(keys: Sequence[str]) -> str:
    shown = ", ".join(keys[:_LISTED])
    return f"{shown} and {len(keys) - _LISTED} more" if len(keys) > _LISTED else shown
