"""The replay clock: events come out as (manual) time passes; stalls freeze a game."""

from __future__ import annotations

import math

import pytest

from pressbox.feeds.upstream import create_upstream_app, ids
from pressbox.feeds.upstream.data import UpstreamData
from pressbox.feeds.upstream.replay import Replay, Timeline
from pressbox.resilience.clock import ManualClock


def test_events_come_out_after_their_gaps_at_speed() -> None:
    """At speed 10 a 30-second gap takes 3 real seconds."""
    clock = ManualClock()
    replay = Replay(clock, 10.0, [("g", Timeline.from_gaps(0.0, [0, 30, 30, 60]))])
    assert replay.published("g") == 1
    clock.advance(2.9)
    assert replay.published("g") == 1
    clock.advance(0.1)
    assert replay.published("g") == 2
    clock.advance(3.0)
    assert replay.published("g") == 3
    clock.advance(6.0)
    assert replay.published("g") == 4
    clock.advance(100.0)
    assert replay.published("g") == 4


def test_offset_delays_the_start() -> None:
    """A game with an offset has nothing out until its first pitch."""
    clock = ManualClock()
    replay = Replay(clock, 1.0, [("g", Timeline.from_gaps(60.0, [0, 10]))])
    assert replay.published("g") == 0
    clock.advance(60)
    assert replay.published("g") == 1


def test_speed_zero_publishes_everything_and_past_and_future_days() -> None:
    """Speed 0 puts every event out; past games are final, future ones never start."""
    clock = ManualClock()
    replay = Replay(
        clock,
        0.0,
        [
            ("now", Timeline.from_gaps(5.0, [0, 10, 10])),
            ("past", Timeline.from_gaps(-math.inf, [0, 10])),
            ("future", Timeline.from_gaps(math.inf, [0, 10])),
        ],
    )
    assert replay.published("now") == 3
    assert replay.published("past") == 2
    assert replay.published("future") == 0


def test_stall_freezes_then_catches_up() -> None:
    """A stalled game stays at its event for the stall, then jumps to where it should be."""
    clock = ManualClock()
    replay = Replay(clock, 1.0, [("g", Timeline.from_gaps(0.0, [0] + [10] * 10))])
    clock.advance(25)
    assert replay.published("g") == 3
    replay.stall("g", 30)
    assert replay.stalled("g")
    clock.advance(29)
    assert replay.published("g") == 3
    clock.advance(1)
    assert not replay.stalled("g")
    assert replay.published("g") == 6


def test_negative_speed_is_refused() -> None:
    """A negative speed is a ValueError."""
    with pytest.raises(ValueError, match="speed"):
        Replay(ManualClock(), -1.0)


def test_wall_time_of_an_event() -> None:
    """The wall time of the n-th event is the replay start plus its game time over speed."""
    clock = ManualClock(epoch=1000.0)
    replay = Replay(clock, 2.0, [("g", Timeline.from_gaps(10.0, [0, 20]))])
    assert replay.wall_time("g", 1) == pytest.approx(1005.0)
    assert replay.wall_time("g", 2) == pytest.approx(1015.0)


def test_games_are_staggered_by_first_pitch(sample: UpstreamData) -> None:
    """Replaying every game, a West Coast night game starts after an earlier Eastern one;
    replaying a day, earlier days are final and later days not started."""
    timelines = create_upstream_app(sample, clock=ManualClock()).state.upstream.replay.timelines
    ana = timelines[str(ids.game_pk("ANA201504100"))]  # 7:12 PM Pacific
    kca = timelines[str(ids.game_pk("KCA201510270"))]  # 7:07 PM Central
    assert ana.offset > kca.offset >= 0
    day = create_upstream_app(sample, clock=ManualClock(), date="2015-05-08")
    timelines = day.state.upstream.replay.timelines
    assert timelines[str(ids.game_pk("ANA201504100"))].offset == -math.inf
    assert timelines[str(ids.game_pk("COL201505080"))].offset == 0
    assert timelines[str(ids.game_pk("KCA201510270"))].offset == math.inf
