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
transport, as it does for SSE, and the handler only reads the client's messages. Under
any other server, outgoing messages go through the connection's bounded queue, drained
by a send task.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import msgspec
import structlog
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect

from pressbox.delivery.fanout import Hub, Refused, Subscriber
from pressbox.delivery.sse import KeyFunc, api_key, server_owner
from pressbox.errors import BackendError, UnknownGame

__all__ = ["WebSocketStream"]

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


class WebSocketStream:
    """The WebSocket endpoint, for a Starlette ``WebSocketRoute``.

    Args:
        hub: The running fan-out hub.
        key_of: Finds the API key a connection counts against.
        direct: Under uvicorn's sansio WebSocket protocol, write pre-framed messages to
            the connection's transport (``False``: always queue).
    """

    def __init__(self, hub: Hub, *, key_of: KeyFunc = api_key, direct: bool = True) -> None:
        self.hub = hub
        self.key_of = key_of
        self.direct = direct

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
        try:
            await websocket.accept()
            self.hub.register(sub)
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
