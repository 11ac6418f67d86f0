"""Fitting the NFL model: rows, Elo, expected points and the whole fit on sample games."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pressbox.engine.models import nfl
from pressbox.feeds import nflgc

FIXTURES = Path(__file__).resolve().parent.parent.parent / "fixtures" / "nfl"
SCHEDULE = nflgc.read_schedule(FIXTURES / "schedule.json")


def _games() -> list[nfl.Game]:
    games = []
    for path in sorted(FIXTURES.glob("*.json.gz")):
        eid = path.name.split(".")[0]
        events = nflgc.read_game(path, season_type=SCHEDULE[eid])
        games.append(
            nfl.Game(events=events, season=nfl.season_of(eid), postseason=SCHEDULE[eid] == "POST")
        )
    return games


GAMES = _games()


def test_season_of_puts_january_games_in_the_season_before() -> None:
    """A January playoff game belongs to the season that started the year before."""
    assert nfl.season_of("2015011800") == 2014
    assert nfl.season_of("2015091300") == 2015


def test_elo_starts_equal_and_moves_with_results() -> None:
    """Teams start equal; the winner gains what the loser loses; ratings carry over."""
    results = [
        ("2014090700", 2014, "A", "B", 30, 10),
        ("2014091400", 2014, "A", "C", 20, 21),
        ("2015091300", 2015, "B", "C", 17, 17),
    ]
    pregame, final = nfl.elo_ratings(results)
    assert pregame["2014090700"] == 0.0
    assert pregame["2014091400"] > 0.0  # A won its first game, C has not played
    assert sum(final.values()) == pytest.approx(3 * nfl.ELO_START)
    # Between seasons ratings move a third of the way back to the mean.
    _, after_2014 = nfl.elo_ratings(results[:2])
    b, c = after_2014["B"], after_2014["C"]
    carried = (b - nfl.ELO_START) * nfl.ELO_CARRY - (c - nfl.ELO_START) * nfl.ELO_CARRY
    assert pregame["2015091300"] == pytest.approx(carried)


def test_elo_before_a_game_ignores_its_result() -> None:
    """Changing a game's score never changes the ratings before it."""
    base = [("2014090700", 2014, "A", "B", 30, 10), ("2014091400", 2014, "B", "A", 3, 6)]
    flipped = [base[0], ("2014091400", 2014, "B", "A", 60, 0)]
    assert nfl.elo_ratings(base)[0] == nfl.elo_ratings(flipped)[0]


def test_rows_have_one_row_per_play_and_the_game_result() -> None:
    """Rows hold the state before each play and the home result of the game."""
    pregame, _ = nfl.elo_ratings(nfl.game_results(GAMES))
    rows = nfl.build_rows(GAMES, pregame)
    assert len(rows.game_ids) == len(GAMES)
    assert len(rows) > 800
    assert set(np.unique(rows["result"])) <= {0.0, 0.5, 1.0}
    tie = rows.game_ids.index("2014101202")
    assert np.all(rows["result"][rows["game"] == tie] == 0.5)
    assert rows["home_score"].min() == 0
    assert np.all((rows["yard_line"] >= 0) & (rows["yard_line"] <= 100))
    # The next score's points are those of a real score from the offense's side.
    assert set(np.unique(rows["next_points"])) <= {-8, -7, -6, -3, -2, -1, 0, 1, 2, 3, 6, 7, 8}


def test_expected_points_table_is_monotone_in_the_yard_line() -> None:
    """Expected points never fall as the offense moves toward the goal."""
    pregame, _ = nfl.elo_ratings(nfl.game_results(GAMES))
    table = nfl.fit_expected_points(nfl.build_rows(GAMES, pregame))
    assert table.shape == (4, nfl.MAX_DISTANCE + 1, 101)
    assert np.all(np.diff(table, axis=2) >= -1e-6)


def test_training_matrix_splits_ties_in_half() -> None:
    """A tied game enters once won and once lost, each at half weight."""
    pregame, _ = nfl.elo_ratings(nfl.game_results(GAMES))
    rows = nfl.build_rows(GAMES, pregame)
    table = nfl.fit_expected_points(rows)
    m = nfl.training_matrix(rows, table, kickoff_yard_line=22.0)
    assert m.x.shape == (m.y.size, len(nfl.FEATURES))
    assert set(np.unique(m.y)) == {0.0, 1.0}
    assert np.all((m.w == 1.0) | (m.w == 0.5))
    assert m.y_single.size == int(m.single.sum())
    assert np.any(m.y_single == 0.5)


def test_fit_on_sample_games_gives_a_working_model() -> None:
    """A fit on seven games writes, reads and answers like the shipped one."""
    params = nfl.fit(GAMES, max_iter=10)
    model = nfl.load(params.to_bytes())
    assert model.version == "2014-2015"
    assert params.meta["n_games"] == len(GAMES)
    assert len(params.to_bytes()) < 2 * 1024 * 1024
    p = model.home_wp(2, 300, "home", 1, 10, 50, 14, 7)
    assert 0.0 < p < 1.0
    assert model.home_wp(2, 300, "home", 1, 10, 50, 21, 7) >= p
    assert set(model.ratings) >= {"SEA", "GB", "CAR", "CIN"}


def test_fit_needs_plays() -> None:
    """Fitting on no games raises ValueError."""
    with pytest.raises(ValueError, match="no plays"):
        nfl.fit([])


def test_published_features_follow_the_broadcast_formula() -> None:
    """The baseline's inputs are the home lead, lead × progress, possession and field."""
    pregame, _ = nfl.elo_ratings(nfl.game_results(GAMES))
    rows = nfl.build_rows(GAMES, pregame)
    x = nfl.published_features(rows)
    assert x.shape == (len(rows), 5)
    assert np.all(x[:, 0] == 1.0)
    np.testing.assert_array_equal(x[:, 1], rows["home_score"] - rows["away_score"])
    assert np.all(np.abs(x[:, 2]) <= np.abs(x[:, 1]))


def test_cross_validation_scores_every_play_once_by_a_fit_without_its_game() -> None:
    """Grouped cross-validation gives one probability per play of every game, each from
    a fit on the other folds; the deal is seeded, so a second run gives the same."""
    predicted, actual = nfl.cross_validate(GAMES, folds=2, max_iter=10)
    strength = nfl.pregame_strength(nfl.game_results(GAMES))
    rows = nfl.build_rows(GAMES, strength.elo, strength.home_edge)
    assert predicted.shape == actual.shape == (len(rows),)
    assert np.all((predicted >= 0.0) & (predicted <= 1.0))
    assert sorted(actual) == sorted(rows["result"])
    again, _ = nfl.cross_validate(GAMES, folds=2, max_iter=10)
    assert np.array_equal(again, predicted)


@pytest.mark.parametrize("folds", [1, len(GAMES) + 1])
def test_cross_validation_needs_two_folds_of_games(folds: int) -> None:
    """Fewer than two folds, or more folds than games, is a ValueError."""
    with pytest.raises(ValueError, match="folds"):
        nfl.cross_validate(GAMES, folds=folds)
