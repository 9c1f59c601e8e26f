"""A campaign under injected faults: every image the API produced lands exactly once, nothing is
generated twice, the manifest is complete and every failed item is listed with its reason.

CI runs it with 100 images; ``scripts/reliability.sh`` with the full 500.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_wan.emulator import EmulatorServer
from tests.fixtures.runware_emulator import EMULATOR_API_KEY

IMAGES = int(os.environ.get("WAN_RELIABILITY_IMAGES", "100"))
FAULTS = {
    "http_500": 0.05,
    "http_503": 0.05,
    "http_429": 0.05,
    "retry_after": None,
    "drop_connection": 0.02,
    "task_error": 0.01,
    "task_error_code": "timeoutProvider",
}


@pytest.mark.slow
def test_a_campaign_under_faults_loses_nothing_and_pays_nothing_twice(
    run_dag: Callable[..., Any],
    emulator: EmulatorServer,
    local_destination: Any,
    capfd: pytest.CaptureFixture[str],
) -> None:
    emulator.configure(faults=FAULTS, seed=11)
    run = run_dag("wan_reliability", destination=local_destination.uri("{item_key}-{index}.{ext}"))
    instances = [ti for ti in run.get_task_instances() if ti.task_id == "generate"]
    assert instances and all(ti.state == "success" for ti in instances), [
        (ti.map_index, ti.state) for ti in instances
    ]
    summaries = [ti.xcom_pull(task_ids="generate", map_indexes=ti.map_index) for ti in instances]

    stored = [image for summary in summaries for image in summary["images"]]
    failed = [failure for summary in summaries for failure in summary["failures"]]
    stats = emulator.stats()
    # Every item either has its image, or is listed as failed with a reason.
    assert len(stored) + len(failed) == IMAGES
    assert {i["item_key"] for i in stored}.isdisjoint(f["item_key"] for f in failed)
    assert all(f["code"] and f["message"] for f in failed)
    # Every image the API produced landed exactly once, and nothing was generated twice.
    assert stats["images_generated"] == len(stored)
    assert stats["tasks_accepted"] == IMAGES
    files = sorted(p.name for p in Path(local_destination.root).glob("*.jpg"))
    assert len(files) == len(set(files)) == len(stored)
    # Faults happened, and each injected task error is exactly one listed failure.
    assert sum(stats["faults_injected"].values()) > 0, stats["faults_injected"]
    assert stats["faults_injected"].get("task_error", 0) == len(failed)

    manifests = sorted(Path(local_destination.root, "_manifests").glob("*.jsonl"))
    assert len(manifests) == len(instances)
    lines = [json.loads(line) for path in manifests for line in path.read_text().splitlines()]
    assert sorted(x["uri"].rsplit("/", 1)[-1] for x in lines if x["kind"] == "image") == files
    assert sorted(x["item_key"] for x in lines if x["kind"] == "failure") == sorted(
        f["item_key"] for f in failed
    )
    logs = capfd.readouterr()
    for text in (logs.out, logs.err, json.dumps(summaries), *(p.read_text() for p in manifests)):
        assert EMULATOR_API_KEY not in text
