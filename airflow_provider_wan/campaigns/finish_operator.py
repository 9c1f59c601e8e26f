"""The last task of a campaign run: the run manifest, the contact sheet and the summary.

It runs whatever became of the chunks (``trigger_rule="all_done"``), so a run stopped by its
budget or by a failed chunk still ends with a manifest of what was made. It fails (after
writing) when the run is incomplete, has more failures than ``allow_failures`` tolerates, or
was stopped by its budget with ``budget.on_exceeded: fail``.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from airflow.sdk import BaseOperator, Context
from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_wan.campaigns.budget import ChunkStatus
from airflow_provider_wan.campaigns.chunk_operator import chunk_states, status_of
from airflow_provider_wan.campaigns.files import CampaignFile
from airflow_provider_wan.campaigns.finishing import ChunkOutcome, RunSummary, finish_run
from airflow_provider_wan.campaigns.plan_operator import PLAN_KEY
from airflow_provider_wan.operators.image_inference import ITEM_KEY


class CampaignFinishOperator(BaseOperator):
    """Merge the chunks' manifests into the run manifest; write a contact sheet and a summary.

    Returns (XCom) the summary: status, images, failures, cost, duration, the URIs of the
    manifest, the contact sheet and ``<run>.summary.json``, and the items not generated.

    :param campaign: the loaded campaign file.
    :param plan_task_id: the plan task.
    :param generate_task_id: the mapped generate task.
    """

    ui_color = "#f4ecf7"

    def __init__(
        self,
        *,
        campaign: CampaignFile,
        plan_task_id: str = "plan",
        generate_task_id: str = "generate",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.campaign = campaign
        self.plan_task_id = plan_task_id
        self.generate_task_id = generate_task_id

    def execute(self, context: Context) -> dict[str, Any]:
        from airflow_provider_wan.hooks.storage import open_store

        ti = context["ti"]
        plan = ti.xcom_pull(task_ids=self.plan_task_id, key=PLAN_KEY)
        if not plan:
            raise AirflowFailException(
                "The plan task did not finish, so nothing was submitted; see its log"
            )
        chunks = ti.xcom_pull(task_ids=self.plan_task_id) or []
        outcomes = self._outcomes(ti, chunks)
        spec = self.campaign.spec
        store = open_store(
            plan["destination"],
            gcp_conn_id=spec.connections.gcp,
            aws_conn_id=spec.connections.aws,
        )
        try:
            summary = finish_run(
                store,
                spec,
                run_id=ti.run_id,
                manifest=plan["manifest"],
                outcomes=outcomes,
                cut_by_budget=plan.get("cut_by_budget") or [],
                plan=plan,
                duration_seconds=self._duration(context),
            )
        finally:
            store.close()
        self._report(summary)
        failing: list[str] = [s for s in summary.status if s in ("incomplete", "too_many_failures")]
        if "budget_reached" in summary.status and spec.budget and spec.budget.on_exceeded == "fail":
            failing.append("budget_reached")
        if failing:
            raise AirflowFailException(
                f"Campaign run {', '.join(failing)}: "
                + " | ".join(summary.messages)
                + f". Manifest of what was made: {summary.manifest}"
            )
        return summary.as_dict()

    def _outcomes(self, ti: Any, chunks: list[dict[str, Any]]) -> list[ChunkOutcome]:
        states = chunk_states(ti, self.generate_task_id)
        outcomes = []
        for index, chunk in enumerate(chunks):
            keys = [str(request.get(ITEM_KEY)) for request in chunk.get("requests", [])]
            state = states.get(index)
            status = status_of(state)
            if status is ChunkStatus.FINISHED:
                result = ti.xcom_pull(task_ids=self.generate_task_id, map_indexes=index) or {}
                manifest = result.get("manifest")
                tasks = int(result.get("totals", {}).get("tasks", 0))
                outcomes.append(
                    ChunkOutcome(
                        index, keys, "generated" if manifest else "failed", manifest, tasks, state
                    )
                )
            elif status is ChunkStatus.REFUSED:
                outcomes.append(ChunkOutcome(index, keys, "refused", airflow_state=state))
            else:
                outcomes.append(ChunkOutcome(index, keys, "failed", airflow_state=state))
        return outcomes

    @staticmethod
    def _duration(context: Context) -> float | None:
        dag_run = context.get("dag_run")
        started = getattr(dag_run, "start_date", None)
        if not isinstance(started, datetime):
            return None
        return (datetime.now(timezone.utc) - started).total_seconds()

    def _report(self, summary: RunSummary) -> None:
        self.log.info(
            "Campaign %s, run %s: %s. %d image(s), %d failure(s), %.2f USD (estimated %.2f), %s",
            summary.campaign,
            summary.run_id,
            ", ".join(summary.status),
            summary.images,
            summary.failures,
            summary.cost_usd,
            summary.estimated_cost_usd,
            f"{summary.duration_seconds:.1f} s"
            if summary.duration_seconds is not None
            else "duration unknown",
        )
        for message in summary.messages:
            self.log.warning("%s", message)
        self.log.info("Manifest:      %s", summary.manifest)
        if summary.contact_sheet:
            self.log.info("Contact sheet: %s", summary.contact_sheet)
        self.log.info("Summary:       %s", summary.summary)
