"""The per-game context register every event-log backend keeps (memory:// and redis://)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from pressbox.bus import EventBus
from pressbox.bus.memory import MemoryBus
from pressbox.errors import BackendUnavailable

pytestmark = pytest.mark.anyio


async def test_unknown_context_reads_none(bus: EventBus) -> None:
    """Nothing put for a game and kind reads as None."""
    assert await bus.get_context("G1", "matchup") is None


async def test_put_then_get_round_trips_bytes(bus: EventBus) -> None:
    """A blob comes back byte for byte, including non-UTF-8 bytes."""
    blob = b'{"available": true}' + bytes(range(256))
    await bus.put_context("G1", "matchup", blob)
    assert await bus.get_context("G1", "matchup") == blob


async def test_a_put_replaces_the_previous_blob(bus: EventBus) -> None:
    """The register keeps only the latest blob of a game and kind."""
    await bus.put_context("G1", "matchup", b"first")
    await bus.put_context("G1", "matchup", b"second")
    assert await bus.get_context("G1", "matchup") == b"second"


async def test_games_and_kinds_are_independent(bus: EventBus) -> None:
    """Each (game, kind) has its own blob; contexts are not streams."""
    await bus.put_context("G1", "matchup", b"g1 matchup")
    await bus.put_context("G1", "weather", b"g1 weather")
    await bus.put_context("G2", "matchup", b"g2 matchup")
    assert await bus.get_context("G1", "matchup") == b"g1 matchup"
    assert await bus.get_context("G1", "weather") == b"g1 weather"
    assert await bus.get_context("G2", "matchup") == b"g2 matchup"
    assert await bus.get_context("G2", "weather") is None
    assert await bus.streams() == []


async def test_context_survives_deleting_the_games_streams(bus: EventBus) -> None:
    """Deleting a game's event stream leaves its context alone."""
    await bus.append("events:G1", b"x", key="k")
    await bus.put_context("G1", "matchup", b"kept")
    await bus.delete("events:G1")
    assert await bus.get_context("G1", "matchup") == b"kept"


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda bus: bus.put_context("", "matchup", b"x"), ValueError),
        (lambda bus: bus.put_context("G1", "", b"x"), ValueError),
        (lambda bus: bus.put_context(1, "matchup", b"x"), TypeError),
        (lambda bus: bus.put_context("G1", "matchup", "not bytes"), TypeError),
        (lambda bus: bus.get_context("G1", None), TypeError),
    ],
)
async def test_bad_arguments_are_refused(
    bus: EventBus, call: Callable[[Any], Awaitable[object]], error: type[Exception]
) -> None:
    """Wrong types and values raise TypeError or ValueError, and the kept blob stays."""
    await bus.put_context("G1", "matchup", b"kept")
    with pytest.raises(error):
        await call(bus)
    assert await bus.get_context("G1", "matchup") == b"kept"


async def test_closed_bus_refuses_context_calls(bus: EventBus) -> None:
    """After aclose, context calls fail as unavailable, like every other call."""
    await bus.aclose()
    with pytest.raises(BackendUnavailable):
        await bus.put_context("G1", "matchup", b"x")
    with pytest.raises(BackendUnavailable):
        await bus.get_context("G1", "matchup")


async def test_memory_context_is_bounded() -> None:
    """The in-process register drops the least recently put blob past max_contexts."""
    async with MemoryBus(max_contexts=2) as bus:
        await bus.put_context("G1", "matchup", b"1")
        await bus.put_context("G2", "matchup", b"2")
        await bus.put_context("G1", "matchup", b"1 again")
        await bus.put_context("G3", "matchup", b"3")
        assert await bus.get_context("G2", "matchup") is None
        assert await bus.get_context("G1", "matchup") == b"1 again"
        assert await bus.get_context("G3", "matchup") == b"3"
