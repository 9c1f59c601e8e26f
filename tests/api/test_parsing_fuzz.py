"""Whatever the API answers, the client raises its own typed errors and nothing else."""

from __future__ import annotations

import contextlib
import json
import random
import uuid
from typing import Any

import httpx
from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_provider_wan.api import ImageInference, RunwareError
from airflow_provider_wan.api.protocol import (
    Envelope,
    Send,
    exchange,
    read_poll,
    read_submission,
)
from airflow_provider_wan.api.retry import NO_RETRY

UUIDS = [str(uuid.uuid4()) for _ in range(3)]
TASKS = [ImageInference(task_uuid=u, positive_prompt="p", width=1024, height=1024) for u in UUIDS]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.text(max_size=20),
    st.sampled_from([*UUIDS, "success", "processing", "pending", "error", "conflictTaskUUID"]),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(
            st.sampled_from(
                [
                    "data",
                    "errors",
                    "error",
                    "taskUUID",
                    "imageUUID",
                    "status",
                    "code",
                    "message",
                    "imageURL",
                    "seed",
                    "cost",
                    "NSFWContent",
                    "taskType",
                    "parameter",
                ]
            ),
            inner,
            max_size=6,
        ),
    ),
    max_leaves=25,
)
statuses = st.sampled_from([200, 200, 400, 401, 402, 403, 404, 408, 429, 500, 503, 302, 418])


def answer(status: int, body: bytes) -> Envelope | RunwareError:
    plan = exchange([{}], description="fuzz", policy=NO_RETRY, rng=random.Random(0))
    action = next(plan)
    assert isinstance(action, Send)
    try:
        plan.send(httpx.Response(status, content=body))
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]
    except RunwareError as error:
        return error
    raise AssertionError("an exchange must end after a definite answer")


def read_all(envelope: Envelope) -> None:
    with contextlib.suppress(RunwareError):
        read_submission(TASKS, envelope)
    with contextlib.suppress(RunwareError):
        read_poll(UUIDS, envelope)


items = st.fixed_dictionaries(
    {"taskUUID": st.sampled_from(UUIDS)},
    optional={
        "status": st.sampled_from(["success", "processing", "pending", "error", "", "weird"]),
        "imageUUID": scalars,
        "imageURL": scalars,
        "seed": scalars,
        "cost": scalars,
        "code": scalars,
        "message": scalars,
        "NSFWContent": scalars,
    },
)


@settings(max_examples=400, deadline=None)
@given(st.lists(items, max_size=5), st.lists(items, max_size=3))
def test_items_about_our_tasks_with_any_field_types(data: list[Any], errors: list[Any]) -> None:
    outcome = answer(200, json.dumps({"data": data, "errors": errors}).encode())
    if isinstance(outcome, Envelope):
        read_all(outcome)


@settings(max_examples=400, deadline=None)
@given(statuses, json_values)
def test_any_json_answer_yields_an_envelope_or_a_typed_error(status: int, payload: Any) -> None:
    outcome = answer(status, json.dumps(payload).encode())
    if isinstance(outcome, Envelope):
        read_all(outcome)


@settings(max_examples=200, deadline=None)
@given(statuses, st.binary(max_size=200))
def test_any_bytes_yield_a_typed_error_or_an_envelope(status: int, body: bytes) -> None:
    outcome = answer(status, body)
    if isinstance(outcome, Envelope):
        read_all(outcome)


@settings(max_examples=200, deadline=None)
@given(json_values, st.integers(min_value=0, max_value=60))
def test_truncated_answers_yield_typed_errors(payload: Any, cut: int) -> None:
    body = json.dumps({"data": [payload]}).encode()
    outcome = answer(200, body[: max(1, len(body) - cut)])
    if isinstance(outcome, Envelope):
        read_all(outcome)
