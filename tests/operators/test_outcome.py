"""The event contract and the summary: every branch of execute_complete's checks."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from airflow_provider_wan.api import (
    AuthenticationError,
    ImageResult,
    TaskFailedError,
    TransientError,
)
from airflow_provider_wan.outcome import (
    TaskRef,
    allowed_failures,
    check_event,
    enforce_failure_policy,
    summarize,
)

A, B, C = (str(uuid.uuid4()) for _ in range(3))


def event(**changes: Any) -> dict[str, Any]:
    return {
        "status": "success",
        "task_uuids": [A, B],
        "images": [],
        "failures": {},
        "pending": [],
        **changes,
    }


def image(task_uuid: str, image_uuid: str, cost: float = 0.03) -> ImageResult:
    return ImageResult(taskUUID=task_uuid, imageUUID=image_uuid, seed=1, cost=cost)


def test_a_missing_event_is_refused() -> None:
    with pytest.raises(ValueError, match="no event"):
        check_event(None, [A, B])


def test_an_unknown_status_is_refused() -> None:
    with pytest.raises(ValueError, match="Unknown event status 'done'"):
        check_event(event(status="done"), [A, B])


def test_an_event_about_other_tasks_is_refused() -> None:
    with pytest.raises(ValueError, match="other tasks"):
        check_event(event(task_uuids=[A, C]), [A, B])
    with pytest.raises(ValueError, match="other tasks"):
        check_event(event(task_uuids=[A]), [A, B])
    with pytest.raises(ValueError, match="other tasks"):
        check_event(event(task_uuids=[A, B]), [A, B, C], count=3)


def test_an_event_of_any_generation_counts_when_the_number_matches() -> None:
    assert check_event(event(task_uuids=[A, C]), [A, B, C], count=2)["status"] == "success"


@pytest.mark.parametrize(
    ("error_type", "expected"),
    [
        ("AuthenticationError", AuthenticationError),
        ("TransientError", TransientError),
        ("Nonsense", Exception),
    ],
)
def test_an_error_event_raises_its_own_type(error_type: str, expected: type[Exception]) -> None:
    with pytest.raises(expected, match="it broke"):
        check_event(event(status="error", error_type=error_type, message="it broke"), [A, B])


def test_a_timeout_event_passes_the_check_and_lists_pending_as_failures() -> None:
    checked = check_event(event(status="timeout", pending=[B]), [A, B])
    summary = summarize(checked, {A: TaskRef("mug"), B: TaskRef("cup")}, [image(A, "i1")])
    assert [i["item_key"] for i in summary["images"]] == ["mug"]
    assert summary["failures"] == [
        {
            "item_key": "cup",
            "task_uuid": B,
            "code": "deadlineExceeded",
            "message": "still processing when the wait's deadline passed",
        }
    ]


def test_summary_numbers_images_stably_and_adds_up() -> None:
    images = [image(A, "b"), image(A, "a"), image(B, "c", cost=0.05)]
    summary = summarize(event(), {A: TaskRef("mug", 2), B: TaskRef("cup", 1)}, images)
    assert [(i["item_key"], i["index"], i["image_uuid"]) for i in summary["images"]] == [
        ("mug", 0, "a"),
        ("mug", 1, "b"),
        ("cup", 0, "c"),
    ]
    assert summary["totals"] == {"tasks": 2, "images": 3, "failed": 0, "cost": 0.11}
    reversed_summary = summarize(
        event(), {A: TaskRef("mug"), B: TaskRef("cup")}, list(reversed(images))
    )
    assert sorted(map(str, reversed_summary["images"])) == sorted(map(str, summary["images"]))


@pytest.mark.parametrize(
    ("allow", "tasks", "expected"),
    [(0, 10, 0), (2, 10, 2), (0.1, 50, 5), (0.05, 10, 0), (1.0, 10, 1), (3.0, 10, 3)],
)
def test_allowed_failures_as_count_or_share(allow: float, tasks: int, expected: int) -> None:
    assert allowed_failures(allow, tasks) == expected


@pytest.mark.parametrize("bad", [-1, True])
def test_allowed_failures_must_be_sensible(bad: Any) -> None:
    with pytest.raises(ValueError, match="allow_failures"):
        allowed_failures(bad, 10)


def summary_with_failures(count: int, tasks: int = 10) -> dict[str, Any]:
    failures = {
        str(uuid.uuid4()): {"code": "timeoutProvider", "message": "slow"} for _ in range(count)
    }
    uuids = [*failures, *(str(uuid.uuid4()) for _ in range(tasks - count))]
    return summarize(
        event(task_uuids=uuids, failures=failures),
        {u: TaskRef(f"item-{i}") for i, u in enumerate(uuids)},
        [],
    )


def test_failures_beyond_the_allowance_raise_a_typed_error_listing_them() -> None:
    with pytest.raises(
        TaskFailedError,
        match=r"2 of 10 task\(s\) failed \(allowed: 1\): item-\d: timeoutProvider: slow",
    ) as caught:
        enforce_failure_policy(summary_with_failures(2), 1)
    assert [error.code for error in caught.value.errors] == ["timeoutProvider"] * 2


def test_failures_within_the_allowance_pass() -> None:
    enforce_failure_policy(summary_with_failures(2), 2)
    enforce_failure_policy(summary_with_failures(2), 0.2)
    enforce_failure_policy(summary_with_failures(0), 0)
