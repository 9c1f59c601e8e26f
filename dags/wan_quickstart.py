"""Quickstart: six product shots generated with Wan2.6 Image and stored with a manifest.

The smallest DAG: one ``WanImageInferenceOperator`` and a task that reports what it made.
``airflow dags test wan_quickstart`` writes the images under ``params.output_dir``
(``$WAN_DEMO_OUTPUT``, or ``wan-demo-output`` in the temporary directory), one folder per
logical date, with a JSON Lines manifest in ``_manifests/``. See
docs/examples/wan_quickstart.md; ``./scripts/demo.sh`` runs the ``catalog_refresh`` campaign.
"""

from __future__ import annotations

import os
import tempfile
from datetime import datetime
from pathlib import Path

from airflow.sdk import DAG, task

from airflow_provider_wan.operators.image_inference import WanImageInferenceOperator

PRODUCTS = [
    {"item_key": "kettle-red", "positivePrompt": "a glossy red enamel kettle on a kitchen counter"},
    {"item_key": "mug-blue", "positivePrompt": "a speckled blue ceramic mug with steam rising"},
    {"item_key": "teapot-white", "positivePrompt": "a white porcelain teapot on a linen cloth"},
]

with DAG(
    dag_id="wan_quickstart",
    description="Generate product shots with Runware's Wan2.6 Image and store them locally.",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["wan", "example"],
    params={
        "output_dir": os.environ.get("WAN_DEMO_OUTPUT")
        or str(Path(tempfile.gettempdir()) / "wan-demo-output")
    },
):
    generate = WanImageInferenceOperator(
        task_id="generate",
        requests=PRODUCTS,
        negative_prompt="text, watermark, blurry",
        width=1024,
        height=1024,
        number_results=2,
        output_format="WEBP",
        prompt_extend=False,
        destination="file://{{ params.output_dir }}/{{ ds }}/{item_key}-{index}.{ext}",
        deferrable=True,
        poll_interval=2.0,
    )

    @task
    def report(summary: dict) -> None:
        """Say what was made and where, as a person would want to read it."""
        totals = summary["totals"]
        print(f"{totals['images']} images, {totals['failed']} failed, {totals['cost']:.2f} USD")
        for image in summary["images"]:
            print(f"  {image['item_key']:<14} {image['uri']}")
        print(f"manifest: {summary['manifest']}")

    report(generate.output)
