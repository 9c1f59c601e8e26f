"""Campaign DAGs run to the end through dag.test() against the emulator: every example
campaign, the budget, the failure policy, items read from a bucket at run time, and the
checks that stop a run before anything is paid."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from airflow_provider_wan.emulator import EmulatorServer
from airflow_provider_wan.storage import parse_uri
from tests.fixtures.runware_emulator import EMULATOR_API_KEY

EXAMPLES = Path(__file__).resolve().parents[2] / "dags" / "campaigns"
RunDag = Callable[..., Any]


def destination(root: Path) -> str:
    return f"file://{root}/{{{{ ds }}}}/{{item_key}}-{{index}}.{{ext}}"


def ti_of(run: Any, task_id: str, map_index: int = -1) -> Any:
    [ti] = [
        t for t in run.get_task_instances() if t.task_id == task_id and t.map_index == map_index
    ]
    return ti


def states(run: Any, task_id: str) -> dict[int, str]:
    return {t.map_index: t.state for t in run.get_task_instances() if t.task_id == task_id}


def local(uri: str) -> Path:
    return Path(str(parse_uri(uri).path))


def run_files(root: Path) -> tuple[list[dict[str, Any]], dict[str, Any], Path]:
    """The run manifest's lines, the summary and the contact sheet under *root*."""
    [manifest] = [p for p in root.glob("*/_manifests/*.jsonl") if ".part-" not in p.name]
    lines = [json.loads(line) for line in manifest.read_text().splitlines()]
    summary = json.loads(manifest.with_name(manifest.stem + ".summary.json").read_text())
    return lines, summary, manifest.with_name(manifest.stem + ".contact-sheet.png")


def task_details(emulator: EmulatorServer, task_uuid: str) -> dict[str, Any]:
    answer = httpx.post(
        emulator.base_url,
        json=[{"taskType": "getTaskDetails", "taskUUID": task_uuid}],
        headers={"Authorization": f"Bearer {EMULATOR_API_KEY}"},
    )
    return dict(answer.json()["data"][0])


def assert_complete_on_disk(
    lines: list[dict[str, Any]], summary: dict[str, Any], sheet: Path
) -> None:
    images = [line for line in lines if line["kind"] == "image"]
    for line in images:
        path = local(line["uri"])
        assert path.exists() and path.stat().st_size == line["bytes"]
    assert summary["images"] == len(images)
    with Image.open(sheet) as picture:
        assert picture.format == "PNG" and picture.width >= 720


@pytest.mark.parametrize(
    ("dag_id", "images", "size", "fmt"),
    [
        ("catalog_refresh", 20, (1024, 1024), "WEBP"),
        ("editorial_banners", 12, (2700, 768), "JPG"),
        ("seasonal_collection", 18, (1024, 1280), "WEBP"),
    ],
)
def test_every_example_campaign_runs_to_the_end(
    run_dag: RunDag,
    emulator: EmulatorServer,
    tmp_path: Path,
    dag_id: str,
    images: int,
    size: tuple[int, int],
    fmt: str,
) -> None:
    run = run_dag(dag_id, destination=destination(tmp_path))
    assert run.state == "success"
    summary = ti_of(run, "finish").xcom_pull(task_ids="finish")
    assert summary["status"] == ["complete"]
    assert summary["images"] == images and summary["failures"] == 0
    assert summary["cost_usd"] == pytest.approx(images * 0.03)
    assert summary["duration_seconds"] > 0
    lines, on_disk, sheet = run_files(tmp_path)
    assert on_disk == summary
    assert len(lines) == images and {line["kind"] for line in lines} == {"image"}
    assert {(line["width"], line["height"], line["format"]) for line in lines} == {(*size, fmt)}
    assert_complete_on_disk(lines, summary, sheet)
    assert summary["contact_sheet"] == f"file://{sheet}"
    assert emulator.stats()["tasks_accepted"] == len({line["task_uuid"] for line in lines})


def test_catalog_products_carry_their_reference_image_inline(
    run_dag: RunDag, emulator: EmulatorServer, tmp_path: Path
) -> None:
    run = run_dag("catalog_refresh", destination=destination(tmp_path), max_items=2)
    assert run.state == "success"
    lines, _, _ = run_files(tmp_path)
    assert sorted(line["item_key"] for line in lines) == ["KT-001", "KT-002"]
    request = task_details(emulator, lines[0]["task_uuid"])["request"]
    [reference] = request["inputs"]["referenceImages"]
    assert reference.startswith("data:image/png;base64,")
    assert request["providerSettings"] == {"alibaba": {"promptExtend": False}}
    assert request["safety"] == {"checkContent": True}
    assert (
        "Classic stovetop kettle" in request["positivePrompt"]
        or "Gooseneck" in request["positivePrompt"]
    )


def test_the_taskflow_example_runs(
    run_dag: RunDag, emulator: EmulatorServer, tmp_path: Path
) -> None:
    run = run_dag("wan_catalog_taskflow", output_uri=f"file://{tmp_path}")
    assert run.state == "success"
    published = ti_of(run, "publish").xcom_pull(task_ids="publish")
    assert len(published["images"]) == 6  # kettles, mugs and teapots
    for uri in published["images"].values():
        assert local(uri).exists()


def test_item_data_is_sent_as_written_never_rendered_again(
    run_dag: RunDag, emulator: EmulatorServer, tmp_path: Path
) -> None:
    run = run_dag("campaign_basic", destination=destination(tmp_path))
    assert run.state == "success"
    assert {ti_of(run, "generate", n).rendered_map_index for n in (0, 1)} == {
        "chunk 0: k-red .. k-blue (2)",
        "chunk 1: k-green (1)",
    }
    lines, _, _ = run_files(tmp_path)
    [green] = [line for line in lines if line["item_key"] == "k-green"]
    prompt = task_details(emulator, green["task_uuid"])["request"]["positivePrompt"]
    assert "green {{ 7 * 7 }} kettle" in prompt and "49" not in prompt


def test_a_budget_stops_the_run_with_a_manifest_of_what_was_made(
    run_dag: RunDag, emulator: EmulatorServer, tmp_path: Path
) -> None:
    run = run_dag("campaign_budget", destination=destination(tmp_path))
    assert run.state == "failed"
    assert ti_of(run, "finish").state == "failed"
    assert states(run, "generate") == {0: "success", 1: "success", 2: "success"}  # 4th: not mapped
    lines, summary, sheet = run_files(tmp_path)
    assert summary["status"] == ["budget_reached"]
    assert summary["not_generated"] == ["winter"]
    assert summary["cost_usd"] == pytest.approx(0.09) and summary["cost_usd"] <= 0.10
    assert sorted(line["item_key"] for line in lines) == ["autumn", "spring", "summer"]
    assert_complete_on_disk(lines, summary, sheet)
    assert (
        "Budget of 0.10 USD reached: 1 request(s) were not submitted (winter)"
        in summary["messages"][0]
    )
    assert emulator.stats()["tasks_accepted"] == 3


def test_the_budget_counts_what_chunks_really_cost(
    run_dag: RunDag, emulator: EmulatorServer, tmp_path: Path
) -> None:
    # Runware charges 0.05 per image, more than the 0.03 estimated: after two chunks the
    # third would pass the budget, so it is not submitted, whatever order the chunks run in.
    emulator.configure(cost_per_image=0.05)
    run = run_dag("campaign_budget", destination=destination(tmp_path))
    generate = states(run, "generate")
    assert sorted(generate.values()) == ["skipped", "success", "success"]
    lines, summary, _ = run_files(tmp_path)
    assert summary["status"] == ["budget_reached"]
    assert summary["cost_usd"] == pytest.approx(0.10)
    assert len(lines) == 2 and len(summary["not_generated"]) == 2
    assert emulator.stats()["tasks_accepted"] == 2
    assert run.state == "failed"


def test_failures_over_the_policy_fail_the_run_after_writing_the_manifest(
    run_dag: RunDag, emulator: EmulatorServer, tmp_path: Path
) -> None:
    emulator.configure(faults={"task_error": 1.0})
    run = run_dag("campaign_failures", destination=destination(tmp_path))
    assert states(run, "generate") == {
        0: "success",
        1: "success",
    }  # chunks tolerate; the run decides
    assert ti_of(run, "finish").state == "failed" and run.state == "failed"
    lines, summary, sheet = run_files(tmp_path)
    assert summary["status"] == ["too_many_failures"]
    assert [line["kind"] for line in lines] == ["failure"] * 4
    assert {line["code"] for line in lines} == {"timeoutProvider"}
    assert sheet.exists()


@pytest.mark.parametrize("scheme", ["gs", "s3"])
def test_items_are_read_from_a_bucket_at_run_time(
    run_dag: RunDag,
    emulator: EmulatorServer,
    tmp_path: Path,
    request: pytest.FixtureRequest,
    scheme: str,
) -> None:
    bucket = request.getfixturevalue("gcs_bucket" if scheme == "gs" else "s3_bucket")
    rows = [
        ("sku", "name", "color"),
        ("a-1", "kettle", "red"),
        ("a-2", "mug", "blue"),
        ("a-3", "bowl", "green"),
    ]
    text = io.StringIO()
    csv.writer(text).writerows(rows)
    uri = bucket.uri("items/products.csv")
    parsed = parse_uri(uri)
    if scheme == "gs":
        bucket.client().bucket(parsed.bucket).blob(parsed.key).upload_from_string(text.getvalue())
    else:
        bucket.client().put_object(
            Bucket=parsed.bucket, Key=parsed.key, Body=text.getvalue().encode()
        )
    run = run_dag("campaign_remote", destination=destination(tmp_path), items_source=uri)
    assert run.state == "success"
    lines, summary, _ = run_files(tmp_path)
    assert summary["items"] == 3 and summary["images"] == 6
    assert sorted({line["item_key"] for line in lines}) == ["a-1", "a-2", "a-3"]


def test_a_missing_item_field_fails_the_plan_before_any_spend(
    run_dag: RunDag,
    emulator: EmulatorServer,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
) -> None:
    items = tmp_path / "items.jsonl"
    items.write_text(
        '{"sku": "a-1", "name": "kettle", "color": "red"}\n{"sku": "a-2", "name": "mug"}\n'
    )
    run = run_dag(
        "campaign_remote", destination=destination(tmp_path), items_source=f"file://{items}"
    )
    assert ti_of(run, "plan").state == "failed" and run.state == "failed"
    assert emulator.stats()["tasks_accepted"] == 0
    output = capfd.readouterr().out
    assert "prompt: uses 'color', which item does not have: a-2" in output
    assert f"{items.name}:2" in output


def test_a_connection_of_the_wrong_type_fails_the_plan_before_any_spend(
    run_dag: RunDag,
    emulator: EmulatorServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_RUNWARE_DEFAULT", json.dumps({"conn_type": "http", "host": "x"})
    )
    run = run_dag("campaign_basic", destination=destination(tmp_path))
    assert ti_of(run, "plan").state == "failed"
    assert emulator.stats()["requests"] == 0
    assert (
        "connections.runware: connection 'runware_default' is of type 'http'"
        in capfd.readouterr().out
    )


def test_a_push_campaign_ends_with_its_manifest_and_contact_sheet_in_the_bucket(
    run_dag: RunDag,
    emulator: EmulatorServer,
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bucket = request.getfixturevalue("gcs_bucket")
    key = request.getfixturevalue("gcs_service_account")  # push mode signs upload URLs
    monkeypatch.setenv(
        "AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT",
        json.dumps(
            {
                "conn_type": "google_cloud_platform",
                "extra": {"keyfile_dict": key.info, "project": "wan-test"},
            }
        ),
    )
    run = run_dag("campaign_push", destination=bucket.uri("{{ ds }}/{item_key}-{index}.{ext}"))
    assert run.state == "success"
    summary = ti_of(run, "finish").xcom_pull(task_ids="finish")
    assert summary["images"] == 6 and summary["status"] == ["complete"]
    assert emulator.stats()["uploads_made"] == 6
    blobs = bucket.client().bucket(bucket.name)
    manifest = parse_uri(summary["manifest"])
    lines = [json.loads(line) for line in blobs.blob(manifest.key).download_as_text().splitlines()]
    assert sorted(line["uri"].rsplit("/", 1)[-1] for line in lines) == [
        f"{flavour}-{index}.png" for flavour in ("apricot", "plum", "quince") for index in (0, 1)
    ]
    sheet = blobs.blob(parse_uri(summary["contact_sheet"]).key).download_as_bytes()
    with Image.open(io.BytesIO(sheet)) as picture:
        assert picture.format == "PNG"


def test_a_run_with_no_items_ends_complete_and_empty(
    run_dag: RunDag, emulator: EmulatorServer, tmp_path: Path
) -> None:
    run = run_dag("campaign_basic", destination=destination(tmp_path), max_items=0)
    assert run.state == "success"
    lines, summary, sheet = run_files(tmp_path)
    assert lines == [] and summary["images"] == 0 and summary["status"] == ["complete"]
    assert sheet.exists()
    assert emulator.stats()["requests"] == 0
