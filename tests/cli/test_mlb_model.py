"""``pressbox wp mlb``, ``fit mlb`` and ``calibrate mlb`` on the bundled sample."""

from __future__ import annotations

import io
import json
import subprocess
import sys

import orjson
import pytest
import typer
from typer.testing import CliRunner

from pressbox.cli import mlb_model
from pressbox.engine.models import mlb
from tests.conftest import ROOT, SAMPLE_RETROSHEET, shared_data

runner = CliRunner()


@pytest.fixture(scope="module")
def app() -> typer.Typer:
    root = typer.Typer()
    groups = {name: typer.Typer() for name in ("wp", "fit", "calibrate")}
    for name, group in groups.items():
        root.add_typer(group, name=name)
    mlb_model.register(root, groups)
    return root


def invoke(app, *args: str, stdin: str | None = None):
    result = runner.invoke(app, list(args), input=stdin)
    return result


def test_wp_prints_the_home_win_probability(app):
    """``wp mlb`` prints the shipped model's home WP for the state."""
    result = invoke(
        app,
        "wp",
        "mlb",
        "--inning",
        "9",
        "--half",
        "bottom",
        "--outs",
        "0",
        "--bases",
        "000",
        "--home",
        "3",
        "--away",
        "3",
    )
    assert result.exit_code == 0, result.output
    expected = mlb.load().home_wp(9, True, 0, 0, 0)
    assert result.output.strip() == f"{expected:.4f}"


def test_wp_json_carries_leverage_and_model(app):
    """``--json`` prints home and away WP, leverage and the model's label."""
    result = invoke(
        app,
        "wp",
        "mlb",
        "--inning",
        "3",
        "--half",
        "bottom",
        "--outs",
        "1",
        "--bases",
        "101",
        "--home",
        "1",
        "--away",
        "3",
        "--json",
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    table = mlb.load().table()
    assert doc["home_wp"] == table.home_wp(3, True, 1, 0b101, -2)
    assert doc["away_wp"] == 1.0 - doc["home_wp"]
    assert doc["leverage"] == table.leverage(3, True, 1, 0b101, -2)
    assert doc["model"] == "mlb-markov/2015-2016"


def test_wp_takes_a_prior_from_odds(app):
    """Moneylines set the pregame prior, margin removed; the first pitch is at it."""
    result = invoke(app, "wp", "mlb", "--home-odds", "-150", "--away-odds", "+130", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["home_wp"] == pytest.approx(
        mlb.prior_from_odds(-150, 130), abs=1e-9
    )
    result = invoke(app, "wp", "mlb", "--prior", "0.6")
    assert result.output.strip() == "0.6000"


@pytest.mark.parametrize(
    "args",
    [
        ("--half", "middle"),
        ("--bases", "12"),
        ("--prior", "1.5"),
        ("--home-odds", "-150"),
        ("--home-odds", "-150", "--away-odds", "130", "--prior", "0.5"),
        ("--home-odds", "-50", "--away-odds", "130"),
        ("--model", "/nonexistent/model.json"),
    ],
)
def test_wp_refuses_bad_options(app, args):
    """Bad options are usage errors (exit code 2), not tracebacks."""
    result = invoke(app, "wp", "mlb", *args)
    assert result.exit_code == 2


def test_wp_refuses_a_file_that_is_not_a_model(app, tmp_path):
    """A parameter file of another kind is a usage error."""
    path = tmp_path / "other.json"
    path.write_text('{"format": "other"}')
    assert invoke(app, "wp", "mlb", "--model", str(path)).exit_code == 2


def test_batch_answers_one_line_per_state(app):
    """``--batch`` writes one {"home_wp"} line per input line, errors in place."""
    lines = [
        {"inning": 9, "half": "bottom", "outs": 0, "bases": "000", "home": 3, "away": 3},
        {"inning": 1, "half": "top", "outs": 0, "bases": "000", "home": 0, "away": 0},
        {"inning": 1, "half": "side", "outs": 0, "bases": "000", "home": 0, "away": 0},
        {"inning": 1, "half": "top", "outs": 5, "bases": "000", "home": 0, "away": 0},
        {"inning": 1, "half": "top", "outs": 0},
    ]
    stdin = "\n".join(json.dumps(line) for line in lines) + "\n\nnot json\n"
    result = invoke(app, "wp", "mlb", "--batch", stdin=stdin)
    assert result.exit_code == 0, result.output
    out = [json.loads(line) for line in result.output.splitlines()]
    table = mlb.load().table()
    assert out[0] == {"home_wp": table.home_wp(9, True, 0, 0, 0)}
    assert out[1] == {"home_wp": table.start}
    assert "half" in out[2]["error"]
    assert "no such state" in out[3]["error"]
    assert "missing field" in out[4]["error"]
    assert "error" in out[5]
    assert len(out) == 6


def test_run_batch_answers_a_last_line_without_newline():
    """A final line without a newline is still answered."""
    table = mlb.load().table()
    source = io.BytesIO(b'{"inning":2,"half":"top","outs":1,"bases":"010","home":1,"away":0}')
    sink = io.BytesIO()
    assert mlb_model.run_batch(table, source, sink) == 1
    assert orjson.loads(sink.getvalue()) == {"home_wp": table.home_wp(2, False, 1, 2, 1)}


def test_run_batch_answers_good_blocks_in_order():
    """A block of good lines is answered in one go, one line each, in order."""
    table = mlb.load().table()
    states = [
        (i, b, o, m, h, a)
        for i in (1, 9, 11)
        for b in (0, 1)
        for o in (0, 2)
        for m in (0, 5)
        for h, a in ((0, 0), (4, 2))
    ]
    text = "".join(
        json.dumps(
            {
                "inning": i,
                "half": "bottom" if b else "top",
                "outs": o,
                "bases": f"{m & 1}{m >> 1 & 1}{m >> 2 & 1}",
                "home": h,
                "away": a,
            }
        )
        + "\n"
        for i, b, o, m, h, a in states
    )
    sink = io.BytesIO()
    assert mlb_model.run_batch(table, io.BytesIO(text.encode()), sink) == len(states)
    got = [orjson.loads(line)["home_wp"] for line in sink.getvalue().splitlines()]
    assert got == [table.home_wp(i, bool(b), o, m, h - a) for i, b, o, m, h, a in states]


def test_run_batch_skips_blank_lines():
    """Blank lines get no answer."""
    sink = io.BytesIO()
    assert mlb_model.run_batch(mlb.load().table(), io.BytesIO(b"\n \n"), sink) == 0
    assert sink.getvalue() == b""


def test_fit_writes_a_reproducible_parameter_file(app, tmp_path):
    """``fit mlb`` writes the same bytes twice and records the training seasons."""
    first, second = tmp_path / "a.json", tmp_path / "b.json"
    for out in (first, second):
        result = invoke(app, "fit", "mlb", "--train", str(SAMPLE_RETROSHEET), "--out", str(out))
        assert result.exit_code == 0, result.output
    assert first.read_bytes() == second.read_bytes()
    params = json.loads(first.read_bytes())
    assert params["seasons"] == [2015, 2016]
    summary = json.loads(result.output)
    assert summary["n_games"] == 6


def test_fit_takes_several_paths_after_one_option(app, tmp_path):
    """``--train A B`` reads both, like ``--train A --train B``."""
    out = tmp_path / "m.json"
    result = invoke(
        app,
        "fit",
        "mlb",
        "--train",
        str(SAMPLE_RETROSHEET / "2015"),
        str(SAMPLE_RETROSHEET / "2016"),
        "--out",
        str(out),
    )
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_bytes())["seasons"] == [2015, 2016]
    bad = invoke(app, "fit", "mlb", "--train", str(SAMPLE_RETROSHEET), "--out", str(out), "-x")
    assert bad.exit_code == 2


def test_fit_refuses_missing_or_empty_data(app, tmp_path):
    """A missing folder or one without games is a usage error."""
    missing = invoke(app, "fit", "mlb", "--train", str(tmp_path / "no"), "--out", "x.json")
    assert missing.exit_code == 2
    empty = invoke(app, "fit", "mlb", "--train", str(tmp_path), "--out", str(tmp_path / "x"))
    assert empty.exit_code == 2


def test_calibrate_smoke_on_the_bundled_sample(app, tmp_path):
    """Calibration of the real sample writes every figure, baselines side by side."""
    out, plot = tmp_path / "cal.json", tmp_path / "cal.png"
    stats = tmp_path / "stats"
    stats.mkdir()
    (stats / "stats.2014").write_text("(1, 0, 0, (0, 0, 0), 0): (46, 100)\n")
    (stats / "stats.2015").write_text("(1, 0, 0, (0, 0, 0), 0): (1, 100)\n")
    result = invoke(
        app,
        "calibrate",
        "mlb",
        "--test",
        str(SAMPLE_RETROSHEET),
        "--json",
        str(out),
        "--plot",
        str(plot),
        "--empirical",
        str(stats),
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(out.read_text())
    assert doc["n_games"] == 6
    assert doc["n_ties_skipped"] == 1
    assert doc["n_plays"] > 400
    assert doc["test_seasons"] == [2015, 2016]
    assert doc["overlapping_seasons"] == [2015, 2016]
    for key in ("brier", "log_loss", "ece"):
        assert 0.0 <= doc[key] <= 1.0
    assert sum(b["n"] for b in doc["bins"]) == doc["n_plays"]
    assert set(doc["baselines"]) == {"constant", "published_logistic", "empirical_table"}
    assert doc["baselines"]["empirical_table"]["seasons"] == [2014]
    assert set(doc["variants"]) == {"no_team_strength", "team_strength_elo"}
    assert doc["brier"] < doc["baselines"]["constant"]["brier"]
    assert plot.read_bytes().startswith(b"\x89PNG")


def test_calibrate_without_team_strength(app, tmp_path):
    """``--no-strength`` makes the figures those of the plain model."""
    out = tmp_path / "cal.json"
    result = invoke(
        app,
        "calibrate",
        "mlb",
        "--test",
        str(SAMPLE_RETROSHEET / "2015"),
        str(SAMPLE_RETROSHEET / "2016"),
        "--json",
        str(out),
        "--no-strength",
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(out.read_text())
    assert doc["test_seasons"] == [2015, 2016]
    assert doc["team_strength"] is None
    assert doc["brier"] == doc["variants"]["no_team_strength"]["brier"]


def test_calibrate_refuses_unusable_inputs(app, tmp_path):
    """No game to score, or no empirical file outside the test seasons: usage errors."""
    out = str(tmp_path / "c.json")
    empty = invoke(app, "calibrate", "mlb", "--test", str(tmp_path), "--json", out)
    assert empty.exit_code == 2
    stats = tmp_path / "stats"
    stats.mkdir()
    (stats / "stats.2015").write_text("")
    only_test = invoke(
        app,
        "calibrate",
        "mlb",
        "--test",
        str(SAMPLE_RETROSHEET / "2015"),
        "--json",
        out,
        "--empirical",
        str(stats),
    )
    assert only_test.exit_code == 2


def test_the_pressbox_command_has_the_mlb_model():
    """The installed command line registers ``wp mlb`` (module discovery)."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pressbox",
            "wp",
            "mlb",
            "--inning",
            "9",
            "--half",
            "bottom",
            "--home",
            "3",
            "--away",
            "3",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert 0.6 < float(result.stdout) < 0.7


def test_the_empirical_reference_reads_the_shared_tables():
    """The shared Stoll tables parse (every line of every season file)."""
    folder = shared_data("win-expectancy-gregstoll", "statsyears")
    table = mlb.EmpiricalTable(f.read_text() for f in sorted(folder.glob("stats.*")))
    assert len(table) > 10000
