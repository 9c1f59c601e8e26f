"""Result images: every output type and format, exact sizes, determinism, cost, NSFW, ttl."""

from __future__ import annotations

import base64
import io
from typing import Any

import pytest
from PIL import Image

from airflow_provider_wan.emulator import EmulatorServer
from airflow_provider_wan.emulator.images import synthesize
from airflow_provider_wan.emulator.testing import image_inference_task

from .conftest import Api

PIL_FORMAT = {"JPG": "JPEG", "PNG": "PNG", "WEBP": "WEBP"}
MIME = {"JPG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}
EXT = {"JPG": "jpg", "PNG": "png", "WEBP": "webp"}


def _image_bytes(api: Api, result: dict[str, Any], output_type: str, fmt: str) -> bytes:
    if output_type == "URL":
        assert set(result) >= {"imageURL"}
        assert "imageDataURI" not in result and "imageBase64Data" not in result
        response = api.http.get(result["imageURL"])
        assert response.status_code == 200
        assert response.headers["content-type"] == MIME[fmt]
        assert int(response.headers["content-length"]) == len(response.content)
        assert result["imageURL"].endswith(f"/images/{result['imageUUID']}.{EXT[fmt]}")
        return response.content
    if output_type == "dataURI":
        assert "imageURL" not in result and "imageBase64Data" not in result
        prefix = f"data:{MIME[fmt]};base64,"
        assert result["imageDataURI"].startswith(prefix)
        return base64.b64decode(result["imageDataURI"][len(prefix) :], validate=True)
    assert "imageURL" not in result and "imageDataURI" not in result
    return base64.b64decode(result["imageBase64Data"], validate=True)


@pytest.mark.parametrize("output_type", ["URL", "dataURI", "base64Data"])
@pytest.mark.parametrize("fmt", ["JPG", "PNG", "WEBP"])
def test_every_output_type_and_format_decodes_to_the_exact_size(
    api: Api, output_type: str, fmt: str
) -> None:
    task = image_inference_task(
        width=1536, height=640, outputType=output_type, outputFormat=fmt, numberResults=2
    )
    results = api.post([task]).json()["data"]
    assert len(results) == 2
    for result in results:
        data = _image_bytes(api, result, output_type, fmt)
        with Image.open(io.BytesIO(data)) as image:
            assert image.format == PIL_FORMAT[fmt]
            assert image.size == (1536, 640)


def test_default_output_is_a_jpg_url(api: Api) -> None:
    [result] = api.post([image_inference_task()]).json()["data"]
    assert result["imageURL"].endswith(".jpg")
    response = api.http.get(result["imageURL"])
    assert response.headers["content-type"] == "image/jpeg"


def test_extreme_sizes_are_exact(api: Api) -> None:
    for width, height in [(2700, 768), (512, 2048), (576, 1024)]:
        task = image_inference_task(width=width, height=height, outputType="base64Data")
        [result] = api.post([task]).json()["data"]
        with Image.open(io.BytesIO(base64.b64decode(result["imageBase64Data"]))) as image:
            assert image.size == (width, height)


def test_png_pixels_are_a_function_of_seed_and_prompt(api: Api) -> None:
    task = image_inference_task(
        outputType="base64Data", outputFormat="PNG", width=1024, height=768, numberResults=2
    )
    results = api.post([task]).json()["data"]
    decoded = []
    for result in results:
        with Image.open(io.BytesIO(base64.b64decode(result["imageBase64Data"]))) as image:
            pixels = image.convert("RGB").tobytes()
        expected = synthesize(result["seed"], task["positivePrompt"], 1024, 768).tobytes()
        assert pixels == expected
        decoded.append(pixels)
    assert decoded[0] != decoded[1]  # distinct seeds, distinct images


def test_seeds_are_reproducible_from_the_task_uuid_and_config_seed(
    api: Api, emulator: EmulatorServer
) -> None:
    task = image_inference_task(numberResults=3, deliveryMethod="sync")
    first = [r["seed"] for r in api.post([task]).json()["data"]]
    emulator.reset()
    second = [r["seed"] for r in api.post([task]).json()["data"]]
    assert first == second
    emulator.reset()
    emulator.configure(seed=99)
    third = [r["seed"] for r in api.post([task]).json()["data"]]
    assert third != first


def test_output_quality_changes_the_jpeg(api: Api) -> None:
    sizes = {}
    for quality in (20, 99):
        task = image_inference_task(outputType="base64Data", outputQuality=quality)
        [result] = api.post([task]).json()["data"]
        sizes[quality] = len(base64.b64decode(result["imageBase64Data"]))
    assert sizes[20] < sizes[99]


def test_include_cost_adds_cost_per_image(api: Api, emulator: EmulatorServer) -> None:
    with_cost = api.post([image_inference_task(includeCost=True, numberResults=2)]).json()
    assert [r["cost"] for r in with_cost["data"]] == [0.03, 0.03]
    without = api.post([image_inference_task()]).json()["data"][0]
    assert "cost" not in without
    emulator.configure(cost_per_image=0.05)
    [priced] = api.post([image_inference_task(includeCost=True)]).json()["data"]
    assert priced["cost"] == 0.05


@pytest.mark.parametrize(
    ("safety", "checked"),
    [
        (None, False),
        ({"checkContent": False}, False),
        ({"mode": "none"}, False),
        ({"checkContent": True}, True),
        ({"mode": "fast"}, True),
        ({"checkContent": True, "mode": "fast"}, True),
    ],
)
def test_nsfw_flag_only_when_safety_checking_ran(
    api: Api, safety: dict[str, Any] | None, checked: bool
) -> None:
    extra = {} if safety is None else {"safety": safety}
    clean = image_inference_task(positivePrompt="a quiet garden", **extra)
    flagged = image_inference_task(positivePrompt="a NSFW garden scene", **extra)
    body = api.post([clean, flagged]).json()["data"]
    by_task = {r["taskUUID"]: r for r in body}
    if checked:
        assert by_task[clean["taskUUID"]]["NSFWContent"] is False
        assert by_task[flagged["taskUUID"]]["NSFWContent"] is True
    else:
        assert "NSFWContent" not in by_task[clean["taskUUID"]]
        assert "NSFWContent" not in by_task[flagged["taskUUID"]]


def test_nsfw_word_is_configurable(api: Api, emulator: EmulatorServer) -> None:
    emulator.configure(nsfw_word="forbidden")
    task = image_inference_task(positivePrompt="a Forbidden fruit", safety={"checkContent": True})
    assert api.post([task]).json()["data"][0]["NSFWContent"] is True


def test_ttl_expiry_makes_the_url_404(api: Api, emulator: EmulatorServer) -> None:
    [result] = api.post([image_inference_task(ttl=60)]).json()["data"]
    assert api.http.get(result["imageURL"]).status_code == 200
    emulator.advance_clock(59)
    assert api.http.get(result["imageURL"]).status_code == 200
    emulator.advance_clock(2)
    assert api.http.get(result["imageURL"]).status_code == 404


def test_without_ttl_images_live_for_the_retention(api: Api, emulator: EmulatorServer) -> None:
    emulator.configure(image_retention=600)
    [result] = api.post([image_inference_task()]).json()["data"]
    emulator.advance_clock(590)
    assert api.http.get(result["imageURL"]).status_code == 200
    emulator.advance_clock(20)
    assert api.http.get(result["imageURL"]).status_code == 404


def test_unknown_image_and_wrong_extension_are_404(api: Api) -> None:
    [result] = api.post([image_inference_task(outputFormat="PNG")]).json()["data"]
    assert api.http.get(result["imageURL"].replace(".png", ".jpg")).status_code == 404
    assert api.http.get("/images/3f0b8a4e-8f5a-4c1e-9a53-2f4c1d2e3b4a.png").status_code == 404
    assert api.http.get("/images/not-a-uuid.png").status_code == 404


def test_bytes_served_counts_image_downloads(api: Api, emulator: EmulatorServer) -> None:
    [result] = api.post([image_inference_task()]).json()["data"]
    size = len(api.http.get(result["imageURL"]).content)
    stats = emulator.stats()
    assert stats["bytes_served"] == size
    assert stats["images_served"] == 1


def test_public_host_is_used_in_image_urls(api: Api, emulator: EmulatorServer) -> None:
    emulator.configure(public_host="images.example.test:8080")
    [result] = api.post([image_inference_task()]).json()["data"]
    assert result["imageURL"].startswith("http://images.example.test:8080/images/")
