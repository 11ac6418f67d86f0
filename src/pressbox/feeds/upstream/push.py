"""The simulated Gameday push channel: a WebSocket per game that says when its feed changed.

The real MLB Stats API notifies Gameday clients over a WebSocket
(``/api/v1/game/push/subscribe/gameday/{gamePk}``) each time a game's live feed gets a new
timecode; the client then fetches ``feed/live/diffPatch?startTimecode=`` at once instead of
waiting for its next poll. :func:`gameday_push` serves that route for the simulated
upstream: after the handshake it sends one text message per published update of the game::

    {"gamePk": 13798201504100, "timeStamp": "20150410_190512", "gameEvents": ["ball"],
     "logicalEvents": [], "isDelta": true, "changeEvent": {"type": "new_entry"}}

(``timeStamp``, ``gameEvents`` and ``logicalEvents`` are the feed's new ``metaData``;
when several updates came out between two looks, each is notified, in order). It sends
nothing on subscribe: the client fetches once when it connects. The channel sleeps until
the replay publishes the game's next update (:meth:`~.replay.Replay.next_change`), so a
notification leaves within a millisecond or two of the publication, and wakes at least
every ``tick`` seconds to notice a clock that jumped (a manual clock, a held replay, the
end of a stall).

Faults apply (the same injector and seed as the HTTP routes, one draw at the handshake and
one per notification):

========================  ==============================================================
fault                     at the handshake / on a notification
========================  ==============================================================
``latency``               the handshake / the notification comes late by the duration
``reset``                 the connection is dropped without a close frame (both)
``timeout``               the handshake hangs (up to the duration) / the notification is
                          lost: never sent, the channel stays open
``error500``              refused / closed with code 1011 (internal error)
``error503``, ``error429``  refused / closed with code 1013 (try again later)
``truncate``              — / the notification's JSON is cut short
``dup``                   — / the notification is sent twice
``stall``                 the game stops advancing (as for the HTTP routes): no
                          notification until it catches up
========================  ==============================================================

``/pressbox/push?open=0`` (never faulted) closes every channel with code 1001 and refuses
new handshakes until ``open=1``: an outage of the push service.

A client must therefore treat the channel as a hint: notifications may be late, lost,
repeated, malformed, or stop with the connection, and polling stays the safety net.
"""

from __future__ import annotations

import contextlib
import math
from typing import TYPE_CHECKING, Final

import anyio
import orjson
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from pressbox.feeds.upstream.faults import Decision
from pressbox.types import JSON

if TYPE_CHECKING:
    from pressbox.feeds.upstream.app import SimulatedUpstream
    from pressbox.feeds.upstream.data import MlbGame

PUSH_PATH: Final = "/api/v1/game/push/subscribe/gameday/{pk}"
"""The route of the push channel (the real API's path)."""

DEFAULT_TICK: Final = 0.25
"""Longest sleep of a channel between two looks at its game, seconds."""

CLOSE_GOING_AWAY: Final = 1001
CLOSE_INTERNAL_ERROR: Final = 1011
CLOSE_TRY_AGAIN_LATER: Final = 1013


def push_message(
    pk: int,
    timecode: str,
    game_events: list[JSON] | None = None,
    logical_events: list[JSON] | None = None,
) -> bytes:
    """The notification of a new timecode of game ``pk`` (JSON bytes), with the update's
    ``gameEvents`` and ``logicalEvents`` (the feed's ``metaData``), as the real one."""
    return orjson.dumps(
        {
            "gamePk": pk,
            "timeStamp": timecode,
            "gameEvents": game_events or [],
            "logicalEvents": logical_events or [],
            "isDelta": True,
            "changeEvent": {"type": "new_entry"},
        }
    )


def _abort(websocket: WebSocket) -> bool:
    """Drop the connection without a close frame; ``False`` when no transport is reachable.

    uvicorn hands the app its protocol's bound ``send``; the protocol holds the asyncio
    transport, the only way to drop a connection from inside ASGI.
    """
    send = getattr(websocket, "_send", None)
    transport = getattr(getattr(send, "__self__", None), "transport", None)
    if transport is None or not hasattr(transport, "abort"):
        return False
    transport.abort()
    return True


async def _refuse(websocket: WebSocket, decision: Decision) -> bool:
    """Apply a handshake fault; ``True`` when the handshake must not go on."""
    if decision.latency:
        await anyio.sleep(decision.latency)
    if decision.reset:
        if not _abort(websocket):
            await websocket.close(CLOSE_INTERNAL_ERROR)
        return True
    if decision.hang is not None:
        # Hold the handshake: the client's open timeout gives up first.
        with anyio.move_on_after(decision.hang):
            while (await websocket.receive())["type"] != "websocket.disconnect":
                pass
        return True
    if decision.status is not None:
        await websocket.close(CLOSE_INTERNAL_ERROR)  # before accept: the handshake is refused
        return True
    return False


async def _notify(websocket: WebSocket, upstream: SimulatedUpstream, mg: MlbGame, n: int) -> bool:
    """Send the notification that the feed is now at update ``n`` (the document of
    ``feed/live`` once ``n`` updates are out), through this message's faults.

    Returns:
        ``False`` when the fault closed the channel.
    """
    game_events, logical_events = upstream.notification_events(mg, n)
    message = push_message(mg.pk, upstream.timecodes(mg)[n], game_events, logical_events)
    if not upstream.injector.spec:
        await websocket.send_text(message.decode())
        return True
    decision = upstream.injector.decide()
    if decision.stall is not None:
        upstream.replay.stall(str(mg.pk), decision.stall)
    if decision.latency:
        await anyio.sleep(decision.latency)
    if decision.reset:
        if not _abort(websocket):
            await websocket.close(CLOSE_INTERNAL_ERROR)
        return False
    if decision.hang is not None:
        return True  # lost: never sent
    if decision.status is not None:
        code = CLOSE_INTERNAL_ERROR if decision.status == 500 else CLOSE_TRY_AGAIN_LATER
        await websocket.close(code, reason=f"simulated {decision.status}")
        return False
    text = message.decode()
    if decision.truncate is not None:
        text = text[: max(1, int(len(text) * decision.truncate))]
    await websocket.send_text(text)
    if decision.dup is not None:
        await websocket.send_text(text)
    return True


async def _follow(
    websocket: WebSocket, upstream: SimulatedUpstream, mg: MlbGame, tick: float
) -> None:
    """Notify each update of the game as the replay publishes it, until the game is over."""
    key = str(mg.pk)
    total = len(upstream.points(mg))
    sent = upstream.published(mg)
    while sent < total:
        # When the update after the last one notified is due (not the replay's next
        # change: one may have come out since the last look, and the wait would then be for
        # the one after it, holding that update back by a whole gap between updates).
        wait = upstream.replay.next_change(key, after=sent)
        await anyio.sleep(min(tick, max(wait, 0.0)) if math.isfinite(wait) else tick)
        if not upstream.push_open:
            await websocket.close(CLOSE_GOING_AWAY, reason="push service closed")
            return
        now = upstream.published(mg)
        # One notification per update, as the real service sends them: a wake-up that
        # finds several out (a busy loop woke late) still names each one, so that no
        # play hides behind the pitch that followed it.
        while sent < now:
            sent += 1
            if not await _notify(websocket, upstream, mg, sent):
                return
    # Over: nothing more will change; the channel stays open until the client leaves
    # (or the service closes).
    while upstream.push_open:  # noqa: ASYNC110 - a flag set by a route, looked at each tick
        await anyio.sleep(tick)
    await websocket.close(CLOSE_GOING_AWAY, reason="push service closed")


async def gameday_push(websocket: WebSocket) -> None:
    """``/api/v1/game/push/subscribe/gameday/{gamePk}`` (WebSocket): a notification per new
    timecode of the game; an unknown game's handshake is refused."""
    upstream: SimulatedUpstream = websocket.app.state.upstream
    tick: float = getattr(websocket.app.state, "push_tick", DEFAULT_TICK)
    raw = websocket.path_params.get("pk", "")
    mg = upstream.game(int(raw)) if str(raw).isdigit() else None
    if mg is None or not upstream.push_open:
        await websocket.close(1008, reason=f"Object not found: gamePk {raw}")
        return
    if upstream.injector.spec and await _refuse(websocket, upstream.injector.decide()):
        return
    await websocket.accept()
    try:
        async with anyio.create_task_group() as tg:

            async def follow() -> None:
                await _follow(websocket, upstream, mg, tick)
                tg.cancel_scope.cancel()

            tg.start_soon(follow)
            # The client says nothing; its disconnect ends the channel.
            while (await websocket.receive())["type"] != "websocket.disconnect":
                pass
            tg.cancel_scope.cancel()
    except WebSocketDisconnect:
        pass
    finally:
        if websocket.application_state == WebSocketState.CONNECTED:
            with contextlib.suppress(Exception):
                await websocket.close()
