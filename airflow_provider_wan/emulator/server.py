"""Run the emulator with uvicorn in a background thread, and talk to its control endpoints."""

from __future__ import annotations

import importlib.util
import socket
import threading
import time
from types import TracebackType
from typing import Any

import httpx
import uvicorn

from .app import create_app
from .config import EmulatorConfig
from .engine import Engine

_STARTUP_TIMEOUT = 15.0


class EmulatorServer:
    """A Runware emulator listening on a local port, served from a daemon thread.

    ``with EmulatorServer(config) as server:`` starts it and stops it cleanly on exit;
    ``start()`` and ``stop()`` do the same by hand.

    :param config: the emulator's configuration (defaults when None).
    :param host: address to bind; loopback by default.
    :param port: port to bind; 0 picks a free one.
    :param log_level: uvicorn's log level.
    """

    def __init__(
        self,
        config: EmulatorConfig | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        log_level: str = "warning",
    ) -> None:
        self.config = config or EmulatorConfig()
        self.host = host
        self._requested_port = port
        self.log_level = log_level
        self.port: int | None = None
        self.engine: Engine | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None
        self._control: httpx.Client | None = None

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> EmulatorServer:
        """Bind, start serving in a background thread, and wait until it accepts requests."""
        if self._thread is not None:
            raise RuntimeError("the emulator is already running")
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self._requested_port))
        sock.set_inheritable(True)
        self._socket = sock
        self.port = sock.getsockname()[1]
        self.engine = Engine(self.config)
        http = "httptools" if importlib.util.find_spec("httptools") else "h11"
        uv_config = uvicorn.Config(
            create_app(self.engine),
            log_level=self.log_level,
            access_log=False,
            lifespan="on",
            http=http,
            timeout_graceful_shutdown=1,
            timeout_keep_alive=30,
            backlog=4096,
        )
        server = uvicorn.Server(uv_config)
        self._server = server
        thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name="runware-emulator", daemon=True
        )
        self._thread = thread
        thread.start()
        deadline = time.monotonic() + _STARTUP_TIMEOUT
        while not server.started:
            if not thread.is_alive():
                self._cleanup()
                raise RuntimeError("the emulator failed to start (see the log)")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the emulator did not start in time")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        """Stop serving and wait for the thread to end (cancels generations in flight)."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=15)
        self._cleanup()

    def _cleanup(self) -> None:
        if self._control is not None:
            self._control.close()
            self._control = None
        if self._socket is not None:
            self._socket.close()
            self._socket = None
        self._thread = None
        self._server = None

    def wait(self) -> None:
        """Block until the server thread ends."""
        if self._thread is not None:
            while self._thread.is_alive():
                self._thread.join(timeout=0.5)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- addresses -------------------------------------------------------------------------

    @property
    def root_url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        if self.port is None:
            raise RuntimeError("the emulator is not started")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def base_url(self) -> str:
        """The task endpoint, ``http://127.0.0.1:PORT/v1``."""
        return f"{self.root_url}/v1"

    # -- control endpoints -----------------------------------------------------------------

    def _client(self) -> httpx.Client:
        if self._control is None:
            self._control = httpx.Client(base_url=self.root_url, timeout=30, trust_env=False)
        return self._control

    def stats(self) -> dict[str, Any]:
        """``GET /_emulator/stats``."""
        response = self._client().get("/_emulator/stats")
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    def reset(self, *, restore_config: bool = False) -> None:
        """``POST /_emulator/reset``: forget tasks, images and counters.

        :param restore_config: also go back to the configuration the server started with.
        """
        response = self._client().post("/_emulator/reset", json={"restore_config": restore_config})
        response.raise_for_status()

    def configure(self, **changes: Any) -> dict[str, Any]:
        """``POST /_emulator/config``: change options at run time.

        Any :class:`EmulatorConfig` field; ``faults`` as a mapping or :class:`FaultConfig`
        replaces every fault rate (unnamed rates go back to 0).

        :return: the configuration now in force.
        """
        payload = {
            key: (value.to_dict() if hasattr(value, "to_dict") else value)
            for key, value in changes.items()
        }
        if isinstance(payload.get("api_keys"), tuple):
            payload["api_keys"] = list(payload["api_keys"])
        response = self._client().post("/_emulator/config", json=payload)
        if response.status_code == 400:
            raise ValueError(response.json().get("error", response.text))
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    def current_config(self) -> dict[str, Any]:
        """``GET /_emulator/config``."""
        response = self._client().get("/_emulator/config")
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    def advance_clock(self, seconds: float) -> None:
        """Move the emulator's expiry clock forward (makes ``ttl`` and retention elapse)."""
        response = self._client().post("/_emulator/clock", json={"advance": seconds})
        response.raise_for_status()
