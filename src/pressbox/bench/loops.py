"""The event loop of a benchmark process: uvloop where it is installed, as servers run.

:func:`run` is ``asyncio.run`` with a choice of loop: ``"auto"`` (uvloop when importable,
else asyncio's), ``"uvloop"`` or ``"asyncio"``. uvicorn picks uvloop by itself only when it
creates the loop; the benchmark's processes create their own (they run several things
under one loop), so they choose it here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, Literal, TypeVar

LoopName = Literal["auto", "uvloop", "asyncio"]
"""Which event loop a process runs."""

LOOPS: tuple[str, ...] = ("auto", "uvloop", "asyncio")

_T = TypeVar("_T")


def loop_factory(name: str) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """The loop factory for ``name`` (``None``: asyncio's default).

    Raises:
        ValueError: An unknown name, or ``"uvloop"`` where uvloop is not installed.
    """
    if name not in LOOPS:
        raise ValueError(f"loop must be one of {', '.join(LOOPS)}, not {name!r}")
    if name == "asyncio":
        return None
    try:
        import uvloop
    except ImportError as exc:
        if name == "uvloop":
            raise ValueError("uvloop is not installed") from exc
        return None
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


def run(main: Coroutine[Any, Any, _T], loop: str = "auto") -> _T:
    """Run ``main`` to completion on a new loop of the chosen kind, like ``asyncio.run``."""
    with asyncio.Runner(loop_factory=loop_factory(loop)) as runner:
        return runner.run(main)
