"""Runware's own Python SDK works against the emulator, unchanged apart from its base URL.

``runware-sdk`` (the ``bench`` extra) with its REST transport and ``http_base_url`` pointed
at the emulator: a client written from Runware's documentation, Runware's SDK included, needs
nothing else. Each test goes through the SDK's public API only (``Runware.run``,
``image_upload``) and checks what came back against what was asked: image count, UUIDs,
pixel size and format of the actual image bytes, costs, and the SDK's error categories.
"""

from __future__ import annotations

import asyncio
import base64
import io
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from PIL import Image

from airflow_provider_wan.emulator import EmulatorServer
from tests.emulator.conftest import API_KEY

runware = pytest.importorskip("runware", reason="runware-sdk is in the bench extra")
RunwareError = pytest.importorskip("runware.errors").RunwareError

MODEL = "alibaba:wan@2.6-image"


def task(**fields: Any) -> dict[str, Any]:
    """A Wan2.6 Image task as Runware's documentation writes it."""
    return {
        "taskType": "imageInference",
        "model": MODEL,
        "positivePrompt": "a ceramic mug on a walnut table, soft window light",
        "width": 1024,
        "height": 1024,
        **fields,
    }


@pytest.fixture
async def sdk(emulator: EmulatorServer) -> AsyncIterator[Any]:
    async with runware.Runware(
        api_key=API_KEY, transport="rest", http_base_url=emulator.base_url
    ) as client:
        yield client


def image_of(result: dict[str, Any]) -> Image.Image:
    """The image a result carries, whichever output type was asked for."""
    if "imageURL" in result:
        response = httpx.get(result["imageURL"], timeout=10, trust_env=False)
        response.raise_for_status()
        data = response.content
    elif "imageDataURI" in result:
        header, _, encoded = result["imageDataURI"].partition(",")
        assert header.startswith("data:image/") and header.endswith(";base64")
        data = base64.b64decode(encoded)
    else:
        data = base64.b64decode(result["imageBase64Data"])
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


async def test_sync_delivery_returns_every_image_at_the_requested_size(
    sdk: Any, emulator: EmulatorServer
) -> None:
    results = await sdk.run(
        task(
            width=1536,
            height=1024,
            numberResults=2,
            outputFormat="WEBP",
            includeCost=True,
            deliveryMethod="sync",
        )
    )

    assert len(results) == 2
    assert len({r["taskUUID"] for r in results}) == 1
    assert len({r["imageUUID"] for r in results}) == 2
    for result in results:
        image = image_of(result)
        assert image.size == (1536, 1024)
        assert image.format == "WEBP"
        assert result["cost"] == pytest.approx(0.03)
        assert isinstance(result["seed"], int)
    stats = emulator.stats()
    assert stats["requests_by_task_type"] == {"imageInference": 1}  # no polling
    assert stats["images_generated"] == 2


async def test_async_delivery_polls_until_every_image_is_there(
    sdk: Any, emulator: EmulatorServer
) -> None:
    # Slow enough that the SDK's first poll sees a partial task.
    emulator.configure(generation_time=0.6)
    results = await sdk.run(task(width=2700, height=768, numberResults=3, outputFormat="PNG"))

    assert len({r["imageUUID"] for r in results}) == 3
    assert {r["status"] for r in results} == {"success"}
    for result in results:
        image = image_of(result)
        assert (image.size, image.format) == ((2700, 768), "PNG")
    stats = emulator.stats()
    assert stats["requests_by_task_type"]["imageInference"] == 1
    assert stats["requests_by_task_type"]["getResponse"] >= 2
    assert stats["duplicate_submissions"] == 0


@pytest.mark.parametrize("delivery", ["sync", "async"])
@pytest.mark.parametrize("output_type", ["dataURI", "base64Data"])
async def test_inline_outputs_decode_to_the_requested_image(
    sdk: Any, delivery: str, output_type: str
) -> None:
    results = await sdk.run(
        task(
            width=768,
            height=1024,
            outputType=output_type,
            outputFormat="JPG",
            deliveryMethod=delivery,
        )
    )

    [result] = results
    image = image_of(result)
    assert (image.size, image.format) == ((768, 1024), "JPEG")


async def test_many_concurrent_runs_share_one_client(sdk: Any, emulator: EmulatorServer) -> None:
    results = await asyncio.gather(*(sdk.run(task(positivePrompt=f"mug {i}")) for i in range(20)))

    assert sorted(len(r) for r in results) == [1] * 20
    assert len({r[0]["imageUUID"] for r in results}) == 20
    assert emulator.stats()["tasks_succeeded"] == 20


async def test_an_uploaded_image_serves_as_reference(sdk: Any) -> None:
    [generated] = await sdk.run(task(outputType="dataURI", outputFormat="PNG"))
    [uploaded] = await sdk.image_upload({"image": generated["imageDataURI"]})

    [result] = await sdk.run(task(inputs={"referenceImages": [uploaded["imageUUID"]]}))

    assert image_of(result).size == (1024, 1024)


async def test_the_size_rule_is_a_validation_error_naming_width(sdk: Any) -> None:
    with pytest.raises(RunwareError) as caught:
        await sdk.run(task(width=3000, height=800))

    error = caught.value
    assert (error.code, error.parameter, error.status_code) == ("validation", "width", 400)
    assert "2,073,600" in error.message
    assert error.retryable is False


async def test_a_reused_task_uuid_is_refused_as_a_conflict(sdk: Any) -> None:
    task_uuid = str(uuid.uuid4())
    await sdk.run(task(taskUUID=task_uuid, deliveryMethod="sync"))

    with pytest.raises(RunwareError) as caught:
        await sdk.run(task(taskUUID=task_uuid, deliveryMethod="sync"))

    assert caught.value.code == "validation"  # the SDK files conflict* codes there
    assert caught.value.task_uuid == task_uuid
    assert caught.value.status_code == 400


async def test_a_wrong_key_is_an_authentication_error(emulator: EmulatorServer) -> None:
    async with runware.Runware(
        api_key="not-the-key", transport="rest", http_base_url=emulator.base_url
    ) as client:
        with pytest.raises(RunwareError) as caught:
            await client.run(task())

    assert (caught.value.code, caught.value.status_code) == ("auth", 401)


async def test_a_task_that_fails_while_running_raises_with_its_uuid(
    sdk: Any, emulator: EmulatorServer
) -> None:
    emulator.configure(faults={"task_error": 1.0, "task_error_code": "timeoutProvider"})
    task_uuid = str(uuid.uuid4())

    with pytest.raises(RunwareError) as caught:
        await sdk.run(task(taskUUID=task_uuid))

    assert caught.value.task_uuid == task_uuid
    assert caught.value.message
    assert emulator.stats()["tasks_failed"] == 1
