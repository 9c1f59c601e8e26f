"""``gs://`` destinations with google-cloud-storage.

Uploads carry the MD5 and CRC32C computed while downloading in the object's metadata
(``md5Hash``, ``crc32c``), so GCS itself refuses bytes that do not match; the hashes GCS reports
back are compared too. ``STORAGE_EMULATOR_HOST`` is honoured (the client then talks to the
emulator anonymously). Presigned URLs are v4 signed PUT URLs that sign only the ``host``
header, so Runware may send any ``Content-Type``.

Memory: google-cloud-storage sends objects up to 8 MiB as one multipart request read into
memory, larger ones as a resumable upload in ``chunk_size`` pieces; per concurrent upload that
is at most ``max(8 MiB, chunk_size)``, whatever the number of images.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from datetime import timedelta
from typing import Any, BinaryIO

from airflow_provider_wan.storage.base import (
    BaseStore,
    PresignedURL,
    StoredObject,
    check_expiry,
    expiry_time,
)
from airflow_provider_wan.storage.checksums import Checksums, decode_base64_digest
from airflow_provider_wan.storage.errors import (
    ChecksumMismatchError,
    ObjectNotFoundError,
    StorageAuthError,
    StorageConfigurationError,
    StorageError,
    TransientStorageError,
)
from airflow_provider_wan.storage.uri import StorageURI

EMULATOR_ENV = "STORAGE_EMULATOR_HOST"
DEFAULT_SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)
RESUMABLE_CHUNK_SIZE = 8 * 1024 * 1024  # a multiple of 256 KiB, as GCS requires
_TRANSIENT_STATUS = frozenset({408, 429, 500, 502, 503, 504})


def emulator_host() -> str | None:
    """The GCS emulator's base URL from ``STORAGE_EMULATOR_HOST``, or None."""
    return os.environ.get(EMULATOR_ENV) or None


def create_gcs_client(*, credentials: Any = None, project: str | None = None) -> Any:
    """A ``google.cloud.storage.Client``.

    With ``STORAGE_EMULATOR_HOST`` set, the client talks to the emulator with anonymous
    credentials whatever *credentials* is (the emulator checks none, and real ones would try to
    reach Google for a token). Otherwise *credentials*, or the machine's default credentials
    (``google.auth.default``) when None.

    :raises StorageAuthError: no credentials were given and none could be found.
    """
    from google.cloud import storage

    if emulator_host():
        from google.auth import credentials as google_credentials

        anonymous: Any = google_credentials.AnonymousCredentials
        return storage.Client(project=project or "wan-emulator", credentials=anonymous())
    if credentials is None:
        import google.auth
        from google.auth.exceptions import DefaultCredentialsError

        try:
            credentials, default_project = google.auth.default(scopes=list(DEFAULT_SCOPES))
        except DefaultCredentialsError as exc:
            raise StorageAuthError(
                "no Google Cloud credentials: configure the connection (key_path or "
                f"keyfile_dict) or the machine's default credentials ({exc})"
            ) from None
        project = project or default_project
    return storage.Client(project=project, credentials=credentials)


class GcsStore(BaseStore):
    """Reads, writes and presigns ``gs://`` objects.

    :param client: a ``google.cloud.storage.Client`` (see :func:`create_gcs_client`).
    :param signing_credentials: credentials able to sign URLs (a service account key, or
        credentials that can call IAM ``signBlob``); defaults to the client's own.
    :param timeout: seconds for each HTTP request.
    """

    scheme = "gs"

    def __init__(
        self,
        client: Any,
        *,
        signing_credentials: Any = None,
        timeout: float = 60.0,
        chunk_size: int = RESUMABLE_CHUNK_SIZE,
    ) -> None:
        self._client = client
        self._signing_credentials = signing_credentials
        self._timeout = timeout
        self._chunk_size = chunk_size

    def __repr__(self) -> str:
        return f"GcsStore(endpoint={getattr(self._client, 'api_endpoint', None)!r})"

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._client.close()

    def _blob(self, uri: StorageURI) -> Any:
        return self._client.bucket(uri.bucket).blob(uri.key, chunk_size=self._chunk_size)

    def write(
        self,
        uri: StorageURI | str,
        data: BinaryIO,
        *,
        content_type: str,
        metadata: Mapping[str, str] | None = None,
        checksums: Checksums | None = None,
    ) -> StoredObject:
        target = self._object(uri)
        sums = self._checksums_for(data, checksums)
        blob = self._blob(target)
        blob.content_type = content_type
        if metadata:
            blob.metadata = dict(metadata)
        # Sent as object metadata: GCS rejects the upload if the bytes do not match.
        blob.md5_hash = sums.md5_base64
        blob.crc32c = sums.crc32c_base64
        with _translate(target):
            blob.upload_from_file(
                data,
                size=sums.size,
                content_type=content_type,
                timeout=self._timeout,
                retry=None,  # the caller's retry policy rewinds the stream and tries again
            )
        stored = _stored(target, blob)
        if (
            stored.size != sums.size
            or stored.md5 != sums.md5_hex
            or (stored.crc32c is not None and stored.crc32c != sums.crc32c_hex)
        ):
            raise ChecksumMismatchError(
                f"GCS reports {stored.size} bytes, MD5 {stored.md5}, CRC32C {stored.crc32c} for "
                f"{target}; sent {sums.size} bytes, MD5 {sums.md5_hex}, CRC32C {sums.crc32c_hex}",
                uri=str(target),
            )
        return stored

    def stat(self, uri: StorageURI | str) -> StoredObject:
        target = self._object(uri)
        with _translate(target):
            blob = self._client.bucket(target.bucket).get_blob(target.key, timeout=self._timeout)
        if blob is None:
            raise ObjectNotFoundError(f"{target} does not exist", uri=str(target))
        return _stored(target, blob)

    def read(self, uri: StorageURI | str) -> bytes:
        target = self._object(uri)
        with _translate(target):
            content: bytes = self._blob(target).download_as_bytes(timeout=self._timeout)
        return content

    def delete(self, uri: StorageURI | str) -> None:
        from google.api_core.exceptions import NotFound

        target = self._object(uri)
        with _translate(target), contextlib.suppress(NotFound):
            self._blob(target).delete(timeout=self._timeout)

    def update_metadata(
        self,
        uri: StorageURI | str,
        *,
        content_type: str,
        metadata: Mapping[str, str] | None = None,
    ) -> StoredObject:
        target = self._object(uri)
        with _translate(target):
            blob = self._client.bucket(target.bucket).get_blob(target.key, timeout=self._timeout)
            if blob is None:
                raise ObjectNotFoundError(f"{target} does not exist", uri=str(target))
            blob.content_type = content_type
            if metadata:
                blob.metadata = dict(metadata)
            blob.patch(timeout=self._timeout)
        return _stored(target, blob)

    def presign_put(self, uri: StorageURI | str, *, expires: timedelta) -> PresignedURL:
        target = self._object(uri)
        lifetime = check_expiry(expires)
        signing = self._signing_kwargs()
        with _translate(target):
            url: str = self._blob(target).generate_signed_url(
                version="v4",
                method="PUT",
                expiration=lifetime,
                **signing,
            )
        return PresignedURL(url, uri=str(target), expires_at=expiry_time(lifetime))

    def _signing_kwargs(self) -> dict[str, Any]:
        from google.auth.credentials import Signing

        credentials = self._signing_credentials or getattr(self._client, "_credentials", None)
        if isinstance(credentials, Signing):
            if credentials.signer_email in (None, "default"):
                # Compute Engine credentials learn their e-mail on the first refresh.
                _refresh(credentials)
            return {"credentials": credentials}
        raise StorageConfigurationError(
            "these Google credentials cannot sign URLs (push mode): use a connection with a "
            "service-account key (key_path or keyfile_dict), or run as a service account that "
            "may call IAM signBlob"
        )


def _refresh(credentials: Any) -> None:
    import google.auth.transport.requests

    try:
        credentials.refresh(google.auth.transport.requests.Request())
    except Exception as exc:
        raise StorageAuthError(f"cannot refresh Google credentials to sign a URL: {exc}") from None


def _stored(target: StorageURI, blob: Any) -> StoredObject:
    md5 = decode_base64_digest(blob.md5_hash)
    crc = decode_base64_digest(blob.crc32c)
    return StoredObject(
        uri=str(target),
        size=int(blob.size or 0),
        md5=md5.hex() if md5 else None,
        crc32c=crc.hex() if crc else None,
        content_type=blob.content_type,
        metadata=dict(blob.metadata or {}),
    )


@contextlib.contextmanager
def _translate(target: StorageURI) -> Iterator[None]:
    """Turn google-cloud-storage's exceptions into this package's, without their URLs."""
    import requests
    from google.api_core import exceptions as api
    from google.auth import exceptions as auth
    from google.cloud.storage.exceptions import DataCorruption, InvalidResponse

    where = str(target)
    try:
        yield
    except StorageError:
        raise
    except api.NotFound:
        raise ObjectNotFoundError(f"{target} (or its bucket) does not exist", uri=where) from None
    except (api.Unauthorized, api.Forbidden, auth.DefaultCredentialsError, auth.RefreshError) as e:
        raise StorageAuthError(f"access to {target} refused: {_describe(e)}", uri=where) from None
    except api.BadRequest as exc:
        text = _describe(exc)
        if "md5" in text.lower() or "crc32c" in text.lower() or "hash" in text.lower():
            raise ChecksumMismatchError(
                f"GCS refused the bytes sent to {target}: {text}", uri=where
            ) from None
        raise StorageError(f"GCS refused the request for {target}: {text}", uri=where) from None
    except DataCorruption as exc:
        raise ChecksumMismatchError(
            f"checksum mismatch on {target}: {_describe(exc)}", uri=where
        ) from None
    except api.GoogleAPICallError as exc:
        if exc.code is not None and int(exc.code) in _TRANSIENT_STATUS:
            raise TransientStorageError(
                f"GCS failed on {target} (may pass): {_describe(exc)}", uri=where
            ) from None
        raise StorageError(f"GCS failed on {target}: {_describe(exc)}", uri=where) from None
    except InvalidResponse as exc:
        status = getattr(getattr(exc, "response", None), "status_code", None)
        error = TransientStorageError if status in _TRANSIENT_STATUS else StorageError
        raise error(f"GCS answered {status} for {target}", uri=where) from None
    except (requests.ConnectionError, requests.Timeout, auth.TransportError, OSError) as exc:
        raise TransientStorageError(
            f"connection to GCS failed for {target}: {type(exc).__name__}", uri=where
        ) from None


def _describe(exc: BaseException) -> str:
    message = getattr(exc, "message", None) or str(exc)
    return f"{type(exc).__name__}: {str(message)[:300]}"
