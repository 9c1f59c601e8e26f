"""``file://`` destinations: atomic writes through a temporary file and ``os.replace``.

The temporary file sits next to the target as ``.<name>.wan-partial`` (hidden, same file
system, so the rename is atomic). Its name is a pure function of the target's, so a task killed
mid-write and retried reuses and replaces it instead of leaving an orphan. Local files keep no
content type or custom metadata: :meth:`LocalStore.stat` infers the type from the extension.
"""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Iterator, Mapping
from datetime import timedelta
from pathlib import Path
from typing import BinaryIO

from airflow_provider_wan.storage.base import BaseStore, PresignedURL, StoredObject
from airflow_provider_wan.storage.checksums import CHUNK_SIZE, Checksums, Hasher
from airflow_provider_wan.storage.errors import (
    ChecksumMismatchError,
    ObjectNotFoundError,
    StorageAuthError,
    StorageError,
    TransientStorageError,
    UnsupportedOperationError,
)
from airflow_provider_wan.storage.formats import content_type_for_extension
from airflow_provider_wan.storage.uri import StorageURI

PARTIAL_SUFFIX = ".wan-partial"


class LocalStore(BaseStore):
    """Writes ``file://`` URIs on this machine's file system."""

    scheme = "file"

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
        path = Path(target.path)
        partial = path.with_name(f".{path.name}{PARTIAL_SUFFIX}")
        with _translate_os_errors(target):
            path.parent.mkdir(parents=True, exist_ok=True)
            hasher = Hasher()
            try:
                with open(partial, "wb") as out:
                    while chunk := data.read(CHUNK_SIZE):
                        hasher.update(chunk)
                        out.write(chunk)
                    out.flush()
                    os.fsync(out.fileno())
                written = hasher.result()
                if checksums is not None and (
                    written.size != checksums.size or written.md5 != checksums.md5
                ):
                    raise ChecksumMismatchError(
                        f"wrote {written.size} bytes with MD5 {written.md5_hex} to {target}, "
                        f"expected {checksums.size} bytes with MD5 {checksums.md5_hex}",
                        uri=str(target),
                    )
                os.replace(partial, path)
            finally:
                with contextlib.suppress(FileNotFoundError):
                    partial.unlink()
            _fsync_directory(path.parent)
        return StoredObject(
            uri=str(target),
            size=written.size,
            md5=written.md5_hex,
            crc32c=written.crc32c_hex,
            content_type=content_type,
            metadata={},
        )

    def stat(self, uri: StorageURI | str) -> StoredObject:
        target = self._object(uri)
        path = Path(target.path)
        with _translate_os_errors(target), open(path, "rb") as handle:
            hasher = Hasher()
            while chunk := handle.read(CHUNK_SIZE):
                hasher.update(chunk)
        sums = hasher.result()
        return StoredObject(
            uri=str(target),
            size=sums.size,
            md5=sums.md5_hex,
            crc32c=sums.crc32c_hex,
            content_type=content_type_for_extension(path.suffix),
            metadata={},
        )

    def read(self, uri: StorageURI | str) -> bytes:
        target = self._object(uri)
        with _translate_os_errors(target):
            return Path(target.path).read_bytes()

    def delete(self, uri: StorageURI | str) -> None:
        target = self._object(uri)
        with _translate_os_errors(target), contextlib.suppress(FileNotFoundError):
            Path(target.path).unlink()

    def update_metadata(
        self,
        uri: StorageURI | str,
        *,
        content_type: str,
        metadata: Mapping[str, str] | None = None,
    ) -> StoredObject:
        """Local files keep no metadata: this only confirms the file exists."""
        return self.stat(uri)

    def presign_put(self, uri: StorageURI | str, *, expires: timedelta) -> PresignedURL:
        raise UnsupportedOperationError(
            "push mode needs a gs:// or s3:// destination: Runware cannot PUT to a file:// URI",
            uri=str(uri),
        )


@contextlib.contextmanager
def _translate_os_errors(target: StorageURI) -> Iterator[None]:
    try:
        yield
    except StorageError:
        raise
    except FileNotFoundError:
        raise ObjectNotFoundError(f"{target} does not exist", uri=str(target)) from None
    except PermissionError as exc:
        raise StorageAuthError(
            f"permission denied on {target}: {exc.strerror}", uri=str(target)
        ) from None
    except OSError as exc:
        error = TransientStorageError if exc.errno in (errno.EAGAIN, errno.EINTR) else StorageError
        raise error(f"cannot write {target}: {exc.strerror or exc}", uri=str(target)) from None


def _fsync_directory(directory: Path) -> None:
    """Make the rename durable (best effort: not every platform allows opening a directory)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
