"""Destination URIs: ``gs://bucket/key``, ``s3://bucket/key`` and ``file:///absolute/path``.

A :class:`StorageURI` is parsed and validated once, then passed around. Keys are taken
verbatim (no percent-decoding), so what the user writes is the object's name. The rules are
the intersection of what GCS, S3 and a POSIX file system accept, so a template that works on
one backend works on the others, and two spellings never name the same object: no empty
segments (``a//b``), no ``.`` or ``..`` segments, no control characters, no ``?`` or ``#``,
at most 1024 bytes of UTF-8.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Final

from airflow_provider_wan.storage.errors import InvalidDestinationError

SCHEMES: Final = ("gs", "s3", "file")
MAX_KEY_BYTES: Final = 1024

_GCS_BUCKET = re.compile(r"^[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]$")
_S3_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_IPV4 = re.compile(r"^\d{1,3}(\.\d{1,3}){3}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True, order=True)
class StorageURI:
    """A validated location in a store.

    ``key`` is the object name (``gs``/``s3``) or the absolute path without its leading ``/``
    (``file``). An empty key, or one ending in ``/``, is a prefix (a "folder"), not an object.
    """

    scheme: str
    bucket: str
    key: str

    @classmethod
    def parse(cls, text: str) -> StorageURI:
        """Parse and validate *text*; raise :class:`InvalidDestinationError` naming the rule."""
        return parse_uri(text)

    def __str__(self) -> str:
        return f"{self.scheme}://{self.bucket}/{self.key}"

    @property
    def is_prefix(self) -> bool:
        """Whether this names a folder-like prefix rather than one object."""
        return self.key == "" or self.key.endswith("/")

    @property
    def name(self) -> str:
        """The last segment of the key (the file name)."""
        return self.key.rstrip("/").rpartition("/")[2]

    @property
    def path(self) -> PurePosixPath:
        """The local path of a ``file://`` URI."""
        if self.scheme != "file":
            raise InvalidDestinationError(f"{self} is not a file:// URI", uri=str(self))
        return PurePosixPath("/" + self.key)

    @property
    def parent(self) -> StorageURI:
        """The prefix that contains this object (``gs://b/a/`` for ``gs://b/a/x.png``)."""
        head = self.key.rstrip("/").rpartition("/")[0]
        return StorageURI(self.scheme, self.bucket, f"{head}/" if head else "")

    def join(self, relative: str) -> StorageURI:
        """The URI of *relative* under this prefix, validated."""
        base = self.key if self.is_prefix else f"{self.key}/"
        return parse_uri(f"{self.scheme}://{self.bucket}/{base}{relative}")

    def require_object(self) -> StorageURI:
        """Return ``self`` if it names an object, else raise InvalidDestinationError."""
        if self.is_prefix:
            raise InvalidDestinationError(
                f"{self} names a prefix (it ends with '/' or has no key); "
                "an image or manifest needs an object name",
                uri=str(self),
            )
        return self


def parse_uri(text: str) -> StorageURI:
    """Parse ``gs://``, ``s3://`` or ``file:///`` *text* into a :class:`StorageURI`.

    :raises InvalidDestinationError: the message names the part and the rule it breaks.
    """
    if not isinstance(text, str):
        raise InvalidDestinationError(f"a destination URI must be a string, not {type(text)}")
    if _CONTROL.search(text):
        raise InvalidDestinationError(
            "a destination URI must not contain control characters (newline, tab, NUL...)"
        )
    scheme, sep, rest = text.partition("://")
    if not sep:
        raise InvalidDestinationError(
            f"{text!r} is not a URI: expected gs://bucket/key, s3://bucket/key or "
            "file:///absolute/path",
            uri=text,
        )
    if scheme not in SCHEMES:
        raise InvalidDestinationError(
            f"unsupported scheme {scheme!r} in {text!r}: use one of "
            + ", ".join(f"{s}://" for s in SCHEMES),
            uri=text,
        )
    if "?" in rest or "#" in rest:
        raise InvalidDestinationError(
            f"{text!r} contains '?' or '#': destination names may not carry a query string or "
            "fragment",
            uri=text,
        )
    bucket, _, key = rest.partition("/")
    if scheme == "file":
        if bucket not in ("", "localhost"):
            raise InvalidDestinationError(
                f"{text!r}: a file URI has no host; write file:///absolute/path",
                uri=text,
            )
        bucket = ""
        if not key:
            raise InvalidDestinationError(
                f"{text!r}: a file URI needs an absolute path (file:///dir/name)", uri=text
            )
    else:
        _check_bucket(scheme, bucket, text)
    _check_key(key, text)
    return StorageURI(scheme, bucket, key)


def as_uri(value: StorageURI | str) -> StorageURI:
    """Accept either a parsed URI or its text."""
    return value if isinstance(value, StorageURI) else parse_uri(value)


def _check_bucket(scheme: str, bucket: str, text: str) -> None:
    pattern = _GCS_BUCKET if scheme == "gs" else _S3_BUCKET
    allowed = "a-z 0-9 . _ -" if scheme == "gs" else "a-z 0-9 . -"
    if not pattern.match(bucket) or ".." in bucket or _IPV4.match(bucket):
        raise InvalidDestinationError(
            f"{bucket!r} is not a valid {scheme}:// bucket name in {text!r}: 3 to 63 characters "
            f"from {allowed}, starting and ending with a letter or digit",
            uri=text,
        )


def _check_key(key: str, text: str) -> None:
    if len(key.encode("utf-8")) > MAX_KEY_BYTES:
        raise InvalidDestinationError(
            f"the object name in {text[:80]!r}... is longer than {MAX_KEY_BYTES} bytes",
        )
    if not key:
        return
    segments = key.split("/")
    if key.endswith("/"):
        segments = segments[:-1]
    for segment in segments:
        if segment == "":
            raise InvalidDestinationError(
                f"{text!r} has an empty path segment ('//' or a leading '/'); "
                "each '/'-separated part of the name must be non-empty",
                uri=text,
            )
        if segment in (".", ".."):
            raise InvalidDestinationError(
                f"{text!r} has a {segment!r} segment; relative segments are not allowed in "
                "destination names",
                uri=text,
            )
