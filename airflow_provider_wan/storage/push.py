"""Push mode: Runware PUTs each image to a presigned URL; the worker only checks the result.

Before submission the operator presigns one PUT URL per single-image task
(:meth:`ObjectStore.presign_put`, or :func:`presign_uploads`) and passes
:meth:`PresignedURL.reveal` as the task's ``uploadEndpoint``. After completion,
:func:`confirm_pushed` checks that each object exists with a plausible size, then sets its
content type and provenance metadata (Runware's PUT headers are not documented) with a
metadata-only call: no image byte crosses the worker.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta

from airflow_provider_wan.api.retry import RetryPolicy
from airflow_provider_wan.storage.base import ObjectStore, PresignedURL, StoredObject
from airflow_provider_wan.storage.errors import (
    ImplausibleObjectError,
    ObjectNotFoundError,
    PushFailedError,
    StorageError,
)
from airflow_provider_wan.storage.formats import image_format
from airflow_provider_wan.storage.manifest import FailureLine, ImageLine
from airflow_provider_wan.storage.metadata import ImageMetadata
from airflow_provider_wan.storage.pull import DEFAULT_MAX_BYTES
from airflow_provider_wan.storage.retrying import DEFAULT_STORAGE_RETRY, call_with_retry
from airflow_provider_wan.storage.uri import StorageURI, as_uri

log = logging.getLogger(__name__)

DEFAULT_MIN_BYTES = 100
"""Smaller than any real JPEG, PNG or WEBP at Wan2.6's minimum size (576 x 1024)."""


class _NotThereYet(ObjectNotFoundError):
    """Not found, but worth another look: the PUT may land just after the task reports."""

    retryable = True


@dataclass(frozen=True)
class PushedImage:
    """An image Runware was asked to PUT, with what the worker knows about it.

    :param item_key: the item it belongs to.
    :param uri: the destination that was presigned.
    :param output_format: the requested format (gives the content type).
    :param metadata: task UUID, and after completion image UUID and seed; prompt hash.
    :param width: the requested width (the manifest's width in push mode).
    :param height: the requested height.
    :param cost: the result's cost in USD.
    """

    item_key: str
    uri: StorageURI | str
    output_format: str
    metadata: ImageMetadata
    width: int | None = None
    height: int | None = None
    cost: float | None = None


@dataclass(frozen=True)
class ConfirmedImage:
    """An object Runware uploaded, found with a plausible size."""

    image: PushedImage
    stored: StoredObject

    def manifest_line(self) -> ImageLine:
        meta = self.image.metadata
        return ImageLine(
            item_key=self.image.item_key,
            task_uuid=meta.task_uuid,
            image_uuid=meta.image_uuid,
            seed=meta.seed,
            cost=self.image.cost,
            uri=self.stored.uri,
            size=self.stored.size,
            md5=self.stored.md5,
            format=image_format(self.image.output_format).name,  # type: ignore[arg-type]
            width=self.image.width,
            height=self.image.height,
            prompt_hash=meta.prompt_hash,
        )


@dataclass(frozen=True)
class PushFailure:
    """An expected object that is missing or implausible."""

    image: PushedImage
    error: StorageError

    def manifest_line(self) -> FailureLine:
        return FailureLine(
            item_key=self.image.item_key,
            task_uuid=self.image.metadata.task_uuid,
            image_uuid=self.image.metadata.image_uuid,
            code=self.error.code,
            message=str(self.error),
        )


@dataclass
class PushReport:
    """Confirmed objects and failures, each in the order given."""

    confirmed: list[ConfirmedImage] = field(default_factory=list)
    failed: list[PushFailure] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failed

    def manifest_lines(self) -> list[ImageLine | FailureLine]:
        lines: list[ImageLine | FailureLine] = [c.manifest_line() for c in self.confirmed]
        lines.extend(f.manifest_line() for f in self.failed)
        return lines

    def raise_for_failures(self) -> None:
        if not self.failed:
            return
        first = self.failed[0]
        raise PushFailedError(
            f"{len(self.failed)} of {len(self.failed) + len(self.confirmed)} uploaded images "
            f"could not be confirmed; first: {first.image.item_key!r} -> {first.image.uri}: "
            f"[{first.error.code}] {first.error}"
        )


def presign_uploads(
    store: ObjectStore, uris: Iterable[StorageURI | str], *, expires: timedelta
) -> list[PresignedURL]:
    """One presigned PUT URL per destination, in order. Never log what this returns."""
    return [store.presign_put(uri, expires=expires) for uri in uris]


def confirm_pushed(
    store: ObjectStore,
    images: Iterable[PushedImage],
    *,
    min_bytes: int = DEFAULT_MIN_BYTES,
    max_bytes: int = DEFAULT_MAX_BYTES,
    set_metadata: bool = True,
    wait_for_missing: bool = True,
    concurrency: int = 8,
    retry: RetryPolicy = DEFAULT_STORAGE_RETRY,
    sleep: Callable[[float], None] = time.sleep,
) -> PushReport:
    """Check that every pushed object exists with a plausible size; set its metadata.

    :param min_bytes: smaller objects are :class:`ImplausibleObjectError` (an error page, an
        empty PUT).
    :param max_bytes: larger objects are implausible too.
    :param set_metadata: set content type (from the format) and provenance metadata.
    :param wait_for_missing: retry a missing object with the retry policy's backoff before
        reporting it (the PUT may land just after the task reports success).
    """

    def confirm(image: PushedImage) -> ConfirmedImage:
        target = as_uri(image.uri).require_object()
        fmt = image_format(image.output_format)

        def stat() -> StoredObject:
            try:
                return store.stat(target)
            except ObjectNotFoundError as exc:
                if wait_for_missing and not isinstance(exc, _NotThereYet):
                    raise _NotThereYet(
                        f"{target} was not uploaded (Runware reported the task done)",
                        uri=str(target),
                    ) from None
                raise

        stored, _ = call_with_retry(stat, policy=retry, what=f"check of {target}", sleep=sleep)
        if not min_bytes <= stored.size <= max_bytes:
            raise ImplausibleObjectError(
                f"{target} holds {stored.size:,} bytes; an image is expected to have between "
                f"{min_bytes:,} and {max_bytes:,}",
                uri=str(target),
            )
        if set_metadata:
            stored, _ = call_with_retry(
                lambda: store.update_metadata(
                    target,
                    content_type=fmt.content_type,
                    metadata=image.metadata.as_object_metadata(),
                ),
                policy=retry,
                what=f"metadata update of {target}",
                sleep=sleep,
            )
        return ConfirmedImage(image, stored)

    report = PushReport()
    items = list(images)
    with ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix="wan-push") as pool:
        futures = [pool.submit(confirm, image) for image in items]
        for image, future in zip(items, futures, strict=True):
            try:
                report.confirmed.append(future.result())
            except StorageError as exc:
                log.error("pushed image %s for %r: %s", image.uri, image.item_key, exc)
                report.failed.append(PushFailure(image, exc))
    log.info("confirmed %d pushed images (%d failed)", len(report.confirmed), len(report.failed))
    return report
