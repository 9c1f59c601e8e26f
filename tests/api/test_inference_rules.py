"""Every rule of PROTOCOL.md's imageInference table, enforced before anything is sent."""

from __future__ import annotations

import base64
import uuid
from typing import Any

import pytest
from pydantic import ValidationError

from airflow_provider_wan.api import ImageInference, InvalidRequestError, parse_inference

VALID: dict[str, Any] = {"positivePrompt": "a red bicycle", "width": 1024, "height": 1024}
PNG_B64 = base64.b64encode(b"\x89PNG\r\n\x1a\n fake but valid base64").decode()


def problems(**changes: Any) -> list[str]:
    """The fields named by the errors of VALID with *changes* (None removes a key)."""
    request = {**VALID, **changes}
    request = {key: value for key, value in request.items() if value is not None}
    with pytest.raises(InvalidRequestError) as caught:
        parse_inference(request)
    return [problem.field for problem in caught.value.problems]


def accepts(**changes: Any) -> ImageInference:
    return parse_inference({**VALID, **changes})


def test_wire_json_round_trips_with_only_the_fields_that_were_set() -> None:
    wire = {
        "taskType": "imageInference",
        "taskUUID": str(uuid.uuid4()),
        "model": "alibaba:wan@2.6-image",
        "positivePrompt": "a lighthouse at dusk",
        "negativePrompt": "blurry",
        "width": 2700,
        "height": 768,
        "numberResults": 4,
        "outputType": "URL",
        "outputFormat": "WEBP",
        "outputQuality": 90,
        "deliveryMethod": "async",
        "safety": {"checkContent": True, "mode": "fast"},
        "ttl": 3600,
        "includeCost": True,
        "inputs": {"referenceImages": [str(uuid.uuid4())]},
        "providerSettings": {"alibaba": {"promptExtend": False}},
    }
    assert ImageInference.model_validate(wire).to_wire() == wire


def test_defaults_are_left_to_the_api_but_task_type_and_model_always_travel() -> None:
    assert accepts().to_wire() == {
        "taskType": "imageInference",
        "model": "alibaba:wan@2.6-image",
        **VALID,
    }


def test_python_names_work_as_well_as_wire_names() -> None:
    task = ImageInference(positive_prompt="x", width=1536, height=1024, number_results=2)
    assert task.to_wire()["numberResults"] == 2
    assert task.expected_images == 2


@pytest.mark.parametrize(
    ("width", "height"), [(2700, 768), (1536, 1024), (1024, 1024), (768, 2700)]
)
def test_documented_sizes_are_valid(width: int, height: int) -> None:
    assert accepts(width=width, height=height).width == width


@pytest.mark.parametrize(("width", "height"), [(576, 576), (3000, 800), (1440, 1441), (2900, 700)])
def test_sizes_outside_the_rule_are_refused_naming_both_fields(width: int, height: int) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        parse_inference({**VALID, "width": width, "height": height})
    problem = caught.value.problems[0]
    assert problem.field == "width, height"
    assert problem.value == f"{width}x{height}"
    assert "589,824" in problem.rule and "2,073,600" in problem.rule and "4:1" in problem.rule


def test_prompt_lengths() -> None:
    assert accepts(positivePrompt="x" * 2100)
    assert problems(positivePrompt="x" * 2101) == ["positivePrompt"]
    assert problems(positivePrompt="") == ["positivePrompt"]
    assert problems(positivePrompt=None) == ["positivePrompt"]
    assert accepts(negativePrompt="x" * 500)
    assert problems(negativePrompt="x" * 501) == ["negativePrompt"]
    assert problems(negativePrompt="") == ["negativePrompt"]


def test_number_results_range() -> None:
    assert accepts(numberResults=1).expected_images == 1
    assert accepts(numberResults=20).expected_images == 20
    assert problems(numberResults=0) == ["numberResults"]
    assert problems(numberResults=21) == ["numberResults"]


def test_output_quality_range() -> None:
    assert accepts(outputQuality=20) and accepts(outputQuality=99)
    assert problems(outputQuality=19) == ["outputQuality"]
    assert problems(outputQuality=100) == ["outputQuality"]


def test_enumerations() -> None:
    for output_type in ("URL", "dataURI", "base64Data"):
        assert accepts(outputType=output_type).output_type == output_type
    assert problems(outputType="url") == ["outputType"]
    for output_format in ("JPG", "PNG", "WEBP"):
        assert accepts(outputFormat=output_format).output_format == output_format
    assert accepts(outputFormat="jpeg").output_format == "JPG"
    assert problems(outputFormat="GIF") == ["outputFormat"]
    assert accepts(deliveryMethod="async").delivery_method == "async"
    assert problems(deliveryMethod="later") == ["deliveryMethod"]
    assert problems(model="runware:100@1") == ["model"]
    assert problems(taskType="imageUpload") == ["taskType"]


def test_ttl_is_at_least_60_and_only_with_url_output() -> None:
    assert accepts(ttl=60).ttl == 60
    assert accepts(ttl=120, outputType="URL").ttl == 120
    assert problems(ttl=59) == ["ttl"]
    assert problems(ttl=120, outputType="dataURI") == ["ttl"]
    assert problems(ttl=120, outputType="base64Data") == ["ttl"]


def test_safety() -> None:
    assert accepts(safety={"checkContent": True}).safety is not None
    assert accepts(safety={"mode": "none"}).safety is not None
    assert problems(safety={"mode": "slow"}) == ["safety.mode"]
    assert problems(safety={"check": True}) == ["safety.check"]


@pytest.mark.parametrize(
    "reference",
    [
        str(uuid.uuid4()),
        "https://example.com/shoe.jpg",
        "http://example.com/shoe.png",
        f"data:image/png;base64,{PNG_B64}",
        PNG_B64,
    ],
)
def test_reference_image_forms(reference: str) -> None:
    task = accepts(inputs={"referenceImages": [reference]})
    assert task.inputs is not None and task.inputs.reference_images == [reference]


@pytest.mark.parametrize(
    "reference", ["ftp://example.com/a.png", "not base64!", "data:text/plain;base64,aGk=", ""]
)
def test_reference_images_that_are_none_of_the_forms(reference: str) -> None:
    assert problems(inputs={"referenceImages": [reference]}) == ["inputs.referenceImages.0"]


def test_reference_images_count_is_one_to_four() -> None:
    four = [str(uuid.uuid4()) for _ in range(4)]
    assert accepts(inputs={"referenceImages": four})
    assert problems(inputs={"referenceImages": [*four, str(uuid.uuid4())]}) == [
        "inputs.referenceImages"
    ]
    assert problems(inputs={"referenceImages": []}) == ["inputs.referenceImages"]


def test_prompt_extension_and_cost_flags() -> None:
    task = accepts(providerSettings={"alibaba": {"promptExtend": False}}, includeCost=True)
    assert task.to_wire()["providerSettings"] == {"alibaba": {"promptExtend": False}}
    assert problems(providerSettings={"alibaba": {"promptExtend": "maybe"}}) == [
        "providerSettings.alibaba.promptExtend"
    ]


def test_task_uuid_must_be_version_4() -> None:
    assert accepts(taskUUID=str(uuid.uuid4()))
    assert problems(taskUUID=str(uuid.uuid1())) == ["taskUUID"]
    assert problems(taskUUID="abc") == ["taskUUID"]


def test_unknown_parameters_and_seed_are_refused() -> None:
    assert problems(seed=42) == ["seed"]
    assert problems(steps=30) == ["steps"]


def test_integers_accept_numeric_strings_but_not_booleans() -> None:
    assert accepts(width="1536", height="1024").width == 1536
    assert problems(width=True) == ["width"]
    assert problems(width=1024.5) == ["width"]


def test_every_problem_is_reported_at_once_with_field_value_and_rule() -> None:
    with pytest.raises(InvalidRequestError) as caught:
        parse_inference(
            {**VALID, "positivePrompt": "p" * 3000, "outputQuality": 5, "numberResults": 99},
            index=7,
        )
    error = caught.value
    assert error.index == 7
    assert [p.field for p in error.problems] == ["positivePrompt", "numberResults", "outputQuality"]
    text = str(error)
    assert text.startswith("Invalid request 7 (3 problems)")
    assert "3,000 characters" in text  # the value, shortened, says how long it was
    assert "at most 2100 characters" in text
    assert "outputQuality = 5" in text and "greater than or equal to 20" in text
    assert len(text) < 600


def test_secret_urls_are_never_echoed_in_errors_or_repr() -> None:
    token = "sig=SECRET-SIGNATURE-123"
    with pytest.raises(InvalidRequestError) as caught:
        parse_inference({**VALID, "uploadEndpoint": f"ftp://bucket/key?{token}"})
    assert "SECRET-SIGNATURE" not in str(caught.value)
    assert caught.value.problems[0].field == "uploadEndpoint"
    task = accepts(webhookURL=f"https://hooks.example.com/in?{token}")
    assert "SECRET-SIGNATURE" not in repr(task)
    with pytest.raises(ValidationError) as raw:
        ImageInference.model_validate({**VALID, "webhookURL": f"nope?{token}"})
    assert "SECRET-SIGNATURE" not in str(raw.value)


def test_a_request_that_is_not_an_object() -> None:
    with pytest.raises(InvalidRequestError, match="must be an object"):
        parse_inference(["positivePrompt"], index=2)  # type: ignore[arg-type]
