"""Event, state and update codecs: round trips, versions and clear errors on bad input."""

from __future__ import annotations

import orjson
import pytest

from pressbox.engine.events import (
    BaseballPlay,
    BaseballSituation,
    GameState,
    PlayEvent,
    RunnerMove,
    Update,
    WinProbability,
    decode_event,
    decode_state,
    decode_update,
    encode,
    to_dict,
)
from pressbox.errors import FeedParseError

EVENT = PlayEvent(
    sport="mlb",
    game_id="NYA201504060",
    seq=2,
    event_id="NYA201504060:1",
    period=1,
    clock="T1",
    text="Reyes singles",
    before=BaseballSituation(inning=1, half="top", outs=0),
    after=BaseballSituation(inning=1, half="top", outs=0, bases=("reyej001", None, None)),
    detail=BaseballPlay(batter="reyej001", moves=(RunnerMove("reyej001", 0, 1),)),
)


def test_event_round_trip_and_shape() -> None:
    """An event survives encoding; the JSON carries the version and tagged situations."""
    data = encode(EVENT)
    assert decode_event(data) == EVENT
    shape = orjson.loads(data)
    assert shape["v"] == 1
    assert shape["before"]["type"] == "baseball"
    assert shape["detail"]["moves"] == [["reyej001", 0, 1, False]]
    assert orjson.loads(orjson.dumps(to_dict(EVENT))) == shape
    assert EVENT.after is not None
    assert isinstance(EVENT.after, BaseballSituation)
    assert EVENT.after.bases_code == "100"


def test_state_and_update_round_trip() -> None:
    """States and updates survive encoding."""
    state = GameState(sport="mlb", game_id="g", seq=3, situation=EVENT.after)
    update = Update(
        sport="mlb",
        game_id="g",
        seq=3,
        event_id="e",
        state=state,
        wp=WinProbability(home=0.6, away=0.4, model="m"),
    )
    assert decode_state(encode(state)) == state
    assert decode_update(encode(update)) == update


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"{not json", "bad event"),
        (b'{"sport": "mlb"}', "missing required field"),
        (b'{"sport": "cricket", "game_id": "g", "seq": 1, "event_id": "e"}', "Invalid enum"),
        (b'{"v": 2, "sport": "mlb", "game_id": "g", "seq": 1, "event_id": "e"}', "version 2"),
    ],
)
def test_bad_events_are_rejected_with_reason(data: bytes, reason: str) -> None:
    """A malformed or foreign event is a FeedParseError that says what is wrong."""
    with pytest.raises(FeedParseError, match=reason) as info:
        decode_event(data, source="feed")
    assert str(info.value).startswith("feed:")


def test_bad_state_and_update_are_rejected() -> None:
    """Malformed states and updates are FeedParseErrors."""
    with pytest.raises(FeedParseError, match="bad state"):
        decode_state(b"[]")
    with pytest.raises(FeedParseError, match="bad update"):
        decode_update(b"{}")
