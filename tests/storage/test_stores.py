"""The three backends behave alike: write, read back, stat, metadata, atomicity, errors."""

from __future__ import annotations

import io
import os
from datetime import timedelta

import pytest

from airflow_provider_wan.storage.checksums import hash_bytes
from airflow_provider_wan.storage.errors import (
    ChecksumMismatchError,
    InvalidDestinationError,
    ObjectNotFoundError,
    UnsupportedOperationError,
)
from airflow_provider_wan.storage.local import LocalStore
from tests.fixtures.storage_servers import LocalDestination
from tests.storage.conftest import Backend
from tests.storage.image_server import make_image


def test_written_bytes_read_back_equal(backend: Backend) -> None:
    data = make_image("PNG", 120, 80, seed=1)
    uri = backend.uri("sku-1/0.png")
    metadata = {"task-uuid": "t-1", "image-uuid": "i-1", "seed": "42", "prompt-hash": "ab"}
    stored = backend.store.write(uri, io.BytesIO(data), content_type="image/png", metadata=metadata)
    sums = hash_bytes(data)
    assert stored.uri == uri
    assert stored.size == len(data)
    assert stored.md5 == sums.md5_hex
    assert backend.store.read(uri) == data
    stat = backend.store.stat(uri)
    assert (stat.size, stat.md5) == (len(data), sums.md5_hex)
    assert stat.content_type == "image/png"
    if backend.name != "file":
        assert stat.metadata == metadata


def test_large_object_streams_through_resumable_paths(backend: Backend) -> None:
    data = os.urandom(9 * 1024 * 1024 + 17)  # above GCS's 8 MiB multipart limit
    uri = backend.uri("big/blob.bin")
    stored = backend.store.write(uri, io.BytesIO(data), content_type="application/octet-stream")
    assert stored.size == len(data)
    assert backend.store.read(uri) == data


def test_overwrite_replaces_the_object(backend: Backend) -> None:
    uri = backend.uri("same/name.jpg")
    backend.store.write_bytes(uri, b"first version", content_type="image/jpeg")
    backend.store.write_bytes(uri, b"second", content_type="image/jpeg")
    assert backend.store.read(uri) == b"second"
    assert backend.store.stat(uri).size == len(b"second")


def test_wrong_checksums_are_refused(backend: Backend) -> None:
    uri = backend.uri("corrupt/x.png")
    data = b"the bytes actually sent"
    claimed = hash_bytes(b"the bytes that were downloaded")
    claimed = type(claimed)(size=len(data), md5=claimed.md5, crc32c=claimed.crc32c)
    with pytest.raises(ChecksumMismatchError) as caught:
        backend.store.write(uri, io.BytesIO(data), content_type="image/png", checksums=claimed)
    assert caught.value.retryable
    if backend.name in ("file", "gs"):
        # The server (or the local rename) refused it: nothing is stored under the name.
        with pytest.raises(ObjectNotFoundError):
            backend.store.stat(uri)


def test_missing_objects_are_reported_as_such(backend: Backend) -> None:
    with pytest.raises(ObjectNotFoundError):
        backend.store.stat(backend.uri("nope.png"))
    with pytest.raises(ObjectNotFoundError):
        backend.store.read(backend.uri("nope.png"))
    backend.store.delete(backend.uri("nope.png"))  # missing is fine


def test_delete_removes(backend: Backend) -> None:
    uri = backend.uri("gone.png")
    backend.store.write_bytes(uri, b"x", content_type="image/png")
    backend.store.delete(uri)
    with pytest.raises(ObjectNotFoundError):
        backend.store.stat(uri)


def test_update_metadata_keeps_the_bytes(backend: Backend) -> None:
    uri = backend.uri("meta.webp")
    backend.store.write_bytes(uri, b"bytes", content_type="application/octet-stream")
    stat = backend.store.update_metadata(
        uri, content_type="image/webp", metadata={"task-uuid": "t", "seed": "1"}
    )
    assert backend.store.read(uri) == b"bytes"
    if backend.name != "file":
        assert stat.content_type == "image/webp"
        assert stat.metadata == {"task-uuid": "t", "seed": "1"}


def test_a_store_refuses_uris_of_another_scheme(backend: Backend) -> None:
    other = "s3://some-bucket/x.png" if backend.name != "s3" else "gs://some-bucket/x.png"
    with pytest.raises(InvalidDestinationError, match="this store handles"):
        backend.store.write_bytes(other, b"x", content_type="image/png")
    with pytest.raises(InvalidDestinationError, match="prefix"):
        backend.store.write_bytes(backend.uri("folder/"), b"x", content_type="image/png")


def test_local_write_leaves_no_partial_file_and_reuses_a_stale_one(
    local_destination: LocalDestination,
) -> None:
    store = LocalStore()
    uri = local_destination.uri("a/b.png")
    stale = local_destination.root / "a" / ".b.png.wan-partial"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"left by a killed attempt")
    store.write_bytes(uri, b"complete", content_type="image/png")
    assert sorted(p.name for p in (local_destination.root / "a").iterdir()) == ["b.png"]
    assert (local_destination.root / "a" / "b.png").read_bytes() == b"complete"


def test_local_store_cannot_presign(local_destination: LocalDestination) -> None:
    with pytest.raises(UnsupportedOperationError, match="push mode needs"):
        LocalStore().presign_put(local_destination.uri("x.png"), expires=timedelta(minutes=5))


def _closed_port_endpoint() -> str:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def test_an_unreachable_s3_endpoint_is_a_transient_error() -> None:
    from airflow_provider_wan.storage.errors import TransientStorageError
    from airflow_provider_wan.storage.s3 import S3Store, create_s3_client

    client = create_s3_client(
        aws_access_key_id="AKIAX",
        aws_secret_access_key="secret",
        region_name="us-east-1",
        endpoint_url=_closed_port_endpoint(),
        connect_timeout=1,
    )
    with pytest.raises(TransientStorageError, match="connection to S3 failed") as caught:
        S3Store(client).write_bytes("s3://bucket/x.png", b"x", content_type="image/png")
    assert caught.value.retryable


def test_an_unreachable_gcs_endpoint_is_a_transient_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow_provider_wan.storage.errors import TransientStorageError
    from airflow_provider_wan.storage.gcs import GcsStore, create_gcs_client

    monkeypatch.setenv("STORAGE_EMULATOR_HOST", _closed_port_endpoint())
    with pytest.raises(TransientStorageError):
        GcsStore(create_gcs_client()).write_bytes(
            "gs://bucket/x.png", b"x", content_type="image/png"
        )
