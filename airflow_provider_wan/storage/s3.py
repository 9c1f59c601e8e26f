"""``s3://`` destinations with boto3 (the ``s3`` extra; imported only when used).

Every upload is one ``PutObject`` with a ``Content-MD5`` header computed while downloading, so
S3 rejects corrupted bytes (``BadDigest``); the ``ETag`` S3 returns (the MD5 of a single-part,
non-KMS object) is compared as well. Presigned URLs are SigV4 ``PutObject`` URLs that sign only
the ``host`` header, so Runware may send any ``Content-Type``.

The client is configured with ``request_checksum_calculation="when_required"``: boto3 >= 1.36
would otherwise add CRC32 trailers that several S3-compatible servers reject; ``Content-MD5``
is the integrity check here.

botocore logs each SigV4 signature at DEBUG level; a filter on the ``botocore.auth`` logger,
installed when an :class:`S3Store` is created, drops those records so a presigned URL's
signature never reaches a log.
"""

from __future__ import annotations

import base64
import contextlib
import logging
import re
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
from airflow_provider_wan.storage.checksums import Checksums
from airflow_provider_wan.storage.errors import (
    ChecksumMismatchError,
    ObjectNotFoundError,
    StorageAuthError,
    StorageConfigurationError,
    StorageError,
    TransientStorageError,
)
from airflow_provider_wan.storage.uri import StorageURI

_MD5_ETAG = re.compile(r"^[0-9a-f]{32}$")
_NOT_FOUND = frozenset({"404", "NoSuchKey", "NotFound"})
_AUTH = frozenset(
    {
        "403",
        "AccessDenied",
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "ExpiredToken",
        "InvalidToken",
        "TokenRefreshRequired",
        "AllAccessDisabled",
    }
)
_CHECKSUM = frozenset({"BadDigest", "InvalidDigest", "XAmzContentSHA256Mismatch"})
_TRANSIENT = frozenset(
    {
        "RequestTimeout",
        "SlowDown",
        "InternalError",
        "ServiceUnavailable",
        "Throttling",
        "ThrottlingException",
        "RequestTimeTooSkewed",
        "500",
        "502",
        "503",
        "504",
    }
)


class _DropSignatures(logging.Filter):
    """botocore logs every SigV4 signature at DEBUG, presigned URLs' included: drop those."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (isinstance(record.msg, str) and record.msg.startswith("Signature:"))


_SIGNATURE_FILTER = _DropSignatures()


def _quiet_botocore_signatures() -> None:
    logger = logging.getLogger("botocore.auth")
    if _SIGNATURE_FILTER not in logger.filters:
        logger.addFilter(_SIGNATURE_FILTER)


def create_s3_client(
    *,
    aws_access_key_id: str | None = None,
    aws_secret_access_key: str | None = None,
    aws_session_token: str | None = None,
    region_name: str | None = None,
    endpoint_url: str | None = None,
    addressing_style: str | None = None,
    connect_timeout: float = 10.0,
    read_timeout: float = 60.0,
    max_pool_connections: int = 32,
) -> Any:
    """A boto3 S3 client; with no keys, boto3's default chain (env, profile, instance role).

    :param endpoint_url: an S3-compatible endpoint (moto, MinIO...); path-style addressing is
        then the default.
    :raises StorageConfigurationError: boto3 is not installed (install the ``s3`` extra).
    """
    try:
        import boto3.session
        from botocore.config import Config
    except ImportError:  # pragma: no cover - exercised only without the extra
        raise StorageConfigurationError(
            "s3:// destinations need boto3: pip install 'airflow-provider-wan[s3]'"
        ) from None
    session = boto3.session.Session(
        aws_access_key_id=aws_access_key_id,
        aws_secret_access_key=aws_secret_access_key,
        aws_session_token=aws_session_token,
        region_name=region_name,
    )
    config = Config(
        signature_version="s3v4",
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        max_pool_connections=max_pool_connections,
        retries={"mode": "standard", "max_attempts": 3},
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
        s3={"addressing_style": addressing_style or ("path" if endpoint_url else "auto")},
    )
    return session.client("s3", endpoint_url=endpoint_url, config=config)


class S3Store(BaseStore):
    """Reads, writes and presigns ``s3://`` objects through a boto3 client (thread-safe)."""

    scheme = "s3"

    def __init__(self, client: Any) -> None:
        self._client = client
        _quiet_botocore_signatures()

    def __repr__(self) -> str:
        return f"S3Store(endpoint={getattr(self._client.meta, 'endpoint_url', None)!r})"

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._client.close()

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
        with _translate(target):
            response = self._client.put_object(
                Bucket=target.bucket,
                Key=target.key,
                Body=_Bounded(data, sums.size),
                ContentLength=sums.size,
                ContentType=content_type,
                ContentMD5=base64.b64encode(sums.md5).decode("ascii"),
                Metadata=dict(metadata or {}),
            )
        etag = str(response.get("ETag", "")).strip('"').lower()
        encrypted = response.get("ServerSideEncryption") == "aws:kms" or response.get(
            "SSECustomerAlgorithm"
        )
        if not encrypted and _MD5_ETAG.match(etag) and etag != sums.md5_hex:
            raise ChecksumMismatchError(
                f"S3 stored {target} with ETag {etag}; the MD5 of the bytes sent is {sums.md5_hex}",
                uri=str(target),
            )
        return StoredObject(
            uri=str(target),
            size=sums.size,
            md5=sums.md5_hex,
            crc32c=None,
            content_type=content_type,
            metadata=dict(metadata or {}),
        )

    def stat(self, uri: StorageURI | str) -> StoredObject:
        target = self._object(uri)
        with _translate(target):
            head = self._client.head_object(Bucket=target.bucket, Key=target.key)
        etag = str(head.get("ETag", "")).strip('"').lower()
        encrypted = head.get("ServerSideEncryption") == "aws:kms" or head.get(
            "SSECustomerAlgorithm"
        )
        return StoredObject(
            uri=str(target),
            size=int(head.get("ContentLength", 0)),
            md5=etag if _MD5_ETAG.match(etag) and not encrypted else None,
            crc32c=None,
            content_type=head.get("ContentType"),
            metadata=dict(head.get("Metadata") or {}),
        )

    def read(self, uri: StorageURI | str) -> bytes:
        target = self._object(uri)
        with _translate(target):
            response = self._client.get_object(Bucket=target.bucket, Key=target.key)
            body: bytes = response["Body"].read()
        return body

    def delete(self, uri: StorageURI | str) -> None:
        target = self._object(uri)
        with _translate(target):
            self._client.delete_object(Bucket=target.bucket, Key=target.key)

    def update_metadata(
        self,
        uri: StorageURI | str,
        *,
        content_type: str,
        metadata: Mapping[str, str] | None = None,
    ) -> StoredObject:
        """Rewrite the object onto itself with new metadata: a server-side copy, no download."""
        target = self._object(uri)
        with _translate(target):
            self._client.copy_object(
                Bucket=target.bucket,
                Key=target.key,
                CopySource={"Bucket": target.bucket, "Key": target.key},
                MetadataDirective="REPLACE",
                ContentType=content_type,
                Metadata=dict(metadata or {}),
            )
        return self.stat(target)

    def presign_put(self, uri: StorageURI | str, *, expires: timedelta) -> PresignedURL:
        target = self._object(uri)
        lifetime = check_expiry(expires)
        with _translate(target):
            url: str = self._client.generate_presigned_url(
                "put_object",
                Params={"Bucket": target.bucket, "Key": target.key},
                ExpiresIn=int(lifetime.total_seconds()),
                HttpMethod="PUT",
            )
        return PresignedURL(url, uri=str(target), expires_at=expiry_time(lifetime))


class _Bounded:
    """A read-only view of the next *size* bytes of a stream (botocore may rewind it)."""

    def __init__(self, stream: BinaryIO, size: int) -> None:
        self._stream = stream
        self._start = stream.tell()
        self._size = size

    def read(self, amount: int = -1) -> bytes:
        remaining = self._start + self._size - self._stream.tell()
        if remaining <= 0:
            return b""
        if amount is None or amount < 0 or amount > remaining:
            amount = remaining
        return self._stream.read(amount)

    def seek(self, offset: int, whence: int = 0) -> int:
        if whence == 0:
            return self._stream.seek(self._start + offset) - self._start
        if whence == 2:
            return self._stream.seek(self._start + self._size + offset) - self._start
        return self._stream.seek(offset, whence) - self._start

    def tell(self) -> int:
        return self._stream.tell() - self._start

    def seekable(self) -> bool:
        return True

    def __len__(self) -> int:
        return self._size


@contextlib.contextmanager
def _translate(target: StorageURI) -> Iterator[None]:
    """Turn botocore's exceptions into this package's, without URLs or keys."""
    from botocore import exceptions as boto

    where = str(target)
    try:
        yield
    except StorageError:
        raise
    except boto.ClientError as exc:
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        text = f"{code or status}: {str(error.get('Message', ''))[:300]}"
        if code in _NOT_FOUND:
            raise ObjectNotFoundError(f"{target} does not exist ({text})", uri=where) from None
        if code == "NoSuchBucket":
            raise StorageConfigurationError(
                f"the bucket of {target} does not exist ({text})", uri=where
            ) from None
        if code in _AUTH:
            raise StorageAuthError(f"access to {target} refused ({text})", uri=where) from None
        if code in _CHECKSUM:
            raise ChecksumMismatchError(
                f"S3 refused the bytes sent to {target} ({text})", uri=where
            ) from None
        if code in _TRANSIENT or (isinstance(status, int) and (status >= 500 or status == 429)):
            raise TransientStorageError(
                f"S3 failed on {target} (may pass) ({text})", uri=where
            ) from None
        raise StorageError(f"S3 failed on {target} ({text})", uri=where) from None
    except (boto.NoCredentialsError, boto.PartialCredentialsError) as exc:
        raise StorageAuthError(
            f"no usable AWS credentials for {target}: {type(exc).__name__}", uri=where
        ) from None
    except (boto.HTTPClientError, boto.ConnectionError) as exc:
        raise TransientStorageError(
            f"connection to S3 failed for {target}: {type(exc).__name__}", uri=where
        ) from None
    except boto.BotoCoreError as exc:
        raise StorageError(
            f"S3 client error for {target}: {type(exc).__name__}", uri=where
        ) from None
