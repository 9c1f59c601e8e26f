"""Injected faults: each kind, whether tasks were accepted, and reproducibility from the seed."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from airflow_provider_wan.emulator import EmulatorServer, FaultConfig
from airflow_provider_wan.emulator.testing import image_inference_task

from .conftest import Api


def _accepted(api: Api, emulator: EmulatorServer, task_uuid: str) -> bool:
    """Whether the emulator knows the task (faults switched off first)."""
    emulator.configure(faults={})
    body = api.poll(task_uuid)
    return not any(e["code"] == "taskNotFound" for e in body.get("errors", []))


@pytest.mark.parametrize(
    ("kind", "status", "code"),
    [
        ("http_500", 500, "internalServerError"),
        ("http_503", 503, "serviceUnavailable"),
        ("http_429", 429, "queueCapacityExceeded"),
    ],
)
def test_status_faults_answer_with_the_error_envelope_and_accept_nothing(
    api: Api, emulator: EmulatorServer, kind: str, status: int, code: str
) -> None:
    emulator.configure(faults={kind: 1.0, "retry_after": 2})
    task = image_inference_task(deliveryMethod="async")
    response = api.post([task])
    assert response.status_code == status
    assert response.json()["data"] == []
    assert response.json()["errors"][0]["code"] == code
    if status in (429, 503):
        assert response.headers["Retry-After"] == "2"
    assert emulator.stats()["faults_injected"] == {kind: 1}
    assert not _accepted(api, emulator, task["taskUUID"])
    assert emulator.stats()["tasks_accepted"] == 0


def test_429_without_retry_after_when_configured(api: Api, emulator: EmulatorServer) -> None:
    emulator.configure(faults={"http_429": 1.0, "retry_after": None})
    response = api.post([image_inference_task()])
    assert response.status_code == 429
    assert "retry-after" not in response.headers


def test_drop_before_processing_loses_the_request(api: Api, emulator: EmulatorServer) -> None:
    emulator.configure(faults={"drop_connection": 1.0, "drop_after_fraction": 0.0})
    task = image_inference_task(deliveryMethod="async")
    with pytest.raises(httpx.RemoteProtocolError):
        api.post([task])
    assert emulator.stats()["faults_injected"] == {"drop_before": 1}
    assert not _accepted(api, emulator, task["taskUUID"])
    # A resubmission is a first submission.
    assert api.post([task]).status_code == 200
    assert emulator.stats()["duplicate_submissions"] == 0


def test_drop_after_processing_accepts_the_tasks_and_loses_the_answer(
    api: Api, emulator: EmulatorServer
) -> None:
    emulator.configure(faults={"drop_connection": 1.0, "drop_after_fraction": 1.0})
    task = image_inference_task(deliveryMethod="async")
    with pytest.raises(httpx.RemoteProtocolError):
        api.post([task])
    assert emulator.stats()["faults_injected"] == {"drop_after": 1}
    assert _accepted(api, emulator, task["taskUUID"])
    # The client's retry finds the task already submitted.
    retry = api.post([task])
    assert retry.json()["errors"][0]["code"] == "conflictTaskUUID"
    stats = emulator.stats()
    assert (stats["tasks_accepted"], stats["duplicate_submissions"]) == (1, 1)


def test_drop_split_is_reproducible_from_the_seed(api: Api, emulator: EmulatorServer) -> None:
    def run() -> list[bool]:
        emulator.reset()
        emulator.configure(faults={"drop_connection": 1.0, "drop_after_fraction": 0.5})
        tasks = [image_inference_task(deliveryMethod="async") for _ in range(16)]
        for task in tasks:
            with pytest.raises(httpx.RemoteProtocolError):
                api.post([task])
        emulator.configure(faults={})
        return [
            not any(e["code"] == "taskNotFound" for e in api.poll(t["taskUUID"]).get("errors", []))
            for t in tasks
        ]

    first, second = run(), run()
    assert first == second
    assert any(first) and not all(first)


def test_slow_response_outlasts_the_client_timeout_but_accepts(
    api: Api, emulator: EmulatorServer
) -> None:
    emulator.configure(faults={"slow_response": 1.0, "slow_seconds": 1.0})
    task = image_inference_task(deliveryMethod="async")
    with pytest.raises(httpx.ReadTimeout):
        api.post([task], timeout=0.3)
    assert emulator.stats()["faults_injected"] == {"slow_response": 1}
    assert _accepted(api, emulator, task["taskUUID"])


def test_slow_response_eventually_answers(api: Api, emulator: EmulatorServer) -> None:
    emulator.configure(faults={"slow_response": 1.0, "slow_seconds": 0.3})
    task = image_inference_task(deliveryMethod="async")
    response = api.post([task], timeout=5)
    assert response.status_code == 200
    assert response.json()["data"][0]["taskUUID"] == task["taskUUID"]


def test_malformed_body_is_200_with_invalid_json_and_accepts(
    api: Api, emulator: EmulatorServer
) -> None:
    emulator.configure(faults={"malformed_body": 1.0})
    tasks = [image_inference_task(deliveryMethod="async") for _ in range(6)]
    for task in tasks:
        response = api.post([task])
        assert response.status_code == 200
        with pytest.raises(json.JSONDecodeError):
            json.loads(response.content)
    assert emulator.stats()["faults_injected"] == {"malformed_body": 6}
    for task in tasks:
        assert _accepted(api, emulator, task["taskUUID"])


def test_task_error_fails_async_tasks_with_the_configured_code(
    api: Api, emulator: EmulatorServer
) -> None:
    emulator.configure(faults={"task_error": 1.0})
    task = image_inference_task(deliveryMethod="async", numberResults=2)
    assert api.post([task]).status_code == 200  # accepted
    body = api.wait_done(task["taskUUID"])
    assert body["data"] == []
    [error] = body["errors"]
    assert error["code"] == "timeoutProvider"
    assert error["status"] == "error"
    assert error["taskUUID"] == task["taskUUID"]
    stats = emulator.stats()
    assert stats["faults_injected"] == {"task_error": 1}
    assert stats["tasks_failed"] == 1


def test_task_error_in_sync_delivery(api: Api, emulator: EmulatorServer) -> None:
    emulator.configure(faults={"task_error": 1.0, "task_error_code": "providerError"})
    good_uuid_task = image_inference_task()
    response = api.post([good_uuid_task])
    assert response.status_code == 200
    assert response.json()["errors"][0]["code"] == "providerError"


def test_faults_also_hit_polls(api: Api, emulator: EmulatorServer) -> None:
    task = image_inference_task()
    api.post([task])
    emulator.configure(faults={"http_503": 1.0})
    response = api.post([{"taskType": "getResponse", "taskUUID": task["taskUUID"]}])
    assert response.status_code == 503


def test_authentication_comes_before_faults(emulator: EmulatorServer) -> None:
    emulator.configure(faults={"http_500": 1.0})
    response = httpx.post(emulator.base_url, json=[], trust_env=False)
    assert response.status_code == 401
    assert emulator.stats()["faults_injected"] == {}


def _outcomes(api: Api, emulator: EmulatorServer, faults: dict[str, Any], n: int) -> list[Any]:
    emulator.configure(faults=faults)
    outcomes: list[Any] = []
    for _ in range(n):
        response = api.post([image_inference_task(deliveryMethod="async")])
        try:
            response.json()
            outcomes.append(response.status_code)
        except ValueError:
            outcomes.append("malformed")
    return outcomes


def test_fault_sequence_is_reproducible_from_the_seed(api: Api, emulator: EmulatorServer) -> None:
    mix = {"http_500": 0.2, "http_503": 0.2, "http_429": 0.1, "malformed_body": 0.2}
    first = _outcomes(api, emulator, mix, 40)
    emulator.reset()
    second = _outcomes(api, emulator, mix, 40)
    assert first == second
    assert {500, 503, 429, 200, "malformed"} <= set(first)
    emulator.reset()
    emulator.configure(seed=4321)
    third = _outcomes(api, emulator, mix, 40)
    assert third != first
    # Rates are honoured roughly: 70 % faults over many requests.
    emulator.reset()
    many = _outcomes(api, emulator, mix, 300)
    assert 0.55 < sum(o != 200 for o in many) / 300 < 0.85


def test_rates_summing_over_one_are_refused(emulator: EmulatorServer) -> None:
    with pytest.raises(ValueError, match="sum to at most 1"):
        emulator.configure(faults={"http_500": 0.6, "http_503": 0.6})
    with pytest.raises(ValueError):
        FaultConfig(task_error=1.5)
