"""Images land in the user's storage through dag.test(): both modes, all three backends,
bytes equal to what the emulator made, a manifest written last, and no secret anywhere."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from airflow_provider_wan.emulator import EmulatorServer
from airflow_provider_wan.storage import parse_uri
from tests.fixtures.runware_emulator import EMULATOR_API_KEY

SIGNATURE_MARKERS = ("X-Amz-Signature", "X-Goog-Signature", "Signature=", "X-Amz-Credential")
TEMPLATE = "{item_key}-{index}.{ext}"


class Backend:
    """Reads objects back with the backend's own client, not with the code under test."""

    def __init__(self, name: str, fixture: Any) -> None:
        self.name, self.fixture = name, fixture

    def base(self) -> str:
        return self.fixture.uri("")

    def read(self, uri: str) -> bytes:
        parsed = parse_uri(uri)
        if self.name == "file":
            return open(parsed.path, "rb").read()
        if self.name == "gs":
            return self.fixture.client().bucket(parsed.bucket).blob(parsed.key).download_as_bytes()
        return self.fixture.client().get_object(Bucket=parsed.bucket, Key=parsed.key)["Body"].read()


@pytest.fixture
def backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Backend:
    name = request.param
    if name == "file":
        return Backend(name, request.getfixturevalue("local_destination"))
    if name == "gs":
        bucket = request.getfixturevalue("gcs_bucket")
        key = request.getfixturevalue("gcs_service_account")
        # A service-account key, so that push mode can sign URLs (the emulator's data plane
        # is anonymous).
        monkeypatch.setenv(
            "AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT",
            json.dumps(
                {
                    "conn_type": "google_cloud_platform",
                    "extra": {"keyfile_dict": key.info, "project": "wan-test"},
                }
            ),
        )
        return Backend(name, bucket)
    return Backend(name, request.getfixturevalue("s3_bucket"))


def xcom(run: Any) -> Any:
    [ti] = run.get_task_instances()
    assert ti.state == "success", f"generate is {ti.state}"
    return ti.xcom_pull(task_ids="generate")


def assert_no_secret(*texts: str) -> None:
    for text in texts:
        assert EMULATOR_API_KEY not in text
        for marker in SIGNATURE_MARKERS:
            assert marker not in text, f"{marker} leaked"


@pytest.mark.parametrize(
    ("backend", "mode"),
    [("file", "pull"), ("gs", "pull"), ("s3", "pull"), ("gs", "push"), ("s3", "push")],
    indirect=["backend"],
)
def test_every_image_lands_once_with_a_manifest(
    run_dag: Callable[..., Any],
    emulator: EmulatorServer,
    backend: Backend,
    mode: str,
    capfd: pytest.CaptureFixture[str],
) -> None:
    run = run_dag(f"wan_store_{mode}", destination=backend.base() + TEMPLATE)
    summary = xcom(run)
    assert summary["totals"]["images"] == 6 and summary["totals"]["stored"] == 6
    expected_names = {f"{key}-{i}.png" for key in ("kettle", "mug", "teapot") for i in (0, 1)}
    assert {image["uri"].rsplit("/", 1)[-1] for image in summary["images"]} == expected_names
    for image in summary["images"]:
        made = httpx.get(image["image_url"]).content  # what the emulator generated
        assert backend.read(image["uri"]) == made
    manifest_text = backend.read(summary["manifest"]).decode()
    lines = [json.loads(line) for line in manifest_text.splitlines()]
    assert sorted(line["uri"] for line in lines) == sorted(
        image["uri"] for image in summary["images"]
    )
    assert {line["kind"] for line in lines} == {"image"}
    assert all(line["format"] == "PNG" and line["bytes"] > 0 for line in lines)
    assert urlsplit(summary["manifest"]).path.rsplit("/", 2)[-2] == "_manifests"
    stats = emulator.stats()
    assert stats["tasks_accepted"] == (6 if mode == "push" else 3)
    if mode == "push":
        assert stats["uploads_made"] == 6 and stats["uploads_failed"] == 0
    logs = capfd.readouterr()
    assert_no_secret(json.dumps(summary), manifest_text, logs.out, logs.err)


def test_push_to_a_local_path_fails_before_any_spend(
    run_dag: Callable[..., Any], emulator: EmulatorServer, local_destination: Any
) -> None:
    run = run_dag("wan_store_push", destination=local_destination.uri(TEMPLATE))
    [ti] = run.get_task_instances()
    assert ti.state == "failed"
    assert emulator.stats()["tasks_accepted"] == 0


def test_colliding_names_fail_before_any_spend(
    run_dag: Callable[..., Any], emulator: EmulatorServer, local_destination: Any
) -> None:
    run = run_dag("wan_store_pull", destination=local_destination.uri("{item_key}.{ext}"))
    [ti] = run.get_task_instances()
    assert ti.state == "failed"
    assert emulator.stats()["tasks_accepted"] == 0


def test_inline_images_are_decoded_into_the_destination(
    run_dag: Callable[..., Any], emulator: EmulatorServer, local_destination: Any
) -> None:
    from PIL import Image

    run = run_dag(
        "wan_store_inline", destination=local_destination.uri("{item_key}/{image_uuid}.{ext}")
    )
    summary = xcom(run)
    assert summary["totals"]["stored"] == 3
    for image in summary["images"]:
        assert image["image_url"] is None  # nothing inline in XCom either
        with Image.open(parse_uri(image["uri"]).path) as picture:
            assert picture.format == "WEBP" and picture.size == (1536, 1024)
    assert "imageBase64Data" not in json.dumps(summary)
