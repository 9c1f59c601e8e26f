"""A corpus of bad inputs: each is refused before any request, with a message naming the field.

Every case runs the operator's ``execute`` against the emulator with the case's arguments and
connections; the emulator's request counter proves nothing was sent (so nothing was paid).
"""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import pytest

from airflow_provider_wan.emulator import EmulatorServer
from airflow_provider_wan.operators.image_inference import WanImageInferenceOperator

OK = {"prompt": "a red kettle", "width": 1024, "height": 1024}
ONE = [{"positivePrompt": "a red kettle"}]


def case(name: str, expected: str, env: dict[str, Any] | None = None, **kwargs: Any) -> Any:
    return pytest.param(kwargs, env or {}, expected, id=name)


REQUEST_RULES = [
    case("empty prompt", "positivePrompt", prompt="", width=1024, height=1024),
    case("prompt too long", "positivePrompt", prompt="p" * 2101, width=1024, height=1024),
    case("negative prompt too long", "negativePrompt", **OK, negative_prompt="n" * 501),
    case("empty negative prompt", "negativePrompt", **OK, negative_prompt=""),
    case("area too small", "width, height", prompt="p", width=576, height=576),
    case("area too large", "width, height", prompt="p", width=1600, height=1600),
    case("aspect too wide", "width, height", prompt="p", width=3000, height=700),
    case("aspect too tall", "width, height", prompt="p", width=600, height=2900),
    case("width not a number", "width", prompt="p", width="wide", height=1024),
    case("width a boolean", "width", prompt="p", width=True, height=1024),
    case("zero results", "numberResults", **OK, number_results=0),
    case("too many results", "numberResults", **OK, number_results=21),
    case("output type", "outputType", **OK, output_type="png"),
    case("output format", "outputFormat", **OK, output_format="GIF"),
    case("quality too low", "outputQuality", **OK, output_quality=19),
    case("quality too high", "outputQuality", **OK, output_quality=100),
    case("ttl too short", "ttl", **OK, ttl=59),
    case("ttl without URL output", "ttl", **OK, ttl=120, output_type="base64Data"),
    case(
        "five reference images",
        "inputs.referenceImages",
        **OK,
        reference_images=["https://a.example/x.png"] * 5,
    ),
    case(
        "reference image not an image",
        "inputs.referenceImages.0",
        **OK,
        reference_images=["not an image!"],
    ),
    case(
        "reference image ftp",
        "inputs.referenceImages.0",
        **OK,
        reference_images=["ftp://a.example/x.png"],
    ),
    case("prompt extension not a boolean", "promptExtend", **OK, prompt_extend="maybe"),
    case(
        "unknown parameter",
        "steps",
        width=1024,
        height=1024,
        requests=[{"positivePrompt": "p", "steps": 30}],
    ),
    case(
        "seed is not a request parameter",
        "seed",
        width=1024,
        height=1024,
        requests=[{"positivePrompt": "p", "seed": 1}],
    ),
    case(
        "another model",
        "model",
        width=1024,
        height=1024,
        requests=[{"positivePrompt": "p", "model": "runware:101@1"}],
    ),
    case(
        "safety mode",
        "safety.mode",
        width=1024,
        height=1024,
        requests=[{"positivePrompt": "p", "safety": {"mode": "strict"}}],
    ),
    case(
        "webhook not http",
        "webhookURL",
        width=1024,
        height=1024,
        requests=[{"positivePrompt": "p", "webhookURL": "ftp://hooks.example/x?token=t"}],
    ),
    case(
        "delivery method",
        "deliveryMethod",
        width=1024,
        height=1024,
        requests=[{"positivePrompt": "p", "deliveryMethod": "later"}],
    ),
    case(
        "second request invalid",
        "request 1",
        width=1024,
        height=1024,
        requests=[*ONE, {"positivePrompt": ""}],
    ),
]

OPERATOR_ARGUMENTS = [
    case("no prompt at all", "positivePrompt", width=1024, height=1024),
    case(
        "requests not a list", "requests", width=1024, height=1024, requests={"positivePrompt": "p"}
    ),
    case("request not an object", "request", width=1024, height=1024, requests=["a prompt"]),
    case(
        "duplicate item keys",
        "item_key",
        width=1024,
        height=1024,
        requests=[{"item_key": "a", "positivePrompt": "p"}] * 2,
    ),
]

DESTINATIONS = [
    case("destination scheme", "destination", **OK, destination="http://bucket/{item_key}.{ext}"),
    case("unknown template field", "sku", **OK, destination="file:///tmp/wan/{sku}.{ext}"),
    case("positional field", "{}", **OK, destination="file:///tmp/wan/{}.{ext}"),
    case(
        "unrendered jinja", "{{", **OK, destination="file:///tmp/wan/{{ nothing }}/{item_key}.{ext}"
    ),
    case("field in the bucket", "bucket", **OK, destination="gs://{item_key}/x.{ext}"),
    case("dot-dot segment", "..", **OK, destination="file:///tmp/wan/../{item_key}.{ext}"),
    case(
        "names collide",
        "both render to",
        **OK,
        number_results=2,
        destination="file:///tmp/wan/{item_key}.{ext}",
    ),
    case(
        "push to a local path",
        "push",
        **OK,
        upload_mode="push",
        destination="file:///tmp/wan/{item_key}.{ext}",
    ),
    case(
        "push with names known only later",
        "push",
        **OK,
        upload_mode="push",
        destination="gs://bucket/{image_uuid}.{ext}",
    ),
    case(
        "unknown upload mode",
        "upload_mode",
        **OK,
        upload_mode="teleport",
        destination="file:///tmp/wan/{item_key}.{ext}",
    ),
]

CONNECTIONS = [
    case(
        "runware key missing",
        "API key",
        env={"AIRFLOW_CONN_RUNWARE_DEFAULT": {"conn_type": "runware", "host": "EMULATOR"}},
        **OK,
    ),
    case(
        "runware timeout not a number",
        "timeout",
        env={
            "AIRFLOW_CONN_RUNWARE_DEFAULT": {
                "conn_type": "runware",
                "host": "EMULATOR",
                "password": "KEY",
                "extra": {"timeout": "soon"},
            }
        },
        **OK,
    ),
    case("runware connection missing", "runware_missing", runware_conn_id="runware_missing", **OK),
    case(
        "gcp impersonation not supported",
        "impersonation_chain",
        env={
            "AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT": {
                "conn_type": "google_cloud_platform",
                "extra": {"impersonation_chain": "sa@x.iam.gserviceaccount.com"},
            }
        },
        **OK,
        upload_mode="push",
        destination="gs://bucket/{item_key}.{ext}",
    ),
    case(
        "aws role not supported",
        "role_arn",
        env={
            "AIRFLOW_CONN_AWS_DEFAULT": {
                "conn_type": "aws",
                "extra": {"role_arn": "arn:aws:iam::1:role/x"},
            }
        },
        **OK,
        upload_mode="push",
        destination="s3://bucket/{item_key}.{ext}",
    ),
]


def context() -> Any:
    return {"ti": SimpleNamespace(dag_id="corpus", run_id="run", task_id="generate", map_index=-1)}


@pytest.mark.parametrize(
    ("kwargs", "env", "expected"), REQUEST_RULES + OPERATOR_ARGUMENTS + DESTINATIONS + CONNECTIONS
)
def test_bad_input_is_refused_before_any_request(
    kwargs: dict[str, Any],
    env: dict[str, Any],
    expected: str,
    runware_connection: str,
    emulator: EmulatorServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    key = json.loads(__import__("os").environ["AIRFLOW_CONN_RUNWARE_DEFAULT"])["password"]
    for name, conn in env.items():
        text = (
            json.dumps(conn)
            .replace("EMULATOR", emulator.base_url)
            .replace('"KEY"', json.dumps(key))
        )
        monkeypatch.setenv(name, text)
    operator = WanImageInferenceOperator(task_id="generate", deferrable=False, **kwargs)
    with pytest.raises(Exception) as caught:
        operator.execute(context())
    message = str(caught.value)
    assert expected.lower() in message.lower(), message
    assert key not in message
    assert emulator.stats()["requests"] == 0, "a request was sent for bad input"


def test_the_corpus_is_at_least_forty_cases() -> None:
    assert len(REQUEST_RULES + OPERATOR_ARGUMENTS + DESTINATIONS + CONNECTIONS) >= 40
