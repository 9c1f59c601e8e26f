"""A fault-tolerance campaign: many images in mapped chunks, pulled to a local destination.

The number of images comes from ``WAN_RELIABILITY_IMAGES`` (read when the DAG is parsed), so
CI runs a reduced campaign and ``scripts/reliability.sh`` the full 500 images.
"""

from __future__ import annotations

import os
from datetime import datetime

from airflow.sdk import DAG, task

from airflow_provider_wan.operators.image_inference import WanImageInferenceOperator

IMAGES = int(os.environ.get("WAN_RELIABILITY_IMAGES", "100"))
CHUNK = 25

with DAG("wan_reliability", schedule=None, start_date=datetime(2026, 1, 1), catchup=False):

    @task
    def chunks() -> list[list[dict[str, object]]]:
        items = [
            {"item_key": f"item-{n:04d}", "positivePrompt": f"catalog item {n}, studio light"}
            for n in range(IMAGES)
        ]
        return [items[start : start + CHUNK] for start in range(0, len(items), CHUNK)]

    WanImageInferenceOperator.partial(
        task_id="generate",
        width=1024,
        height=1024,
        output_format="JPG",
        output_quality=60,
        destination="{{ dag_run.conf['destination'] }}",
        allow_failures=0.2,
        deferrable=True,
        poll_interval=0.05,
        max_poll_interval=0.3,
        timeout=300,
        retries=2,
    ).expand(requests=chunks())
