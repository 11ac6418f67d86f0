"""``pressbox wp nfl``, ``pressbox fit nfl`` and ``pressbox calibrate nfl``.

The NFL win-probability model at the command line: answer one situation (with fourth-down
decision support) or a stream of JSON lines, fit the model on GameCenter seasons, and score
it on held-out seasons next to its two baselines. File reading happens here;
:mod:`pressbox.engine.models.nfl` stays pure.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, BinaryIO

import numpy as np
import numpy.typing as npt
import orjson
import typer

from pressbox.cli.mlb_model import _plot as plot_reliability
from pressbox.engine.models import nfl
from pressbox.engine.models.base import fit_logistic, logistic, score_predictions
from pressbox.errors import FeedParseError
from pressbox.feeds import nflgc


def _load(model: Path | None) -> nfl.NflModel:
    try:
        return nfl.load(model)
    except OSError as exc:
        raise typer.BadParameter(f"cannot read {model}: {exc.strerror}") from exc
    except ValueError as exc:
        raise typer.BadParameter(f"{model}: {exc}") from exc


def _clock(value: str | int | float) -> int:
    """Seconds from ``"12:34"``, ``"0:07"``, ``":07"`` or a number of seconds."""
    if isinstance(value, int | float):
        seconds = int(value)
    else:
        text = value.strip()
        minutes, sep, secs = text.partition(":")
        try:
            seconds = int(minutes or 0) * 60 + int(secs) if sep else int(text)
        except ValueError as exc:
            raise ValueError(f"bad clock {value!r} (use M:SS)") from exc
    if not 0 <= seconds <= 900:
        raise ValueError(f"clock {value!r} is outside 0:00-15:00")
    return seconds


def _situation(data: dict[str, Any]) -> dict[str, Any]:
    """Validate one situation (CLI options or a batch line) into ``home_wp`` arguments."""
    quarter = int(data["quarter"])
    if not 1 <= quarter <= 10:
        raise ValueError(f"quarter {quarter} does not exist")
    possession = data.get("possession", "home")
    if possession not in ("home", "away"):
        raise ValueError("possession must be 'home' or 'away'")
    down = data.get("down")
    down = None if down in (None, 0) else int(down)
    if down is not None and not 1 <= down <= 4:
        raise ValueError(f"down {down} does not exist")
    yard_line = int(data.get("yardline", data.get("yard_line", 25)))
    if not 1 <= yard_line <= 99:
        raise ValueError("yardline must be 1-99 (yards from the possessing team's own goal)")
    distance = data.get("distance")
    if down is not None:
        distance = int(distance if distance is not None else 10)
        if not 1 <= distance <= 99:
            raise ValueError("distance must be 1-99")
    home, away = int(data.get("home", 0)), int(data.get("away", 0))
    if home < 0 or away < 0:
        raise ValueError("scores cannot be negative")
    timeouts = {}
    for key in ("home_timeouts", "away_timeouts"):
        value = data.get(key)
        if value is not None and not 0 <= int(value) <= 3:
            raise ValueError(f"{key} must be 0-3")
        timeouts[key] = None if value is None else int(value)
    return {
        "quarter": quarter,
        "clock_seconds": _clock(data.get("clock", "15:00")),
        "possession": possession,
        "down": down,
        "distance": distance if down is not None else None,
        "yard_line": yard_line,
        "home_score": home,
        "away_score": away,
        "elo_diff": float(data.get("elo_diff", 0.0)),
        "postseason": bool(data.get("postseason", False)),
        "neutral": bool(data.get("neutral", False)),
        **timeouts,
    }


def _answer(model: nfl.NflModel, args: dict[str, Any]) -> dict[str, Any]:
    kwargs = dict(args)
    positional = [
        kwargs.pop(k)
        for k in (
            "quarter",
            "clock_seconds",
            "possession",
            "down",
            "distance",
            "yard_line",
            "home_score",
            "away_score",
        )
    ]
    p = model.home_wp(*positional, **kwargs)
    return {"home_wp": p, "away_wp": 1.0 - p}


def _fourth_down(model: nfl.NflModel, args: dict[str, Any]) -> nfl.FourthDown:
    home = args["possession"] == "home"
    diff = args["home_score"] - args["away_score"]
    to = 0
    if args["home_timeouts"] is not None and args["away_timeouts"] is not None:
        to = args["home_timeouts"] - args["away_timeouts"]
    return model.fourth_down(
        float(nfl.seconds_left(args["quarter"], args["clock_seconds"])),
        diff if home else -diff,
        args["distance"],
        args["yard_line"],
        home=home,
        elo=args["elo_diff"] if home else -args["elo_diff"],
        to_diff=to if home else -to,
    )


def run_batch(model: nfl.NflModel, source: BinaryIO, sink: BinaryIO) -> int:
    """Answer JSON lines of situations with ``{"home_wp": p}`` lines.

    A line that cannot be read gets ``{"error": reason}``; the stream goes on.

    Returns:
        How many lines got an error.
    """
    errors = 0
    for raw in source:
        if not raw.strip():
            continue
        try:
            data = orjson.loads(raw)
            out: dict[str, Any] = (
                {"home_wp": _answer(model, _situation(data))["home_wp"]}
                if isinstance(data, dict)
                else {"error": "a line must be a JSON object"}
            )
            errors += "error" in out
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            errors += 1
            reason = f"missing field {exc}" if isinstance(exc, KeyError) else str(exc)
            out = {"error": reason}
        sink.write(orjson.dumps(out) + b"\n")
    sink.flush()
    return errors


def wp_nfl(
    quarter: Annotated[int, typer.Option(help="Quarter, 1-4; 5 and later for overtime.")] = 1,
    clock: Annotated[str, typer.Option(help="Clock left in the quarter, M:SS.")] = "15:00",
    possession: Annotated[str, typer.Option(help="Who has the ball: home or away.")] = "home",
    down: Annotated[int | None, typer.Option(help="Down 1-4; omit for a kickoff or try.")] = None,
    distance: Annotated[int | None, typer.Option(help="Yards to go.")] = None,
    yardline: Annotated[
        int, typer.Option(help="Yards from the possessing team's own goal line, 1-99.")
    ] = 25,
    home: Annotated[int, typer.Option(help="Home score.")] = 0,
    away: Annotated[int, typer.Option(help="Away score.")] = 0,
    home_timeouts: Annotated[int | None, typer.Option(help="Home timeouts left.")] = None,
    away_timeouts: Annotated[int | None, typer.Option(help="Away timeouts left.")] = None,
    home_team: Annotated[
        str | None, typer.Option(help="Home team code (Elo from the model's ratings).")
    ] = None,
    away_team: Annotated[str | None, typer.Option(help="Away team code.")] = None,
    elo_diff: Annotated[
        float | None, typer.Option(help="Home minus away Elo (instead of team codes).")
    ] = None,
    postseason: Annotated[bool, typer.Option(help="Playoff overtime rules.")] = False,
    neutral: Annotated[bool, typer.Option(help="Neutral field: no home advantage.")] = False,
    model: Annotated[Path | None, typer.Option(help="Model file (default: shipped).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    batch: Annotated[
        bool, typer.Option(help="Read JSON lines of situations on stdin, answer each.")
    ] = False,
) -> None:
    """NFL win probability for one situation, with fourth-down decision support."""
    fitted = _load(model)
    if batch:
        errors = run_batch(fitted, sys.stdin.buffer, sys.stdout.buffer)
        raise typer.Exit(1 if errors else 0)
    elo = elo_diff
    if elo is None:
        elo = 0.0
        if home_team or away_team:
            elo = fitted.ratings.get((home_team or "").upper(), nfl.ELO_START) - (
                fitted.ratings.get((away_team or "").upper(), nfl.ELO_START)
            )
    try:
        args = _situation(
            {
                "quarter": quarter,
                "clock": clock,
                "possession": possession,
                "down": down,
                "distance": distance,
                "yardline": yardline,
                "home": home,
                "away": away,
                "home_timeouts": home_timeouts,
                "away_timeouts": away_timeouts,
                "elo_diff": elo,
                "postseason": postseason,
                "neutral": neutral,
            }
        )
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    answer: dict[str, Any] = _answer(fitted, args)
    answer["model"] = f"{fitted.name}/{fitted.version}"
    answer["elo_diff"] = elo
    fourth = _fourth_down(fitted, args) if args["down"] == 4 else None
    if fourth is not None:
        answer["fourth_down"] = fourth.to_dict()
    if as_json:
        sys.stdout.buffer.write(orjson.dumps(answer) + b"\n")
        return
    typer.echo(f"home WP {answer['home_wp']:.3f}  away WP {answer['away_wp']:.3f}")
    if fourth is not None:
        side = "home" if args["possession"] == "home" else "away"
        typer.echo(f"fourth down ({side} offense WP {fourth.offense_wp:.3f}):")
        typer.echo(f"  go for it    {fourth.go:.3f}  (converts {fourth.convert:.0%})")
        if fourth.field_goal is not None and fourth.make is not None:
            typer.echo(f"  field goal   {fourth.field_goal:.3f}  (makes {fourth.make:.0%})")
        if fourth.punt is not None:
            typer.echo(f"  punt         {fourth.punt:.3f}")
        typer.echo(f"  call: {fourth.recommendation} by {fourth.margin:.3f} WP")


def _schedule(paths: Sequence[Path], schedule: Path | None) -> dict[str, str]:
    candidates = [schedule] if schedule else []
    for path in paths:
        candidates += [path / "schedule.json", path.parent / "schedule.json"]
    for candidate in candidates:
        if candidate is not None and candidate.is_file():
            return nflgc.read_schedule(candidate)
    return {}


def read_games(
    paths: Sequence[Path], schedule: Path | None = None
) -> tuple[list[nfl.Game], list[str]]:
    """Read every ``<eid>.json.gz`` under the given folders (or the files themselves).

    Args:
        paths: Season folders or single game files.
        schedule: ``schedule.json`` with season types; by default one is looked for next
            to and above the folders. Without one every game is taken as regular season.

    Returns:
        The games and the problems met (a file that cannot be read is skipped).
    """
    season_types = _schedule(paths, schedule)
    games: list[nfl.Game] = []
    problems: list[str] = []
    files: list[Path] = []
    for path in paths:
        files += sorted(path.glob("*.json.gz")) if path.is_dir() else [path]
    for file in files:
        eid = file.name.split(".")[0]
        kind = season_types.get(eid, "REG")
        try:
            events = nflgc.read_game(file, season_type=kind)
        except FeedParseError as exc:
            problems.append(str(exc))
            continue
        games.append(nfl.Game(events=events, season=nfl.season_of(eid), postseason=kind == "POST"))
    return games, problems


def _read_or_fail(paths: Sequence[Path], schedule: Path | None) -> list[nfl.Game]:
    games, problems = read_games(paths, schedule)
    for problem in problems:
        typer.echo(f"pressbox: skipped {problem}", err=True)
    if not games:
        raise typer.BadParameter(f"no GameCenter games under {', '.join(map(str, paths))}")
    return games


def fit_nfl(
    data: Annotated[list[Path], typer.Argument(help="Season folders of <eid>.json.gz files.")],
    out: Annotated[Path, typer.Option(help="Where to write the model (.npz).")],
    elo_data: Annotated[
        list[Path] | None,
        typer.Option(help="More seasons whose results feed the Elo ratings only."),
    ] = None,
    schedule: Annotated[Path | None, typer.Option(help="schedule.json (season types).")] = None,
    iterations: Annotated[int, typer.Option(help="Boosting iterations.", min=10)] = 100,
) -> None:
    """Fit the NFL model on GameCenter seasons and write it."""
    games = _read_or_fail(data, schedule)
    elo_games = games + (_read_or_fail(elo_data, schedule) if elo_data else [])
    params = nfl.fit(games, elo_games=elo_games, max_iter=iterations)
    blob = params.to_bytes()
    out.write_bytes(blob)
    typer.echo(
        f"fitted {params.meta['name']}/{params.meta['version']} on "
        f"{params.meta['n_games']} games, {params.meta['n_plays']} plays: {out} "
        f"({len(blob) // 1024} KiB)",
        err=True,
    )


def _scores(predicted: npt.NDArray[np.float64], actual: npt.NDArray[np.float64]) -> dict[str, Any]:
    s = score_predictions(predicted, actual)
    return {"brier": s.brier, "log_loss": s.log_loss, "ece": s.ece}


def _ece_interval(
    predicted: npt.NDArray[np.float64],
    actual: npt.NDArray[np.float64],
    game: npt.NDArray[np.float64],
    *,
    resamples: int = 200,
    seed: int = 0,
) -> tuple[float, float]:
    """A 90 % interval of the ECE from resampling whole games (seeded, reproducible).

    Every play of a game shares its result, so a season of plays is only as many
    independent outcomes as it has games; the interval shows how much of an ECE is the
    draw of those games.
    """
    index = game.astype(np.int64)
    by_game = [np.flatnonzero(index == g) for g in range(int(index.max()) + 1)]
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(resamples):
        pick = rng.integers(0, len(by_game), len(by_game))
        rows = np.concatenate([by_game[g] for g in pick])
        values.append(score_predictions(predicted[rows], actual[rows]).ece)
    low, high = np.percentile(values, [5.0, 95.0])
    return float(low), float(high)


def _sibling_seasons(test: Sequence[Path]) -> list[Path]:
    """Folders of games beside the test folders, the test folders left out."""
    tests = {path.resolve() for path in test}
    found: set[Path] = set()
    for path in test:
        if not path.is_dir():
            continue
        for sibling in path.resolve().parent.iterdir():
            if sibling.is_dir() and sibling not in tests and any(sibling.glob("*.json.gz")):
                found.add(sibling)
    return sorted(found)


def calibrate_nfl(
    test: Annotated[list[Path], typer.Option(help="Held-out season folders.")],
    train: Annotated[
        list[Path] | None,
        typer.Option(
            help="Training season folders (default: the other season folders beside --test)."
        ),
    ] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the report here.")] = None,
    plot: Annotated[Path | None, typer.Option(help="Write a reliability plot (PNG).")] = None,
    schedule: Annotated[Path | None, typer.Option(help="schedule.json (season types).")] = None,
    iterations: Annotated[int, typer.Option(help="Boosting iterations.", min=10)] = 100,
    inner_folds: Annotated[
        int,
        typer.Option(
            help="Also score the fit by grouped cross-validation inside the training games "
            "(this many folds of games; 0: not).",
            min=0,
        ),
    ] = 0,
) -> None:
    """Fit on --train, then score the model and both baselines on --test in one run.

    Without ``--train`` the model is fitted on the other season folders beside the test
    folders (leave one season out). The baselines are fitted on the same training plays:
    the home-win rate as a constant, and the published broadcast formula
    (``0.12·sd + 0.15·sd·progress + …``, see
    :func:`pressbox.engine.models.nfl.published_features`) refit by maximum likelihood.
    Elo ratings run through training and test games in date order, so a test game's
    ratings only know the results before it. With ``--inner-folds`` the report also has
    ``inner_cv``: the same fit scored by grouped cross-validation inside the training
    games (:func:`pressbox.engine.models.nfl.cross_validate`), the figure the model's
    choices are made on.
    """
    if not train:
        train = _sibling_seasons(test)
        if not train:
            raise typer.BadParameter("no --train given and no other season folder beside --test")
    train_games = _read_or_fail(train, schedule)
    if inner_folds and not 2 <= inner_folds <= len(train_games):
        raise typer.BadParameter(f"--inner-folds must be 2-{len(train_games)} (or 0)")
    test_games = _read_or_fail(test, schedule)
    train_ids = {g.events[0].game_id for g in train_games}
    test_games = [g for g in test_games if g.events[0].game_id not in train_ids]
    if not test_games:
        raise typer.BadParameter("every test game is also a training game")
    every = train_games + test_games
    params = nfl.fit(train_games, elo_games=every, max_iter=iterations)
    model = nfl.NflModel(params)
    strength = nfl.pregame_strength(nfl.game_results(every))
    train_rows = nfl.build_rows(train_games, strength.elo, strength.home_edge)
    rows = nfl.build_rows(test_games, strength.elo, strength.home_edge)
    y = rows["result"]

    predicted = nfl.predict_rows(model, rows)
    without_elo = nfl.predict_rows(model, rows, elo=False)
    constant = float(np.mean(train_rows["result"]))
    coef = fit_logistic(nfl.published_features(train_rows), train_rows["result"])
    published = logistic(nfl.published_features(rows) @ coef)
    flat = np.full_like(y, constant)

    overall = score_predictions(predicted, y)
    ece_low, ece_high = _ece_interval(predicted, y, rows["game"])
    report: dict[str, Any] = {
        "model": f"{params.meta['name']}/{params.meta['version']}",
        "train": sorted({g.season for g in train_games}),
        "test": sorted({g.season for g in test_games}),
        "n_plays": overall.n,
        "n_games": len(rows.game_ids),
        "brier": overall.brier,
        "log_loss": overall.log_loss,
        "ece": overall.ece,
        "ece_interval": [ece_low, ece_high],
        "bins": overall.to_dict()["bins"],
        "baselines": {
            "constant": {**_scores(flat, y), "home_win_rate": constant},
            "published_logistic": {
                **_scores(published, y),
                "coefficients": dict(
                    zip(
                        ("intercept", "score_diff", "score_diff_progress", "poss", "poss_field"),
                        (float(c) for c in coef),
                        strict=True,
                    )
                ),
            },
        },
        "without_elo": _scores(without_elo, y),
        "by_quarter": {},
    }
    if inner_folds:
        inner_p, inner_y = nfl.cross_validate(
            train_games, elo_games=every, folds=inner_folds, max_iter=iterations
        )
        report["inner_cv"] = {"folds": inner_folds, **_scores(inner_p, inner_y)}
    quarter = rows["quarter"]
    for label, mask in (
        ("1", quarter == 1),
        ("2", quarter == 2),
        ("3", quarter == 3),
        ("4", quarter == 4),
        ("OT", quarter >= 5),
    ):
        if not mask.any():
            continue
        report["by_quarter"][label] = {
            "n_plays": int(mask.sum()),
            "model": _scores(predicted[mask], y[mask]),
            "constant": _scores(flat[mask], y[mask]),
            "published_logistic": _scores(published[mask], y[mask]),
        }
    base = report["baselines"]
    report["beats_baselines"] = bool(
        overall.brier < base["constant"]["brier"]
        and overall.brier < base["published_logistic"]["brier"]
    )
    blob = orjson.dumps(report, option=orjson.OPT_INDENT_2)
    if plot is not None:
        curves = {
            "model": predicted,
            "model without Elo": without_elo,
            "published logistic, refit": published,
            f"constant ({constant:.3f})": flat,
        }
        title = f"{report['model']}, trained {report['train']}, tested {report['test']}"
        plot_reliability(curves, y, plot, title, 10)
    if json_out is not None:
        json_out.write_bytes(blob + b"\n")
    typer.echo(
        f"test {report['test']} ({report['n_games']} games, {report['n_plays']} plays): "
        f"model Brier {overall.brier:.4f}, log loss {overall.log_loss:.4f}, "
        f"ECE {overall.ece:.4f} (games resampled: {ece_low:.3f}-{ece_high:.3f}); "
        f"constant {base['constant']['brier']:.4f}; "
        f"published logistic {base['published_logistic']['brier']:.4f}",
        err=True,
    )


def register(app: typer.Typer, groups: dict[str, typer.Typer]) -> None:
    """Add ``wp nfl``, ``fit nfl`` and ``calibrate nfl``."""
    del app
    groups["wp"].command("nfl")(wp_nfl)
    groups["fit"].command("nfl")(fit_nfl)
    groups["calibrate"].command("nfl")(calibrate_nfl)
