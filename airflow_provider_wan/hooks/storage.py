"""Airflow connections -> object stores for ``gs://``, ``s3://`` and ``file://`` destinations.

The only module of the storage feature that imports Airflow: it reads connections and hands
plain credentials to :mod:`airflow_provider_wan.storage`.

``google_cloud_platform`` connection (``gcp_conn_id``, default ``google_cloud_default``):
extras ``key_path`` (a service-account JSON file), ``keyfile_dict`` (its content, as an object
or a JSON string), ``project``, ``scope`` (comma-separated); the legacy
``extra__google_cloud_platform__<name>`` spellings are accepted too. Without a connection, the
machine's default credentials. With ``STORAGE_EMULATOR_HOST`` set, the data plane talks to the
emulator anonymously and a configured key is used only to sign URLs.

``aws`` connection (``aws_conn_id``, default ``aws_default``): login / password are the
access key id / secret, extras ``region_name``, ``endpoint_url``, ``aws_session_token``,
``addressing_style``. Without a connection, boto3's default chain (environment, profile,
instance role; ``AWS_ENDPOINT_URL_S3`` is honoured by boto3 itself).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

from airflow.sdk import BaseHook, Connection
from airflow.sdk.exceptions import AirflowNotFoundException

from airflow_provider_wan.storage.base import ObjectStore, PresignedURL
from airflow_provider_wan.storage.errors import InvalidDestinationError, StorageConfigurationError
from airflow_provider_wan.storage.gcs import (
    DEFAULT_SCOPES,
    GcsStore,
    create_gcs_client,
    emulator_host,
)
from airflow_provider_wan.storage.local import LocalStore
from airflow_provider_wan.storage.s3 import S3Store, create_s3_client
from airflow_provider_wan.storage.uri import StorageURI, as_uri

log = logging.getLogger(__name__)

DEFAULT_GCP_CONN_ID = "google_cloud_default"
DEFAULT_AWS_CONN_ID = "aws_default"
_GCP_LEGACY_PREFIX = "extra__google_cloud_platform__"
_GCP_UNSUPPORTED = ("key_secret_name", "credential_config_file", "impersonation_chain")
_AWS_UNSUPPORTED = ("role_arn", "assume_role_method", "profile_name")


def get_connection_or_none(conn_id: str) -> Connection | None:
    """The Airflow connection *conn_id*, or None when it is not defined anywhere."""
    try:
        return BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        log.info("connection %r is not defined; using the default credentials", conn_id)
        return None


def _gcp_extra(extras: Mapping[str, Any], name: str) -> Any:
    value = extras.get(name)
    if value in (None, ""):
        value = extras.get(f"{_GCP_LEGACY_PREFIX}{name}")
    return None if value in (None, "") else value


def gcp_credentials_from_connection(
    gcp_conn_id: str = DEFAULT_GCP_CONN_ID,
) -> tuple[Any, str | None]:
    """Service-account credentials and project from a ``google_cloud_platform`` connection.

    :returns: ``(credentials, project)``; credentials are None when the connection is missing
        or names no key (then the machine's default credentials apply).
    :raises StorageConfigurationError: an unreadable key, or a credential kind this provider
        does not support (the message names the connection, never the key).
    """
    conn = get_connection_or_none(gcp_conn_id)
    if conn is None:
        return None, None
    extras = conn.extra_dejson
    for name in _GCP_UNSUPPORTED:
        if _gcp_extra(extras, name):
            raise StorageConfigurationError(
                f"connection {gcp_conn_id!r}: {name} is not supported for image storage; "
                "use key_path, keyfile_dict or the machine's default credentials"
            )
    project = _gcp_extra(extras, "project")
    scope = _gcp_extra(extras, "scope")
    scopes = [s.strip() for s in str(scope).split(",") if s.strip()] if scope else None
    key_path = _gcp_extra(extras, "key_path")
    keyfile = _gcp_extra(extras, "keyfile_dict")
    if key_path and keyfile:
        raise StorageConfigurationError(
            f"connection {gcp_conn_id!r} sets both key_path and keyfile_dict; keep one"
        )
    if not key_path and not keyfile:
        return None, project
    from google.oauth2 import service_account

    try:
        if key_path:
            if str(key_path).endswith(".p12"):
                raise StorageConfigurationError(
                    f"connection {gcp_conn_id!r}: .p12 keys are not supported, use a JSON key"
                )
            info = json.loads(Path(str(key_path)).read_text(encoding="utf-8"))
        else:
            info = json.loads(keyfile) if isinstance(keyfile, str) else dict(keyfile)
        credentials = service_account.Credentials.from_service_account_info(  # type: ignore[no-untyped-call]
            info, scopes=scopes or list(DEFAULT_SCOPES)
        )
    except StorageConfigurationError:
        raise
    except (OSError, ValueError, TypeError, KeyError) as exc:
        source = "key_path" if key_path else "keyfile_dict"
        raise StorageConfigurationError(
            f"connection {gcp_conn_id!r}: cannot load the service-account key from {source} "
            f"({type(exc).__name__})"
        ) from None
    return credentials, project or info.get("project_id")


def s3_client_kwargs_from_connection(aws_conn_id: str = DEFAULT_AWS_CONN_ID) -> dict[str, Any]:
    """Keyword arguments for :func:`~airflow_provider_wan.storage.s3.create_s3_client`.

    :returns: an empty dict when the connection is missing (boto3's default chain applies).
    """
    conn = get_connection_or_none(aws_conn_id)
    if conn is None:
        return {}
    extras = conn.extra_dejson
    for name in _AWS_UNSUPPORTED:
        if extras.get(name):
            raise StorageConfigurationError(
                f"connection {aws_conn_id!r}: {name} is not supported for image storage; "
                "give access keys (login/password) or rely on boto3's default chain"
            )
    kwargs: dict[str, Any] = {
        "aws_access_key_id": conn.login or extras.get("aws_access_key_id") or None,
        "aws_secret_access_key": conn.password or extras.get("aws_secret_access_key") or None,
        "aws_session_token": extras.get("aws_session_token") or None,
        "region_name": extras.get("region_name") or None,
        "endpoint_url": extras.get("endpoint_url") or None,
        "addressing_style": extras.get("addressing_style") or None,
    }
    if bool(kwargs["aws_access_key_id"]) != bool(kwargs["aws_secret_access_key"]):
        raise StorageConfigurationError(
            f"connection {aws_conn_id!r} has an access key id without a secret, or the reverse"
        )
    return {key: value for key, value in kwargs.items() if value is not None}


def open_gcs_store(*, gcp_conn_id: str = DEFAULT_GCP_CONN_ID) -> GcsStore:
    """A :class:`GcsStore` with the connection's credentials (see the module doc)."""
    credentials, project = gcp_credentials_from_connection(gcp_conn_id)
    if emulator_host():
        return GcsStore(create_gcs_client(project=project), signing_credentials=credentials)
    return GcsStore(create_gcs_client(credentials=credentials, project=project))


def open_s3_store(*, aws_conn_id: str = DEFAULT_AWS_CONN_ID) -> S3Store:
    """An :class:`S3Store` with the connection's credentials (see the module doc)."""
    return S3Store(create_s3_client(**s3_client_kwargs_from_connection(aws_conn_id)))


def open_store(
    destination: StorageURI | str,
    *,
    gcp_conn_id: str = DEFAULT_GCP_CONN_ID,
    aws_conn_id: str = DEFAULT_AWS_CONN_ID,
) -> ObjectStore:
    """The store for *destination*'s scheme (a URI, a prefix, or a template's base URI).

    Only the connection of that scheme is read. Close the store when done (it is a context
    manager).
    """
    if isinstance(destination, str) and "{" in destination:
        destination = destination.partition("{")[0]
        destination = destination.rpartition("/")[0] + "/"
    scheme = as_uri(destination).scheme
    if scheme == "file":
        return LocalStore()
    if scheme == "gs":
        return open_gcs_store(gcp_conn_id=gcp_conn_id)
    if scheme == "s3":
        return open_s3_store(aws_conn_id=aws_conn_id)
    raise InvalidDestinationError(f"no store for {scheme}://")  # pragma: no cover


def mask_presigned_url(url: PresignedURL) -> None:
    """Register a presigned URL (whole, and its query string) with Airflow's secrets masker."""
    from airflow.sdk.log import mask_secret

    secret = url.reveal()
    mask_secret(secret)
    query = secret.partition("?")[2]
    if query:
        mask_secret(query)


def presign_put_masked(
    store: ObjectStore, uri: StorageURI | str, *, expires: timedelta
) -> PresignedURL:
    """:meth:`ObjectStore.presign_put`, with the URL masked in Airflow's logs from now on."""
    url = store.presign_put(uri, expires=expires)
    mask_presigned_url(url)
    return url


class WanStorageHook(BaseHook):
    """Opens destination stores from Airflow connections, for the Wan operators.

    :param gcp_conn_id: the ``google_cloud_platform`` connection for ``gs://`` destinations.
    :param aws_conn_id: the ``aws`` connection for ``s3://`` destinations.
    """

    hook_name = "Wan image storage"

    def __init__(
        self,
        gcp_conn_id: str = DEFAULT_GCP_CONN_ID,
        aws_conn_id: str = DEFAULT_AWS_CONN_ID,
    ) -> None:
        super().__init__()
        self.gcp_conn_id = gcp_conn_id
        self.aws_conn_id = aws_conn_id

    def get_conn(self) -> Any:
        """Not a single connection: use :meth:`get_store`."""
        raise NotImplementedError("use get_store(destination)")

    def get_store(self, destination: StorageURI | str) -> ObjectStore:
        """The store for *destination* (see :func:`open_store`)."""
        return open_store(destination, gcp_conn_id=self.gcp_conn_id, aws_conn_id=self.aws_conn_id)
