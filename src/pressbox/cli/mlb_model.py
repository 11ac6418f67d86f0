"""``pressbox wp mlb``, ``pressbox fit mlb`` and ``pressbox calibrate mlb``.

The MLB win-probability model at the command line: answer one state or a stream of JSON
lines, fit the model on Retrosheet seasons, and score it on held-out seasons next to its
baselines. File reading happens here; :mod:`pressbox.engine.models.mlb` stays pure.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any, BinaryIO

import numpy as np
import orjson
import typer

from pressbox.engine.models import mlb
from pressbox.engine.models.base import Scores, score_predictions
from pressbox.errors import FeedParseError
from pressbox.feeds.retrosheet import iter_games

_HALF = {"top": False, "bottom": True}
_BASES_STR = {
    f"{first}{second}{third}": int(first) | int(second) << 1 | int(third) << 2
    for first in "01"
    for second in "01"
    for third in "01"
}


def _load(model: Path | None) -> mlb.MlbModel:
    if model is None:
        return mlb.load()
    try:
        return mlb.loads(model.read_bytes())
    except OSError as exc:
        raise typer.BadParameter(f"cannot read {model}: {exc.strerror}") from exc
    except (ValueError, TypeError) as exc:
        raise typer.BadParameter(f"{model}: {exc}") from exc


def _prior(prior: float | None, home_odds: float | None, away_odds: float | None) -> float | None:
    if (home_odds is None) != (away_odds is None):
        raise typer.BadParameter("give both --home-odds and --away-odds, or neither")
    if home_odds is not None and away_odds is not None:
        if prior is not None:
            raise typer.BadParameter("give --prior or the odds, not both")
        try:
            return mlb.prior_from_odds(home_odds, away_odds)
        except ValueError as exc:
            raise typer.BadParameter(str(exc)) from exc
    if prior is not None and not 0.0 < prior < 1.0:
        raise typer.BadParameter("--prior must be strictly between 0 and 1")
    return prior


def _error(reason: str) -> bytes:
    return orjson.dumps({"error": reason}) + b"\n"


def _answer(table: mlb.WpTable, line: bytes) -> bytes:
    """One batch line in, one JSON line out (an ``error`` line for a bad state)."""
    try:
        doc = orjson.loads(line)
        bottom = _HALF.get(doc["half"])
        mask = _BASES_STR.get(doc.get("bases", "000"))
        if bottom is None or mask is None:
            return _error("half must be top or bottom and bases three 0/1 flags")
        wp = table.home_wp(doc["inning"], bottom, doc["outs"], mask, doc["home"] - doc["away"])
    except KeyError as exc:
        return _error(f"missing field {exc}")
    except (orjson.JSONDecodeError, TypeError, ValueError) as exc:
        return _error(str(exc))
    return b'{"home_wp":%r}\n' % wp


def _answer_all(table: mlb.WpTable, lines: list[bytes]) -> bytes:
    """Answer a block of lines: all at once when all are good, else line by line."""
    home_wp = table.home_wp
    try:
        answers = []
        for line in lines:
            doc = orjson.loads(line)
            wp = home_wp(
                doc["inning"],
                _HALF[doc["half"]],
                doc["outs"],
                _BASES_STR[doc.get("bases", "000")],
                doc["home"] - doc["away"],
            )
            answers.append({"home_wp": wp})
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return b"".join(_answer(table, line) for line in lines)
    if not answers:
        return b""
    # One encoder call for the block, cut into lines: far cheaper than one per answer.
    return orjson.dumps(answers)[1:-1].replace(b"},{", b"}\n{") + b"\n"


def run_batch(table: mlb.WpTable, source: BinaryIO, sink: BinaryIO) -> int:
    """Answer JSON-line states from ``source`` on ``sink``; return the number of lines.

    Whatever is available is read and answered at once, so a pipe of millions of lines
    goes at full speed and an interactive writer gets each answer as soon as its line
    is complete. Blank lines are skipped; a line that is not a valid state gets an
    ``{"error": ...}`` line in its place.
    """
    pending = b""
    count = 0
    read = getattr(source, "read1", source.read)
    while True:
        chunk = read(1 << 16)
        if not chunk:
            break
        lines = (pending + chunk).split(b"\n")
        pending = lines.pop()
        lines = [line for line in lines if line.strip()]
        count += len(lines)
        sink.write(_answer_all(table, lines))
        sink.flush()
    if pending.strip():
        sink.write(_answer(table, pending))
        sink.flush()
        count += 1
    return count


def wp_mlb(
    inning: Annotated[int, typer.Option(min=1, help="Inning, 1-based.")] = 1,
    half: Annotated[str, typer.Option(help="top (visitors bat) or bottom (home bats).")] = "top",
    outs: Annotated[int, typer.Option(min=0, max=2, help="Outs, 0-2.")] = 0,
    bases: Annotated[
        str, typer.Option(help="Runners on first, second, third as 0/1 flags: 101 = 1st & 3rd.")
    ] = "000",
    home: Annotated[int, typer.Option(min=0, help="Home team's runs.")] = 0,
    away: Annotated[int, typer.Option(min=0, help="Visitors' runs.")] = 0,
    json_out: Annotated[bool, typer.Option("--json", help="Print a JSON object.")] = False,
    batch: Annotated[
        bool, typer.Option(help="Read JSON-line states on stdin, write {home_wp} lines.")
    ] = False,
    innings: Annotated[int, typer.Option(min=1, help="Scheduled innings.")] = 9,
    extra_runner: Annotated[
        bool, typer.Option(help="Extra innings start with a runner on second (2020+).")
    ] = False,
    prior: Annotated[
        float | None, typer.Option(help="Home team's pregame win probability.")
    ] = None,
    home_odds: Annotated[
        float | None, typer.Option(help="Home moneyline, American (-150) or decimal (1.67).")
    ] = None,
    away_odds: Annotated[float | None, typer.Option(help="Visitors' moneyline.")] = None,
    model: Annotated[
        Path | None, typer.Option(help="A fitted parameter file (default: the shipped one).")
    ] = None,
) -> None:
    """The home team's win probability for a game state."""
    wp_model = _load(model)
    table = wp_model.table(innings, extra_runner, _prior(prior, home_odds, away_odds))
    if batch:
        run_batch(table, sys.stdin.buffer, sys.stdout.buffer)
        return
    if half not in ("top", "bottom"):
        raise typer.BadParameter("--half must be top or bottom")
    try:
        mask = mlb.bases_mask(bases)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    bottom = half == "bottom"
    wp = table.home_wp(inning, bottom, outs, mask, home - away)
    if json_out:
        doc = {
            "home_wp": wp,
            "away_wp": 1.0 - wp,
            "leverage": table.leverage(inning, bottom, outs, mask, home - away),
            "model": wp_model.label,
        }
        typer.echo(orjson.dumps(doc).decode())
    else:
        typer.echo(f"{wp:.4f}")


_MORE_PATHS = {"allow_extra_args": True}
"""``--train A B`` reads as ``--train A --train B``: the extra paths arrive as arguments."""


def _more_paths(ctx: typer.Context) -> list[Path]:
    # Unknown options are still refused by click; only plain arguments get here.
    return [Path(arg) for arg in ctx.args]


def _games(paths: list[Path]) -> tuple[list[Any], list[FeedParseError]]:
    errors: list[FeedParseError] = []
    for path in paths:
        if not path.exists():
            raise typer.BadParameter(f"{path} does not exist")
    return [game.events for game in iter_games(paths, errors)], errors


def fit_mlb(
    ctx: typer.Context,
    train: Annotated[
        list[Path], typer.Option(help="Retrosheet season folders or event files (repeatable).")
    ],
    out: Annotated[Path, typer.Option(help="Where to write the parameter file (JSON).")],
    shrink: Annotated[
        float, typer.Option(min=0.0, help="Pseudo plate appearances per shrinkage level.")
    ] = mlb.DEFAULT_SHRINK,
) -> None:
    """Fit the MLB model on Retrosheet seasons and write its parameter file."""
    games, errors = _games([*train, *_more_paths(ctx)])
    try:
        params = mlb.fit(games, shrink=shrink)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    out.write_bytes(mlb.dumps(params))
    summary = {
        "out": str(out),
        "seasons": params["seasons"],
        "n_games": params["n_games"],
        "n_plays": params["n_plays"],
        "n_plate_appearances": params["n_plate_appearances"],
        "unreadable_games": len(errors),
        "li_norm": params["li_norm"],
        "elo_k": params["elo"]["k"],
    }
    typer.echo(orjson.dumps(summary).decode())


def _empirical(folder: Path, seasons: set[int]) -> tuple[mlb.EmpiricalTable, list[int]]:
    files = sorted(folder.glob("stats.*"))
    used = [f for f in files if f.suffix[1:].isdigit() and int(f.suffix[1:]) not in seasons]
    if not used:
        raise typer.BadParameter(f"no stats.YYYY file outside the test seasons in {folder}")
    table = mlb.EmpiricalTable(f.read_text() for f in used)
    return table, [int(f.suffix[1:]) for f in used]


def _scores(predicted: Any, actual: Any, bins: int) -> dict[str, Any]:
    result: Scores = score_predictions(predicted, actual, bins=bins)
    return result.to_dict()


def calibrate_mlb(
    ctx: typer.Context,
    test: Annotated[
        list[Path], typer.Option(help="Held-out Retrosheet seasons or event files (repeatable).")
    ],
    json_path: Annotated[Path, typer.Option("--json", help="Where to write the figures.")],
    model: Annotated[
        Path | None, typer.Option(help="A fitted parameter file (default: the shipped one).")
    ] = None,
    plot: Annotated[Path | None, typer.Option(help="Write a reliability plot (PNG).")] = None,
    empirical: Annotated[
        Path | None,
        typer.Option(
            help="A folder of stats.YYYY win-expectancy files (Greg Stoll's format) to score "
            "as a third reference, built without the test seasons."
        ),
    ] = None,
    strength: Annotated[
        bool, typer.Option(help="Headline figures with the in-season Elo prior.")
    ] = True,
    bins: Annotated[int, typer.Option(min=1, help="Reliability bins.")] = 10,
) -> None:
    """Score the MLB model on every play of held-out games, next to its baselines."""
    wp_model = _load(model)
    games, errors = _games([*test, *_more_paths(ctx)])
    records = [r for r in map(mlb.game_record, games) if r is not None]
    seasons = sorted({r.season for r in records})
    overlap = sorted(set(seasons) & set(wp_model.params["seasons"]))
    try:
        ev = mlb.evaluate(records, wp_model, strength=strength)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    plain = _scores(ev.wp, ev.actual, bins)
    variants: dict[str, Any] = {"no_team_strength": plain}
    headline = plain
    if ev.wp_strength is not None:
        headline = variants["team_strength_elo"] = _scores(ev.wp_strength, ev.actual, bins)
    params = wp_model.params
    constant = np.full(len(ev.actual), params["baselines"]["constant"]["home_win_rate"])
    logistic_wp = mlb.published_logistic(params, ev.rows, ev.innings)
    baselines: dict[str, Any] = {
        "constant": _scores(constant, ev.actual, bins)
        | {"home_win_rate": params["baselines"]["constant"]["home_win_rate"]},
        "published_logistic": _scores(logistic_wp, ev.actual, bins)
        | {"coefficients": params["baselines"]["published_logistic"]["coefficients"]},
    }
    curves = {"model": ev.wp_strength if ev.wp_strength is not None else ev.wp}
    if ev.wp_strength is not None:
        curves["model without team strength"] = ev.wp
    curves["constant"] = constant
    curves["published logistic"] = logistic_wp
    if empirical is not None:
        table, used = _empirical(empirical, set(seasons))
        emp = np.array([table.home_wp(i, bool(b), o, m, d) for i, b, o, m, d in ev.rows.tolist()])
        baselines["empirical_table"] = _scores(emp, ev.actual, bins) | {"seasons": used}
        curves["empirical table"] = emp
    doc = {
        "model": wp_model.label,
        "train_seasons": params["seasons"],
        "test_seasons": seasons,
        "overlapping_seasons": overlap,
        "team_strength": "elo" if ev.wp_strength is not None else None,
        "n_plays": len(ev.actual),
        "n_games": ev.n_games,
        "n_ties_skipped": ev.n_ties_skipped,
        "unreadable_games": len(errors),
        "brier": headline["brier"],
        "log_loss": headline["log_loss"],
        "ece": headline["ece"],
        "bins": headline["bins"],
        "variants": variants,
        "baselines": baselines,
    }
    json_path.write_bytes(orjson.dumps(doc, option=orjson.OPT_INDENT_2) + b"\n")
    if plot is not None:
        _plot(curves, ev.actual, plot, f"{wp_model.label} on {_label(seasons)}", bins)
    summary = {name: round(v["brier"], 5) for name, v in (variants | baselines).items()}
    typer.echo(orjson.dumps({"json": str(json_path), "brier": summary}).decode())


def _label(seasons: list[int]) -> str:
    return ", ".join(map(str, seasons))


def _plot(curves: dict[str, Any], actual: Any, out: Path, title: str, bins: int) -> None:
    """A reliability diagram: mean prediction against observed frequency per bin."""
    import matplotlib  # Only the plot needs it; `wp` stays light.

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 6.0), dpi=120)
    ax.plot([0, 1], [0, 1], color="0.6", linestyle="--", linewidth=1, label="perfect")
    markers = "osD^vx"
    for (name, predicted), marker in zip(curves.items(), markers, strict=False):
        scores = score_predictions(predicted, actual, bins=bins)
        xs = [b.predicted for b in scores.bins]
        ys = [b.actual for b in scores.bins]
        ax.plot(
            xs,
            ys,
            marker=marker,
            linewidth=1.2,
            markersize=4,
            label=f"{name} (Brier {scores.brier:.4f}, ECE {scores.ece:.4f})",
        )
    ax.set_xlabel("predicted home win probability (bin mean)")
    ax.set_ylabel("observed home win rate")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7, loc="upper left")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)


def register(app: typer.Typer, groups: dict[str, typer.Typer]) -> None:
    """Add ``wp mlb``, ``fit mlb`` and ``calibrate mlb``."""
    del app
    groups["wp"].command("mlb")(wp_mlb)
    groups["fit"].command("mlb", context_settings=_MORE_PATHS)(fit_mlb)
    groups["calibrate"].command("mlb", context_settings=_MORE_PATHS)(calibrate_mlb)
