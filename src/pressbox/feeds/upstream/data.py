"""The real season data the simulated upstream serves, loaded once at start-up.

:func:`load_data` reads Retrosheet event files (with the roster and ``TEAMyyyy`` files
found next to them) and NFL GameCenter files (with ``schedule.json`` when it is in the
folder or its parent). Everything is kept in memory as normalized events; the documents
are built from them on request by :mod:`.gumbo`, :mod:`.espn` and :mod:`.booth`.
"""

from __future__ import annotations

import datetime as dt
import json
import zoneinfo
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pressbox.engine.events import PlayEvent
from pressbox.errors import FeedParseError
from pressbox.feeds import nflgc, retrosheet
from pressbox.feeds.retrosheet import RetrosheetGame
from pressbox.feeds.upstream import ids


@dataclass(frozen=True, slots=True)
class Person:
    """A player of a Retrosheet roster file, with his integer id.

    Attributes:
        retro_id: Retrosheet id (``troum001``).
        pid: Integer id (:func:`.ids.player_id`).
        first_name: Given name.
        last_name: Family name.
        bats: ``L``, ``R`` or ``B``.
        throws: ``L`` or ``R``.
        team: Retrosheet team code of the roster he was read from.
        position: Roster position (``P``, ``C``, ``1B``... ``OF``).
    """

    retro_id: str
    pid: int
    first_name: str
    last_name: str
    bats: str
    throws: str
    team: str
    position: str

    @property
    def full_name(self) -> str:
        """``"First Last"``."""
        return f"{self.first_name} {self.last_name}".strip()


@dataclass(frozen=True, slots=True)
class TeamSeason:
    """One line of a ``TEAMyyyy`` file."""

    code: str
    season: int
    league: str
    city: str
    nickname: str

    @property
    def name(self) -> str:
        """``"City Nickname"``."""
        return f"{self.city} {self.nickname}".strip()


@dataclass(frozen=True, slots=True)
class MlbGame:
    """A Retrosheet game as the upstream serves it.

    Attributes:
        game: The game's normalized events and raw info records.
        pk: Its ``gamePk``.
        gaps: Game seconds before each event (:func:`retrosheet.play_gaps`).
        start_utc: First pitch, UTC (from the local ``starttime`` and the park's zone).
    """

    game: RetrosheetGame
    pk: int
    gaps: tuple[float, ...]
    start_utc: dt.datetime

    @property
    def season(self) -> int:
        """The season (year of the game's date)."""
        return int(self.game.info.date[:4])


@dataclass(frozen=True, slots=True)
class NflGame:
    """An NFL GameCenter game as normalized events."""

    eid: str
    events: tuple[PlayEvent, ...]
    season_type: str
    start_utc: dt.datetime

    @property
    def home(self) -> str:
        """Home team abbreviation."""
        info = self.events[0].info
        return info.home if info is not None else ""

    @property
    def away(self) -> str:
        """Visiting team abbreviation."""
        info = self.events[0].info
        return info.away if info is not None else ""

    @property
    def date(self) -> str:
        """``YYYY-MM-DD``."""
        return f"{self.eid[0:4]}-{self.eid[4:6]}-{self.eid[6:8]}"


@dataclass(slots=True)
class UpstreamData:
    """Everything loaded at start-up, indexed the way the routes look it up.

    Attributes:
        games: ``gamePk`` → MLB game, in date and start-time order.
        people: Retrosheet id → person (the regular-season roster line wins).
        rosters: ``(season, team code)`` → the team's roster.
        teams: ``(season, team code)`` → the ``TEAMyyyy`` line.
        nfl: GameCenter eid → NFL game, in date order.
        errors: Games that could not be read (skipped).
        cache: Derived values (records, stats) computed once per key.
    """

    games: dict[int, MlbGame] = field(default_factory=dict)
    people: dict[str, Person] = field(default_factory=dict)
    rosters: dict[tuple[int, str], list[Person]] = field(default_factory=dict)
    teams: dict[tuple[int, str], TeamSeason] = field(default_factory=dict)
    nfl: dict[str, NflGame] = field(default_factory=dict)
    errors: list[FeedParseError] = field(default_factory=list)
    cache: dict[tuple[object, ...], object] = field(default_factory=dict, repr=False)

    def person(self, retro_id: str) -> Person:
        """The person with this id, or a nameless stand-in (umpires, unlisted players)."""
        known = self.people.get(retro_id)
        if known is not None:
            return known
        return Person(retro_id, ids.player_id(retro_id), "", retro_id, "R", "R", "", "")

    def team(self, season: int, code: str) -> TeamSeason:
        """The ``TEAMyyyy`` line of a team, or one made of its code."""
        return self.teams.get((season, code)) or TeamSeason(code, season, "", code, code)

    def dates(self) -> list[str]:
        """Every date with an MLB game, sorted."""
        return sorted({g.game.info.date for g in self.games.values()})


def _start_utc(date: str, start_time: str | None, zone: str) -> dt.datetime:
    hour, minute = 19, 5
    if start_time:
        text = start_time.strip().upper()
        pm = text.endswith("PM")
        clock = text.removesuffix("PM").removesuffix("AM")
        h, _, m = clock.partition(":")
        if h.isdigit() and m.isdigit() and (int(h), int(m)) != (0, 0):
            hour, minute = int(h) % 12 + (12 if pm else 0), int(m)
    local = dt.datetime.fromisoformat(date).replace(hour=hour, minute=minute)
    try:
        tz: dt.tzinfo = zoneinfo.ZoneInfo(zone)
    except zoneinfo.ZoneInfoNotFoundError:
        tz = dt.timezone(dt.timedelta(hours=-5))
    return local.replace(tzinfo=tz).astimezone(dt.UTC)


def _read_team_file(path: Path) -> list[TeamSeason]:
    season = int("".join(c for c in path.stem if c.isdigit()) or 0)
    out = []
    for line in path.read_text(encoding="latin-1").splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) >= 4:
            out.append(TeamSeason(parts[0], season, parts[1], parts[2], parts[3]))
    return out


def _support_folders(paths: Iterable[Path]) -> list[Path]:
    """Folders that may hold rosters and team files for the given data paths."""
    folders: set[Path] = set()
    for p in paths:
        if p.is_dir():
            folders.add(p)
            folders.update(d for d in p.rglob("*") if d.is_dir())
        else:
            folders.update((p.parent, p.parent.parent))
    return sorted(folders)


def _load_support(data: UpstreamData, folders: Sequence[Path]) -> None:
    # Postseason folders come after the season folder in sorted order, so a player's
    # regular-season roster line is kept when he is on both.
    for folder in folders:
        names = sorted(folder.glob("*"))
        for path in names:
            if path.name.upper().startswith("TEAM") and path.is_file():
                for team in _read_team_file(path):
                    data.teams.setdefault((team.season, team.code), team)
        for path in names:
            if path.suffix.upper() != ".ROS":
                continue
            season = int("".join(c for c in path.stem if c.isdigit())[-4:] or 0)
            for line in path.read_text(encoding="latin-1").splitlines():
                parts = [p.strip() for p in line.split(",")]
                if len(parts) < 7:
                    continue
                rid = parts[0]
                person = Person(
                    rid, ids.player_id(rid), parts[2], parts[1], parts[3], parts[4], parts[5],
                    parts[6],
                )  # fmt: skip
                data.people.setdefault(rid, person)
                roster = data.rosters.setdefault((season, person.team), [])
                if all(p.retro_id != rid for p in roster):
                    roster.append(person)


def _is_nfl(path: Path) -> bool:
    if path.is_dir():
        return any(path.glob("*.json.gz")) or any(path.glob("*/*.json.gz"))
    return path.name.endswith((".json.gz", ".json")) and path.name[:10].isdigit()


def _nfl_kickoff(eid: str, clock: str | None) -> dt.datetime:
    """Kickoff in UTC from the schedule's Eastern clock time (``"8:30"``, ``"1:00"``).

    The schedule gives no AM/PM: games at 9 to 11 o'clock are the morning London games,
    everything else is afternoon or evening.
    """
    hour, minute = 13, 0
    if clock:
        h, _, m = clock.partition(":")
        if h.isdigit() and m.isdigit():
            hour, minute = int(h), int(m)
            if hour < 9:
                hour += 12
    local = dt.datetime.strptime(eid[:8], "%Y%m%d").replace(hour=hour % 24, minute=minute)
    try:
        tz: dt.tzinfo = zoneinfo.ZoneInfo("America/New_York")
    except zoneinfo.ZoneInfoNotFoundError:
        tz = dt.timezone(dt.timedelta(hours=-5))
    return local.replace(tzinfo=tz).astimezone(dt.UTC)


def _read_nfl_schedule(path: Path) -> dict[str, tuple[str, str | None]]:
    """eid → (season type, Eastern kickoff clock) from ``schedule.json``."""
    try:
        doc = json.loads(path.read_bytes())
        return {
            str(eid): (str(game["season_type"]), game.get("time")) for eid, game in doc["games"]
        }
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise FeedParseError(path.name, f"bad schedule: {exc}") from exc


def _load_nfl(data: UpstreamData, path: Path) -> None:
    files = sorted(path.rglob("*.json.gz")) if path.is_dir() else [path]
    schedule: dict[str, tuple[str, str | None]] = {}
    for folder in {path if path.is_dir() else path.parent, *(f.parent.parent for f in files)}:
        candidate = folder / "schedule.json"
        if candidate.is_file() and not schedule:
            try:
                schedule = _read_nfl_schedule(candidate)
            except FeedParseError as exc:
                data.errors.append(exc)
    for file in files:
        eid = file.name[:10]
        season_type, clock = schedule.get(eid, ("REG", None))
        if season_type == "PRE":
            continue
        try:
            events = nflgc.read_game(file, season_type=season_type)
        except FeedParseError as exc:
            data.errors.append(exc)
            continue
        data.nfl[eid] = NflGame(eid, tuple(events), season_type, _nfl_kickoff(eid, clock))


def load_data(paths: Sequence[str | Path]) -> UpstreamData:
    """Read every game, roster and team file under the given paths.

    Args:
        paths: Retrosheet event files or folders (season folders with their ``post/``),
            and NFL GameCenter files or folders of ``<eid>.json.gz``.

    Returns:
        The loaded data; games that cannot be read are listed in ``errors``.
    """
    data = UpstreamData()
    mlb_paths: list[Path] = []
    for raw in paths:
        p = Path(raw)
        if not p.exists():
            data.errors.append(FeedParseError(p.name, "no such file or folder"))
        elif _is_nfl(p):
            _load_nfl(data, p)
        else:
            mlb_paths.append(p)
    if mlb_paths:
        _load_support(data, _support_folders(mlb_paths))
        games: list[MlbGame] = []
        for game in retrosheet.iter_games(mlb_paths, data.errors):
            zone = ids.team_ref(game.info.home).timezone
            games.append(
                MlbGame(
                    game=game,
                    pk=ids.game_pk(game.game_id),
                    gaps=tuple(retrosheet.play_gaps(game)),
                    start_utc=_start_utc(game.info.date, game.info.start_time, zone),
                )
            )
        games.sort(key=lambda g: (g.start_utc, g.game.game_id))
        data.games = {g.pk: g for g in games}
    data.nfl = dict(sorted(data.nfl.items()))
    return data
