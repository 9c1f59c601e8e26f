"""MD5 and CRC32C computed while bytes stream past, in the encodings each store speaks."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from typing import Any, BinaryIO

import google_crc32c

_crc32c: Any = google_crc32c  # untyped C extension

CHUNK_SIZE = 256 * 1024


@dataclass(frozen=True)
class Checksums:
    """Size and digests of one byte stream.

    :param size: length in bytes.
    :param md5: the 16-byte MD5 digest.
    :param crc32c: the 4-byte big-endian CRC32C (Castagnoli) digest, as GCS reports it.
    """

    size: int
    md5: bytes
    crc32c: bytes

    @property
    def md5_hex(self) -> str:
        return self.md5.hex()

    @property
    def md5_base64(self) -> str:
        """The form of GCS ``md5Hash`` and of the ``Content-MD5`` header."""
        return base64.b64encode(self.md5).decode("ascii")

    @property
    def crc32c_hex(self) -> str:
        return self.crc32c.hex()

    @property
    def crc32c_base64(self) -> str:
        """The form of GCS ``crc32c``."""
        return base64.b64encode(self.crc32c).decode("ascii")


class Hasher:
    """Accumulates size, MD5 and CRC32C over chunks, without keeping them."""

    def __init__(self) -> None:
        self._md5 = hashlib.md5(usedforsecurity=False)
        self._crc = _crc32c.Checksum()
        self.size = 0

    def update(self, chunk: bytes) -> None:
        self._md5.update(chunk)
        self._crc.update(chunk)
        self.size += len(chunk)

    def result(self) -> Checksums:
        return Checksums(size=self.size, md5=self._md5.digest(), crc32c=self._crc.digest())


def hash_stream(stream: BinaryIO, *, chunk_size: int = CHUNK_SIZE) -> Checksums:
    """Read *stream* from its current position to the end and return its checksums."""
    hasher = Hasher()
    while chunk := stream.read(chunk_size):
        hasher.update(chunk)
    return hasher.result()


def hash_bytes(data: bytes) -> Checksums:
    """Checksums of an in-memory value."""
    hasher = Hasher()
    hasher.update(data)
    return hasher.result()


def decode_base64_digest(value: str | None) -> bytes | None:
    """Decode a base64 digest as GCS reports it; None when absent or malformed."""
    if not value:
        return None
    try:
        return base64.b64decode(value, validate=True)
    except ValueError:
        return None
