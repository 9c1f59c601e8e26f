"""Fixtures of the emulator's conformance suite: one server per session, reset per test."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from airflow_provider_wan.emulator import EmulatorConfig, EmulatorServer
from airflow_provider_wan.emulator.testing import LocalSink

API_KEY = "test-key"
BASE_CONFIG = EmulatorConfig(
    api_keys=(API_KEY,),
    generation_time=0.02,
    max_concurrent=64,
    queue_size=10_000,
    seed=1234,
    webhook_backoff=0.02,
)


@pytest.fixture(scope="session")
def session_emulator() -> Iterator[EmulatorServer]:
    with EmulatorServer(BASE_CONFIG) as server:
        yield server


@pytest.fixture
def emulator(session_emulator: EmulatorServer) -> EmulatorServer:
    """The shared emulator, with fresh state and the base configuration."""
    session_emulator.reset(restore_config=True)
    return session_emulator


@pytest.fixture
def client(emulator: EmulatorServer) -> Iterator[httpx.Client]:
    """An authenticated client for the emulator's task endpoint."""
    with httpx.Client(
        base_url=emulator.root_url,
        headers={"Authorization": f"Bearer {API_KEY}"},
        timeout=10,
        trust_env=False,
    ) as http:
        yield http


class Api:
    """Small helper: POST task arrays and poll, over real HTTP."""

    def __init__(self, http: httpx.Client, server: EmulatorServer) -> None:
        self.http = http
        self.server = server

    def post(self, tasks: Any, **kwargs: Any) -> httpx.Response:
        return self.http.post("/v1", json=tasks, **kwargs)

    def poll(self, *task_uuids: str) -> dict[str, Any]:
        response = self.post([{"taskType": "getResponse", "taskUUID": u} for u in task_uuids])
        body: dict[str, Any] = response.json()
        return body

    def wait_done(self, task_uuid: str, timeout: float = 10.0) -> dict[str, Any]:
        """Poll until the task has no ``processing`` item; returns the last body."""
        deadline = time.monotonic() + timeout
        while True:
            body = self.poll(task_uuid)
            items = body.get("data", [])
            if not any(item.get("status") == "processing" for item in items):
                return body
            if time.monotonic() > deadline:
                raise AssertionError(f"task {task_uuid} still processing after {timeout}s")
            time.sleep(0.01)


@pytest.fixture
def api(client: httpx.Client, emulator: EmulatorServer) -> Api:
    return Api(client, emulator)


@pytest.fixture
def sink_factory() -> Iterator[Callable[..., LocalSink]]:
    """Start LocalSink servers on 127.0.0.1; stopped after the test."""
    sinks: list[LocalSink] = []

    def make(*args: Any, **kwargs: Any) -> LocalSink:
        sink = LocalSink(*args, **kwargs).start()
        sinks.append(sink)
        return sink

    yield make
    for sink in sinks:
        sink.stop()
