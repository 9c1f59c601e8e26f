"""The errors of the storage layer: one small hierarchy, every message free of credentials.

Every error is a :class:`StorageError`. ``retryable`` says whether trying the same operation
again may succeed (a dropped connection, a truncated download, a 503); ``code`` is a short
camelCase name fit for a manifest's failure line. Messages pass through
:func:`~airflow_provider_wan.api.redaction.redact_text`, so a presigned URL, a signature or
inline image data never reaches a log or a traceback through this package's exceptions.
"""

from __future__ import annotations

from typing import ClassVar

from airflow_provider_wan.api.redaction import redact_text, redact_url


class StorageError(Exception):
    """Something went wrong moving an image to, or checking it in, a destination.

    :param message: what happened, in words; URLs in it are redacted.
    :param uri: the destination or source concerned, if any (redacted too).
    """

    code: ClassVar[str] = "storageError"
    retryable: ClassVar[bool] = False

    def __init__(self, message: str, *, uri: str | None = None) -> None:
        self.uri = redact_url(uri) if uri else None
        super().__init__(redact_text(message))

    @property
    def message(self) -> str:
        """The (redacted) message."""
        return str(self)


class InvalidDestinationError(StorageError, ValueError):
    """A destination URI or template is malformed; the message names the rule broken."""

    code = "invalidDestination"


class NameCollisionError(InvalidDestinationError):
    """Two planned images render to the same object name.

    :param uri: the name both images render to.
    :param first: a description of the first image (item key and index).
    :param second: a description of the second image.
    """

    code = "destinationCollision"

    def __init__(self, message: str, *, uri: str, first: str, second: str) -> None:
        super().__init__(message, uri=uri)
        self.first = first
        self.second = second


class StorageConfigurationError(StorageError):
    """The store cannot be used as configured (missing bucket, unusable credentials...)."""

    code = "storageConfiguration"


class UnsupportedOperationError(StorageConfigurationError):
    """The backend cannot do this (e.g. presigning a ``file://`` URI)."""

    code = "unsupportedOperation"


class StorageAuthError(StorageError):
    """The credentials were refused, or are missing, for this operation."""

    code = "storageAuth"


class ObjectNotFoundError(StorageError):
    """The object does not exist."""

    code = "objectNotFound"


class TransientStorageError(StorageError):
    """The store failed in a way that may pass (5xx, 429, timeout, dropped connection)."""

    code = "storageTransient"
    retryable = True


class ChecksumMismatchError(StorageError):
    """The stored object's size or checksum differs from the bytes that were sent."""

    code = "checksumMismatch"
    retryable = True


class ImplausibleObjectError(StorageError):
    """An object exists but its size is not plausible for an image (push-mode check)."""

    code = "implausibleObject"


class DownloadError(StorageError):
    """Getting an image's bytes from its source failed."""

    code = "downloadFailed"


class UntrustedSourceError(DownloadError):
    """The source URL (or a redirect) points outside the allowed origins, or is not https."""

    code = "untrustedSource"


class InvalidImageError(DownloadError):
    """The body is not an image of the expected kind (content type, format, undecodable)."""

    code = "invalidImage"


class ImageTooLargeError(DownloadError):
    """The body is larger than the configured cap."""

    code = "imageTooLarge"


class TransientDownloadError(DownloadError):
    """The download failed in a way that may pass (5xx, 408, 429, timeout, connection)."""

    code = "downloadTransient"
    retryable = True


class CorruptDownloadError(DownloadError):
    """The body arrived truncated or does not match its announced length or checksum."""

    code = "downloadCorrupt"
    retryable = True


class PullFailedError(StorageError):
    """Raised by :meth:`PullReport.raise_for_failures` when some images were not stored."""

    code = "pullFailed"


class PushFailedError(StorageError):
    """Raised by :meth:`PushReport.raise_for_failures` when uploaded images are missing."""

    code = "pushFailed"
