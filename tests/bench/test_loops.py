"""The benchmark processes' event loop choice."""

from __future__ import annotations

import asyncio

import pytest

from pressbox.bench.loops import loop_factory, run


async def _loop_type() -> str:
    return type(asyncio.get_running_loop()).__module__


def test_the_loop_is_the_one_asked_for() -> None:
    """asyncio's loop on demand, uvloop's for auto and uvloop (it is a dependency)."""
    pytest.importorskip("uvloop")
    assert run(_loop_type(), "asyncio").startswith("asyncio")
    assert run(_loop_type(), "uvloop").startswith("uvloop")
    assert run(_loop_type(), "auto").startswith("uvloop")


def test_an_unknown_loop_is_refused() -> None:
    """A name outside auto, uvloop, asyncio is a ValueError naming the choices."""
    with pytest.raises(ValueError, match="auto, uvloop, asyncio"):
        loop_factory("trio")
