"""DAGs that store their images: the destination comes from the run's conf."""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG

from airflow_provider_wan.operators.image_inference import WanImageInferenceOperator

START = datetime(2026, 1, 1)
FAST = {"poll_interval": 0.05, "max_poll_interval": 0.2, "timeout": 120}
ITEMS = [
    {"item_key": "kettle", "positivePrompt": "a red kettle, studio light"},
    {"item_key": "mug", "positivePrompt": "a blue mug, studio light"},
    {"item_key": "teapot", "positivePrompt": "a white teapot, studio light"},
]

for mode in ("pull", "push"):
    with DAG(f"wan_store_{mode}", schedule=None, start_date=START, catchup=False):
        WanImageInferenceOperator(
            task_id="generate",
            requests=ITEMS,
            width=1024,
            height=1024,
            number_results=2,
            output_format="PNG",
            destination="{{ dag_run.conf['destination'] }}",
            upload_mode=mode,
            deferrable=True,
            **FAST,
        )

with DAG("wan_store_inline", schedule=None, start_date=START, catchup=False):
    WanImageInferenceOperator(
        task_id="generate",
        requests=ITEMS,
        width=1536,
        height=1024,
        output_type="base64Data",
        output_format="WEBP",
        destination="{{ dag_run.conf['destination'] }}",
        deferrable=True,
        **FAST,
    )
