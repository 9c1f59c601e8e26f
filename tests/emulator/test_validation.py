"""Every documented rule of imageInference for alibaba:wan@2.6-image, from PROTOCOL.md."""

from __future__ import annotations

import base64
import io
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from PIL import Image

from airflow_provider_wan.emulator.testing import image_inference_task, new_task_uuid

from .conftest import Api


def _png_bytes(size: tuple[int, int] = (8, 8)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 10, 10)).save(buffer, "PNG")
    return buffer.getvalue()


PNG_B64 = base64.b64encode(_png_bytes()).decode()
PNG_DATA_URI = f"data:image/png;base64,{PNG_B64}"

INVALID_CASES: list[tuple[str, dict[str, Any], str, str]] = [
    # (id, change, code, parameter)
    ("model-missing", {"model": ...}, "missingModel", "model"),
    ("model-other", {"model": "runware:100@1"}, "invalidModel", "model"),
    ("prompt-missing", {"positivePrompt": ...}, "missingPositivePrompt", "positivePrompt"),
    ("prompt-empty", {"positivePrompt": ""}, "invalidPositivePrompt", "positivePrompt"),
    ("prompt-2101", {"positivePrompt": "x" * 2101}, "invalidPositivePrompt", "positivePrompt"),
    ("prompt-number", {"positivePrompt": 5}, "invalidPositivePrompt", "positivePrompt"),
    ("negative-empty", {"negativePrompt": ""}, "invalidNegativePrompt", "negativePrompt"),
    ("negative-501", {"negativePrompt": "n" * 501}, "invalidNegativePrompt", "negativePrompt"),
    ("negative-null", {"negativePrompt": None}, "invalidNegativePrompt", "negativePrompt"),
    ("width-missing", {"width": ...}, "missingWidth", "width"),
    ("height-missing", {"height": ...}, "missingHeight", "height"),
    ("width-string", {"width": "1024"}, "invalidWidth", "width"),
    ("width-float", {"width": 1024.0}, "invalidWidth", "width"),
    ("width-bool", {"width": True}, "invalidWidth", "width"),
    ("height-null", {"height": None}, "invalidHeight", "height"),
    ("size-too-small", {"width": 512, "height": 512}, "invalidSize", "width"),
    ("size-too-big", {"width": 2048, "height": 2048}, "invalidSize", "width"),
    ("size-area-over", {"width": 2701, "height": 768}, "invalidSize", "width"),
    ("size-too-wide", {"width": 2400, "height": 500}, "invalidSize", "width"),
    ("size-too-tall", {"width": 500, "height": 2400}, "invalidSize", "width"),
    ("size-zero", {"width": 0, "height": 1024}, "invalidSize", "width"),
    ("n-zero", {"numberResults": 0}, "invalidNumberResults", "numberResults"),
    ("n-21", {"numberResults": 21}, "invalidNumberResults", "numberResults"),
    ("n-string", {"numberResults": "2"}, "invalidNumberResults", "numberResults"),
    ("output-type-lower", {"outputType": "url"}, "invalidOutputType", "outputType"),
    ("output-type-other", {"outputType": "PNG"}, "invalidOutputType", "outputType"),
    ("format-lower", {"outputFormat": "jpg"}, "invalidOutputFormat", "outputFormat"),
    ("format-gif", {"outputFormat": "GIF"}, "invalidOutputFormat", "outputFormat"),
    ("quality-19", {"outputQuality": 19}, "invalidOutputQuality", "outputQuality"),
    ("quality-100", {"outputQuality": 100}, "invalidOutputQuality", "outputQuality"),
    ("delivery-other", {"deliveryMethod": "webhook"}, "invalidDeliveryMethod", "deliveryMethod"),
    ("ttl-59", {"ttl": 59}, "invalidTtl", "ttl"),
    ("ttl-string", {"ttl": "60"}, "invalidTtl", "ttl"),
    (
        "ttl-with-base64",
        {"ttl": 120, "outputType": "base64Data"},
        "incompatibleParameters",
        "ttl",
    ),
    ("ttl-with-datauri", {"ttl": 60, "outputType": "dataURI"}, "incompatibleParameters", "ttl"),
    ("safety-not-object", {"safety": "yes"}, "invalidSafety", "safety"),
    (
        "safety-check-string",
        {"safety": {"checkContent": "true"}},
        "invalidCheckContent",
        "safety.checkContent",
    ),
    ("safety-mode-other", {"safety": {"mode": "strict"}}, "invalidMode", "safety.mode"),
    ("safety-unknown", {"safety": {"level": 1}}, "unsupportedParameter", "safety.level"),
    ("cost-string", {"includeCost": "yes"}, "invalidIncludeCost", "includeCost"),
    ("inputs-array", {"inputs": []}, "invalidInputs", "inputs"),
    (
        "refs-empty",
        {"inputs": {"referenceImages": []}},
        "invalidReferenceImages",
        "inputs.referenceImages",
    ),
    (
        "refs-five",
        {"inputs": {"referenceImages": [PNG_DATA_URI] * 5}},
        "invalidReferenceImages",
        "inputs.referenceImages",
    ),
    (
        "refs-not-image",
        {"inputs": {"referenceImages": ["not an image at all"]}},
        "invalidReferenceImages",
        "inputs.referenceImages",
    ),
    (
        "refs-base64-not-image",
        {"inputs": {"referenceImages": [base64.b64encode(b"hello world").decode()]}},
        "invalidReferenceImages",
        "inputs.referenceImages",
    ),
    (
        "refs-bad-data-uri",
        {"inputs": {"referenceImages": ["data:text/plain;base64,aGVsbG8="]}},
        "invalidReferenceImages",
        "inputs.referenceImages",
    ),
    (
        "refs-unknown-uuid",
        {"inputs": {"referenceImages": ["3f0b8a4e-8f5a-4c1e-9a53-2f4c1d2e3b4a"]}},
        "invalidReferenceImages",
        "inputs.referenceImages",
    ),
    (
        "refs-number",
        {"inputs": {"referenceImages": [123]}},
        "invalidReferenceImages",
        "inputs.referenceImages",
    ),
    (
        "refs-string",
        {"inputs": {"referenceImages": PNG_DATA_URI}},
        "invalidReferenceImages",
        "inputs.referenceImages",
    ),
    (
        "inputs-unknown",
        {"inputs": {"seedImage": PNG_B64}},
        "unsupportedParameter",
        "inputs.seedImage",
    ),
    (
        "extend-string",
        {"providerSettings": {"alibaba": {"promptExtend": "no"}}},
        "invalidPromptExtend",
        "providerSettings.alibaba.promptExtend",
    ),
    (
        "provider-other",
        {"providerSettings": {"openai": {}}},
        "unsupportedParameter",
        "providerSettings.openai",
    ),
    (
        "alibaba-unknown",
        {"providerSettings": {"alibaba": {"watermark": True}}},
        "unsupportedParameter",
        "providerSettings.alibaba.watermark",
    ),
    ("provider-string", {"providerSettings": "x"}, "invalidProviderSettings", "providerSettings"),
    ("webhook-ftp", {"webhookURL": "ftp://127.0.0.1/x"}, "invalidWebhookURL", "webhookURL"),
    ("webhook-text", {"webhookURL": "not a url"}, "invalidWebhookURL", "webhookURL"),
    ("upload-relative", {"uploadEndpoint": "/put/here"}, "invalidUploadEndpoint", "uploadEndpoint"),
    ("seed-unsupported", {"seed": 42}, "unsupportedParameter", "seed"),
    ("steps-unsupported", {"steps": 30}, "unsupportedParameter", "steps"),
    ("cfg-unsupported", {"CFGScale": 7}, "unsupportedParameter", "CFGScale"),
]


@pytest.mark.parametrize(
    ("change", "code", "parameter"),
    [case[1:] for case in INVALID_CASES],
    ids=[case[0] for case in INVALID_CASES],
)
def test_invalid_parameter_is_rejected_with_code_and_parameter(
    api: Api, change: dict[str, Any], code: str, parameter: str
) -> None:
    task = image_inference_task(**change)
    response = api.post([task])
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["data"] == []
    [error] = body["errors"]
    assert error["code"] == code, error
    assert error["parameter"] == parameter
    assert error["taskUUID"] == task["taskUUID"]
    assert error["taskType"] == "imageInference"
    assert error["message"]
    assert error["documentation"].startswith("https://")


@pytest.mark.parametrize(
    ("change", "bounds"),
    [
        ({"positivePrompt": ""}, {"min": 1, "max": 2100, "type": "string"}),
        ({"negativePrompt": "n" * 501}, {"min": 1, "max": 500, "type": "string"}),
        ({"numberResults": 21}, {"min": 1, "max": 20, "type": "integer"}),
        ({"outputQuality": 100}, {"min": 20, "max": 99, "type": "integer"}),
        ({"ttl": 1}, {"min": 60, "type": "integer"}),
        ({"width": 100}, {"min": 589_824, "max": 2_073_600, "type": "integer"}),
        ({"inputs": {"referenceImages": []}}, {"min": 1, "max": 4, "type": "array"}),
    ],
)
def test_range_errors_carry_their_bounds(
    api: Api, change: dict[str, Any], bounds: dict[str, Any]
) -> None:
    [error] = api.post([image_inference_task(**change)]).json()["errors"]
    for key, value in bounds.items():
        assert error[key] == value, (key, error)


def test_enum_errors_list_allowed_values(api: Api) -> None:
    [error] = api.post([image_inference_task(outputFormat="BMP")]).json()["errors"]
    assert error["allowedValues"] == ["JPG", "PNG", "WEBP"]
    assert "JPG, PNG, WEBP" in error["message"]


def test_size_error_message_states_the_rule(api: Api) -> None:
    [error] = api.post([image_inference_task(width=512, height=512)]).json()["errors"]
    message = error["message"]
    assert "589,824" in message and "2,073,600" in message
    assert "1:4" in message and "4:1" in message
    assert "512x512" in message


VALID_CASES: list[tuple[str, dict[str, Any]]] = [
    ("prompt-1", {"positivePrompt": "x"}),
    ("prompt-2100", {"positivePrompt": "y" * 2100}),
    ("negative-1", {"negativePrompt": "z"}),
    ("negative-500", {"negativePrompt": "z" * 500}),
    ("size-2700x768", {"width": 2700, "height": 768}),
    ("size-768x2700", {"width": 768, "height": 2700}),
    ("size-1536x1024", {"width": 1536, "height": 1024}),
    ("size-576x1024", {"width": 576, "height": 1024}),
    ("size-1440x1440", {"width": 1440, "height": 1440}),
    ("size-ratio-4", {"width": 2048, "height": 512}),
    ("size-ratio-quarter", {"width": 512, "height": 2048}),
    ("n-20", {"numberResults": 20}),
    ("quality-20", {"outputQuality": 20}),
    ("quality-99", {"outputQuality": 99}),
    ("ttl-60", {"ttl": 60, "outputType": "URL"}),
    ("ttl-default-url", {"ttl": 3600}),
    ("safety-fast", {"safety": {"checkContent": True, "mode": "fast"}}),
    ("safety-none", {"safety": {"mode": "none"}}),
    ("cost", {"includeCost": True}),
    ("extend-off", {"providerSettings": {"alibaba": {"promptExtend": False}}}),
    ("extend-empty", {"providerSettings": {"alibaba": {}}}),
    ("refs-url", {"inputs": {"referenceImages": ["https://example.com/a.png"]}}),
    ("refs-data-uri", {"inputs": {"referenceImages": [PNG_DATA_URI]}}),
    ("refs-base64", {"inputs": {"referenceImages": [PNG_B64]}}),
    ("refs-four", {"inputs": {"referenceImages": [PNG_B64, PNG_DATA_URI, PNG_B64, PNG_B64]}}),
    ("every-output-type", {"outputType": "base64Data", "outputFormat": "WEBP"}),
]


@pytest.mark.parametrize("change", [c[1] for c in VALID_CASES], ids=[c[0] for c in VALID_CASES])
def test_valid_values_at_the_limits_are_accepted(api: Api, change: dict[str, Any]) -> None:
    task = image_inference_task(deliveryMethod="async", **change)
    response = api.post([task])
    assert response.status_code == 200, response.text
    assert response.json() == {
        "data": [{"taskType": "imageInference", "taskUUID": task["taskUUID"]}]
    }


def test_uploaded_and_generated_image_uuids_are_valid_references(api: Api) -> None:
    upload = api.post(
        [{"taskType": "imageUpload", "taskUUID": new_task_uuid(), "image": PNG_DATA_URI}]
    ).json()
    uploaded = upload["data"][0]["imageUUID"]
    generated = api.post([image_inference_task()]).json()["data"][0]["imageUUID"]
    task = image_inference_task(inputs={"referenceImages": [uploaded, generated.upper()]})
    response = api.post([task])
    assert response.status_code == 200, response.text


def _size_rule(width: int, height: int) -> bool:
    # Written from PROTOCOL.md, independently of the emulator's rules module.
    return 589_824 <= width * height <= 2_073_600 and 0.25 <= width / height <= 4


_sides = st.integers(min_value=1, max_value=6000)


@st.composite
def _near_the_edges(draw: st.DrawFn) -> tuple[int, int]:
    height = draw(st.integers(min_value=100, max_value=3000))
    target = draw(st.sampled_from([589_824, 2_073_600]))
    width = max(1, target // height + draw(st.integers(min_value=-2, max_value=2)))
    if draw(st.booleans()):
        width = 4 * height + draw(st.integers(min_value=-2, max_value=2))
    return max(1, width), height


@settings(
    max_examples=250,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(size=st.one_of(st.tuples(_sides, _sides), _near_the_edges()))
@example(size=(2700, 768))
@example(size=(2701, 768))
@example(size=(1440, 1440))
@example(size=(1440, 1441))
@example(size=(576, 1024))
@example(size=(575, 1024))
@example(size=(2048, 512))
@example(size=(2049, 512))
@example(size=(384, 1536))
def test_size_is_accepted_exactly_when_the_region_rule_holds(
    api: Api, size: tuple[int, int]
) -> None:
    width, height = size
    task = image_inference_task(width=width, height=height, deliveryMethod="async")
    response = api.post([task])
    if _size_rule(width, height):
        assert response.status_code == 200, (size, response.text)
    else:
        assert response.status_code == 400, size
        assert response.json()["errors"][0]["code"] == "invalidSize"


def test_only_the_first_violation_of_a_task_is_reported(api: Api) -> None:
    task = image_inference_task(width=1, numberResults=99, outputFormat="GIF")
    errors = api.post([task]).json()["errors"]
    assert len(errors) == 1


def test_image_upload_validation(api: Api) -> None:
    ok = api.post([{"taskType": "imageUpload", "taskUUID": new_task_uuid(), "image": PNG_B64}])
    assert ok.status_code == 200
    for image, code in [
        (None, "invalidImage"),
        ("", "invalidImage"),
        ("definitely not base64!", "invalidImage"),
        (..., "missingImage"),
    ]:
        task: dict[str, Any] = {"taskType": "imageUpload", "taskUUID": new_task_uuid()}
        if image is not ...:
            task["image"] = image
        response = api.post([task])
        assert response.status_code == 400
        assert response.json()["errors"][0]["code"] == code
    extra = {"taskType": "imageUpload", "taskUUID": new_task_uuid(), "image": PNG_B64, "x": 1}
    assert api.post([extra]).json()["errors"][0]["code"] == "unsupportedParameter"


def test_get_response_rejects_unknown_parameters(api: Api) -> None:
    task = {"taskType": "getResponse", "taskUUID": new_task_uuid(), "verbose": True}
    [error] = api.post([task]).json()["errors"]
    assert (error["code"], error["parameter"]) == ("unsupportedParameter", "verbose")
