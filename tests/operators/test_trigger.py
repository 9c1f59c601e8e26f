"""The results trigger: serialization, and its loop against the emulator."""

from __future__ import annotations

import importlib
import json
import time
import uuid
from typing import Any

import pytest

from airflow_provider_wan.api import RetryPolicy, RunwareClient
from airflow_provider_wan.emulator import EmulatorServer
from airflow_provider_wan.triggers.image_results import WanImageResultsTrigger
from tests.fixtures.runware_emulator import EMULATOR_API_KEY


def submit(emulator: EmulatorServer, count: int, **fields: Any) -> dict[str, int | None]:
    tasks = [
        {
            "positivePrompt": f"still life {n}",
            "width": 1024,
            "height": 1024,
            "deliveryMethod": "async",
            "includeCost": True,
            **fields,
        }
        for n in range(count)
    ]
    retry = RetryPolicy(initial_delay=0.01, max_delay=0.05)
    with RunwareClient(EMULATOR_API_KEY, base_url=emulator.base_url, retry=retry) as client:
        result = client.submit(tasks)
    return {task_uuid: fields.get("numberResults", 1) for task_uuid in result.accepted}


def trigger(
    expected: dict[str, int | None], *, deadline_in: float = 60, **kwargs: Any
) -> WanImageResultsTrigger:
    return WanImageResultsTrigger(
        runware_conn_id="runware_default",
        expected_images=expected,
        deadline=time.time() + deadline_in,
        poll_interval=kwargs.pop("poll_interval", 0.05),
        max_poll_interval=kwargs.pop("max_poll_interval", 0.2),
        **kwargs,
    )


async def events_of(t: WanImageResultsTrigger) -> list[dict[str, Any]]:
    return [event.payload async for event in t.run()]


def test_serialize_round_trips_with_primitives_only() -> None:
    original = trigger(
        {str(uuid.uuid4()): 2, str(uuid.uuid4()): None}, failed={"x": {"code": "c", "message": "m"}}
    )
    classpath, kwargs = original.serialize()
    assert classpath == "airflow_provider_wan.triggers.image_results.WanImageResultsTrigger"
    assert json.loads(json.dumps(kwargs)) == kwargs  # JSON-native, nothing else
    module, _, name = classpath.rpartition(".")
    rebuilt = getattr(importlib.import_module(module), name)(**kwargs)
    assert rebuilt.serialize() == (classpath, kwargs)
    assert set(kwargs) == {
        "runware_conn_id",
        "expected_images",
        "deadline",
        "poll_interval",
        "max_poll_interval",
        "poll_multiplier",
        "max_consecutive_failures",
        "failed",
    }


async def test_fires_one_success_event_when_every_task_is_done(
    runware_connection: str, emulator: EmulatorServer
) -> None:
    expected = submit(emulator, 4, numberResults=2)
    [event] = await events_of(trigger(expected))
    assert event["status"] == "success"
    assert sorted(event["task_uuids"]) == sorted(expected)
    assert event["images_ready"] == 8 and event["failures"] == {} and event["pending"] == []
    assert event["cost"] == pytest.approx(0.24)
    assert len(json.dumps(event)) < 600  # small: no image list, no URL
    assert json.loads(json.dumps(event)) == event


async def test_waits_for_every_image_of_a_multi_image_task(
    runware_connection: str, emulator: EmulatorServer
) -> None:
    emulator.configure(generation_time=0.15, max_concurrent=1)
    expected = submit(emulator, 1, numberResults=4)
    [event] = await events_of(trigger(expected, poll_interval=0.02, max_poll_interval=0.05))
    assert event["status"] == "success"
    assert event["images_ready"] == 4


async def test_task_errors_are_reported_per_task(
    runware_connection: str, emulator: EmulatorServer
) -> None:
    emulator.configure(faults={"task_error": 1.0, "task_error_code": "timeoutProvider"})
    expected = submit(emulator, 3)
    [event] = await events_of(trigger(expected))
    assert event["status"] == "success"
    assert {error["code"] for error in event["failures"].values()} == {"timeoutProvider"}
    assert sorted(event["failures"]) == sorted(expected)


async def test_transient_faults_are_tolerated(
    runware_connection: str, emulator: EmulatorServer
) -> None:
    expected = submit(emulator, 5)
    emulator.configure(
        faults={"http_503": 0.3, "drop_connection": 0.2, "malformed_body": 0.1, "retry_after": None}
    )
    [event] = await events_of(trigger(expected))
    assert event["status"] == "success" and event["images_ready"] == 5
    assert sum(emulator.stats()["faults_injected"].values()) > 0


async def test_the_deadline_ends_the_wait_naming_what_still_runs(
    runware_connection: str, emulator: EmulatorServer
) -> None:
    emulator.configure(generation_time=30)
    expected = submit(emulator, 2)
    started = time.monotonic()
    [event] = await events_of(trigger(expected, deadline_in=0.5))
    assert time.monotonic() - started < 5
    assert event["status"] == "timeout"
    assert sorted(event["pending"]) == sorted(expected)


async def test_a_deadline_already_past_fires_at_once(
    runware_connection: str, emulator: EmulatorServer
) -> None:
    expected = {str(uuid.uuid4()): 1}
    [event] = await events_of(trigger(expected, deadline_in=-10))
    assert event["status"] == "timeout" and event["pending"] == list(expected)


async def test_a_wrong_key_fires_an_error_event(
    emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_RUNWARE_DEFAULT",
        json.dumps(
            {"conn_type": "runware", "host": emulator.base_url, "password": "wrong-key-0000"}
        ),
    )
    [event] = await events_of(trigger({str(uuid.uuid4()): 1}))
    assert event["status"] == "error"
    assert event["error_type"] == "AuthenticationError"
    assert "wrong-key-0000" not in json.dumps(event)


async def test_failures_known_at_submission_travel_in_the_event(
    runware_connection: str, emulator: EmulatorServer
) -> None:
    expected = submit(emulator, 1)
    refused = str(uuid.uuid4())
    [event] = await events_of(
        trigger(expected, failed={refused: {"code": "invalidWidth", "message": "no"}})
    )
    assert sorted(event["task_uuids"]) == sorted([*expected, refused])
    assert event["failures"] == {refused: {"code": "invalidWidth", "message": "no"}}
    assert event["images_ready"] == 1


async def test_on_kill_says_what_it_abandons(capsys: pytest.CaptureFixture[str]) -> None:
    t = trigger({str(uuid.uuid4()): 1, str(uuid.uuid4()): 1})
    await t.on_kill()
    assert "killed while waiting for 2 Runware task(s)" in capsys.readouterr().out
