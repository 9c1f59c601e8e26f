"""The clients against the Runware emulator: the whole protocol over real HTTP."""

from __future__ import annotations

import base64
import io
import uuid
from typing import Any

import httpx
import pytest
from PIL import Image

from airflow_provider_wan.api import (
    AsyncRunwareClient,
    AuthenticationError,
    ImageInference,
    RetryPolicy,
    RunwareClient,
    TaskFailedError,
)
from airflow_provider_wan.emulator import EmulatorServer
from tests.fixtures.runware_emulator import EMULATOR_API_KEY

FAST = RetryPolicy(max_attempts=8, initial_delay=0.01, max_delay=0.1, jitter=0.5)


def task(**changes: Any) -> dict[str, Any]:
    return {"positivePrompt": "a teapot on a desk", "width": 1024, "height": 1024, **changes}


@pytest.fixture
def client(emulator: EmulatorServer) -> Any:
    with RunwareClient(EMULATOR_API_KEY, base_url=emulator.base_url, retry=FAST, seed=1) as c:
        yield c


def test_generate_returns_every_image_of_a_multi_image_task(
    client: RunwareClient, emulator: EmulatorServer
) -> None:
    images = client.generate([task(numberResults=3, includeCost=True)], timeout=30)
    assert len(images) == 3
    assert len({image.image_uuid for image in images}) == 3
    assert len({image.seed for image in images}) == 3
    assert all(image.cost == pytest.approx(0.03) for image in images)
    picture = Image.open(io.BytesIO(httpx.get(images[0].image_url or "").content))
    assert picture.size == (1024, 1024) and picture.format == "JPEG"
    assert emulator.stats()["tasks_accepted"] == 1


@pytest.mark.parametrize("output_type", ["dataURI", "base64Data"])
def test_inline_output_types(client: RunwareClient, output_type: str) -> None:
    [image] = client.generate([task(outputType=output_type, outputFormat="PNG", width=1536)])
    data = image.image_data_uri or image.image_base64_data or ""
    raw = base64.b64decode(data.split(",", 1)[-1])
    picture = Image.open(io.BytesIO(raw))
    assert picture.size == (1536, 1024) and picture.format == "PNG"
    assert data[-40:] not in repr(image)  # inline image data stays out of reprs and logs


def test_resubmitting_the_same_uuids_is_not_paid_twice(
    client: RunwareClient, emulator: EmulatorServer
) -> None:
    tasks = [
        ImageInference.model_validate(task(taskUUID=str(uuid.uuid4()), deliveryMethod="async"))
        for _ in range(5)
    ]
    first = client.submit(tasks)
    second = client.submit(tasks)
    assert sorted(first.accepted) == sorted(t.task_uuid for t in tasks)
    assert second.accepted == [] and sorted(second.already_submitted) == sorted(first.accepted)
    stats = emulator.stats()
    assert stats["tasks_accepted"] == 5 and stats["duplicate_submissions"] == 5


def test_a_task_error_is_reported_per_task(client: RunwareClient, emulator: EmulatorServer) -> None:
    emulator.configure(faults={"task_error": 1.0, "task_error_code": "timeoutProvider"})
    with pytest.raises(TaskFailedError) as caught:
        client.generate([task()], timeout=30)
    assert caught.value.code == "timeoutProvider"


def test_a_wrong_key_is_an_authentication_error(emulator: EmulatorServer) -> None:
    bad = RunwareClient("wrong-key-123456", base_url=emulator.base_url)
    with bad, pytest.raises(AuthenticationError) as caught:
        bad.check_connection()
    assert caught.value.status_code == 401


def test_check_connection_costs_nothing(client: RunwareClient, emulator: EmulatorServer) -> None:
    client.check_connection()
    assert emulator.stats()["tasks_accepted"] == 0


def test_upload_image_and_task_details(client: RunwareClient) -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), "red").save(buffer, format="PNG")
    reference = client.upload_image(
        "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
    )
    uuid.UUID(reference)
    [image] = client.generate([task(inputs={"referenceImages": [reference]})])
    details = client.get_task_details(image.task_uuid)
    assert details["taskUUID"] == image.task_uuid


def test_faults_are_ridden_out_and_nothing_is_generated_twice(
    client: RunwareClient, emulator: EmulatorServer
) -> None:
    emulator.configure(
        faults={
            "http_503": 0.15,
            "http_429": 0.1,
            "retry_after": None,
            "drop_connection": 0.1,
            "malformed_body": 0.05,
        }
    )
    images = client.generate([task(numberResults=2) for _ in range(30)], timeout=60)
    assert len(images) == 60
    stats = emulator.stats()
    assert stats["tasks_accepted"] == 30
    assert sum(stats["faults_injected"].values()) > 0


async def test_the_async_client_waits_without_blocking(emulator: EmulatorServer) -> None:
    async with AsyncRunwareClient(EMULATOR_API_KEY, base_url=emulator.base_url, retry=FAST) as c:
        images = await c.generate([task(), task(numberResults=2)], timeout=30)
    assert len(images) == 3
