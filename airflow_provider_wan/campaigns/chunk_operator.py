"""One chunk of a campaign run: the Wan operator, behind the run's budget.

:class:`CampaignChunkOperator` is :class:`WanImageInferenceOperator` with two differences:

- before its first submission it asks the budget (:func:`~.budget.admit`) and, when the run
  cannot afford it, ends *skipped* with the reason, having sent nothing;
- ``requests`` and ``destination`` are not Jinja templates here: the plan task rendered them in
  a sandbox, and item data (which may come from a bucket) must not be rendered again by Airflow.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow.sdk import Context
from airflow.sdk.exceptions import AirflowSkipException

from airflow_provider_wan.campaigns.budget import ChunkState, ChunkStatus, Decision, admit
from airflow_provider_wan.operators.image_inference import ITEM_KEY, WanImageInferenceOperator

CHUNK_IMAGES_KEY = "chunk_images"
"""XCom key (on the plan task) of the number of images of every chunk, in order."""
SPENT_KEY = "spent"
"""XCom key of a finished chunk's ``{"cost", "images"}``, small, for the budget of later chunks."""

_IN_FLIGHT = frozenset({"running", "deferred", "up_for_reschedule", "restarting", "up_for_retry"})
_FAILED = frozenset({"failed", "upstream_failed"})
_REFUSED = frozenset({"skipped", "removed"})


def status_of(state: str | None) -> ChunkStatus:
    """A task instance state as the budget sees it."""
    if state == "success":
        return ChunkStatus.FINISHED
    if state in _IN_FLIGHT:
        return ChunkStatus.IN_FLIGHT
    if state in _FAILED:
        return ChunkStatus.FAILED
    if state in _REFUSED:
        return ChunkStatus.REFUSED
    return ChunkStatus.NOT_STARTED


def chunk_states(ti: Any, task_id: str) -> dict[int, str | None]:
    """The state of every mapped instance of *task_id* in this run, by map index."""
    states = ti.get_task_states(dag_id=ti.dag_id, task_ids=[task_id], run_ids=[ti.run_id])
    found: dict[int, str | None] = {}
    for name, state in (states.get(ti.run_id) or {}).items():
        prefix, _, index = str(name).rpartition("_")
        if prefix == task_id and index.isdigit():
            found[int(index)] = state
    return found


def chunk_label(requests: Any, map_index: int) -> str:
    """``chunk 3: sku-061 .. sku-080 (20)``, the name of a mapped instance in the UI."""
    keys = (
        [str(r.get(ITEM_KEY, "?")) for r in requests if isinstance(r, Mapping)] if requests else []
    )
    if not keys:
        return f"chunk {map_index}"
    span = keys[0] if len(keys) == 1 else f"{keys[0]} .. {keys[-1]}"
    return f"chunk {map_index}: {span} ({len(keys)})"


class CampaignChunkOperator(WanImageInferenceOperator):
    """Generate one chunk of a campaign run, if the run's budget allows it.

    :param budget_usd: the run's budget; None for no budget.
    :param cost_per_image_usd: the estimated price of one image.
    :param plan_task_id: the task whose XCom ``chunk_images`` lists every chunk's image count.
    """

    template_fields = tuple(
        name
        for name in WanImageInferenceOperator.template_fields
        if name not in ("requests", "destination")
    )
    ui_color = "#dde8ff"

    def __init__(
        self,
        *,
        budget_usd: float | None = None,
        cost_per_image_usd: float = 0.03,
        plan_task_id: str = "plan",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.budget_usd = budget_usd
        self.cost_per_image_usd = cost_per_image_usd
        self.plan_task_id = plan_task_id

    def execute(self, context: Context) -> dict[str, Any]:
        ti = context["ti"]
        map_index = ti.map_index if ti.map_index is not None else -1
        context["chunk_label"] = chunk_label(self.requests, map_index)  # type: ignore[typeddict-unknown-key]
        if self.budget_usd is not None:
            if ti.try_number > 1:
                self.log.info(
                    "Try %d: this chunk was admitted by the budget on its first try (what it "
                    "submitted then is found again, not paid twice)",
                    ti.try_number,
                )
            else:
                decision = self._ask_budget(ti, map_index, self.budget_usd)
                if not decision.admitted:
                    self.log.warning("Not submitted: %s", decision.message)
                    raise AirflowSkipException(decision.message)
                self.log.info("Submitting: %s", decision.message)
        return self._spent(ti, super().execute(context))

    def execute_complete(
        self, context: Context, event: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        ti = context["ti"]
        map_index = ti.map_index if ti.map_index is not None else -1
        context["chunk_label"] = chunk_label(self.requests, map_index)  # type: ignore[typeddict-unknown-key]
        return self._spent(ti, super().execute_complete(context, event))

    @staticmethod
    def _spent(ti: Any, summary: dict[str, Any]) -> dict[str, Any]:
        totals = summary.get("totals", {})
        ti.xcom_push(
            key=SPENT_KEY, value={"cost": totals.get("cost"), "images": totals.get("images")}
        )
        return summary

    def _ask_budget(self, ti: Any, map_index: int, limit: float) -> Decision:
        images: list[int] = ti.xcom_pull(task_ids=self.plan_task_id, key=CHUNK_IMAGES_KEY) or []
        states = chunk_states(ti, self.task_id)
        chunks = []
        for index, count in enumerate(images):
            status = ChunkStatus.IN_FLIGHT if index == map_index else status_of(states.get(index))
            cost, made = None, 0
            if status is ChunkStatus.FINISHED:
                spent = ti.xcom_pull(task_ids=self.task_id, map_indexes=index, key=SPENT_KEY)
                if isinstance(spent, Mapping):
                    cost, made = spent.get("cost"), int(spent.get("images") or 0)
            chunks.append(ChunkState(index, count, status, cost, made))
        if not any(chunk.index == map_index for chunk in chunks):
            chunks.append(ChunkState(map_index, self._images(), ChunkStatus.IN_FLIGHT))
        return admit(map_index, chunks, self.cost_per_image_usd, limit)

    def _images(self) -> int:
        default = int(self.number_results or 1)
        return sum(
            int(r.get("numberResults", default)) if isinstance(r, Mapping) else default
            for r in (self.requests or [])
        )
