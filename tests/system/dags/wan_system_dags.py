"""DAGs that the system tests run on a real scheduler, triggerer and LocalExecutor.

This folder is the DAGs folder of the Airflow processes that ``tests/system/conftest.py``
starts; the dag.test() DAGs of ``tests/dags`` are not in it. The generation time is set on the
emulator by each test, so the DAGs only fix what is submitted and how it is waited for.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import DAG

from airflow_provider_wan.operators.image_inference import WanImageInferenceOperator

START = datetime(2026, 1, 1)
# Poll about once a second: the emulator's generation times are seconds, not minutes.
POLL_INTERVAL = 1.0
MAX_POLL_INTERVAL = 1.5
TIMEOUT = timedelta(minutes=5)

# How many requests each DAG submits; the tests import these numbers.
BATCH_SIZE = 20
TRIGGERER_RESTART_SIZE = 10
WORKER_RETRY_SIZE = 10


def _requests(prefix: str, count: int) -> list[dict[str, object]]:
    return [
        {"item_key": f"{prefix}-{n:02d}", "positivePrompt": f"{prefix} product shot number {n}"}
        for n in range(count)
    ]


with DAG(
    "wan_system_deferred_batch",
    schedule=None,
    start_date=START,
    catchup=False,
    is_paused_upon_creation=False,
):
    WanImageInferenceOperator(
        task_id="generate",
        requests=_requests("batch", BATCH_SIZE),
        width=1024,
        height=1024,
        prompt_extend=False,
        deferrable=True,
        poll_interval=POLL_INTERVAL,
        max_poll_interval=MAX_POLL_INTERVAL,
        timeout=TIMEOUT,
    )

with DAG(
    "wan_system_triggerer_restart",
    schedule=None,
    start_date=START,
    catchup=False,
    is_paused_upon_creation=False,
):
    WanImageInferenceOperator(
        task_id="generate",
        requests=_requests("restart", TRIGGERER_RESTART_SIZE),
        width=1024,
        height=1024,
        deferrable=True,
        poll_interval=POLL_INTERVAL,
        max_poll_interval=MAX_POLL_INTERVAL,
        timeout=TIMEOUT,
    )

with DAG(
    "wan_system_worker_retry",
    schedule=None,
    start_date=START,
    catchup=False,
    is_paused_upon_creation=False,
):
    WanImageInferenceOperator(
        task_id="generate",
        requests=_requests("retry", WORKER_RETRY_SIZE),
        width=1024,
        height=1024,
        deferrable=False,
        retries=1,
        retry_delay=timedelta(seconds=1),
        poll_interval=POLL_INTERVAL,
        max_poll_interval=MAX_POLL_INTERVAL,
        timeout=TIMEOUT,
    )
