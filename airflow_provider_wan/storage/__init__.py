"""Destinations for generated images: ``gs://``, ``s3://`` and ``file://``.

Pull mode streams images into a store (:mod:`.pull`), push mode presigns PUT URLs and confirms
the uploads (:mod:`.push`), and a JSON Lines manifest is written last (:mod:`.manifest`).
Nothing here imports Airflow: :mod:`airflow_provider_wan.hooks.storage` turns Airflow
connections into stores. The backends live in :mod:`.local`, :mod:`.gcs` and :mod:`.s3`
(boto3, the ``s3`` extra, is imported only when an S3 store is created).
"""

from __future__ import annotations

from airflow_provider_wan.api.redaction import redact_text, redact_url
from airflow_provider_wan.storage.base import ObjectStore, PresignedURL, StoredObject
from airflow_provider_wan.storage.checksums import Checksums
from airflow_provider_wan.storage.errors import (
    ChecksumMismatchError,
    CorruptDownloadError,
    DownloadError,
    ImageTooLargeError,
    ImplausibleObjectError,
    InvalidDestinationError,
    InvalidImageError,
    NameCollisionError,
    ObjectNotFoundError,
    PullFailedError,
    PushFailedError,
    StorageAuthError,
    StorageConfigurationError,
    StorageError,
    TransientDownloadError,
    TransientStorageError,
    UnsupportedOperationError,
    UntrustedSourceError,
)
from airflow_provider_wan.storage.formats import content_type_for, extension_for
from airflow_provider_wan.storage.local import LocalStore
from airflow_provider_wan.storage.manifest import (
    FailureLine,
    ImageLine,
    manifest_uri,
    read_manifest,
    sanitize_run_id,
    summarize,
    write_manifest,
)
from airflow_provider_wan.storage.metadata import ImageMetadata, prompt_hash
from airflow_provider_wan.storage.naming import DestinationTemplate, ImageName, check_unique
from airflow_provider_wan.storage.pull import (
    ImagePuller,
    ImageSource,
    PulledImage,
    PullFailure,
    PullJob,
    PullReport,
    SourcePolicy,
    pull_images,
)
from airflow_provider_wan.storage.push import (
    ConfirmedImage,
    PushedImage,
    PushFailure,
    PushReport,
    confirm_pushed,
    presign_uploads,
)
from airflow_provider_wan.storage.uri import StorageURI, parse_uri

__all__ = [
    "ChecksumMismatchError",
    "Checksums",
    "ConfirmedImage",
    "CorruptDownloadError",
    "DestinationTemplate",
    "DownloadError",
    "FailureLine",
    "ImageLine",
    "ImageMetadata",
    "ImageName",
    "ImagePuller",
    "ImageSource",
    "ImageTooLargeError",
    "ImplausibleObjectError",
    "InvalidDestinationError",
    "InvalidImageError",
    "LocalStore",
    "NameCollisionError",
    "ObjectNotFoundError",
    "ObjectStore",
    "PresignedURL",
    "PullFailedError",
    "PullFailure",
    "PullJob",
    "PullReport",
    "PulledImage",
    "PushFailedError",
    "PushFailure",
    "PushReport",
    "PushedImage",
    "SourcePolicy",
    "StorageAuthError",
    "StorageConfigurationError",
    "StorageError",
    "StorageURI",
    "StoredObject",
    "TransientDownloadError",
    "TransientStorageError",
    "UnsupportedOperationError",
    "UntrustedSourceError",
    "check_unique",
    "confirm_pushed",
    "content_type_for",
    "extension_for",
    "manifest_uri",
    "parse_uri",
    "presign_uploads",
    "prompt_hash",
    "pull_images",
    "read_manifest",
    "redact_text",
    "redact_url",
    "sanitize_run_id",
    "summarize",
    "write_manifest",
]
