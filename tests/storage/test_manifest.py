"""The run manifest: a round trip on every backend, atomic overwrite, validation, redaction."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from airflow_provider_wan.storage.errors import (
    InvalidDestinationError,
    ObjectNotFoundError,
    StorageError,
)
from airflow_provider_wan.storage.manifest import (
    FailureLine,
    ImageLine,
    dumps,
    loads,
    manifest_uri,
    read_manifest,
    sanitize_run_id,
    summarize,
    write_manifest,
)
from tests.storage.conftest import Backend

MD5 = "0123456789abcdef0123456789abcdef"


def _image(key: str, uuid: str, uri: str, cost: float = 0.03) -> ImageLine:
    return ImageLine(
        item_key=key,
        task_uuid=f"task-{key}",
        image_uuid=uuid,
        seed=123,
        cost=cost,
        uri=uri,
        size=4567,
        md5=MD5,
        format="JPG",
        width=1024,
        height=1024,
        prompt_hash="ph",
    )


def test_round_trip_on_every_backend(backend: Backend) -> None:
    uri = manifest_uri(backend.uri("catalog/"), "manual__2025-01-31T00:00:00+00:00")
    assert "/_manifests/manual__2025-01-31T00_00_00_00_00-" in str(uri)
    lines = [
        _image("b", "u-2", backend.uri("catalog/b-0.jpg")),
        _image("a", "u-1", backend.uri("catalog/a-0.jpg")),
        FailureLine(item_key="c", task_uuid="task-c", code="invalidPrompt", message="too long"),
    ]
    stored = write_manifest(backend.store, uri, lines)
    assert stored.size > 0
    back = read_manifest(backend.store, uri)
    assert back == [lines[1], lines[0], lines[2]]  # sorted: images by item key, then failures
    if backend.name != "file":
        assert backend.store.stat(uri).content_type == "application/x-ndjson"


def test_rewriting_a_run_replaces_the_manifest_without_duplicates(backend: Backend) -> None:
    uri = manifest_uri(backend.uri(""), "run-1")
    first = [_image("a", "u-1", backend.uri("a.jpg"))]
    write_manifest(backend.store, uri, first)
    # A retry that re-lists the first image alongside a new one.
    second = [
        *first,
        _image("a", "u-1", backend.uri("a.jpg")),
        _image("b", "u-2", backend.uri("b.jpg")),
    ]
    write_manifest(backend.store, uri, second)
    back = read_manifest(backend.store, uri)
    assert [line.image_uuid for line in back if isinstance(line, ImageLine)] == ["u-1", "u-2"]
    text = backend.store.read(uri).decode()
    assert text.count('"u-1"') == 1


def test_a_run_without_a_manifest_is_not_complete(backend: Backend) -> None:
    with pytest.raises(ObjectNotFoundError):
        read_manifest(backend.store, manifest_uri(backend.uri(""), "never-written"))


def test_wire_keys_and_one_object_per_line() -> None:
    text = dumps([_image("a", "u-1", "gs://bkt/a.jpg")])
    assert text.endswith("\n") and text.count("\n") == 1
    record = json.loads(text)
    assert record["bytes"] == 4567
    assert record["kind"] == "image"
    assert set(record) == {
        "kind", "item_key", "task_uuid", "image_uuid", "seed", "cost", "uri", "bytes", "md5",
        "format", "width", "height", "prompt_hash",
    }  # fmt: skip
    assert loads(text) == [_image("a", "u-1", "gs://bkt/a.jpg")]


def test_an_https_url_cannot_be_listed_as_an_image() -> None:
    with pytest.raises(ValidationError):
        _image("a", "u", "https://bkt.s3.amazonaws.com/a.jpg?X-Amz-Signature=abc")


def test_failure_messages_are_redacted() -> None:
    line = FailureLine(
        item_key="a",
        task_uuid="t",
        code="uploadFailed",
        message="PUT https://storage.googleapis.com/b/a.png?X-Goog-Signature=feedface failed",
    )
    assert "feedface" not in line.message
    assert "feedface" not in dumps([line])


def test_two_images_at_one_uri_are_refused() -> None:
    with pytest.raises(InvalidDestinationError, match="both listed"):
        dumps([_image("a", "u-1", "gs://bkt/x.jpg"), _image("b", "u-2", "gs://bkt/x.jpg")])


def test_a_bad_line_is_named() -> None:
    good = dumps([_image("a", "u-1", "gs://bkt/a.jpg")])
    with pytest.raises(StorageError, match="line 2"):
        loads(good + '{"kind": "image"}\n')


@pytest.mark.parametrize(
    ("run_id", "expected"),
    [
        ("scheduled__2025-01-31", "scheduled__2025-01-31"),
        ("manual__2025-01-31T00:00:00+00:00", None),
        ("a/b", None),
        ("..", None),
    ],
)
def test_sanitized_run_ids_are_safe_and_distinct(run_id: str, expected: str | None) -> None:
    safe = sanitize_run_id(run_id)
    if expected is not None:
        assert safe == expected
    assert all(c.isalnum() or c in "._-" for c in safe)
    assert not safe.startswith(".")
    assert sanitize_run_id("a:b") != sanitize_run_id("a_b")


def test_summary_is_small_and_json_native() -> None:
    lines = [
        _image("a", "u-1", "gs://bkt/a.jpg", cost=0.03),
        _image("b", "u-2", "gs://bkt/b.jpg", cost=0.04),
        FailureLine(item_key="c", task_uuid="t", code="x", message="y"),
    ]
    assert summarize(lines) == {"images": 2, "failures": 1, "bytes": 9134, "cost": 0.07}
    json.dumps(summarize(lines))


def test_images_without_a_uuid_are_deduplicated_by_uri_not_merged() -> None:
    a = _image("a", "x", "gs://bkt/a.jpg").model_copy(update={"image_uuid": None})
    b = _image("b", "x", "gs://bkt/b.jpg").model_copy(update={"image_uuid": None})
    assert [line.uri for line in loads(dumps([a, b, a]))] == ["gs://bkt/a.jpg", "gs://bkt/b.jpg"]
