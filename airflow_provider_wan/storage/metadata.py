"""What every stored image carries as object metadata: where it came from."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

# Hyphenated lower-case keys survive S3 (x-amz-meta-*), GCS and HTTP proxies alike.
TASK_UUID: Final = "task-uuid"
IMAGE_UUID: Final = "image-uuid"
SEED: Final = "seed"
PROMPT_HASH: Final = "prompt-hash"


@dataclass(frozen=True)
class ImageMetadata:
    """The provenance of one image.

    :param task_uuid: the Runware task that produced it.
    :param image_uuid: Runware's UUID for the image (None in push mode before completion).
    :param seed: the seed Runware reports for it.
    :param prompt_hash: a hash of the prompt (see :func:`prompt_hash`), never the prompt.
    """

    task_uuid: str
    image_uuid: str | None = None
    seed: int | None = None
    prompt_hash: str | None = None

    def as_object_metadata(self) -> dict[str, str]:
        """Custom metadata for the stored object (absent values are left out)."""
        values = {
            TASK_UUID: self.task_uuid,
            IMAGE_UUID: self.image_uuid,
            SEED: None if self.seed is None else str(self.seed),
            PROMPT_HASH: self.prompt_hash,
        }
        return {key: value for key, value in values.items() if value is not None}

    @classmethod
    def from_object_metadata(cls, metadata: Mapping[str, str]) -> ImageMetadata:
        """Read back what :meth:`as_object_metadata` wrote."""
        seed = metadata.get(SEED)
        return cls(
            task_uuid=metadata.get(TASK_UUID, ""),
            image_uuid=metadata.get(IMAGE_UUID),
            seed=int(seed) if seed not in (None, "") else None,
            prompt_hash=metadata.get(PROMPT_HASH),
        )


def prompt_hash(positive: str, negative: str | None = None) -> str:
    """A stable SHA-256 (hex, first 32 characters) of the prompts: identifies, never reveals."""
    digest = hashlib.sha256()
    digest.update(positive.encode("utf-8"))
    digest.update(b"\0")
    digest.update((negative or "").encode("utf-8"))
    return digest.hexdigest()[:32]
