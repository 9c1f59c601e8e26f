"""Airflow connections (AIRFLOW_CONN_* in JSON form) become working stores."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from airflow_provider_wan.hooks.storage import (
    WanStorageHook,
    gcp_credentials_from_connection,
    open_store,
    presign_put_masked,
    s3_client_kwargs_from_connection,
)
from airflow_provider_wan.storage.errors import StorageAuthError, StorageConfigurationError
from airflow_provider_wan.storage.gcs import GcsStore
from airflow_provider_wan.storage.local import LocalStore
from airflow_provider_wan.storage.s3 import S3Store
from tests.fixtures.storage_servers import (
    GcsBucket,
    LocalDestination,
    S3Bucket,
    ServiceAccountKey,
)
from tests.storage.signatures import verify_gcs_signed_put, verify_s3_presigned_put


def _conn(monkeypatch: pytest.MonkeyPatch, conn_id: str, value: dict[str, object]) -> None:
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(value))


def test_gcp_keyfile_dict_signs_and_the_emulator_is_used_anonymously(
    monkeypatch: pytest.MonkeyPatch, gcs_bucket: GcsBucket, gcs_service_account: ServiceAccountKey
) -> None:
    _conn(
        monkeypatch,
        "wan_gcp",
        {
            "conn_type": "google_cloud_platform",
            "extra": {"keyfile_dict": gcs_service_account.info, "project": "wan-project"},
        },
    )
    with open_store(gcs_bucket.uri("x.png"), gcp_conn_id="wan_gcp") as store:
        assert isinstance(store, GcsStore)
        store.write_bytes(gcs_bucket.uri("x.png"), b"png bytes", content_type="image/png")
        assert store.read(gcs_bucket.uri("x.png")) == b"png bytes"
        url = store.presign_put(gcs_bucket.uri("y.png"), expires=timedelta(minutes=5))
    verify_gcs_signed_put(url.reveal(), public_key_pem=gcs_service_account.public_key_pem)


@pytest.mark.parametrize("spelling", ["key_path", "extra__google_cloud_platform__key_path"])
def test_gcp_key_path_in_either_spelling(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    gcs_service_account: ServiceAccountKey,
    spelling: str,
) -> None:
    key_file = tmp_path / "key.json"
    key_file.write_text(json.dumps(gcs_service_account.info))
    _conn(
        monkeypatch,
        "wan_gcp_path",
        {"conn_type": "google_cloud_platform", "extra": {spelling: str(key_file)}},
    )
    credentials, project = gcp_credentials_from_connection("wan_gcp_path")
    assert credentials.service_account_email == gcs_service_account.client_email
    assert project == "wan-test"  # from the key, as no project extra is set


def test_gcp_keyfile_dict_as_a_json_string(
    monkeypatch: pytest.MonkeyPatch, gcs_service_account: ServiceAccountKey
) -> None:
    _conn(
        monkeypatch,
        "wan_gcp_str",
        {
            "conn_type": "google_cloud_platform",
            "extra": {
                "extra__google_cloud_platform__keyfile_dict": json.dumps(gcs_service_account.info),
                "extra__google_cloud_platform__project": "legacy-project",
            },
        },
    )
    credentials, project = gcp_credentials_from_connection("wan_gcp_str")
    assert credentials.service_account_email == gcs_service_account.client_email
    assert project == "legacy-project"


def test_an_unreadable_key_is_a_configuration_error_that_does_not_quote_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    secret = "-----BEGIN PRIVATE KEY-----not really"
    _conn(
        monkeypatch,
        "wan_gcp_bad",
        {
            "conn_type": "google_cloud_platform",
            "extra": {"keyfile_dict": {"type": "service_account", "private_key": secret}},
        },
    )
    with pytest.raises(StorageConfigurationError, match="wan_gcp_bad") as caught:
        gcp_credentials_from_connection("wan_gcp_bad")
    assert secret not in str(caught.value)


def test_missing_gcp_connection_uses_the_emulator_anonymously(gcs_bucket: GcsBucket) -> None:
    with open_store(gcs_bucket.uri(), gcp_conn_id="not_defined_anywhere") as store:
        store.write_bytes(gcs_bucket.uri("a.png"), b"a", content_type="image/png")
        with pytest.raises(StorageConfigurationError, match="cannot sign"):
            store.presign_put(gcs_bucket.uri("a.png"), expires=timedelta(minutes=1))


def test_missing_gcp_connection_without_default_credentials_says_so(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("STORAGE_EMULATOR_HOST", raising=False)
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    monkeypatch.setenv("NO_GCE_CHECK", "True")
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path))
    with pytest.raises(StorageAuthError, match="no Google Cloud credentials"):
        open_store("gs://some-bucket/x.png", gcp_conn_id="not_defined_anywhere")


def test_aws_connection_keys_region_and_endpoint_are_used(
    monkeypatch: pytest.MonkeyPatch, s3_bucket: S3Bucket
) -> None:
    # Keys different from the environment's, so the URL's credential shows which were used.
    _conn(
        monkeypatch,
        "wan_aws",
        {
            "conn_type": "aws",
            "login": "AKIACONNECTIONKEY0001",
            "password": "connection-secret-key",
            "extra": {"region_name": "eu-west-1", "endpoint_url": s3_bucket.endpoint},
        },
    )
    monkeypatch.delenv("AWS_ENDPOINT_URL_S3")
    with open_store(s3_bucket.uri("a.png"), aws_conn_id="wan_aws") as store:
        assert isinstance(store, S3Store)
        store.write_bytes(s3_bucket.uri("a.png"), b"bytes", content_type="image/png")
        assert store.read(s3_bucket.uri("a.png")) == b"bytes"
        url = store.presign_put(s3_bucket.uri("b.png"), expires=timedelta(minutes=1)).reveal()
    assert url.startswith(s3_bucket.endpoint)
    credential = parse_qs(urlsplit(url).query)["X-Amz-Credential"][0]
    assert credential.startswith("AKIACONNECTIONKEY0001/") and "/eu-west-1/s3/" in credential
    verify_s3_presigned_put(url, secret_key="connection-secret-key")


def test_missing_aws_connection_falls_back_to_boto3s_default_chain(s3_bucket: S3Bucket) -> None:
    assert s3_client_kwargs_from_connection("not_defined_anywhere") == {}
    with open_store(s3_bucket.uri(), aws_conn_id="not_defined_anywhere") as store:
        store.write_bytes(s3_bucket.uri("c.png"), b"c", content_type="image/png")
        url = store.presign_put(s3_bucket.uri("c.png"), expires=timedelta(minutes=1)).reveal()
    verify_s3_presigned_put(url, secret_key=s3_bucket.server.secret_key)


@pytest.mark.parametrize(
    ("connection", "says"),
    [
        ({"conn_type": "aws", "extra": {"role_arn": "arn:aws:iam::1:role/x"}}, "role_arn"),
        ({"conn_type": "aws", "login": "AKIAONLYKEY"}, "without a secret"),
    ],
)
def test_unsupported_aws_settings_fail_loudly(
    monkeypatch: pytest.MonkeyPatch, connection: dict[str, object], says: str
) -> None:
    _conn(monkeypatch, "wan_aws_bad", connection)
    with pytest.raises(StorageConfigurationError, match=says):
        s3_client_kwargs_from_connection("wan_aws_bad")


def test_file_destinations_need_no_connection(local_destination: LocalDestination) -> None:
    assert isinstance(open_store(local_destination.uri("x.png")), LocalStore)
    template = local_destination.uri("{item_key}-{index}.{ext}")
    assert isinstance(WanStorageHook().get_store(template), LocalStore)


def test_presign_put_masked_registers_the_url_with_airflows_masker(
    s3_bucket: S3Bucket,
) -> None:
    from airflow.sdk._shared.secrets_masker import redact

    with open_store(s3_bucket.uri()) as store:
        url = presign_put_masked(store, s3_bucket.uri("m.png"), expires=timedelta(minutes=1))
    secret = url.reveal()
    assert redact(secret) != secret
    assert secret.partition("?")[2] not in str(redact(f"uploading to {secret}"))


def test_the_storage_package_imports_neither_airflow_nor_boto3() -> None:
    code = (
        "import sys, airflow_provider_wan.storage, airflow_provider_wan.storage.s3;"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('airflow', 'boto3'));"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=Path(__file__).parents[2],
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
