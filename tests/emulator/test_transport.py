"""Transport rules: bearer authentication, the JSON array body, the error envelope."""

from __future__ import annotations

import httpx
import pytest

from airflow_provider_wan.emulator import EmulatorServer
from airflow_provider_wan.emulator.testing import image_inference_task, new_task_uuid

from .conftest import Api

ERROR_KEYS = {"code", "message", "parameter", "taskType", "taskUUID", "documentation"}


def _post_raw(server: EmulatorServer, headers: dict[str, str], **kwargs: object) -> httpx.Response:
    return httpx.post(server.base_url, headers=headers, timeout=10, trust_env=False, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong-key"},
        {"Authorization": "Basic dGVzdC1rZXk6"},
        {"Authorization": "Bearer"},
        {"Authorization": "test-key"},
    ],
    ids=["missing", "wrong-key", "basic-scheme", "empty-key", "no-scheme"],
)
def test_missing_or_wrong_key_is_401_with_invalid_api_key(
    emulator: EmulatorServer, headers: dict[str, str]
) -> None:
    response = _post_raw(emulator, headers, json=[image_inference_task()])
    assert response.status_code == 401
    body = response.json()
    assert body["data"] == []
    [error] = body["errors"]
    assert error["code"] == "invalidApiKey"
    assert set(error) >= ERROR_KEYS
    assert emulator.stats()["tasks_accepted"] == 0


def test_rejected_auth_accepts_nothing(emulator: EmulatorServer, api: Api) -> None:
    task = image_inference_task(deliveryMethod="async")
    _post_raw(emulator, {"Authorization": "Bearer nope"}, json=[task])
    # The UUID is still free: the same task is accepted with the right key.
    response = api.post([task])
    assert response.status_code == 200
    assert response.json()["data"] == [{"taskType": "imageInference", "taskUUID": task["taskUUID"]}]


def test_empty_key_list_accepts_any_non_empty_key(emulator: EmulatorServer) -> None:
    emulator.configure(api_keys=[])
    ok = _post_raw(emulator, {"Authorization": "Bearer anything"}, json=[image_inference_task()])
    assert ok.status_code == 200
    missing = _post_raw(emulator, {}, json=[image_inference_task()])
    assert missing.status_code == 401


def test_several_keys_are_accepted(emulator: EmulatorServer) -> None:
    emulator.configure(api_keys=["key-a", "key-b"])
    for key in ("key-a", "key-b"):
        response = _post_raw(
            emulator, {"Authorization": f"Bearer {key}"}, json=[image_inference_task()]
        )
        assert response.status_code == 200
    assert _post_raw(emulator, {"Authorization": "Bearer test-key"}, json=[]).status_code == 401


@pytest.mark.parametrize(
    "content",
    [b"not json", b'{"taskType": "imageInference"}', b"[]", b'"text"', b"[1, 2"],
    ids=["garbage", "object-not-array", "empty-array", "string", "truncated"],
)
def test_body_must_be_a_non_empty_json_array(api: Api, content: bytes) -> None:
    response = api.http.post("/v1", content=content, headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    body = response.json()
    assert body["data"] == []
    [error] = body["errors"]
    assert error["code"] == "invalidRequestBody"
    assert set(error) >= ERROR_KEYS


def test_trailing_slash_endpoint_works(api: Api) -> None:
    response = api.http.post("/v1/", json=[image_inference_task()])
    assert response.status_code == 200


def test_task_that_is_not_an_object_is_a_per_task_error(api: Api) -> None:
    good = image_inference_task()
    response = api.post([good, 42])
    assert response.status_code == 200
    body = response.json()
    assert [item["taskUUID"] for item in body["data"]] == [good["taskUUID"]]
    [error] = body["errors"]
    assert error["code"] == "invalidTask"


@pytest.mark.parametrize(
    ("change", "code", "parameter"),
    [
        ({"taskType": ...}, "missingTaskType", "taskType"),
        ({"taskType": "videoInference"}, "unsupportedTaskType", "taskType"),
        ({"taskType": 7}, "unsupportedTaskType", "taskType"),
        ({"taskUUID": ...}, "missingTaskUUID", "taskUUID"),
        ({"taskUUID": "not-a-uuid"}, "invalidTaskUUID", "taskUUID"),
        # A UUID, but version 1: the task UUID must be v4.
        ({"taskUUID": "c232ab00-9414-11ec-b3c8-9e6bdeced846"}, "invalidTaskUUID", "taskUUID"),
        ({"taskUUID": 12345}, "invalidTaskUUID", "taskUUID"),
    ],
)
def test_task_header_errors(api: Api, change: dict[str, object], code: str, parameter: str) -> None:
    response = api.post([image_inference_task(**change)])
    assert response.status_code == 400
    [error] = response.json()["errors"]
    assert (error["code"], error["parameter"]) == (code, parameter)


def test_per_task_errors_do_not_sink_other_tasks(api: Api, emulator: EmulatorServer) -> None:
    good_a = image_inference_task()
    bad = image_inference_task(width=100)
    good_b = image_inference_task(deliveryMethod="async")
    response = api.post([good_a, bad, good_b])
    assert response.status_code == 200
    body = response.json()
    data_uuids = {item["taskUUID"] for item in body["data"]}
    assert data_uuids == {good_a["taskUUID"], good_b["taskUUID"]}
    [error] = body["errors"]
    assert error["taskUUID"] == bad["taskUUID"]
    assert error["taskType"] == "imageInference"
    assert set(error) >= ERROR_KEYS
    assert emulator.stats()["tasks_accepted"] == 2


def test_all_tasks_invalid_is_400(api: Api) -> None:
    response = api.post([image_inference_task(width=1), image_inference_task(model="x")])
    assert response.status_code == 400
    body = response.json()
    assert body["data"] == []
    assert len(body["errors"]) == 2


def test_results_are_matched_by_task_uuid_not_position(api: Api) -> None:
    tasks = [image_inference_task(positivePrompt=f"prompt {i}") for i in range(5)]
    body = api.post(tasks).json()
    assert {item["taskUUID"] for item in body["data"]} == {t["taskUUID"] for t in tasks}
    assert len(body["data"]) == 5


def test_uppercase_task_uuid_is_accepted_and_echoed(api: Api) -> None:
    upper = new_task_uuid().upper()
    body = api.post([image_inference_task(taskUUID=upper)]).json()
    assert body["data"][0]["taskUUID"] == upper
