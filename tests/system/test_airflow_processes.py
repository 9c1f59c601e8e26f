"""The operator and trigger on Airflow's own scheduler, triggerer and LocalExecutor.

Airflow's processes run on SQLite on 127.0.0.1 (see conftest.py): a deferred batch completes
across processes, a triggerer killed with SIGKILL mid-wait is replaced and the wait resumes, a
worker killed after submission is retried without paying for a single image twice, and, after
these runs and one that stores its images (push to S3, pull to a folder), a secret audit finds
no credential in any log, database row or stored object.
"""

from __future__ import annotations

import json
import re
import signal
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import psutil
import pytest

from airflow_provider_wan.emulator.testing import LocalSink
from tests.system.conftest import (
    AWS_SECRET_ACCESS_KEY,
    EMULATOR_API_KEY,
    RUN_TIMEOUT,
    AirflowStack,
    wait_for,
)
from tests.system.dags.wan_system_dags import (
    BATCH_SIZE,
    TRIGGERER_RESTART_SIZE,
    WORKER_RETRY_SIZE,
)
from tests.system.dags.wan_system_storage_dags import (
    ITEMS,
    PULL_TASK,
    PUSH_IMAGES_PER_ITEM,
    PUSH_TASK,
    SECRET_AUDIT_DAG,
)
from tests.system.secret_audit import (
    Audit,
    DatabaseWatch,
    Secret,
    presigned_signatures,
    scan_text,
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
    moto = [system.s3.process] if system.s3 is not None else []
    for process in [*system.processes.values(), system.emulator.process, *moto]:
        for member in process.members():
            try:
                connections = member.net_connections(kind="inet")
            except psutil.Error:
                continue
            for connection in connections:
                if connection.status == psutil.CONN_LISTEN:
                    key = (process.name, member.pid, connection.laddr.port)
                    listening[key] = connection.laddr.ip
    expected = {"api-server", "emulator", *(process.name for process in moto)}
    assert {name for name, _, _ in listening} >= expected, listening
    assert all(ip == "127.0.0.1" for ip in listening.values()), listening


# --- the secret audit -------------------------------------------------------------------------


def task_details(system: AirflowStack, task_uuids: list[str]) -> list[dict[str, Any]]:
    """The emulator's ``getTaskDetails`` of each task: the request exactly as it received it."""
    tasks = [{"taskType": "getTaskDetails", "taskUUID": task_uuid} for task_uuid in task_uuids]
    response = httpx.post(
        system.emulator.base_url,
        json=tasks,
        headers={"Authorization": f"Bearer {EMULATOR_API_KEY}"},
        timeout=15,
    )
    response.raise_for_status()
    details = list(response.json()["data"])
    assert sorted(detail["taskUUID"] for detail in details) == sorted(task_uuids), details
    return details


def wait_watching(system: AirflowStack, run_id: str, watch: DatabaseWatch) -> str:
    """Wait for the run to finish, snapshotting the database at every look."""

    def finished() -> str | None:
        watch.snapshot()
        state = system.dag_run(SECRET_AUDIT_DAG, run_id)["state"]
        return state if state in ("success", "failed") else None

    return wait_for(
        finished,
        timeout=RUN_TIMEOUT,
        what=f"run {run_id} of {SECRET_AUDIT_DAG} to finish",
        diagnostics=system.diagnostics,
        alive=list(system.processes.values()),
        every=0.25,
    )


def test_no_secret_in_any_log_database_row_or_stored_object(
    system: AirflowStack, tmp_path: Path
) -> None:
    """The secret audit of issue 7, last in this module so that it reads every run's logs.

    Searched for: the Runware API key, the AWS secret key, the webhook token (a Variable), the
    X-Amz-Signature of each presigned upload URL (read back from the emulator's record of the
    requests), and any signature-like query parameter at all. Searched in: every file under
    AIRFLOW_HOME (task and trigger logs, the scheduler's, triggerer's, API server's, DAG
    processor's and emulator's output, the database file's own bytes), every column of every
    table of the database in snapshots taken all through the run (trigger rows and a task's
    next_kwargs do not outlive it), every object in the bucket (bodies and metadata, the
    manifest among them) and every file of the pulled folder (its manifest among them).
    """
    if system.s3 is None:
        pytest.skip("moto_server is not installed")
    s3 = system.s3
    system.wait_for_dags(SECRET_AUDIT_DAG)
    # Long enough that the snapshots surely see both trigger rows before they are deleted.
    system.emulator.configure(generation_time=3.0)
    bucket = f"wan-audit-{uuid.uuid4().hex[:12]}"
    s3.client().create_bucket(Bucket=bucket)
    pulled = tmp_path / "pulled"  # outside AIRFLOW_HOME, like any user's folder
    pulled.mkdir()
    watch = DatabaseWatch(system.home / "airflow.db")
    pushed_images = len(ITEMS) * PUSH_IMAGES_PER_ITEM
    tasks = pushed_images + len(ITEMS)

    with LocalSink() as webhook:
        run_id = system.trigger(
            SECRET_AUDIT_DAG,
            conf={
                "s3_destination": f"s3://{bucket}/audit/{{item_key}}-{{index}}.{{ext}}",
                "file_destination": f"file://{pulled}/{{item_key}}-{{index}}.{{ext}}",
                "webhook": f"{webhook.url}/hook",
            },
        )
        state = wait_watching(system, run_id, watch)
        assert state == "success", system.diagnostics()
        # Webhooks go out in the background, one per result.
        hooks = webhook.wait_for(tasks, timeout=15)
    watch.final_snapshot()

    push = system.xcom(SECRET_AUDIT_DAG, run_id, PUSH_TASK)
    pull = system.xcom(SECRET_AUDIT_DAG, run_id, PULL_TASK)
    assert push["totals"]["stored"] == pushed_images and push["totals"]["failed"] == 0, push
    assert pull["totals"]["stored"] == len(ITEMS) and pull["totals"]["failed"] == 0, pull
    stats = system.emulator.stats()
    assert stats["uploads_made"] == pushed_images and stats["uploads_failed"] == 0, stats

    # The secrets, as they really travelled: the emulator keeps every request it received.
    details = task_details(system, [*push["task_uuids"], *pull["task_uuids"]])
    requests = {detail["taskUUID"]: detail["request"] for detail in details}
    upload_urls = [requests[task_uuid]["uploadEndpoint"] for task_uuid in push["task_uuids"]]
    assert len(set(upload_urls)) == pushed_images, "one presigned URL per pushed image"
    secrets = [
        Secret("the Runware API key", EMULATOR_API_KEY),
        Secret("the AWS secret access key", AWS_SECRET_ACCESS_KEY),
        Secret("the webhook token", system.webhook_token),
    ]
    for url in upload_urls:
        assert urlsplit(url).hostname == "127.0.0.1", "uploads go to moto on loopback"
        signature = presigned_signatures(url)["X-Amz-Signature"]
        path = urlsplit(url).path
        secrets.append(Secret(f"the X-Amz-Signature of the upload URL of {path}", signature))
    for request in requests.values():  # the real token went out, not a masked one
        assert request["webhookURL"] == f"{webhook.url}/hook?token={system.webhook_token}"
    assert all(hook.path == f"/hook?token={system.webhook_token}" for hook in hooks), hooks
    assert len(hooks) >= tasks, hooks

    # The audit can fail: the same search finds every secret where it legitimately is.
    record = {f.what for f in scan_text("getTaskDetails", json.dumps(details), secrets)}
    signatures = {secret.what for secret in secrets if "X-Amz-Signature" in secret.what}
    assert record >= signatures | {"the webhook token"}, record
    assert any(what.endswith("query parameter") for what in record), record
    moto = Audit(secrets)  # moto received exactly these URLs, and logged them
    moto.tree(s3.process.log_path.parent)
    assert {finding.what for finding in moto.findings} >= signatures, moto.sources
    environment = {f.what for f in scan_text("environment", json.dumps(system.env), secrets)}
    assert environment >= {
        "the Runware API key",
        "the AWS secret access key",
        "the webhook token",
    }, environment

    audit = Audit(secrets)
    files = audit.tree(system.home)
    audit.database("database (snapshots during and after the run)", watch.values)
    client = s3.client()
    keys = [entry["Key"] for entry in client.list_objects_v2(Bucket=bucket)["Contents"]]
    for key in keys:
        stored = client.get_object(Bucket=bucket, Key=key)
        body = stored["Body"].read().decode("utf-8", errors="replace")
        audit.text(f"s3://{bucket}/{key}", f"{stored['ContentType']}\n{stored['Metadata']}\n{body}")
    pulled_files = audit.tree(pulled)

    # It read what it claims to have read.
    names = {path.name for path in files}
    for log in ("scheduler", "triggerer", "api-server", "dag-processor", "emulator"):
        assert f"{log}.log" in names, sorted(names)
    assert any("dag_processor" in path.parts for path in files), files
    assert system.home / "airflow.db" in files
    for task_id, stored in ((PUSH_TASK, pushed_images), (PULL_TASK, len(ITEMS))):
        worker = system.task_log(SECRET_AUDIT_DAG, run_id, task_id, 1)
        assert logged(worker, f"Stored {stored} image(s); manifest:"), worker
        [trigger] = system.trigger_logs(SECRET_AUDIT_DAG, run_id, task_id, 1).values()
        assert "Trigger fired event" in trigger, trigger
    task_logs = [path for path in files if f"dag_id={SECRET_AUDIT_DAG}" in str(path)]
    assert len(task_logs) == 4, task_logs  # a worker's and a trigger's log per task
    triggers = "\n".join(watch.column("trigger.kwargs"))
    assert push["task_uuids"][0] in triggers and pull["task_uuids"][0] in triggers, triggers
    # A trigger's event waits in the task's next_kwargs until the task resumes.
    events = "\n".join(watch.column("task_instance.next_kwargs"))
    assert '"images_ready"' in events, watch.column("task_instance.next_kwargs")
    xcoms = "\n".join(watch.column("xcom.value"))
    assert push["manifest"] in xcoms and pull["manifest"] in xcoms
    rendered = "\n".join(watch.column("rendered_task_instance_fields.rendered_fields"))
    # The webhook URL is a rendered field, its token masked by Airflow (a Variable whose
    # name says "token").
    assert "push: a kettle" in rendered and "pull: a kettle" in rendered, rendered
    assert rendered.count(f"{webhook.url}/hook?token=***") >= 2 * len(ITEMS), rendered
    manifest_key = urlsplit(push["manifest"]).path.lstrip("/")
    assert sorted(keys) == sorted([*(f"audit/{n}" for n in _pushed_names()), manifest_key])
    assert any(path.suffix == ".jsonl" for path in pulled_files), pulled_files

    assert not audit.findings, f"secrets leaked:\n{audit.report()}"


def _pushed_names() -> list[str]:
    return [f"{item}-{n}.png" for item in ITEMS for n in range(PUSH_IMAGES_PER_ITEM)]
