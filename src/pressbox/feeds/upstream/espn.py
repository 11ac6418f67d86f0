"""ESPN-style football ``summary`` and ``scoreboard`` documents built from NFL GameCenter games.

The shape follows ESPN's site API (``header.competitions[].competitors``, ``drives.previous[]
.plays[]`` with ``start``/``end`` down, distance and yard line, ``winprobability[]``), as in
the captured ``espn_summary_sections_*.json``. Drives are rebuilt from changes of
possession. ``yardLine`` is yards from the possessing team's own goal line and
``yardsToEndzone`` is ``100 - yardLine``.

``winprobability`` is the simulator's own rough estimate, not ESPN's model: the home
lead plus a home edge of 2 points per remaining hour, over a normal spread of
``13.45 * sqrt(hours left)`` points; 1/0 (½ for a tie) once the game is over.
"""

from __future__ import annotations

import datetime as dt
import math
from statistics import NormalDist
from typing import Final

from pressbox.engine.events import FootballPlay, FootballSituation, PlayEvent
from pressbox.feeds.upstream.data import NflGame
from pressbox.types import JSON

_TYPES: Final = {
    "run": ("5", "Rush"),
    "pass": ("24", "Pass Reception"),
    "punt": ("52", "Punt"),
    "field_goal": ("59", "Field Goal Good"),
    "kickoff": ("53", "Kickoff"),
    "extra_point": ("61", "Extra Point Good"),
    "two_point": ("15", "Two-point Conversion"),
    "kneel": ("5", "Rush"),
    "spike": ("3", "Pass Incompletion"),
    "penalty": ("8", "Penalty"),
    "timeout": ("21", "Timeout"),
    "end_period": ("2", "End Period"),
    "two_minute_warning": ("75", "Two-minute warning"),
}
_QUARTER_SECONDS: Final = 900
_NORMAL: Final = NormalDist()


def _clock_text(seconds: int) -> str:
    return f"{seconds // 60}:{seconds % 60:02d}"


def play_gaps(game: NflGame) -> list[float]:
    """Game seconds before each event: the game clock that ran plus 25 s between snaps."""
    gaps: list[float] = [0.0]
    prev: FootballSituation | None = None
    for event in game.events[1:]:
        before = event.before
        gap = 30.0
        if isinstance(before, FootballSituation) and prev is not None:
            if before.quarter == prev.quarter:
                gap = max(prev.clock_seconds - before.clock_seconds, 0) + 25.0
            else:
                gap = 120.0 + prev.clock_seconds
        if isinstance(before, FootballSituation):
            prev = before
        gaps.append(gap)
    return gaps


def _seconds_left(sit: FootballSituation | None) -> int:
    if sit is None:
        return 4 * _QUARTER_SECONDS
    return max(0, (4 - sit.quarter) * _QUARTER_SECONDS + sit.clock_seconds)


def home_win_probability(lead: int, seconds_left: int, final: bool) -> float:
    """The rough home win chance described in the module docstring."""
    if final:
        return 1.0 if lead > 0 else 0.0 if lead < 0 else 0.5
    hours = max(seconds_left, 1) / 3600
    spread = 13.45 * math.sqrt(hours)
    return round(_NORMAL.cdf((lead + 2.0 * hours) / max(spread, 0.5)), 4)


def _status(game: NflGame, n: int) -> JSON:
    total = len(game.events)
    last = game.events[n - 1] if n else None
    sit = last.after if last is not None else None
    quarter = sit.quarter if isinstance(sit, FootballSituation) else 1
    clock = sit.clock_seconds if isinstance(sit, FootballSituation) else _QUARTER_SECONDS
    if n == 0:
        kind = {
            "id": "1",
            "name": "STATUS_SCHEDULED",
            "state": "pre",
            "completed": False,
            "description": "Scheduled",
            "detail": "Scheduled",
            "shortDetail": "Scheduled",
        }
    elif n >= total:
        kind = {
            "id": "3",
            "name": "STATUS_FINAL",
            "state": "post",
            "completed": True,
            "description": "Final",
            "detail": "Final",
            "shortDetail": "Final",
        }
    else:
        detail = f"{_clock_text(clock)} - {_ordinal(quarter)} Quarter"
        kind = {
            "id": "2",
            "name": "STATUS_IN_PROGRESS",
            "state": "in",
            "completed": False,
            "description": "In Progress",
            "detail": detail,
            "shortDetail": f"{_clock_text(clock)} - {_ordinal(quarter)}",
        }
    return {
        "clock": float(clock),
        "displayClock": _clock_text(clock),
        "period": quarter,
        "type": kind,
    }


def _ordinal(num: int) -> str:
    if num > 4:
        return "OT"
    return f"{num}{ {1: 'st', 2: 'nd', 3: 'rd'}.get(num, 'th') }"


def _team(code: str) -> JSON:
    return {
        "id": code,
        "uid": f"s:20~l:28~t:{code}",
        "abbreviation": code,
        "displayName": code,
        "location": code,
    }


def _competitors(game: NflGame, n: int) -> list[JSON]:
    events = game.events[:n]
    final = n >= len(game.events)
    last = events[-1] if events else None
    lines: dict[str, dict[int, int]] = {"home": {}, "away": {}}
    prev_home = prev_away = 0
    for e in events:
        if e.kind != "play":
            continue
        lines["home"][e.period] = lines["home"].get(e.period, 0) + e.home_score - prev_home
        lines["away"][e.period] = lines["away"].get(e.period, 0) + e.away_score - prev_away
        prev_home, prev_away = e.home_score, e.away_score
    possession = (
        last.after.possession if last and isinstance(last.after, FootballSituation) else None
    )
    out: list[JSON] = []
    for order, key in enumerate(("home", "away")):
        code = game.home if key == "home" else game.away
        score = (last.home_score if key == "home" else last.away_score) if last else 0
        other = (last.away_score if key == "home" else last.home_score) if last else 0
        out.append(
            {
                "id": code,
                "uid": f"s:20~l:28~t:{code}",
                "order": order,
                "homeAway": key,
                "winner": final and score > other,
                "team": _team(code),
                "score": str(score),
                "linescores": [{"displayValue": str(lines[key][q])} for q in sorted(lines[key])],
                "possession": possession == key,
            }
        )
    return out


def _play_document(game: NflGame, e: PlayEvent, index: int, start: dt.datetime) -> JSON:
    detail = e.detail if isinstance(e.detail, FootballPlay) else FootballPlay()
    type_id, type_text = _TYPES.get(detail.play_type, ("5", "Rush"))
    before = e.before if isinstance(e.before, FootballSituation) else None
    after = e.after if isinstance(e.after, FootballSituation) else None

    def spot(sit: FootballSituation | None) -> JSON:
        if sit is None:
            return {}
        team = game.home if sit.possession == "home" else game.away if sit.possession else None
        out: dict[str, JSON] = {
            "down": sit.down or 0,
            "distance": sit.distance or 0,
            "yardLine": sit.yard_line or 0,
            "yardsToEndzone": 100 - sit.yard_line if sit.yard_line else 0,
        }
        if team:
            out["team"] = {"id": team}
        return out

    play_id = e.event_id.rsplit(":", 1)[-1]
    return {
        "id": f"{game.eid}{play_id}",
        "sequenceNumber": str(index),
        "type": {"id": type_id, "text": type_text},
        "text": e.text,
        "awayScore": e.away_score,
        "homeScore": e.home_score,
        "period": {"number": e.period},
        "clock": {"displayValue": e.clock or "0:00"},
        "scoringPlay": detail.scoring,
        "priority": False,
        "modified": start.strftime("%Y-%m-%dT%H:%MZ"),
        "wallclock": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "start": spot(before),
        "end": spot(after),
        "statYardage": detail.yards or 0,
    }


def summary_document(game: NflGame, n: int, pickcenter: list[JSON] | None = None) -> JSON:
    """ESPN's ``summary?event=ID`` for a game with its first ``n`` events out.

    Args:
        game: The game.
        n: Events out, ``0..len(events)``.
        pickcenter: ESPN's bookmaker lines to include (simulated ones from the booth).
    """
    n = max(0, min(n, len(game.events)))
    final = n >= len(game.events)
    gaps = play_gaps(game)
    moment = game.start_utc
    drives: list[dict[str, JSON]] = []
    current_side: str | None = None
    win: list[JSON] = []
    scoring: list[JSON] = []
    for index, e in enumerate(game.events[:n]):
        moment = moment + dt.timedelta(seconds=gaps[index])
        if e.kind != "play":
            continue
        play = _play_document(game, e, index, moment)
        before = e.before if isinstance(e.before, FootballSituation) else None
        side = before.possession if before is not None else None
        if not drives or (side is not None and side != current_side):
            current_side = side or current_side
            team = game.home if current_side == "home" else game.away
            drives.append(
                {
                    "id": f"{game.eid}{len(drives) + 1}",
                    "description": "",
                    "team": {"abbreviation": team, "displayName": team},
                    "start": {
                        "period": {"type": "quarter", "number": e.period},
                        "clock": {"displayValue": e.clock or "15:00"},
                        "yardLine": before.yard_line if before and before.yard_line else 0,
                    },
                    "plays": [],
                    "isScore": False,
                    "yards": 0,
                    "offensivePlays": 0,
                }
            )
        drive = drives[-1]
        drive["plays"].append(play)
        detail = e.detail if isinstance(e.detail, FootballPlay) else FootballPlay()
        if detail.play_type in ("run", "pass"):
            drive["offensivePlays"] += 1
            drive["yards"] += detail.yards or 0
        drive["isScore"] = drive["isScore"] or detail.scoring
        drive["end"] = {
            "period": {"type": "quarter", "number": e.period},
            "clock": {"displayValue": e.clock or "0:00"},
        }
        drive["result"] = (
            "TD"
            if detail.scoring and detail.play_type in ("run", "pass")
            else (
                "FG"
                if detail.scoring and detail.play_type == "field_goal"
                else detail.play_type.upper()
            )
        )
        drive["description"] = f"{drive['offensivePlays']} plays, {drive['yards']} yards"
        if detail.scoring:
            scoring.append(
                {
                    "id": play["id"],
                    "type": play["type"],
                    "text": e.text,
                    "awayScore": e.away_score,
                    "homeScore": e.home_score,
                    "period": {"number": e.period},
                    "clock": play["clock"],
                }
            )
        after = e.after if isinstance(e.after, FootballSituation) else None
        win.append(
            {
                "homeWinPercentage": home_win_probability(
                    e.home_score - e.away_score, _seconds_left(after), False
                ),
                "tiePercentage": 0.0,
                "secondsLeft": _seconds_left(after),
                "playId": play["id"],
            }
        )
    if final and win:
        last = game.events[-1]
        win[-1]["homeWinPercentage"] = home_win_probability(
            last.home_score - last.away_score, 0, True
        )
    drives_doc: dict[str, JSON] = {"previous": drives if final else drives[:-1]}
    if drives and not final:
        drives_doc["current"] = drives[-1]
    season = int(game.eid[:4]) if int(game.eid[4:6]) > 3 else int(game.eid[:4]) - 1
    return {
        "header": {
            "id": game.eid,
            "uid": f"s:20~l:28~e:{game.eid}",
            "season": {"year": season, "type": 3 if game.season_type == "POST" else 2},
            "timeValid": True,
            "competitions": [
                {
                    "id": game.eid,
                    "date": game.start_utc.strftime("%Y-%m-%dT%H:%MZ"),
                    "neutralSite": False,
                    "boxscoreAvailable": True,
                    "competitors": _competitors(game, n),
                    "status": _status(game, n),
                }
            ],
            "league": {
                "id": "28",
                "uid": "s:20~l:28",
                "abbreviation": "NFL",
                "name": "NFL",
                "slug": "nfl",
            },
        },
        "drives": drives_doc,
        "winprobability": win,
        "scoringPlays": scoring,
        "pickcenter": pickcenter or [],
        "simulated": True,
    }


def scoreboard_document(games: list[tuple[NflGame, int]]) -> JSON:
    """ESPN's ``scoreboard`` for some games, each with its events out."""
    events = []
    for game, n in games:
        events.append(
            {
                "id": game.eid,
                "date": game.start_utc.strftime("%Y-%m-%dT%H:%MZ"),
                "name": f"{game.away} at {game.home}",
                "shortName": f"{game.away} @ {game.home}",
                "competitions": [
                    {
                        "id": game.eid,
                        "competitors": _competitors(game, n),
                        "status": _status(game, n),
                    }
                ],
                "status": _status(game, n),
            }
        )
    return {"leagues": [{"id": "28", "abbreviation": "NFL"}], "events": events}


def generic_document(game: NflGame, n: int) -> JSON:
    """The flat play list of :mod:`pressbox.feeds.generic` with the first ``n`` events out."""
    n = max(0, min(n, len(game.events)))
    final = n >= len(game.events)
    plays: list[JSON] = []
    for e in game.events[:n]:
        if e.kind != "play" or not isinstance(e.before, FootballSituation):
            continue
        before = e.before
        detail = e.detail if isinstance(e.detail, FootballPlay) else FootballPlay()
        plays.append(
            {
                "playId": e.event_id.rsplit(":", 1)[-1],
                "quarter": before.quarter,
                "gameClockSeconds": before.clock_seconds,
                "homeScore": e.home_score,
                "awayScore": e.away_score,
                "possession": before.possession,
                "yardLine": before.yard_line,
                "down": before.down,
                "distance": before.distance,
                "type": detail.play_type,
                "text": e.text,
                "yards": detail.yards,
                "scoring": detail.scoring,
            }
        )
    out: dict[str, JSON] = {
        "gameId": game.eid,
        "sport": "nfl",
        "home": game.home,
        "away": game.away,
        "date": game.date,
        "status": "final" if final else "live" if n else "scheduled",
        "plays": plays,
    }
    if final:
        last = game.events[-1]
        out["finalScore"] = {"home": last.home_score, "away": last.away_score}
    return out
