"""A small HTTP server on 127.0.0.1 that serves real images, with scripted misbehaviour.

Each path has a body, a content type and a queue of faults consumed one per request:
``truncate`` (announce the full length, send half, close), ``corrupt`` (same length, bytes
flipped), ``status:503`` (answer that status), ``redirect:<url>`` (302 to the URL). Once the
queue is empty the path answers normally. ``hits(path)`` counts requests.
"""

from __future__ import annotations

import base64
import hashlib
import io
import random
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from PIL import Image


def make_image(fmt: str = "PNG", width: int = 64, height: int = 48, seed: int = 0) -> bytes:
    """A real image of random pixels (so it does not compress away)."""
    rng = random.Random(seed)
    pixels = rng.randbytes(width * height * 3)
    image = Image.frombytes("RGB", (width, height), pixels)
    out = io.BytesIO()
    image.save(out, format={"JPG": "JPEG"}.get(fmt, fmt))
    return out.getvalue()


@dataclass
class Route:
    body: bytes
    content_type: str = "image/png"
    faults: list[str] = field(default_factory=list)
    send_length: bool = True
    content_md5: bool = False
    hits: int = 0


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        """A client hanging up early (size cap, refused type) is expected here."""


class ImageServer:
    """Serves registered routes; use as a context manager or call ``close()``."""

    def __init__(self) -> None:
        self._routes: dict[str, Route] = {}
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                with server._lock:
                    route = server._routes.get(path)
                    fault = None
                    if route is not None:
                        route.hits += 1
                        fault = route.faults.pop(0) if route.faults else None
                if route is None:
                    self._answer(404, b"not found", "text/plain")
                    return
                if fault and fault.startswith("status:"):
                    self._answer(int(fault.split(":", 1)[1]), b"try later", "text/plain")
                    return
                if fault and fault.startswith("redirect:"):
                    self.send_response(302)
                    self.send_header("Location", fault.split(":", 1)[1])
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                body = route.body
                self.send_response(200)
                self.send_header("Content-Type", route.content_type)
                if route.content_md5:
                    digest = base64.b64encode(hashlib.md5(route.body).digest()).decode()
                    self.send_header("Content-MD5", digest)
                if route.send_length:
                    self.send_header("Content-Length", str(len(body)))
                else:
                    self.send_header("Connection", "close")
                    self.close_connection = True
                self.end_headers()
                if fault == "truncate":
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                if fault == "corrupt":
                    body = bytes(b ^ 0x5A for b in body[:64]) + body[64:]
                self.wfile.write(body)

            def _answer(self, status: int, body: bytes, content_type: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self._httpd = _QuietServer(("127.0.0.1", 0), Handler)
        self.origin = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def add(
        self,
        path: str,
        body: bytes,
        *,
        content_type: str = "image/png",
        faults: list[str] | None = None,
        send_length: bool = True,
        content_md5: bool = False,
    ) -> str:
        """Register *path*; return its full URL."""
        with self._lock:
            self._routes[path] = Route(
                body=body,
                content_type=content_type,
                faults=list(faults or []),
                send_length=send_length,
                content_md5=content_md5,
            )
        return self.url(path)

    def url(self, path: str) -> str:
        return f"{self.origin}{path}"

    def hits(self, path: str) -> int:
        with self._lock:
            route = self._routes.get(path)
            return route.hits if route else 0

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> ImageServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
