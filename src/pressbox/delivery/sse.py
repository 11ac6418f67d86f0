"""Server-sent events: ``GET /v1/stream/games/{game_id}`` and ``GET /v1/stream?games=a,b``.

A stream opens with a ``retry:`` hint, then one ``snapshot`` event per game (the game's
latest update), then ``update`` events as they happen; a comment (``: hb``) every 15 s
keeps it alive. Data events carry ``id: {game}:{seq}``; a stream of several games lists
every game's position, ``id: a:12,b:40`` (in the order of ``games=``), so that a
reconnect with ``Last-Event-ID`` resumes each game exactly. See docs/delivery.md.

The endpoint is a raw ASGI app rather than a ``StreamingResponse``: under uvicorn (h11 or
httptools, HTTP/1.1) it reaches the connection's transport and lets the hub write
pre-encoded, chunk-framed events to it directly, with no task and no queue per client
(about twice the throughput at a tenth of the memory; docs/benchmarks.md). Elsewhere it
falls back to a small bounded queue drained by the handler, raced against the client's
disconnect as Starlette's ``StreamingResponse`` does.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

import msgspec
import structlog
from starlette.types import Message, Receive, Scope, Send

from pressbox.delivery.fanout import Hub, Refused, Subscriber, chunk
from pressbox.errors import BackendError, UnknownGame

__all__ = [
    "KeyFunc",
    "SSEStream",
    "api_key",
    "expose_transport",
    "is_transport",
    "parse_last_event_id",
    "with_streams",
]

_log = structlog.get_logger("pressbox.delivery.sse")

KeyFunc = Callable[[Scope], str | None]
"""Finds the API key a connection counts against (``None``: anonymous)."""

# Request cycles whose transport the hub may write HTTP/1.1 chunks to directly.
_DIRECT = {"uvicorn.protocols.http.h11_impl", "uvicorn.protocols.http.httptools_impl"}
_EXTENSION = "pressbox.cycle"


def api_key(scope: Scope) -> str | None:
    """The ``X-API-Key`` header, else the ``api_key`` query parameter, else ``None``."""
    for name, value in scope.get("headers", ()):
        if name == b"x-api-key":
            return str(value.decode("latin-1"))
    values = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("api_key")
    return values[-1] if values else None


def parse_last_event_id(value: str | None) -> dict[str, int]:
    """Read ``game:seq`` or ``a:12,b:40`` into positions; anything unreadable is ignored.

    Args:
        value: The ``Last-Event-ID`` header (or ``last_event_id`` query parameter).

    Returns:
        The last seq the client has, per game.
    """
    positions: dict[str, int] = {}
    if not value:
        return positions
    for part in value.split(","):
        game, sep, seq = part.strip().rpartition(":")
        if sep and game and seq.isdigit():
            positions[game] = int(seq)
    return positions


def expose_transport(app: Any) -> Any:
    """Wrap the outermost ASGI app so that SSE endpoints find uvicorn's request cycle.

    The SSE endpoint also finds it through the ``send`` wrappers of Starlette's own
    middleware; this wrapper makes it certain whatever middleware sits in between.
    """

    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        extensions = None
        if scope["type"] in ("http", "websocket"):
            cycle = getattr(send, "__self__", None)
            if cycle is not None:
                extensions = scope.setdefault("extensions", {})
                if isinstance(extensions, dict):
                    extensions[_EXTENSION] = cycle
        try:
            await app(scope, receive, send)
        finally:
            # The cycle holds the scope: left in it, the reference would make every
            # request's objects (scope, cycle, its event and queue, the app's state) a
            # reference cycle that only the cyclic collector frees, instead of freeing
            # them as the request ends. Seen: a quarter of the pipeline's collector work.
            if isinstance(extensions, dict):
                extensions.pop(_EXTENSION, None)

    return wrapped


def with_streams(app: Any, sse: SSEStream, *, prefix: str = "/v1") -> Any:
    """Serve the SSE paths in front of ``app``, outside its middleware and router.

    ``GET {prefix}/stream/games/{game_id}`` and ``GET {prefix}/stream`` go straight to
    ``sse``; everything else goes to ``app``. An idle stream then holds only the server's
    and the endpoint's frames, not those of every middleware (about 2.5 KiB less per
    connection under Starlette), and ``send`` is the server's own. Use it as the
    outermost app when connections per process matter; :func:`delivery_routes` serves the
    same paths inside the app otherwise.
    """
    games_path = f"{prefix}/stream/games/"
    stream_path = f"{prefix}/stream"

    async def gate(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope.get("method") == "GET":
            path: str = scope.get("path", "")
            if path.startswith(games_path) and "/" not in path[len(games_path) :]:
                scope["path_params"] = {"game_id": path[len(games_path) :]}
                await sse(scope, receive, send)
                return
            if path == stream_path:
                await sse(scope, receive, send)
                return
        await app(scope, receive, send)

    return gate


def _direct_cycle(scope: Scope, send: Any) -> Any:
    """The uvicorn request cycle behind ``send``, when direct writes are safe."""
    if scope.get("http_version") not in ("1.0", "1.1") or scope.get("method") != "GET":
        return None
    return server_owner(scope, send, _DIRECT)


def _chunked(cycle: Any, scope: Scope) -> bool:
    """Whether the server frames the started response's body as HTTP/1.1 chunks.

    uvicorn's httptools cycle says so itself (``chunked_encoding``); h11 chunks a body of
    unknown length for an HTTP/1.1 client and delimits it by the close for HTTP/1.0.
    """
    chunked = getattr(cycle, "chunked_encoding", None)
    if isinstance(chunked, bool):
        return chunked
    return scope.get("http_version") == "1.1"


def server_owner(scope: Scope, send: Any, modules: set[str]) -> Any:
    """The server object behind ``send`` (a uvicorn request cycle or protocol) whose class
    lives in one of ``modules`` and which holds the connection's ``transport``, or None.
    """
    candidates: list[Any] = []
    extensions = scope.get("extensions") or {}
    if isinstance(extensions, dict) and extensions.get(_EXTENSION) is not None:
        candidates.append(extensions[_EXTENSION])
    # Walk the closures of middleware send wrappers (Starlette's are plain closures).
    todo, seen = [send], 0
    while todo and seen < 16:
        fn = todo.pop()
        seen += 1
        owner = getattr(fn, "__self__", None)
        if owner is not None:
            candidates.append(owner)
        for cell in getattr(fn, "__closure__", None) or ():
            with contextlib.suppress(ValueError):
                if callable(cell.cell_contents):
                    todo.append(cell.cell_contents)
    for owner in candidates:
        if type(owner).__module__ in modules and is_transport(getattr(owner, "transport", None)):
            return owner
    return None


def is_transport(transport: object) -> bool:
    """Whether an object is a writable stream transport (asyncio's or uvloop's).

    uvloop's transports implement asyncio's interface without subclassing
    ``asyncio.Transport``, so the check is on the methods the hub calls.
    """
    return all(
        callable(getattr(transport, name, None))
        for name in ("write", "get_write_buffer_size", "is_closing", "close", "abort")
    )


def _json_response(
    status: int, body: dict[str, Any], headers: list[tuple[bytes, bytes]]
) -> tuple[Message, Message]:
    data = msgspec.json.encode(body)
    start: Message = {
        "type": "http.response.start",
        "status": status,
        "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(data)).encode()),
            *headers,
        ],
    }
    return start, {"type": "http.response.body", "body": data}


_STREAM_HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    # Proxies must neither cache nor buffer nor compress the stream.
    (b"cache-control", b"no-cache, no-transform"),
    (b"x-accel-buffering", b"no"),
]


class SSEStream:
    """The SSE endpoint, a raw ASGI app for a Starlette ``Route``.

    Args:
        hub: The running fan-out hub.
        key_of: Finds the API key a connection counts against.
        retry_ms: The reconnect delay suggested to clients.
        direct: Write to uvicorn's transport when possible (``False``: always queue).
    """

    def __init__(
        self,
        hub: Hub,
        *,
        key_of: KeyFunc = api_key,
        retry_ms: int = 2000,
        direct: bool = True,
    ) -> None:
        self.hub = hub
        self.key_of = key_of
        self.retry = b"retry: %d\n\n" % retry_ms
        self.direct = direct

    @staticmethod
    def _games(scope: Scope) -> list[str]:
        path_game = (scope.get("path_params") or {}).get("game_id")
        if path_game:
            return [str(path_game)]
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        games: list[str] = []
        for value in query.get("games", []):
            games.extend(g.strip() for g in value.split(",") if g.strip())
        return list(dict.fromkeys(games))

    @staticmethod
    def _last_event_id(scope: Scope) -> str | None:
        for name, value in scope.get("headers", ()):
            if name == b"last-event-id":
                return str(value.decode("latin-1"))
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        values = query.get("last_event_id")
        return values[-1] if values else None

    async def _refuse(self, send: Send, status: int, error: str, reason: str) -> None:
        headers = [(b"retry-after", b"5")] if status in (429, 503) else []
        start, body = _json_response(status, {"error": error, "reason": reason}, headers)
        await send(start)
        await send(body)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one stream until the client leaves or the server stops."""
        games = self._games(scope)
        if not games:
            await self._refuse(send, 400, "bad_request", "name at least one game: ?games=a,b")
            return
        if len(games) > self.hub.limits.max_games_per_connection:
            reason = f"a stream follows at most {self.hub.limits.max_games_per_connection} games"
            await self._refuse(send, 400, "bad_request", reason)
            return
        key = self.key_of(scope)
        try:
            self.hub.admit(key)
        except Refused as refused:
            await self._refuse(send, refused.status, "too_many_connections", refused.reason)
            return
        cycle = _direct_cycle(scope, send)
        sub = Subscriber(
            "sse",
            key=key,
            transport=cycle.transport if cycle is not None and self.direct else None,
            # Watched for uvicorn's shutdown, which clears keep_alive on open cycles.
            cycle=cycle if cycle is not None and getattr(cycle, "keep_alive", False) else None,
            multi=len(games) > 1,
        )
        try:
            try:
                for game in games:
                    await self.hub.ensure(game)
            except UnknownGame as exc:
                await self._refuse(send, 404, "unknown_game", str(exc))
                return
            except BackendError as exc:
                await self._refuse(send, 503, "unavailable", f"event log unavailable: {exc}")
                return
            await send({"type": "http.response.start", "status": 200, "headers": _STREAM_HEADERS})
            if sub.transport is not None:
                sub.chunked = _chunked(cycle, scope)
            self.hub.register(sub)
            sub.write(
                chunk(self.retry) if sub.transport is not None and sub.chunked else self.retry
            )
            since = parse_last_event_id(self._last_event_id(scope))
            for game in games:
                await self.hub.subscribe(sub, game, since.get(game))
            if sub.transport is None:
                await self._pump(sub, receive, send)
                return
            # The hub writes; this handler only waits (inline: one coroutine frame less
            # per idle stream). Ending the stream (shutdown, a stalled client) closes
            # the transport, which uvicorn reports here as a disconnect.
            while (await receive())["type"] != "http.disconnect":
                pass
        finally:
            self.hub.release(sub)

    async def _pump(self, sub: Subscriber, receive: Receive, send: Send) -> None:
        disconnected = False

        async def watch() -> None:
            nonlocal disconnected
            while (await receive())["type"] != "http.disconnect":
                pass
            disconnected = True
            sub.end("client left")

        assert sub.wake is not None  # noqa: S101 - queued subscribers have one
        async with asyncio.TaskGroup() as tg:
            watcher = tg.create_task(watch())
            try:
                while not sub.closed:
                    data = sub.pop()
                    if data is None:
                        sub.wake.clear()
                        await sub.wake.wait()
                        continue
                    sub.send_since = time.monotonic()
                    body = data if isinstance(data, bytes) else data.encode()
                    await send({"type": "http.response.body", "body": body, "more_body": True})
                    sub.send_since = None
            finally:
                watcher.cancel()
        if not disconnected:
            with contextlib.suppress(OSError):
                await send({"type": "http.response.body", "body": b"", "more_body": False})
