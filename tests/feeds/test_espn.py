"""The ESPN summary adapter on real captured college-football summaries."""

from __future__ import annotations

import copy
import gzip
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pressbox.engine.events import FootballPlay, FootballSituation, PlayEvent
from pressbox.engine.state import GameMachine, Outcome
from pressbox.errors import FeedParseError
from pressbox.feeds.espn import espn_game, read_pickcenter, read_summary
from tests.conftest import shared_data

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "feeds" / "espn-cfb"

# (file, game id, plays, away, home) as the documents say.
DOCUMENTS = [
    ("espn_summary_sections_401403921.json.gz", "401403921", 208, 49, 52),
    ("espn_summary_sections_401403853.json.gz", "401403853", 184, 63, 10),
]


def load(name: str) -> dict[str, Any]:
    doc: dict[str, Any] = orjson.loads(gzip.decompress((FIXTURES / name).read_bytes()))
    return doc


def document_plays(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [play for drive in doc["drives"]["previous"] for play in drive["plays"]]


def situation(value: object) -> FootballSituation:
    assert isinstance(value, FootballSituation)
    return value


def replay(events: tuple[PlayEvent, ...], game_id: str) -> GameMachine:
    machine = GameMachine("ncaaf", game_id)
    for event in events:
        assert machine.apply(event) is Outcome.APPLIED
    return machine


@pytest.mark.parametrize(("name", "game_id", "count", "away", "home"), DOCUMENTS)
def test_summary_counts_and_final_score(name, game_id, count, away, home):
    """One event per ESPN play, in order; the final score is the header's; the engine agrees."""
    doc = load(name)
    normalized = read_summary(doc, source=name)
    plays = [e for e in normalized.events if e.kind == "play"]
    assert normalized.game_id == game_id
    assert normalized.plays == len(plays) == len(document_plays(doc)) == count
    assert [e.event_id for e in plays] == [f"{game_id}:{p['id']}" for p in document_plays(doc)]
    assert normalized.final
    end = normalized.events[-1]
    assert end.kind == "game_end"
    competitors = {
        c["homeAway"]: int(c["score"]) for c in doc["header"]["competitions"][0]["competitors"]
    }
    assert (
        (end.away_score, end.home_score)
        == (competitors["away"], competitors["home"])
        == (away, home)
    )
    assert (plays[-1].away_score, plays[-1].home_score) == (away, home)
    machine = replay(normalized.events, game_id)
    assert machine.state.status == "final"
    assert (machine.state.away_score, machine.state.home_score) == (away, home)


def test_situation_and_detail_of_a_play():
    """Start and end blocks give the situation before and after, from the offense's goal line."""
    events = read_summary(load("espn_summary_sections_401403921.json.gz")).events
    first_pass = events[2]
    assert first_pass.sport == "ncaaf"
    assert situation(first_pass.before) == FootballSituation(
        quarter=1, clock_seconds=896, possession="away", down=1, distance=10, yard_line=8
    )
    assert situation(first_pass.after) == FootballSituation(
        quarter=1, clock_seconds=859, possession="away", down=2, distance=8, yard_line=10
    )
    assert first_pass.detail == FootballPlay(play_type="pass", yards=2, scoring=False)
    assert first_pass.clock == "14:56"
    start = events[0]
    assert start.info is not None
    assert (start.info.away, start.info.home, start.info.site) == ("ALA", "TENN", "Neyland Stadium")


def test_final_field_goal_is_scoring():
    """The walk-off field goal scores three and is marked scoring."""
    events = read_summary(load("espn_summary_sections_401403921.json.gz")).events
    kick = next(e for e in events if e.text.startswith("Chase McGrath 40 yd FG GOOD"))
    assert isinstance(kick.detail, FootballPlay)
    assert kick.detail.scoring
    assert kick.detail.play_type == "field_goal"
    assert (kick.away_score, kick.home_score) == (49, 52)


def test_stale_score_rows_are_kept_monotonic_and_reported():
    """ESPN's stale score on a kickoff after a touchdown does not lower the score."""
    normalized = read_summary(load("espn_summary_sections_401403853.json.gz"))
    kickoff = next(e for e in normalized.events if e.event_id == "401403853:401403853102944501")
    assert (kickoff.away_score, kickoff.home_score) == (21, 10)
    assert len(normalized.issues) == 2
    assert "falls below 21-10" in normalized.issues[0]


def test_game_in_progress_has_no_end():
    """A summary whose status is not final ends with its latest play."""
    doc = load("espn_summary_sections_401403921.json.gz")
    doc["header"]["competitions"][0]["status"]["type"].update(completed=False, state="in")
    doc["drives"]["previous"] = doc["drives"]["previous"][:10]
    normalized = read_summary(doc)
    assert not normalized.final
    assert normalized.events[-1].kind == "play"
    replay(normalized.events, "401403921")


def test_current_drive_plays_are_read_once():
    """Plays of drives.current follow the previous drives, each id once."""
    doc = load("espn_summary_sections_401403921.json.gz")
    doc["header"]["competitions"][0]["status"]["type"].update(completed=False, state="in")
    last = doc["drives"]["previous"].pop()
    doc["drives"]["current"] = {"plays": [*last["plays"], last["plays"][-1]]}
    normalized = read_summary(doc)
    assert normalized.plays == 208


def _without(doc: dict[str, Any], *keys: str | int) -> dict[str, Any]:
    doc = copy.deepcopy(doc)
    target: Any = doc
    for key in keys[:-1]:
        target = target[key]
    del target[keys[-1]]
    return doc


@pytest.mark.parametrize(
    ("keys", "reason"),
    [
        (("drives",), "missing field 'drives'"),
        (("header", "id"), "header: missing field 'id'"),
        (
            ("drives", "previous", 3, "plays", 2, "homeScore"),
            "drives.previous[3].plays[2]: missing field 'homeScore'",
        ),
        (("drives", "previous", 0, "plays", 0, "period"), "missing field 'period'"),
        (("header", "competitions", 0, "competitors", 0, "homeAway"), "missing field 'homeAway'"),
    ],
    ids=["drives", "id", "homeScore", "period", "homeAway"],
)
def test_drifted_summary_is_refused(keys, reason):
    """A renamed or missing field raises FeedParseError with its JSON path."""
    with pytest.raises(FeedParseError) as info:
        read_summary(_without(load("espn_summary_sections_401403921.json.gz"), *keys), source="s")
    assert reason in str(info.value)


def test_bad_clock_and_league_are_refused():
    """A clock that is not M:SS, or an unknown league without a sport, is refused."""
    doc = load("espn_summary_sections_401403921.json.gz")
    bad = copy.deepcopy(doc)
    bad["drives"]["previous"][0]["plays"][1]["clock"]["displayValue"] = "soon"
    with pytest.raises(FeedParseError, match="not a game clock"):
        read_summary(bad)
    other = copy.deepcopy(doc)
    other["header"]["league"]["slug"] = "cricket"
    with pytest.raises(FeedParseError, match="unknown league"):
        read_summary(other)
    assert read_summary(other, sport="ncaaf").plays == 208


def test_pickcenter_lines():
    """pickcenter moneylines become decimal odds and the spread is signed for the home team."""
    lines = read_pickcenter(load("espn_summary_sections_401403921.json.gz"))
    caesars = lines[0]
    assert caesars.provider == "Caesars Sportsbook (New Jersey)"
    assert caesars.home == pytest.approx(3.40)
    assert caesars.away == pytest.approx(1 + 100 / 305)
    assert caesars.spread == 9.0
    assert caesars.total == 68.0


def test_shared_data_raw_files_read():
    """The raw sportsdataverse files (with their extra tables) read like the summaries."""
    folder = shared_data("feeds", "espn-cfb")
    for path in sorted(folder.glob("sdv_final_*.json.gz")):
        doc = orjson.loads(gzip.decompress(path.read_bytes()))
        normalized = read_summary(doc, source=path.name)
        assert normalized.plays == len(document_plays(doc))
        replay(normalized.events, normalized.game_id)


def _live(doc: dict[str, Any], drives: int) -> dict[str, Any]:
    early = copy.deepcopy(doc)
    early["header"]["competitions"][0]["status"]["type"].update(completed=False, state="in")
    early["drives"]["previous"] = early["drives"]["previous"][:drives]
    return early


def test_following_a_game_emits_each_play_once():
    """Polling a growing summary gives each play once, in order, then game_end; no corrections."""
    doc = load("espn_summary_sections_401403921.json.gz")
    game = espn_game(source="espn")
    machine = GameMachine("ncaaf", "401403921")
    emitted: list[PlayEvent] = []
    for drives in (3, 3, 10, 17, len(doc["drives"]["previous"])):
        emitted.extend(game.update(_live(doc, drives)))
    emitted.extend(game.update(doc))
    assert all(e.corrects is None for e in emitted)
    assert [e.seq for e in emitted] == list(range(1, 211))
    for event in emitted:
        assert machine.apply(event) is Outcome.APPLIED
    assert game.final
    assert (machine.state.away_score, machine.state.home_score) == (49, 52)


def test_changed_play_is_corrected_and_bad_poll_keeps_state():
    """A play whose text changes is a correction; a drifted poll changes nothing."""
    doc = load("espn_summary_sections_401403921.json.gz")
    game = espn_game()
    machine = GameMachine("ncaaf", "401403921")
    for event in game.update(doc):
        machine.apply(event)
    fixed = copy.deepcopy(doc)
    fixed["drives"]["previous"][0]["plays"][1]["text"] = "Corrected description"
    (correction,) = game.update(fixed)
    assert correction.corrects == "401403921:401403921101854301"
    assert machine.apply(correction) is Outcome.CORRECTED
    kept = (game.document, game.events)
    with pytest.raises(FeedParseError, match="missing field 'drives'"):
        game.update(_without(doc, "drives"))
    with pytest.raises(FeedParseError, match="malformed JSON"):
        game.update_bytes(b'{"header": ')
    assert (game.document, game.events) == kept


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 200) | st.text(max_size=5),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=4), children, max_size=3)
    ),
    max_leaves=6,
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, child in value.items():
            found.extend(_paths(child, (*prefix, key)))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found.extend(_paths(child, (*prefix, index)))
    return found


_SMALL = load("espn_summary_sections_401403921.json.gz")
_SMALL = {
    "header": _SMALL["header"],
    "gameInfo": {"venue": _SMALL["gameInfo"]["venue"]},
    "drives": {"previous": _SMALL["drives"]["previous"][:2]},
    "pickcenter": _SMALL["pickcenter"][:1],
}
_SMALL["header"]["competitions"][0]["status"]["type"]["completed"] = False
_SMALL["header"]["competitions"][0]["status"]["type"]["state"] = "in"
_SMALL_PATHS = [p for p in _paths(_SMALL) if "links" not in p and "logos" not in p]


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.sampled_from(_SMALL_PATHS), JSON_VALUES, st.booleans())
def test_any_mutation_is_read_or_refused_cleanly(path, value, delete):
    """Any field of a real summary replaced or removed: read, or FeedParseError, nothing else."""
    doc = copy.deepcopy(_SMALL)
    target: Any = doc
    for key in path[:-1]:
        target = target[key]
    if delete and isinstance(target, dict):
        del target[path[-1]]
    else:
        target[path[-1]] = value
    try:
        normalized = read_summary(doc)
        read_pickcenter(doc)
    except FeedParseError:
        return
    machine = GameMachine(normalized.events[0].sport, normalized.game_id)
    for event in normalized.events:
        machine.apply(event)


def test_plays_out_of_order_are_read_in_sequence():
    """Two plays listed the wrong way round are read in sequenceNumber order, and noted."""
    doc = load("espn_summary_sections_401403921.json.gz")
    plays = doc["drives"]["previous"][2]["plays"]
    plays[1], plays[2] = plays[2], plays[1]
    normalized = read_summary(doc)
    expected = read_summary(load("espn_summary_sections_401403921.json.gz"))
    assert [e.event_id for e in normalized.events] == [e.event_id for e in expected.events]
    assert "out of sequenceNumber order" in normalized.issues[0]
