"""The finishing step: parts merged into one manifest written last, a contact sheet labelled
with item keys, a summary; its status follows the failure policy and the budget."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from PIL import Image

from airflow_provider_wan.campaigns.contact_sheet import (
    Tile,
    cell_size,
    columns_for,
    render_contact_sheet,
)
from airflow_provider_wan.campaigns.finishing import ChunkOutcome, finish_run, sibling
from airflow_provider_wan.campaigns.spec import Campaign
from airflow_provider_wan.storage import FailureLine, ImageLine, LocalStore, write_manifest

CAMPAIGN = {
    "name": "c",
    "prompt": "p",
    "items": {"key": "k", "inline": [{"k": "a"}]},
    "destination": "file:///x/{item_key}.{ext}",
}


def png(color: tuple[int, int, int], size: tuple[int, int] = (64, 64)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, "PNG")
    return out.getvalue()


def image_line(root: Path, key: str, n: int) -> ImageLine:
    path = root / f"{key}-{n}.png"
    path.write_bytes(png((40 * n, 100, 200)))
    return ImageLine(
        item_key=key,
        task_uuid=f"t-{key}",
        image_uuid=f"i-{key}-{n}",
        uri=f"file://{path}",
        bytes=path.stat().st_size,
        format="PNG",
        width=64,
        height=64,
        cost=0.03,
    )


def test_parts_merge_into_one_manifest_written_last(tmp_path: Path) -> None:
    store = LocalStore()
    base = f"file://{tmp_path}/_manifests"
    write_manifest(
        store,
        f"{base}/r.part-0.jsonl",
        [image_line(tmp_path, "a", 0), image_line(tmp_path, "a", 1)],
    )
    write_manifest(
        store,
        f"{base}/r.part-1.jsonl",
        [
            image_line(tmp_path, "b", 0),
            FailureLine(item_key="c", task_uuid="t-c", code="timeoutProvider", message="m"),
        ],
    )
    outcomes = [
        ChunkOutcome(0, ["a"], "generated", f"{base}/r.part-0.jsonl", tasks=1),
        ChunkOutcome(1, ["b", "c"], "generated", f"{base}/r.part-1.jsonl", tasks=2),
    ]
    campaign = Campaign.model_validate({**CAMPAIGN, "allow_failures": 1})
    summary = finish_run(
        store,
        campaign,
        run_id="r",
        manifest=f"{base}/r.jsonl",
        outcomes=outcomes,
        cut_by_budget=[],
        plan={"items": 3, "requests": 3, "chunks": 2, "submitted_chunks": 2},
        duration_seconds=1.5,
    )
    assert summary.status == ["complete"]
    assert (summary.images, summary.failures, summary.cost_usd) == (3, 1, 0.09)
    manifest = tmp_path / "_manifests" / "r.jsonl"
    sheet = tmp_path / "_manifests" / "r.contact-sheet.png"
    written = tmp_path / "_manifests" / "r.summary.json"
    assert [json.loads(line)["item_key"] for line in manifest.read_text().splitlines()] == [
        "a",
        "a",
        "b",
        "c",
    ]
    assert manifest.stat().st_mtime_ns >= max(sheet.stat().st_mtime_ns, written.stat().st_mtime_ns)
    assert json.loads(written.read_text())["manifest"] == f"{base}/r.jsonl"
    with Image.open(sheet) as picture:
        assert picture.format == "PNG"


def test_the_run_is_incomplete_when_a_chunk_failed_or_over_policy(tmp_path: Path) -> None:
    store = LocalStore()
    base = f"file://{tmp_path}/_manifests"
    write_manifest(
        store,
        f"{base}/r.part-0.jsonl",
        [FailureLine(item_key=k, task_uuid=f"t-{k}", code="x", message="m") for k in ("a", "b")],
    )
    outcomes = [
        ChunkOutcome(0, ["a", "b"], "generated", f"{base}/r.part-0.jsonl", tasks=2),
        ChunkOutcome(1, ["c"], "failed", airflow_state="failed"),
        ChunkOutcome(2, ["d"], "refused", airflow_state="skipped"),
    ]
    summary = finish_run(
        store,
        Campaign.model_validate({**CAMPAIGN, "budget": 1}),
        run_id="r",
        manifest=f"{base}/r.jsonl",
        outcomes=outcomes,
        cut_by_budget=["e"],
        plan={"chunks": 4, "submitted_chunks": 3},
        duration_seconds=None,
    )
    assert summary.status == ["budget_reached", "incomplete", "too_many_failures"]
    assert summary.not_generated == ["d", "e", "c"]
    assert summary.refused_chunks == 2 and summary.failed_chunks == 1
    assert "Clear those chunks" in summary.messages[1]


@pytest.mark.parametrize("count", [0, 1, 7, 40])
def test_the_contact_sheet_has_a_cell_per_tile(count: int) -> None:
    tiles = [Tile(f"item-{n}", png((n * 5 % 255, 80, 80))) for n in range(count)]
    data = render_contact_sheet(tiles, title="c", subtitle="s", thumbnail_px=64)
    with Image.open(io.BytesIO(data)) as picture:
        columns = columns_for(count)
        rows = max(1, -(-count // columns))
        assert picture.height > rows * 64
        assert picture.width >= min(columns * 64, 720)


def test_cells_take_the_shape_of_the_images() -> None:
    width, height = cell_size(256, 2700 / 768)
    assert width / height == pytest.approx(2700 / 768, rel=0.01)
    assert width * height == pytest.approx(256 * 256, rel=0.01)
    assert cell_size(256, 100) == cell_size(256, 4)


def test_a_broken_image_is_a_tile_that_says_so() -> None:
    data = render_contact_sheet(
        [Tile("a", b"not an image"), Tile("b", None, "failed: x")], title="c"
    )
    assert Image.open(io.BytesIO(data)).format == "PNG"


def test_siblings_sit_next_to_the_manifest() -> None:
    assert (
        sibling("gs://bucket/p/_manifests/r.jsonl", ".contact-sheet.png")
        == "gs://bucket/p/_manifests/r.contact-sheet.png"
    )
