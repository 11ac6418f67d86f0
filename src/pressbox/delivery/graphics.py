"""Broadcast graphics: commands pushed to a graphics box, and a JSON feed it can poll.

:class:`GraphicsBoard` keeps, per game, the last good values a graphics engine shows
(win probability, situation, score, the last key play). :class:`GraphicsSink` turns each
update into commands and posts them to a configured HTTP endpoint:

* ``UPDATE_WIN_PROBABILITY`` (home/away %, one decimal) when the WP changes;
* ``SHOW_KEY_PLAY`` (description, WPA %, duration) when ``|WPA|`` reaches the threshold;
* ``UPDATE_SITUATION`` (inning, half, outs, bases, count, score) on every update.

The sink never slows the pipeline: the hub calls it without awaiting, commands wait in a
bounded queue (the newest WP and situation per game replace older ones not yet sent; key
plays are kept, the oldest dropped first), and one worker posts them with a timeout, a
few retries and a circuit breaker, so a dead graphics box costs one refused call per
command until its cool-down ends. ``GET /v1/graphics/{game_id}`` serves the board as
JSON; when live data stops (nothing new for ``stale_after_s`` while the game is live, or
the event log fails) it still answers with the last good values, marked ``stale``.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict, deque
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

import httpx
import msgspec
import structlog
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from pressbox.delivery.fanout import Hub
from pressbox.engine.events import BaseballSituation, FootballSituation, Update
from pressbox.errors import BackendError, CircuitOpen, UnknownGame
from pressbox.resilience import CircuitBreaker

__all__ = ["GraphicsBoard", "GraphicsSink", "graphics_commands", "graphics_endpoint"]

_log = structlog.get_logger("pressbox.delivery.graphics")


def _pct(value: float) -> float:
    return round(value * 100.0, 1)


def _situation(update: Update) -> dict[str, Any]:
    state = update.state
    out: dict[str, Any] = {
        "home_score": state.home_score,
        "away_score": state.away_score,
        "period": state.period,
        "clock": state.clock,
        "status": state.status,
    }
    if state.info is not None:
        out["home"] = state.info.home
        out["away"] = state.info.away
    sit = state.situation
    if isinstance(sit, BaseballSituation):
        out.update(
            inning=sit.inning,
            half=sit.half,
            outs=sit.outs,
            bases=sit.bases_code,
            balls=sit.balls,
            strikes=sit.strikes,
        )
    elif isinstance(sit, FootballSituation):
        out.update(
            quarter=sit.quarter,
            clock_seconds=sit.clock_seconds,
            possession=sit.possession,
            down=sit.down,
            distance=sit.distance,
            yard_line=sit.yard_line,
        )
    return out


def graphics_commands(
    update: Update, *, key_play_wpa: float = 0.10, key_play_duration_s: float = 8.0
) -> list[dict[str, Any]]:
    """The commands one update calls for, in the order they should be shown.

    Args:
        update: The update.
        key_play_wpa: ``|WPA|`` (as a fraction) from which a play is shown as a key play.
        key_play_duration_s: How long the graphics box should show a key play.

    Returns:
        ``UPDATE_WIN_PROBABILITY`` (when the update has a WP), ``SHOW_KEY_PLAY`` (when
        ``|WPA|`` reaches the threshold) and ``UPDATE_SITUATION`` command documents.
    """
    base = {"game_id": update.game_id, "seq": update.seq}
    commands: list[dict[str, Any]] = []
    if update.wp is not None:
        commands.append(
            {
                "command": "UPDATE_WIN_PROBABILITY",
                **base,
                "home_pct": _pct(update.wp.home),
                "away_pct": _pct(update.wp.away),
            }
        )
    if update.wpa is not None and abs(update.wpa) >= key_play_wpa:
        commands.append(
            {
                "command": "SHOW_KEY_PLAY",
                **base,
                "description": update.text or update.state.last_play or "",
                "wpa_pct": _pct(update.wpa),
                "duration_s": key_play_duration_s,
            }
        )
    commands.append({"command": "UPDATE_SITUATION", **base, **_situation(update)})
    return commands


@dataclass(slots=True)
class _Values:
    update: Update
    at: float
    key_play: dict[str, Any] | None = None


class GraphicsBoard:
    """The last good graphics values per game; it listens to the hub it is given.

    Args:
        hub: The hub it reads snapshots and health from.
        stale_after_s: Seconds without news after which a live game's values are stale.
        key_play_wpa: ``|WPA|`` from which a play is remembered as the last key play.
        max_games: Games remembered (least recently updated forgotten first).
    """

    def __init__(
        self,
        hub: Hub,
        *,
        stale_after_s: float = 90.0,
        key_play_wpa: float = 0.10,
        max_games: int = 1_000,
    ) -> None:
        self.hub = hub
        self.stale_after_s = stale_after_s
        self.key_play_wpa = key_play_wpa
        self.max_games = max_games
        self._values: OrderedDict[str, _Values] = OrderedDict()
        hub.add_listener(self)

    def __call__(self, update: Update) -> None:
        """Take a new update (called by the hub for every followed game)."""
        old = self._values.pop(update.game_id, None)
        values = _Values(update, time.monotonic(), old.key_play if old else None)
        if update.wpa is not None and abs(update.wpa) >= self.key_play_wpa:
            values.key_play = {
                "seq": update.seq,
                "description": update.text or update.state.last_play or "",
                "wpa_pct": _pct(update.wpa),
            }
        self._values[update.game_id] = values
        while len(self._values) > self.max_games:
            self._values.popitem(last=False)

    async def view(self, game_id: str) -> dict[str, Any]:
        """The feed document of a game.

        Raises:
            UnknownGame: The game has no update stream.
            BackendError: The game is not followed yet and the log cannot be read.
        """
        await self.hub.ensure(game_id)
        values = self._values.get(game_id)
        latest = self.hub.latest(game_id)
        if latest is not None and (values is None or values.update.seq < latest.seq):
            at, _ = self.hub.health(game_id)
            values = _Values(latest, at or time.monotonic(), values.key_play if values else None)
            self._values[game_id] = values
        if values is None:
            return {"game_id": game_id, "available": False, "reason": "no update yet"}
        update = values.update
        at, failing = self.hub.health(game_id)
        age = time.monotonic() - (at or values.at)
        live = update.state.status == "live"
        reason = None
        if failing is not None:
            reason = f"event log unavailable: {failing}"
        elif live and age > self.stale_after_s:
            reason = f"no update for {age:.0f} s"
        doc: dict[str, Any] = {
            "game_id": game_id,
            "available": True,
            "stale": reason is not None,
            "seq": update.seq,
            "age_s": round(age, 1),
            "situation": _situation(update),
            "key_play": values.key_play,
        }
        if reason is not None:
            doc["reason"] = reason
        if update.wp is not None:
            doc["win_probability"] = {
                "home_pct": _pct(update.wp.home),
                "away_pct": _pct(update.wp.away),
                "model": update.wp.model,
            }
        return doc


def graphics_endpoint(board: GraphicsBoard) -> Any:
    """The ``GET /v1/graphics/{game_id}`` handler for a Starlette ``Route``."""

    async def graphics(request: Request) -> Response:
        game_id = request.path_params["game_id"]
        try:
            doc = await board.view(game_id)
        except UnknownGame as exc:
            return JSONResponse({"available": False, "reason": str(exc)}, status_code=404)
        except BackendError as exc:
            reason = f"event log unavailable: {exc}"
            return JSONResponse({"available": False, "reason": reason}, status_code=503)
        return Response(
            msgspec.json.encode(doc),
            media_type="application/json",
            headers={"cache-control": "no-store"},
        )

    return graphics


@dataclass(slots=True)
class SinkStats:
    """Counters of a :class:`GraphicsSink`."""

    sent: int = 0
    failed: int = 0
    retried: int = 0
    refused_open: int = 0
    dropped: int = 0


class GraphicsSink:
    """Pushes graphics commands to an HTTP endpoint; a hub listener that never blocks.

    Use it as ``async with GraphicsSink(url) as sink:`` and give it to the hub as a
    listener (``Hub(bus, listeners=[sink], follow_all=True)``).

    Args:
        url: Where commands are POSTed, one JSON document each.
        timeout: Seconds for one POST, every phase.
        retries: Extra attempts after a failure (while the breaker allows).
        retry_wait: Seconds before the first retry (doubled each time).
        key_play_wpa: ``|WPA|`` (fraction) from which ``SHOW_KEY_PLAY`` is sent.
        key_play_duration_s: The duration sent with ``SHOW_KEY_PLAY``.
        max_pending: Commands waiting at most; beyond, the oldest are dropped.
        breaker: The circuit breaker guarding the endpoint; one that opens after 3
            consecutive failures for 10 s by default.
        transport: An httpx transport (tests).
    """

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 0.5,
        retries: int = 2,
        retry_wait: float = 0.05,
        key_play_wpa: float = 0.10,
        key_play_duration_s: float = 8.0,
        max_pending: int = 200,
        breaker: CircuitBreaker | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.url = url
        self.timeout = timeout
        self.retries = retries
        self.retry_wait = retry_wait
        self.key_play_wpa = key_play_wpa
        self.key_play_duration_s = key_play_duration_s
        self.max_pending = max_pending
        self.breaker = breaker or CircuitBreaker(
            "graphics", failure_threshold=3, reset_timeout=10.0
        )
        self.stats = SinkStats()
        self._transport = transport
        self._pending: deque[tuple[tuple[str, str], dict[str, Any]]] = deque()
        self._latest: dict[tuple[str, str], dict[str, Any]] = {}
        self._wake = asyncio.Event()
        self._client: httpx.AsyncClient | None = None
        self._worker: asyncio.Task[None] | None = None
        self._tg: asyncio.TaskGroup | None = None

    async def __aenter__(self) -> Self:
        self._client = httpx.AsyncClient(timeout=self.timeout, transport=self._transport)
        self._tg = asyncio.TaskGroup()
        await self._tg.__aenter__()
        self._worker = self._tg.create_task(self._run())
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._worker is not None:
            self._worker.cancel()
        if self._tg is not None:
            await self._tg.__aexit__(exc_type, exc, tb)
        if self._client is not None:
            await self._client.aclose()

    def __call__(self, update: Update) -> None:
        """Queue the commands of an update (called by the hub; never blocks)."""
        commands = graphics_commands(
            update,
            key_play_wpa=self.key_play_wpa,
            key_play_duration_s=self.key_play_duration_s,
        )
        for command in commands:
            self.put(command)

    def put(self, command: dict[str, Any]) -> None:
        """Queue one command; WP and situation replace an older one of the same game."""
        slot = (str(command["command"]), str(command.get("game_id", "")))
        if slot[0] != "SHOW_KEY_PLAY" and slot in self._latest:
            self._latest[slot] = command  # the queued entry will send the newest values
            return
        if slot[0] != "SHOW_KEY_PLAY":
            self._latest[slot] = command
        self._pending.append((slot, command))
        while len(self._pending) > self.max_pending:
            old_slot, _ = self._pending.popleft()
            self._latest.pop(old_slot, None) if old_slot[0] != "SHOW_KEY_PLAY" else None
            self.stats.dropped += 1
        self._wake.set()

    def pending(self) -> int:
        """Commands waiting to be sent."""
        return len(self._pending)

    async def _run(self) -> None:
        while True:
            if not self._pending:
                self._wake.clear()
                await self._wake.wait()
                continue
            slot, command = self._pending.popleft()
            if slot[0] != "SHOW_KEY_PLAY":
                command = self._latest.pop(slot, command)
            await self._deliver(command)

    async def _deliver(self, command: dict[str, Any]) -> None:
        assert self._client is not None  # noqa: S101 - set in __aenter__
        wait = self.retry_wait
        for attempt in range(self.retries + 1):
            try:
                self.breaker.allow()
            except CircuitOpen:
                self.stats.refused_open += 1
                return
            try:
                response = await self._client.post(
                    self.url,
                    content=msgspec.json.encode(command),
                    headers={"content-type": "application/json"},
                )
                response.raise_for_status()
            except httpx.HTTPError as exc:
                self.breaker.record_failure()
                self.stats.failed += 1
                _log.info(
                    "graphics.post_failed",
                    command=command["command"],
                    attempt=attempt + 1,
                    error=str(exc) or type(exc).__name__,
                )
                if attempt < self.retries:
                    self.stats.retried += 1
                    await asyncio.sleep(wait)
                    wait *= 2
                continue
            except BaseException:
                self.breaker.release()
                raise
            self.breaker.record_success()
            self.stats.sent += 1
            return
