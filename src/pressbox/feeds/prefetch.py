"""Prefetch: warm every booth cache for one game in parallel before it starts.

:func:`prefetch` reads the game's schedule entry (teams, venue, season, probable pitchers),
then fetches, all at once through :meth:`ResilientClient.lookup
<pressbox.feeds.http.ResilientClient.lookup>`: both rosters, the probable pitchers' season
lines, every hitter's season line, each lineup's history against the opposing probable
pitcher, standings, park factors, weather, the umpire crew and odds. Each lookup tries the
cache, then the primary, then the secondary; a value served from cache after a failure is
marked stale with its age, and when every source fails the item is
``{"available": false, "reason": ...}``. Nothing raises to the caller: the report says what
could and could not be had.

The client must configure the sources of :func:`pressbox.feeds.poller.statsapi_client`:
``schedule``, ``roster``, ``stats``, ``matchups``, ``standings``, ``park``, ``weather``,
``umpire`` and ``odds``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Literal

import structlog

from pressbox.feeds.http import Fetched, ResilientClient, Unavailable
from pressbox.types import JSON

_log = structlog.get_logger("pressbox.feeds.prefetch")

SCHEDULE_HYDRATE = "probablePitcher,officials,weather"


@dataclass(frozen=True, slots=True)
class PrefetchItem:
    """One thing prefetch tried to get.

    Attributes:
        name: What it is (``"roster:home"``, ``"matchups:away"``, ``"weather"``...).
        available: At least one of its documents was had (fresh or stale).
        reason: Why it (or part of it) could not be had, else ``None``.
        age: Age of the oldest document had, seconds (``None`` when none).
        stale: A document was served from cache past its TTL because the upstream failed.
        source: The endpoint that supplied the last document had, ``"primary"`` or
            ``"secondary"`` (a cache hit keeps the endpoint it came from, with its age).
        fetched: Documents had.
        wanted: Documents asked for (several for a roster's hitters or matchups).
    """

    name: str
    available: bool
    reason: str | None = None
    age: float | None = None
    stale: bool = False
    source: str | None = None
    fetched: int = 0
    wanted: int = 1

    def to_json(self) -> dict[str, JSON]:
        """The item as a JSON object (``{"available": false, "reason": ...}`` when missing)."""
        if not self.available:
            return {"name": self.name, "available": False, "reason": self.reason}
        out: dict[str, JSON] = {
            "name": self.name,
            "available": True,
            "age": self.age,
            "stale": self.stale,
            "source": self.source,
            "fetched": self.fetched,
            "wanted": self.wanted,
        }
        if self.reason is not None:
            out["reason"] = self.reason
        return out


@dataclass(frozen=True, slots=True)
class PrefetchReport:
    """What :func:`prefetch` could and could not get for a game.

    Attributes:
        game_pk: The game.
        items: One per thing tried, in a fixed order.
    """

    game_pk: int
    items: tuple[PrefetchItem, ...]

    @property
    def available(self) -> tuple[PrefetchItem, ...]:
        """The items had."""
        return tuple(i for i in self.items if i.available)

    @property
    def missing(self) -> tuple[PrefetchItem, ...]:
        """The items that could not be had."""
        return tuple(i for i in self.items if not i.available)

    def item(self, name: str) -> PrefetchItem:
        """The item of that name.

        Raises:
            KeyError: No such item.
        """
        for found in self.items:
            if found.name == name:
                return found
        raise KeyError(name)

    def to_json(self) -> dict[str, JSON]:
        """The report as JSON: the game and each item."""
        return {"gamePk": self.game_pk, "items": [i.to_json() for i in self.items]}


@dataclass(frozen=True, slots=True)
class _Game:
    season: str
    date: str
    venue: int | None
    teams: dict[str, int | None]
    pitchers: dict[str, int | None]


def _item(name: str, answers: list[Fetched | Unavailable]) -> PrefetchItem:
    had = [a for a in answers if isinstance(a, Fetched)]
    failed = [a for a in answers if isinstance(a, Unavailable)]
    reason = None
    if failed:
        reason = failed[0].reason
        if had:
            reason = f"{len(failed)} of {len(answers)} missing: {reason}"
    if not had:
        return PrefetchItem(name, False, reason or "nothing to fetch", wanted=len(answers))
    stale = [a for a in had if a.stale]
    if stale and reason is None:
        reason = stale[0].reason
    return PrefetchItem(
        name,
        True,
        reason,
        age=max(a.age for a in had),
        stale=bool(stale),
        source=had[-1].source,
        fetched=len(had),
        wanted=len(answers),
    )


def _missing(name: str, reason: str) -> PrefetchItem:
    return PrefetchItem(name, False, reason)


def _read_game(data: JSON, game_pk: int) -> _Game:
    """The schedule entry's teams, venue, season, date and probable pitchers.

    Raises:
        ValueError: The game is not in the answer.
        KeyError, TypeError, AttributeError: The answer is not shaped as a schedule.
    """
    for day in data["dates"]:
        for entry in day["games"]:
            if entry.get("gamePk") != game_pk:
                continue
            teams: dict[str, int | None] = {}
            pitchers: dict[str, int | None] = {}
            for side in ("away", "home"):
                team = entry["teams"][side]
                teams[side] = (team.get("team") or {}).get("id")
                pitchers[side] = (team.get("probablePitcher") or {}).get("id")
            venue = (entry.get("venue") or {}).get("id")
            return _Game(
                season=str(entry.get("season") or entry.get("officialDate", "")[:4]),
                date=str(entry.get("officialDate") or day.get("date", "")),
                venue=venue if isinstance(venue, int) else None,
                teams=teams,
                pitchers=pitchers,
            )
    raise ValueError(f"game {game_pk} is not in the schedule")


def _hitters(roster: Fetched | Unavailable) -> list[int]:
    if not isinstance(roster, Fetched):
        return []
    entries = roster.data.get("roster") if isinstance(roster.data, dict) else None
    ids: list[int] = []
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, dict):
            continue
        position = entry.get("position") or {}
        pid = (entry.get("person") or {}).get("id")
        if position.get("type") != "Pitcher" and isinstance(pid, int):
            ids.append(pid)
    return ids


async def prefetch(
    client: ResilientClient,
    game_pk: int | str,
    *,
    max_concurrency: int = 16,
) -> PrefetchReport:
    """Warm every booth cache for one game, in parallel, and say what could be had.

    Args:
        client: The resilient client with the booth sources (see the module docstring).
        game_pk: The game's ``gamePk``.
        max_concurrency: Most lookups in flight at once (default ``16``).

    Returns:
        The report: schedule, ``roster:{away,home}``, ``pitcher:{away,home}``,
        ``hitters:{away,home}``, ``matchups:{away,home}``, ``standings``, ``park``,
        ``weather``, ``umpire`` and ``odds``. Never raises (except cancellation).
    """
    pk = int(game_pk)
    gate = asyncio.Semaphore(max_concurrency)

    async def get(source: str, url: str) -> Fetched | Unavailable:
        async with gate:
            try:
                return await client.lookup(source, url)
            except Exception as exc:
                # lookup never raises; a bug in it must still not reach the booth.
                _log.exception("prefetch.crashed", source=source, url=url)
                return Unavailable(f"unexpected error: {type(exc).__name__}")

    schedule = await get(
        "schedule", f"/api/v1/schedule?sportId=1&gamePk={pk}&hydrate={SCHEDULE_HYDRATE}"
    )
    game: _Game | None = None
    no_game = ""
    if isinstance(schedule, Fetched):
        try:
            game = _read_game(schedule.data, pk)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            no_game = f"unreadable schedule: {type(exc).__name__}: {exc}"
    else:
        no_game = schedule.reason
    schedule_item = _item("schedule", [schedule])
    if game is None:
        schedule_item = _missing("schedule", no_game)

    jobs: dict[str, Callable[[], Coroutine[Any, Any, PrefetchItem]]] = {}

    def one(name: str, source: str, url: str) -> None:
        async def job() -> PrefetchItem:
            return _item(name, [await get(source, url)])

        jobs[name] = job

    one("weather", "weather", f"/weather/v1/games/{pk}")
    one("umpire", "umpire", f"/api/v1/game/{pk}/boxscore")
    one("odds", "odds", f"/odds/v1/games/{pk}")
    if game is not None:
        g = game
        one(
            "standings",
            "standings",
            f"/api/v1/standings?leagueId=103,104&season={g.season}&date={g.date}",
        )
        if g.venue is not None:
            one("park", "park", f"/api/v1/venues/{g.venue}/parkFactors?season={g.season}")
        for side in ("away", "home"):
            pitcher = g.pitchers[side]
            if pitcher is not None:
                one(
                    f"pitcher:{side}",
                    "stats",
                    f"/api/v1/people/{pitcher}/stats?stats=season&group=pitching"
                    f"&season={g.season}&date={g.date}",
                )

        def lineup(side: Literal["away", "home"]) -> None:
            team = g.teams[side]
            opposing = g.pitchers["home" if side == "away" else "away"]

            async def roster_job() -> list[PrefetchItem]:
                if team is None:
                    reason = "no team id in the schedule"
                    return [
                        _missing(f"roster:{side}", reason),
                        _missing(f"hitters:{side}", reason),
                        _missing(f"matchups:{side}", reason),
                    ]
                roster = await get("roster", f"/api/v1/teams/{team}/roster?season={g.season}")
                hitters = _hitters(roster)
                stats_urls = [
                    f"/api/v1/people/{h}/stats?stats=season&group=hitting"
                    f"&season={g.season}&date={g.date}"
                    for h in hitters
                ]
                vs_urls = [
                    f"/api/v1/people/{h}/stats?stats=vsPlayer&opposingPlayerId={opposing}"
                    f"&group=hitting&date={g.date}"
                    for h in hitters
                ]
                season_lines, history = await asyncio.gather(
                    asyncio.gather(*(get("stats", u) for u in stats_urls)),
                    asyncio.gather(*(get("matchups", u) for u in vs_urls))
                    if opposing is not None
                    else _none(),
                )
                no_roster = "needs the roster: " + (
                    roster.reason if isinstance(roster, Unavailable) else "no hitters on it"
                )
                out = [_item(f"roster:{side}", [roster])]
                out.append(
                    _item(f"hitters:{side}", list(season_lines))
                    if hitters
                    else _missing(f"hitters:{side}", no_roster)
                )
                if opposing is None:
                    out.append(_missing(f"matchups:{side}", "no probable pitcher announced"))
                elif not hitters:
                    out.append(_missing(f"matchups:{side}", no_roster))
                else:
                    out.append(_item(f"matchups:{side}", list(history)))
                return out

            rosters.append(roster_job)

        rosters: list[Callable[[], Coroutine[Any, Any, list[PrefetchItem]]]] = []
        lineup("away")
        lineup("home")
    else:
        rosters = []

    async with asyncio.TaskGroup() as group:
        singles = {name: group.create_task(job()) for name, job in jobs.items()}
        lineups = [group.create_task(job()) for job in rosters]
    found: dict[str, PrefetchItem] = {"schedule": schedule_item}
    found.update({name: task.result() for name, task in singles.items()})
    for task in lineups:
        found.update({item.name: item for item in task.result()})
    needs = f"needs the schedule: {no_game}"
    names = [
        "schedule",
        "roster:away",
        "roster:home",
        "pitcher:away",
        "pitcher:home",
        "hitters:away",
        "hitters:home",
        "matchups:away",
        "matchups:home",
        "standings",
        "park",
        "weather",
        "umpire",
        "odds",
    ]
    items: list[PrefetchItem] = []
    for name in names:
        item = found.get(name)
        if item is None:
            reason = needs if game is None else _why_skipped(name)
            item = _missing(name, reason)
        items.append(item)
    report = PrefetchReport(pk, tuple(items))
    _log.info(
        "prefetch.done",
        game_id=str(pk),
        available=len(report.available),
        missing=[i.name for i in report.missing],
    )
    return report


async def _none() -> list[Fetched | Unavailable]:
    return []


def _why_skipped(name: str) -> str:
    if name.startswith("pitcher:"):
        return "no probable pitcher announced"
    if name == "park":
        return "no venue id in the schedule"
    return "not asked for"
