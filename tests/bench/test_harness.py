"""The benchmark harness runs end to end at a tiny N (CI proves ``python -m bench`` works)."""

from __future__ import annotations

import importlib.util
import inspect
import itertools
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_wan.api import RunwareClient
from airflow_provider_wan.api.client import DEFAULT_POLL_BATCH_SIZE
from airflow_provider_wan.api.inference import ImageInference
from airflow_provider_wan.api.submission import PlannedTask
from airflow_provider_wan.api.tracking import PollSchedule
from airflow_provider_wan.hooks.runware import RunwareSettings
from airflow_provider_wan.operators import image_inference
from airflow_provider_wan.operators.image_inference import WanImageInferenceOperator
from airflow_provider_wan.triggers.image_results import WanImageResultsTrigger
from bench import clients, report

ROOT = Path(__file__).resolve().parents[2]
N = 6


def _default(function: Any, name: str) -> Any:
    return inspect.signature(function).parameters[name].default


def test_the_provider_benchmark_waits_with_the_providers_defaults() -> None:
    # "this provider" must poll as a deferred operator does out of the box: the trigger's
    # schedule for the operator's default intervals, the connection's poll batch size.
    schedule, poll_batch_size = clients.provider_settings(1000, tuned=False)
    trigger = WanImageResultsTrigger(runware_conn_id="x", expected_images={}, deadline=0)
    assert schedule == trigger.schedule == PollSchedule()
    from_operator = WanImageResultsTrigger(
        runware_conn_id="x",
        expected_images={},
        deadline=0,
        poll_interval=_default(WanImageInferenceOperator.__init__, "poll_interval"),
        max_poll_interval=_default(WanImageInferenceOperator.__init__, "max_poll_interval"),
    )
    assert from_operator.schedule == schedule
    settings = RunwareSettings(base_url="http://127.0.0.1:1/v1", api_key="k")
    assert poll_batch_size == settings.poll_batch_size == DEFAULT_POLL_BATCH_SIZE
    assert poll_batch_size == RunwareClient("k").poll_batch_size


def test_the_tuned_provider_uses_settings_a_dag_can_give() -> None:
    # operator(poll_interval=1, max_poll_interval=1) and the extra poll_batch_size >= N.
    for count in (6, 1000, 5000):
        schedule, poll_batch_size = clients.provider_settings(count, tuned=True)
        trigger = WanImageResultsTrigger(
            runware_conn_id="x",
            expected_images={},
            deadline=0,
            poll_interval=1.0,
            max_poll_interval=1.0,
        )
        assert schedule == trigger.schedule
        assert list(itertools.islice(schedule.delays(), 4)) == [1.0] * 4
        assert poll_batch_size >= max(count, DEFAULT_POLL_BATCH_SIZE)


@pytest.mark.parametrize("regenerated", [0, 1, 3])
def test_the_benchmark_maps_task_uuids_back_as_execute_complete_does(regenerated: int) -> None:
    task = ImageInference.model_validate(
        {"model": clients.MODEL, "positivePrompt": "a mug", "width": 1024, "height": 1024}
    )
    planned = [PlannedTask(("d", "r", "t", -1, f"item-{i}", 0), task) for i in range(5)]
    uuids = [item.uuid(0) for item in planned[regenerated:]]
    uuids += [item.uuid(1 + i) for i, item in enumerate(planned[:regenerated])]
    # The benchmark runs the very function execute_complete uses, and it finds every UUID.
    assert clients.planned_by_uuid is image_inference.planned_by_uuid
    by_uuid = clients.planned_by_uuid(planned, uuids)
    assert all(by_uuid[uuid] in planned for uuid in uuids)


@pytest.fixture(scope="module")
def bench_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path]:
    out = tmp_path_factory.mktemp("bench")
    docs = out / "benchmarks.md"
    docs.write_text(
        f"# Benchmarks\n\nwritten by hand\n\n{report.BEGIN}\nold\n{report.END}\n\nafter\n"
    )
    command = [
        sys.executable, "-m", "bench",
        "--counts", str(N),
        "--generation-time", "0.2",
        "--jitter", "0.1",
        "--waves", "2",
        "--poke-interval", "0.3",
        "--width", "768", "--height", "768",
        "--output", str(out / "results.json"),
        "--docs", "--docs-path", str(docs), "--charts-dir", str(out / "img"),
    ]  # fmt: skip
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads((out / "results.json").read_text()), out


def test_every_approach_makes_every_image(bench_run: tuple[dict[str, Any], Path]) -> None:
    results, _ = bench_run
    runs = {run["approach"]: run for run in results["runs"]}
    expected = {"provider", "provider-tuned", "per-image", "sdk"}
    if importlib.util.find_spec("runware") is None:  # the bench extra needs Python 3.11+
        expected.discard("sdk")
    assert set(runs) == expected
    for run in runs.values():
        generate = run["phases"][0]
        assert generate["name"] == "generate"
        assert generate["images"] == N
        assert generate["requests_by_task_type"]["imageInference"] >= 1
        assert generate["cpu_seconds"] > 0 and generate["peak_rss_mib"] > 0
        assert generate["bytes_sent"] > 0 and generate["bytes_received"] > 0
        assert (run["capacity"], run["waves"], run["ideal_seconds"]) == (3, 2, 0.4)


def test_the_runs_record_how_the_provider_polled(bench_run: tuple[dict[str, Any], Path]) -> None:
    results, out = bench_run
    settings = {
        run["approach"]: run["phases"][0]["extra"]["settings"]
        for run in results["runs"]
        if run["approach"].startswith("provider")
    }
    schedule, size = clients.provider_settings(N, tuned=False)
    assert settings["provider"] == {
        "poll_batch_size": size,
        "initial_delay": schedule.initial_delay,
        "multiplier": schedule.multiplier,
        "max_delay": schedule.max_delay,
    }
    assert settings["provider-tuned"]["poll_batch_size"] >= N
    text = (out / "benchmarks.md").read_text()
    assert f"up to {schedule.max_delay:g} s, {size:,} `getResponse` per poll request" in text


def test_batching_shows_in_the_request_counts(bench_run: tuple[dict[str, Any], Path]) -> None:
    results, _ = bench_run
    requests = {run["approach"]: run["phases"][0]["requests"] for run in results["runs"]}
    by_type = {
        run["approach"]: run["phases"][0]["requests_by_task_type"] for run in results["runs"]
    }
    assert by_type["provider"]["imageInference"] == N  # tasks in one submission request...
    assert by_type["per-image"]["imageInference"] == N
    assert requests["provider"] < requests["per-image"]  # ...but fewer requests
    assert requests["provider"] < requests.get("sdk", requests["per-image"])


def test_the_provider_stores_every_image_locally_and_in_gcs(
    bench_run: tuple[dict[str, Any], Path],
) -> None:
    results, _ = bench_run
    [provider] = [run for run in results["runs"] if run["approach"] == "provider"]
    pulls = {phase["name"]: phase for phase in provider["phases"][1:]}
    assert set(pulls) == {"pull-file", "pull-gs"}
    for phase in pulls.values():
        assert (phase["images"], phase["extra"]["failed"]) == (N, 0)
        assert phase["images_served"] == N  # one download per image
        assert phase["bytes_received"] >= phase["extra"]["stored_bytes"]
    assert pulls["pull-gs"]["bytes_sent"] >= pulls["pull-gs"]["extra"]["stored_bytes"]


def test_docs_keep_the_hand_written_text_around_fresh_tables(
    bench_run: tuple[dict[str, Any], Path],
) -> None:
    _, out = bench_run
    text = (out / "benchmarks.md").read_text()
    assert text.startswith("# Benchmarks\n\nwritten by hand\n")
    assert text.rstrip().endswith("after")
    assert "old" not in text
    assert "| N | approach |" in text and "![bench-requests](img/bench-requests.png)" in text
    charts = sorted(path.name for path in (out / "img").glob("bench-*.png"))
    assert "bench-requests.png" in charts and "bench-pull-memory.png" in charts
