"""The operator and trigger on Airflow's own scheduler, triggerer and LocalExecutor.

Airflow's processes run on SQLite on 127.0.0.1 (see conftest.py): a deferred batch completes
across processes, a triggerer killed with SIGKILL mid-wait is replaced and the wait resumes, and a
worker killed after submission is retried without paying for a single image twice.
"""

from __future__ import annotations

import re
import signal
from typing import Any

import psutil
import pytest

from tests.system.conftest import AirflowStack, wait_for
from tests.system.dags.wan_system_dags import (
    BATCH_SIZE,
    TRIGGERER_RESTART_SIZE,
    WORKER_RETRY_SIZE,
)

pytestmark = pytest.mark.slow

TASK_ID = "generate"


def summary_of(system: AirflowStack, dag_id: str, run_id: str) -> dict[str, Any]:
    summary = system.xcom(dag_id, run_id, TASK_ID)
    assert isinstance(summary, dict), summary
    return summary


def assert_all_images(summary: dict[str, Any], count: int, prefix: str) -> None:
    assert summary["totals"]["images"] == count, summary["totals"]
    assert summary["totals"]["failed"] == 0, summary.get("failures")
    assert sorted(image["item_key"] for image in summary["images"]) == [
        f"{prefix}-{n:02d}" for n in range(count)
    ]
    assert len({image["task_uuid"] for image in summary["images"]}) == count


def logged(events: list[str], fragment: str) -> bool:
    """Whether one of the logged messages contains *fragment*."""
    return any(fragment in event for event in events)


def seconds_left(trigger_log: list[str]) -> float:
    """The seconds before the deadline that the trigger said it had when it started waiting."""
    for event in trigger_log:
        found = re.match(r"Waiting for \d+ Runware task\(s\), (\d+) s left", event)
        if found:
            return float(found.group(1))
    raise AssertionError(f"no 'Waiting for' line in {trigger_log}")


def test_a_deferred_batch_completes_across_processes(system: AirflowStack) -> None:
    dag_id = "wan_system_deferred_batch"
    system.wait_for_dags(dag_id)
    system.emulator.configure(generation_time=1.5)

    run_id = system.trigger(dag_id)
    state = system.wait_for_run(dag_id, run_id)

    diagnostics = system.diagnostics()
    assert state == "success", diagnostics
    ti = system.task_instance(dag_id, run_id, TASK_ID)
    assert ti["try_number"] == 1, ti
    assert_all_images(summary_of(system, dag_id, run_id), BATCH_SIZE, "batch")

    # Submitted on a worker, waited for in the triggerer, finished on a worker.
    worker = system.task_log(dag_id, run_id, TASK_ID, 1)
    assert logged(worker, f"{BATCH_SIZE} task(s): {BATCH_SIZE} submitted now"), worker
    assert logged(worker, "Pausing task as DEFERRED"), worker
    assert logged(worker, f"Done: {BATCH_SIZE} image(s)"), worker
    triggers = system.trigger_logs(dag_id, run_id, TASK_ID, 1)
    assert len(triggers) == 1, triggers
    [(job_id, trigger)] = triggers.items()
    assert job_id in system.triggerer_jobs(), (job_id, system.triggerer_jobs())
    assert logged(trigger, f"Waiting for {BATCH_SIZE} Runware task(s)"), trigger
    assert "Trigger fired event" in trigger, trigger

    stats = system.emulator.stats()
    assert stats["tasks_accepted"] == BATCH_SIZE, stats
    assert stats["duplicate_submissions"] == 0, stats
    assert stats["requests_by_task_type"]["imageInference"] == BATCH_SIZE, stats
    # One submission request for the whole batch and a few batched polls: fewer HTTP requests
    # in the whole run than there are tasks.
    assert stats["requests"] < BATCH_SIZE, stats


def test_a_triggerer_killed_mid_wait_is_replaced_and_the_wait_resumes(
    system: AirflowStack,
) -> None:
    dag_id = "wan_system_triggerer_restart"
    system.wait_for_dags(dag_id)
    # Long enough that the kill surely comes while every image is still being generated.
    system.emulator.configure(generation_time=12.0)

    run_id = system.trigger(dag_id)

    def polling() -> bool:
        stats = system.emulator.stats()
        ti = system.task_instance(dag_id, run_id, TASK_ID)
        polls = int(stats["requests_by_task_type"].get("getResponse", 0))
        return bool(ti["state"] == "deferred" and polls > 0)

    system.wait_during_run(
        dag_id, run_id, polling, what="the task to defer and the triggerer to poll"
    )
    before = system.emulator.stats()
    # Killed mid-wait: nothing has finished yet.
    assert before["tasks_succeeded"] == 0, before
    system.processes["triggerer"].kill()
    polls_at_kill = before["requests_by_task_type"]["getResponse"]

    system.restart_component("triggerer", "--skip-serve-logs")
    state = system.wait_for_run(dag_id, run_id)

    diagnostics = system.diagnostics()
    assert state == "success", diagnostics
    ti = system.task_instance(dag_id, run_id, TASK_ID)
    assert ti["try_number"] == 1, ti  # the same try resumed; the task was not retried
    assert_all_images(summary_of(system, dag_id, run_id), TRIGGERER_RESTART_SIZE, "restart")

    stats = system.emulator.stats()
    assert stats["tasks_accepted"] == TRIGGERER_RESTART_SIZE, stats
    assert stats["duplicate_submissions"] == 0, stats
    assert stats["requests_by_task_type"]["imageInference"] == TRIGGERER_RESTART_SIZE, stats
    # The new triggerer polled the same task UUIDs again.
    assert stats["requests_by_task_type"]["getResponse"] > polls_at_kill, stats

    # Two triggerer jobs ran the trigger: the killed one never fired, the new one resumed the
    # wait for the same deadline (less time left) and fired.
    triggers = system.trigger_logs(dag_id, run_id, TASK_ID, 1)
    assert len(triggers) == 2, triggers
    killed, resumed = (triggers[job_id] for job_id in sorted(triggers))
    assert "Trigger fired event" not in killed, killed
    assert "Trigger fired event" in resumed, resumed
    assert seconds_left(resumed) < seconds_left(killed), (killed, resumed)


def _task_processes(system: AirflowStack, ti_id: str) -> list[psutil.Process]:
    """The LocalExecutor worker supervising task instance *ti_id*, and the task's process.

    Both are in the scheduler's session; the worker's title is ``airflow worker --
    LocalExecutor: <ti id>`` and the task runner it forked is ``airflow worker -- <ti id>``.
    """
    for process in system.processes["scheduler"].members():
        try:
            title = " ".join(process.cmdline()).strip()
            if title == f"airflow worker -- {ti_id}":
                supervisor = process.parent()
                if supervisor is not None and " ".join(supervisor.cmdline()).startswith(
                    "airflow worker -- LocalExecutor:"
                ):
                    return [supervisor, process]
        except psutil.Error:
            continue
    return []


def test_a_worker_killed_after_submission_is_retried_without_paying_twice(
    system: AirflowStack,
) -> None:
    dag_id = "wan_system_worker_retry"
    system.wait_for_dags(dag_id)
    # Longer than it takes the scheduler to notice the dead worker (the heartbeat timeout) and
    # start the retry, so the retry finds the images still being generated and waits for them.
    system.emulator.configure(generation_time=16.0)

    run_id = system.trigger(dag_id)

    def submitted() -> bool:
        stats = system.emulator.stats()
        return bool(stats["tasks_accepted"] == WORKER_RETRY_SIZE)

    system.wait_during_run(dag_id, run_id, submitted, what="the worker to submit every task")
    ti = system.task_instance(dag_id, run_id, TASK_ID)
    assert ti["state"] == "running" and ti["try_number"] == 1, ti
    processes = wait_for(
        lambda: _task_processes(system, ti["id"]),
        timeout=10,
        what=f"the processes of task instance {ti['id']}",
        diagnostics=system.diagnostics,
    )
    for process in processes:  # the supervisor first, so that nobody reports the death
        process.send_signal(signal.SIGKILL)
    _, alive = psutil.wait_procs(processes, timeout=10)
    assert not alive, alive

    state = system.wait_for_run(dag_id, run_id)

    diagnostics = system.diagnostics()
    assert state == "success", diagnostics
    # The scheduler found the first try without a heartbeat, failed it, and retried.
    tries = system.get(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{TASK_ID}/tries")
    assert sorted((t["try_number"], t["state"]) for t in tries["task_instances"]) == [
        (1, "failed"),
        (2, "success"),
    ], tries
    timeouts = system.get(
        "/api/v2/eventLogs", dag_id=dag_id, run_id=run_id, event="heartbeat timeout"
    )
    assert timeouts["total_entries"] >= 1, timeouts
    assert_all_images(summary_of(system, dag_id, run_id), WORKER_RETRY_SIZE, "retry")

    stats = system.emulator.stats()
    # Generated and paid once; the retry's resubmissions were all refused as conflicts.
    assert stats["tasks_accepted"] == WORKER_RETRY_SIZE, stats
    assert stats["duplicate_submissions"] == WORKER_RETRY_SIZE, stats
    assert stats["requests_by_task_type"]["imageInference"] == 2 * WORKER_RETRY_SIZE, stats
    assert stats["images_generated"] == WORKER_RETRY_SIZE, stats
    retry_log = system.task_log(dag_id, run_id, TASK_ID, 2)
    n = WORKER_RETRY_SIZE
    assert logged(retry_log, f"{n} task(s): 0 submitted now, {n} already submitted"), retry_log


def test_every_process_listens_on_loopback_only(system: AirflowStack) -> None:
    """Nothing the tests started (Airflow's processes, their children, the emulator) listens
    beyond 127.0.0.1: the scheduler and triggerer run without their log servers."""
    listening = {}
    for process in [*system.processes.values(), system.emulator.process]:
        for member in process.members():
            try:
                connections = member.net_connections(kind="inet")
            except psutil.Error:
                continue
            for connection in connections:
                if connection.status == psutil.CONN_LISTEN:
                    key = (process.name, member.pid, connection.laddr.port)
                    listening[key] = connection.laddr.ip
    assert {name for name, _, _ in listening} >= {"api-server", "emulator"}, listening
    assert all(ip == "127.0.0.1" for ip in listening.values()), listening
