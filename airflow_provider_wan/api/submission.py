"""Submit a planned set of tasks so that a retry never pays twice, yet failed tasks get redone.

Each planned task has an *identity* (for an Airflow task: dag, run, task, map index, item key,
result index). Its task UUID is derived from the identity and a *generation* number:

- generation 0 is what a first attempt submits; a retry derives the same UUID, the API answers
  ``conflictTaskUUID``, and the task is polled instead of generated again;
- a task whose earlier generation ended in error (or is unknown to the API) moves on to the next
  generation, so a retry does redo what failed, and only that.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from airflow_provider_wan.api.client import RunwareClient
from airflow_provider_wan.api.inference import ImageInference
from airflow_provider_wan.api.results import TaskError
from airflow_provider_wan.api.uuids import derive_task_uuid

log = logging.getLogger(__name__)

Preparer = Callable[["PlannedTask", ImageInference], ImageInference]
"""Turns a task about to be sent into the task to send (see :func:`submit_planned`)."""

MAX_GENERATIONS = 10
"""How many times one task may be redone after failures (each needs a failed predecessor)."""


@dataclass(frozen=True)
class PlannedTask:
    """A task to submit, without its UUID, and the identity its UUIDs derive from."""

    identity: tuple[str | int, ...]
    task: ImageInference

    def uuid(self, generation: int) -> str:
        """The task UUID of *generation* (0 for the first submission)."""
        parts = self.identity if generation == 0 else (*self.identity, "generation", generation)
        return derive_task_uuid(*parts)


@dataclass
class Submission:
    """Where each planned task stands after :func:`submit_planned`.

    :ivar uuids: identity -> the task UUID to follow (accepted now, or held from before).
    :ivar accepted: task UUIDs that were new to the API (and will be billed).
    :ivar reused: task UUIDs the API already held, running or done: nothing paid again.
    :ivar regenerated: task UUIDs submitted because their predecessor had failed.
    :ivar rejected: task UUID -> the error the API refused the task with.
    """

    uuids: dict[tuple[str | int, ...], str] = field(default_factory=dict)
    accepted: list[str] = field(default_factory=list)
    reused: list[str] = field(default_factory=list)
    regenerated: list[str] = field(default_factory=list)
    rejected: dict[str, TaskError] = field(default_factory=dict)


def submit_planned(
    client: RunwareClient,
    planned: Sequence[PlannedTask],
    *,
    max_generations: int = MAX_GENERATIONS,
    prepare: Preparer | None = None,
) -> Submission:
    """Submit *planned* tasks idempotently (see the module's description).

    :param prepare: called with the planned task and the task about to be sent (with its UUID);
        returns the task to send (e.g. with ``deliveryMethod`` or an ``uploadEndpoint`` set).
        Tasks the API already holds are not sent, so are not prepared.
    """
    outcome = Submission()
    todo = list(planned)
    for generation in range(max_generations + 1):
        if not todo:
            break
        by_uuid = {item.uuid(generation): item for item in todo}
        tasks = []
        for task_uuid, item in by_uuid.items():
            task = item.task.model_copy(update={"task_uuid": task_uuid})
            tasks.append(prepare(item, task) if prepare else task)
        result = client.submit(tasks, raise_on_rejection=False)
        for task_uuid in result.accepted:
            outcome.uuids[by_uuid[task_uuid].identity] = task_uuid
            outcome.accepted.append(task_uuid)
            if generation:
                outcome.regenerated.append(task_uuid)
        for task_uuid, error in result.rejected.items():
            outcome.uuids[by_uuid[task_uuid].identity] = task_uuid
            outcome.rejected[task_uuid] = error
        todo = []
        if result.already_submitted:
            state = client.poll(result.already_submitted)
            for task_uuid in result.already_submitted:
                item = by_uuid[task_uuid]
                outcome.uuids[item.identity] = task_uuid
                if task_uuid in state.failed and generation < max_generations:
                    log.info(
                        "Task %s had failed (%s); submitting it anew",
                        task_uuid,
                        state.failed[task_uuid].describe(),
                    )
                    todo.append(item)
                else:
                    outcome.reused.append(task_uuid)
    return outcome


def planned_by_uuid(planned: Sequence[PlannedTask], uuids: Sequence[str]) -> dict[str, PlannedTask]:
    """Map task UUIDs back to planned tasks, deriving later generations only when needed.

    Which UUID a task ended up with depends on earlier failures; deriving them again here
    means nothing has to travel through an Airflow deferral. Most runs need generation 0 only.
    """
    by_uuid = {item.uuid(0): item for item in planned}
    for generation in range(1, MAX_GENERATIONS + 1):
        if all(uuid in by_uuid for uuid in uuids):
            break
        by_uuid.update((item.uuid(generation), item) for item in planned)
    return by_uuid
