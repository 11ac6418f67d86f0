"""WebSocket ``/v1/ws``: many games on one connection, JSON messages both ways.

Client messages (one JSON object per text message)::

    {"type": "subscribe", "game": "ANA201504100", "since": 41}    since is optional
    {"type": "subscribe", "games": ["A", {"game": "B", "since": 7}]}
    {"type": "unsubscribe", "game": "A"}            or "games": [...]
    {"type": "request_snapshot", "game": "A"}
    {"type": "ping", "id": 3}                        id is optional and echoed

Server messages: ``snapshot`` and ``update`` (``{"type", "game", "seq", "data"}`` where
``data`` is the update), ``subscribed`` (``{"game", "seq"}`` after a subscription's
catch-up), ``unsubscribed``, ``pong`` and ``error`` (``{"reason"}``, with ``game`` and
``request`` when known). A bad message or an unknown game gets an ``error`` and nothing
else changes: the connection and its other subscriptions go on.

Under uvicorn's sansio WebSocket protocol the hub writes each update as one pre-framed,
uncompressed text message (shared bytes, encoded once) straight to every connection's
transport, as it does for SSE. Right after the handshake the endpoint hands the
connection over to a :class:`LeanConnection`, a small protocol object of its own: uvicorn's
per-connection state (its websockets protocol and parser, the request and its headers,
an ``asyncio.Queue``, events, the ASGI handler's suspended frames) is then freed, and an
idle connection holds little more than its transport and its subscriber. The lean
connection reads the client's frames, answers pings, pongs and closes, and pings the
client on the hub's heartbeat. When the takeover is not possible (another uvicorn
version, data already buffered), the handler stays and reads through uvicorn. Under any
other server, outgoing messages go through the connection's bounded queue, drained by a
send task.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from typing import Any

import msgspec
import structlog
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect

from pressbox.delivery.fanout import Hub, Refused, Subscriber, ws_close_frame
from pressbox.delivery.sse import KeyFunc, api_key, server_owner
from pressbox.errors import BackendError, UnknownGame

__all__ = ["LeanConnection", "WebSocketStream"]

_log = structlog.get_logger("pressbox.delivery.websocket")

_MAX_MESSAGE = 16 * 1024

# Protocols whose transport the hub may write whole WebSocket frames to: the sansio
# implementation writes each frame of its own with one transport.write, so frames never
# interleave mid-frame.
_DIRECT = {"uvicorn.protocols.websockets.websockets_sansio_impl"}

# Close codes: 1013 "try again later" (server full), 1008 "policy violation" (a key's
# limit), 1001 "going away" (shutdown), 4008 (a slow client, from the private range).
_CLOSE_FULL = 1013
_CLOSE_POLICY = 1008
_CLOSE_AWAY = 1001
_CLOSE_SLOW = 4008

_MAX_FRAME = 1024 * 1024
"""The largest client message a lean connection reads (answered with an error past
``_MAX_MESSAGE``); beyond it the connection is closed with 1009."""

_MAX_PENDING = 16
"""Client messages waiting to be served before a lean connection stops reading."""


def _error(reason: str, **extra: Any) -> str:
    return msgspec.json.encode({"type": "error", "reason": reason, **extra}).decode()


class _Bad(Exception):
    """A client message that cannot be served; its reason goes back as an error."""


def _targets(message: dict[str, Any]) -> list[tuple[str, int | None]]:
    """The ``(game, since)`` pairs a subscribe/unsubscribe/request_snapshot names."""
    items: list[Any]
    if "games" in message:
        if not isinstance(message["games"], list):
            raise _Bad("games must be a list")
        items = message["games"]
    elif "game" in message:
        items = [{"game": message["game"], "since": message.get("since")}]
    else:
        raise _Bad("name a game: game or games")
    out: list[tuple[str, int | None]] = []
    for item in items:
        game: object = item
        since: object = None
        if isinstance(item, dict):
            game, since = item.get("game"), item.get("since")
        if not isinstance(game, str) or not game:
            raise _Bad("a game must be a non-empty string")
        if since is not None and (isinstance(since, bool) or not isinstance(since, int)):
            raise _Bad("since must be a non-negative integer")
        if isinstance(since, int) and since < 0:
            raise _Bad("since must be a non-negative integer")
        out.append((game, since))
    return out


class _Detached:
    """Stands in for the transport of a uvicorn protocol whose connection was taken over:
    uvicorn closes "its" transport when the handler returns, which must not close ours."""

    def close(self) -> None:
        """Nothing to close: the connection lives on in a :class:`LeanConnection`."""

    def is_closing(self) -> bool:
        """Always closing, so that uvicorn writes nothing more."""
        return True

    def write(self, data: bytes) -> None:
        """Dropped: uvicorn has nothing more to say on a connection taken over."""


_DETACHED = _Detached()


def _unmask(data: bytes, mask: bytes) -> bytes:
    n = len(data)
    if not n:
        return b""
    key = (mask * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "big") ^ int.from_bytes(key, "big")).to_bytes(n, "big")


class LeanConnection(asyncio.Protocol):
    """A WebSocket connection owned by the hub after uvicorn's handshake.

    Hand-written rather than a library's protocol on purpose: a subscriber only receives,
    and sends a few small JSON messages, so this object keeps only what that needs (the
    transport, the subscriber, a partial frame, the messages waiting to be served) where
    a general WebSocket protocol holds a parser, queues and events per connection,
    twice the memory of the rest of an idle connection. Client frames are read as
    RFC 6455 says (masked, control frames of at most 125 bytes, fragments joined, text
    checked as UTF-8); permessage-deflate is declined at the handshake.

    Args:
        stream: The endpoint whose message handling this connection uses.
        sub: The connection's subscriber (its transport is written by the hub).
        transport: The connection's transport.
        connections: uvicorn's set of open connections (its shutdown calls
            :meth:`shutdown` on each), or ``None``.
    """

    __slots__ = (
        "_buf",
        "_connections",
        "_frags",
        "_paused",
        "_pending",
        "_ping",
        "_stream",
        "_task",
        "_transport",
        "sub",
    )

    def __init__(
        self,
        stream: WebSocketStream,
        sub: Subscriber,
        transport: asyncio.Transport,
        connections: set[Any] | None,
    ) -> None:
        self._stream = stream
        self.sub = sub
        self._transport = transport
        self._connections = connections
        self._buf = b""
        self._frags: list[bytes] | None = None
        self._pending: list[str | bytes] = []
        self._task: asyncio.Task[None] | None = None
        self._paused = False
        self._ping: bytes | None = None
        sub.keepalive = self.keepalive

    # -- transport callbacks ------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        """Read whole frames; a partial one waits for the rest."""
        buf = self._buf + data if self._buf else data
        while len(buf) >= 2:
            b0, b1 = buf[0], buf[1]
            n, at = b1 & 0x7F, 2
            if n == 126:
                if len(buf) < 4:
                    break
                n, at = int.from_bytes(buf[2:4], "big"), 4
            elif n == 127:
                if len(buf) < 10:
                    break
                n, at = int.from_bytes(buf[2:10], "big"), 10
            if not b1 & 0x80 or b0 & 0x70:
                self._fail(1002, "protocol error: unmasked frame or unknown extension bit")
                return
            if n > _MAX_FRAME:
                self._fail(1009, f"message over {_MAX_FRAME} bytes")
                return
            end = at + 4 + n
            if len(buf) < end:
                break
            payload = _unmask(buf[at + 4 : end], buf[at : at + 4])
            buf = buf[end:]
            if not self._frame(b0 & 0x0F, bool(b0 & 0x80), payload):
                return
        self._buf = bytes(buf)

    def _frame(self, opcode: int, fin: bool, payload: bytes) -> bool:
        """Handle one frame; False when the connection is closing."""
        if opcode >= 0x8:
            if not fin or len(payload) > 125:
                self._fail(1002, "protocol error: bad control frame")
                return False
            if opcode == 0x8:
                self._closed_by_peer(payload)
                return False
            if opcode == 0x9:  # ping: pong with the same payload
                self._transport.write(b"\x8a%c%b" % (len(payload), payload))
            elif opcode == 0xA:  # pong: the peer is alive
                self._ping = None
            return True
        if opcode == 0x0:
            if self._frags is None:
                self._fail(1002, "protocol error: continuation without a message")
                return False
            self._frags.append(payload)
        elif opcode in (0x1, 0x2):
            if self._frags is not None:
                self._fail(1002, "protocol error: new message inside a fragmented one")
                return False
            self._frags = [b"t" if opcode == 0x1 else b"b", payload]
        else:
            self._fail(1002, f"protocol error: unknown opcode {opcode}")
            return False
        if sum(len(f) for f in self._frags) > _MAX_FRAME:
            self._fail(1009, f"message over {_MAX_FRAME} bytes")
            return False
        if not fin:
            return True
        kind, *parts = self._frags
        self._frags = None
        data = b"".join(parts)
        message: str | bytes = data
        if kind == b"t":
            try:
                message = data.decode()
            except UnicodeDecodeError:
                self._fail(1007, "invalid UTF-8 in a text message")
                return False
        self._pending.append(message)
        if len(self._pending) >= _MAX_PENDING and not self._paused:
            self._paused = True
            self._transport.pause_reading()
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._serve())
        return True

    async def _serve(self) -> None:
        # Client messages are served in order, one at a time; no task while idle.
        try:
            while self._pending and not self.sub.closed:
                raw = self._pending.pop(0)
                if len(raw) > _MAX_MESSAGE:
                    self.sub.write(_error(f"message over {_MAX_MESSAGE} bytes"))
                else:
                    await self._stream._handle(self.sub, raw)
                if self._paused and len(self._pending) < _MAX_PENDING // 2:
                    self._paused = False
                    self._transport.resume_reading()
        finally:
            self._task = None

    def _closed_by_peer(self, payload: bytes) -> None:
        # Echo the peer's close code (RFC 6455 5.5.1), then close.
        code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1000
        if code in (1005, 1006, 1015) or code < 1000:
            code = 1000
        if self.sub.reason is None:
            self.sub.reason = "client left"
        self.sub.closed = True
        if not self._transport.is_closing():
            self._transport.write(ws_close_frame(code, ""))
            self._transport.close()

    def _fail(self, code: int, reason: str) -> None:
        _log.info("delivery.ws_protocol_error", code=code, reason=reason, key=self.sub.key)
        self.sub.reason = reason
        self.sub.closed = True
        if not self._transport.is_closing():
            self._transport.write(ws_close_frame(code, reason))
            self._transport.close()

    def eof_received(self) -> bool | None:
        """The peer half-closed: close our side too."""
        return None

    def pause_writing(self) -> None:
        """The hub watches each transport's buffer itself (its slow-client policy)."""

    def resume_writing(self) -> None:
        """See :meth:`pause_writing`."""

    def connection_lost(self, exc: Exception | None) -> None:
        """Free the subscriber and forget the connection."""
        if self._connections is not None:
            self._connections.discard(self)
        if self._task is not None:
            self._task.cancel()
        self._pending.clear()
        self.sub.keepalive = None
        self._stream.hub.release(self.sub)

    # -- called by the hub and by uvicorn -----------------------------------------------

    def keepalive(self) -> bool:
        """Ping the peer; False when the previous ping went unanswered."""
        if self._ping is not None:
            return False
        self._ping = os.urandom(4)
        self._transport.write(b"\x89\x04" + self._ping)
        return True

    def shutdown(self) -> None:
        """uvicorn is stopping: end the connection (close 1001)."""
        self.sub.end("server shutting down")


def _take_over(protocol: Any) -> tuple[asyncio.Transport, set[Any] | None] | None:
    """Detach a uvicorn sansio WebSocket protocol from its transport, right after the
    handshake; ``None`` (nothing changed) when that is not safe."""
    try:
        transport = protocol.transport
        reader_buffer = protocol.conn.reader.buffer
        queue = protocol.queue
        connections = protocol.connections
        stop_keepalive = protocol.stop_keepalive
    except AttributeError:
        return None
    # A client must wait for the handshake's answer before it sends (RFC 6455 4.1), so
    # nothing is buffered yet; if something is, uvicorn keeps the connection.
    if reader_buffer or not queue.empty() or transport.is_closing():
        return None
    if not hasattr(transport, "set_protocol"):
        return None
    stop_keepalive()
    protocol.transport = _DETACHED
    if isinstance(connections, set):
        connections.discard(protocol)
        return transport, connections
    return transport, None


def _decline_extensions(protocol: Any) -> bool:
    """Answer the handshake without permessage-deflate, which a lean connection does not
    read; False when uvicorn's objects are not as expected (no takeover then)."""
    try:
        headers = protocol.response.headers
        protocol.conn.extensions = []
        del headers["Sec-WebSocket-Extensions"]
    except KeyError:
        return True  # nothing was negotiated
    except AttributeError:
        return False
    return True


class WebSocketStream:
    """The WebSocket endpoint, for a Starlette ``WebSocketRoute``.

    Args:
        hub: The running fan-out hub.
        key_of: Finds the API key a connection counts against.
        direct: Under uvicorn's sansio WebSocket protocol, write pre-framed messages to
            the connection's transport (``False``: always queue).
        lean: Under uvicorn's sansio WebSocket protocol, hand each connection over to a
            :class:`LeanConnection` after the handshake (``False``: uvicorn keeps it and
            the handler reads the client's messages).
    """

    def __init__(
        self, hub: Hub, *, key_of: KeyFunc = api_key, direct: bool = True, lean: bool = True
    ) -> None:
        self.hub = hub
        self.key_of = key_of
        self.direct = direct
        self.lean = lean and direct

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The ASGI entry point."""
        protocol = server_owner(scope, send, _DIRECT) if self.direct else None
        await self.serve(WebSocket(scope, receive, send), protocol)

    async def serve(self, websocket: WebSocket, protocol: Any = None) -> None:
        """Serve one connection until the client leaves or the server stops.

        Args:
            websocket: The connection.
            protocol: uvicorn's protocol object of the connection, whose transport the
                hub then writes pre-framed messages to; ``None`` queues them instead.
        """
        key = self.key_of(websocket.scope)
        try:
            self.hub.admit(key)
        except Refused as refused:
            await websocket.accept()
            await websocket.send_text(_error(refused.reason, status=refused.status))
            code = _CLOSE_POLICY if refused.status == 429 else _CLOSE_FULL
            await websocket.close(code=code, reason=refused.reason[:120])
            return
        transport = None if protocol is None else protocol.transport
        sub = Subscriber("ws", key=key, transport=transport)
        lean = self.lean and protocol is not None and _decline_extensions(protocol)
        owned = False
        try:
            await websocket.accept()
            self.hub.register(sub)
            # No await between the handshake's answer and the takeover: the client has
            # not sent anything yet.
            taken = _take_over(protocol) if lean else None
            if taken is not None:
                transport, connections = taken
                conn = LeanConnection(self, sub, transport, connections)
                if connections is not None:
                    connections.add(conn)
                transport.set_protocol(conn)
                owned = True
                return
            if transport is not None:
                # The hub writes; this handler only reads the client's messages. Ending
                # the connection (shutdown, a stalled client) closes the transport,
                # which ends the receive loop.
                await self._receive_loop(websocket, sub)
                return
            # One task besides the handler: the send loop. Shutdown and the slow-client
            # policy end it through the subscriber (Hub.close_streams ends them all).
            async with asyncio.TaskGroup() as tg:
                tg.create_task(self._send_loop(websocket, sub))
                try:
                    await self._receive_loop(websocket, sub)
                finally:
                    # Ends the send loop; it closes the socket with the reason, if any.
                    sub.end(sub.reason or "client left")
        finally:
            if not owned:
                self.hub.release(sub)

    async def _send_loop(self, websocket: WebSocket, sub: Subscriber) -> None:
        assert sub.wake is not None  # noqa: S101 - queued subscribers have one
        try:
            while not sub.closed:
                data = sub.pop()
                if data is None:
                    sub.wake.clear()
                    await sub.wake.wait()
                    continue
                sub.send_since = time.monotonic()
                if isinstance(data, str):
                    await websocket.send_text(data)
                else:
                    await websocket.send_bytes(data)
                sub.send_since = None
        except (WebSocketDisconnect, OSError, RuntimeError):
            pass
        finally:
            sub.closed = True
            # Wake the receive loop: a stalled or ended connection is closed from here.
            with contextlib.suppress(Exception):
                if sub.reason and sub.reason != "client left":
                    code = _CLOSE_SLOW if sub.reason.startswith("slow") else _CLOSE_AWAY
                    await websocket.close(code=code, reason=sub.reason[:120])

    async def _receive_loop(self, websocket: WebSocket, sub: Subscriber) -> None:
        while not sub.closed:
            try:
                message = await websocket.receive()
            except (WebSocketDisconnect, RuntimeError):
                return
            if message["type"] == "websocket.disconnect":
                return
            raw = message.get("text")
            if raw is None:
                raw = message.get("bytes") or b""
            if len(raw) > _MAX_MESSAGE:
                sub.write(_error(f"message over {_MAX_MESSAGE} bytes"))
                continue
            await self._handle(sub, raw)

    async def _handle(self, sub: Subscriber, raw: str | bytes) -> None:
        try:
            message = msgspec.json.decode(raw)
        except msgspec.DecodeError as exc:
            sub.write(_error(f"bad message: not JSON ({exc})"))
            return
        if not isinstance(message, dict):
            sub.write(_error("bad message: expected a JSON object"))
            return
        kind = message.get("type")
        try:
            if kind == "ping":
                pong: dict[str, Any] = {"type": "pong"}
                if "id" in message:
                    pong["id"] = message["id"]
                sub.write(msgspec.json.encode(pong).decode())
            elif kind == "subscribe":
                for game, since in _targets(message):
                    await self._subscribe(sub, game, since)
            elif kind == "unsubscribe":
                for game, _ in _targets(message):
                    self.hub.unsubscribe(sub, game)
                    sub.write(msgspec.json.encode({"type": "unsubscribed", "game": game}).decode())
            elif kind == "request_snapshot":
                for game, _ in _targets(message):
                    if not self.hub.send_snapshot(sub, game):
                        sub.write(_error("not subscribed to this game", game=game, request=kind))
            else:
                sub.write(_error(f"unknown message type {kind!r}", request=kind))
        except _Bad as exc:
            sub.write(_error(f"bad message: {exc}", request=kind))

    async def _subscribe(self, sub: Subscriber, game: str, since: int | None) -> None:
        try:
            await self.hub.subscribe(sub, game, since)
        except UnknownGame as exc:
            sub.write(_error(str(exc), game=game, request="subscribe"))
            return
        except Refused as exc:
            sub.write(_error(exc.reason, game=game, request="subscribe", status=exc.status))
            return
        except BackendError as exc:
            sub.write(_error(f"event log unavailable: {exc}", game=game, request="subscribe"))
            return
        seq = sub.games.get(game, 0)
        sub.write(msgspec.json.encode({"type": "subscribed", "game": game, "seq": seq}).decode())
