"""Push mode: presigned PUT URLs work against the servers, verify, and stay secret."""

from __future__ import annotations

import logging
from datetime import timedelta

import httpx
import pytest
from cryptography.exceptions import InvalidSignature
from google.oauth2 import service_account

from airflow_provider_wan.api.retry import RetryPolicy
from airflow_provider_wan.storage.checksums import hash_bytes
from airflow_provider_wan.storage.errors import (
    ImplausibleObjectError,
    InvalidDestinationError,
    ObjectNotFoundError,
    StorageConfigurationError,
)
from airflow_provider_wan.storage.gcs import GcsStore, create_gcs_client
from airflow_provider_wan.storage.metadata import ImageMetadata
from airflow_provider_wan.storage.push import PushedImage, confirm_pushed, presign_uploads
from airflow_provider_wan.storage.s3 import S3Store, create_s3_client
from tests.fixtures.storage_servers import GcsBucket, S3Bucket, ServiceAccountKey
from tests.storage.image_server import make_image
from tests.storage.signatures import verify_gcs_signed_put, verify_s3_presigned_put

FAST = RetryPolicy(max_attempts=3, initial_delay=0.01, max_delay=0.02, max_elapsed=10)


@pytest.fixture
def s3_store(s3_bucket: S3Bucket) -> S3Store:
    return S3Store(create_s3_client())


@pytest.fixture
def gcs_store(gcs_bucket: GcsBucket, gcs_service_account: ServiceAccountKey) -> GcsStore:
    signer = service_account.Credentials.from_service_account_info(gcs_service_account.info)
    return GcsStore(create_gcs_client(), signing_credentials=signer)


def test_s3_presigned_put_lands_and_is_confirmed(s3_bucket: S3Bucket, s3_store: S3Store) -> None:
    data = make_image("JPG", 320, 240, seed=1)
    uri = s3_bucket.uri("push/sku-1-0.jpg")
    url = s3_store.presign_put(uri, expires=timedelta(minutes=10))
    params = verify_s3_presigned_put(url.reveal(), secret_key=s3_bucket.server.secret_key)
    assert params["X-Amz-Expires"] == "600"
    # Any content type: Runware's PUT headers are not documented.
    response = httpx.put(url.reveal(), content=data, headers={"Content-Type": "binary/whatever"})
    assert response.status_code == 200
    report = confirm_pushed(
        s3_store,
        [
            PushedImage(
                item_key="sku-1",
                uri=uri,
                output_format="JPG",
                metadata=ImageMetadata(task_uuid="t-1", image_uuid="i-1", seed=5),
                width=320,
                height=240,
                cost=0.02,
            )
        ],
        retry=FAST,
    )
    assert report.ok, report.failed
    confirmed = report.confirmed[0]
    assert confirmed.stored.md5 == hash_bytes(data).md5_hex
    stat = s3_store.stat(uri)
    assert stat.content_type == "image/jpeg"
    assert stat.metadata == {"task-uuid": "t-1", "image-uuid": "i-1", "seed": "5"}
    assert s3_store.read(uri) == data
    line = confirmed.manifest_line()
    assert (line.uri, line.size, line.width, line.format) == (uri, len(data), 320, "JPG")


def test_gcs_signed_put_lands_and_is_confirmed(
    gcs_bucket: GcsBucket, gcs_store: GcsStore, gcs_service_account: ServiceAccountKey
) -> None:
    data = make_image("PNG", 100, 100, seed=2)
    uri = gcs_bucket.uri("push/sku 2/0.png")
    url = gcs_store.presign_put(uri, expires=timedelta(minutes=5))
    assert url.reveal().startswith(gcs_bucket.endpoint + "/")
    params = verify_gcs_signed_put(url.reveal(), public_key_pem=gcs_service_account.public_key_pem)
    assert params["X-Goog-Expires"] == "300"
    assert params["X-Goog-Credential"].startswith(gcs_service_account.client_email + "/")
    response = httpx.put(url.reveal(), content=data)
    assert response.status_code == 200
    report = confirm_pushed(
        gcs_store,
        [
            PushedImage(
                item_key="sku 2",
                uri=uri,
                output_format="PNG",
                metadata=ImageMetadata(task_uuid="t-2", image_uuid="i-2", prompt_hash="ph"),
            )
        ],
        retry=FAST,
    )
    assert report.ok, report.failed
    stat = gcs_store.stat(uri)
    assert (stat.size, stat.md5, stat.content_type) == (
        len(data),
        hash_bytes(data).md5_hex,
        "image/png",
    )
    assert stat.metadata == {"task-uuid": "t-2", "image-uuid": "i-2", "prompt-hash": "ph"}
    assert gcs_store.read(uri) == data


def test_the_signature_checks_can_fail(
    s3_bucket: S3Bucket,
    s3_store: S3Store,
    gcs_bucket: GcsBucket,
    gcs_store: GcsStore,
    gcs_service_account: ServiceAccountKey,
) -> None:
    s3_url = s3_store.presign_put(s3_bucket.uri("a.png"), expires=timedelta(minutes=1)).reveal()
    with pytest.raises(AssertionError):
        verify_s3_presigned_put(s3_url.replace("a.png", "b.png"), secret_key="test-secret")
    gs_url = gcs_store.presign_put(gcs_bucket.uri("a.png"), expires=timedelta(minutes=1)).reveal()
    with pytest.raises(InvalidSignature):
        verify_gcs_signed_put(
            gs_url.replace("a.png", "b.png"), public_key_pem=gcs_service_account.public_key_pem
        )


def test_expiry_is_bounded(s3_bucket: S3Bucket, s3_store: S3Store) -> None:
    for expires in (timedelta(0), timedelta(days=8)):
        with pytest.raises(InvalidDestinationError, match="7 days"):
            s3_store.presign_put(s3_bucket.uri("x.png"), expires=expires)


def test_anonymous_gcs_credentials_cannot_sign(gcs_bucket: GcsBucket) -> None:
    store = GcsStore(create_gcs_client())
    with pytest.raises(StorageConfigurationError, match="cannot sign"):
        store.presign_put(gcs_bucket.uri("x.png"), expires=timedelta(minutes=1))


def test_missing_and_implausible_uploads_are_failures(
    s3_bucket: S3Bucket, s3_store: S3Store
) -> None:
    s3_store.write_bytes(s3_bucket.uri("tiny.png"), b"<Error/>", content_type="text/xml")
    images = [
        PushedImage("gone", s3_bucket.uri("gone.png"), "PNG", ImageMetadata(task_uuid="t-g")),
        PushedImage("tiny", s3_bucket.uri("tiny.png"), "PNG", ImageMetadata(task_uuid="t-t")),
    ]
    report = confirm_pushed(s3_store, images, retry=FAST)
    assert not report.ok
    errors = {failure.image.item_key: failure.error for failure in report.failed}
    assert isinstance(errors["gone"], ObjectNotFoundError)
    assert isinstance(errors["tiny"], ImplausibleObjectError)
    lines = report.manifest_lines()
    assert [line.kind for line in lines] == ["failure", "failure"]


def test_presigned_urls_never_reach_logs_or_errors(
    s3_bucket: S3Bucket,
    s3_store: S3Store,
    gcs_bucket: GcsBucket,
    gcs_store: GcsStore,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    urls = presign_uploads(
        s3_store, [s3_bucket.uri("s/1.png"), s3_bucket.uri("s/2.png")], expires=timedelta(hours=1)
    ) + presign_uploads(gcs_store, [gcs_bucket.uri("g/1.png")], expires=timedelta(hours=1))
    secrets = []
    for url in urls:
        query = url.reveal().partition("?")[2]
        signature = next(p for p in query.split("&") if "Signature=" in p).split("=", 1)[1]
        secrets += [url.reveal(), query, signature]
        logging.getLogger("airflow_provider_wan.test").info("presigned %s (%r)", url, url)
    # Runware's side of the exchange, simulated: its client logs are not ours to police.
    with caplog.at_level(logging.WARNING, logger="httpx"):
        for url in urls:
            httpx.put(url.reveal(), content=make_image())
    images = [
        PushedImage("k", url.uri, "PNG", ImageMetadata(task_uuid="t"), 64, 48) for url in urls
    ]
    report = confirm_pushed(s3_store, images[:2], retry=FAST)
    report_gs = confirm_pushed(gcs_store, images[2:], retry=FAST)
    texts = [caplog.text, repr(report), repr(report_gs)]
    texts += [line.model_dump_json() for line in report.manifest_lines()]
    from airflow_provider_wan.storage.errors import StorageError

    # An error about the upload target: even with the URL in the message, it is redacted.
    error = StorageError(f"PUT {urls[0].reveal()} failed", uri=urls[0].reveal())
    texts += [str(error), repr(error), str(error.uri)]
    assert "presigned" in caplog.text  # the log was captured, and holds only redacted forms
    for text in texts:
        for secret in secrets:
            assert secret not in text
