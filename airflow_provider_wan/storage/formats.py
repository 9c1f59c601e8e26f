"""Image formats as Runware names them (``outputFormat``), with their MIME types and extensions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from airflow_provider_wan.storage.errors import InvalidDestinationError


@dataclass(frozen=True)
class ImageFormat:
    """One output format: its wire name, MIME type, file extension and Pillow's name for it."""

    name: str
    content_type: str
    extension: str
    pillow_format: str


FORMATS: Final = {
    "JPG": ImageFormat("JPG", "image/jpeg", "jpg", "JPEG"),
    "PNG": ImageFormat("PNG", "image/png", "png", "PNG"),
    "WEBP": ImageFormat("WEBP", "image/webp", "webp", "WEBP"),
}
_ALIASES: Final = {"JPEG": "JPG"}


def image_format(name: str) -> ImageFormat:
    """Look up a format by its Runware name (``JPG``, ``PNG``, ``WEBP``; case-insensitive)."""
    key = name.strip().upper()
    key = _ALIASES.get(key, key)
    try:
        return FORMATS[key]
    except KeyError:
        raise InvalidDestinationError(
            f"unknown image format {name!r}: expected one of {', '.join(FORMATS)}"
        ) from None


def content_type_for(name: str) -> str:
    """``JPG`` -> ``image/jpeg``, ``PNG`` -> ``image/png``, ``WEBP`` -> ``image/webp``."""
    return image_format(name).content_type


def extension_for(name: str) -> str:
    """``JPG`` -> ``jpg``, ``PNG`` -> ``png``, ``WEBP`` -> ``webp``."""
    return image_format(name).extension


def format_from_pillow(pillow_format: str | None) -> ImageFormat | None:
    """The format Pillow detected (``JPEG``, ``PNG``, ``WEBP``), or None for anything else."""
    for fmt in FORMATS.values():
        if fmt.pillow_format == pillow_format:
            return fmt
    return None


def content_type_for_extension(extension: str) -> str | None:
    """The MIME type of a file extension this provider writes, or None."""
    ext = extension.lower().lstrip(".")
    if ext == "jsonl":
        return "application/x-ndjson"
    for fmt in FORMATS.values():
        if fmt.extension == ext or (ext == "jpeg" and fmt.name == "JPG"):
            return fmt.content_type
    return None
