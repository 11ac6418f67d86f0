"""A win-probability model that times its calls, for the game-night report.

:class:`TimedModel` wraps the shipped model of a pipeline process (``Service(models=...)``)
and counts how long each ``win_probability`` and ``leverage`` call takes, in a histogram of
whole microseconds per method, which :func:`write_stats` saves as JSON for the
orchestrator. The processors and, in the embedded profile, the API's predictions call it.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from pressbox.engine.events import GameState, WinProbability
from pressbox.engine.models.base import WinProbabilityModel, prior_model


class TimedModel:
    """Delegates to ``model`` and times ``win_probability`` and ``leverage``.

    Args:
        model: The model to time.
    """

    def __init__(self, model: WinProbabilityModel) -> None:
        self._model = model
        self._with_prior = prior_model(model)
        self.hist: dict[str, dict[int, int]] = defaultdict(lambda: defaultdict(int))

    @property
    def name(self) -> str:
        """The wrapped model's name."""
        return self._model.name

    @property
    def version(self) -> str:
        """The wrapped model's version."""
        return self._model.version

    def win_probability(self, state: GameState, prior: float | None = None) -> WinProbability:
        """The wrapped model's answer at ``prior`` (when it takes one), timed."""
        start = time.perf_counter()
        try:
            if self._with_prior is not None:
                return self._with_prior.win_probability(state, prior)
            return self._model.win_probability(state)
        finally:
            self.hist["win_probability"][int((time.perf_counter() - start) * 1e6)] += 1

    def leverage(self, state: GameState) -> float:
        """The wrapped model's leverage, timed."""
        start = time.perf_counter()
        try:
            return self._model.leverage(state)
        finally:
            self.hist["leverage"][int((time.perf_counter() - start) * 1e6)] += 1

    def __getattr__(self, name: str) -> Any:
        # Other capabilities of the model (e.g. ``fourth_down``) pass through untimed.
        return getattr(self._model, name)


def write_stats(model: TimedModel, path: Path) -> None:
    """Save the model's histograms (microseconds → calls, by method) as JSON, atomically."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(model.hist))
    tmp.replace(path)
