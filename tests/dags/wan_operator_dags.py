"""DAGs that the operator tests run with dag.test() against the emulator.

Each DAG comes in a deferrable and a non-deferrable flavour, so both waits are exercised.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG, task

from airflow_provider_wan.operators.image_inference import WanImageInferenceOperator
from airflow_provider_wan.sensors.image_results import WanImageResultsSensor

START = datetime(2026, 1, 1)
FAST = {"poll_interval": 0.05, "max_poll_interval": 0.2, "timeout": 120}

for deferrable in (True, False):
    flavour = "deferrable" if deferrable else "worker"

    with DAG(f"wan_single_{flavour}", schedule=None, start_date=START, catchup=False):
        WanImageInferenceOperator(
            task_id="generate",
            prompt="a ceramic mug on a wooden table, {{ ds }}",
            width=1024,
            height=1024,
            number_results=2,
            prompt_extend=False,
            deferrable=deferrable,
            **FAST,
        )

    with DAG(f"wan_batch_{flavour}", schedule=None, start_date=START, catchup=False):
        WanImageInferenceOperator(
            task_id="generate",
            width=1536,
            height=1024,
            output_format="WEBP",
            requests=[
                {"item_key": f"sku-{n:03d}", "positivePrompt": f"product shot of item {n}"}
                for n in range(50)
            ],
            deferrable=deferrable,
            **FAST,
        )

    with DAG(f"wan_mapped_{flavour}", schedule=None, start_date=START, catchup=False):

        @task
        def chunks() -> list[list[dict[str, object]]]:
            items = [
                {"item_key": f"theme-{n}", "positivePrompt": f"editorial banner, theme {n}"}
                for n in range(9)
            ]
            return [items[start : start + 4] for start in range(0, len(items), 4)]

        WanImageInferenceOperator.partial(
            task_id="generate", width=2700, height=768, deferrable=deferrable, **FAST
        ).expand(requests=chunks())

    with DAG(f"wan_sensor_{flavour}", schedule=None, start_date=START, catchup=False):
        submit = WanImageInferenceOperator(
            task_id="submit",
            requests=[
                {"item_key": f"look-{n}", "positivePrompt": f"lookbook {n}"} for n in range(5)
            ],
            width=1024,
            height=1024,
            number_results=2,
            wait_for_completion=False,
        )
        WanImageResultsSensor(
            task_id="wait",
            task_uuids=submit.output,
            deferrable=deferrable,
            poke_interval=0.1,
            max_poll_interval=0.2,
            timeout=120,
        )
