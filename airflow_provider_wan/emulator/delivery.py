"""Outbound calls: PUT to ``uploadEndpoint`` and POST to ``webhookURL``.

Only loopback hosts are called unless ``allow_remote_callbacks`` is set; a call to any other
host fails without any traffic (an upload then fails the task with ``uploadFailed``).
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
from typing import Any
from urllib.parse import urlsplit

import httpx

from .config import EmulatorConfig
from .state import Stats

_LOOPBACK_NAMES = {"localhost", "localhost.localdomain"}


def is_loopback_url(url: str) -> bool:
    """Whether the URL's host is a loopback address or ``localhost``."""
    host = (urlsplit(url).hostname or "").lower()
    if host in _LOOPBACK_NAMES or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Callbacks:
    """Performs uploads and webhook deliveries with one shared async HTTP client."""

    def __init__(self, config: EmulatorConfig, stats: Stats) -> None:
        self.config = config
        self.stats = stats
        self._client: httpx.AsyncClient | None = None

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                trust_env=False,
                follow_redirects=False,
                limits=httpx.Limits(max_connections=256, max_keepalive_connections=64),
            )
        return self._client

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def _allowed(self, url: str) -> bool:
        return self.config.allow_remote_callbacks or is_loopback_url(url)

    async def upload(self, url: str, data: bytes, content_type: str) -> str | None:
        """PUT ``data`` to ``url``.

        :return: None on a 2xx answer, else why the upload failed (never contains the URL).
        """
        self.stats.uploads_made += 1
        problem: str | None = None
        if not self._allowed(url):
            problem = "the upload endpoint is not a loopback host (remote callbacks disabled)"
        else:
            try:
                response = await self._http().put(
                    url,
                    content=data,
                    headers={"Content-Type": content_type},
                    timeout=self.config.callback_timeout,
                )
                if not 200 <= response.status_code < 300:
                    problem = f"the upload endpoint answered HTTP {response.status_code}"
            except httpx.HTTPError as exc:
                problem = f"the upload endpoint could not be reached ({type(exc).__name__})"
        if problem is None:
            self.stats.bytes_uploaded += len(data)
        else:
            self.stats.uploads_failed += 1
        return problem

    async def webhook(self, url: str, result: dict[str, Any]) -> bool:
        """POST ``result`` to ``url`` until a 2xx answer, with exponential backoff.

        :return: whether a 2xx answer was received within ``webhook_max_attempts`` attempts.
        """
        body = json.dumps(result).encode()
        for attempt in range(self.config.webhook_max_attempts):
            if attempt:
                await asyncio.sleep(self.config.webhook_backoff * 2 ** (attempt - 1))
            self.stats.webhooks_made += 1
            if not self._allowed(url):
                continue
            try:
                response = await self._http().post(
                    url,
                    content=body,
                    headers={"Content-Type": "application/json"},
                    timeout=self.config.callback_timeout,
                )
            except httpx.HTTPError:
                continue
            if 200 <= response.status_code < 300:
                self.stats.webhooks_delivered += 1
                return True
        self.stats.webhooks_failed += 1
        return False
