"""Content faults of the simulated upstream: schema drift and play-level glitches.

Each function changes a *copy* of a document in place, deterministically from a variant
number drawn by the fault injector:

* :func:`apply` (``drift``): renames or drops a field, the way an upstream's schema
  drifts between releases (``allPlays`` → ``all_plays``, ``timeStamp`` missing...).
* :func:`duplicate_play` (``dup``): a completed play listed twice in ``allPlays``.
* :func:`reorder_plays` (``reorder``): two neighbouring completed plays swapped.
* :func:`duplicate_espn_play` / :func:`reorder_espn_plays`: the same two glitches in an
  ESPN summary's drives.
* :func:`correct_play` (``correction``): an earlier play's scoring changed (a hit
  rescored as an error, or the reverse), as official scorers do during a game; the
  app keeps it for a while and then restores the original.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from pressbox.types import JSON


def _rename(parent: JSON, old: str, new: str) -> bool:
    if isinstance(parent, dict) and old in parent:
        parent[new] = parent.pop(old)
        return True
    return False


def _drop(parent: JSON, key: str) -> bool:
    if isinstance(parent, dict) and key in parent:
        del parent[key]
        return True
    return False


def _plays(doc: JSON) -> list[JSON]:
    try:
        plays = doc["liveData"]["plays"]["allPlays"]
    except (KeyError, TypeError):
        return []
    return plays if isinstance(plays, list) else []


def _each_play(doc: JSON, change: Callable[[JSON], object]) -> bool:
    plays = _plays(doc)
    for play in plays:
        change(play)
    return bool(plays)


_GUMBO_DRIFTS: Final[tuple[Callable[[JSON], bool], ...]] = (
    lambda d: _rename(d.get("liveData", {}).get("plays"), "allPlays", "all_plays"),
    lambda d: _drop(d.get("metaData"), "timeStamp"),
    lambda d: _rename(d.get("metaData"), "timeStamp", "timestamp"),
    lambda d: _each_play(d, lambda p: _rename(p.get("result"), "eventType", "event_type")),
    lambda d: _each_play(d, lambda p: _rename(p.get("about"), "halfInning", "half")),
    lambda d: _each_play(
        d,
        lambda p: [_rename(r.get("movement"), "start", "startBase") for r in p.get("runners", [])],
    ),
    lambda d: _drop(d.get("liveData"), "linescore"),
    lambda d: _rename(d.get("liveData", {}).get("linescore"), "outs", "outCount"),
    lambda d: _drop(d.get("gameData", {}).get("status"), "abstractGameState"),
)
_ESPN_DRIFTS: Final[tuple[Callable[[JSON], bool], ...]] = (
    lambda d: _rename(d.get("drives"), "previous", "prior"),
    lambda d: _drop(d, "winprobability"),
    lambda d: _rename(d, "header", "gameHeader"),
)
_SCHEDULE_DRIFTS: Final[tuple[Callable[[JSON], bool], ...]] = (
    lambda d: _rename(d, "dates", "gameDates"),
    lambda d: all(
        _rename(g, "gamePk", "game_pk") for day in d.get("dates", []) for g in day["games"]
    ),
)


def _generic(doc: JSON, variant: int) -> JSON:
    if isinstance(doc, dict) and doc:
        keys = sorted(doc)
        key = keys[variant % len(keys)]
        if variant % 2:
            del doc[key]
        else:
            snake = "".join(f"_{c.lower()}" if c.isupper() else c for c in key)
            doc[snake if snake != key else f"{key}_v2"] = doc.pop(key)
    elif isinstance(doc, list) and doc:
        first = doc[0]
        if isinstance(first, dict) and "diff" in first:
            for entry in doc:
                _rename(entry, "diff", "patch")
        else:
            _generic(first, variant)
    return doc


def apply(doc: JSON, kind: str, variant: int) -> JSON:
    """Drift one field of a document copy.

    Args:
        doc: A decoded document the caller owns.
        kind: ``"gumbo"``, ``"espn"``, ``"schedule"``, ``"diff"`` or ``"generic"``.
        variant: Picks which drift (any non-negative integer).

    Returns:
        The changed document (the same object when it is a dict or list).
    """
    table = {"gumbo": _GUMBO_DRIFTS, "espn": _ESPN_DRIFTS, "schedule": _SCHEDULE_DRIFTS}.get(
        kind, ()
    )
    if table and isinstance(doc, dict) and table[variant % len(table)](doc):
        return doc
    return _generic(doc, variant)


def _complete(doc: JSON) -> list[int]:
    plays = _plays(doc)
    return [i for i, p in enumerate(plays) if p.get("about", {}).get("isComplete")]


def duplicate_play(doc: JSON, variant: int) -> bool:
    """List one completed play twice (right after itself). Returns whether it could."""
    plays, done = _plays(doc), _complete(doc)
    if not done:
        return False
    i = done[-1 - variant % min(len(done), 3)]
    plays.insert(i + 1, plays[i])
    return True


def reorder_plays(doc: JSON, variant: int) -> bool:
    """Swap two neighbouring completed plays. Returns whether it could."""
    plays, done = _plays(doc), _complete(doc)
    pairs = [i for i in done if i + 1 in done]
    if not pairs:
        return False
    i = pairs[-1 - variant % min(len(pairs), 3)]
    plays[i], plays[i + 1] = plays[i + 1], plays[i]
    return True


_HIT_EVENTS: Final = {"single", "double", "triple"}


def correct_play(doc: JSON, at_bat: int, variant: int) -> bool:
    """Rescore the play with this ``atBatIndex``: a hit becomes an error, an error a
    single, and any other play changes its description and RBI count. Returns whether
    the play was found.
    """
    play = next((p for p in _plays(doc) if p.get("about", {}).get("atBatIndex") == at_bat), None)
    if play is None:
        return False
    result = play.get("result", {})
    kind = result.get("eventType")
    if kind in _HIT_EVENTS:
        event, event_type, note = "Field Error", "field_error", "reaches on a fielding error"
    elif kind == "field_error":
        event, event_type, note = "Single", "single", "singles (scoring change)"
    else:
        event, event_type, note = result.get("event", ""), kind, "(scoring change)"
        result["rbi"] = max(0, int(result.get("rbi", 0)) + (1 if variant % 2 else -1))
    batter = play.get("matchup", {}).get("batter", {}).get("fullName", "")
    result["event"] = event
    result["eventType"] = event_type
    result["description"] = f"{batter} {note}."
    for runner in play.get("runners", []):
        details = runner.get("details", {})
        if details.get("eventType") == kind:
            details["event"] = event
            details["eventType"] = event_type
    play.setdefault("about", {})["hasReview"] = True
    return True


def _espn_plays(doc: JSON) -> list[list[JSON]]:
    drives = doc.get("drives") if isinstance(doc, dict) else None
    if not isinstance(drives, dict):
        return []
    out = [d.get("plays") for d in drives.get("previous", []) if isinstance(d, dict)]
    current = drives.get("current")
    if isinstance(current, dict):
        out.append(current.get("plays"))
    return [p for p in out if isinstance(p, list) and p]


def duplicate_espn_play(doc: JSON, variant: int) -> bool:
    """List one of the latest plays of an ESPN summary twice. Returns whether it could."""
    groups = _espn_plays(doc)
    if not groups:
        return False
    plays = groups[-1]
    i = len(plays) - 1 - variant % min(len(plays), 3)
    plays.insert(i + 1, plays[i])
    return True


def reorder_espn_plays(doc: JSON, variant: int) -> bool:
    """Swap two neighbouring plays of the latest drive with two. Returns whether it could."""
    groups = [g for g in _espn_plays(doc) if len(g) >= 2]
    if not groups:
        return False
    plays = groups[-1]
    i = len(plays) - 2 - variant % min(len(plays) - 1, 3)
    plays[i], plays[i + 1] = plays[i + 1], plays[i]
    return True
