"""The MLB model's machinery on small synthetic chains whose answers are known exactly."""

from __future__ import annotations

import json
import math
from math import comb

import numpy as np
import pytest

from pressbox.engine.events import BaseballSituation, GameInfo, GameState
from pressbox.engine.models import get_model, mlb
from pressbox.engine.models.base import WinProbabilityModel

END = mlb.END


def synthetic(rows: dict[str, list[list[int]]], **extra: object) -> dict[str, object]:
    """A parameter set with the given transition counts and no shrinkage."""
    params: dict[str, object] = {
        "format": mlb.FORMAT,
        "format_version": mlb.FORMAT_VERSION,
        "name": "test",
        "version": "synthetic",
        "seasons": [2000],
        "shrink": 0.0,
        "transitions": rows,
        "li_norm": 1.0,
        "elo": {"k": 4.0, "home_advantage": 24.0, "initial": 1500.0},
        "baselines": {
            "constant": {"home_win_rate": 0.5},
            "published_logistic": {"coefficients": [0.0, 0.5, 1.0, 0.0]},
        },
    }
    params.update(extra)
    return params


def one_pa(
    q_top: float, q_bottom: float, r_top: float = 0.0, r_bottom: float = 0.0
) -> mlb.MlbModel:
    """Each half-inning is one plate appearance: one run with probability q, else none.

    From second base (the extra-inning runner) the run comes with probability r.
    """

    def rows(q: float, r: float) -> list[list[int]]:
        n = 1_000_000
        return [
            [0, END, 0, round(n * (1 - q))],
            [0, END, 1, round(n * q)],
            [2, END, 0, round(n * (1 - r))],
            [2, END, 1, round(n * r)],
        ]

    return mlb.MlbModel(
        synthetic({"top/2-6/tied": rows(q_top, r_top), "bottom/2-6/tied": rows(q_bottom, r_bottom)})
    )


def extra_inning_value(qt: float, qb: float) -> float:
    """Home WP at the tied start of an extra inning of the one-PA game."""
    tie = qt * qb + (1 - qt) * (1 - qb)
    return (1 - qt) * qb / (1 - tie)


def binomial(n: int, q: float) -> list[float]:
    return [comb(n, k) * q**k * (1 - q) ** (n - k) for k in range(n + 1)]


def test_bases_codes_and_masks():
    """Bases codes read first, second, third; masks use bit 0 for first."""
    assert mlb.bases_mask("000") == 0
    assert mlb.bases_mask("101") == 0b101
    assert mlb.bases_mask("010") == 0b010
    situation = BaseballSituation(inning=1, half="top", outs=0, bases=(None, "a", "b"))
    assert mlb.situation_mask(situation) == 0b110


@pytest.mark.parametrize("code", ["", "12", "1010", "abc", "1 0", "101\n"])
def test_bad_bases_codes_are_refused(code):
    """A bases code must be three 0/1 flags."""
    with pytest.raises(ValueError, match="three 0/1"):
        mlb.bases_mask(code)


@pytest.mark.parametrize(
    ("inning", "innings", "group"),
    [
        (1, 9, 0),
        (2, 9, 1),
        (6, 9, 1),
        (7, 9, 2),
        (8, 9, 2),
        (9, 9, 3),
        (10, 9, 4),
        (15, 9, 4),
        (5, 7, 2),
        (7, 7, 3),
        (8, 7, 4),
        (1, 1, 3),
    ],
)
def test_inning_groups(inning, innings, group):
    """Innings map onto groups by their distance from the last scheduled inning."""
    assert mlb.inning_group(inning, innings) == group


@pytest.mark.parametrize(
    ("diff", "context"), [(0, 0), (-1, 1), (-3, 1), (1, 2), (3, 2), (4, 3), (-4, 3), (-9, 3)]
)
def test_score_contexts(diff, context):
    """Score contexts: tied, behind by 1-3, ahead by 1-3, a margin of 4 or more."""
    assert mlb.score_context(diff) == context


def test_progress_counts_outs_of_the_scheduled_game():
    """Progress is outs made over 6 per scheduled inning, capped at 1."""
    assert mlb.progress(1, False, 0) == 0.0
    assert mlb.progress(5, True, 0) == pytest.approx(27 / 54)
    assert mlb.progress(12, True, 2) == 1.0
    assert mlb.progress(7, False, 0, innings=7) == pytest.approx(36 / 42)


def test_run_distribution_of_a_home_run_or_out_chain():
    """Home run with probability p, else an out: runs follow a negative binomial."""
    p = 0.2
    rows = []
    for outs in range(3):
        state = outs * 8
        rows.append((state, state, 1, p))
        rows.append((state, END if outs == 2 else state + 8, 0, 1 - p))
    dist = mlb.run_distribution(rows)
    for r in range(10):
        assert dist[0, r] == pytest.approx(comb(r + 2, 2) * p**r * (1 - p) ** 3, abs=1e-12)
    assert dist.sum(axis=1) == pytest.approx(np.ones(24))


def test_one_pa_game_win_probability_is_exact():
    """The recursion gives the closed form of a game of one-PA half-innings."""
    qt, qb = 0.3, 0.4
    model = one_pa(qt, qb)
    table = model.table()
    x = extra_inning_value(qt, qb)
    away, home = binomial(9, qt), binomial(9, qb)
    win = sum(a * h for i, a in enumerate(away) for j, h in enumerate(home) if j > i)
    tie = sum(a * home[i] for i, a in enumerate(away))
    assert table.start == pytest.approx(win + tie * x, abs=1e-9)
    assert table.home_wp(9, True, 0, 0, 0) == pytest.approx(qb + (1 - qb) * x, abs=1e-9)
    assert table.home_wp(9, True, 0, 0, -1) == pytest.approx(qb * x, abs=1e-9)
    assert table.home_wp(9, True, 0, 0, -2) == 0.0
    assert table.home_wp(10, False, 0, 0, 0) == pytest.approx(x, abs=1e-9)
    assert table.home_wp(12, True, 0, 0, 0) == pytest.approx(qb + (1 - qb) * x, abs=1e-9)
    assert table.home_wp(9, False, 0, 0, 1) == pytest.approx(1 - qt + qt * (qb + (1 - qb) * x))


def test_extra_inning_runner_changes_extra_innings_only():
    """With the 2020 rule, extra halves start with a runner on second."""
    qt, qb, rt, rb = 0.3, 0.4, 0.6, 0.7
    model = one_pa(qt, qb, rt, rb)
    plain = model.table(9, extra_runner=False)
    runner = model.table(9, extra_runner=True)
    x = extra_inning_value(rt, rb)
    assert runner.home_wp(10, False, 0, 0b010, 0) == pytest.approx(x, abs=1e-9)
    assert runner.home_wp(9, True, 0, 0, 0) == pytest.approx(qb + (1 - qb) * x, abs=1e-9)
    assert plain.home_wp(9, True, 0, 0, 0) == pytest.approx(
        qb + (1 - qb) * extra_inning_value(qt, qb), abs=1e-9
    )


def test_shorter_games_end_sooner():
    """A 7-inning game ends after the 7th: the bottom of the 7th is a last chance."""
    qt, qb = 0.3, 0.4
    table = one_pa(qt, qb).table(innings=7)
    assert table.innings == 7
    assert table.home_wp(7, True, 0, 0, -1) == pytest.approx(qb * extra_inning_value(qt, qb))
    assert table.home_wp(7, True, 1, 0, 1) == 1.0


def test_leverage_is_the_expected_swing_over_its_norm():
    """Raw leverage is the expected |ΔWP| of the coming plate appearance."""
    qt, qb = 0.3, 0.4
    model = mlb.MlbModel(synthetic(one_pa(qt, qb).params["transitions"], li_norm=0.5))
    table = model.table()
    here = table.home_wp(9, True, 0, 0, 0)
    x = extra_inning_value(qt, qb)
    raw = qb * abs(1 - here) + (1 - qb) * abs(x - here)
    assert table.leverage(9, True, 0, 0, 0) == pytest.approx(raw / 0.5, abs=1e-9)
    assert table.leverage(9, True, 0, 0, 1) == 0.0


def test_states_never_seen_fall_back_to_outs():
    """A base-out state without data: the batter is out and nobody moves."""
    model = one_pa(0.3, 0.4)
    top = {(s, e, r) for s, e, r, _ in model.transitions[(0, 1, 0)]}
    assert (5, 13, 0) in top
    assert (21, END, 0) in top
    assert all(0 <= model.home_wp(3, False, o, m, 0) <= 1 for o in range(3) for m in range(8))


def test_shrinkage_pulls_a_cell_toward_its_group():
    """A cell with few plate appearances keeps its counts' weight against the shrink."""
    rows = {
        "top/2-6/tied": [[0, END, 0, 100]],
        "top/2-6/behind": [[0, END, 1, 100]],
    }
    probs = mlb.transition_probabilities(rows, shrink=100.0)
    tied = {(e, r): p for s, e, r, p in probs[(0, 1, 0)] if s == 0}
    assert tied[(END, 0)] == pytest.approx((100 + 100 * 0.5) / 200)
    assert tied[(END, 1)] == pytest.approx(100 * 0.5 / 200)
    neutral = mlb.transition_probabilities(rows, shrink=100.0, neutral=True)
    assert {(e, r): p for s, e, r, p in neutral[(1, 1, 0)] if s == 0} == {
        (END, 0): 0.5,
        (END, 1): 0.5,
    }


def test_team_strength_starts_the_game_at_the_prior():
    """A prior is matched exactly at the first pitch and fades as the game goes."""
    model = one_pa(0.3, 0.3)
    for prior in (0.35, 0.5, 0.62):
        table = model.table(prior=prior)
        assert table.start == pytest.approx(prior, abs=1e-9)
    strong = model.table(prior=0.62)
    base = model.table()
    assert strong.home_wp(9, True, 1, 0, 0) - base.home_wp(9, True, 1, 0, 0) < (0.62 - base.start)
    assert model.strength(0.62) > 0 > model.strength(0.4)
    assert model.strength(0.999) == pytest.approx(mlb.THETA_LEVELS * mlb.THETA_STEP)
    assert model.strength(0.001) == pytest.approx(-mlb.THETA_LEVELS * mlb.THETA_STEP)


def test_vectorized_lookup_matches_scalar():
    """``lookup`` gives the scalar answers, with and without a prior."""
    model = one_pa(0.3, 0.4)
    rows = np.array([[1, 0, 0, 0, 0], [9, 1, 2, 5, -1], [14, 0, 1, 2, 40], [3, 1, 0, 7, -45]])
    for prior in (None, 0.58):
        table = model.table(prior=prior)
        expected = [table.home_wp(i, bool(b), o, m, d) for i, b, o, m, d in rows.tolist()]
        assert model.lookup(rows, prior=prior).tolist() == expected
    table = model.table()
    assert table.lookup_leverage(rows).tolist() == [
        table.leverage(i, bool(b), o, m, d) for i, b, o, m, d in rows.tolist()
    ]


@pytest.mark.parametrize(
    ("inning", "outs", "mask"), [(0, 0, 0), (1, 3, 0), (1, -1, 0), (1, 0, 8), (1, 0, -1)]
)
def test_impossible_states_are_refused(inning, outs, mask):
    """Outs outside 0-2, innings below 1 and bad masks raise ValueError."""
    with pytest.raises(ValueError, match="no such state"):
        one_pa(0.3, 0.4).home_wp(inning, False, outs, mask, 0)


def test_a_game_needs_an_inning():
    """A table for a game of no innings is refused."""
    with pytest.raises(ValueError, match="at least one inning"):
        one_pa(0.3, 0.4).table(innings=0)


def test_game_state_answers():
    """Final states are exact, scheduled ones start at the first pitch."""
    model = one_pa(0.3, 0.4)
    info = GameInfo(home="H", away="A", date="2000-01-01")
    won = GameState(sport="mlb", game_id="g", status="final", home_score=3, away_score=2)
    lost = GameState(sport="mlb", game_id="g", status="final", home_score=1, away_score=2)
    tied = GameState(sport="mlb", game_id="g", status="final", home_score=1, away_score=1)
    assert model.win_probability(won).home == 1.0
    assert model.win_probability(won).away == 0.0
    assert model.win_probability(lost).home == 0.0
    assert model.win_probability(tied).tie == 1.0
    assert model.leverage(won) == 0.0
    scheduled = GameState(sport="mlb", game_id="g", info=info)
    assert model.win_probability(scheduled).home == model.table().start
    assert model.leverage(scheduled) == model.table().leverage(1, False, 0, 0, 0)
    live = GameState(
        sport="mlb",
        game_id="g",
        status="live",
        info=info,
        home_score=2,
        away_score=3,
        situation=BaseballSituation(inning=9, half="bottom", outs=0),
    )
    answer = model.win_probability(live)
    assert answer.home == model.home_wp(9, True, 0, 0, -1)
    assert answer.home + answer.away == 1.0
    assert answer.model == "test/synthetic"
    assert model.leverage(live) == model.table().leverage(9, True, 0, 0, -1)
    assert model.win_probability(live, prior=0.6).home != answer.home
    no_info = GameState(
        sport="mlb", game_id="g", situation=BaseballSituation(inning=1, half="top", outs=0)
    )
    assert model.win_probability(no_info).home == model.table().start


def test_model_identity():
    """Name, version and label come from the parameters; the model fits the Protocol."""
    model = one_pa(0.3, 0.4)
    assert model.name == "test"
    assert model.version == "synthetic"
    assert model.without_home_advantage().neutral
    dist = model.run_distribution(bottom=True)
    assert dist.shape == (24, mlb.MAX_RUNS + 1)
    assert isinstance(model, WinProbabilityModel)


@pytest.mark.parametrize(
    ("odds", "p"), [(-150, 0.6), (150, 0.4), (-100, 0.5), (100, 0.5), (2.5, 0.4), (1.25, 0.8)]
)
def test_implied_probabilities(odds, p):
    """American moneylines and decimal odds give their implied probability."""
    assert mlb.implied_probability(odds) == pytest.approx(p)


@pytest.mark.parametrize("odds", [0, 1.0, -50, 0.5, -99])
def test_bad_odds_are_refused(odds):
    """Values that are neither a moneyline nor decimal odds raise ValueError."""
    with pytest.raises(ValueError, match="moneyline"):
        mlb.implied_probability(odds)


def test_prior_from_odds_removes_the_margin():
    """Both implied probabilities are scaled to sum to 1."""
    home = 150 / 250
    away = 100 / 230
    assert mlb.prior_from_odds(-150, 130) == pytest.approx(home / (home + away))
    assert mlb.prior_from_odds(1.91, 1.91) == pytest.approx(0.5)


def test_elo_ratings_move_with_results():
    """The winner gains what the loser drops; home advantage favours the home team."""
    elo = mlb.EloRatings(k=10.0, home_advantage=mlb.elo_home_advantage(0.54))
    assert elo.probability("A", "B") == pytest.approx(0.54)
    elo.update("A", "B", 0.0)
    assert elo.ratings["B"] > 1500 > elo.ratings["A"]
    assert elo.ratings["A"] + elo.ratings["B"] == pytest.approx(3000)
    assert elo.probability("B", "A") > 0.54


def test_loading_checks_the_format(tmp_path):
    """Parameters load from bytes or a path; other documents are refused."""
    params = one_pa(0.3, 0.4).params
    data = mlb.dumps(params)
    assert mlb.loads(data).version == "synthetic"
    path = tmp_path / "m.json"
    path.write_bytes(data)
    assert mlb.load(path).version == "synthetic"
    assert mlb.load(data).name == "test"
    assert mlb.load(str(path)).name == "test"
    with pytest.raises(ValueError, match="not JSON"):
        mlb.loads(b"{")
    with pytest.raises(TypeError, match="JSON object"):
        mlb.loads(b"[1]")
    with pytest.raises(ValueError, match="format"):
        mlb.loads(json.dumps({"format": "other"}))


def test_dumps_writes_one_transition_row_per_line():
    """The parameter file keeps each transition row on one line."""
    text = mlb.dumps(one_pa(0.3, 0.4).params).decode()
    assert "[0,24,0,700000]" in text
    assert text.endswith("}\n")


def test_registry_loads_the_shipped_model():
    """``get_model("mlb")`` lazily imports the module and loads the shipped parameters."""
    model = get_model("mlb")
    assert isinstance(model, mlb.MlbModel)
    assert model.name == "mlb-markov"
    assert model.version == "2015-2016"
    assert get_model("mlb", mlb.default_parameters()).version == "2015-2016"
    with pytest.raises(ValueError, match="unknown sport"):
        get_model("cricket")  # type: ignore[arg-type]


def test_empirical_table_lookup_and_backoff():
    """Stoll's lines count the batting team's wins; unseen states use coarser cells."""
    text = "\n".join(
        [
            "(9, 1, 0, (0, 0, 0), 0): (66, 100)",
            "(9, 1, 0, (1, 0, 0), 0): (7, 10)",
            "",
            "(9, 0, 0, (0, 0, 0), -1): (10, 100)",
            "",
        ]
    )
    table = mlb.EmpiricalTable([text, "(9, 1, 0, (0, 0, 0), 0): (0, 0)"])
    assert len(table) == 3
    assert table.home_wp(9, True, 0, 0, 0) == pytest.approx(0.66)
    assert table.count(9, True, 0, 0, 0) == 100
    assert table.home_wp(9, False, 0, 0, 1) == pytest.approx(0.9)
    assert table.home_wp(9, True, 0, 0b100, 0) == pytest.approx(73 / 110)
    assert table.home_wp(9, True, 2, 0, 0) == pytest.approx(73 / 110)
    assert table.home_wp(15, True, 2, 0, 0) == pytest.approx(73 / 110)
    assert table.home_wp(3, True, 0, 0, 5) == 1.0
    assert table.home_wp(3, True, 0, 0, -5) == 0.0
    assert table.home_wp(3, True, 0, 0, 0) == 0.5
    with pytest.raises(ValueError, match="line 1"):
        mlb.EmpiricalTable(["(9, 1, 0): (1, 2)"])


def test_published_logistic_features():
    """The baseline's features are diff, diff × progress and progress, plus an intercept."""
    rows = np.array([[1, 0, 0, 0, 0], [9, 1, 2, 0, -2]])
    x = mlb.logistic_features(rows, np.array([9, 9]))
    assert x[0].tolist() == [1.0, 0.0, 0.0, 0.0]
    prog = 53 / 54
    assert x[1].tolist() == pytest.approx([1.0, -2.0, -2.0 * prog, prog])
    wp = mlb.published_logistic(one_pa(0.3, 0.4).params, rows, np.array([9, 9]))
    assert wp[0] == pytest.approx(0.5)
    assert wp[1] == pytest.approx(1 / (1 + math.exp(-(-1.0 - 2.0 * prog))))


def test_prior_tables_are_cached_and_bounded():
    """The table for a prior is reused; the least recently used one goes first."""
    model = one_pa(0.3, 0.4)
    first = model.table(prior=0.55)
    assert model.table(prior=0.55) is first
    assert first.li_array is model.table().li_array
    oldest = model.table(prior=0.3)
    for i in range(1, mlb.PRIOR_TABLES - 1):
        model.table(prior=0.3 + i * 0.01)
    assert model.table(prior=0.55) is first  # the cache is full; 0.55 is now the newest
    model.table(prior=0.7)
    assert model.table(prior=0.55) is first
    rebuilt = model.table(prior=0.3)
    assert rebuilt is not oldest
    assert rebuilt.array.tolist() == oldest.array.tolist()
