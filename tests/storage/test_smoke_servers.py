"""The storage servers the fixtures start are real and reachable."""

from __future__ import annotations

from tests.storage.conftest import Backend


def test_each_backend_stores_and_returns_the_same_bytes(backend: Backend) -> None:
    uri = backend.uri("smoke/hello.bin")
    stored = backend.store.write_bytes(uri, b"hello", content_type="application/octet-stream")
    assert stored.size == 5
    assert backend.store.read(uri) == b"hello"
