"""The game state machine: legal plays, impossible ones, idempotency and corrections."""

from __future__ import annotations

import random

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pressbox.engine.events import (
    BaseballPlay,
    BaseballSituation,
    FootballPlay,
    FootballSituation,
    GameInfo,
    PlayEvent,
    RunnerMove,
)
from pressbox.engine.state import GameMachine, Outcome, apply, initial_state
from pressbox.errors import ImpossibleTransition, InvalidEvent, OutOfOrder
from tests.engine.baseball_sim import GAME, random_game, random_play, start_event


def sit(inning=1, half="top", outs=0, bases=(None, None, None)) -> BaseballSituation:
    return BaseballSituation(inning=inning, half=half, outs=outs, bases=bases)


def play(seq, before, after, moves, *, home=0, away=0, runs=None, outs=None, eid=None):
    moves = tuple(moves)
    return PlayEvent(
        sport="mlb",
        game_id=GAME,
        seq=seq,
        event_id=eid or f"{GAME}:{seq}",
        period=before.inning,
        home_score=home,
        away_score=away,
        before=before,
        after=after,
        detail=BaseballPlay(
            batter="bat",
            pitcher="pit",
            moves=moves,
            runs=sum(1 for m in moves if not m.out and m.end == 4) if runs is None else runs,
            outs_on_play=sum(1 for m in moves if m.out) if outs is None else outs,
        ),
    )


def started() -> GameMachine:
    machine = GameMachine("mlb", GAME)
    machine.apply(start_event())
    return machine


def test_start_sets_live_and_top_of_first() -> None:
    """A game start makes the game live at the top of the first."""
    machine = started()
    assert machine.state.status == "live"
    assert machine.state.situation == sit()
    assert machine.state.clock == "T1"
    assert machine.state.info is not None
    assert machine.state.info.home == "HOM"


def test_single_then_homer_scores_two() -> None:
    """A single and a two-run homer put two on the board for the batting side."""
    machine = started()
    machine.apply(play(2, sit(), sit(bases=("a", None, None)), [RunnerMove("a", 0, 1)]))
    machine.apply(
        play(
            3,
            sit(bases=("a", None, None)),
            sit(),
            [RunnerMove("a", 1, 4), RunnerMove("b", 0, 4)],
            away=2,
        )
    )
    assert (machine.state.away_score, machine.state.home_score) == (2, 0)
    assert machine.state.plays == 2


@pytest.fixture
def two_out() -> GameMachine:
    """A game in the top of the first with two out and nobody on."""
    machine = started()
    machine.apply(play(2, sit(), sit(outs=1), [RunnerMove("b1", 0, 1, out=True)]))
    machine.apply(play(3, sit(outs=1), sit(outs=2), [RunnerMove("b2", 0, 1, out=True)]))
    return machine


def test_third_out_moves_to_next_half(two_out: GameMachine) -> None:
    """The third out starts the next half-inning with nobody on."""
    two_out.apply(play(4, sit(outs=2), sit(half="bottom"), [RunnerMove("b3", 0, 1, out=True)]))
    assert two_out.state.situation == sit(half="bottom")
    assert two_out.state.clock == "B1"
    two_out.apply(play(5, sit(half="bottom"), sit(half="bottom"), [RunnerMove("h1", 0, 4)], home=1))
    assert (two_out.state.away_score, two_out.state.home_score) == (0, 1)


def test_game_end_makes_final_and_refuses_more(two_out: GameMachine) -> None:
    """A game end with the right score makes the game final; nothing may follow it."""
    two_out.apply(
        PlayEvent(sport="mlb", game_id=GAME, seq=4, event_id="end", kind="game_end", text="F")
    )
    assert two_out.state.status == "final"
    with pytest.raises(ImpossibleTransition, match="final"):
        two_out.apply(play(5, sit(outs=2), sit(outs=2), []))


def test_game_end_with_wrong_score_is_refused(two_out: GameMachine) -> None:
    """A final score that differs from the plays' is refused with both scores."""
    end = PlayEvent(sport="mlb", game_id=GAME, seq=4, event_id="end", kind="game_end", home_score=3)
    with pytest.raises(ImpossibleTransition, match="final score 0-3"):
        two_out.apply(end)
    assert two_out.state.status == "live"


BAD_PLAYS = [
    pytest.param(
        play(
            4,
            sit(outs=2),
            None,
            [RunnerMove("x", 0, 1, out=True)] * 1 + [RunnerMove("y", 1, 2, out=True)],
        ),
        "no runner on first",
        id="runner-from-empty-base",
    ),
    pytest.param(
        play(4, sit(outs=1), None, [RunnerMove("x", 0, 1)]),
        "play starts at T1 with 1 out",
        id="situation-mismatch",
    ),
    pytest.param(
        play(4, sit(outs=2, bases=("r", None, None)), None, []),
        "bases 100",
        id="bases-mismatch",
    ),
    pytest.param(
        play(4, sit(outs=2), None, [RunnerMove("x", 0, 1, out=True)], outs=2),
        "claims 0 runs and 2 outs",
        id="claimed-outs-differ",
    ),
    pytest.param(
        play(4, sit(outs=2), sit(outs=2, bases=("x", None, None)), [RunnerMove("x", 0, 4)]),
        "score after the play is 0-0",
        id="run-not-on-scoreboard",
    ),
    pytest.param(
        play(4, sit(outs=2), sit(outs=2, bases=(None, "x", None)), [RunnerMove("x", 0, 1)]),
        "claims to end at T1, 2 out, bases 010",
        id="after-mismatch",
    ),
    pytest.param(
        play(4, sit(outs=2), None, [RunnerMove("x", 0, 5)]),
        "cannot go from base 0 to base 5",
        id="off-the-field",
    ),
    pytest.param(
        play(4, sit(outs=2), None, [RunnerMove("x", 0, 1), RunnerMove("y", 0, 2)]),
        "the batter moves twice",
        id="batter-twice",
    ),
]


@pytest.mark.parametrize(("event", "reason"), BAD_PLAYS)
def test_impossible_plays_are_refused_and_state_kept(two_out, event, reason) -> None:
    """An impossible play is refused with its reason and the state is unchanged."""
    before = two_out.state
    with pytest.raises(ImpossibleTransition, match=reason):
        two_out.apply(event)
    assert two_out.state == before
    assert len(two_out.events) == 3


def test_four_outs_are_impossible(two_out: GameMachine) -> None:
    """A play that would make a fourth out is refused."""
    two_out.apply(
        play(4, sit(outs=2), sit(outs=2, bases=("a", None, None)), [RunnerMove("a", 0, 1)])
    )
    double_play = [RunnerMove("a", 1, 2, out=True), RunnerMove("b", 0, 1, out=True)]
    with pytest.raises(ImpossibleTransition, match="4 outs in a half-inning"):
        two_out.apply(play(5, sit(outs=2, bases=("a", None, None)), None, double_play))
    assert two_out.state.situation == sit(outs=2, bases=("a", None, None))


def test_two_runners_on_one_base_are_impossible() -> None:
    """Two runners ending on the same base is refused."""
    machine = started()
    machine.apply(play(2, sit(), sit(bases=("a", None, None)), [RunnerMove("a", 0, 1)]))
    with pytest.raises(ImpossibleTransition, match="two runners end on first"):
        machine.apply(play(3, sit(bases=("a", None, None)), None, [RunnerMove("b", 0, 1)]))
    with pytest.raises(ImpossibleTransition, match="two runners end on second"):
        machine.apply(
            play(
                3,
                sit(bases=("a", None, None)),
                None,
                [RunnerMove("a", 1, 2), RunnerMove("b", 0, 2)],
            )
        )


def test_runner_cannot_go_backwards() -> None:
    """A runner who is not out never ends behind the base he started from."""
    machine = started()
    machine.apply(play(2, sit(), sit(bases=(None, "a", None)), [RunnerMove("a", 0, 2)]))
    with pytest.raises(ImpossibleTransition, match="from base 2 to base 1"):
        machine.apply(play(3, sit(bases=(None, "a", None)), None, [RunnerMove("a", 2, 1)]))


def test_out_of_order_and_foreign_events_are_refused() -> None:
    """A sequence gap, another game's event, or a play before a start is refused."""
    machine = started()
    with pytest.raises(OutOfOrder, match="sequence 5 does not follow 1"):
        machine.apply(play(5, sit(), None, []))
    other = msgspec.structs.replace(play(2, sit(), None, []), game_id="OTHER")
    with pytest.raises(ImpossibleTransition, match="not mlb game"):
        machine.apply(other)
    with pytest.raises(ImpossibleTransition, match="already started"):
        machine.apply(msgspec.structs.replace(start_event(), seq=2, event_id="again"))
    assert machine.state.seq == 1


def test_start_needs_info_and_no_score() -> None:
    """A game start without info, or with a score, is refused."""
    state = initial_state("mlb", GAME)
    with pytest.raises(ImpossibleTransition, match="no game info"):
        apply(state, msgspec.structs.replace(start_event(), info=None))
    with pytest.raises(ImpossibleTransition, match="cannot start with a score"):
        apply(state, msgspec.structs.replace(start_event(), home_score=1))


def test_play_without_baseball_detail_is_refused() -> None:
    """A baseball play needs a baseball situation and baseball detail."""
    state = apply(initial_state("mlb", GAME), start_event())
    event = play(2, sit(), None, [])
    with pytest.raises(ImpossibleTransition, match="baseball 'before'"):
        apply(state, msgspec.structs.replace(event, before=None))
    with pytest.raises(ImpossibleTransition, match="baseball play detail"):
        apply(state, msgspec.structs.replace(event, detail=FootballPlay()))


def test_duplicate_is_a_no_op_and_conflicting_duplicate_is_refused() -> None:
    """The same event twice changes nothing; the same id with other content is refused."""
    machine = started()
    first = play(2, sit(), sit(bases=("a", None, None)), [RunnerMove("a", 0, 1)])
    assert machine.apply(first) is Outcome.APPLIED
    state = machine.state
    assert machine.apply(first) is Outcome.DUPLICATE
    assert machine.apply(msgspec.structs.replace(first, ts_ingest=5.0)) is Outcome.DUPLICATE
    assert machine.state == state
    conflicting = msgspec.structs.replace(first, text="changed")
    with pytest.raises(ImpossibleTransition, match="different content"):
        machine.apply(conflicting)
    assert machine.state == state


def test_correction_replaces_and_recomputes() -> None:
    """A correction of an earlier play recomputes every later state."""
    machine = started()
    single = play(2, sit(), sit(bases=("a", None, None)), [RunnerMove("a", 0, 1)])
    machine.apply(single)
    machine.apply(play(3, sit(bases=("a", None, None)), sit(bases=("a", None, None)), []))
    fixed = msgspec.structs.replace(
        play(4, sit(), sit(bases=("a", None, None)), [RunnerMove("a", 0, 1)], eid="fix"),
        corrects=single.event_id,
        text="single, scored as an error",
    )
    assert machine.apply(fixed) is Outcome.CORRECTED
    assert machine.state.seq == 4
    assert machine.events[1].text == "single, scored as an error"
    assert machine.apply(single) is Outcome.DUPLICATE  # the superseded original is stale
    assert machine.apply(fixed) is Outcome.DUPLICATE


def test_correction_that_breaks_later_plays_is_held_until_the_chain_completes() -> None:
    """A correction that changes the situation waits for the later plays' corrections."""
    machine = started()
    single = play(2, sit(), sit(bases=("a", None, None)), [RunnerMove("a", 0, 1)])
    walk = play(
        3,
        sit(bases=("a", None, None)),
        sit(bases=("b", "a", None)),
        [RunnerMove("a", 1, 2), RunnerMove("b", 0, 1)],
    )
    machine.apply(single)
    machine.apply(walk)
    state, events = machine.state, machine.events
    out = msgspec.structs.replace(
        play(4, sit(), sit(outs=1), [RunnerMove("a", 0, 1, out=True)], eid="fix1"),
        corrects=single.event_id,
    )
    assert machine.apply(out) is Outcome.PENDING
    assert machine.apply(out) is Outcome.DUPLICATE
    assert machine.state == state
    assert machine.events == events
    assert [e.event_id for e in machine.pending] == ["fix1"]
    walk_fixed = msgspec.structs.replace(
        play(
            4,
            sit(outs=1),
            sit(outs=1, bases=("b", None, None)),
            [RunnerMove("b", 0, 1)],
            eid="fix2",
        ),
        corrects=walk.event_id,
    )
    assert machine.apply(walk_fixed) is Outcome.CORRECTED
    assert machine.pending == []
    assert machine.state.situation == sit(outs=1, bases=("b", None, None))
    assert machine.state.seq == 4
    assert [e.event_id for e in machine.events] == [GAME + ":0", "fix1", "fix2"]


def test_impossible_correction_is_refused_and_held_ones_dropped_by_the_feed() -> None:
    """An impossible correction is refused; a play that follows the old history drops held ones."""
    machine = started()
    single = play(2, sit(), sit(bases=("a", None, None)), [RunnerMove("a", 0, 1)])
    machine.apply(single)
    machine.apply(play(3, sit(bases=("a", None, None)), sit(bases=("a", None, None)), []))
    state = machine.state
    impossible = msgspec.structs.replace(
        play(4, sit(outs=1), None, [RunnerMove("a", 0, 1)], eid="bad"), corrects=single.event_id
    )
    with pytest.raises(ImpossibleTransition, match="correction bad is impossible"):
        machine.apply(impossible)
    with pytest.raises(ImpossibleTransition, match="unknown event"):
        machine.apply(msgspec.structs.replace(impossible, corrects="nope"))
    with pytest.raises(OutOfOrder):
        machine.apply(msgspec.structs.replace(impossible, seq=9, text="x"))
    held = msgspec.structs.replace(
        play(4, sit(), sit(outs=1), [RunnerMove("a", 0, 1, out=True)], eid="held"),
        corrects=single.event_id,
    )
    assert machine.apply(held) is Outcome.PENDING
    assert machine.state == state
    with pytest.raises(ImpossibleTransition, match="1 held corrections are incomplete"):
        machine.apply(play(4, sit(outs=1), None, []))
    follows_old = play(
        4,
        sit(bases=("a", None, None)),
        sit(outs=1, bases=("a", None, None)),
        [RunnerMove("z", 0, 1, out=True)],
    )
    assert machine.apply(follows_old) is Outcome.APPLIED
    assert machine.pending == []


# --- football -----------------------------------------------------------------------

NFL = "2015091000"


def fb(seq, quarter=1, clock=900, home=0, away=0, down=1, yard=25, distance=10):
    situation = FootballSituation(
        quarter=quarter,
        clock_seconds=clock,
        possession="home",
        down=down,
        distance=distance,
        yard_line=yard,
    )
    return PlayEvent(
        sport="nfl",
        game_id=NFL,
        seq=seq,
        event_id=f"{NFL}:{seq}",
        period=quarter,
        home_score=home,
        away_score=away,
        before=situation,
        after=situation,
        detail=FootballPlay(play_type="run"),
    )


def football_machine() -> GameMachine:
    machine = GameMachine("nfl", NFL)
    machine.apply(
        PlayEvent(
            sport="nfl",
            game_id=NFL,
            seq=1,
            event_id="s",
            kind="game_start",
            info=GameInfo(home="NE", away="PIT", date="2015-09-10", innings=4),
        )
    )
    return machine


def test_football_plays_move_score_and_quarter() -> None:
    """Football plays carry their situation and score into the state."""
    machine = football_machine()
    machine.apply(fb(2, quarter=1, home=7))
    machine.apply(fb(3, quarter=2, home=7, away=3))
    assert (machine.state.home_score, machine.state.away_score, machine.state.period) == (7, 3, 2)


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        (fb(2, quarter=0), "quarter 0"),
        (fb(2, clock=901), "901 s"),
        (fb(2, down=5), "down 5"),
        (fb(2, yard=101), "off the field"),
        (fb(2, distance=-1), "negative distance"),
        (fb(2, home=9), "scores 9 points"),
    ],
)
def test_impossible_football_plays_are_refused(event, reason) -> None:
    """An impossible football situation or score jump is refused with its reason."""
    machine = football_machine()
    state = machine.state
    with pytest.raises(ImpossibleTransition, match=reason):
        machine.apply(event)
    assert machine.state == state


def test_football_score_and_quarter_never_go_back() -> None:
    """Scores do not fall and quarters do not go back without a correction."""
    machine = football_machine()
    machine.apply(fb(2, quarter=2, home=7))
    with pytest.raises(ImpossibleTransition, match="home score falls"):
        machine.apply(fb(3, quarter=2, home=6))
    with pytest.raises(ImpossibleTransition, match="quarter 1 but the game is in quarter 2"):
        machine.apply(fb(3, quarter=1, home=7))
    with pytest.raises(ImpossibleTransition, match="football situation"):
        machine.apply(msgspec.structs.replace(fb(3, quarter=2, home=7), before=None, after=None))


# --- properties ---------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), plays=st.integers(1, 120))
def test_random_legal_games_keep_invariants(seed: int, plays: int) -> None:
    """Random legal plays are all accepted and keep outs, bases and score consistent."""
    events = random_game(random.Random(seed), plays)
    machine = GameMachine("mlb", GAME)
    runs = 0
    for event in events:
        assert machine.apply(event) is Outcome.APPLIED
        state = machine.state
        situation = state.situation
        assert isinstance(situation, BaseballSituation)
        assert 0 <= situation.outs <= 2
        assert state.home_score >= 0
        assert state.away_score >= 0
        if isinstance(event.detail, BaseballPlay):
            runs += event.detail.runs
        assert state.home_score + state.away_score == runs
    assert machine.state.plays == plays
    assert machine.state.seq == plays + 1


@settings(max_examples=100, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), plays=st.integers(1, 80))
def test_applying_twice_equals_applying_once(seed: int, plays: int) -> None:
    """Every event delivered twice gives the same state as every event once."""
    events = random_game(random.Random(seed), plays)
    once, twice = GameMachine("mlb", GAME), GameMachine("mlb", GAME)
    for event in events:
        once.apply(event)
        twice.apply(event)
        assert twice.apply(event) is Outcome.DUPLICATE
    assert once.state == twice.state
    assert once.events == twice.events


@settings(max_examples=100, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), plays=st.integers(2, 80), data=st.data())
def test_correction_then_replay_equals_corrected_history(seed, plays, data) -> None:
    """Correcting a play gives the state of the history with the corrected play."""
    rng = random.Random(seed)
    events = random_game(rng, plays)
    index = data.draw(st.integers(1, len(events) - 1))
    target = events[index]
    assert isinstance(target.before, BaseballSituation)
    last = index == len(events) - 1
    if last:
        # The last play may be replaced by any other legal play.
        previous = events[index - 1]
        alternative = random_play(
            rng, target.before, previous.home_score, previous.away_score, target.seq, number=999
        )
    else:
        # An earlier play keeps its outcome but changes what the scorer credited.
        alternative = msgspec.structs.replace(target, text="corrected", event_id="x:999")
    corrected_history = [*events[:index], alternative, *events[index + 1 :]]
    direct = GameMachine("mlb", GAME)
    for event in corrected_history:
        direct.apply(event)

    machine = GameMachine("mlb", GAME)
    for event in events:
        machine.apply(event)
    correction = msgspec.structs.replace(
        alternative, seq=len(events) + 1, event_id="fix", corrects=target.event_id
    )
    assert machine.apply(correction) is Outcome.CORRECTED
    assert msgspec.structs.replace(machine.state, seq=direct.state.seq) == direct.state
    assert [e.text for e in machine.events] == [e.text for e in direct.events]


def test_invalid_event_is_the_common_parent() -> None:
    """Both refusal kinds can be caught as InvalidEvent and carry the reason."""
    machine = started()
    with pytest.raises(InvalidEvent) as info:
        machine.apply(play(9, sit(), None, []))
    assert info.value.reason
    assert GAME in str(info.value)


def test_play_on_unstarted_game_starts_at_top_of_first() -> None:
    """A feed that begins with a play (no start event) is taken from the top of the first."""
    machine = GameMachine("mlb", GAME)
    machine.apply(play(1, sit(), sit(bases=("a", None, None)), [RunnerMove("a", 0, 1)]))
    assert machine.state.status == "live"
    assert machine.state_at(0).status == "scheduled"
    assert machine.state_at(1) == machine.state


def test_move_from_a_base_that_does_not_exist_is_refused() -> None:
    """A move must start from the batter's box or a base 1-3."""
    machine = started()
    with pytest.raises(ImpossibleTransition, match="starts from base 7"):
        machine.apply(play(2, sit(), None, [RunnerMove("a", 7, 8)]))


def test_football_after_on_a_baseball_play_is_refused() -> None:
    """A baseball play cannot claim to end in a football situation."""
    machine = started()
    after = FootballSituation(quarter=1, clock_seconds=900)
    with pytest.raises(ImpossibleTransition, match="a football situation"):
        machine.apply(play(2, sit(), after, [RunnerMove("a", 0, 1)]))


def test_start_without_situation_defaults_to_top_of_first() -> None:
    """A baseball start event without a situation begins at the top of the first."""
    state = apply(initial_state("mlb", GAME), msgspec.structs.replace(start_event(), after=None))
    assert state.situation == sit()


@settings(max_examples=100, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), plays=st.integers(3, 60), data=st.data())
def test_a_correction_chain_equals_the_corrected_history(seed, plays, data) -> None:
    """Correcting a play and then every later play gives the corrected history's state."""
    rng = random.Random(seed)
    events = random_game(rng, plays)
    index = data.draw(st.integers(1, len(events) - 2))
    corrected = list(events[:index])
    for position in range(index, len(events)):
        previous = corrected[-1]
        before = previous.after if position > 1 else BaseballSituation(inning=1, half="top", outs=0)
        assert isinstance(before, BaseballSituation)
        new = random_play(rng, before, previous.home_score, previous.away_score, position + 1)
        corrected.append(msgspec.structs.replace(new, event_id=events[position].event_id))
    direct = GameMachine("mlb", GAME)
    for event in corrected:
        direct.apply(event)

    machine = GameMachine("mlb", GAME)
    for event in events:
        machine.apply(event)
    outcomes = []
    for position in range(index, len(events)):
        fix = msgspec.structs.replace(
            corrected[position],
            seq=machine.state.seq + 1,
            event_id=f"fix{position}",
            corrects=events[position].event_id,
        )
        outcomes.append(machine.apply(fix))
    assert outcomes[-1] is Outcome.CORRECTED
    assert machine.pending == []
    assert msgspec.structs.replace(machine.state, seq=direct.state.seq) == direct.state
