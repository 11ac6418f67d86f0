"""Game context for the booth: the current batter against the current pitcher.

Ingest fetches, the API only reads. :class:`MatchupFeeder` watches the events ingest
publishes (:meth:`MatchupFeeder.observe`, cheap and synchronous, called right after each
append); when a baseball play names a batter and pitcher other than the last ones, it
fetches in the background, through the :class:`~pressbox.feeds.http.ResilientClient` and
its ``stats`` and ``matchups`` sources:

- the batter's season line to date
  (``/api/v1/people/{id}/stats?stats=season&group=hitting&season=&date=``),
- the pitcher's (``group=pitching``),
- their head-to-head history (``stats=vsPlayer&opposingPlayerId=``),

and writes one JSON record per game to the log backend's context register
(:meth:`~pressbox.bus.base.ContextStore.put_context`, kind :data:`MATCHUP`), where every API
process reads it. "Current" is the batter and pitcher of the latest play published (the
simulated feed's ``currentPlay.matchup`` is that play too). "To date" is the game's date:
the upstream counts the games before it.

Nothing raises into ingest. A part that cannot be fetched falls back to the last good
value of the same request, marked ``stale`` with its ``age_s`` and the failure's
``reason``; without one the part is ``null`` with its ``reason`` (the page renders a dash),
and when no part at all could be had the record is ``{"available": false, "reason": ...}``.
Incomplete records are fetched again on a later play of the same matchup, at most every
``retry_s``. A failure to write the record is logged and retried the same way.

The record (see ``docs/api.md``, ``GET /v1/games/{id}/matchup``)::

    {"available": true, "game_id": "...", "seq": 57, "as_of": 1795377834.8,
     "batter":  {"id": "547180", "name": "Bryce Harper", "team": "WAS",
                 "season": {"pa": 64, "ab": 50, "h": 17, "hr": 7, "bb": 13, "so": 9,
                            "avg": ".340", "obp": ".469", "slg": ".780", "ops": "1.249"}},
     "pitcher": {"id": "...", "name": "...", "team": "MIN",
                 "season": {"ip": "21.1", "era": "4.64", "whip": "1.31", "so": 11,
                            "bb": 9, "h": 19, "hr": 2, "bf": 92, "g": 4}},
     "head_to_head": {"pa": 4, "ab": 3, "h": 1, "hr": 0, "bb": 1, "so": 1, "avg": ".333"}}
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlencode

import orjson
import structlog

from pressbox.bus.base import ContextStore
from pressbox.engine.events import BaseballPlay, BaseballSituation, GameInfo, PlayEvent
from pressbox.feeds.http import Fetched, ResilientClient, Unavailable
from pressbox.resilience import MonotonicClock
from pressbox.types import JSON, Clock

_log = structlog.get_logger("pressbox.feeds.context")

MATCHUP = "matchup"
"""The context kind of the batter-versus-pitcher record."""

NO_STATS_SOURCE = "replayed from Retrosheet files: no stats source for season lines"
"""The reason a game replayed straight from files has no matchup record."""

Part = Literal["batter", "pitcher", "head_to_head"]


@dataclass(frozen=True, slots=True)
class _Wanted:
    batter: str
    pitcher: str
    half: str | None
    seq: int


@dataclass(frozen=True, slots=True)
class _Done:
    batter: str
    pitcher: str
    complete: bool
    at: float


@dataclass(frozen=True, slots=True)
class _Good:
    data: JSON
    at: float
    """Unix seconds when it was had (now minus its age then)."""


def unavailable_record(
    game_id: str, reason: str, *, seq: int | None = None, now: float | None = None
) -> dict[str, JSON]:
    """A matchup record that says why there is none.

    Args:
        game_id: The game.
        reason: Why, in words (the page shows it on the dash).
        seq: The play it is about, when there is one.
        now: Unix seconds it was written (now by default).
    """
    return {
        "available": False,
        "reason": reason,
        "game_id": game_id,
        "seq": seq,
        "as_of": time.time() if now is None else now,
    }


async def put_record(store: ContextStore, game_id: str, record: dict[str, JSON]) -> None:
    """Write a game's matchup record to the context register.

    Raises:
        BackendError: The backend failed.
    """
    await store.put_context(game_id, MATCHUP, orjson.dumps(record))


def _first_split(data: JSON) -> dict[str, Any] | None:
    """The first split of the first stat group of a Stats API answer; ``None`` when empty.

    Raises:
        KeyError, TypeError, IndexError: The answer is not shaped as a stats answer.
    """
    splits = data["stats"][0]["splits"] if data["stats"] else []
    if not splits:
        return None
    split = splits[0]
    if not isinstance(split, dict) or not isinstance(split.get("stat"), dict):
        raise TypeError("a split without a stat object")
    return split


def _int(stat: dict[str, Any], name: str) -> int | None:
    value = stat.get(name)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _text(stat: dict[str, Any], name: str) -> str | None:
    value = stat.get(name)
    # The Stats API prints a rate it cannot compute as "-.--" or ".---".
    if not isinstance(value, str) or not value or set(value) <= set("-.*"):
        return None
    return value


def _batting(stat: dict[str, Any]) -> dict[str, JSON]:
    return {
        "pa": _int(stat, "plateAppearances"),
        "ab": _int(stat, "atBats"),
        "h": _int(stat, "hits"),
        "hr": _int(stat, "homeRuns"),
        "bb": _int(stat, "baseOnBalls"),
        "so": _int(stat, "strikeOuts"),
        "avg": _text(stat, "avg"),
        "obp": _text(stat, "obp"),
        "slg": _text(stat, "slg"),
        "ops": _text(stat, "ops"),
    }


def _pitching(stat: dict[str, Any]) -> dict[str, JSON]:
    return {
        "ip": _text(stat, "inningsPitched"),
        "era": _text(stat, "era"),
        "whip": _text(stat, "whip"),
        "so": _int(stat, "strikeOuts"),
        "bb": _int(stat, "baseOnBalls"),
        "h": _int(stat, "hits"),
        "hr": _int(stat, "homeRuns"),
        "bf": _int(stat, "battersFaced"),
        "g": _int(stat, "gamesPlayed"),
    }


def _name(split: dict[str, Any] | None, role: str) -> str | None:
    if split is None:
        return None
    person = split.get(role)
    name = person.get("fullName") if isinstance(person, dict) else None
    return name if isinstance(name, str) and name else None


class MatchupFeeder:
    """Keeps each game's batter-versus-pitcher record current, from ingest's side.

    Use :meth:`observe` on every event ingest publishes and run :meth:`run` in the same
    task group as ingest; or call :meth:`refresh` directly (tests, one-shot tools).

    Args:
        client: The resilient client with the ``stats`` and ``matchups`` sources (see
            :func:`pressbox.feeds.poller.statsapi_client`).
        store: Where records go (the event log's context register).
        retry_s: Seconds before an incomplete record is fetched again, on a later play of
            the same matchup (default ``30.0``, monotonic).
        max_in_flight: Games fetched at once (default ``8``; three requests each).
        keep: Last good answers kept for the fallback, by request (default ``2048``).
        clock: Monotonic time for ``retry_s``; real when ``None``.
        now: Unix time for ``as_of`` and ages; :func:`time.time` when ``None``.
    """

    def __init__(
        self,
        client: ResilientClient,
        store: ContextStore,
        *,
        retry_s: float = 30.0,
        max_in_flight: int = 8,
        keep: int = 2048,
        clock: Clock | None = None,
        now: Callable[[], float] | None = None,
    ) -> None:
        if max_in_flight < 1:
            raise ValueError("max_in_flight must be at least 1")
        if keep < 1:
            raise ValueError("keep must be at least 1")
        self._client = client
        self._store = store
        self._retry_s = retry_s
        self._gate = asyncio.Semaphore(max_in_flight)
        self._keep = keep
        self._clock: Clock = clock if clock is not None else MonotonicClock()
        self._now = now if now is not None else time.time
        self._info: dict[str, GameInfo] = {}
        self._wanted: dict[str, _Wanted] = {}
        self._done: dict[str, _Done] = {}
        self._fetching: dict[str, tuple[str, str]] = {}
        self._good: OrderedDict[str, _Good] = OrderedDict()
        self._dirty: dict[str, None] = {}
        self._busy: set[str] = set()
        self._wake = asyncio.Event()
        self._settled = asyncio.Event()
        self._settled.set()
        self.fetches = 0
        """Refreshes started (for tests and metrics)."""

    @property
    def scheduled(self) -> tuple[str, ...]:
        """The games whose matchup waits to be fetched, in the order they were scheduled."""
        return tuple(self._dirty)

    # ---------------------------------------------------------------- watching ingest

    def observe(self, event: PlayEvent, seq: int | None = None) -> None:
        """Note one published event; schedule a fetch when the matchup changed.

        Never raises: a bad event is logged and ignored (ingest goes on).

        Args:
            event: The event just published.
            seq: Its sequence in the game's event log (``event.seq`` when ``None``).
        """
        try:
            self._observe(event, event.seq if seq is None else seq)
        except Exception:
            _log.exception("context.observe_failed", game_id=getattr(event, "game_id", None))

    def _observe(self, event: PlayEvent, seq: int) -> None:
        if event.sport != "mlb":
            return
        game_id = event.game_id
        if event.info is not None:
            self._info[game_id] = event.info
        play = event.detail
        if not isinstance(play, BaseballPlay) or not play.batter or not play.pitcher:
            return
        before = event.before
        half = before.half if isinstance(before, BaseballSituation) else None
        self._wanted[game_id] = _Wanted(play.batter, play.pitcher, half, seq)
        if self._fetching.get(game_id) == (play.batter, play.pitcher):
            return  # the fetch in flight is for this very matchup
        done = self._done.get(game_id)
        if (
            done is not None
            and (done.batter, done.pitcher) == (play.batter, play.pitcher)
            and (done.complete or self._clock.monotonic() - done.at < self._retry_s)
        ):
            return
        self._dirty[game_id] = None
        self._settle()
        self._wake.set()

    def _settle(self) -> None:
        """Keep :attr:`_settled` true exactly when nothing is scheduled or in flight."""
        if self._dirty or self._busy:
            self._settled.clear()
        else:
            self._settled.set()

    # ---------------------------------------------------------------- running

    async def run(self) -> None:
        """Fetch the matchups that changed, as they change, until cancelled.

        At most one fetch per game is in flight; a game whose matchup changed again
        meanwhile is fetched once more afterwards, for its latest matchup only.
        """
        async with asyncio.TaskGroup() as group:
            while True:
                await self._wake.wait()
                self._wake.clear()
                for game_id in list(self._dirty):
                    if game_id in self._busy:
                        continue
                    del self._dirty[game_id]
                    self._busy.add(game_id)
                    group.create_task(self._one(game_id), name=f"context:{game_id}")

    async def drain(self, timeout_s: float = 30.0) -> bool:
        """Wait until no fetch is scheduled or in flight (while :meth:`run` runs).

        Args:
            timeout_s: Give up after this many seconds (default ``30.0``).

        Returns:
            Whether it drained; ``False`` after ``timeout_s`` (logged).
        """
        try:
            async with asyncio.timeout(timeout_s):
                await self._settled.wait()
        except TimeoutError:
            _log.warning("context.drain_timeout", scheduled=list(self._dirty), busy=len(self._busy))
            return False
        return True

    async def _one(self, game_id: str) -> None:
        try:
            async with self._gate:
                await self.refresh(game_id)
        except Exception:
            # refresh already turns every expected failure into a record or a log line.
            _log.exception("context.refresh_crashed", game_id=game_id)
        finally:
            self._busy.discard(game_id)
            self._settle()
            if game_id in self._dirty:
                self._wake.set()

    async def refresh(self, game_id: str) -> dict[str, JSON] | None:
        """Fetch the game's current matchup now and write its record.

        Returns:
            The record written (or that could not be written: the failure is logged and
            the matchup is fetched again later); ``None`` when no play has named a batter
            and pitcher yet. Never raises but for cancellation.
        """
        # What is scheduled is served now; an observe from here on schedules again.
        self._dirty.pop(game_id, None)
        self._settle()
        wanted = self._wanted.get(game_id)
        if wanted is None:
            return None
        self.fetches += 1
        self._fetching[game_id] = (wanted.batter, wanted.pitcher)
        try:
            record = await self._build(game_id, wanted)
            complete = bool(record.pop("_complete", False))
            try:
                await put_record(self._store, game_id, record)
            except Exception as exc:
                _log.warning("context.store_failed", game_id=game_id, reason=str(exc))
                complete = False
        finally:
            self._fetching.pop(game_id, None)
        self._done[game_id] = _Done(
            wanted.batter, wanted.pitcher, complete, self._clock.monotonic()
        )
        _log.info(
            "context.matchup",
            game_id=game_id,
            batter=wanted.batter,
            pitcher=wanted.pitcher,
            available=record.get("available"),
            complete=complete,
        )
        return record

    # ---------------------------------------------------------------- fetching

    def _urls(self, game_id: str, wanted: _Wanted) -> dict[Part, tuple[str, str]]:
        info = self._info.get(game_id)
        dated: dict[str, str] = {}
        if info is not None and info.date:
            dated = {"season": info.date[:4], "date": info.date}
        b, p = wanted.batter, wanted.pitcher

        def season(person: str, group: str) -> str:
            query = urlencode({"stats": "season", "group": group, **dated})
            return f"/api/v1/people/{person}/stats?{query}"

        vs = urlencode(
            {
                "stats": "vsPlayer",
                "opposingPlayerId": p,
                "group": "hitting",
                **({"date": dated["date"]} if dated else {}),
            }
        )
        return {
            "batter": ("stats", season(b, "hitting")),
            "pitcher": ("stats", season(p, "pitching")),
            "head_to_head": ("matchups", f"/api/v1/people/{b}/stats?{vs}"),
        }

    async def _get(self, source: str, url: str) -> Fetched | Unavailable:
        try:
            return await self._client.lookup(source, url)
        except Exception as exc:
            # lookup never raises; a bug in it must still not reach ingest.
            _log.exception("context.lookup_crashed", source=source, url=url)
            return Unavailable(f"unexpected error: {type(exc).__name__}")

    def _had(self, url: str, answer: Fetched | Unavailable) -> tuple[JSON, dict[str, JSON]] | str:
        """The document and its staleness marks, or the reason there is none."""
        now = self._now()
        if isinstance(answer, Fetched):
            self._good[url] = _Good(answer.data, now - answer.age)
            self._good.move_to_end(url)
            while len(self._good) > self._keep:
                self._good.popitem(last=False)
            if not answer.stale:
                return answer.data, {}
            marks: dict[str, JSON] = {"stale": True, "age_s": round(answer.age, 1)}
            if answer.reason:
                marks["reason"] = answer.reason
            return answer.data, marks
        good = self._good.get(url)
        if good is None:
            return answer.reason
        return good.data, {
            "stale": True,
            "age_s": round(max(now - good.at, 0.0), 1),
            "reason": answer.reason,
        }

    async def _build(self, game_id: str, wanted: _Wanted) -> dict[str, JSON]:
        urls = self._urls(game_id, wanted)
        if not (wanted.batter.isdigit() and wanted.pitcher.isdigit()):
            record = unavailable_record(
                game_id,
                "the feed's player ids are not Stats API ids",
                seq=wanted.seq,
                now=self._now(),
            )
            record["_complete"] = True
            return record
        parts = list(urls)
        answers = await asyncio.gather(*(self._get(*urls[part]) for part in parts))
        had = {
            part: self._had(urls[part][1], answer)
            for part, answer in zip(parts, answers, strict=True)
        }
        info = self._info.get(game_id)
        batting_team = pitching_team = None
        if info is not None and wanted.half is not None:
            top = wanted.half == "top"
            batting_team = info.away if top else info.home
            pitching_team = info.home if top else info.away

        complete = True
        names: dict[str, str | None] = {"batter": None, "pitcher": None}
        out: dict[Part, dict[str, JSON]] = {}
        reasons: list[str] = []
        for part in parts:
            got = had[part]
            if isinstance(got, str):
                complete = False
                reasons.append(got)
                out[part] = {"reason": got}
                continue
            data, marks = got
            if marks.get("stale"):
                complete = False
            try:
                split = _first_split(data)
            except (KeyError, TypeError, IndexError, AttributeError) as exc:
                reason = f"unreadable {part.replace('_', ' ')} answer: {type(exc).__name__}"
                _log.warning("context.unreadable", game_id=game_id, part=part, reason=reason)
                reasons.append(reason)
                out[part] = {"reason": reason}
                continue
            out[part] = self._part(part, split, marks, names)

        available = any(set(value) - {"reason"} for value in out.values())
        if not available:
            record = unavailable_record(
                game_id,
                f"the stats upstream did not answer: {reasons[0]}"
                if reasons
                else "no matchup data",
                seq=wanted.seq,
                now=self._now(),
            )
            record["_complete"] = False
            return record
        batter = {"id": wanted.batter, "name": names["batter"], "team": batting_team}
        pitcher = {"id": wanted.pitcher, "name": names["pitcher"], "team": pitching_team}
        batter.update(out["batter"])
        pitcher.update(out["pitcher"])
        return {
            "available": True,
            "game_id": game_id,
            "seq": wanted.seq,
            "as_of": self._now(),
            "batter": batter,
            "pitcher": pitcher,
            "head_to_head": out["head_to_head"],
            "_complete": complete,
        }

    @staticmethod
    def _part(
        part: Part,
        split: dict[str, Any] | None,
        marks: dict[str, JSON],
        names: dict[str, str | None],
    ) -> dict[str, JSON]:
        stat: dict[str, Any] = split["stat"] if split is not None else {}
        if part == "head_to_head":
            names["batter"] = names["batter"] or _name(split, "batter")
            names["pitcher"] = names["pitcher"] or _name(split, "pitcher")
            if not stat or not _int(stat, "plateAppearances"):
                return {"reason": "first meeting", **marks}
            line = _batting(stat)
            return {
                **{k: line[k] for k in ("pa", "ab", "h", "hr", "bb", "so", "avg")},
                **marks,
            }
        names[part] = _name(split, "player") or names[part]
        if part == "batter":
            season = _batting(stat) if stat else None
            if season is None or not season["pa"]:
                return {
                    "season": None,
                    "reason": "no plate appearance this season to date",
                    **marks,
                }
        else:
            season = _pitching(stat) if stat else None
            if season is None or not (season["bf"] or _int(stat, "outs")):
                return {"season": None, "reason": "no appearance this season to date", **marks}
        return {"season": season, **marks}
