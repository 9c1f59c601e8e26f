"""The end of a wait: the trigger's event, its validation, the XCom summary, the failure policy.

One contract shared by the trigger (which builds events), and the operator and the sensor
(which read them), so every path to a result, deferred or not, ends the same way.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from airflow_provider_wan.api import errors as api_errors
from airflow_provider_wan.api.client import RunwareClient
from airflow_provider_wan.api.errors import RunwareAPIError, RunwareError, TaskFailedError
from airflow_provider_wan.api.results import ImageResult, TaskError
from airflow_provider_wan.api.tracking import ResultsTracker

log = logging.getLogger(__name__)

EventStatus = Literal["success", "timeout", "error"]
EVENT_STATUSES: tuple[EventStatus, ...] = ("success", "timeout", "error")


def results_event(tracker: ResultsTracker, *, message: str = "") -> dict[str, Any]:
    """The JSON-native event for a finished wait: ``success`` when every task is terminal.

    Small whatever the batch: the task UUIDs, failures by code and message, what is still
    running, and counts. The images themselves are read by the worker afterwards
    (:func:`finished_images`), so no URL or inline data passes through the triggerer.
    """
    status: EventStatus = "success" if tracker.done else "timeout"
    return {
        "status": status,
        "message": message or tracker.progress(),
        "task_uuids": list(tracker.expected),
        "failures": {uuid: _brief(error) for uuid, error in tracker.failures.items()},
        "pending": tracker.pending,
        "images_ready": tracker.image_count,
        "cost": tracker.cost,
    }


def finished_images(client: RunwareClient, event: Mapping[str, Any]) -> list[ImageResult]:
    """The images of an event's finished tasks, read with one batched poll on the worker."""
    failed, pending = set(event.get("failures") or {}), set(event.get("pending") or [])
    done = [uuid for uuid in event.get("task_uuids") or [] if uuid not in failed | pending]
    if not done:
        return []
    unique = {image.image_uuid: image for image in client.poll(done).images}
    images = list(unique.values())
    ready = event.get("images_ready")
    if isinstance(ready, int) and len(images) < ready:
        log.warning(
            "The trigger saw %d image(s) but only %d are still retrievable", ready, len(images)
        )
    return images


def error_event(error: RunwareError, task_uuids: Sequence[str]) -> dict[str, Any]:
    """The event for a wait that could not go on (a wrong key, polls failing again and again)."""
    return {
        "status": "error",
        "message": str(error),
        "error_type": type(error).__name__,
        "code": getattr(error, "code", None),
        "task_uuids": list(task_uuids),
    }


def _brief(error: TaskError) -> dict[str, Any]:
    return {"code": error.code, "message": error.message}


def known_failures(briefs: Mapping[str, Mapping[str, Any]]) -> dict[str, TaskError]:
    """Failures carried as ``{uuid: {"code", "message"}}`` back into error objects."""
    return {
        uuid: TaskError(code=str(b.get("code")), message=str(b.get("message", "")), taskUUID=uuid)
        for uuid, b in briefs.items()
    }


def _error_class(name: object) -> type[RunwareError]:
    found = getattr(api_errors, str(name), None)
    if isinstance(found, type) and issubclass(found, RunwareError):
        return found
    return RunwareAPIError


def check_event(
    event: Mapping[str, Any] | None, allowed: Collection[str], count: int | None = None
) -> Mapping[str, Any]:
    """Refuse an event that is missing, of unknown status, about other tasks, or an error.

    :param allowed: the task UUIDs the event may speak of.
    :param count: how many tasks it must speak of (all of *allowed* by default).
    :raises RunwareError: of the type the trigger reported, for an ``error`` event.
    :raises ValueError: for a missing or malformed event.
    """
    if event is None:
        raise ValueError(
            "The trigger fired no event; the task cannot tell what became of its images"
        )
    status = event.get("status")
    if status not in EVENT_STATUSES:
        raise ValueError(f"Unknown event status {status!r}; expected one of {EVENT_STATUSES}")
    uuids = list(event.get("task_uuids") or [])
    expected_count = len(allowed) if count is None else count
    strangers = [uuid for uuid in uuids if uuid not in allowed]
    if strangers or len(set(uuids)) != expected_count:
        raise ValueError(
            "The event is about other tasks than this task submitted "
            f"({len(set(uuids))} in the event, {expected_count} submitted, "
            f"{len(strangers)} unknown)"
        )
    if status == "error":
        raise _error_class(event.get("error_type"))(str(event.get("message", "")))
    return event


@dataclass(frozen=True)
class TaskRef:
    """What a task UUID stands for: the item it renders and the images it will produce.

    :param first_index: the index of its first image within the item (a request split into
        single-image tasks, as push mode does, numbers them 0, 1, 2...).
    """

    item_key: str
    expected_images: int | None = None
    first_index: int = 0


def summarize(
    event: Mapping[str, Any], refs: Mapping[str, TaskRef], images: Sequence[ImageResult]
) -> dict[str, Any]:
    """The XCom value: every image (with its item key and index), every failure, totals.

    Images of one task are numbered 0..n-1 in the order of their image UUIDs, so a rerun that
    finds the same images numbers them the same way. Inline image data is left out.
    """
    by_task: dict[str, list[dict[str, Any]]] = {}
    for result in images:
        by_task.setdefault(result.task_uuid, []).append(result.summary())
    summaries = []
    for task_uuid, group in by_task.items():
        ref = refs.get(task_uuid, TaskRef(item_key=task_uuid))
        ordered = sorted(group, key=lambda i: str(i["image_uuid"]))
        for position, image in enumerate(ordered):
            summaries.append(
                {"item_key": ref.item_key, "index": ref.first_index + position, **image}
            )
    failures = [
        {"item_key": refs.get(uuid, TaskRef(uuid)).item_key, "task_uuid": uuid, **brief}
        for uuid, brief in event.get("failures", {}).items()
    ]
    failures += [
        {
            "item_key": refs.get(uuid, TaskRef(uuid)).item_key,
            "task_uuid": uuid,
            "code": "deadlineExceeded",
            "message": "still processing when the wait's deadline passed",
        }
        for uuid in event.get("pending", [])
    ]
    cost = round(sum(image.get("cost") or 0.0 for image in summaries), 6)
    task_uuids = list(event.get("task_uuids", []))
    return {
        "task_uuids": task_uuids,
        "images": summaries,
        "failures": failures,
        "totals": {
            "tasks": len(task_uuids),
            "images": len(summaries),
            "failed": len(failures),
            "cost": cost,
        },
    }


def allowed_failures(allow_failures: int | float, tasks: int) -> int:
    """How many failed tasks *allow_failures* tolerates out of *tasks*.

    An integer is a count; a float below 1 is a share of the tasks (``0.05`` is 5 %).
    """
    if isinstance(allow_failures, bool) or allow_failures < 0:
        raise ValueError(f"allow_failures must be a count or a share, not {allow_failures!r}")
    if isinstance(allow_failures, float) and allow_failures < 1:
        return int(allow_failures * tasks)
    return int(allow_failures)


def enforce_failure_policy(summary: Mapping[str, Any], allow_failures: int | float) -> None:
    """Raise when more tasks failed than *allow_failures* tolerates; else log what failed.

    :raises TaskFailedError: naming the failed items with their codes and messages.
    """
    failures = summary["failures"]
    if not failures:
        return
    allowed = allowed_failures(allow_failures, summary["totals"]["tasks"])
    listing = "; ".join(f"{f['item_key']}: {f['code']}: {f['message']}" for f in failures[:10])
    more = f" (+{len(failures) - 10} more)" if len(failures) > 10 else ""
    if len(failures) > allowed:
        raise TaskFailedError(
            f"{len(failures)} of {summary['totals']['tasks']} task(s) failed "
            f"(allowed: {allowed}): {listing}{more}",
            errors=[
                TaskError(code=f["code"], message=f["message"], taskUUID=f["task_uuid"])
                for f in failures
            ],
        )
    log.warning(
        "%d task(s) failed, within allow_failures=%s: %s%s",
        len(failures),
        allow_failures,
        listing,
        more,
    )


class InfoLogger(Protocol):
    """Anything with ``info(message, *args)``: a ``logging.Logger`` or Airflow's structlog."""

    def info(self, msg: Any, /, *args: Any) -> Any: ...


class ProgressLog:
    """Log "37/100 images ready, 2 failed, 1.11 USD so far" when there is news, not more often
    than every *interval* seconds (and always at the end)."""

    def __init__(self, logger: InfoLogger, interval: float = 15.0) -> None:
        self._logger = logger
        self._interval = interval
        self._last = 0.0
        self._last_line = ""

    def __call__(self, tracker: ResultsTracker, new_images: int) -> None:
        line = tracker.progress()
        now = time.monotonic()
        due = now - self._last >= self._interval and line != self._last_line
        if tracker.done or due:
            self._logger.info("%s", line)
            self._last, self._last_line = now, line
