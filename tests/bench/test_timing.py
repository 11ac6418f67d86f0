"""The timed model: answers as the model does and counts each call's duration."""

from __future__ import annotations

import json
from pathlib import Path

from pressbox.bench.timing import TimedModel, write_stats
from pressbox.engine.events import GameState, WinProbability


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
