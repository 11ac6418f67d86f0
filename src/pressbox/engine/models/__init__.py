"""Win-probability models, one module per sport, behind a ``sport -> model`` registry.

Each sport's module (``pressbox.engine.models.mlb``, ``...nfl``) defines
``load(source=None)``, which returns a fitted :class:`WinProbabilityModel`; ``source`` is
``None`` for the parameters shipped with the package, the bytes of a parameter file, or the
path of one. Modules are imported on first use, so a process that serves one sport never
builds another's tables.
"""

from __future__ import annotations

import importlib
import os

from pressbox.engine.models.base import WinProbabilityModel
from pressbox.types import SPORTS, Sport

__all__ = ["WinProbabilityModel", "get_model"]


def get_model(
    sport: Sport, path: str | os.PathLike[str] | bytes | None = None
) -> WinProbabilityModel:
    """Load the win-probability model of a sport.

    Args:
        sport: ``"mlb"``, ``"nfl"`` or ``"ncaaf"``.
        path: A fitted parameter file (its path or its bytes); ``None`` (default) loads the
            parameters shipped with pressbox.

    Returns:
        The model, ready to answer.

    Raises:
        ValueError: ``sport`` is not a sport pressbox knows.
        ModuleNotFoundError: No model is written for this sport yet.
    """
    if sport not in SPORTS:
        raise ValueError(f"unknown sport {sport!r} (known: {', '.join(SPORTS)})")
    module = importlib.import_module(f"{__name__}.{sport}")
    model: WinProbabilityModel = module.load(path)
    return model
