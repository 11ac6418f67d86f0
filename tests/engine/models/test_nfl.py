"""Properties of the shipped NFL win-probability model (pressbox.engine.models.nfl)."""

from __future__ import annotations

import math
from typing import Literal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pressbox.engine.events import FootballSituation, GameInfo, GameState, WinProbability
from pressbox.engine.models import nfl
from pressbox.engine.models.base import WinProbabilityModel

MODEL = nfl.load()

quarters = st.integers(min_value=1, max_value=5)
clocks = st.integers(min_value=0, max_value=900)
sides = st.sampled_from(["home", "away"])
downs = st.one_of(st.none(), st.integers(min_value=1, max_value=4))
distances = st.integers(min_value=1, max_value=30)
yards = st.integers(min_value=1, max_value=99)
scores = st.integers(min_value=0, max_value=60)
timeouts = st.one_of(st.none(), st.integers(min_value=0, max_value=3))
elos = st.floats(min_value=-400.0, max_value=400.0, allow_nan=False)


def _wp(
    q: int,
    c: int,
    side: Literal["home", "away"],
    down: int | None,
    dist: int,
    yl: int,
    h: int,
    a: int,
    hto: int | None = None,
    ato: int | None = None,
    elo: float = 0.0,
    neutral: bool = False,
    post: bool = False,
) -> float:
    return MODEL.home_wp(
        q,
        c,
        side,
        down,
        dist if down is not None else None,
        yl,
        h,
        a,
        home_timeouts=hto,
        away_timeouts=ato,
        elo_diff=elo,
        neutral=neutral,
        postseason=post,
    )


def test_model_fills_the_protocol() -> None:
    """The loaded model is a WinProbabilityModel with a name and version."""
    assert isinstance(MODEL, WinProbabilityModel)
    assert MODEL.name == "nfl-gbm-grid"
    assert MODEL.version == "2014-2015"


@settings(max_examples=400, deadline=None)
@given(quarters, clocks, sides, downs, distances, yards, scores, scores, timeouts, timeouts, elos)
def test_probabilities_are_in_the_unit_interval(q, c, side, down, dist, yl, h, a, hto, ato, elo):
    """Every answer is a probability."""
    p = _wp(q, c, side, down, dist, yl, h, a, hto, ato, elo)
    assert 0.0 <= p <= 1.0
    assert not math.isnan(p)


@settings(max_examples=400, deadline=None)
@given(quarters, clocks, sides, downs, distances, yards, scores, scores, timeouts, timeouts, elos)
def test_more_points_never_lower_the_home_wp(q, c, side, down, dist, yl, h, a, hto, ato, elo):
    """One more home point, everything else fixed, never lowers the home WP."""
    lower = _wp(q, c, side, down, dist, yl, h, a, hto, ato, elo)
    higher = _wp(q, c, side, down, dist, yl, h + 1, a, hto, ato, elo)
    assert higher >= lower - 1e-12
    fewer_away = _wp(q, c, side, down, dist, yl, h, a + 1, hto, ato, elo)
    assert fewer_away <= lower + 1e-12


@settings(max_examples=400, deadline=None)
@given(quarters, clocks, sides, downs, distances, yards, scores, scores, timeouts, timeouts, elos)
def test_swapping_the_teams_mirrors_on_a_neutral_field(
    q, c, side, down, dist, yl, h, a, hto, ato, elo
):
    """With no home advantage, swapping home and away gives 1 − WP."""
    p = _wp(q, c, side, down, dist, yl, h, a, hto, ato, elo, neutral=True)
    other: Literal["home", "away"] = "away" if side == "home" else "home"
    mirrored = _wp(q, c, other, down, dist, yl, a, h, ato, hto, -elo, neutral=True)
    assert p + mirrored == pytest.approx(1.0, abs=1e-12)


@given(scores, scores, st.sampled_from(["home", "away"]))
def test_a_final_state_is_certain(h, a, side):
    """A final state gives exactly 1 or 0, or a sure tie; the three sum to 1."""
    state = GameState(
        sport="nfl",
        game_id="g",
        status="final",
        home_score=h,
        away_score=a,
        situation=FootballSituation(quarter=4, clock_seconds=0, possession=side),
    )
    wp = MODEL.win_probability(state)
    assert wp.home + wp.away + wp.tie == 1.0
    if h > a:
        assert (wp.home, wp.away, wp.tie) == (1.0, 0.0, 0.0)
    elif h < a:
        assert (wp.home, wp.away, wp.tie) == (0.0, 1.0, 0.0)
    else:
        assert wp.tie == 1.0
    assert MODEL.leverage(state) == 0.0


@given(scores, scores, sides)
def test_end_of_regulation_decides_unless_tied(h, a, side):
    """With 0:00 in the fourth quarter a lead is final; a tie goes to overtime."""
    p = _wp(4, 0, side, 1, 10, 50, h, a)
    if h > a:
        assert p == 1.0
    elif h < a:
        assert p == 0.0
    else:
        assert 0.0 < p < 1.0
    # A regular-season overtime that ends tied is a tie; a playoff one goes on.
    if h == a:
        assert _wp(5, 0, side, 1, 10, 50, h, a) == 0.5
        assert 0.0 < _wp(5, 0, side, 1, 10, 50, h, a, post=True) < 1.0


def test_win_probability_of_a_live_state_sums_to_one() -> None:
    """A live state's home and away probabilities sum to 1 and carry the model tag."""
    state = GameState(
        sport="nfl",
        game_id="g",
        status="live",
        info=GameInfo(home="NE", away="PIT", date="2015-09-10", innings=4),
        home_score=7,
        away_score=3,
        situation=FootballSituation(
            quarter=2, clock_seconds=300, possession="away", down=2, distance=6, yard_line=40
        ),
    )
    wp = MODEL.win_probability(state)
    assert isinstance(wp, WinProbability)
    assert wp.home + wp.away == pytest.approx(1.0)
    assert wp.tie == 0.0
    assert wp.model == "nfl-gbm-grid/2014-2015"
    assert 0.5 < wp.home < 1.0
    assert MODEL.elo_diff(state) != 0.0
    assert MODEL.leverage(state) > 0.0


def test_a_scheduled_game_is_valued_at_kickoff() -> None:
    """Before the first play the home team is favored by its home advantage alone."""
    state = GameState(sport="nfl", game_id="g", status="scheduled")
    wp = MODEL.win_probability(state)
    assert 0.5 < wp.home < 0.65


def test_familiar_situations() -> None:
    """Obvious situations get obvious answers."""
    # Up 3 with the ball, 1st and 10 at midfield, 0:30 left: nearly won.
    assert _wp(4, 30, "home", 1, 10, 50, 20, 17) > 0.95
    # Down 3 with the ball at the opponent's 5, 0:10 left: far from lost.
    assert 0.2 < _wp(4, 10, "home", 1, 5, 95, 17, 20) < 0.9
    # Down 21 at halftime: close to lost.
    assert _wp(3, 900, "away", 1, 10, 25, 3, 24) < 0.1
    # The field position matters: the same score and time, first and goal is worth more.
    assert _wp(2, 600, "home", 1, 10, 95, 7, 7) > _wp(2, 600, "home", 1, 10, 10, 7, 7)
    # A stronger home team is more likely to win from the same state.
    assert _wp(1, 900, "home", 1, 10, 25, 0, 0, elo=150.0) > _wp(1, 900, "home", 1, 10, 25, 0, 0)


def test_leverage_is_higher_late_in_a_close_game() -> None:
    """A tied game with two minutes left matters more than a blowout in the first quarter."""
    close = FootballSituation(
        quarter=4, clock_seconds=120, possession="home", down=3, distance=4, yard_line=60
    )
    blowout = FootballSituation(
        quarter=1, clock_seconds=600, possession="home", down=1, distance=10, yard_line=30
    )
    assert MODEL.situation_leverage(close, 20, 20) > 2.0
    assert MODEL.situation_leverage(blowout, 21, 0) < 0.5
    kickoff = FootballSituation(quarter=1, clock_seconds=900, possession="home", yard_line=35)
    assert MODEL.situation_leverage(kickoff, 0, 0) > 0.0


@settings(max_examples=200, deadline=None)
@given(
    st.integers(min_value=0, max_value=3600),
    st.integers(min_value=-21, max_value=21),
    distances,
    yards,
    st.booleans(),
)
def test_fourth_down_options_are_consistent(t, sd, dist, yl, home):
    """Each option is a probability and the call is the best option by the margin."""
    d = MODEL.fourth_down(float(t), sd, dist, yl, home=home)
    options = {"go": d.go, "field_goal": d.field_goal, "punt": d.punt}
    offered = {k: v for k, v in options.items() if v is not None}
    assert all(0.0 <= v <= 1.0 for v in offered.values())
    assert 0.0 <= d.convert <= 1.0
    best = max(offered, key=lambda k: offered[k])
    assert offered[d.recommendation] == offered[best]
    others = [v for k, v in offered.items() if k != d.recommendation]
    assert d.margin == pytest.approx(offered[d.recommendation] - max(others) if others else 0.0)
    assert (d.field_goal is None) == (117 - yl > 65)
    assert (d.punt is None) == (yl > 65)
    assert set(d.to_dict()) >= {"go", "field_goal", "punt", "recommendation", "margin"}


def test_fourth_down_calls_that_everyone_agrees_on() -> None:
    """Down 4 at the 1 with seconds left, go; 4th and 20 at your own 20 early, punt."""
    assert MODEL.fourth_down(5.0, -4, 1, 99, home=True).recommendation == "go"
    assert MODEL.fourth_down(3000.0, 0, 20, 20, home=True).recommendation == "punt"
    # Tied, last seconds, a chip-shot field goal wins it.
    assert MODEL.fourth_down(4.0, 0, 8, 85, home=True).recommendation == "field_goal"


def test_fitted_special_teams_are_plausible() -> None:
    """Conversion, field-goal and punt fits behave like football."""
    assert MODEL.convert_probability(1, 50) > MODEL.convert_probability(10, 50)
    assert 0.5 < MODEL.convert_probability(1, 50) < 0.85
    assert MODEL.make_probability(80) > 0.85  # a 37-yard kick
    assert MODEL.make_probability(55) < 0.6  # a 62-yard kick
    assert 15 <= MODEL.punt_yard_line(30) <= 30
    assert 0.9 < MODEL.xp_make <= 1.0
    assert 18 <= MODEL.kickoff_yard_line <= 28


def test_expected_points_rise_toward_the_goal() -> None:
    """First and ten is worth more at the opponent's 20 than at your own 20."""
    assert MODEL.expected_points(1, 10, 80) > 3.0
    assert MODEL.expected_points(1, 10, 20) < 1.0
    assert MODEL.expected_points(4, 10, 5) < MODEL.expected_points(1, 10, 5)


def test_seconds_left_counts_regulation_and_overtime() -> None:
    """Regulation counts down from 3600; overtime reads on its own clock."""
    assert nfl.seconds_left(1, 900) == 3600
    assert nfl.seconds_left(3, 900) == 1800
    assert nfl.seconds_left(4, 0) == 0
    assert nfl.seconds_left(5, 600) == 600


def test_load_rejects_other_bytes() -> None:
    """Bytes that are not a model file raise ValueError."""
    with pytest.raises(ValueError, match="NFL model"):
        nfl.load(b"not a model")


def test_model_round_trips_through_bytes() -> None:
    """Writing and reading the parameters gives the same answers."""
    again = nfl.load(MODEL.params.to_bytes())
    assert again.home_wp(3, 421, "away", 3, 7, 44, 10, 13) == MODEL.home_wp(
        3, 421, "away", 3, 7, 44, 10, 13
    )
