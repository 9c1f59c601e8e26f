"""The Runware hook: an Airflow connection of type ``runware`` made into API clients."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from airflow.sdk import BaseHook

from airflow_provider_wan.api import (
    DEFAULT_BASE_URL,
    AsyncRunwareClient,
    RetryPolicy,
    RunwareClient,
    RunwareError,
)
from airflow_provider_wan.api.client import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_POLL_BATCH_SIZE,
    DEFAULT_TIMEOUT,
)

if TYPE_CHECKING:
    from airflow.sdk import Connection

DEFAULT_MAX_RETRIES = 5
# A connection test answers a person waiting in the UI: one retry, a few seconds at most.
_CONNECTION_TEST_RETRY = RetryPolicy(max_attempts=2, max_elapsed=10.0)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def base_url_of(host: str | None, port: int | None, schema: str | None) -> str:
    """The REST endpoint a connection points at.

    A host that is a URL (``http://127.0.0.1:8080/v1``) is used as it is. A bare host name is
    reached over https (plain http on loopback, where the emulator runs) at the connection's
    schema as path (``v1`` by default). No host means Runware's own API.
    """
    if not host:
        return DEFAULT_BASE_URL
    if "://" in host:
        parts = urlsplit(host)
        if port and not parts.port:
            host = parts._replace(netloc=f"{parts.netloc}:{port}").geturl()
        return host.rstrip("/")
    scheme = "http" if _is_loopback(host) else "https"
    netloc = f"{host}:{port}" if port else host
    return f"{scheme}://{netloc}/{(schema or 'v1').strip('/')}"


def _extra(extra: dict[str, Any], name: str) -> Any:
    # Connection forms store plain names; older forms prefix them with extra__<type>__.
    value = extra.get(name, extra.get(f"extra__runware__{name}"))
    return None if value in ("", None) else value


@dataclass(frozen=True)
class RunwareSettings:
    """What a ``runware`` connection says: where, with which key, and how patiently."""

    base_url: str
    api_key: str = field(repr=False)
    timeout: float = DEFAULT_TIMEOUT
    max_retries: int = DEFAULT_MAX_RETRIES
    batch_size: int = DEFAULT_BATCH_SIZE
    poll_batch_size: int = DEFAULT_POLL_BATCH_SIZE

    @classmethod
    def from_connection(cls, conn: Connection, extra: dict[str, Any]) -> RunwareSettings:
        """Read a connection: the password is the key, the host the base URL, extras the rest.

        :raises ValueError: when the key is missing or an extra is not a number.
        """
        if not conn.password:
            raise ValueError(
                f"Connection {conn.conn_id!r} has no API key: put the Runware API key in its "
                "password field"
            )
        try:
            timeout = float(_extra(extra, "timeout") or DEFAULT_TIMEOUT)
            max_retries = int(_extra(extra, "max_retries") or DEFAULT_MAX_RETRIES)
            batch_size = int(_extra(extra, "batch_size") or DEFAULT_BATCH_SIZE)
            poll_batch_size = int(_extra(extra, "poll_batch_size") or DEFAULT_POLL_BATCH_SIZE)
        except (TypeError, ValueError) as error:
            raise ValueError(
                f"Connection {conn.conn_id!r}: timeout, max_retries, batch_size and "
                f"poll_batch_size must be numbers ({error})"
            ) from None
        return cls(
            base_url=base_url_of(conn.host, conn.port, conn.schema),
            api_key=conn.password,
            timeout=timeout,
            max_retries=max_retries,
            batch_size=batch_size,
            poll_batch_size=poll_batch_size,
        )

    @property
    def image_origin(self) -> str:
        """The origin of the endpoint (``scheme://host:port``): where an emulator serves images."""
        parts = urlsplit(self.base_url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        return f"{parts.scheme}://{parts.hostname}:{port}"

    def client_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for :class:`RunwareClient` and :class:`AsyncRunwareClient`."""
        return {
            "base_url": self.base_url,
            "timeout": self.timeout,
            "retry": RetryPolicy(max_attempts=self.max_retries + 1),
            "batch_size": self.batch_size,
            "poll_batch_size": self.poll_batch_size,
        }


class RunwareHook(BaseHook):
    """Talk to Runware's API with the key of an Airflow connection.

    The connection's password is the API key (masked in every log as soon as it is read), its
    host may point at another endpoint (an emulator, a proxy), and its extras set ``timeout``,
    ``max_retries``, ``batch_size`` and ``poll_batch_size``.

    :param runware_conn_id: the :ref:`runware connection <howto/connection:runware>` to use.
    """

    conn_name_attr = "runware_conn_id"
    default_conn_name = "runware_default"
    conn_type = "runware"
    hook_name = "Runware"

    def __init__(self, runware_conn_id: str = default_conn_name, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.runware_conn_id = runware_conn_id

    def get_settings(self) -> RunwareSettings:
        """Read the connection and mask its key."""
        from airflow.sdk.log import mask_secret

        conn = self.get_connection(self.runware_conn_id)
        if conn.password:
            mask_secret(conn.password)
        return RunwareSettings.from_connection(conn, conn.extra_dejson)

    async def aget_settings(self) -> RunwareSettings:
        """Read the connection without blocking the event loop (in a trigger), and mask its key."""
        from airflow.sdk.log import amask_secret

        conn = await self.aget_connection(self.runware_conn_id)
        if conn.password:
            await amask_secret(conn.password)
        return RunwareSettings.from_connection(conn, await conn.aextra_dejson())

    @cached_property
    def client(self) -> RunwareClient:
        """A synchronous client, made once per hook (one pooled connection)."""
        settings = self.get_settings()
        return RunwareClient(settings.api_key, **settings.client_kwargs())

    def get_conn(self) -> RunwareClient:
        """The synchronous client; see :attr:`client`."""
        return self.client

    async def get_async_client(self) -> AsyncRunwareClient:
        """A new asynchronous client, for triggers; close it with ``aclose()`` or ``async with``."""
        settings = await self.aget_settings()
        return AsyncRunwareClient(settings.api_key, **settings.client_kwargs())

    def test_connection(self) -> tuple[bool, str]:
        """Check the key and the endpoint with a request that costs nothing."""
        try:
            settings = self.get_settings()
            kwargs = {**settings.client_kwargs(), "retry": _CONNECTION_TEST_RETRY}
            with RunwareClient(settings.api_key, **kwargs) as client:
                client.check_connection()
        except (RunwareError, ValueError) as error:
            return False, str(error)
        return True, f"Connection to Runware at {settings.base_url} works."
