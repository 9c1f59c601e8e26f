"""The HTTP face of the emulator: a Starlette application.

Routes:
- ``POST /v1`` (and ``/v1/``): Runware's task endpoint.
- ``GET /images/{imageUUID}.{ext}``: generated and uploaded images.
- ``GET /_emulator/stats``, ``POST /_emulator/reset``, ``GET|POST /_emulator/config``,
  ``POST /_emulator/clock``: control endpoints for tests and benchmarks.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import math
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from . import errors, images, rules
from .config import EmulatorConfig
from .engine import CapacityExceeded, Engine
from .faults import DROP_AFTER, DROP_BEFORE

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_DROP_KEY = "wan_emulator.drop_connection"


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        json.dumps(body, separators=(",", ":")).encode(),
        status_code=status,
        media_type="application/json",
        headers=headers,
    )


class ConnectionDropper:
    """ASGI wrapper that lets a handler close the connection without any response.

    With uvicorn, the server's ``receive`` is a bound method of its request cycle, which holds
    the transport: the handler marks the cycle disconnected (so uvicorn sends no 500) and
    closes the transport. The client sees the connection end with no response at all
    (``httpx.RemoteProtocolError``). Under another server the fallback is an exception, which
    the server turns into a 500 or a reset.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        dropped = False

        def drop() -> None:
            nonlocal dropped
            dropped = True
            cycle = getattr(receive, "__self__", None)
            transport = getattr(cycle, "transport", None)
            if transport is None:
                raise ConnectionAbortedError("emulator: dropping the connection")
            cycle.disconnected = True  # type: ignore[union-attr]
            cycle.keep_alive = False  # type: ignore[union-attr]
            transport.close()

        async def guarded_send(message: Message) -> None:
            if not dropped:
                await send(message)

        scope[_DROP_KEY] = drop
        await self.app(scope, receive, guarded_send)


def _origin(request: Request, config: EmulatorConfig) -> str:
    if config.public_host:
        host = config.public_host.rstrip("/")
        return host if "://" in host else f"http://{host}"
    return str(request.base_url).rstrip("/")


def _bearer_ok(request: Request, config: EmulatorConfig) -> str | None:
    """None when authenticated, else why not."""
    header = request.headers.get("authorization", "")
    scheme, _, key = header.partition(" ")
    key = key.strip()
    if not header:
        return "Missing API key: send 'Authorization: Bearer <API key>'."
    if scheme.lower() != "bearer" or not key:
        return "Invalid authorization header: expected 'Bearer <API key>'."
    if config.api_keys and not any(
        hmac.compare_digest(key.encode(), accepted.encode()) for accepted in config.api_keys
    ):
        return "Invalid API key. Get one at https://my.runware.ai/signup"
    return None


def create_app(engine: Engine) -> ASGIApp:
    """The ASGI application serving ``engine``."""

    async def submit(request: Request) -> Response:
        config = engine.config
        engine.stats.requests += 1
        problem = _bearer_ok(request, config)
        if problem is not None:
            engine.stats.auth_failures += 1
            return _json(
                errors.request_error(
                    errors.INVALID_API_KEY, problem, parameter="apiKey", task_type="authentication"
                ),
                401,
            )
        fault = engine.faults.request_fault()
        if fault is not None:
            engine.stats.faults_injected[fault] += 1
        if fault in ("http_500", "http_503", "http_429"):
            return _injected_status(fault, config)
        # The body is read even before a drop: closing a socket with unread input makes the
        # kernel send a reset instead of a clean close.
        raw = await request.body()
        if fault == DROP_BEFORE:
            request.scope[_DROP_KEY]()
            return Response(b"")
        try:
            tasks = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            return _json(
                errors.request_error(
                    errors.INVALID_REQUEST_BODY, f"The request body is not valid JSON: {exc}."
                ),
                400,
            )
        if not isinstance(tasks, list) or not tasks:
            return _json(
                errors.request_error(
                    errors.INVALID_REQUEST_BODY,
                    "The request body must be a non-empty JSON array of task objects.",
                ),
                400,
            )
        try:
            outcome = await engine.handle(tasks, _origin(request, config))
        except CapacityExceeded as full:
            return _json(
                errors.request_error(
                    errors.QUEUE_CAPACITY_EXCEEDED,
                    f"{full} Retry after {full.retry_after} seconds.",
                ),
                429,
                headers={"Retry-After": str(full.retry_after)},
            )
        if fault == DROP_AFTER:
            request.scope[_DROP_KEY]()
            return Response(b"")
        body = json.dumps(outcome.body, separators=(",", ":")).encode()
        if fault == "slow_response" and not await _slow_down(request, config.faults.slow_seconds):
            return Response(b"", 503)  # the client left, or the server is stopping
        if fault == "malformed_body":
            return Response(engine.faults.malformed(body), 200, media_type="application/json")
        return Response(body, outcome.status, media_type="application/json")

    async def get_image(request: Request) -> Response:
        name = request.path_params["name"]
        stem, _, ext = name.rpartition(".")
        record = engine.find_image(stem, ext) if rules.is_uuid(stem) else None
        if record is None:
            return _json(
                errors.request_error("imageNotFound", "No such image, or it has expired."), 404
            )
        data = await engine.image_bytes(record)
        engine.stats.images_served += 1
        engine.stats.bytes_served += len(data)
        return Response(
            data,
            media_type=images.mime_type(record.output_format),
            headers={"Cache-Control": "private, max-age=60"},
        )

    async def stats(request: Request) -> Response:
        return _json(engine.stats_dict())

    async def reset(request: Request) -> Response:
        raw = await request.body()
        options = json.loads(raw) if raw.strip() else {}
        await engine.reset(restore_config=bool(options.get("restore_config", False)))
        return _json({"ok": True, "config": engine.config.to_dict()})

    async def config_endpoint(request: Request) -> Response:
        if request.method == "POST":
            try:
                changes = json.loads(await request.body() or b"{}")
                if not isinstance(changes, dict):
                    raise ValueError("the body must be a JSON object")
                engine.configure(engine.config.updated(**changes))
            except (ValueError, TypeError) as exc:
                return _json({"ok": False, "error": str(exc)}, 400)
        return _json(engine.config.to_dict())

    async def clock(request: Request) -> Response:
        options = json.loads(await request.body() or b"{}")
        engine.clock.advance(float(options.get("advance", 0)))
        return _json({"offset": engine.clock.offset})

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        engine.start()
        try:
            yield
        finally:
            await engine.close()

    app = Starlette(
        routes=[
            Route("/v1", submit, methods=["POST"]),
            Route("/v1/", submit, methods=["POST"]),
            Route("/images/{name}", get_image, methods=["GET", "HEAD"]),
            Route("/_emulator/stats", stats, methods=["GET"]),
            Route("/_emulator/reset", reset, methods=["POST"]),
            Route("/_emulator/config", config_endpoint, methods=["GET", "POST"]),
            Route("/_emulator/clock", clock, methods=["POST"]),
        ],
        lifespan=lifespan,
    )
    return ConnectionDropper(app)


async def _slow_down(request: Request, seconds: float) -> bool:
    """Wait ``seconds``; False when the client disconnected or the server is stopping first."""
    deadline = asyncio.get_running_loop().time() + seconds
    try:
        while (remaining := deadline - asyncio.get_running_loop().time()) > 0:
            await asyncio.sleep(min(0.1, remaining))
            if await request.is_disconnected():
                return False
    except asyncio.CancelledError:
        # uvicorn cancels handlers still running at shutdown; nobody waits for this answer.
        return False
    return True


def _injected_status(fault: str, config: EmulatorConfig) -> Response:
    status = {"http_500": 500, "http_503": 503, "http_429": 429}[fault]
    code, message = {
        500: (errors.INTERNAL_SERVER_ERROR, "Internal server error (injected fault)."),
        503: (errors.SERVICE_UNAVAILABLE, "Temporary capacity constraint (injected fault)."),
        429: (errors.QUEUE_CAPACITY_EXCEEDED, "Queue capacity exceeded (injected fault)."),
    }[status]
    headers: dict[str, str] = {}
    retry_after = config.faults.retry_after
    if status in (429, 503) and retry_after is not None:
        headers["Retry-After"] = str(math.ceil(retry_after))
    return _json(errors.request_error(code, message), status, headers)
