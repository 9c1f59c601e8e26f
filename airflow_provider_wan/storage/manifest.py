"""The run manifest: JSON Lines, one line per stored image and one per failure, written last.

A run is complete exactly when its manifest exists: it is written after every image was
stored and verified, in one atomic operation (a single PUT on GCS and S3, temp file +
``os.replace`` locally). Its default name is ``<destination base>/_manifests/<run_id>.jsonl``;
writing the same run again replaces it, and lines are deduplicated (images by image UUID, or
URI when it is unknown; failures by task and image UUID) and sorted, so a rerun never counts
an image twice.

Image line (``"kind": "image"``)::

    {"kind": "image", "item_key": "sku-1", "task_uuid": "...", "image_uuid": "...",
     "seed": 42, "cost": 0.03, "uri": "gs://b/p/sku-1-0.jpg", "bytes": 123456,
     "md5": "<32 hex>", "format": "JPG", "width": 1024, "height": 1024,
     "prompt_hash": "<32 hex>"}

Failure line (``"kind": "failure"``)::

    {"kind": "failure", "item_key": "sku-2", "task_uuid": "...", "image_uuid": null,
     "code": "invalidImage", "message": "..."}

Messages are redacted on the way in: a presigned URL or signature never lands in a manifest.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Sequence
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator

from airflow_provider_wan.api.redaction import redact_text
from airflow_provider_wan.storage.base import MANIFEST_CONTENT_TYPE, ObjectStore, StoredObject
from airflow_provider_wan.storage.errors import InvalidDestinationError, StorageError
from airflow_provider_wan.storage.uri import StorageURI, as_uri, parse_uri

MANIFEST_DIR = "_manifests"
_SAFE_RUN_ID = re.compile(r"[^A-Za-z0-9._-]")
_MAX_RUN_ID = 150


class _Line(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class ImageLine(_Line):
    """One stored image."""

    kind: Literal["image"] = "image"
    item_key: str
    task_uuid: str
    image_uuid: str | None = None
    seed: int | None = None
    cost: float | None = None
    uri: str
    size: int = Field(alias="bytes", ge=0)
    md5: str | None = Field(default=None, pattern=r"^[0-9a-f]{32}$")
    format: Literal["JPG", "PNG", "WEBP"]
    width: int | None = Field(default=None, gt=0)
    height: int | None = Field(default=None, gt=0)
    prompt_hash: str | None = None

    @field_validator("uri")
    @classmethod
    def _storage_uri(cls, value: str) -> str:
        """Only gs://, s3:// or file:// names: never an https (possibly presigned) URL."""
        return str(parse_uri(value).require_object())


class FailureLine(_Line):
    """One failed task (Runware's error) or image (a storage error)."""

    kind: Literal["failure"] = "failure"
    item_key: str
    task_uuid: str
    image_uuid: str | None = None
    code: str
    message: str

    @field_validator("message")
    @classmethod
    def _redacted(cls, value: str) -> str:
        return redact_text(value)


ManifestLine = Annotated[ImageLine | FailureLine, Field(discriminator="kind")]
_LINE: TypeAdapter[ImageLine | FailureLine] = TypeAdapter(ManifestLine)


def sanitize_run_id(run_id: str) -> str:
    """An object-name-safe form of an Airflow run id, still unique.

    Characters outside ``A-Z a-z 0-9 . _ -`` become ``_``; when anything changed (or the id was
    cut to length), a short hash of the original is appended so that ``a:b`` and ``a_b`` stay
    distinct. ``manual__2025-01-31T00:00:00+00:00`` becomes
    ``manual__2025-01-31T00_00_00_00_00-<8 hex>``.
    """
    if not run_id:
        raise InvalidDestinationError("a run id is needed to name the manifest")
    safe = _SAFE_RUN_ID.sub("_", run_id)[:_MAX_RUN_ID].strip(".")
    if safe != run_id or not safe:
        digest = hashlib.sha256(run_id.encode("utf-8")).hexdigest()[:8]
        safe = f"{safe}-{digest}" if safe else digest
    return safe


def manifest_uri(base: StorageURI | str, run_id: str) -> StorageURI:
    """``<base>/_manifests/<sanitized run_id>.jsonl`` (*base* is the destination prefix)."""
    prefix = as_uri(base)
    if not prefix.is_prefix:
        prefix = prefix.parent
    return prefix.join(f"{MANIFEST_DIR}/{sanitize_run_id(run_id)}.jsonl")


def normalize(lines: Iterable[ImageLine | FailureLine]) -> list[ImageLine | FailureLine]:
    """Deduplicate (last wins) and sort: images by (item key, URI), then failures.

    :raises InvalidDestinationError: two different images claim the same URI.
    """
    images: dict[str, ImageLine] = {}
    failures: dict[tuple[str, str | None], FailureLine] = {}
    for line in lines:
        if isinstance(line, ImageLine):
            images[line.image_uuid or line.uri] = line
        else:
            failures[(line.task_uuid, line.image_uuid)] = line
    owners: dict[str, str] = {}
    for key, line in images.items():
        other = owners.setdefault(line.uri, key)
        if other != key:
            raise InvalidDestinationError(
                f"images {other} and {key} are both listed at {line.uri}",
                uri=line.uri,
            )
    sorted_images = sorted(images.values(), key=lambda line: (line.item_key, line.uri))
    ordered: list[ImageLine | FailureLine] = list(sorted_images)
    ordered.extend(sorted(failures.values(), key=lambda f: (f.item_key, f.task_uuid)))
    return ordered


def dumps(lines: Iterable[ImageLine | FailureLine]) -> str:
    """The manifest text: one compact JSON object per line, wire names (``bytes``) as keys."""
    return "".join(
        json.dumps(line.model_dump(mode="json", by_alias=True), ensure_ascii=False) + "\n"
        for line in normalize(lines)
    )


def loads(text: str) -> list[ImageLine | FailureLine]:
    """Parse manifest text; the error names the line that is wrong."""
    lines: list[ImageLine | FailureLine] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            lines.append(_LINE.validate_json(raw))
        except ValidationError as exc:
            raise StorageError(f"manifest line {number} is invalid: {exc}") from None
    return lines


def write_manifest(
    store: ObjectStore,
    uri: StorageURI | str,
    lines: Iterable[ImageLine | FailureLine],
) -> StoredObject:
    """Write the manifest atomically (replacing any previous one of the same run)."""
    text = dumps(lines)
    return store.write_bytes(uri, text.encode("utf-8"), content_type=MANIFEST_CONTENT_TYPE)


def read_manifest(store: ObjectStore, uri: StorageURI | str) -> list[ImageLine | FailureLine]:
    """Read and validate a manifest. :raises ObjectNotFoundError: the run is not complete."""
    return loads(store.read(uri).decode("utf-8"))


def summarize(lines: Sequence[ImageLine | FailureLine]) -> dict[str, int | float]:
    """Small, JSON-native counts for XCom: images, failures, bytes, cost (USD)."""
    images = [line for line in lines if isinstance(line, ImageLine)]
    return {
        "images": len(images),
        "failures": len(lines) - len(images),
        "bytes": sum(line.size for line in images),
        "cost": round(sum(line.cost or 0.0 for line in images), 6),
    }
