"""ESPN's football ``summary`` document (college or NFL) as normalized events.

The plays are read from ``drives.previous[].plays[]`` (then ``drives.current``, for a game in
progress), in order and each once by ``id``. A play's ``start`` gives the situation at the
snap and its ``end`` the situation after it (down, distance, ``yardsToEndzone``, the team in
possession); ``homeScore``/``awayScore`` are the score after the play, and ``clock`` the game
clock at the snap. The game is over when ``header.competitions[0].status.type.completed``;
``game_end`` then carries the competitors' final score, which the plays must reach.

:func:`read_pickcenter` reads the bookmakers' lines of the same document for
:mod:`pressbox.feeds.odds`.
"""

from __future__ import annotations

import itertools
from datetime import datetime
from typing import Final

from pressbox.engine.events import GameInfo
from pressbox.feeds.odds import BookLine, american_to_decimal
from pressbox.feeds.parse import (
    QUARTER_SECONDS,
    DocumentGame,
    FootballRow,
    NormalizedDocument,
    Reader,
    football_events,
    join,
    parse_clock,
)
from pressbox.types import JSON, Side, Sport

__all__ = ["PLAY_TYPES", "espn_game", "read_pickcenter", "read_summary"]

_LEAGUES: Final[dict[str, Sport]] = {
    "college-football": "ncaaf",
    "nfl": "nfl",
}

PLAY_TYPES: Final[dict[str, str]] = {
    "rush": "run",
    "rushing touchdown": "run",
    "pass": "pass",
    "pass reception": "pass",
    "pass completion": "pass",
    "pass incompletion": "pass",
    "passing touchdown": "pass",
    "sack": "pass",
    "pass interception": "interception",
    "pass interception return": "interception",
    "interception return touchdown": "interception",
    "kickoff": "kickoff",
    "kickoff return (offense)": "kickoff",
    "kickoff return touchdown": "kickoff",
    "punt": "punt",
    "punt return touchdown": "punt",
    "blocked punt": "punt",
    "field goal good": "field_goal",
    "field goal missed": "field_goal",
    "blocked field goal": "field_goal",
    "extra point good": "extra_point",
    "extra point missed": "extra_point",
    "two point pass": "two_point",
    "two point rush": "two_point",
    "penalty": "penalty",
    "timeout": "timeout",
    "end period": "end_period",
    "end of half": "end_period",
    "end of game": "end_period",
    "fumble recovery (own)": "fumble",
    "fumble recovery (opponent)": "fumble",
    "fumble return touchdown": "fumble",
    "safety": "safety",
}
"""ESPN ``type.text`` (lower case) → the event's ``play_type``; others become snake case."""


def read_summary(
    doc: JSON, *, source: str = "espn", sport: Sport | None = None
) -> NormalizedDocument:
    """Normalize an ESPN football summary.

    Args:
        doc: The decoded ``summary`` document.
        source: Its name in errors.
        sport: ``"nfl"`` or ``"ncaaf"``; read from ``header.league.slug`` when ``None``.

    Returns:
        ``game_start``, one play per ESPN play, and ``game_end`` when the game is over.

    Raises:
        FeedParseError: The document is not an ESPN summary or misses a field.
    """
    r = Reader(source)
    root = r.obj(doc, "")
    header = r.get_obj(root, "header", "")
    game_id = r.get_str(header, "id", "header")
    competitions = r.get_list(header, "competitions", "header")
    if not competitions:
        raise r.error("header.competitions", "no competition")
    comp_path = "header.competitions[0]"
    competition = r.obj(competitions[0], comp_path)
    if sport is None:
        league = header.get("league")
        slug = r.opt_str(league, "slug", "header.league") if isinstance(league, dict) else None
        if slug not in _LEAGUES:
            raise r.error("header.league.slug", f"unknown league {slug!r}; pass the sport")
        sport = _LEAGUES[slug]

    sides: dict[str, Side] = {}
    teams: dict[Side, tuple[str, str | None, int | None]] = {}
    for number, competitor in enumerate(r.get_list(competition, "competitors", comp_path)):
        path = join(join(comp_path, "competitors"), number)
        side_text = r.get_str(competitor, "homeAway", path)
        if side_text not in ("home", "away"):
            raise r.error(join(path, "homeAway"), f"unknown side {side_text!r}")
        side: Side = "home" if side_text == "home" else "away"
        team = r.get_obj(competitor, "team", path)
        team_id = r.opt_str(team, "id", join(path, "team")) or r.get_str(competitor, "id", path)
        code = r.opt_str(team, "abbreviation", join(path, "team"))
        name = r.opt_str(team, "displayName", join(path, "team"))
        if code is None and name is None:
            raise r.error(join(path, "team"), "missing field 'abbreviation' (and no name)")
        sides[team_id] = side
        teams[side] = (code or name or "", name, r.opt_int(competitor, "score", path))
    if set(teams) != {"home", "away"}:
        raise r.error(join(comp_path, "competitors"), "expected one home and one away team")

    date_text = r.get_str(competition, "date", comp_path)
    venue = (
        root.get("gameInfo", {}).get("venue") if isinstance(root.get("gameInfo"), dict) else None
    )
    info = GameInfo(
        home=teams["home"][0],
        away=teams["away"][0],
        date=date_text[:10],
        start_time=date_text,
        site=r.opt_str(venue, "fullName", "gameInfo.venue") if isinstance(venue, dict) else None,
        innings=4,
        home_name=teams["home"][1],
        away_name=teams["away"][1],
    )

    numbered: list[tuple[int | None, FootballRow]] = []
    seen: set[str] = set()
    issues: list[str] = []
    for path, play in _plays(r, root):
        play_id = r.get_str(play, "id", path)
        if play_id in seen:
            # drives.current repeats plays of the last drive while a game is on.
            continue
        seen.add(play_id)
        numbered.append(
            (r.opt_int(play, "sequenceNumber", path), _row(r, play, path, game_id, sides))
        )
    # ESPN numbers its plays in game order; a copy with two plays the wrong way round is
    # read in that order (a play without a number keeps the document's order).
    if all(number is not None for number, _ in numbered) and any(
        (a or 0) > (b or 0) for (a, _), (b, _) in itertools.pairwise(numbered)
    ):
        numbered.sort(key=lambda entry: entry[0] or 0)
        issues.append("plays are out of sequenceNumber order; read in that order")
    rows = [row for _, row in numbered]

    final_score: tuple[int, int] | None = None
    status = competition.get("status")
    kind = status.get("type") if isinstance(status, dict) else None
    if isinstance(kind, dict) and (kind.get("completed") is True or kind.get("state") == "post"):
        home, away = teams["home"][2], teams["away"][2]
        if home is None or away is None:
            raise r.error(join(comp_path, "competitors"), "a final game without a score")
        final_score = (home, away)
    return football_events(
        sport=sport,
        game_id=game_id,
        info=info,
        rows=rows,
        final_score=final_score,
        source=source,
        issues=issues,
    )


def espn_game(*, source: str = "espn", sport: Sport | None = None) -> DocumentGame:
    """Follow one game by polling its ESPN summary: each update returns what is new.

    The situation after the latest play is refined when the next play arrives; that is not
    a correction. A play whose text, score or detail changes is re-sent as a correction.

    Args:
        source: The upstream's name in errors.
        sport: See :func:`read_summary`.
    """

    def read(doc: JSON, name: str) -> NormalizedDocument:
        return read_summary(doc, source=name, sport=sport)

    return DocumentGame(read, source=source, ignore_after=True)


def _plays(r: Reader, root: dict[str, JSON]) -> list[tuple[str, JSON]]:
    drives = r.get_obj(root, "drives", "")
    found: list[tuple[str, JSON]] = []
    previous = drives.get("previous", [])
    for number, drive in enumerate(r.array(previous, "drives.previous")):
        path = join("drives.previous", number)
        for index, play in enumerate(r.get_list(drive, "plays", path)):
            found.append((join(join(path, "plays"), index), play))
    current = drives.get("current")
    if isinstance(current, dict) and isinstance(current.get("plays"), list):
        for index, play in enumerate(current["plays"]):
            found.append((join("drives.current.plays", index), play))
    return found


def _row(r: Reader, play: JSON, path: str, game_id: str, sides: dict[str, Side]) -> FootballRow:
    play_id = r.get_str(play, "id", path)
    period = r.get_int(r.get_obj(play, "period", path), "number", join(path, "period"))
    clock_text = r.get_str(r.get_obj(play, "clock", path), "displayValue", join(path, "clock"))
    clock = parse_clock(clock_text)
    if clock is None or clock > QUARTER_SECONDS:
        raise r.error(join(path, "clock.displayValue"), f"not a game clock: {clock_text!r}")
    kind = r.get_obj(play, "type", path)
    type_text = r.opt_str(kind, "text", join(path, "type")) or ""
    start = r.get_obj(play, "start", path)
    end = play.get("end") if isinstance(play, dict) else None
    possession, down, distance, yard_line = _spot(r, start, join(path, "start"), sides)
    end_fields: tuple[Side | None, int | None, int | None, int | None] = (None, None, None, None)
    if isinstance(end, dict):
        end_fields = _spot(r, end, join(path, "end"), sides)
    return FootballRow(
        event_id=f"{game_id}:{play_id}",
        quarter=period,
        clock_seconds=clock,
        home_score=r.get_int(play, "homeScore", path),
        away_score=r.get_int(play, "awayScore", path),
        text=" ".join((r.opt_str(play, "text", path) or "").split()),
        possession=possession,
        down=down,
        distance=distance,
        yard_line=yard_line,
        end_possession=end_fields[0],
        end_down=end_fields[1],
        end_distance=end_fields[2],
        end_yard_line=end_fields[3],
        has_end=isinstance(end, dict),
        play_type=PLAY_TYPES.get(type_text.lower(), "_".join(type_text.lower().split())),
        yards=r.opt_int(play, "statYardage", path),
        scoring=bool(r.opt_bool(play, "scoringPlay", path)),
        ts_source=_timestamp(r.opt_str(play, "wallclock", path)),
    )


def _spot(
    r: Reader, spot: JSON, path: str, sides: dict[str, Side]
) -> tuple[Side | None, int | None, int | None, int | None]:
    """Possession, down, distance and yards from the own goal line of a start/end block."""
    team = spot.get("team") if isinstance(spot, dict) else None
    team_id = team.get("id") if isinstance(team, dict) else None
    possession = sides.get(team_id) if isinstance(team_id, str) else None
    # ESPN writes 0 or -1 for "no down" (kickoffs, extra points, the end of a period).
    down = r.opt_int(spot, "down", path)
    if down is not None and not 1 <= down <= 4:
        down = None
    distance = r.opt_int(spot, "distance", path)
    if down is None or (distance is not None and distance < 0):
        distance = None
    to_go = r.opt_int(spot, "yardsToEndzone", path)
    yard_line = 100 - to_go if to_go is not None and 0 <= to_go <= 100 else None
    return possession, down, distance, yard_line


def _timestamp(text: str | None) -> float | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def read_pickcenter(doc: JSON, *, source: str = "espn") -> list[BookLine]:
    """The bookmakers' lines in an ESPN summary's ``pickcenter`` (empty when there is none).

    ESPN's ``spread`` is the favourite's points; it is signed here from the home team's
    side: ``-9`` when the home team is a 9-point favourite, ``+9`` when it is the underdog.
    Moneylines are American odds, turned into decimal odds.

    Raises:
        FeedParseError: ``pickcenter`` is there but does not have the expected shape.
    """
    r = Reader(source)
    root = r.obj(doc, "")
    lines: list[BookLine] = []
    for number, entry in enumerate(r.array(root.get("pickcenter", []), "pickcenter")):
        path = join("pickcenter", number)
        provider = r.get_obj(entry, "provider", path)
        name = r.opt_str(provider, "name", join(path, "provider")) or "unknown"
        prices: dict[str, float | None] = {}
        favoured: dict[str, bool | None] = {}
        for side in ("home", "away"):
            odds_path = join(path, f"{side}TeamOdds")
            odds = r.get_obj(entry, f"{side}TeamOdds", path)
            favoured[side] = r.opt_bool(odds, "favorite", odds_path)
            american = r.opt_float(odds, "moneyLine", odds_path)
            try:
                prices[side] = None if american is None else american_to_decimal(american)
            except ValueError as exc:
                raise r.error(join(odds_path, "moneyLine"), str(exc)) from exc
        spread = r.opt_float(entry, "spread", path)
        if spread is not None:
            spread = -abs(spread) if favoured["home"] else abs(spread)
        lines.append(
            BookLine(
                provider=name,
                home=prices["home"],
                away=prices["away"],
                spread=spread,
                total=r.opt_float(entry, "overUnder", path),
            )
        )
    return lines
