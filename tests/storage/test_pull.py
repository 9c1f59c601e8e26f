"""Pull mode against a real HTTP server: verified copies, retries, and untrusted input refused."""

from __future__ import annotations

import base64
import logging

import pytest

from airflow_provider_wan.api.retry import RetryPolicy
from airflow_provider_wan.storage.checksums import hash_bytes
from airflow_provider_wan.storage.errors import (
    CorruptDownloadError,
    DownloadError,
    ImageTooLargeError,
    InvalidImageError,
    ObjectNotFoundError,
    TransientDownloadError,
    TransientStorageError,
    UntrustedSourceError,
)
from airflow_provider_wan.storage.local import LocalStore
from airflow_provider_wan.storage.metadata import ImageMetadata
from airflow_provider_wan.storage.pull import (
    ImagePuller,
    ImageSource,
    PullJob,
    SourcePolicy,
    pull_images,
)
from tests.fixtures.storage_servers import LocalDestination
from tests.storage.conftest import Backend
from tests.storage.image_server import ImageServer, make_image

FAST = RetryPolicy(max_attempts=3, initial_delay=0.01, max_delay=0.02, max_elapsed=10)


def _job(url: str, destination: str, fmt: str = "PNG", key: str = "sku-1") -> PullJob:
    return PullJob(
        item_key=key,
        source=ImageSource(url=url),
        destination=destination,
        output_format=fmt,
        metadata=ImageMetadata(task_uuid="task-1", image_uuid=f"img-{key}", seed=7),
        cost=0.03,
    )


def _puller(store: object, server: ImageServer, **policy: object) -> ImagePuller:
    return ImagePuller(
        store,  # type: ignore[arg-type]
        policy=SourcePolicy(extra_origins=(server.origin,), **policy),  # type: ignore[arg-type]
        retry=FAST,
        concurrency=4,
    )


def test_pulled_images_land_byte_equal_with_type_and_metadata(
    backend: Backend, image_server: ImageServer
) -> None:
    images = {fmt: make_image(fmt, 96, 64, seed=i) for i, fmt in enumerate(["PNG", "JPG", "WEBP"])}
    ext = {"PNG": "png", "JPG": "jpg", "WEBP": "webp"}
    content_types = {"PNG": "image/png", "JPG": "image/jpeg", "WEBP": "image/webp"}
    jobs = [
        _job(
            image_server.add(f"/img/{fmt}", data, content_type=content_types[fmt]),
            backend.uri(f"out/{fmt}.{ext[fmt]}"),
            fmt,
            key=fmt,
        )
        for fmt, data in images.items()
    ]
    with _puller(backend.store, image_server) as puller:
        report = puller.pull(jobs)
    assert report.ok, report.failed
    assert [p.job.item_key for p in report.stored] == ["PNG", "JPG", "WEBP"]
    for pulled in report.stored:
        data = images[pulled.job.item_key]
        assert backend.store.read(pulled.stored.uri) == data
        assert pulled.stored.md5 == hash_bytes(data).md5_hex
        assert (pulled.width, pulled.height) == (96, 64)
        stat = backend.store.stat(pulled.stored.uri)
        assert stat.content_type == content_types[pulled.job.item_key]
        if backend.name != "file":
            assert stat.metadata == {
                "task-uuid": "task-1",
                "image-uuid": f"img-{pulled.job.item_key}",
                "seed": "7",
            }
        line = pulled.manifest_line()
        assert (line.size, line.md5, line.format, line.cost) == (
            len(data),
            hash_bytes(data).md5_hex,
            pulled.job.item_key,
            0.03,
        )


@pytest.mark.parametrize(
    ("fault", "content_md5"),
    [("truncate", False), ("corrupt", True), ("status:503", False)],
)
def test_a_bad_first_response_is_retried_and_never_stored(
    backend: Backend, image_server: ImageServer, fault: str, content_md5: bool
) -> None:
    data = make_image("PNG", 200, 150, seed=3)
    url = image_server.add("/flaky.png", data, faults=[fault], content_md5=content_md5)
    with _puller(backend.store, image_server) as puller:
        pulled = puller.pull_one(_job(url, backend.uri("flaky.png")))
    assert image_server.hits("/flaky.png") == 2
    assert pulled.download_attempts == 2
    assert backend.store.read(backend.uri("flaky.png")) == data


def test_a_corrupted_png_without_checksum_header_is_caught_by_its_crcs(
    local_destination: LocalDestination, image_server: ImageServer
) -> None:
    data = make_image("PNG", 200, 150, seed=4)
    # Corrupt pixel data past the header, same length, no Content-MD5: only PNG's CRCs tell.
    corrupted = bytearray(data)
    for i in range(len(data) // 2, len(data) // 2 + 32):
        corrupted[i] ^= 0xFF
    url = image_server.add("/bad.png", bytes(corrupted))
    with _puller(LocalStore(), image_server) as puller, pytest.raises(CorruptDownloadError):
        puller.pull_one(_job(url, local_destination.uri("bad.png")))
    assert image_server.hits("/bad.png") == FAST.max_attempts
    assert not (local_destination.root / "bad.png").exists()
    assert list(local_destination.root.iterdir()) == []


def test_persistent_truncation_fails_after_the_attempts_and_stores_nothing(
    backend: Backend, image_server: ImageServer
) -> None:
    data = make_image("PNG", 64, 64)
    url = image_server.add("/cut.png", data, faults=["truncate"] * 10)
    with _puller(backend.store, image_server) as puller:
        report = puller.pull([_job(url, backend.uri("cut.png"))])
    assert not report.ok
    assert isinstance(report.failed[0].error, CorruptDownloadError)
    assert report.failed[0].manifest_line().code == "downloadCorrupt"
    assert image_server.hits("/cut.png") == FAST.max_attempts
    with pytest.raises(ObjectNotFoundError):
        backend.store.stat(backend.uri("cut.png"))


def test_wrong_content_type_is_refused_without_retry(
    local_destination: LocalDestination, image_server: ImageServer
) -> None:
    url = image_server.add("/page", b"<html>login</html>", content_type="text/html")
    with (
        _puller(LocalStore(), image_server) as puller,
        pytest.raises(InvalidImageError, match="text/html"),
    ):
        puller.pull_one(_job(url, local_destination.uri("x.png")))
    assert image_server.hits("/page") == 1


def test_a_format_other_than_requested_is_refused(
    local_destination: LocalDestination, image_server: ImageServer
) -> None:
    url = image_server.add("/x.jpg", make_image("PNG"), content_type="image/jpeg")
    with (
        _puller(LocalStore(), image_server) as puller,
        pytest.raises(InvalidImageError, match="is PNG, expected JPG"),
    ):
        puller.pull_one(_job(url, local_destination.uri("x.jpg"), fmt="JPG"))


@pytest.mark.parametrize("send_length", [True, False])
def test_an_oversize_body_is_refused(
    local_destination: LocalDestination, image_server: ImageServer, send_length: bool
) -> None:
    data = make_image("PNG", 200, 200)
    url = image_server.add("/huge.png", data, send_length=send_length)
    with (
        _puller(LocalStore(), image_server, max_bytes=10_000) as puller,
        pytest.raises(ImageTooLargeError, match="10,000 byte cap"),
    ):
        puller.pull_one(_job(url, local_destination.uri("huge.png")))
    assert list(local_destination.root.iterdir()) == []


@pytest.mark.parametrize(
    "url",
    [
        "https://evil.example.com/image.png",
        "https://im.runware.ai.evil.com/image.png",
        "https://evilrunware.ai/image.png",
        "https://im.runware.ai@evil.com/image.png",
        "http://im.runware.ai/image/x.png",
        "https://im.runware.ai:8443/image/x.png",
        "ftp://im.runware.ai/x.png",
        "file:///etc/passwd",
    ],
)
def test_urls_outside_the_allowed_hosts_are_refused_before_any_request(url: str) -> None:
    with pytest.raises(UntrustedSourceError):
        SourcePolicy().check_url(url)


@pytest.mark.parametrize(
    "url", ["https://im.runware.ai/image/ws/0.5/ii/x.jpg", "https://cdn.runware.ai/x.png"]
)
def test_runware_image_hosts_are_allowed(url: str) -> None:
    SourcePolicy().check_url(url)


def test_the_local_server_is_refused_unless_its_origin_is_allowed(
    local_destination: LocalDestination, image_server: ImageServer
) -> None:
    url = image_server.add("/ok.png", make_image())
    with (
        ImagePuller(LocalStore(), retry=FAST) as puller,
        pytest.raises(UntrustedSourceError, match="https only"),
    ):
        puller.pull_one(_job(url, local_destination.uri("ok.png")))
    assert image_server.hits("/ok.png") == 0


def test_a_redirect_to_a_disallowed_host_is_not_followed(
    local_destination: LocalDestination, image_server: ImageServer
) -> None:
    url = image_server.add("/hop.png", b"", faults=["redirect:https://evil.example.com/x.png"])
    with _puller(LocalStore(), image_server) as puller, pytest.raises(UntrustedSourceError):
        puller.pull_one(_job(url, local_destination.uri("hop.png")))


def test_a_redirect_within_allowed_origins_is_followed(
    local_destination: LocalDestination, image_server: ImageServer
) -> None:
    data = make_image(seed=9)
    target = image_server.add("/real.png", data)
    url = image_server.add("/hop.png", b"", faults=[f"redirect:{target}"])
    with _puller(LocalStore(), image_server) as puller:
        puller.pull_one(_job(url, local_destination.uri("hop.png")))
    assert (local_destination.root / "hop.png").read_bytes() == data


def test_http_errors_other_than_transient_ones_are_not_retried(
    local_destination: LocalDestination, image_server: ImageServer
) -> None:
    url = image_server.url("/expired.png")
    with (
        _puller(LocalStore(), image_server) as puller,
        pytest.raises(DownloadError, match="HTTP 404") as caught,
    ):
        puller.pull_one(_job(url, local_destination.uri("x.png")))
    assert not caught.value.retryable


def test_persistent_503_ends_as_a_transient_failure(
    local_destination: LocalDestination, image_server: ImageServer
) -> None:
    url = image_server.add("/busy.png", make_image(), faults=["status:503"] * 10)
    with _puller(LocalStore(), image_server) as puller, pytest.raises(TransientDownloadError):
        puller.pull_one(_job(url, local_destination.uri("x.png")))
    assert image_server.hits("/busy.png") == FAST.max_attempts


def test_inline_data_uri_and_base64_are_decoded(backend: Backend) -> None:
    data = make_image("WEBP", 80, 60, seed=5)
    encoded = base64.b64encode(data).decode()
    jobs = [
        PullJob(
            item_key="a",
            source=ImageSource(data_uri=f"data:image/webp;base64,{encoded}"),
            destination=backend.uri("inline/a.webp"),
            output_format="WEBP",
            metadata=ImageMetadata(task_uuid="t", image_uuid="a"),
        ),
        PullJob(
            item_key="b",
            source=ImageSource(base64_data=encoded),
            destination=backend.uri("inline/b.webp"),
            output_format="WEBP",
            metadata=ImageMetadata(task_uuid="t", image_uuid="b"),
        ),
    ]
    report = pull_images(jobs, backend.store, retry=FAST)
    assert report.ok, report.failed
    for job in jobs:
        assert backend.store.read(job.destination) == data


def test_bad_inline_data_fails_once_without_retry(local_destination: LocalDestination) -> None:
    job = PullJob(
        item_key="a",
        source=ImageSource(data_uri="data:text/plain;base64,aGVsbG8="),
        destination=local_destination.uri("a.png"),
        output_format="PNG",
        metadata=ImageMetadata(task_uuid="t", image_uuid="a"),
    )
    report = pull_images([job], LocalStore(), retry=FAST)
    assert isinstance(report.failed[0].error, InvalidImageError)
    truncated = base64.b64encode(make_image()[:300]).decode()
    job = PullJob(
        item_key="b",
        source=ImageSource(base64_data=truncated),
        destination=local_destination.uri("b.png"),
        output_format="PNG",
        metadata=ImageMetadata(task_uuid="t", image_uuid="b"),
    )
    report = pull_images([job], LocalStore(), retry=FAST)
    assert isinstance(report.failed[0].error, InvalidImageError)


def test_source_from_a_runware_result() -> None:
    source = ImageSource.from_result({"imageURL": "https://im.runware.ai/x.jpg", "seed": 1})
    assert source.url == "https://im.runware.ai/x.jpg"
    with pytest.raises(InvalidImageError, match="exactly one"):
        ImageSource.from_result({"seed": 1})


def test_many_images_with_bounded_concurrency_keep_their_order(
    backend: Backend, image_server: ImageServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    data = make_image("PNG", 32, 32, seed=11)
    jobs = [
        _job(image_server.add(f"/m/{i}.png", data), backend.uri(f"many/{i}.png"), key=f"k{i:02d}")
        for i in range(40)
    ]
    with _puller(backend.store, image_server) as puller:
        report = puller.pull(iter(jobs))
    assert report.ok
    assert [p.job.item_key for p in report.stored] == [f"k{i:02d}" for i in range(40)]
    assert "pulled 40 images" in caplog.text


class _FirstWriteFails(LocalStore):
    """A real LocalStore whose first write fails the way a 503 from a bucket would."""

    def __init__(self) -> None:
        self.writes = 0

    def write(self, *args: object, **kwargs: object) -> object:  # type: ignore[override]
        self.writes += 1
        if self.writes == 1:
            raise TransientStorageError("503 Service Unavailable (injected)")
        return super().write(*args, **kwargs)  # type: ignore[arg-type]


def test_a_transient_store_error_retries_the_write_without_downloading_again(
    local_destination: LocalDestination, image_server: ImageServer
) -> None:
    data = make_image(seed=21)
    url = image_server.add("/once.png", data)
    store = _FirstWriteFails()
    with _puller(store, image_server) as puller:
        pulled = puller.pull_one(_job(url, local_destination.uri("once.png")))
    assert (pulled.download_attempts, pulled.write_attempts) == (1, 2)
    assert image_server.hits("/once.png") == 1
    assert (local_destination.root / "once.png").read_bytes() == data
