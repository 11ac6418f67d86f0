"""The timed model: answers as the model does and counts each call's duration."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pressbox.bench.timing import TimedModel, write_stats
from pressbox.engine.events import BaseballSituation, GameInfo, GameState, WinProbability
from pressbox.engine.models import mlb
from pressbox.engine.models.base import prior_model


class _Model:
    name = "fake"
    version = "1"

    def win_probability(self, state: GameState) -> WinProbability:
        del state
        return WinProbability(home=0.6, away=0.4)

    def leverage(self, state: GameState) -> float:
        del state
        return 1.5

    def fourth_down(self) -> str:
        return "go"


def test_timed_model_delegates_and_counts(tmp_path: Path) -> None:
    """Each call is answered by the wrapped model and counted once per method."""
    timed = TimedModel(_Model())
    state = GameState(sport="mlb", game_id="g")
    assert timed.win_probability(state).home == 0.6
    assert timed.win_probability(state).away == 0.4
    assert timed.leverage(state) == 1.5
    assert (timed.name, timed.version, timed.fourth_down()) == ("fake", "1", "go")
    out = tmp_path / "wp.json"
    write_stats(timed, out)
    saved = json.loads(out.read_text())
    assert sum(saved["win_probability"].values()) == 2
    assert sum(saved["leverage"].values()) == 1


def test_timed_model_hands_the_prior_on_when_the_model_takes_one() -> None:
    """A processor's prior reaches the shipped model through the timing proxy, and a model
    that takes none is asked without it."""
    model = mlb.load()
    state = GameState(
        sport="mlb",
        game_id="g",
        status="live",
        info=GameInfo(home="H", away="A", date="2015-04-10"),
        situation=BaseballSituation(inning=1, half="top", outs=0, bases=(None, None, None)),
    )
    timed = TimedModel(model)
    assert prior_model(timed) is not None
    assert timed.win_probability(state, 0.7) == model.win_probability(state, 0.7)
    assert timed.win_probability(state, 0.7).home == pytest.approx(0.7, abs=1e-6)
    assert timed.win_probability(state).home != pytest.approx(0.7, abs=1e-3)
    assert TimedModel(_Model()).win_probability(state, 0.7).home == 0.6
