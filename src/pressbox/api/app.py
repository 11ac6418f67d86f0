"""The HTTP app: routes, lifespan, the edge (keys, limits, shedding, deadlines) and errors.

:func:`create_app` assembles a FastAPI app from its arguments, with no globals. Resources
live in the lifespan: the :class:`~pressbox.service.Service` (opened there unless given),
the Redis client when ``cache_url`` is ``redis://``, the key store, the delivery
:class:`~pressbox.delivery.Hub`, and the background roles of the process (ingest, process).

Every request to ``/v1/`` passes the edge (:class:`Edge`, plain ASGI, which
:class:`PressboxApp` runs in front of FastAPI's own per-request layers) in this order:
header size (431), API key (401), load shedding by priority and tier (503; a request a cache
holds an answer for gets that answer instead: a current prediction, or a game read's
last answer marked stale), the key's
token bucket (429), then either the hot path (a fresh cached prediction is written as
pre-encoded bytes, without routing) or the FastAPI route under its deadline (503 past
it). Every answer carries ``RateLimit-Limit``, ``RateLimit-Remaining`` and
``RateLimit-Reset``.

Errors map to HTTP in one table, :data:`ERRORS`; exception groups with one error are
unwrapped first (like Starlette's ``collapse_excgroups``).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from prometheus_client import CollectorRegistry
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import BaseRoute
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pressbox.api.keys import Authenticator, Unauthorized, keystore_from_url
from pressbox.api.limits import MemoryLimiter, RedisLeaseLimiter
from pressbox.api.metrics import api_metrics
from pressbox.api.predict import Prediction, PredictionCache, RedisSharedCache
from pressbox.api.reads import ReadCache, Stale, Ticket
from pressbox.api.routes import load_prediction, public, router
from pressbox.api.runtime import Runtime
from pressbox.api.settings import ApiSettings, CoreSettings
from pressbox.api.shedding import Priority, Shedder, priority_of
from pressbox.delivery import Hub, SSEStream, delivery_routes, with_streams
from pressbox.delivery.sse import server_owner
from pressbox.engine.events import Update
from pressbox.errors import (
    BackendError,
    CircuitOpen,
    PressboxError,
    RateLimited,
    UnknownGame,
)
from pressbox.gcpolicy import CollectorPolicy
from pressbox.metrics import pipeline_metrics
from pressbox.service import Service, run_roles

_log = structlog.get_logger("pressbox.api")

WEB_DIR = Path(__file__).resolve().parent.parent / "web"
"""The booth dashboard's files, served at ``/`` when there is an ``index.html``."""


@dataclass(frozen=True, slots=True)
class Roles:
    """What one process runs.

    Args:
        api: The REST API under ``/v1/``.
        gateway: Delivery: SSE, WebSocket and graphics routes.
        ingest: Replay real games into the log (the demo source).
        process: A processor pool turning events into updates.
        paths: Retrosheet files or folders for ``ingest`` (default: the bundled games).
        speed: Replay speed-up for ``ingest`` (default: the settings').
        upstream_url: Ingest by polling this MLB Stats API (or ``pressbox upstream``)
            instead of replaying files.
        poll_interval: Seconds between polls of a game during play, with ``upstream_url``
            (``None``: the poller's default, 5 s, and 30 s in breaks).
    """

    api: bool = True
    gateway: bool = False
    ingest: bool = False
    process: bool = False
    paths: tuple[str, ...] = ()
    speed: float | None = None
    upstream_url: str | None = None
    poll_interval: float | None = None

    @classmethod
    def everything(
        cls,
        paths: Sequence[str] = (),
        speed: float | None = None,
        *,
        upstream_url: str | None = None,
        poll_interval: float | None = None,
    ) -> Roles:
        """Every role in one process (``pressbox serve``)."""
        return cls(True, True, True, True, tuple(paths), speed, upstream_url, poll_interval)


# ------------------------------------------------------------------------------ errors


@dataclass(frozen=True, slots=True)
class ErrorRule:
    """How one kind of exception is answered."""

    status: int
    code: str
    retry_after: bool = False


ERRORS: tuple[tuple[type[BaseException], ErrorRule], ...] = (
    (Unauthorized, ErrorRule(401, "unauthorized")),
    (RateLimited, ErrorRule(429, "rate_limited", retry_after=True)),
    (UnknownGame, ErrorRule(404, "unknown_game")),
    (CircuitOpen, ErrorRule(503, "unavailable", retry_after=True)),
    (BackendError, ErrorRule(503, "unavailable", retry_after=True)),
    (TimeoutError, ErrorRule(503, "timeout", retry_after=True)),
    (RequestValidationError, ErrorRule(422, "invalid_request")),
    (ValueError, ErrorRule(422, "invalid_request")),
)
"""The one error → HTTP table, first match wins (``BackendUnavailable`` is a
``BackendError``). Anything else is a bug and answers 500."""


def collapse(exc: BaseException) -> BaseException:
    """The single error inside (nested) exception groups of one, else ``exc`` itself."""
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return exc


def _reason(exc: BaseException) -> str:
    if isinstance(exc, RequestValidationError):
        parts = []
        for error in exc.errors()[:5]:
            where = ".".join(str(p) for p in error.get("loc", ()))
            parts.append(f"{where}: {error.get('msg', 'invalid')}")
        return "; ".join(parts) or "invalid request"
    return str(exc) or type(exc).__name__


def error_response(exc: BaseException, retry_after_s: int = 1) -> JSONResponse | None:
    """The answer for an exception by :data:`ERRORS`, or ``None`` when it is not listed."""
    exc = collapse(exc)
    for kind, rule in ERRORS:
        if isinstance(exc, kind):
            body: dict[str, Any] = {"error": rule.code, "reason": _reason(exc)}
            headers: dict[str, str] = {}
            if isinstance(exc, RateLimited):
                body["limit"] = exc.limit
                body["retry_after"] = exc.retry_after
            if isinstance(exc, RequestValidationError):
                body["detail"] = json.loads(json.dumps(exc.errors()[:20], default=str))
            if rule.retry_after:
                wait = exc.retry_after if isinstance(exc, RateLimited) else retry_after_s
                headers["Retry-After"] = str(max(1, int(-(-wait // 1))))
                body.setdefault("retry_after", float(wait))
            if isinstance(exc, Unauthorized):
                headers["WWW-Authenticate"] = 'ApiKey header="X-API-Key"'
            return JSONResponse(body, status_code=rule.status, headers=headers)
    return None


def _install_errors(app: FastAPI, retry_after_s: int) -> None:
    async def mapped(request: Request, exc: Exception) -> Response:
        answer = error_response(exc, retry_after_s)
        if answer is None:
            raise exc
        return answer

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)  # noqa: S101 - registered for it
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return JSONResponse(
            {"error": code, "reason": str(exc.detail)},
            status_code=exc.status_code,
            headers=exc.headers,
        )

    for kind, _ in ERRORS:
        if issubclass(kind, Exception):
            app.add_exception_handler(kind, mapped)
    app.add_exception_handler(PressboxError, mapped)
    app.add_exception_handler(ExceptionGroup, mapped)
    app.add_exception_handler(StarletteHTTPException, http_error)


# ------------------------------------------------------------------------------ edge

_JSON = (b"content-type", b"application/json")
_STREAMS = ("/v1/stream", "/v1/ws")
_ROUTE = {Priority.HIGH: "predict", Priority.NORMAL: "normal", Priority.LOW: "low"}


class _TooLarge(Exception):
    pass


async def _answer(
    send: Send,
    status: int,
    body: dict[str, Any],
    headers: Sequence[tuple[bytes, bytes]] = (),
) -> None:
    await _send_bytes(send, status, json.dumps(body).encode(), headers)


async def _send_bytes(
    send: Send,
    status: int,
    data: bytes,
    headers: Sequence[tuple[bytes, bytes]] = (),
    content_type: tuple[bytes, bytes] = _JSON,
) -> None:
    """An answer whose body is already encoded, with its length."""
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [content_type, (b"content-length", b"%d" % len(data)), *headers],
        }
    )
    await send({"type": "http.response.body", "body": data})


class Edge:
    """The plain ASGI middleware in front of every ``/v1/`` route (see the module doc).

    Args:
        app: The app behind it.
        runtime: The running app's parts; requests pass straight through until it is ready.
    """

    def __init__(self, app: ASGIApp, runtime: Runtime) -> None:
        self.app = app
        self.rt = runtime
        self._counters: dict[tuple[str, int], Any] = {}
        self._refusals: dict[tuple[Priority, str], tuple[Any, Message, Message]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        rt = self.rt
        if scope["type"] != "http" or not rt.ready:
            if scope["type"] == "websocket" and rt.ready and scope["path"].startswith("/v1/"):
                refusal = await self._websocket_refusal(scope)
                if refusal is not None:
                    # Refusing before accepting answers the handshake with 403.
                    await receive()
                    await send({"type": "websocket.close", "code": 1008, "reason": refusal})
                    return
            await self.app(scope, receive, send)
            return
        token: bytes | None = None
        size = 0
        for name, value in scope["headers"]:
            size += len(name) + len(value)
            if name == b"x-api-key":
                token = value
            elif name == b"authorization" and value[:7].lower() == b"bearer ":
                token = value[7:]
        api = rt.api
        if size > api.max_header_bytes:
            await _answer(send, 431, {"error": "headers_too_large", "reason": "headers too large"})
            return
        path: str = scope["path"]
        if not path.startswith("/v1/"):
            await self.app(scope, receive, send)
            return
        if token is None and scope["query_string"]:
            # EventSource cannot set headers: streams may pass the key as ?api_key=.
            found = parse_qs(scope["query_string"].decode("latin-1")).get("api_key")
            token = found[-1].encode("latin-1") if found else None
        if token is None:
            if not api.public:
                await self._refuse_auth(send, "missing API key (X-API-Key header)")
                return
            client = scope.get("client")
            principal = rt.booth_principal(client[0] if client else "unknown")
        else:
            auth = rt.auth
            assert auth is not None  # noqa: S101 - set before ready
            text = token.decode("latin-1")
            known = auth.cached(text)
            if known is None:
                try:
                    known = await auth.authenticate(text)
                except Unauthorized as exc:
                    known = exc.reason
                except BackendError as exc:
                    await _answer(
                        send,
                        503,
                        {"error": "unavailable", "reason": str(exc), "retry_after": 1.0},
                        [(b"retry-after", b"1")],
                    )
                    return
            if isinstance(known, str):
                await self._refuse_auth(send, known)
                return
            principal = known
        method: str = scope["method"]
        priority = priority_of(method, path)
        stream = path.startswith(_STREAMS)
        stale: Stale | None = None
        rebuild: Ticket | None = None
        shed = not stream and not rt.shedder.admit(priority, principal.spec.rank)
        # The connection is held back only when the loop is overloaded for this request,
        # not when the low-priority budget alone refused it (see _hold_shed).
        hold = shed and rt.shedder.pressed(priority, principal.spec.rank)
        if shed and self._kept_prediction(path, method) is None:
            instead = self._instead_of_refusal(path, scope["query_string"], method)
            if instead is None:
                await self._overloaded(scope, send, priority, principal.tier, hold=hold)
                return
            if isinstance(instead, Ticket):  # this one rebuilds the kept answer
                shed, rebuild = False, instead
            else:
                stale = instead
        limiter = rt.limiter
        decision = None
        if limiter is not None:
            decision = limiter.try_local(principal) or await limiter.acquire(principal)
            limit_headers = decision.headers()
        else:
            limit_headers = []
        if decision is not None and not decision.allowed:
            rt.metrics.refused.labels("rate_limited", principal.tier).inc()
            spec = principal.spec
            await _answer(
                send,
                429,
                {
                    "error": "rate_limited",
                    "reason": f"key {principal.key_id} is over its {principal.tier} limit",
                    "limit": f"{principal.tier}: {spec.rate:g}/s, burst {spec.burst}",
                    "retry_after": round(decision.retry_after, 3),
                },
                limit_headers,
            )
            return
        found_prediction = (
            self._kept_prediction(path, method) if priority is Priority.HIGH else None
        )
        if found_prediction is not None:
            self._count("predict", found_prediction.status)
            body = found_prediction.body(time.time())
            await _send_bytes(send, found_prediction.status, body, limit_headers)
            if hold:
                self._hold_shed(scope, send)
            return
        if shed and stale is None:  # the kept prediction expired while the bucket was asked
            await self._overloaded(scope, send, priority, principal.tier, hold=hold)
            return
        if stream:
            await self.app(scope, receive, _with_headers(send, limit_headers, None))
            return
        if stale is not None:
            await self._answer_stale(send, stale, limit_headers, priority)
            if hold:
                self._hold_shed(scope, send)
            return
        reads = rt.reads
        if rebuild is not None and reads is not None:
            send = _keeping(send, reads, rebuild)
        elif reads is not None and method == "GET":
            kept = reads.lookup(path, scope["query_string"])
            if isinstance(kept, tuple):
                await self._answer_kept(send, kept, limit_headers, priority)
                return
            if kept is not None:
                send = _keeping(send, reads, kept)
        deadline = api.cached_deadline_s if priority is Priority.HIGH else api.deadline_s
        await self._inner(scope, receive, send, limit_headers, deadline, method)

    async def _answer_kept(
        self,
        send: Send,
        kept: tuple[bytes, bytes],
        limit_headers: list[tuple[bytes, bytes]],
        priority: Priority,
    ) -> None:
        began = time.perf_counter()
        body, media_type = kept
        await _send_bytes(send, 200, body, limit_headers, (b"content-type", media_type))
        if priority is Priority.LOW:
            self.rt.shedder.record_low(time.perf_counter() - began)
        self._count(_ROUTE[priority], 200)

    def _kept_prediction(self, path: str, method: str) -> Prediction | None:
        """The prediction cache's current answer to ``GET /v1/predict/{sport}/{game}``
        (kept up to date by every update of the game), or ``None``. The hot path gives it
        without routing, at the cost of a refusal: a shed request it answers needs none."""
        predictions = self.rt.predictions
        if predictions is None or method != "GET" or not path.startswith("/v1/predict/"):
            return None
        parts = path.split("/")
        return predictions.peek(parts[3], parts[4]) if len(parts) == 5 else None

    def _hold_shed(self, scope: Scope, send: Send) -> None:
        # A request shed while the loop is overloaded for it (refused, or answered from a
        # cache): its connection is held back. One refused by the low-priority budget
        # alone is not: the loop has room, the answer was cheap, and holding the
        # connection would only make the client's next request wait, whatever its
        # priority (game night, a third of the reads shed by the budget: every endpoint's
        # p99 was the hold, 250-390 ms).
        pause = self.rt.api.shed_pause_s
        if pause > 0:
            _hold(scope, send, pause)

    def _instead_of_refusal(self, path: str, query: bytes, method: str) -> Stale | Ticket | None:
        """What to give a read the shedder refused (:meth:`ReadCache.fallback`); ``None``
        when the request must be refused."""
        reads = self.rt.reads
        if reads is None or method != "GET":
            return None
        return reads.fallback(path, query)

    async def _answer_stale(
        self,
        send: Send,
        stale: Stale,
        limit_headers: list[tuple[bytes, bytes]],
        priority: Priority,
    ) -> None:
        headers = list(limit_headers)
        if stale.behind or stale.age_s > self.rt.api.read_cache_s:
            # Age (RFC 9111) in whole seconds; Cache-Status (RFC 9211) says why and how far.
            detail = f'"overloaded: {stale.behind} updates behind, {stale.age_s:.3f} s old"'
            headers += [
                (b"age", b"%d" % int(stale.age_s)),
                (b"cache-status", b"pressbox; hit; detail=" + detail.encode()),
            ]
        await self._answer_kept(send, (stale.body, stale.media_type), headers, priority)

    async def _websocket_refusal(self, scope: Scope) -> str | None:
        """Why a WebSocket may not connect (no or bad key), or ``None``."""
        token = next((v for n, v in scope["headers"] if n == b"x-api-key"), None)
        if token is None and scope.get("query_string"):
            found = parse_qs(scope["query_string"].decode("latin-1")).get("api_key")
            token = found[-1].encode("latin-1") if found else None
        if token is None:
            return None if self.rt.api.public else "missing API key"
        auth = self.rt.auth
        if auth is None:
            return "the key store is not running"
        try:
            await auth.authenticate(token.decode("latin-1"))
        except Unauthorized as exc:
            return exc.reason
        except BackendError:
            return "the key store is unavailable"
        return None

    async def _overloaded(
        self, scope: Scope, send: Send, priority: Priority, tier: str, *, hold: bool
    ) -> None:
        # Under overload refusals come by the thousand per second: each (class, tier)
        # answer is encoded once.
        found = self._refusals.get((priority, tier))
        if found is None:
            wait = self.rt.api.retry_after_s
            body = json.dumps(
                {
                    "error": "overloaded",
                    "reason": f"the server is overloaded; {_ROUTE[priority]} requests of "
                    f"tier {tier} are refused for now",
                    "retry_after": float(wait),
                }
            ).encode()
            headers = [
                _JSON,
                (b"content-length", b"%d" % len(body)),
                (b"retry-after", b"%d" % wait),
            ]
            found = self._refusals[(priority, tier)] = (
                self.rt.metrics.refused.labels("overloaded", tier),
                {"type": "http.response.start", "status": 503, "headers": headers},
                {"type": "http.response.body", "body": body},
            )
        counter, start, body_message = found
        counter.inc()
        # Fresh dicts: a server or middleware may change the messages it is given.
        await send(dict(start))
        await send(dict(body_message))
        if hold:
            self._hold_shed(scope, send)

    def _count(self, route: str, status: int) -> None:
        child = self._counters.get((route, status))
        if child is None:
            child = self._counters[(route, status)] = self.rt.metrics.requests.labels(
                route, str(status)
            )
        child.inc()

    @staticmethod
    def _too_large(limit: int) -> Callable[[Send], Awaitable[None]]:
        async def answer(send: Send) -> None:
            await _answer(
                send,
                413,
                {"error": "body_too_large", "reason": f"the body may have at most {limit} bytes"},
            )

        return answer

    async def _refuse_auth(self, send: Send, reason: str) -> None:
        self.rt.metrics.refused.labels("unauthorized", "").inc()
        await _answer(
            send,
            401,
            {"error": "unauthorized", "reason": reason},
            [(b"www-authenticate", b'ApiKey header="X-API-Key"')],
        )

    async def _inner(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        limit_headers: list[tuple[bytes, bytes]],
        deadline: float,
        method: str,
    ) -> None:
        api = self.rt.api
        too_large: list[bool] = []
        if method not in ("GET", "HEAD", "OPTIONS"):
            for name, value in scope["headers"]:
                if name == b"content-length" and (
                    not value.isdigit() or int(value) > api.max_body_bytes
                ):
                    await self._too_large(api.max_body_bytes)(send)
                    return
            receive = _bounded(receive, api.max_body_bytes, too_large)
            send = _replace_when(send, too_large, self._too_large(api.max_body_bytes))
        started: list[int] = []
        shedder = self.rt.shedder
        metrics = self.rt.metrics
        shedder.inflight += 1
        metrics.inflight.inc()
        began = time.perf_counter()
        try:
            async with asyncio.timeout(deadline) as scope_deadline:
                await self.app(scope, receive, _with_headers(send, limit_headers, started))
        except TimeoutError:
            if not scope_deadline.expired() or started:
                raise
            self.rt.metrics.refused.labels("deadline", "").inc()
            wait = api.retry_after_s
            await _answer(
                send,
                503,
                {
                    "error": "timeout",
                    "reason": f"no answer within the {deadline:g} s deadline",
                    "retry_after": float(wait),
                },
                [(b"retry-after", b"%d" % wait), *limit_headers],
            )
        except _TooLarge:
            if started:
                raise
            await self._too_large(api.max_body_bytes)(send)
        finally:
            shedder.inflight -= 1
            metrics.inflight.dec()
            done_priority = priority_of(method, scope["path"])
            took = time.perf_counter() - began
            if done_priority is Priority.LOW:
                shedder.record_low(took)
            route = _ROUTE[done_priority]
            metrics.latency.labels(route).observe(took)
            self._count(route, started[0] if started else 503)


_UVICORN_HTTP = {"uvicorn.protocols.http.h11_impl", "uvicorn.protocols.http.httptools_impl"}


def _hold(scope: Scope, send: Send, pause: float) -> None:
    """Stop reading the connection of a shed request (refused, or given an older answer)
    for ``pause`` seconds (uvicorn only).

    Under an open-loop overload, refusing is not free: each refusal is still a request
    parsed and answered on the one event loop that also serves the high-priority ones.
    A client told ``Retry-After`` that sends again at once waits in its own socket buffer
    instead (TCP flow control), and the loop's turns stay short. Under other servers, or
    when the connection is already paused, nothing happens.
    """
    owner = server_owner(scope, send, _UVICORN_HTTP)
    transport = getattr(owner, "transport", None)
    if transport is None or transport.is_closing() or not transport.is_reading():
        return
    transport.pause_reading()
    asyncio.get_running_loop().call_later(pause, _resume_reading, transport)


def _resume_reading(transport: Any) -> None:
    if not transport.is_closing():
        transport.resume_reading()


def _keeping(send: Send, reads: ReadCache, ticket: Ticket) -> Send:
    """Pass the answer on, and keep it in ``reads`` when it is a whole ``200``."""
    status = 0
    media_type = b"application/json"
    parts: list[bytes] = []

    async def wrapped(message: Message) -> None:
        nonlocal status, media_type
        if message["type"] == "http.response.start":
            status = int(message["status"])
            for name, value in message.get("headers", ()):
                if name.lower() == b"content-type":
                    media_type = value
        elif message["type"] == "http.response.body" and status == 200:
            parts.append(message.get("body", b""))
            if not message.get("more_body", False):
                reads.keep(ticket, b"".join(parts), media_type)
        await send(message)

    return wrapped


def _with_headers(send: Send, extra: list[tuple[bytes, bytes]], started: list[int] | None) -> Send:
    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            if started is not None:
                started.append(int(message["status"]))
            message = {**message, "headers": [*message.get("headers", ()), *extra]}
        await send(message)

    return wrapped


def _bounded(receive: Receive, limit: int, too_large: list[bool]) -> Receive:
    seen = 0

    async def wrapped() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                too_large.append(True)
                raise _TooLarge
        return message

    return wrapped


def _replace_when(send: Send, flag: list[bool], answer: Callable[[Send], Awaitable[None]]) -> Send:
    # The framework turns an error while reading the body into its own 400; once the body
    # was found too large, that answer is replaced by the 413.
    replaced = False

    async def wrapped(message: Message) -> None:
        nonlocal replaced
        if flag and message["type"] == "http.response.start":
            replaced = True
            await answer(send)
            return
        if replaced:
            return
        await send(message)

    return wrapped


# ------------------------------------------------------------------------------ app


@dataclass
class _Parts:
    runtime: Runtime
    owns_service: bool
    roles: Roles
    settings: CoreSettings
    tasks: list[asyncio.Task[None]] = field(default_factory=list)


def create_app(
    settings: CoreSettings,
    *,
    service: Service | None = None,
    roles: Roles | None = None,
    api_settings: ApiSettings | None = None,
    registry: CollectorRegistry | None = None,
    redis_client: Any = None,
    extra_routes: Sequence[BaseRoute] = (),
) -> FastAPI:
    """Build the HTTP app of one process.

    Args:
        settings: The core settings (``pressbox.config.Settings``): backend URLs.
        service: A service to use; when ``None`` one is built from ``settings`` and
            opened (and closed) by the lifespan. A given service is used as it is: the
            caller opens and closes it.
        roles: What this process runs; by default the REST API only.
        api_settings: The API's settings; read from ``PRESSBOX_API_*`` when ``None``.
        registry: The Prometheus registry for the API's metrics and ``/metrics``
            (default: the global one).
        redis_client: A ready ``redis.asyncio`` client for limits, the shared cache and
            keys (default: one opened from ``settings.cache_url`` when it is ``redis://``).
        extra_routes: More routes to mount (the booth page, tests).

    Returns:
        The app; run it with uvicorn or any ASGI server.
    """
    roles = roles or Roles()
    api = api_settings or ApiSettings()
    owns = service is None
    # The layering keeps api from importing pressbox.config, so the core Settings is named
    # here by the Protocol of the fields the API reads; Service wants the class itself.
    svc = service if service is not None else Service(settings)  # type: ignore[arg-type]
    stages = pipeline_metrics(registry).stage_seconds.labels("publish")

    def observe_publish(update: Update) -> None:
        # The processor's emit to this gateway's receipt: the log's share of play-to-display.
        if update.ts_emit is not None:
            stages.observe(max(time.time() - update.ts_emit, 0.0))

    hub = Hub(
        svc.bus,
        follow_all=True,
        listeners=[observe_publish],
        registry=registry,
        writers=api.stream_writers,
    )
    runtime = Runtime(
        service=svc,
        api=api,
        tiers=api.all_tiers(),
        hub=hub,
        shedder=Shedder(
            max_inflight=api.max_inflight, max_lag_s=api.max_lag_s, low_share=api.low_share
        ),
        metrics=api_metrics(registry),
        registry=registry,
    )
    parts = _Parts(runtime, owns, roles, settings)

    app = PressboxApp(
        title="pressbox",
        version="1",
        summary="Live win probability and game data.",
        description=(
            "Every /v1/ data endpoint takes an API key in the X-API-Key header "
            "(or Authorization: Bearer). Answers about missing data are 200 with "
            '{"available": false, "reason": ...}.'
        ),
        lifespan=lambda app: _lifespan(app, parts, redis_client),
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.runtime = runtime
    app.state.roles = roles
    _install_errors(app, api.retry_after_s)
    app.include_router(public)
    if roles.api:
        app.include_router(router)
    inner: ASGIApp = functools.partial(FastAPI.__call__, app)
    if roles.gateway:
        sse = SSEStream(hub)
        app.router.routes.extend(delivery_routes(hub, sse=sse))
        # A stream that passed the edge (key, stream quota) goes straight to its endpoint:
        # an idle one then holds the server's, the edge's and the endpoint's frames, not
        # those of FastAPI's middleware, which would be some twenty coroutines and their
        # closures per connection, all of them walked by every full garbage collection.
        inner = with_streams(inner, sse)
    app.router.routes.extend(extra_routes)
    _mount_dashboard(app)
    app.edge = Edge(inner, runtime)
    return app


class PressboxApp(FastAPI):
    """FastAPI with the :class:`Edge` in front of everything else.

    The edge runs before FastAPI's own per-request layers (its telemetry check, Starlette's
    error, telemetry and body-limit middleware), which the hot path would otherwise pay
    for on every cached prediction without using them: a fresh prediction is answered
    there, and every other request goes on into the whole FastAPI app, those layers
    included. An error the edge itself raises is answered 500 by the server.
    """

    edge: Edge | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request to the edge (or, before :func:`create_app` set one, to FastAPI)."""
        if self.edge is None:
            await super().__call__(scope, receive, send)
            return
        await self.edge(scope, receive, send)


def _mount_dashboard(app: FastAPI) -> None:
    if (WEB_DIR / "index.html").is_file():
        app.mount("/", StaticFiles(directory=WEB_DIR, html=True), name="dashboard")
        return

    @app.get("/", include_in_schema=False)
    async def dashboard() -> HTMLResponse:
        return HTMLResponse(
            "<!doctype html><title>pressbox</title><h1>pressbox</h1>"
            '<p>API: <a href="/docs">/docs</a>, <a href="/v1/games">/v1/games</a>, '
            '<a href="/v1/predictions/latest">/v1/predictions/latest</a></p>'
        )


@contextlib.asynccontextmanager
async def _lifespan(app: FastAPI, parts: _Parts, redis_client: Any) -> AsyncIterator[None]:
    rt = parts.runtime
    api = rt.api
    async with contextlib.AsyncExitStack() as stack:
        if parts.owns_service:
            await stack.enter_async_context(rt.service)
        cache_url = parts.settings.cache_url
        redis = redis_client
        if redis is None and cache_url.startswith(("redis://", "rediss://")):
            import redis.asyncio as aioredis

            redis = aioredis.from_url(cache_url, socket_timeout=2.0, socket_connect_timeout=2.0)
            stack.push_async_callback(redis.aclose)
        rt.redis = redis
        keys_url = api.resolved_keys_url(parts.settings)
        shares_redis = redis is not None and keys_url == cache_url
        rt.keys = await stack.enter_async_context(
            keystore_from_url(keys_url, redis_client=redis if shares_redis else None)
        )
        rt.auth = Authenticator(rt.keys, rt.tiers, cache_s=api.key_cache_s)
        if not api.ratelimit:
            rt.limiter = None
        elif redis is not None:
            rt.limiter = RedisLeaseLimiter(
                redis,
                lease_s=api.lease_s,
                lease_max=api.lease_max,
                lease_ttl_s=api.lease_ttl_s,
                fallback=MemoryLimiter(),
            )
        else:
            rt.limiter = MemoryLimiter()
        service = rt.service

        computed = rt.metrics.computations

        hub = rt.hub

        async def load(sport: str, game_id: str) -> Any:
            computed.inc()
            prediction = await load_prediction(service, sport, game_id)
            if prediction.status == 200:
                # Follow the game from now on (discovery would find it within seconds), so
                # its next update replaces this entry.
                hub.follow(game_id, since=prediction.seq)
            return prediction

        rt.predictions = PredictionCache(
            load,
            ttl=api.cache_ttl_s,
            shared=RedisSharedCache(redis) if redis is not None else None,
            shared_ttl=api.shared_cache_ttl_s,
            registry=rt.registry,
        )
        rt.hub.add_listener(rt.predictions.on_update)
        if api.read_cache_s > 0:
            rt.reads = ReadCache(
                ttl_s=api.read_cache_s, stale_s=api.read_stale_s, registry=rt.registry
            )
            rt.hub.add_listener(rt.reads.on_update)
        await stack.enter_async_context(rt.hub)
        _spawn(parts, "shedder", rt.shedder.monitor(observe=rt.metrics.loop_lag.observe))
        if api.gc_policy:
            policy = CollectorPolicy(
                freeze_every_s=api.gc_freeze_s, full_every_s=api.gc_full_s, registry=rt.registry
            )
            _spawn(parts, "gc", policy.run())
        roles = parts.roles
        if roles.ingest or roles.process:
            _spawn(
                parts,
                "roles",
                run_roles(
                    service,
                    ingest=roles.ingest,
                    process=roles.process,
                    paths=list(roles.paths) or None,
                    speed=roles.speed,
                    upstream_url=roles.upstream_url,
                    poll_interval=roles.poll_interval,
                ),
            )
        rt.ready = True
        _log.info("api.started", roles=str(roles), public=api.public)
        try:
            yield
        finally:
            rt.ready = False
            for task in parts.tasks:
                task.cancel()
            for task in parts.tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            parts.tasks.clear()


def _spawn(parts: _Parts, name: str, coro: Any) -> None:
    # Owned by the lifespan, which cancels and awaits it on shutdown; a crash is logged
    # at once rather than found at shutdown.
    task: asyncio.Task[None] = asyncio.get_running_loop().create_task(coro, name=name)

    def done(t: asyncio.Task[None]) -> None:
        if not t.cancelled() and t.exception() is not None:
            _log.error("api.task_failed", task=name, error=str(t.exception()))

    task.add_done_callback(done)
    parts.tasks.append(task)


RoleFactory = Callable[[], FastAPI]
