"""Whole DAGs through dag.test() against the emulator: deferrable and on the worker, with faults."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from airflow_provider_wan.emulator import EmulatorServer

FLAVOURS = ["deferrable", "worker"]
FAULTS = {"http_503": 0.1, "http_429": 0.05, "drop_connection": 0.05, "retry_after": None}


def xcom(run: Any, task_id: str, map_index: int = -1) -> Any:
    [ti] = [
        t for t in run.get_task_instances() if t.task_id == task_id and t.map_index == map_index
    ]
    assert ti.state == "success", f"{task_id}[{map_index}] is {ti.state}"
    return ti.xcom_pull(task_ids=task_id, map_indexes=map_index)


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_a_single_request(
    run_dag: Callable[..., Any], emulator: EmulatorServer, flavour: str
) -> None:
    run = run_dag(f"wan_single_{flavour}")
    assert run.state == "success"
    summary = xcom(run, "generate")
    assert summary["totals"] == {"tasks": 1, "images": 2, "failed": 0, "cost": 0.06}
    assert [image["index"] for image in summary["images"]] == [0, 1]
    assert all(image["image_url"].startswith("http://127.0.0.1") for image in summary["images"])
    assert emulator.stats()["tasks_accepted"] == 1


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_a_batch_of_50_with_faults(
    run_dag: Callable[..., Any], emulator: EmulatorServer, flavour: str
) -> None:
    emulator.configure(faults=FAULTS)
    run = run_dag(f"wan_batch_{flavour}")
    summary = xcom(run, "generate")
    assert summary["totals"]["images"] == 50 and summary["totals"]["failed"] == 0
    assert sorted(image["item_key"] for image in summary["images"]) == [
        f"sku-{n:03d}" for n in range(50)
    ]
    stats = emulator.stats()
    assert stats["tasks_accepted"] == 50
    # 50 tasks in one submission request plus a handful of polls, not one request per image.
    assert stats["requests_by_task_type"]["imageInference"] >= 50
    assert stats["requests"] < 25


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_a_mapped_chunked_run(
    run_dag: Callable[..., Any], emulator: EmulatorServer, flavour: str
) -> None:
    run = run_dag(f"wan_mapped_{flavour}")
    keys = []
    for map_index in range(3):
        summary = xcom(run, "generate", map_index)
        keys += [image["item_key"] for image in summary["images"]]
    assert sorted(keys) == [f"theme-{n}" for n in range(9)]
    assert emulator.stats()["tasks_accepted"] == 9


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_the_sensor_waits_for_tasks_submitted_upstream(
    run_dag: Callable[..., Any], emulator: EmulatorServer, flavour: str
) -> None:
    emulator.configure(generation_time=0.3)
    run = run_dag(f"wan_sensor_{flavour}")
    submitted = xcom(run, "submit")
    assert len(submitted["task_uuids"]) == 5
    summary = xcom(run, "wait")
    assert summary["totals"]["images"] == 10
    assert {image["item_key"] for image in summary["images"]} == {f"look-{n}" for n in range(5)}
