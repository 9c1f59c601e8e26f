"""A hand-written Airflow DAG in the style data teams write: TaskFlow around the Wan operator.

Reads the active products from a CSV, builds one request per product, generates them in
mapped chunks with ``WanImageInferenceOperator`` (deferrable: waiting happens in the
triggerer), then publishes a small index of where each product's image landed.

Set the ``output_uri`` param (or ``WAN_EXAMPLE_OUTPUT``) to a ``gs://``, ``s3://`` or
``file://`` prefix. See docs/examples/wan_catalog_taskflow.md.
"""

from __future__ import annotations

import csv
import os
from datetime import datetime
from pathlib import Path
from typing import Any

from airflow.sdk import Param, dag, task

from airflow_provider_wan.operators.image_inference import WanImageInferenceOperator

PRODUCTS_CSV = Path(__file__).parent / "campaigns" / "data" / "catalog" / "products.csv"
CHUNK_SIZE = 5


@dag(
    schedule="@daily",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["wan", "example", "taskflow"],
    params={
        "output_uri": Param(
            os.environ.get("WAN_EXAMPLE_OUTPUT", "gs://acme-catalog-media/taskflow"),
            type="string",
            description="Where the images go: a gs://, s3:// or file:// prefix",
        ),
        "categories": Param(["kettle", "mug", "teapot"], type="array"),
    },
)
def wan_catalog_taskflow() -> None:
    @task
    def load_products(params: dict[str, Any] | None = None) -> list[dict[str, str]]:
        """The products of the chosen categories."""
        wanted = set((params or {}).get("categories") or [])
        with PRODUCTS_CSV.open(newline="", encoding="utf-8") as handle:
            return [
                row for row in csv.DictReader(handle) if not wanted or row["category"] in wanted
            ]

    @task
    def to_requests(products: list[dict[str, str]]) -> list[list[dict[str, Any]]]:
        """One wire-shaped request per product, in chunks (one mapped task each)."""
        requests = [
            {
                "item_key": product["sku"],
                "positivePrompt": (
                    f"E-commerce photo of the {product['name']}, {product['material']}, "
                    f"{product['color']}, on a seamless light grey background, soft light"
                ),
            }
            for product in products
        ]
        return [requests[i : i + CHUNK_SIZE] for i in range(0, len(requests), CHUNK_SIZE)]

    shots = WanImageInferenceOperator.partial(
        task_id="generate",
        width=1024,
        height=1024,
        output_format="WEBP",
        negative_prompt="text, watermark, people",
        prompt_extend=False,  # reproducible
        destination="{{ params.output_uri }}/{{ ds }}/{item_key}-{index}.{ext}",
        deferrable=True,
        poll_interval=float(os.environ.get("WAN_EXAMPLE_POLL_INTERVAL", "2")),
    ).expand(requests=to_requests(load_products()))

    @task
    def publish(summaries: list[dict[str, Any]]) -> dict[str, Any]:
        """Where each product's image is, and what the run cost (from the chunks' summaries)."""
        index = {image["item_key"]: image["uri"] for s in summaries for image in s["images"]}
        cost = round(sum(s["totals"]["cost"] for s in summaries), 4)
        for sku, uri in sorted(index.items()):
            print(f"{sku:<8} {uri}")
        print(f"{len(index)} product image(s), {cost:.2f} USD")
        return {"images": index, "cost": cost, "manifests": [s["manifest"] for s in summaries]}

    publish(shots.output)


wan_catalog_taskflow()
