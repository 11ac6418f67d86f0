"""The ``pressbox`` command line.

Each module of this package adds its commands through ``register(app, groups)``; the
groups (``wp``, ``fit``, ``calibrate``, ``archive``, ``feed``, ``keys``, ``bench``) are
shared so that, for example, ``wp mlb`` and ``wp nfl`` live in different modules. The CLI
is the only part of pressbox that prints and the only one that configures logging.
"""

from __future__ import annotations

import importlib
import pkgutil

import typer

__all__ = ["app", "main"]

app = typer.Typer(
    name="pressbox",
    help="The live data backbone of a sports broadcast.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

_GROUPS = {
    "wp": "Win probability for a game state.",
    "fit": "Fit a win-probability model on real play-by-play.",
    "calibrate": "Score a model on held-out games.",
    "archive": "Read and re-run the archive.",
    "feed": "Work with captured upstream feed documents.",
    "keys": "Manage API keys.",
    "bench": "Benchmarks.",
}

groups: dict[str, typer.Typer] = {}
for _name, _help in _GROUPS.items():
    groups[_name] = typer.Typer(name=_name, help=_help, no_args_is_help=True)
    app.add_typer(groups[_name])

_registered = False


def _register() -> None:
    global _registered
    if _registered:
        return
    for module in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if module.name.startswith("_"):
            continue
        importlib.import_module(f"{__name__}.{module.name}").register(app, groups)
    _registered = True


def main() -> None:
    """Run the ``pressbox`` command."""
    _register()
    app()
