"""The clients over real HTTP on 127.0.0.1, against a scripted server: every error class,
retries with and without Retry-After, 503 bursts, dropped connections, malformed bodies."""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

import pytest

from airflow_provider_wan.api import (
    APIValidationError,
    AsyncRunwareClient,
    AuthenticationError,
    InsufficientCreditError,
    InvalidRequestError,
    ProtocolError,
    RetryPolicy,
    RunwareAPIError,
    RunwareClient,
    TransientError,
)
from tests.fixtures.scripted_server import Reply, ScriptedServer

KEY = "sk-test-7f3a9c1e5b2d4a6f8e0c"
FAST = RetryPolicy(max_attempts=4, initial_delay=0.01, max_delay=0.05, jitter=0)


def task(**changes: Any) -> dict[str, Any]:
    return {
        "taskUUID": str(uuid.uuid4()),
        "positivePrompt": "a red bicycle",
        "width": 1024,
        "height": 1024,
        "deliveryMethod": "async",
        **changes,
    }


def ack(*tasks: dict[str, Any]) -> dict[str, Any]:
    return {"data": [{"taskType": "imageInference", "taskUUID": t["taskUUID"]} for t in tasks]}


def client(server: ScriptedServer, **kwargs: Any) -> RunwareClient:
    return RunwareClient(KEY, base_url=server.url, retry=kwargs.pop("retry", FAST), **kwargs)


def test_submit_sends_a_json_array_with_bearer_auth(scripted_server: ScriptedServer) -> None:
    one = task()
    scripted_server.play(Reply(body=ack(one)))
    with client(scripted_server) as c:
        result = c.submit([one])
    assert result.accepted == [one["taskUUID"]]
    sent = scripted_server.requests[0]
    assert sent.headers["Authorization"] == f"Bearer {KEY}"
    assert sent.headers["Content-Type"] == "application/json"
    assert isinstance(sent.body, list) and sent.body[0]["taskUUID"] == one["taskUUID"]
    assert sent.body[0]["model"] == "alibaba:wan@2.6-image"


def test_submit_splits_into_batches(scripted_server: ScriptedServer) -> None:
    tasks = [task() for _ in range(7)]
    scripted_server.play(Reply(body={"data": []}))
    with client(scripted_server, batch_size=3) as c:
        result = c.submit(tasks)
    assert [len(r.body) for r in scripted_server.requests] == [3, 3, 1]
    assert result.accepted == [t["taskUUID"] for t in tasks]  # an empty ack is an ack


def test_invalid_request_is_refused_before_any_request(scripted_server: ScriptedServer) -> None:
    scripted_server.play(Reply(body={"data": []}))
    with client(scripted_server) as c, pytest.raises(InvalidRequestError) as caught:
        c.submit([task(), task(width=100)])
    assert caught.value.index == 1
    assert scripted_server.requests == []


def test_tasks_without_uuid_get_one(scripted_server: ScriptedServer) -> None:
    scripted_server.play(Reply(body={"data": []}))
    bare = task()
    del bare["taskUUID"]
    with client(scripted_server) as c:
        result = c.submit([bare])
    assert uuid.UUID(result.accepted[0]).version == 4


def test_conflict_means_already_submitted_not_failure(scripted_server: ScriptedServer) -> None:
    old, new = task(), task()
    scripted_server.play(
        Reply(
            body={
                "data": ack(new)["data"],
                "errors": [
                    {
                        "code": "conflictTaskUUID",
                        "message": "Task UUID already exists",
                        "taskUUID": old["taskUUID"],
                        "taskType": "imageInference",
                    }
                ],
            }
        )
    )
    with client(scripted_server) as c:
        result = c.submit([old, new])
    assert result.already_submitted == [old["taskUUID"]]
    assert result.accepted == [new["taskUUID"]]
    assert result.rejected == {}


def test_partial_rejection_raises_with_what_was_accepted(scripted_server: ScriptedServer) -> None:
    good, bad = task(), task()
    error = {
        "code": "invalidPositivePrompt",
        "message": "Invalid prompt",
        "parameter": "positivePrompt",
        "taskUUID": bad["taskUUID"],
        "min": 1,
        "max": 2100,
    }
    scripted_server.play(Reply(status=400, body={"data": ack(good)["data"], "errors": [error]}))
    with client(scripted_server) as c, pytest.raises(APIValidationError) as caught:
        c.submit([good, bad])
    assert caught.value.code == "invalidPositivePrompt"
    assert caught.value.parameter == "positivePrompt"
    assert caught.value.task_uuid == bad["taskUUID"]
    assert caught.value.errors[0].model_extra == {"min": 1, "max": 2100}
    assert caught.value.submit_result is not None
    assert caught.value.submit_result.accepted == [good["taskUUID"]]
    with client(scripted_server) as c:
        result = c.submit([good, bad], raise_on_rejection=False)
    assert set(result.rejected) == {bad["taskUUID"]}


@pytest.mark.parametrize(
    ("status", "error_class", "code"),
    [
        (401, AuthenticationError, "invalidApiKey"),
        (403, AuthenticationError, "permissionDenied"),
        (402, InsufficientCreditError, "insufficientCredits"),
    ],
)
def test_definite_failures_raise_typed_errors_at_once(
    scripted_server: ScriptedServer, status: int, error_class: type[Exception], code: str
) -> None:
    scripted_server.play(
        Reply(status=status, body={"data": [], "errors": [{"code": code, "message": "no"}]})
    )
    with client(scripted_server) as c, pytest.raises(error_class) as caught:
        c.submit([task()])
    assert len(scripted_server.requests) == 1
    assert isinstance(caught.value, RunwareAPIError)
    assert caught.value.status_code == status
    assert caught.value.code == code


def test_429_without_retry_after_backs_off_and_succeeds(scripted_server: ScriptedServer) -> None:
    one = task()
    scripted_server.play(
        Reply(status=429, body={"errors": [{"code": "queueFull"}]}), Reply(body=ack(one))
    )
    with client(scripted_server) as c:
        assert c.submit([one]).accepted == [one["taskUUID"]]
    assert len(scripted_server.requests) == 2


def test_429_retry_after_is_honoured(scripted_server: ScriptedServer) -> None:
    one = task()
    scripted_server.play(Reply(status=429, headers={"Retry-After": "1"}), Reply(body=ack(one)))
    started = time.monotonic()
    with client(scripted_server) as c:
        c.submit([one])
    assert time.monotonic() - started >= 1.0
    assert len(scripted_server.requests) == 2


def test_a_503_burst_is_ridden_out(scripted_server: ScriptedServer) -> None:
    one = task()
    scripted_server.play(
        Reply(status=503), Reply(status=503), Reply(status=502), Reply(body=ack(one))
    )
    with client(scripted_server) as c:
        assert c.submit([one]).accepted == [one["taskUUID"]]
    assert len(scripted_server.requests) == 4
    # The same task UUID every time: a retry can never pay twice.
    assert {r.body[0]["taskUUID"] for r in scripted_server.requests} == {one["taskUUID"]}


def test_retries_are_bounded_and_end_in_transient_error(scripted_server: ScriptedServer) -> None:
    scripted_server.play(Reply(status=500, body={"errors": [{"code": "internal", "message": "x"}]}))
    with client(scripted_server) as c, pytest.raises(TransientError) as caught:
        c.submit([task()])
    assert caught.value.attempts == 4
    assert caught.value.status_code == 500
    assert len(scripted_server.requests) == 4


def test_dropped_connections_are_retried(scripted_server: ScriptedServer) -> None:
    one = task()
    scripted_server.play(Reply(drop=True), Reply(drop=True), Reply(body=ack(one)))
    with client(scripted_server) as c:
        assert c.submit([one]).accepted == [one["taskUUID"]]
    assert len(scripted_server.requests) == 3


def test_timeouts_are_retried(scripted_server: ScriptedServer) -> None:
    one = task()
    scripted_server.play(Reply(delay=1.0, body=ack(one)), Reply(body=ack(one)))
    with client(scripted_server, timeout=0.3) as c:
        assert c.submit([one]).accepted == [one["taskUUID"]]
    assert len(scripted_server.requests) == 2


def test_a_malformed_body_is_retried_then_a_protocol_error(scripted_server: ScriptedServer) -> None:
    one = task()
    scripted_server.play(Reply(raw=b'{"data": [{"taskUU'), Reply(body=ack(one)))
    with client(scripted_server) as c:
        assert c.submit([one]).accepted == [one["taskUUID"]]
    scripted_server.play(Reply(raw=b"<html>gateway</html>"))
    with client(scripted_server) as c, pytest.raises(TransientError, match="unreadable body"):
        c.submit([task()])


def test_an_unexpected_shape_is_a_protocol_error(scripted_server: ScriptedServer) -> None:
    scripted_server.play(Reply(body=["not", "an", "envelope"]))
    with client(scripted_server) as c, pytest.raises(ProtocolError, match="Expected a JSON object"):
        c.submit([task()])
    scripted_server.play(Reply(body={"data": "nope"}))
    with client(scripted_server) as c, pytest.raises(ProtocolError):
        c.submit([task()])


def test_old_error_variant_and_object_data_are_read(scripted_server: ScriptedServer) -> None:
    one = task()
    scripted_server.play(
        Reply(body={"data": {"taskType": "imageInference", "taskUUID": one["taskUUID"]}})
    )
    with client(scripted_server) as c:
        assert c.submit([one]).accepted == [one["taskUUID"]]
    scripted_server.play(
        Reply(status=401, body={"error": {"code": "invalidApiKey", "message": "bad"}})
    )
    with client(scripted_server) as c, pytest.raises(AuthenticationError) as caught:
        c.submit([task()])
    assert caught.value.code == "invalidApiKey"


def test_poll_batches_and_sorts_states(scripted_server: ScriptedServer) -> None:
    done, busy, failed = (str(uuid.uuid4()) for _ in range(3))
    image = {
        "taskType": "imageInference",
        "taskUUID": done,
        "imageUUID": str(uuid.uuid4()),
        "imageURL": "https://im.runware.ai/image/x.jpg",
        "seed": 7,
        "cost": 0.03,
        "status": "success",
    }
    scripted_server.play(
        Reply(
            body={
                "data": [image, {"taskUUID": busy, "status": "pending"}],
                "errors": [
                    {
                        "code": "timeoutProvider",
                        "message": "slow",
                        "taskUUID": failed,
                        "status": "error",
                    }
                ],
            }
        )
    )
    with client(scripted_server, poll_batch_size=2) as c:
        update = c.poll([done, busy, failed])
    assert len(scripted_server.requests) == 2
    assert scripted_server.requests[0].body == [
        {"taskType": "getResponse", "taskUUID": done},
        {"taskType": "getResponse", "taskUUID": busy},
    ]
    assert [i.image_uuid for i in update.images] == [image["imageUUID"]]
    assert update.processing == {busy}
    assert update.failed[failed].code == "timeoutProvider"


async def test_the_async_client_obeys_the_same_rules(scripted_server: ScriptedServer) -> None:
    one = task()
    scripted_server.play(Reply(status=503), Reply(drop=True), Reply(body=ack(one)))
    async with AsyncRunwareClient(KEY, base_url=scripted_server.url, retry=FAST) as c:
        result = await c.submit([one])
    assert result.accepted == [one["taskUUID"]]
    assert len(scripted_server.requests) == 3
    scripted_server.play(Reply(status=402, body={"errors": [{"code": "insufficientCredits"}]}))
    async with AsyncRunwareClient(KEY, base_url=scripted_server.url, retry=FAST) as c:
        with pytest.raises(InsufficientCreditError):
            await c.submit([task()])


def test_the_key_appears_in_no_log_repr_or_exception(
    scripted_server: ScriptedServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    messages: list[str] = []
    scripted_server.play(
        Reply(status=503),
        Reply(drop=True),
        Reply(
            status=401,
            body={"errors": [{"code": "invalidApiKey", "message": f"key {KEY} is wrong"}]},
        ),
    )
    c = client(scripted_server)
    messages.append(repr(c))
    try:
        c.submit([task()])
    except AuthenticationError as error:
        messages.extend([str(error), repr(error), repr(error.errors)])
    scripted_server.play(Reply(status=500))
    try:
        c.submit([task()])
    except TransientError as error:
        messages.append(str(error))
    c.close()
    messages.extend(record.getMessage() for record in caplog.records)
    assert len(messages) > 4
    assert [m for m in messages if KEY in m] == []


def test_a_cross_field_error_may_name_several_parameters(scripted_server: ScriptedServer) -> None:
    one = task()
    error = {
        "code": "invalidSize",
        "message": "bad size",
        "parameter": ["width", "height"],
        "taskUUID": one["taskUUID"],
    }
    scripted_server.play(Reply(status=400, body={"data": [], "errors": [error]}))
    with client(scripted_server) as c, pytest.raises(APIValidationError) as caught:
        c.submit([one])
    assert caught.value.parameter == "width, height"
    assert "(parameter width, height)" in str(caught.value)


def test_a_task_error_nested_in_a_data_item_is_read(scripted_server: ScriptedServer) -> None:
    failed = str(uuid.uuid4())
    item = {
        "taskUUID": failed,
        "status": "error",
        "error": {"code": "timeoutProvider", "message": "too slow"},
    }
    scripted_server.play(Reply(body={"data": [item]}))
    with client(scripted_server) as c:
        update = c.poll([failed])
    assert update.failed[failed].code == "timeoutProvider"
    assert update.failed[failed].message == "too slow"
