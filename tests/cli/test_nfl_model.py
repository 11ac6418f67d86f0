"""``pressbox wp nfl``, ``fit nfl`` and ``calibrate nfl`` on the bundled sample games."""

from __future__ import annotations

import io
import json
from pathlib import Path

import orjson
import pytest
import typer
from typer.testing import CliRunner

from pressbox.cli import nfl_model
from pressbox.engine.models import nfl

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "nfl"
runner = CliRunner()


@pytest.fixture(scope="module")
def app() -> typer.Typer:
    root = typer.Typer()
    groups = {name: typer.Typer() for name in ("wp", "fit", "calibrate")}
    for name, group in groups.items():
        root.add_typer(group, name=name)
    nfl_model.register(root, groups)
    return root


CONTRACT = [
    "wp", "nfl", "--quarter", "4", "--clock", "2:00", "--possession", "home", "--down", "4",
    "--distance", "2", "--yardline", "35", "--home", "17", "--away", "20",
]  # fmt: skip


def test_wp_prints_the_home_wp_and_the_fourth_down_call(app):
    """The contract command prints the home WP and a fourth-down recommendation."""
    result = runner.invoke(app, CONTRACT)
    assert result.exit_code == 0, result.output
    assert "home WP" in result.output
    assert "call:" in result.output
    assert "go for it" in result.output


def test_wp_json_matches_the_model(app):
    """``--json`` gives the model's number and the value of each option."""
    result = runner.invoke(app, [*CONTRACT, "--json"])
    assert result.exit_code == 0, result.output
    answer = json.loads(result.output)
    expected = nfl.load().home_wp(4, 120, "home", 4, 2, 35, 17, 20)
    assert answer["home_wp"] == pytest.approx(expected)
    assert answer["home_wp"] + answer["away_wp"] == pytest.approx(1.0)
    fourth = answer["fourth_down"]
    assert fourth["recommendation"] in ("go", "field_goal", "punt")
    assert fourth["margin"] >= 0.0
    assert fourth["field_goal"] is None  # a 82-yard kick is out of range


def test_wp_without_a_down_has_no_fourth_down(app):
    """A kickoff answers without decision support."""
    result = runner.invoke(app, ["wp", "nfl", "--json", "--home-team", "SEA", "--away-team", "GB"])
    assert result.exit_code == 0, result.output
    answer = json.loads(result.output)
    assert "fourth_down" not in answer
    assert answer["elo_diff"] != 0.0


@pytest.mark.parametrize(
    "bad",
    [
        ["--yardline", "0"],
        ["--clock", "16:00"],
        ["--clock", "x"],
        ["--possession", "nobody"],
        ["--down", "5"],
    ],
)
def test_wp_rejects_impossible_situations(app, bad):
    """An impossible situation is a usage error, not a crash."""
    result = runner.invoke(app, ["wp", "nfl", "--down", "1", "--distance", "10", *bad])
    assert result.exit_code == 2


def test_batch_answers_each_line_and_reports_bad_ones():
    """``--batch`` answers JSON lines with home_wp and marks bad lines with an error."""
    model = nfl.load()
    lines = [
        {"quarter": 4, "clock": "2:00", "possession": "home", "down": 4, "distance": 2,
         "yardline": 35, "home": 17, "away": 20},
        {"quarter": 1, "clock": 900, "possession": "away", "yardline": 35},
        {"clock": "1:00"},
        [1, 2],
    ]  # fmt: skip
    source = io.BytesIO(b"".join(orjson.dumps(line) + b"\n" for line in lines) + b"not json\n\n")
    sink = io.BytesIO()
    errors = nfl_model.run_batch(model, source, sink)
    out = [orjson.loads(line) for line in sink.getvalue().splitlines()]
    assert errors == 3
    assert len(out) == 5
    assert out[0]["home_wp"] == pytest.approx(model.home_wp(4, 120, "home", 4, 2, 35, 17, 20))
    assert 0.0 < out[1]["home_wp"] < 1.0
    assert "quarter" in out[2]["error"]
    assert all("error" in o for o in out[2:])


def test_batch_through_the_command(app):
    """``wp nfl --batch`` reads stdin and exits 0 when every line was answered."""
    stdin = '{"quarter": 2, "clock": "0:30", "possession": "home", "yardline": 98}\n'
    result = runner.invoke(app, ["wp", "nfl", "--batch"], input=stdin)
    assert result.exit_code == 0, result.output
    assert 0.0 < json.loads(result.output)["home_wp"] < 1.0


def test_fit_writes_a_model_file(app, tmp_path):
    """``fit nfl`` on the sample games writes a model that loads."""
    out = tmp_path / "nfl.npz"
    result = runner.invoke(
        app, ["fit", "nfl", str(FIXTURES), "--out", str(out), "--iterations", "10"]
    )
    assert result.exit_code == 0, result.output
    model = nfl.load(out)
    assert model.version == "2014-2015"
    # The training seasons, the rating book's settings and its home edge are recorded.
    meta = model.params.meta
    assert meta["seasons"] == [2014, 2015]
    assert meta["elo"]["elo_seasons"] == [2014, 2015]
    assert meta["elo"]["home_rate_prior"] == 0.57
    assert model.home_edge == meta["home_edge"]
    assert 0.0 < model.home_edge < 100.0
    # Fitting again gives the same bytes.
    again = tmp_path / "again.npz"
    runner.invoke(app, ["fit", "nfl", str(FIXTURES), "--out", str(again), "--iterations", "10"])
    assert again.read_bytes() == out.read_bytes()


def test_calibration_smoke_on_sample_games(app, tmp_path):
    """``calibrate nfl`` on real sample games writes the report in the contract's shape."""
    train = sorted(p for p in FIXTURES.glob("*.json.gz") if nfl.season_of(p.name[:10]) == 2014)
    test = sorted(p for p in FIXTURES.glob("*.json.gz") if nfl.season_of(p.name[:10]) == 2015)
    out = tmp_path / "report.json"
    args = ["calibrate", "nfl", "--json", str(out), "--iterations", "10"]
    args += [a for p in train for a in ("--train", str(p))]
    args += [a for p in test for a in ("--test", str(p))]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert report["train"] == [2014]
    assert report["test"] == [2015]
    assert report["n_games"] == len(test)
    assert report["n_plays"] > 200
    assert 0.0 <= report["brier"] <= 1.0
    assert 0.0 <= report["ece"] <= 1.0
    low, high = report["ece_interval"]
    assert 0.0 <= low <= high <= 1.0
    assert report["log_loss"] > 0.0
    for key in ("brier", "log_loss", "ece"):
        for baseline in ("constant", "published_logistic"):
            assert key in report["baselines"][baseline]
    bins = report["bins"]
    assert sum(b["n"] for b in bins) == report["n_plays"]
    assert set(bins[0]) == {"lo", "hi", "predicted", "actual", "n"}
    assert set(report["by_quarter"]) >= {"1", "2", "3", "4"}
    assert report["by_quarter"]["1"]["model"]["brier"] >= 0.0
    assert isinstance(report["beats_baselines"], bool)


def test_calibrate_refuses_one_inner_fold(app):
    """Cross-validation inside the training games needs at least two folds."""
    args = ["calibrate", "nfl", "--train", str(FIXTURES), "--test", str(FIXTURES)]
    result = runner.invoke(app, [*args, "--inner-folds", "1"])
    assert result.exit_code == 2
    assert "inner-folds" in result.output


def test_calibrate_refuses_an_empty_folder(app, tmp_path):
    """No games to read is a usage error."""
    result = runner.invoke(
        app, ["calibrate", "nfl", "--train", str(tmp_path), "--test", str(tmp_path)]
    )
    assert result.exit_code == 2


def test_calibrate_without_train_leaves_one_season_out(app, tmp_path):
    """Without --train the other season folders beside --test are the training data."""
    for path in FIXTURES.glob("*.json.gz"):
        season = tmp_path / str(nfl.season_of(path.name[:10]))
        season.mkdir(exist_ok=True)
        (season / path.name).write_bytes(path.read_bytes())
    (tmp_path / "schedule.json").write_bytes((FIXTURES / "schedule.json").read_bytes())
    out = tmp_path / "report.json"
    args = ["calibrate", "nfl", "--test", str(tmp_path / "2015"), "--json", str(out)]
    result = runner.invoke(app, [*args, "--iterations", "10", "--inner-folds", "2"])
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert (report["train"], report["test"]) == ([2014], [2015])
    assert report["inner_cv"]["folds"] == 2
    assert 0.0 <= report["inner_cv"]["brier"] <= 1.0
    assert 0.0 <= report["inner_cv"]["ece"] <= 1.0
