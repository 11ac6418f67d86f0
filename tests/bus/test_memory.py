"""What only the in-process log does: its length bound and idle times on a manual clock."""

from __future__ import annotations

import pytest

from pressbox.bus.memory import MemoryBus
from tests.bus.conftest import ManualClock

pytestmark = pytest.mark.anyio

S = "events:G1"


async def test_streams_are_bounded_by_max_len() -> None:
    """Appending past max_len drops the oldest entries, like MAXLEN."""
    bus = MemoryBus(max_len=3)
    await bus.append_many(S, [(f"e{i}", b"x") for i in range(1, 6)])
    assert [e.seq for e in await bus.read(S)] == [3, 4, 5]
    assert await bus.first_seq(S) == 3


async def test_long_streams_compact_without_losing_order() -> None:
    """Dropping many entries keeps reads by seq correct after the list is compacted."""
    bus = MemoryBus(max_len=100)
    for start in range(0, 5000, 500):
        await bus.append_many(S, [(f"e{i}", str(i).encode()) for i in range(start, start + 500)])
    entries = await bus.read(S, 4950, limit=3)
    assert [(e.seq, e.payload) for e in entries] == [
        (4950, b"4949"),
        (4951, b"4950"),
        (4952, b"4951"),
    ]


async def test_claim_waits_for_min_idle(clock: ManualClock) -> None:
    """Entries are claimable only once idle for min_idle_s; touch resets the idle time."""
    bus = MemoryBus(clock=clock)
    await bus.append_many(S, [("a", b"1"), ("b", b"2")])
    await bus.read_group("proc", "a", [S])
    clock.advance(20)
    assert await bus.touch("proc", "a", S, [2]) == [2]
    clock.advance(15)
    assert [p.idle_s for p in await bus.pending("proc", S)] == [35, 15]
    claimed = await bus.claim_pending("proc", "b", S, min_idle_s=30)
    assert [e.seq for e in claimed] == [1]
    assert [p.consumer for p in await bus.pending("proc", S)] == ["b", "a"]


async def test_max_len_must_be_positive() -> None:
    """A zero bound is refused."""
    with pytest.raises(ValueError, match="max_len"):
        MemoryBus(max_len=0)
