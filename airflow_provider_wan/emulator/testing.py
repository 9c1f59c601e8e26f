"""Helpers for tests that run against the emulator (no pytest import here).

- :func:`image_inference_task` builds a valid imageInference task, overridable per field.
- :class:`LocalSink` is a tiny HTTP server on 127.0.0.1 that records every request (an
  ``uploadEndpoint`` or ``webhookURL`` target) and answers with scripted status codes.
- :func:`running_emulator` is a context manager yielding a started :class:`EmulatorServer`.

A pytest fixture is a few lines on top::

    @pytest.fixture
    def emulator():
        with running_emulator(api_keys=("test-key",), generation_time=0.01) as server:
            yield server
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

from .config import EmulatorConfig
from .rules import MODEL
from .server import EmulatorServer


def new_task_uuid() -> str:
    """A fresh UUID v4 string."""
    return str(uuid.uuid4())


def image_inference_task(**overrides: Any) -> dict[str, Any]:
    """A valid imageInference task for the Wan 2.6 model; ``overrides`` replace or add keys.

    A key overridden with the value ``...`` (Ellipsis) is removed instead.
    """
    task: dict[str, Any] = {
        "taskType": "imageInference",
        "taskUUID": new_task_uuid(),
        "model": MODEL,
        "positivePrompt": "a lighthouse at dawn, oil painting",
        "width": 1024,
        "height": 1024,
    }
    for key, value in overrides.items():
        if value is ...:
            task.pop(key, None)
        else:
            task[key] = value
    return task


@contextmanager
def running_emulator(
    config: EmulatorConfig | None = None, **options: Any
) -> Iterator[EmulatorServer]:
    """Start an emulator on a free loopback port; ``options`` are EmulatorConfig fields."""
    if config is None:
        config = EmulatorConfig(**options)
    elif options:
        config = config.updated(**options)
    with EmulatorServer(config) as server:
        yield server


@dataclass(frozen=True)
class Received:
    """One request seen by a :class:`LocalSink`."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at: float


class LocalSink:
    """An HTTP server on 127.0.0.1 recording PUT and POST requests.

    :param statuses: status codes for the first requests, in order; later ones get
        ``default_status``.
    :param default_status: the status once ``statuses`` is used up.
    :param close_connection: answer nothing and close the socket instead (a dead endpoint).
    """

    def __init__(
        self,
        statuses: list[int] | None = None,
        default_status: int = 200,
        *,
        close_connection: bool = False,
    ) -> None:
        self.statuses = list(statuses or [])
        self.default_status = default_status
        self.close_connection = close_connection
        self.requests: list[Received] = []
        self._lock = threading.Lock()
        self._event = threading.Condition(self._lock)
        sink = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                with sink._lock:
                    sink.requests.append(
                        Received(
                            self.command,
                            self.path,
                            {k.lower(): v for k, v in self.headers.items()},
                            body,
                            time.monotonic(),
                        )
                    )
                    status = sink.statuses.pop(0) if sink.statuses else sink.default_status
                    sink._event.notify_all()
                if sink.close_connection:
                    self.close_connection = True
                    self.connection.close()
                    return
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_PUT = _handle
            do_POST = _handle

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``; append any path."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> LocalSink:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> LocalSink:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        """Block until at least ``count`` requests arrived; returns them (may be fewer)."""
        deadline = time.monotonic() + timeout
        with self._event:
            while len(self.requests) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._event.wait(remaining)
            return list(self.requests)
