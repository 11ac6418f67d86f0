"""The generic JSON play-by-play adapter on documents derived from real ESPN games."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from pressbox.engine.events import FootballPlay, FootballSituation
from pressbox.engine.state import GameMachine, Outcome
from pressbox.errors import FeedParseError
from pressbox.feeds.generic import generic_game, read_generic

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "feeds" / "generic"

# (file, game id, plays, away, home, final)
DOCUMENTS = [
    ("generic_401403921.json", "401403921", 208, 49, 52, True),
    ("generic_401403853_halftime.json", "401403853", 88, 21, 10, False),
]


def load(name: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return doc


@pytest.mark.parametrize(("name", "game_id", "count", "away", "home", "final"), DOCUMENTS)
def test_counts_and_scores(name, game_id, count, away, home, final):
    """One event per play, in order; the last score is the document's; the engine agrees."""
    doc = load(name)
    normalized = read_generic(doc, source=name)
    plays = [e for e in normalized.events if e.kind == "play"]
    assert normalized.plays == len(plays) == len(doc["plays"]) == count
    assert [e.event_id for e in plays] == [f"{game_id}:{p['playId']}" for p in doc["plays"]]
    assert (plays[-1].away_score, plays[-1].home_score) == (away, home)
    assert normalized.final is final
    machine = GameMachine("ncaaf", game_id)
    for event in normalized.events:
        assert machine.apply(event) is Outcome.APPLIED
    assert machine.state.status == ("final" if final else "live")
    assert (machine.state.away_score, machine.state.home_score) == (away, home)


def test_situation_after_is_the_next_snap():
    """A play's situation is its snap; the one after it is the next play's snap."""
    events = read_generic(load("generic_401403921.json")).events
    play, following = events[2], events[3]
    assert play.before == FootballSituation(
        quarter=1, clock_seconds=896, possession="away", down=1, distance=10, yard_line=8
    )
    assert following.before is not None
    assert play.after == following.before
    assert play.detail == FootballPlay(play_type="Pass Reception", yards=2)


def test_quarter_change_runs_the_clock_out():
    """The last play of a quarter ends with 0 s left."""
    events = read_generic(load("generic_401403921.json")).events
    plays = [e for e in events if e.kind == "play"]
    last_q1 = max((e for e in plays if e.period == 1), key=lambda e: e.seq)
    assert isinstance(last_q1.after, FootballSituation)
    assert last_q1.after.clock_seconds == 0


def test_final_score_mismatch_is_reported():
    """A finalScore the plays do not reach gives no game_end and an issue."""
    doc = load("generic_401403921.json")
    doc["finalScore"] = {"home": 55, "away": 49}
    normalized = read_generic(doc)
    assert not normalized.final
    assert "final at 49-55" in normalized.issues[0]


def test_small_document_with_integer_ids():
    """Integer ids and missing optional fields are accepted."""
    doc = {
        "gameId": 7,
        "status": "final",
        "plays": [
            {"playId": 1, "quarter": 1, "gameClockSeconds": 900, "homeScore": 0, "awayScore": 0},
            {"playId": 2, "quarter": 4, "gameClockSeconds": 0, "homeScore": 3, "awayScore": 0},
        ],
    }
    normalized = read_generic(doc)
    assert normalized.events[0].sport == "nfl"
    assert [e.event_id for e in normalized.events] == ["7:start", "7:1", "7:2", "7:end"]
    assert normalized.events[-1].home_score == 3


def _play_with(**changes: object) -> dict[str, Any]:
    doc = load("generic_401403853_halftime.json")
    doc = copy.deepcopy(doc)
    for key, value in changes.items():
        if value is None:
            del doc["plays"][4][key]
        else:
            doc["plays"][4][key] = value
    return doc


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"homeScore": None}, "plays[4]: missing field 'homeScore'"),
        ({"playId": None}, "plays[4]: missing field 'playId'"),
        ({"gameClockSeconds": "12:00"}, "plays[4].gameClockSeconds: expected an integer"),
        ({"gameClockSeconds": 1200}, "1200 s is not in a quarter"),
        ({"quarter": 0}, "quarter 0 does not exist"),
        ({"down": 5}, "down 5 does not exist"),
        ({"possession": "HAW"}, "expected home or away"),
        ({"yardLine": 120}, "yard line 120 is off the field"),
        ({"distance": -3}, "negative distance"),
    ],
    ids=[
        "homeScore",
        "playId",
        "clock-text",
        "clock-range",
        "quarter",
        "down",
        "possession",
        "yardline",
        "distance",
    ],
)
def test_drifted_plays_are_refused(changes, reason):
    """A missing, mistyped or out-of-range field raises FeedParseError naming its path."""
    with pytest.raises(FeedParseError) as info:
        read_generic(_play_with(**changes), source="pbp.json")
    assert str(info.value).startswith("pbp.json: ")
    assert reason in str(info.value)


@pytest.mark.parametrize(
    ("key", "value", "reason"),
    [
        ("plays", None, "missing field 'plays'"),
        ("gameId", None, "missing field 'gameId'"),
        ("sport", "curling", "unknown sport"),
        ("status", "halftime", "unknown status"),
        ("plays", {"a": 1}, "plays: expected an array"),
    ],
    ids=["plays", "gameId", "sport", "status", "plays-object"],
)
def test_document_level_drift_is_refused(key, value, reason):
    """No plays array, no gameId, an unknown sport or status are refused."""
    bad = load("generic_401403853_halftime.json")
    if value is None:
        del bad[key]
    else:
        bad[key] = value
    with pytest.raises(FeedParseError, match=reason):
        read_generic(bad)


def test_repeated_play_id():
    """A repeated identical play is read once; a repeated id with other content is refused."""
    doc = load("generic_401403853_halftime.json")
    doc["plays"].insert(5, copy.deepcopy(doc["plays"][4]))
    assert read_generic(doc).plays == 88
    doc["plays"][5]["text"] = "something else"
    with pytest.raises(FeedParseError, match="repeats with other content"):
        read_generic(doc)


def test_following_a_generic_feed():
    """Polling a growing play list gives each play once; the next snap is no correction."""
    doc = load("generic_401403921.json")
    game = generic_game(source="pbp")
    machine = GameMachine("ncaaf", "401403921")
    emitted = []
    for count in (1, 2, 50, 50, 120, 208):
        partial = copy.deepcopy(doc)
        partial["plays"] = doc["plays"][:count]
        partial["status"] = "live"
        del partial["finalScore"]
        emitted.extend(game.update(partial))
    emitted.extend(game.update(doc))
    assert all(e.corrects is None for e in emitted)
    assert len(emitted) == 210
    for event in emitted:
        assert machine.apply(event) is Outcome.APPLIED
    assert machine.state.status == "final"
    with pytest.raises(FeedParseError, match="not 401403921"):
        game.update({"gameId": 5, "plays": []})


@pytest.mark.parametrize(
    ("index", "changes", "reason"),
    [
        (50, {"quarter": 1}, "a play of quarter 1 after one of quarter 2"),
        (10, {"homeScore": 30}, "the score jumps by 23 points on one play"),
        (10, {"quarter": 11}, "quarter 11 does not exist"),
    ],
    ids=["quarter-back", "score-jump", "quarter-range"],
)
def test_impossible_sequences_are_refused(index, changes, reason):
    """A quarter that comes back, or a score that jumps beyond one play, is a FeedParseError."""
    doc = load("generic_401403853_halftime.json")
    doc["plays"][index].update(changes)
    assert doc["plays"][index - 1]["quarter"] <= 2
    with pytest.raises(FeedParseError, match=reason):
        read_generic(doc)
