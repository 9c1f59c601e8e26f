"""Wait for Runware tasks submitted elsewhere: poke once, defer only if more is to come."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from datetime import timedelta
from functools import cached_property
from typing import Any

from airflow.sdk import BaseSensorOperator, Context, PokeReturnValue, conf

from airflow_provider_wan.api.results import ImageResult
from airflow_provider_wan.api.tracking import ResultsTracker
from airflow_provider_wan.hooks.runware import RunwareHook
from airflow_provider_wan.outcome import (
    TaskRef,
    check_event,
    enforce_failure_policy,
    finished_images,
    results_event,
    summarize,
)
from airflow_provider_wan.triggers.image_results import WanImageResultsTrigger


class WanImageResultsSensor(BaseSensorOperator):
    """Wait until Runware tasks have produced their images, and summarize them like the operator.

    Give it the task UUIDs, or the whole return value of a ``WanImageInferenceOperator`` run with
    ``wait_for_completion=False`` (which also carries the expected image counts and item keys).
    It polls once; when something is still running and ``deferrable`` is on, it hands the wait
    to :class:`~airflow_provider_wan.triggers.image_results.WanImageResultsTrigger`.

    :param task_uuids: the task UUIDs, or the submitting operator's return value. (templated)
    :param expected_images: images per task: a mapping of task UUID to count, or one count for
        all; unknown counts end a task once a poll shows images and no work left. (templated)
    :param runware_conn_id: the Runware connection. (templated)
    :param deferrable: wait in the triggerer (default from ``[operators] default_deferrable``).
    :param max_poll_interval: the longest wait between polls in the triggerer.
    :param allow_failures: failed tasks to tolerate: a count, or a share below 1.
    """

    template_fields: Sequence[str] = ("task_uuids", "expected_images", "runware_conn_id")

    def __init__(
        self,
        *,
        task_uuids: Sequence[str] | Mapping[str, Any],
        expected_images: Mapping[str, int] | int | None = None,
        runware_conn_id: str = RunwareHook.default_conn_name,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        max_poll_interval: float = 5.0,
        allow_failures: int | float = 0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.task_uuids = task_uuids
        self.expected_images = expected_images
        self.runware_conn_id = runware_conn_id
        self.deferrable = deferrable
        self.max_poll_interval = max_poll_interval
        self.allow_failures = allow_failures

    @cached_property
    def hook(self) -> RunwareHook:
        """The Runware hook of ``runware_conn_id``."""
        return RunwareHook(runware_conn_id=self.runware_conn_id)

    def _refs(self) -> dict[str, TaskRef]:
        source = self.task_uuids
        item_keys: Mapping[str, str] = {}
        expected: Mapping[str, int | None] | int | None = self.expected_images
        if isinstance(source, Mapping):
            item_keys = source.get("item_keys") or {}
            if expected is None:
                expected = source.get("expected_images")
            source = source.get("task_uuids") or []
        if isinstance(source, str) or not all(isinstance(uuid, str) for uuid in source):
            raise ValueError(f"task_uuids must be a list of task UUIDs, not {source!r:.80}")

        def count(uuid: str) -> int | None:
            if isinstance(expected, Mapping):
                value = expected.get(uuid)
                return None if value is None else int(value)
            return None if expected is None else int(expected)

        return {uuid: TaskRef(item_keys.get(uuid, uuid), count(uuid)) for uuid in source}

    def _summary(
        self,
        event: Mapping[str, Any] | None,
        refs: Mapping[str, TaskRef],
        images: Sequence[ImageResult] | None = None,
    ) -> dict[str, Any]:
        checked = check_event(event, list(refs))
        if images is None:
            images = finished_images(self.hook.client, checked)
        summary = summarize(checked, refs, images)
        enforce_failure_policy(summary, self.allow_failures)
        return summary

    def poke(self, context: Context) -> PokeReturnValue:
        """Poll every task once; done when each has all its images or has failed."""
        refs = self._refs()
        tracker = ResultsTracker({uuid: ref.expected_images for uuid, ref in refs.items()})
        if refs:
            tracker.update(self.hook.client.poll(list(refs)))
        self.log.info("%s", tracker.progress())
        if not tracker.done:
            return PokeReturnValue(is_done=False)
        summary = self._summary(results_event(tracker), refs, tracker.images())
        return PokeReturnValue(is_done=True, xcom_value=summary)

    def execute(self, context: Context) -> Any:
        if not self.deferrable:
            return super().execute(context)
        first = self.poke(context)
        if first.is_done:
            return first.xcom_value
        refs = self._refs()
        self.defer(
            trigger=WanImageResultsTrigger(
                runware_conn_id=self.runware_conn_id,
                expected_images={uuid: ref.expected_images for uuid, ref in refs.items()},
                deadline=time.time() + self.timeout,
                poll_interval=min(self.poke_interval, self.max_poll_interval),
                max_poll_interval=self.max_poll_interval,
            ),
            method_name="execute_complete",
            timeout=timedelta(seconds=self.timeout) + timedelta(minutes=5),
        )

    def execute_complete(
        self, context: Context, event: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Check the trigger's event and return the same summary as the operator."""
        return self._summary(event, self._refs())
