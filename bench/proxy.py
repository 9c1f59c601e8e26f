"""Byte-counting TCP proxies: what goes through the measured client's sockets, for any client.

The benchmark cannot count bytes inside each client (httpx, aiohttp, google-cloud-storage each
have their own hooks, or none), so it puts a plain TCP forwarder in front of every server the
client talks to and counts the bytes in both directions, HTTP headers included. The proxies
run in the orchestrating process (idle while a client runs), never in the measured one.

A control port answers every connection with the counters as one JSON object and closes, so
the measured process can read them at the boundaries of its phases:
``{"emulator": {"sent": ..., "received": ..., "connections": ...}, "gcs": {...}}`` where
``sent`` is what the client sent and ``received`` what it received.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import socket
import threading
from dataclasses import dataclass, field
from typing import Any

_CHUNK = 256 * 1024


@dataclass
class Counter:
    """Bytes through one proxy, seen from the client."""

    sent: int = 0
    received: int = 0
    connections: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"sent": self.sent, "received": self.received, "connections": self.connections}


@dataclass
class Proxy:
    """One listening port forwarding to ``upstream`` (host, port)."""

    name: str
    upstream: tuple[str, int]
    port: int = 0
    counter: Counter = field(default_factory=Counter)

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, add: Any) -> None:
    try:
        while True:
            chunk = await reader.read(_CHUNK)
            if not chunk:
                break
            add(len(chunk))
            writer.write(chunk)
            await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        with contextlib.suppress(Exception):
            if writer.can_write_eof():
                writer.write_eof()


class ProxyHost:
    """Proxies and their control port, on an event loop in a daemon thread.

    >>> host = ProxyHost({"emulator": ("127.0.0.1", 8080)}).start()  # doctest: +SKIP
    >>> host.proxies["emulator"].origin, host.control  # doctest: +SKIP
    """

    def __init__(self, upstreams: dict[str, tuple[str, int]]) -> None:
        self.proxies = {name: Proxy(name, upstream) for name, upstream in upstreams.items()}
        self.control = ("127.0.0.1", 0)
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._servers: list[asyncio.base_events.Server] = []
        self._connections: set[asyncio.Task[None]] = set()

    def start(self) -> ProxyHost:
        threading.Thread(target=self._run, name="bench-proxy", daemon=True).start()
        if not self._ready.wait(10):
            raise RuntimeError("the counting proxies did not start")
        return self

    def counters(self) -> dict[str, dict[str, int]]:
        return {name: proxy.counter.as_dict() for name, proxy in self.proxies.items()}

    def stop(self) -> None:
        """Close the ports and every open connection, then end the loop's thread."""

        async def close() -> None:
            for server in self._servers:
                server.close()
            current = asyncio.current_task()
            tasks = [task for task in asyncio.all_tasks() if task is not current]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        future = asyncio.run_coroutine_threadsafe(close(), self._loop)
        with contextlib.suppress(Exception):
            future.result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._listen())
        self._ready.set()
        self._loop.run_forever()

    async def _listen(self) -> None:
        for proxy in self.proxies.values():
            server = await asyncio.start_server(
                functools.partial(self._forward, proxy), "127.0.0.1", 0
            )
            proxy.port = server.sockets[0].getsockname()[1]
            self._servers.append(server)
        control = await asyncio.start_server(self._answer, "127.0.0.1", 0)
        self.control = ("127.0.0.1", control.sockets[0].getsockname()[1])
        self._servers.append(control)

    async def _answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(json.dumps(self.counters()).encode())
        await writer.drain()
        writer.close()

    async def _forward(
        self, proxy: Proxy, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter
    ) -> None:
        counter = proxy.counter
        counter.connections += 1
        try:
            up_reader, up_writer = await asyncio.open_connection(*proxy.upstream)
        except OSError:
            client_writer.close()
            return

        def sent(n: int) -> None:
            counter.sent += n

        def received(n: int) -> None:
            counter.received += n

        # HTTP clients and servers never half-close: once one side is done, so is the other.
        pipes = {
            asyncio.ensure_future(_pipe(client_reader, up_writer, sent)),
            asyncio.ensure_future(_pipe(up_reader, client_writer, received)),
        }
        current = asyncio.current_task()
        if current is not None:
            self._connections.add(current)  # a strong reference until the end
        try:
            await asyncio.wait(pipes, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for writer in (up_writer, client_writer):
                with contextlib.suppress(Exception):
                    writer.close()
            for pipe in pipes:
                pipe.cancel()
            await asyncio.gather(*pipes, return_exceptions=True)
            if current is not None:
                self._connections.discard(current)


def read_counters(control: tuple[str, int]) -> dict[str, dict[str, int]]:
    """The counters of a :class:`ProxyHost`, from any process."""
    with socket.create_connection(control, timeout=10) as sock:
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    result: dict[str, dict[str, int]] = json.loads(b"".join(chunks))
    return result
