"""Pregame priors: odds without margin, the in-season rating book, and their consumers."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pressbox.engine.events import GameInfo, GameState
from pressbox.engine.models import mlb, nfl
from pressbox.engine.models.priors import (
    CONFIGS,
    Final,
    Priors,
    RatingBook,
    elo_points,
    odds_probabilities,
    prior_from_odds,
    score_pregame,
    season_of,
)

american = st.one_of(st.floats(-2000.0, -100.0), st.floats(100.0, 2000.0))
decimal = st.floats(1.01, 50.0)
prices = st.one_of(american, decimal)
teams = st.sampled_from(["NYA", "BOS", "TOR", "BAL", "TBA", "NE", "PIT"])
scores = st.integers(0, 45)
sports = st.sampled_from(["mlb", "nfl", "ncaaf"])


@given(prices, prices)
def test_odds_give_probabilities_inside_0_1_that_sum_to_1(home: float, away: float) -> None:
    """Margin removed: both probabilities are in (0, 1) and add up to exactly 1."""
    p_home, p_away = odds_probabilities(home, away)
    assert 0.0 < p_home < 1.0
    assert 0.0 < p_away < 1.0
    assert p_home + p_away == pytest.approx(1.0, abs=1e-12)


@given(prices, prices)
def test_swapping_the_prices_mirrors_the_prior(home: float, away: float) -> None:
    """The visitors' prior from swapped prices is one minus the home prior."""
    assert prior_from_odds(away, home) == pytest.approx(1.0 - prior_from_odds(home, away))


def test_margin_is_removed_from_a_real_line() -> None:
    """-150 / +130: raw 0.600 + 0.435 = 1.035; without margin 0.580 / 0.420."""
    p_home, p_away = odds_probabilities(-150, 130)
    assert p_home == pytest.approx(0.6 / (0.6 + 100 / 230))
    assert p_away == pytest.approx(1.0 - p_home)
    # American and decimal prices of the same line agree.
    assert prior_from_odds(-150, 130) == pytest.approx(prior_from_odds(1 + 100 / 150, 2.3))


@pytest.mark.parametrize("bad", [0.0, 1.0, -99.0, 0.5, -5.0])
def test_a_price_that_is_neither_american_nor_decimal_is_refused(bad: float) -> None:
    """A price between -100 and 100 that is not decimal odds raises with the value."""
    with pytest.raises(ValueError, match="not an American moneyline or decimal odds"):
        Priors().prior_for("mlb", "NYA", "BOS", odds=(bad, 2.0))


@given(sports, teams, teams, st.lists(st.tuples(teams, teams, scores, scores), max_size=30))
@settings(max_examples=60, deadline=None)
def test_book_probabilities_are_inside_0_1_and_updates_are_zero_sum(
    sport, home, away, games
) -> None:
    """Every prior is in (0, 1); every final moves the two ratings by opposite amounts."""
    book = RatingBook.for_sport(sport)
    for h, a, hs, as_ in games:
        if h == a:
            continue
        total = sum(book.ratings.values()) + (book.config.initial * len({h, a} - set(book.ratings)))
        before_h, before_a = book.rating(h), book.rating(a)
        shift = book.record_final(h, a, hs, as_)
        assert book.rating(h) - before_h == pytest.approx(shift)
        assert book.rating(a) - before_a == pytest.approx(-shift)
        assert sum(book.ratings.values()) == pytest.approx(total)
        if hs > as_:
            assert shift >= 0.0
        elif hs < as_:
            assert shift <= 0.0
    if home != away:
        p = book.probability(home, away)
        assert 0.0 < p < 1.0


@given(sports, teams, teams, st.lists(st.tuples(teams, teams, scores, scores), max_size=20))
@settings(max_examples=60, deadline=None)
def test_on_a_neutral_field_the_prior_is_symmetric(sport, home, away, games) -> None:
    """Without the home advantage, swapping the teams gives one minus the prior."""
    priors = Priors()
    for h, a, hs, as_ in games:
        if h != a:
            priors.record_final(sport, h, a, hs, as_)
    p = priors.prior_for(sport, home, away, neutral=True).home
    q = priors.prior_for(sport, away, home, neutral=True).home
    assert p + q == pytest.approx(1.0)
    if home == away:
        assert p == pytest.approx(0.5)


def test_equal_teams_start_at_the_long_run_home_rate() -> None:
    """An empty book gives equal teams the sport's long-run home-win rate."""
    for sport, config in CONFIGS.items():
        prior = Priors().prior_for(sport, "A", "B")
        assert prior.source == "ratings"
        assert prior.home == pytest.approx(config.home_rate)
        assert prior.elo_diff == 0.0


def test_the_home_rate_learns_from_finals_with_shrinkage() -> None:
    """After a season of away wins the home rate falls, but only as far as its weight."""
    book = RatingBook.for_sport("nfl")
    n = int(book.config.home_games)
    for i in range(n):
        book.record_final(f"H{i % 16}", f"A{i % 16}", 10, 20, season=2014)
    # Equal weight of prior and data: halfway between 0.57 and 0.
    assert book.home_win_rate() == pytest.approx(0.57 / 2)
    # A new season keeps half of the counts' weight.
    book.start_season(2015)
    assert book.home_win_rate() == pytest.approx((0.57 * n) / (n + n / 2))


def test_a_new_season_regresses_ratings_by_the_carry() -> None:
    """NFL ratings keep two thirds of their distance from the mean; MLB restarts."""
    for sport, kept in (("nfl", 2.0 / 3.0), ("mlb", 0.0)):
        book = RatingBook.for_sport(sport)
        book.record_final("A", "B", 30, 0, season=2014)
        a = book.rating("A")
        book.record_final("A", "C", 10, 10, season=2015)
        # The 2015 game saw A regressed before it was recorded.
        regressed = 1500.0 + kept * (a - 1500.0)
        book2 = RatingBook.for_sport(sport)
        book2.record_final("A", "B", 30, 0, season=2014)
        book2.start_season(2015)
        assert book2.rating("A") == pytest.approx(regressed)


def test_odds_win_over_the_book_and_a_bare_probability_is_accepted() -> None:
    """With odds the prior is the market's; a de-margined probability passes through."""
    priors = Priors()
    priors.record_final("mlb", "NYA", "BOS", 9, 1)
    from_book = priors.prior_for("mlb", "NYA", "BOS")
    from_odds = priors.prior_for("mlb", "NYA", "BOS", odds=(-150, 130))
    assert from_odds.source == "odds"
    assert from_odds.home == pytest.approx(prior_from_odds(-150, 130))
    assert from_odds.elo_diff == from_book.elo_diff
    assert priors.prior_for("mlb", "NYA", "BOS", odds=0.61).home == 0.61
    with pytest.raises(ValueError, match="inside"):
        priors.prior_for("mlb", "NYA", "BOS", odds=1.0)


def test_bad_finals_are_refused_and_lose_nothing() -> None:
    """Negative scores or a team playing itself raise; the book is unchanged."""
    priors = Priors()
    priors.record_final("nfl", "NE", "PIT", 28, 21, season=2015)
    before = dict(priors.book("nfl").ratings), priors.book("nfl").home_count
    with pytest.raises(ValueError, match="negative"):
        priors.record_final("nfl", "NE", "PIT", -1, 3)
    with pytest.raises(ValueError, match="itself"):
        priors.record_final("nfl", "NE", "NE", 3, 0)
    assert (dict(priors.book("nfl").ratings), priors.book("nfl").home_count) == before
    with pytest.raises(ValueError, match="sport"):
        Priors().prior_for("nba", "A", "B")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown rating book settings"):
        RatingBook.for_sport("nfl", kk=3.0)


def test_seed_records_finals_in_season_and_date_order() -> None:
    """Seeding from an archive in any order equals recording in date order."""
    finals = [
        Final("A", "B", 21, 3, season=2015, order="2015-09-20"),
        Final("B", "C", 10, 13, season=2014, order="2014-12-01"),
        Final("C", "A", 7, 24, season=2015, order="2015-09-13"),
    ]
    seeded = Priors()
    assert seeded.seed("nfl", finals) == 3
    by_hand = RatingBook.for_sport("nfl")
    for f in sorted(finals, key=lambda f: (f.season, f.order)):
        by_hand.record_final(f.home, f.away, f.home_score, f.away_score, season=f.season)
    assert seeded.book("nfl").ratings == by_hand.ratings


def test_score_pregame_predicts_each_game_before_recording_it() -> None:
    """A book that has seen nothing scores the first game like the long-run rate."""
    finals = [Final("A", "B", 3, 0, season=2015, order="1")]
    score = score_pregame(finals, RatingBook.for_sport("mlb"), constant=0.5)
    assert score.n_games == 1
    assert score.book_brier == pytest.approx((1.0 - 0.54) ** 2)
    assert score.book_log_loss == pytest.approx(-math.log(0.54))
    assert score.constant_brier == pytest.approx(0.25)
    with pytest.raises(ValueError, match="no game"):
        score_pregame([], RatingBook.for_sport("mlb"), constant=0.5)


def test_the_nfl_model_starts_a_game_at_the_prior_it_is_given() -> None:
    """``NflModel.win_probability(state, prior=p)`` moves the kickoff WP toward ``p``."""
    model = nfl.load()
    info = GameInfo(home="NE", away="PIT", date="2015-09-10", innings=4)
    state = GameState(game_id="g", sport="nfl", info=info)
    low = model.win_probability(state, prior=0.3).home
    even = model.win_probability(state, prior=0.5).home
    high = model.win_probability(state, prior=0.8).home
    assert low < even < high
    assert even == pytest.approx(0.5, abs=0.03)
    # A book's Elo difference and home edge give the same answer as its probability.
    book = RatingBook.for_sport("nfl")
    book.record_final("NE", "PIT", 35, 3)
    prior = Priors({"nfl": book}).prior_for("nfl", "NE", "PIT")
    via_elo = model.home_wp(
        1, 900, "home", None, None, 35, 0, 0,
        elo_diff=prior.elo_diff, home_edge=prior.home_advantage,
    )  # fmt: skip
    assert model.win_probability(state, prior=prior.home).home == pytest.approx(via_elo)
    assert model.elo_diff(state, book) == prior.elo_diff > 0.0
    assert model.elo_diff(state) == model.ratings["NE"] - model.ratings["PIT"]


def test_the_mlb_model_takes_the_books_prior() -> None:
    """The MLB model's first pitch is the book's prior (its tables are built for ``p``)."""
    model = mlb.load()
    book = RatingBook.for_sport("mlb")
    for _ in range(10):
        book.record_final("NYA", "BOS", 8, 2, season=2016)
    p = Priors({"mlb": book}).prior_for("mlb", "NYA", "BOS").home
    assert p > 0.54
    info = GameInfo(home="NYA", away="BOS", date="2016-05-01")
    state = GameState(game_id="g", sport="mlb", info=info)
    assert model.win_probability(state, prior=p).home == pytest.approx(p, abs=1e-6)


def test_elo_points_inverts_the_elo_probability() -> None:
    """``elo_points(p)`` is the edge whose Elo probability is ``p``."""
    for p in (0.2, 0.5, 0.57, 0.9):
        edge = elo_points(p)
        assert 1.0 / (1.0 + 10.0 ** (-edge / 400.0)) == pytest.approx(p)


def test_season_of_puts_football_playoffs_in_the_season_before() -> None:
    """A January NFL game belongs to the season before; MLB seasons are calendar years."""
    assert season_of("nfl", "2016-01-17") == 2015
    assert season_of("nfl", "20150913") == 2015
    assert season_of("mlb", "2016-02-28") == 2016
    with pytest.raises(ValueError, match="not a date"):
        season_of("nfl", "Sunday")


def test_a_game_is_recorded_once_by_its_id() -> None:
    """A final recorded again, or seeded after it was recorded, changes nothing."""
    priors = Priors()
    assert priors.record_final("mlb", "NYA", "BOS", 9, 1, season=2016, game_id="g1") > 0
    ratings = dict(priors.book("mlb").ratings)
    assert priors.record_final("mlb", "NYA", "BOS", 9, 1, season=2016, game_id="g1") == 0.0
    again = Final("NYA", "BOS", 9, 1, season=2016, order="2016-05-01", game_id="g1")
    other = Final("BOS", "NYA", 2, 3, season=2016, order="2016-05-02", game_id="g2")
    assert priors.seed("mlb", [again, other]) == 1
    by_hand = RatingBook.for_sport("mlb")
    by_hand.record_final("NYA", "BOS", 9, 1, season=2016)
    by_hand.record_final("BOS", "NYA", 2, 3, season=2016)
    assert priors.book("mlb").ratings == by_hand.ratings != ratings
    # The same game id in another sport is another game; a refused final is not recorded.
    assert priors.record_final("nfl", "NE", "PIT", 28, 21, game_id="g1") != 0.0
    with pytest.raises(ValueError, match="negative"):
        priors.record_final("nfl", "NE", "PIT", -1, 3, game_id="g3")
    assert priors.record_final("nfl", "NE", "PIT", 10, 3, game_id="g3") != 0.0


def test_the_first_game_of_a_new_season_is_priced_after_the_carry_over() -> None:
    """A prior asked for a newer season begins it; an older season changes nothing."""
    priors = Priors()
    for _ in range(5):
        priors.record_final("nfl", "NE", "PIT", 35, 3, season=2015)
    last = priors.prior_for("nfl", "NE", "PIT").home
    assert priors.prior_for("nfl", "NE", "PIT", season=2014).home == last
    assert priors.book("nfl").season == 2015
    carried = priors.prior_for("nfl", "NE", "PIT", season=2016).home
    assert priors.book("nfl").season == 2016
    assert 0.57 < carried < last
    mlb_priors = Priors()
    for _ in range(5):
        mlb_priors.record_final("mlb", "NYA", "BOS", 8, 2, season=2016)
    reset = mlb_priors.prior_for("mlb", "NYA", "BOS", season=2017).home
    assert reset == pytest.approx(mlb_priors.book("mlb").home_win_rate())


def test_prior_model_tells_the_models_that_take_a_prior() -> None:
    """The shipped models take a prior; a model or wrapper without the argument does not."""
    from pressbox.engine.events import WinProbability
    from pressbox.engine.models.base import prior_model

    class Plain:
        name = "plain"
        version = "1"

        def win_probability(self, state: GameState) -> WinProbability:
            return WinProbability(home=0.5, away=0.5)

        def leverage(self, state: GameState) -> float:
            return 1.0

    shipped = mlb.load()
    assert prior_model(shipped) is shipped
    assert prior_model(Plain()) is None


def test_a_final_of_a_past_season_leaves_the_live_book_alone() -> None:
    """A replayed final of an older season neither moves nor restarts the book."""
    priors = Priors()
    priors.record_final("mlb", "NYA", "BOS", 8, 2, season=2016)
    ratings = dict(priors.book("mlb").ratings)
    assert priors.record_final("mlb", "BOS", "NYA", 8, 2, season=2015, game_id="old") == 0.0
    assert priors.book("mlb").ratings == ratings
    assert priors.book("mlb").season == 2016
