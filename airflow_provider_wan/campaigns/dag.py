"""A campaign file into a DAG: ``plan`` -> ``generate`` (mapped, one chunk each) -> ``finish``.

Building touches no network and reads nothing but the campaign: the DAG processor may rebuild
it every few seconds.
"""

from __future__ import annotations

import importlib
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from airflow.sdk import DAG, Param

from airflow_provider_wan.campaigns.chunk_operator import CampaignChunkOperator
from airflow_provider_wan.campaigns.files import CampaignFile
from airflow_provider_wan.campaigns.finish_operator import CampaignFinishOperator
from airflow_provider_wan.campaigns.plan_operator import CampaignPlanOperator
from airflow_provider_wan.campaigns.spec import Campaign, TimetableSchedule

CAMPAIGN_TAG = "wan-campaign"
TOLERATE_ALL = 2**31
"""``allow_failures`` of each chunk: the run's policy is applied once, by the finishing step,
over the whole run (a chunk that fails over the policy would write no manifest part)."""


def schedule_of(campaign: Campaign) -> Any:
    """The ``schedule`` argument of the DAG (a timetable when a time zone or class is named)."""
    schedule = campaign.schedule
    if isinstance(schedule, TimetableSchedule):
        return timetable(schedule.timetable, schedule.arguments)
    if isinstance(schedule, str) and " " not in schedule and "." in schedule:
        return timetable(schedule, {})
    if (
        isinstance(schedule, str)
        and campaign.timezone != "UTC"
        and schedule not in ("@once", "@continuous")
    ):
        from airflow.sdk import CronTriggerTimetable

        return CronTriggerTimetable(schedule, timezone=campaign.timezone)
    return schedule


def timetable(path: str, arguments: dict[str, Any]) -> Any:
    """An instance of the timetable class at *path*."""
    module_name, _, class_name = path.rpartition(".")
    return getattr(importlib.import_module(module_name), class_name)(**arguments)


def _doc(cf: CampaignFile) -> str:
    spec = cf.spec
    items = spec.items.source or f"{len(spec.items.inline or [])} inline item(s)"
    budget = f"{spec.budget.limit_usd:.2f} USD per run" if spec.budget else "none"
    width, height = spec.generation.size
    return "\n".join(
        [
            f"Campaign **{spec.name}** from `{cf.name}`.",
            "",
            spec.description or "",
            "",
            f"- items: `{items}` (key `{spec.items.key}`)"
            + (f" x {len(spec.variants)} variant(s)" if spec.variants else ""),
            f"- {width}x{height} {spec.generation.output_format}, "
            f"{spec.generation.number_results} image(s) per request",
            f"- chunks of {spec.chunk_size}, at most {spec.max_active_chunks} at a time",
            f"- destination: `{spec.destination}` ({spec.upload_mode})",
            f"- budget: {budget}",
            "",
            "Run parameters: `destination` (another destination template), `items_source` "
            "(another items file), `max_items` (only the first items).",
        ]
    )


def build_dag(cf: CampaignFile) -> DAG:
    """The DAG of one campaign file."""
    spec = cf.spec
    generation = spec.generation
    start = (
        datetime(
            spec.start_date.year,
            spec.start_date.month,
            spec.start_date.day,
            tzinfo=ZoneInfo(spec.timezone),
        )
        if spec.start_date
        else None
    )
    with DAG(
        dag_id=spec.name,
        description=spec.description or f"Wan2.6 image campaign from {cf.path.name}",
        schedule=schedule_of(spec),
        start_date=start,
        catchup=spec.catchup,
        tags={CAMPAIGN_TAG, *spec.tags},
        max_active_runs=spec.max_active_runs,
        doc_md=_doc(cf),
        default_args={
            "owner": spec.owner,
            "retries": spec.retries,
            "retry_delay": timedelta(seconds=spec.retry_delay_seconds),
        },
        params={
            "destination": Param(
                None,
                type=["null", "string"],
                description=f"Another destination for this run (default: {spec.destination})",
            ),
            "items_source": Param(
                None,
                type=["null", "string"],
                description="Another items file for this run: a path beside the campaign, "
                "a file://, gs:// or s3:// URI",
            ),
            "max_items": Param(
                None,
                type=["null", "integer"],
                minimum=0,
                description="Generate only the first N items (a sample run)",
            ),
        },
    ) as dag:
        plan = CampaignPlanOperator(task_id="plan", campaign=cf)
        generate = CampaignChunkOperator.partial(
            task_id="generate",
            runware_conn_id=spec.connections.runware,
            gcp_conn_id=spec.connections.gcp,
            aws_conn_id=spec.connections.aws,
            width=generation.width,
            height=generation.height,
            output_format=generation.output_format,
            output_quality=generation.output_quality,
            number_results=generation.number_results,
            prompt_extend=generation.prompt_extend,
            check_content=generation.safety.check_content if generation.safety else None,
            upload_mode=spec.upload_mode,
            allow_failures=TOLERATE_ALL,
            deferrable=spec.deferrable,
            timeout=timedelta(minutes=spec.wait.timeout_minutes),
            poll_interval=spec.wait.poll_interval_seconds,
            max_poll_interval=spec.wait.max_poll_interval_seconds,
            budget_usd=spec.budget.limit_usd if spec.budget else None,
            cost_per_image_usd=spec.budget.cost_per_image_usd if spec.budget else 0.03,
            max_active_tis_per_dagrun=spec.max_active_chunks,
            map_index_template="{{ chunk_label }}",
        ).expand_kwargs(plan.output)
        finish = CampaignFinishOperator(
            task_id="finish", campaign=cf, trigger_rule="all_done", retries=0
        )
        plan >> generate >> finish
    return dag
