"""A generic JSON football play-by-play as normalized events.

Some upstreams (and the simulated one) serve a flat list of plays rather than a vendor's
document. The shape read here is::

    {
      "gameId": "401403921",                  required, string or integer
      "sport": "ncaaf",                       "nfl" or "ncaaf" (default "nfl")
      "home": "TENN", "away": "ALA",          team codes (default "HOME" / "AWAY")
      "date": "2022-10-15",                   local date (default "")
      "status": "final",                      "scheduled", "live" or "final" (default "live")
      "finalScore": {"home": 52, "away": 49}, optional; checked against the last play
      "plays": [
        {
          "playId": "401403921101849902",     required, unique in the game
          "quarter": 1,                       required, 1-4, 5+ for overtime
          "gameClockSeconds": 900,            required, seconds left in the quarter at the snap
          "homeScore": 0, "awayScore": 0,     required, the score after the play
          "possession": "away",               "home", "away" or null
          "yardLine": 8,                      yards from the possessing team's own goal line
          "down": 1, "distance": 10,          null on kickoffs and extra points
          "type": "pass", "text": "...",      optional play type and description
          "yards": 2, "scoring": false        optional
        }
      ]
    }

Plays come in game order; the situation of a play is the one at its snap, and the situation
after it is the next play's snap (in the same quarter). A document that misses a required
field, or carries a value of the wrong type or out of range, raises
:class:`~pressbox.errors.FeedParseError` naming the JSON path.
"""

from __future__ import annotations

from typing import Final

from pressbox.engine.events import GameInfo
from pressbox.feeds.parse import (
    MAX_QUARTER,
    QUARTER_SECONDS,
    DocumentGame,
    FootballRow,
    NormalizedDocument,
    Reader,
    football_events,
    join,
)
from pressbox.types import JSON, Side, Sport

__all__ = ["generic_game", "read_generic"]

_SPORTS: Final[dict[str, Sport]] = {"nfl": "nfl", "ncaaf": "ncaaf"}


def read_generic(doc: JSON, *, source: str = "generic") -> NormalizedDocument:
    """Normalize a generic JSON football play-by-play document.

    Args:
        doc: The decoded document (the shape is in the module docstring).
        source: Its name in errors.

    Returns:
        ``game_start``, one play per entry of ``plays``, and ``game_end`` when the status
        is ``"final"``.

    Raises:
        FeedParseError: A required field is missing, or a value has the wrong type or range.
    """
    r = Reader(source)
    root = r.obj(doc, "")
    game_id_value = r.field(root, "gameId", "")
    if isinstance(game_id_value, bool) or not isinstance(game_id_value, str | int):
        raise r.error("gameId", "expected a string or an integer")
    game_id = str(game_id_value)
    sport_name = r.opt_str(root, "sport", "") or "nfl"
    if sport_name not in _SPORTS:
        raise r.error("sport", f"unknown sport {sport_name!r} (expected nfl or ncaaf)")
    status = r.opt_str(root, "status", "") or "live"
    if status not in ("scheduled", "live", "final"):
        raise r.error("status", f"unknown status {status!r}")
    info = GameInfo(
        home=r.opt_str(root, "home", "") or "HOME",
        away=r.opt_str(root, "away", "") or "AWAY",
        date=r.opt_str(root, "date", "") or "",
        innings=4,
    )

    rows: list[FootballRow] = []
    seen: dict[str, JSON] = {}
    for index, play in enumerate(r.get_list(root, "plays", "")):
        path = join("plays", index)
        row = _row(r, play, path, game_id)
        play_id = row.event_id
        if play_id in seen:
            if seen[play_id] != play:
                raise r.error(
                    path, f"playId {play_id.split(':', 1)[1]!r} repeats with other content"
                )
            continue
        seen[play_id] = play
        rows.append(row)

    final_score: tuple[int, int] | None = None
    if status == "final":
        final = root.get("finalScore")
        if final is None:
            final_score = (rows[-1].home_score, rows[-1].away_score) if rows else (0, 0)
        else:
            final_score = (
                r.get_int(final, "home", "finalScore"),
                r.get_int(final, "away", "finalScore"),
            )
    return football_events(
        sport=_SPORTS[sport_name],
        game_id=game_id,
        info=info,
        rows=rows,
        final_score=final_score,
        source=source,
    )


def generic_game(*, source: str = "generic") -> DocumentGame:
    """Follow one game by polling its generic play-by-play: each update returns what is new.

    The situation after the latest play (the next snap) is filled in when the next play
    arrives; that is not a correction. A play whose content changes is re-sent as one.
    """

    def read(doc: JSON, name: str) -> NormalizedDocument:
        return read_generic(doc, source=name)

    return DocumentGame(read, source=source, ignore_after=True)


def _row(r: Reader, play: JSON, path: str, game_id: str) -> FootballRow:
    play_id_value = r.field(play, "playId", path)
    if isinstance(play_id_value, bool) or not isinstance(play_id_value, str | int):
        raise r.error(join(path, "playId"), "expected a string or an integer")
    quarter = r.get_int(play, "quarter", path)
    if not 1 <= quarter <= MAX_QUARTER:
        raise r.error(join(path, "quarter"), f"quarter {quarter} does not exist")
    clock = r.get_int(play, "gameClockSeconds", path)
    if not 0 <= clock <= QUARTER_SECONDS:
        raise r.error(join(path, "gameClockSeconds"), f"{clock} s is not in a quarter")
    home = r.get_int(play, "homeScore", path)
    away = r.get_int(play, "awayScore", path)
    if home < 0 or away < 0:
        raise r.error(path, "a negative score")
    possession_text = r.opt_str(play, "possession", path)
    possession: Side | None
    if possession_text is None:
        possession = None
    elif possession_text in ("home", "away"):
        possession = "home" if possession_text == "home" else "away"
    else:
        raise r.error(join(path, "possession"), f"expected home or away, got {possession_text!r}")
    down = r.opt_int(play, "down", path)
    if down is not None and not 1 <= down <= 4:
        raise r.error(join(path, "down"), f"down {down} does not exist")
    distance = r.opt_int(play, "distance", path)
    if distance is not None and distance < 0:
        raise r.error(join(path, "distance"), f"negative distance {distance}")
    yard_line = r.opt_int(play, "yardLine", path)
    if yard_line is not None and not 0 <= yard_line <= 100:
        raise r.error(join(path, "yardLine"), f"yard line {yard_line} is off the field")
    return FootballRow(
        event_id=f"{game_id}:{play_id_value}",
        quarter=quarter,
        clock_seconds=clock,
        home_score=home,
        away_score=away,
        text=r.opt_str(play, "text", path) or "",
        possession=possession,
        down=down,
        distance=distance,
        yard_line=yard_line,
        play_type=r.opt_str(play, "type", path) or "",
        yards=r.opt_int(play, "yards", path),
        scoring=bool(r.opt_bool(play, "scoring", path)),
    )
