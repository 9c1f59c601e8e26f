"""Fixtures of the storage tests: an image server and one store per backend."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

from airflow_provider_wan.storage.base import ObjectStore
from airflow_provider_wan.storage.gcs import GcsStore, create_gcs_client
from airflow_provider_wan.storage.local import LocalStore
from airflow_provider_wan.storage.s3 import S3Store, create_s3_client
from tests.storage.image_server import ImageServer

BACKENDS = ("file", "gs", "s3")


@dataclass
class Backend:
    """A store on one backend and how to name objects in it."""

    name: str
    store: ObjectStore
    uri: Callable[[str], str]


@pytest.fixture
def image_server() -> Iterator[ImageServer]:
    with ImageServer() as server:
        yield server


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> Iterator[Backend]:
    """The same test on file://, gs:// (emulator) and s3:// (moto)."""
    name = request.param
    store: ObjectStore
    if name == "file":
        destination = request.getfixturevalue("local_destination")
        store, uri = LocalStore(), destination.uri
    elif name == "gs":
        bucket = request.getfixturevalue("gcs_bucket")
        store, uri = GcsStore(create_gcs_client()), bucket.uri
    else:
        bucket = request.getfixturevalue("s3_bucket")
        store, uri = S3Store(create_s3_client()), bucket.uri
    try:
        yield Backend(name=name, store=store, uri=uri)
    finally:
        store.close()
