"""Pull mode: stream each generated image from Runware into the destination, verified.

For each :class:`PullJob` a worker thread

1. checks the source URL against the :class:`SourcePolicy` (https to ``*.runware.ai`` only,
   plus explicitly allowed origins; every redirect is checked the same way and never followed
   blindly), then streams the body into a ``SpooledTemporaryFile`` (memory up to
   ``spool_max_memory``, disk beyond) while computing size, MD5 and CRC32C, enforcing the size
   cap and the ``image/*`` content type; inline ``imageDataURI`` / ``imageBase64Data`` are
   decoded in chunks the same way;
2. treats a body shorter than its ``Content-Length``, or not matching a ``Content-MD5`` /
   ``x-goog-hash`` header, or that Pillow finds truncated, as a corrupted download: retried,
   never stored; checks the image's real format against the requested one and reads its size;
3. writes the spool to the store with the checksums, so the server verifies them (GCS
   ``md5Hash``/``crc32c``, S3 ``Content-MD5``, local re-hash); a mismatch or a transient store
   error retries the write from the same spool.

At most ``concurrency`` images are in flight, so memory depends on the concurrency, never on
the number or size of the images.
"""

from __future__ import annotations

import base64
import binascii
import logging
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from types import TracebackType
from typing import IO, Any

import httpx

from airflow_provider_wan.api.redaction import redact_url
from airflow_provider_wan.api.retry import RetryPolicy
from airflow_provider_wan.storage.base import ObjectStore, StoredObject
from airflow_provider_wan.storage.checksums import (
    CHUNK_SIZE,
    Checksums,
    Hasher,
    decode_base64_digest,
)
from airflow_provider_wan.storage.errors import (
    CorruptDownloadError,
    DownloadError,
    ImageTooLargeError,
    InvalidDestinationError,
    InvalidImageError,
    PullFailedError,
    StorageError,
    TransientDownloadError,
    UntrustedSourceError,
)
from airflow_provider_wan.storage.formats import ImageFormat, format_from_pillow, image_format
from airflow_provider_wan.storage.manifest import FailureLine, ImageLine
from airflow_provider_wan.storage.metadata import ImageMetadata
from airflow_provider_wan.storage.retrying import DEFAULT_STORAGE_RETRY, call_with_retry
from airflow_provider_wan.storage.uri import StorageURI, as_uri

log = logging.getLogger(__name__)

DEFAULT_MAX_BYTES = 50 * 1024 * 1024
RUNWARE_IMAGE_DOMAINS = ("runware.ai",)
_DEFAULT_PORTS = {"http": 80, "https": 443}
_TRANSIENT_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})
_REDIRECT_STATUS = frozenset({301, 302, 303, 307, 308})


@dataclass(frozen=True)
class SourcePolicy:
    """Where images may be downloaded from, and how much of them.

    :param allowed_domains: https hosts allowed: each domain itself and its subdomains
        (default ``runware.ai``: ``im.runware.ai`` and any ``*.runware.ai``), on port 443.
    :param extra_origins: exact origins also allowed, any scheme, e.g. the Runware emulator's
        ``http://127.0.0.1:8765``.
    :param max_bytes: the largest image accepted (default 50 MB).
    :param timeout: seconds for connecting and between received chunks.
    :param max_redirects: redirects followed (each one checked against this policy).
    :param spool_max_memory: bytes kept in memory per image before spilling to a temp file.
    :param spool_dir: where spilled images go (default: the system temp directory).
    :param verify_image: decode the image header (and PNG checksums) with Pillow, check the
        real format against the requested one, and read width and height.
    """

    allowed_domains: tuple[str, ...] = RUNWARE_IMAGE_DOMAINS
    extra_origins: tuple[str, ...] = ()
    max_bytes: int = DEFAULT_MAX_BYTES
    timeout: float = 60.0
    max_redirects: int = 3
    spool_max_memory: int = 1024 * 1024
    spool_dir: str | None = None
    verify_image: bool = True
    _origins: frozenset[str] = field(init=False, repr=False, compare=False, default=frozenset())

    def __post_init__(self) -> None:
        if self.max_bytes < 1:
            raise ValueError(f"max_bytes must be positive, not {self.max_bytes}")
        origins = frozenset(_origin_of(origin, strict=True) for origin in self.extra_origins)
        object.__setattr__(self, "_origins", origins)

    def check_url(self, url: str) -> httpx.URL:
        """Return the parsed URL if it may be downloaded, else raise UntrustedSourceError."""
        shown = redact_url(url)
        try:
            parsed = httpx.URL(url)
        except (httpx.InvalidURL, TypeError, ValueError):
            raise UntrustedSourceError(f"{shown} is not a valid URL", uri=url) from None
        if parsed.userinfo:
            raise UntrustedSourceError(f"{shown} carries user info; refused", uri=url)
        origin = _origin_of(str(parsed), strict=False)
        if origin in self._origins:
            return parsed
        if parsed.scheme != "https":
            raise UntrustedSourceError(
                f"{shown}: images are downloaded over https only (allow an origin explicitly "
                "for a local emulator)",
                uri=url,
            )
        host = parsed.host.lower()
        if parsed.port not in (None, 443) or not any(
            host == domain or host.endswith("." + domain) for domain in self.allowed_domains
        ):
            raise UntrustedSourceError(
                f"{shown} is not on an allowed image host ("
                + ", ".join(f"*.{d}" for d in self.allowed_domains)
                + (", " + ", ".join(self.extra_origins) if self.extra_origins else "")
                + ")",
                uri=url,
            )
        return parsed


def _origin_of(url: str, *, strict: bool) -> str:
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError):
        if strict:
            raise ValueError(f"{redact_url(url)} is not a valid origin") from None
        return ""
    if strict and (not parsed.scheme or not parsed.host):
        raise ValueError(f"{redact_url(url)} is not an origin like http://127.0.0.1:8765")
    port = parsed.port or _DEFAULT_PORTS.get(parsed.scheme, 0)
    return f"{parsed.scheme}://{parsed.host.lower()}:{port}"


@dataclass(frozen=True)
class ImageSource:
    """Where an image's bytes are: exactly one of a URL, a data URI, or base64 data."""

    url: str | None = None
    data_uri: str | None = field(default=None, repr=False)
    base64_data: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        given = [v for v in (self.url, self.data_uri, self.base64_data) if v]
        if len(given) != 1:
            raise InvalidImageError(
                "an image source needs exactly one of imageURL, imageDataURI, imageBase64Data"
            )

    @classmethod
    def from_result(cls, result: Mapping[str, Any]) -> ImageSource:
        """Read ``imageURL`` / ``imageDataURI`` / ``imageBase64Data`` from a Runware result."""
        return cls(
            url=result.get("imageURL") or None,
            data_uri=result.get("imageDataURI") or None,
            base64_data=result.get("imageBase64Data") or None,
        )

    def describe(self) -> str:
        """A log-safe description (URL redacted, inline data reduced to its length)."""
        if self.url:
            return redact_url(self.url)
        if self.data_uri:
            return redact_url(self.data_uri)
        return f"inline base64 image <{len(self.base64_data or ''):,} characters>"

    def __repr__(self) -> str:
        return f"ImageSource({self.describe()!r})"


@dataclass(frozen=True)
class PullJob:
    """One image to copy into the destination.

    :param item_key: the item it belongs to (for the manifest and messages).
    :param source: where its bytes are.
    :param destination: its rendered destination URI (``gs://``, ``s3://``, ``file://``).
    :param output_format: the requested ``outputFormat`` (``JPG``, ``PNG``, ``WEBP``): gives
        the content type, and the real format is checked against it.
    :param metadata: task UUID, image UUID, seed, prompt hash (stored as object metadata).
    :param cost: the result's cost in USD, for the manifest.
    """

    item_key: str
    source: ImageSource
    destination: StorageURI | str
    output_format: str
    metadata: ImageMetadata
    cost: float | None = None


@dataclass(frozen=True)
class PulledImage:
    """An image stored and verified."""

    job: PullJob
    stored: StoredObject
    format: str
    width: int | None
    height: int | None
    download_attempts: int = 1
    write_attempts: int = 1

    def manifest_line(self) -> ImageLine:
        """Its line in the run manifest."""
        return ImageLine(
            item_key=self.job.item_key,
            task_uuid=self.job.metadata.task_uuid,
            image_uuid=self.job.metadata.image_uuid,
            seed=self.job.metadata.seed,
            cost=self.job.cost,
            uri=self.stored.uri,
            size=self.stored.size,
            md5=self.stored.md5,
            format=self.format,  # type: ignore[arg-type]
            width=self.width,
            height=self.height,
            prompt_hash=self.job.metadata.prompt_hash,
        )


@dataclass(frozen=True)
class PullFailure:
    """An image that could not be stored, and why."""

    job: PullJob
    error: StorageError

    def manifest_line(self) -> FailureLine:
        return FailureLine(
            item_key=self.job.item_key,
            task_uuid=self.job.metadata.task_uuid,
            image_uuid=self.job.metadata.image_uuid,
            code=self.error.code,
            message=str(self.error),
        )


@dataclass
class PullReport:
    """The outcome of a pull: images stored and failures, each in the order of the jobs."""

    stored: list[PulledImage] = field(default_factory=list)
    failed: list[PullFailure] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failed

    def manifest_lines(self) -> list[ImageLine | FailureLine]:
        lines: list[ImageLine | FailureLine] = [image.manifest_line() for image in self.stored]
        lines.extend(failure.manifest_line() for failure in self.failed)
        return lines

    def raise_for_failures(self) -> None:
        """Raise :class:`PullFailedError` summarizing the failures, if there are any."""
        if not self.failed:
            return
        first = self.failed[0]
        raise PullFailedError(
            f"{len(self.failed)} of {len(self.failed) + len(self.stored)} images were not "
            f"stored; first: {first.job.item_key!r} -> {first.job.destination}: "
            f"[{first.error.code}] {first.error}"
        )


class ImagePuller:
    """Copies images into one store with bounded concurrency. Thread-safe; reusable.

    :param store: the destination store (its scheme must match the jobs' destinations).
    :param policy: allowed sources and size cap.
    :param retry: attempts and backoff, used for downloads and for writes separately.
    :param concurrency: images in flight at once.
    :param http_client: an ``httpx.Client`` to download with (tests, proxies); by default one
        is created, with redirects off (they are followed by hand, each one checked).
    :param sleep: the function used to wait between attempts.
    """

    def __init__(
        self,
        store: ObjectStore,
        *,
        policy: SourcePolicy | None = None,
        retry: RetryPolicy = DEFAULT_STORAGE_RETRY,
        concurrency: int = 8,
        http_client: httpx.Client | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, not {concurrency}")
        self._store = store
        self._policy = policy or SourcePolicy()
        self._retry = retry
        self._concurrency = concurrency
        self._sleep = sleep
        self._own_client = http_client is None
        self._http = http_client or httpx.Client(
            follow_redirects=False,
            timeout=httpx.Timeout(self._policy.timeout),
            limits=httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency),
            headers={"User-Agent": "airflow-provider-wan", "Accept": "image/*"},
        )

    def __enter__(self) -> ImagePuller:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        if self._own_client:
            self._http.close()

    def pull(self, jobs: Iterable[PullJob]) -> PullReport:
        """Store every job's image; failures are collected, not raised (see PullReport).

        Jobs are consumed lazily: at most ``2 * concurrency`` are pending at any time.
        """
        outcomes: dict[int, PulledImage | PullFailure] = {}
        with ThreadPoolExecutor(
            max_workers=self._concurrency, thread_name_prefix="wan-pull"
        ) as pool:
            pending: dict[Future[PulledImage], tuple[int, PullJob]] = {}
            for position, job in enumerate(jobs):
                pending[pool.submit(self.pull_one, job)] = (position, job)
                if len(pending) >= 2 * self._concurrency:
                    self._collect(pending, outcomes, block=True)
            while pending:
                self._collect(pending, outcomes, block=True)
        report = PullReport()
        for position in sorted(outcomes):
            outcome = outcomes[position]
            if isinstance(outcome, PulledImage):
                report.stored.append(outcome)
            else:
                report.failed.append(outcome)
        log.info(
            "pulled %d images into %s:// (%d failed)",
            len(report.stored),
            getattr(self._store, "scheme", "?"),
            len(report.failed),
        )
        return report

    @staticmethod
    def _collect(
        pending: dict[Future[PulledImage], tuple[int, PullJob]],
        outcomes: dict[int, PulledImage | PullFailure],
        *,
        block: bool,
    ) -> None:
        done, _ = wait(pending, return_when=FIRST_COMPLETED, timeout=None if block else 0)
        for future in done:
            position, job = pending.pop(future)
            try:
                outcomes[position] = future.result()
            except StorageError as exc:
                log.error("could not store %s for %r: %s", job.destination, job.item_key, exc)
                outcomes[position] = PullFailure(job, exc)

    def pull_one(self, job: PullJob) -> PulledImage:
        """Store one image, retrying what may pass. :raises StorageError: it could not be."""
        fmt = image_format(job.output_format)
        target = as_uri(job.destination).require_object()
        if target.scheme != getattr(self._store, "scheme", target.scheme):
            raise InvalidDestinationError(
                f"{target} does not belong to this {self._store.scheme}:// store",
                uri=str(target),
            )
        what = f"download of {job.source.describe()}"
        with tempfile.SpooledTemporaryFile(
            max_size=self._policy.spool_max_memory, dir=self._policy.spool_dir
        ) as spool:
            spooled = spool  # the name mypy sees for the closures below
            (sums, detected, size), downloads = call_with_retry(
                lambda: self._fetch(job.source, spooled, fmt),
                policy=self._retry,
                what=what,
                sleep=self._sleep,
            )

            def write() -> StoredObject:
                spooled.seek(0)
                return self._store.write(
                    target,
                    spooled,  # type: ignore[arg-type]
                    content_type=fmt.content_type,
                    metadata=job.metadata.as_object_metadata(),
                    checksums=sums,
                )

            stored, writes = call_with_retry(
                write, policy=self._retry, what=f"write of {target}", sleep=self._sleep
            )
        log.debug("stored %s (%d bytes, md5 %s)", stored.uri, stored.size, stored.md5)
        return PulledImage(
            job=job,
            stored=stored,
            format=detected.name,
            width=size[0] if size else None,
            height=size[1] if size else None,
            download_attempts=downloads,
            write_attempts=writes,
        )

    # -- one attempt -------------------------------------------------------------------------

    def _fetch(
        self, source: ImageSource, spool: IO[bytes], fmt: ImageFormat
    ) -> tuple[Checksums, ImageFormat, tuple[int, int] | None]:
        spool.seek(0)
        spool.truncate()
        try:
            if source.url:
                sums = self._download(source.url, spool)
            else:
                sums = self._decode_inline(source, spool)
            detected, size = self._inspect(spool, fmt, source)
        except CorruptDownloadError as exc:
            if source.url:
                raise
            # Inline data is what it is: trying again would decode the same bytes.
            raise InvalidImageError(str(exc)) from None
        return sums, detected, size

    def _download(self, url: str, spool: IO[bytes]) -> Checksums:
        policy = self._policy
        current = url
        for _hop in range(policy.max_redirects + 1):
            policy.check_url(current)
            shown = redact_url(current)
            try:
                with self._http.stream(
                    "GET", current, headers={"Accept-Encoding": "identity"}
                ) as response:
                    if response.status_code in _REDIRECT_STATUS:
                        location = response.headers.get("location")
                        if not location:
                            raise DownloadError(f"{shown} redirected without a Location")
                        current = str(response.url.join(location))
                        continue
                    return self._receive(response, spool, shown)
            except httpx.RemoteProtocolError as exc:
                # Typically: the peer closed before sending Content-Length bytes.
                raise CorruptDownloadError(
                    f"download of {shown} broke off: {_first_line(exc)}"
                ) from None
            except (httpx.TimeoutException, httpx.NetworkError, httpx.ProxyError) as exc:
                raise TransientDownloadError(
                    f"download of {shown} failed: {type(exc).__name__}"
                ) from None
        raise UntrustedSourceError(
            f"{redact_url(url)} redirected more than {policy.max_redirects} times"
        )

    def _receive(self, response: httpx.Response, spool: IO[bytes], shown: str) -> Checksums:
        policy = self._policy
        status = response.status_code
        if status in _TRANSIENT_STATUS:
            raise TransientDownloadError(f"{shown} answered HTTP {status}")
        if status != 200:
            raise DownloadError(f"{shown} answered HTTP {status}")
        content_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
        if not content_type.startswith("image/"):
            raise InvalidImageError(
                f"{shown} sent content type {content_type or 'none'!r}, expected image/*"
            )
        declared = _int_header(response.headers.get("content-length"))
        if declared is not None and declared > policy.max_bytes:
            raise ImageTooLargeError(
                f"{shown} announces {declared:,} bytes, more than the {policy.max_bytes:,} byte cap"
            )
        hasher = Hasher()
        for chunk in response.iter_bytes(CHUNK_SIZE):
            if hasher.size + len(chunk) > policy.max_bytes:
                raise ImageTooLargeError(
                    f"{shown} sent more than the {policy.max_bytes:,} byte cap"
                )
            hasher.update(chunk)
            spool.write(chunk)
        sums = hasher.result()
        if declared is not None and response.num_bytes_downloaded != declared:
            raise CorruptDownloadError(
                f"{shown} sent {response.num_bytes_downloaded:,} of {declared:,} bytes"
            )
        _check_announced_digests(response.headers, sums, shown)
        return sums

    def _decode_inline(self, source: ImageSource, spool: IO[bytes]) -> Checksums:
        if source.data_uri:
            header, comma, payload = source.data_uri.partition(",")
            media = header[5:].split(";")
            if not header.lower().startswith("data:") or not comma:
                raise InvalidImageError("imageDataURI is not a data: URI")
            if not media[0].lower().startswith("image/"):
                raise InvalidImageError(
                    f"imageDataURI has media type {media[0] or 'none'!r}, expected image/*"
                )
            if "base64" not in (p.lower() for p in media[1:]):
                raise InvalidImageError("imageDataURI is not base64-encoded")
            text = payload
        else:
            text = source.base64_data or ""
        if len(text) // 4 * 3 > self._policy.max_bytes + 3:
            raise ImageTooLargeError(
                f"inline image of about {len(text) // 4 * 3:,} bytes exceeds the "
                f"{self._policy.max_bytes:,} byte cap"
            )
        hasher = Hasher()
        step = 4 * 64 * 1024
        for start in range(0, len(text), step):
            try:
                chunk = base64.b64decode(text[start : start + step], validate=True)
            except (binascii.Error, ValueError):
                raise InvalidImageError("inline image data is not valid base64") from None
            hasher.update(chunk)
            spool.write(chunk)
        return hasher.result()

    def _inspect(
        self, spool: IO[bytes], fmt: ImageFormat, source: ImageSource
    ) -> tuple[ImageFormat, tuple[int, int] | None]:
        if not self._policy.verify_image:
            return fmt, None
        from PIL import Image, UnidentifiedImageError

        spool.seek(0)
        shown = source.describe()
        try:
            with Image.open(spool) as image:
                detected = format_from_pillow(image.format)
                size = image.size
                if detected is None or detected != fmt:
                    raise InvalidImageError(
                        f"{shown} is {image.format or 'not an image'}, expected {fmt.name}"
                    )
                image.verify()  # PNG: chunk CRCs; all formats: header structure
        except StorageError:
            raise
        except UnidentifiedImageError:
            raise InvalidImageError(f"{shown} is not a readable image") from None
        except Image.DecompressionBombError:
            raise ImageTooLargeError(f"{shown} has too many pixels") from None
        except (OSError, SyntaxError, ValueError, EOFError) as exc:
            raise CorruptDownloadError(
                f"{shown} is damaged: {type(exc).__name__}: {_first_line(exc)}"
            ) from None
        return detected, size


def pull_images(
    jobs: Iterable[PullJob],
    store: ObjectStore,
    *,
    policy: SourcePolicy | None = None,
    retry: RetryPolicy = DEFAULT_STORAGE_RETRY,
    concurrency: int = 8,
) -> PullReport:
    """Store every job's image in *store*; see :class:`ImagePuller`."""
    with ImagePuller(store, policy=policy, retry=retry, concurrency=concurrency) as puller:
        return puller.pull(jobs)


def _check_announced_digests(headers: httpx.Headers, sums: Checksums, shown: str) -> None:
    """Compare a ``Content-MD5`` or ``x-goog-hash`` the server sent with what arrived."""
    announced: dict[str, bytes] = {}
    md5 = decode_base64_digest(headers.get("content-md5"))
    if md5:
        announced["md5"] = md5
    for value in headers.get_list("x-goog-hash", split_commas=True):
        name, _, digest = value.strip().partition("=")
        decoded = decode_base64_digest(digest)
        if decoded and name.lower() in ("md5", "crc32c"):
            announced[name.lower()] = decoded
    actual = {"md5": sums.md5, "crc32c": sums.crc32c}
    for name, expected in announced.items():
        if actual[name] != expected:
            raise CorruptDownloadError(
                f"{shown}: the {name} of the {sums.size:,} bytes received does not match the "
                "one the server announced"
            )


def _int_header(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(value.strip())
    except ValueError:
        return None


def _first_line(exc: BaseException) -> str:
    return str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__


__all__ = [
    "DEFAULT_MAX_BYTES",
    "ImagePuller",
    "ImageSource",
    "PullFailure",
    "PullJob",
    "PullReport",
    "PulledImage",
    "SourcePolicy",
    "pull_images",
]
