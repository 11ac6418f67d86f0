"""NFL.com GameCenter JSON play-by-play turned into normalized football events.

A GameCenter document is ``{eid: {home, away, drives: {n: {plays: {playid: {...}}}}, ...}}``;
each play carries the situation *before* the snap (``qtr``, ``time``, ``posteam``,
``down``, ``ydstogo``, ``yrdln`` such as ``"NE 35"``), its description, a ``note``
(``TD``, ``XP``, ``FG``, ``PUNT``...) and per-player statistic ids. The feed carries no
running score, so scores are rebuilt from the scoring statistic ids of each play
(touchdowns, field goals, extra points, two-point tries, safeties); :func:`final_score`
reads the file's own final score so that tests can check the rebuilt one against it.
Timeouts left are counted from the ``Timeout #n by TEAM`` plays.

:func:`parse_game` is pure (a decoded document in, events out); :func:`read_game` reads
one ``<eid>.json.gz`` file.
"""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import msgspec

from pressbox.engine.events import FootballPlay, FootballSituation, GameInfo, PlayEvent
from pressbox.errors import FeedParseError
from pressbox.types import JSON, Side

SOURCE = "nflgc"

# Statistic ids (NFL GSIS, as documented by nflgame's statmap) that award points.
# A touchdown is credited once per play: 16 (passing TD) always comes with 22 or 24
# (receiving TD) for the same team, so only the receiving side is counted.
_TD_STATS = frozenset({11, 13, 22, 24, 26, 28, 34, 36, 46, 48, 56, 58, 60, 62, 64, 108})
_FG_GOOD = 70
_XP_GOOD = 72
_TWO_POINT_GOOD = frozenset({75, 77})  # 104 (2-pt reception) duplicates 77.
_SAFETY = 89
_DEFENSIVE_TWO_POINT = 404

# Stat ids of a try after a touchdown (kick good/failed/blocked, two-point good/failed,
# defensive two-point, aborted): one of them means the try is in the feed as a play.
_TRY_STATS = frozenset({72, 73, 74, 75, 76, 77, 78, 104, 105, 301, 403, 404})
_TRY_TEXT_RE = re.compile(r"\(([^()]*)\)\s*(?:Drive\b|$)")

_TIMEOUT_RE = re.compile(r"Timeout #(\d+) by ([A-Z]+)", re.IGNORECASE)
_PLAYS_RE = (
    ("kickoff", re.compile(r"\bkicks\b|\bonside\b", re.IGNORECASE)),
    ("punt", re.compile(r"\bpunts\b|\bpunt is blocked\b", re.IGNORECASE)),
    ("field_goal", re.compile(r"field goal", re.IGNORECASE)),
    ("extra_point", re.compile(r"extra point", re.IGNORECASE)),
    ("two_point", re.compile(r"two-point|2 point conversion", re.IGNORECASE)),
    ("kneel", re.compile(r"\bkneels\b", re.IGNORECASE)),
    ("spike", re.compile(r"\bspiked\b", re.IGNORECASE)),
    ("pass", re.compile(r"\bpass\b|\bsacked\b|\bscrambles\b", re.IGNORECASE)),
)
_STAT_FAMILIES = (
    ("field_goal", frozenset({69, 70, 71})),
    ("extra_point", frozenset({72, 73, 74, 301})),
    ("two_point", frozenset({75, 76, 77, 78, 104, 105})),
    ("punt", frozenset({2, 29, 30, 31, 32})),
    ("kickoff", frozenset({41, 42, 43, 44, 102, 107, 108, 410})),
    ("pass", frozenset({14, 15, 16, 19, 20})),
    ("run", frozenset({10, 11})),
)
_FORMATION_RE = re.compile(r"\([^()]*formation\)", re.IGNORECASE)
_BETWEEN_PLAYS = frozenset({"timeout", "end_period", "two_minute_warning"})
_END_PERIOD_RE = re.compile(r"END (QUARTER|GAME)", re.IGNORECASE)
_NON_PLAYS = (
    ("timeout", re.compile(r"^\s*(?:\(\d*:\d+\)\s*)?Timeout\b", re.IGNORECASE)),
    ("end_period", re.compile(r"END (QUARTER|GAME|OF)", re.IGNORECASE)),
    ("two_minute_warning", re.compile(r"two-minute warning", re.IGNORECASE)),
)

REGULAR_TIMEOUTS = 3
"""Timeouts per team in each half."""
OVERTIME_TIMEOUTS_REGULAR = 2
"""Timeouts per team in the regular-season overtime period (2014-2016 rules)."""


@dataclass(frozen=True, slots=True)
class FinalScore:
    """The final score as the document states it (``home.score.T``)."""

    home: int
    away: int


def _game(doc: Mapping[str, JSON], source: str) -> tuple[str, Mapping[str, JSON]]:
    # Besides the game, a document may carry bookkeeping keys such as ``nextupdate``.
    games = [(key, value) for key, value in doc.items() if key.isdigit()]
    if len(games) != 1:
        raise FeedParseError(source, "a GameCenter document holds exactly one game")
    ((eid, game),) = games
    if not isinstance(game, Mapping) or "home" not in game or "drives" not in game:
        raise FeedParseError(source, f"game {eid} has no home/drives")
    return str(eid), game


def final_score(doc: Mapping[str, JSON], source: str = SOURCE) -> FinalScore:
    """Return the final score the document itself states.

    Raises:
        FeedParseError: The document has no final score.
    """
    _, game = _game(doc, source)
    try:
        return FinalScore(int(game["home"]["score"]["T"]), int(game["away"]["score"]["T"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise FeedParseError(source, "no final score") from exc


def _clock_seconds(text: str | None) -> int | None:
    if not text or ":" not in text:
        return None
    minutes, _, seconds = text.partition(":")
    try:
        return int(minutes) * 60 + int(seconds)
    except ValueError:
        return None


def _yard_line(yrdln: str | None, posteam: str | None) -> int | None:
    """Yards from the possessing team's own goal line, from ``"NE 35"`` or ``"50"``."""
    if not yrdln or not posteam:
        return None
    parts = yrdln.split()
    try:
        number = int(parts[-1])
    except ValueError:
        return None
    if len(parts) == 1:
        return number
    return number if parts[0] == posteam else 100 - number


def _play_type(desc: str, note: str | None, stats: list[tuple[int, str, int]]) -> str:
    """A coarse play family, from the statistics when they tell, else from the text.

    Statistics come first because the text misleads: a fake from "(Field Goal
    formation)" is a run or a pass, and a kick nullified by a penalty has no kick stat.
    """
    ids = {stat for stat, _, _ in stats}
    for name, pattern in _NON_PLAYS:
        if pattern.search(desc):
            return name
    for name, pattern in _PLAYS_RE:
        if name in ("kneel", "spike") and pattern.search(desc):
            return name
    for name, family in _STAT_FAMILIES:
        if ids & family:
            return name
    if "No Play" in desc or note == "PENALTY":
        return "penalty"
    text = _FORMATION_RE.sub("", desc)
    for name, pattern in _PLAYS_RE:
        if pattern.search(text):
            return name
    return "run"


def _stats(play: Mapping[str, JSON]) -> list[tuple[int, str, int]]:
    """Every ``(stat id, club, yards)`` credited on a play."""
    out: list[tuple[int, str, int]] = []
    for entries in (play.get("players") or {}).values():
        for entry in entries:
            yards = entry.get("yards")
            out.append(
                (
                    int(entry["statId"]),
                    str(entry.get("clubcode") or ""),
                    int(yards) if isinstance(yards, int) else 0,
                )
            )
    return out


def _points(stats: list[tuple[int, str, int]]) -> dict[str, int]:
    """Points scored on one play, by club."""
    points: dict[str, int] = {}
    td_club = next((club for stat, club, _ in stats if stat in _TD_STATS), None)
    if td_club is not None:
        points[td_club] = points.get(td_club, 0) + 6
    for stat, club, _ in stats:
        if stat == _FG_GOOD:
            value = 3
        elif stat == _XP_GOOD:
            value = 1
        elif stat in _TWO_POINT_GOOD or stat in (_SAFETY, _DEFENSIVE_TWO_POINT):
            value = 2
        else:
            continue
        points[club] = points.get(club, 0) + value
    return points


def _try_points(summary: JSON) -> int:
    """Points of the try after a touchdown, read from the scoring summary's text.

    The summary says ``(R.Bullock kick is good)``, ``(kick blocked)``, ``(pass failed)``
    or names the two-point runner or passer (``(J.Kuhn run)``) when it succeeded.
    """
    if not isinstance(summary, Mapping) or summary.get("type") != "TD":
        return 0
    match = _TRY_TEXT_RE.search(str(summary.get("desc") or ""))
    if match is None:
        return 0
    text = match.group(1).lower()
    if "kick is good" in text:
        return 1
    if any(word in text for word in ("failed", "blocked", "aborted", "no good")):
        return 0
    return 2 if (" run" in text or " pass" in text) else 0


def _yards(stats: list[tuple[int, str, int]], play_type: str) -> int | None:
    if play_type == "run":
        ids = {10, 11, 12, 13}
    elif play_type == "pass":
        ids = {20, 21, 22, 23, 24}
    else:
        return None
    found = [yards for stat, _, yards in stats if stat in ids]
    return sum(found) if found else 0


def _missing_points(
    rows: list[tuple[int, Mapping[str, JSON]]], summary: Mapping[str, JSON]
) -> dict[int, dict[str, int]]:
    """Points the feed's plays do not show, by play id and club.

    Each try is paired, in play-id order, with the latest touchdown of its team that has
    no try yet. A touchdown left without a try (the feed sometimes drops it, after a
    return touchdown for instance) gets the try's outcome from the scoring summary; a
    try without a touchdown means the touchdown play itself is missing, and the try
    proves it.
    """
    extra: dict[int, dict[str, int]] = {}
    open_tds: list[tuple[int, str]] = []
    for playid, play in sorted(rows, key=lambda row: row[0]):
        stats = _stats(play)
        td_club = next((club for stat, club, _ in stats if stat in _TD_STATS), None)
        if td_club is not None:
            open_tds.append((playid, td_club))
            continue
        # The offense's try statistics name the team of the touchdown; a defensive
        # two-point return (403, 404) on the same play belongs to the other team.
        try_club = next((club for stat, club, _ in stats if stat in _TRY_STATS - {403, 404}), None)
        if try_club is None:
            continue
        for i in range(len(open_tds) - 1, -1, -1):
            if open_tds[i][1] == try_club:
                del open_tds[i]
                break
        else:
            extra.setdefault(playid, {})[try_club] = 6
    for playid, club in open_tds:
        entry = summary.get(str(playid))
        points = _try_points(entry)
        team = str(entry.get("team") or "") if isinstance(entry, Mapping) else ""
        if points:
            extra.setdefault(playid, {})[team or club] = points
    return extra


def _fill_between_plays(situations: list[FootballSituation]) -> list[FootballSituation]:
    """Give timeouts, the two-minute warning and period ends the ball's position.

    The feed gives those rows no possession; the ball is where the next snap (or kickoff)
    will be, so that is their situation (the last snap's at the end of the game). The
    state between plays then stays a football state the models can value.
    """
    out = list(situations)
    following: FootballSituation | None = None
    for i in range(len(out) - 1, -1, -1):
        s = out[i]
        if s.possession is not None:
            following = s
            continue
        source = following
        if source is None:
            source = next((x for x in reversed(out[:i]) if x.possession is not None), None)
        if source is not None:
            out[i] = msgspec.structs.replace(
                s,
                possession=source.possession,
                down=source.down,
                distance=source.distance,
                yard_line=source.yard_line,
            )
    return out


def _timeouts_allowed(quarter: int, postseason: bool) -> int:
    if quarter <= 4 or postseason:
        return REGULAR_TIMEOUTS
    return OVERTIME_TIMEOUTS_REGULAR


def _timeout_period(quarter: int, postseason: bool) -> int:
    """Which timeout allowance a quarter belongs to (halves, then overtime periods)."""
    if quarter <= 2:
        return 1
    if quarter <= 4:
        return 2
    # Postseason overtime: three timeouts for each pair of periods; regular season: one.
    return 3 + (quarter - 5) // 2 if postseason else 3


def _ordered_plays(game: Mapping[str, JSON]) -> list[tuple[int, Mapping[str, JSON]]]:
    plays: dict[int, Mapping[str, JSON]] = {}
    for key, drive in game["drives"].items():
        if key == "crntdrv" or not isinstance(drive, Mapping):
            continue
        for playid, play in (drive.get("plays") or {}).items():
            try:
                plays.setdefault(int(playid), play)
            except ValueError:
                continue
    ordered = sorted(plays.items())
    # Play ids mostly follow the game, but the feed now and then files a play (a try, a
    # corrected snap) under a later id; a stable sort on the game clock puts it back.
    # Plays without a clock (period ends) keep the clock of the play before them.
    keys: list[tuple[int, int]] = []
    quarter, clock = 1, 900
    for _, play in ordered:
        quarter = int(play.get("qtr") or quarter)
        seconds = _clock_seconds(play.get("time"))
        clock = clock if seconds is None else seconds
        keys.append((quarter, -clock))
    order = sorted(range(len(ordered)), key=keys.__getitem__)
    return [ordered[i] for i in order]


def parse_game(
    doc: Mapping[str, JSON],
    *,
    season_type: str = "REG",
    source: str = SOURCE,
) -> list[PlayEvent]:
    """Turn one GameCenter document into the game's ordered events.

    Args:
        doc: The decoded document ``{eid: {...}}``.
        season_type: ``"REG"`` or ``"POST"``; it sets the overtime timeout rules.
        source: A name for error messages (the file name).

    Returns:
        ``game_start``, one ``play`` event per play in play-id order (timeouts, the
        two-minute warning and period ends included, typed as such), then ``game_end``.
        Each play's ``before`` is the feed's situation at the snap and ``after`` is the
        next play's ``before``; scores are after the play.

    Raises:
        FeedParseError: The document is not a GameCenter game.
    """
    eid, game = _game(doc, source)
    try:
        home = str(game["home"]["abbr"])
        away = str(game["away"]["abbr"])
    except (KeyError, TypeError) as exc:
        raise FeedParseError(source, f"game {eid} has no team abbreviations") from exc
    postseason = season_type == "POST"
    date = f"{eid[0:4]}-{eid[4:6]}-{eid[6:8]}"
    info = GameInfo(home=home, away=away, date=date, innings=4)
    events = [
        PlayEvent(sport="nfl", game_id=eid, seq=1, event_id=f"{eid}:start", kind="game_start",
                  info=info)
    ]  # fmt: skip

    rows = _ordered_plays(game)
    situations: list[FootballSituation] = []
    timeouts_used: dict[tuple[str, int], int] = {}
    last_quarter, last_clock = 1, 900
    for _, play in rows:
        quarter = int(play.get("qtr") or last_quarter)
        clock = _clock_seconds(play.get("time"))
        clock = last_clock if clock is None else clock
        if _END_PERIOD_RE.search(str(play.get("desc") or "")):
            clock = 0
        last_quarter, last_clock = quarter, clock
        posteam = play.get("posteam") or None
        side: Side | None = "home" if posteam == home else "away" if posteam == away else None
        down = int(play.get("down") or 0) or None
        period = _timeout_period(quarter, postseason)
        allowed = _timeouts_allowed(quarter, postseason)
        situation = FootballSituation(
            quarter=quarter,
            clock_seconds=clock,
            possession=side,
            down=down,
            distance=int(play.get("ydstogo") or 0) if down else None,
            yard_line=_yard_line(play.get("yrdln"), posteam) if side else None,
            home_timeouts=max(0, allowed - timeouts_used.get((home, period), 0)),
            away_timeouts=max(0, allowed - timeouts_used.get((away, period), 0)),
        )
        situations.append(situation)
        match = _TIMEOUT_RE.search(str(play.get("desc") or ""))
        if match and match.group(2).upper() in (home, away):
            team = match.group(2).upper()
            timeouts_used[(team, period)] = max(
                timeouts_used.get((team, period), 0), int(match.group(1))
            )

    situations = _fill_between_plays(situations)
    summary = game.get("scrsummary") or {}
    all_stats = [_stats(play) for _, play in rows]
    extra = _missing_points(rows, summary)
    home_score = away_score = 0
    for index, (playid, play) in enumerate(rows):
        desc = str(play.get("desc") or "")
        note = play.get("note")
        stats = all_stats[index]
        points = _points(stats)
        for club, value in extra.get(playid, {}).items():
            points[club] = points.get(club, 0) + value
        home_score += points.get(home, 0)
        away_score += points.get(away, 0)
        before = situations[index]
        after = situations[index + 1] if index + 1 < len(rows) else before
        play_type = _play_type(desc, note, stats)
        if not play.get("posteam") and play_type not in _BETWEEN_PLAYS:
            # Without a team in possession a row is a note (an injury, a substitution).
            play_type = "note"
        events.append(
            PlayEvent(
                sport="nfl",
                game_id=eid,
                seq=len(events) + 1,
                event_id=f"{eid}:{playid}",
                period=before.quarter,
                clock=f"{before.clock_seconds // 60}:{before.clock_seconds % 60:02d}",
                text=desc,
                home_score=home_score,
                away_score=away_score,
                before=before,
                after=after,
                detail=FootballPlay(
                    play_type=play_type, yards=_yards(stats, play_type), scoring=bool(points)
                ),
            )
        )
    last = situations[-1] if situations else FootballSituation(quarter=4, clock_seconds=0)
    events.append(
        PlayEvent(
            sport="nfl",
            game_id=eid,
            seq=len(events) + 1,
            event_id=f"{eid}:end",
            kind="game_end",
            period=last.quarter,
            clock="0:00",
            home_score=home_score,
            away_score=away_score,
        )
    )
    return events


def load_document(path: Path) -> Mapping[str, JSON]:
    """Read one ``<eid>.json.gz`` (or plain ``.json``) GameCenter file.

    Raises:
        FeedParseError: The file cannot be read or is not JSON.
    """
    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
        doc = json.loads(raw)
    except (OSError, ValueError) as exc:
        raise FeedParseError(path.name, f"cannot read: {exc}") from exc
    if not isinstance(doc, dict):
        raise FeedParseError(path.name, "not a GameCenter document")
    return doc


def read_game(path: Path, *, season_type: str = "REG") -> list[PlayEvent]:
    """Read and parse one GameCenter file (see :func:`parse_game`)."""
    return parse_game(load_document(path), season_type=season_type, source=path.name)


def read_schedule(path: Path) -> dict[str, str]:
    """Map each eid to its season type (``PRE``, ``REG``, ``POST``) from ``schedule.json``.

    Raises:
        FeedParseError: The file cannot be read or has no ``games`` list.
    """
    try:
        doc = json.loads(path.read_bytes())
        return {str(eid): str(game["season_type"]) for eid, game in doc["games"]}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise FeedParseError(path.name, f"bad schedule: {exc}") from exc
