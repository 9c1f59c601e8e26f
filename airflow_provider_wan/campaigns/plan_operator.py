"""The first task of a campaign run: read the items, render them, chunk them, apply the budget.

It runs on a worker, so this is where ``gs://`` / ``s3://`` items are read (never while the DAG
is parsed) and where connections are checked. Any problem (a missing field, a duplicate key, a
request that breaks an API rule, two images with one name) fails the task before anything is
sent, listing every problem with file, line and key.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from airflow.sdk import BaseOperator, Context
from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_wan.campaigns.chunk_operator import CHUNK_IMAGES_KEY
from airflow_provider_wan.campaigns.connections import check_connections, needed_kinds
from airflow_provider_wan.campaigns.files import CampaignFile
from airflow_provider_wan.campaigns.items import read_items
from airflow_provider_wan.campaigns.planning import RunPlan, plan_run
from airflow_provider_wan.campaigns.problems import CampaignError
from airflow_provider_wan.campaigns.rendering import run_fields

PLAN_KEY = "plan"
"""XCom key of the plan's summary (read by the finishing step)."""
MAX_ITEMS_BYTES = 200 * 1024 * 1024


def logical_date_of(context: Context) -> datetime:
    """The run's logical date; a run without one (Airflow 3 manual runs) uses its run_after."""
    found = context.get("logical_date")
    if found is None:
        dag_run = context.get("dag_run")
        found = getattr(dag_run, "run_after", None) if dag_run is not None else None
    return found if isinstance(found, datetime) else datetime.now(timezone.utc)


class CampaignPlanOperator(BaseOperator):
    """Read and render a campaign's items into chunks of requests for the mapped generate task.

    Returns (XCom) one ``{"requests": [...], "destination": "..."}`` per chunk within the
    budget; pushes ``plan`` (a summary) and ``chunk_images`` (images per chunk).

    :param campaign: the loaded campaign file.
    """

    ui_color = "#f0f4e8"

    def __init__(self, *, campaign: CampaignFile, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.campaign = campaign

    def execute(self, context: Context) -> list[dict[str, Any]]:
        cf = self.campaign
        params = context.get("params") or {}
        destination = params.get("destination") or None
        items_source = params.get("items_source") or None
        max_items = params.get("max_items")
        kinds = needed_kinds(cf, destination=destination, items_source=items_source)
        _, problems = check_connections(cf, kinds)
        if problems:
            raise AirflowFailException(str(CampaignError(problems)))
        found = read_items(cf, source=items_source, fetch=self._fetch)
        if found.problems:
            raise AirflowFailException(str(CampaignError(found.problems)))
        ti = context["ti"]
        run = run_fields(logical_date=logical_date_of(context), run_id=ti.run_id, dag_id=ti.dag_id)
        plan = plan_run(
            cf,
            found.items,
            run,
            destination=destination,
            max_items=int(max_items) if max_items is not None else None,
        )
        if plan.problems:
            raise AirflowFailException(str(CampaignError(plan.problems)))
        for line in plan.describe().splitlines():
            self.log.info("%s", line)
        ti.xcom_push(key=PLAN_KEY, value=self._summary(plan))
        ti.xcom_push(key=CHUNK_IMAGES_KEY, value=plan.chunk_images())
        return [
            {"requests": [request.body for request in chunk], "destination": plan.destination}
            for chunk in plan.submitted
        ]

    def _fetch(self, uri: str) -> bytes:
        from airflow_provider_wan.hooks.storage import open_store

        connections = self.campaign.spec.connections
        self.log.info("Reading the items from %s", uri)
        store = open_store(uri, gcp_conn_id=connections.gcp, aws_conn_id=connections.aws)
        try:
            size = store.stat(uri).size
            if size > MAX_ITEMS_BYTES:
                raise ValueError(
                    f"{uri} is {size:,} bytes; items files are at most {MAX_ITEMS_BYTES:,}"
                )
            data: bytes = store.read(uri)
        finally:
            store.close()
        return data

    @staticmethod
    def _summary(plan: RunPlan) -> dict[str, Any]:
        cut = [request.item_key for chunk in plan.cut for request in chunk]
        return {
            "campaign": plan.campaign,
            "items": plan.items,
            "requests": len(plan.requests),
            "images": plan.images,
            "chunks": len(plan.chunks),
            "submitted_chunks": plan.admitted,
            "price_per_image_usd": plan.price,
            "budget_usd": plan.budget_usd,
            "estimated_cost_usd": plan.estimated_cost,
            "submitted_estimated_cost_usd": plan.submitted_cost,
            "cut_by_budget": cut,
            "destination": plan.destination,
            "manifest": plan.manifest,
        }
