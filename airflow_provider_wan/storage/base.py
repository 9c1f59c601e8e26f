"""The small interface every destination implements, and what it returns.

:class:`ObjectStore` is a :class:`~typing.Protocol`: ``LocalStore`` (``file://``), ``GcsStore``
(``gs://``) and ``S3Store`` (``s3://``) implement it, and so can a test double. Methods accept a
:class:`~airflow_provider_wan.storage.uri.StorageURI` or its text, are safe to call from several
threads at once, and raise only :class:`~airflow_provider_wan.storage.errors.StorageError`.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from types import TracebackType
from typing import BinaryIO, NoReturn, Protocol, runtime_checkable

from airflow_provider_wan.api.redaction import redact_url
from airflow_provider_wan.storage.checksums import Checksums, hash_stream
from airflow_provider_wan.storage.errors import (
    InvalidDestinationError,
    StorageConfigurationError,
)
from airflow_provider_wan.storage.uri import StorageURI, as_uri

MAX_PRESIGN_EXPIRY = timedelta(days=7)
"""The longest validity both GCS v4 signed URLs and S3 SigV4 presigned URLs allow."""

MANIFEST_CONTENT_TYPE = "application/x-ndjson"


@dataclass(frozen=True)
class StoredObject:
    """An object as the store reports it after a write or a stat.

    :param uri: the object's URI (``gs://``, ``s3://`` or ``file://``); never a presigned URL.
    :param size: its length in bytes.
    :param md5: hex MD5 of its content, when the store knows it (S3 multipart and SSE-KMS
        objects have no usable MD5).
    :param crc32c: hex CRC32C when the store reports one (GCS and local), else None.
    :param content_type: its MIME type, when the store keeps one.
    :param metadata: its custom metadata (empty for ``file://``, which keeps none).
    """

    uri: str
    size: int
    md5: str | None
    crc32c: str | None = None
    content_type: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)


class PresignedURL:
    """A URL that lets its holder PUT one object: a credential.

    ``str()`` and ``repr()`` show it redacted; only :meth:`reveal` returns the real URL, to be
    handed to Runware as ``uploadEndpoint`` and nowhere else. It refuses to be pickled, so it
    cannot slip into XCom or trigger kwargs by accident.
    """

    __slots__ = ("_url", "expires_at", "uri")

    def __init__(self, url: str, *, uri: str, expires_at: datetime) -> None:
        self._url = url
        self.uri = uri
        self.expires_at = expires_at

    def reveal(self) -> str:
        """The real URL, with its signature. Do not log it."""
        return self._url

    def __str__(self) -> str:
        return redact_url(self._url)

    def __repr__(self) -> str:
        return f"PresignedURL(uri={self.uri!r}, expires_at={self.expires_at.isoformat()!r})"

    def __reduce__(self) -> NoReturn:
        raise TypeError("a presigned URL is a credential and is never serialized")


@runtime_checkable
class ObjectStore(Protocol):
    """A destination backend: write, check and presign objects under one URI scheme."""

    scheme: str

    def write(
        self,
        uri: StorageURI | str,
        data: BinaryIO,
        *,
        content_type: str,
        metadata: Mapping[str, str] | None = None,
        checksums: Checksums | None = None,
    ) -> StoredObject:
        """Store *data* (read from its current position to the end) as the object *uri*.

        The write is atomic: readers see the old object or the new one, never a part. When
        *checksums* is given (as computed while downloading), the store has the server verify
        them (GCS ``md5Hash``/``crc32c``, S3 ``Content-MD5``) and compares what it reports;
        otherwise the store computes them first, which needs a seekable *data*.

        :raises ChecksumMismatchError: what was stored is not what was sent (retryable).
        :raises TransientStorageError: a 5xx, 429, timeout or dropped connection (retryable).
        :raises StorageAuthError: credentials refused or missing.
        """
        ...

    def write_bytes(
        self,
        uri: StorageURI | str,
        data: bytes,
        *,
        content_type: str,
        metadata: Mapping[str, str] | None = None,
    ) -> StoredObject:
        """Store a small in-memory value atomically (used for the manifest)."""
        ...

    def stat(self, uri: StorageURI | str) -> StoredObject:
        """Describe an existing object. :raises ObjectNotFoundError: it does not exist."""
        ...

    def read(self, uri: StorageURI | str) -> bytes:
        """The whole content of an object (for verification, tests and manifests)."""
        ...

    def delete(self, uri: StorageURI | str) -> None:
        """Remove an object; a missing object is not an error."""
        ...

    def update_metadata(
        self,
        uri: StorageURI | str,
        *,
        content_type: str,
        metadata: Mapping[str, str] | None = None,
    ) -> StoredObject:
        """Set the content type and metadata of an existing object without moving its bytes
        through this machine (used after a push-mode upload).
        """
        ...

    def presign_put(self, uri: StorageURI | str, *, expires: timedelta) -> PresignedURL:
        """A URL that lets its holder PUT the object *uri* once, with any content type.

        :raises UnsupportedOperationError: the backend cannot presign (``file://``).
        :raises StorageConfigurationError: the credentials cannot sign.
        """
        ...

    def close(self) -> None:
        """Release connections."""
        ...


class BaseStore:
    """Shared plumbing of the concrete stores: URI checks, checksums, context management."""

    scheme: str = ""

    def __enter__(self) -> BaseStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Release connections (nothing to do by default)."""

    def _object(self, uri: StorageURI | str) -> StorageURI:
        parsed = as_uri(uri)
        if parsed.scheme != self.scheme:
            raise InvalidDestinationError(
                f"{parsed} is not a {self.scheme}:// URI; this store handles {self.scheme}:// only",
                uri=str(parsed),
            )
        return parsed.require_object()

    @staticmethod
    def _checksums_for(data: BinaryIO, checksums: Checksums | None) -> Checksums:
        """The checksums of *data* from its current position: given, or computed and rewound."""
        if checksums is not None:
            return checksums
        if not data.seekable():
            raise StorageConfigurationError(
                "writing a non-seekable stream needs its checksums computed beforehand"
            )
        start = data.tell()
        computed = hash_stream(data)
        data.seek(start)
        return computed

    def write_bytes(
        self,
        uri: StorageURI | str,
        data: bytes,
        *,
        content_type: str,
        metadata: Mapping[str, str] | None = None,
    ) -> StoredObject:
        """Store a small in-memory value atomically (a single PUT, or temp file + rename)."""
        return self.write(uri, io.BytesIO(data), content_type=content_type, metadata=metadata)

    def write(
        self,
        uri: StorageURI | str,
        data: BinaryIO,
        *,
        content_type: str,
        metadata: Mapping[str, str] | None = None,
        checksums: Checksums | None = None,
    ) -> StoredObject:
        """See :meth:`ObjectStore.write`; every concrete store overrides it."""
        raise NotImplementedError


def check_expiry(expires: timedelta | int | float) -> timedelta:
    """Validate a presigned URL's lifetime: positive, at most seven days."""
    delta = expires if isinstance(expires, timedelta) else timedelta(seconds=float(expires))
    if delta <= timedelta(0) or delta > MAX_PRESIGN_EXPIRY:
        raise InvalidDestinationError(
            f"a presigned URL must expire after more than 0 seconds and at most 7 days, not {delta}"
        )
    if delta.total_seconds() != int(delta.total_seconds()):
        delta = timedelta(seconds=int(delta.total_seconds()) or 1)
    return delta


def expiry_time(expires: timedelta) -> datetime:
    """When a URL presigned now for *expires* stops working."""
    return datetime.now(timezone.utc) + expires
