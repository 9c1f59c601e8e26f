"""A trigger that waits for many Runware tasks at once, in the triggerer, without a worker."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Mapping
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_wan.api.errors import RunwareError
from airflow_provider_wan.api.tracking import PollSchedule
from airflow_provider_wan.hooks.runware import RunwareHook
from airflow_provider_wan.outcome import ProgressLog, error_event, known_failures, results_event


class WanImageResultsTrigger(BaseTrigger):
    """Poll the results of many task UUIDs with batched ``getResponse`` requests.

    Fires one small JSON-native event when every task has finished or failed, or when the
    deadline passes (``status: timeout``, listing the tasks still running). The deadline is
    absolute, so a triggerer restart resumes the same wait instead of starting a new one.
    Nothing secret is in the kwargs: the key is read from the connection in the triggerer.

    :param runware_conn_id: the Runware connection.
    :param expected_images: task UUID -> how many images it will produce (``None``: unknown).
    :param deadline: when to stop waiting, in seconds since the epoch.
    :param poll_interval: seconds before the first poll (about one generation time).
    :param max_poll_interval: the longest wait between polls.
    :param poll_multiplier: growth of the wait from one poll to the next.
    :param max_consecutive_failures: polls in a row that may fail (after their own retries).
    :param failed: tasks that failed before the wait (refused at submission), as task UUID ->
        ``{"code": ..., "message": ...}``; reported in the event with the others.
    """

    def __init__(
        self,
        *,
        runware_conn_id: str,
        expected_images: Mapping[str, int | None],
        deadline: float,
        poll_interval: float = 1.0,
        max_poll_interval: float = 5.0,
        poll_multiplier: float = 1.5,
        max_consecutive_failures: int = 5,
        failed: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> None:
        super().__init__()
        self.runware_conn_id = runware_conn_id
        self.expected_images = dict(expected_images)
        self.deadline = float(deadline)
        self.poll_interval = poll_interval
        self.max_poll_interval = max_poll_interval
        self.poll_multiplier = poll_multiplier
        self.max_consecutive_failures = max_consecutive_failures
        self.failed = {uuid: dict(error) for uuid, error in (failed or {}).items()}

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """The class path and the (primitive) kwargs to rebuild this trigger in the triggerer."""
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "runware_conn_id": self.runware_conn_id,
                "expected_images": self.expected_images,
                "deadline": self.deadline,
                "poll_interval": self.poll_interval,
                "max_poll_interval": self.max_poll_interval,
                "poll_multiplier": self.poll_multiplier,
                "max_consecutive_failures": self.max_consecutive_failures,
                "failed": self.failed,
            },
        )

    @property
    def schedule(self) -> PollSchedule:
        """The poll schedule these kwargs describe."""
        return PollSchedule(
            initial_delay=self.poll_interval,
            multiplier=self.poll_multiplier,
            max_delay=self.max_poll_interval,
            max_consecutive_failures=self.max_consecutive_failures,
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Poll until done or the deadline, then fire one event."""
        task_uuids = [*self.expected_images, *self.failed]
        remaining = self.deadline - time.time()
        self.log.info(
            "Waiting for %d Runware task(s), %.0f s left before the deadline",
            len(task_uuids),
            remaining,
        )
        try:
            client = await RunwareHook(self.runware_conn_id).get_async_client()
            async with client:
                tracker = await client.wait(
                    self.expected_images,
                    deadline=self.deadline,
                    schedule=self.schedule,
                    on_update=ProgressLog(self.log),
                    failed=known_failures(self.failed),
                )
        except (RunwareError, ValueError) as error:
            self.log.error("Stopped waiting for Runware tasks: %s", error)
            if not isinstance(error, RunwareError):
                error = RunwareError(str(error))
            yield TriggerEvent(error_event(error, task_uuids))
            return
        if not tracker.done:
            self.log.warning(
                "Deadline passed with %d task(s) still running: %s",
                len(tracker.pending),
                ", ".join(tracker.pending[:10]),
            )
        yield TriggerEvent(results_event(tracker))

    async def on_kill(self) -> None:
        """Say what is abandoned: the tasks go on at Runware, and a retry will find them."""
        self.log.warning(
            "Trigger killed while waiting for %d Runware task(s); they keep running at Runware "
            "and a retry of the task polls them again without paying twice",
            len(self.expected_images),
        )
