"""The contract every event-log backend keeps, run against memory:// and redis://."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import pytest

from pressbox.bus import EventBus, Trimmed
from pressbox.errors import BackendUnavailable
from tests.bus.conftest import ManualClock

pytestmark = pytest.mark.anyio

S = "events:G1"


async def _fill(bus: EventBus, n: int, stream: str = S, start: int = 1) -> list[int]:
    return await bus.append_many(
        stream, [(f"e{i}", f"payload {i}".encode()) for i in range(start, start + n)]
    )


async def test_append_numbers_entries_from_one(bus: EventBus) -> None:
    """Appends get 1, 2, 3... and the last seq follows."""
    assert await bus.last_seq(S) == 0
    assert [await bus.append(S, b"x", key=k) for k in ("a", "b", "c")] == [1, 2, 3]
    assert await bus.last_seq(S) == 3
    assert await bus.first_seq(S) == 1


async def test_append_is_idempotent_by_key(bus: EventBus) -> None:
    """The same key again returns the existing seq and appends nothing."""
    assert await bus.append(S, b"first", key="a") == 1
    assert await bus.append(S, b"second", key="b") == 2
    assert await bus.append(S, b"again", key="a") == 1
    entries = await bus.read(S)
    assert [(e.seq, e.key, e.payload) for e in entries] == [(1, "a", b"first"), (2, "b", b"second")]


async def test_append_many_keeps_order_and_dedups(bus: EventBus) -> None:
    """A batch is appended in order; keys already present or repeated keep one seq."""
    await bus.append(S, b"old", key="b")
    seqs = await bus.append_many(S, [("a", b"1"), ("b", b"2"), ("c", b"3"), ("a", b"4")])
    assert seqs == [2, 1, 3, 2]
    assert [e.key for e in await bus.read(S)] == ["b", "a", "c"]
    assert await bus.append_many(S, []) == []


async def test_payload_bytes_round_trip(bus: EventBus) -> None:
    """The bus stores payloads as opaque bytes, including non-UTF-8 ones."""
    payload = bytes(range(256))
    await bus.append(S, payload, key="bin")
    (entry,) = await bus.read(S)
    assert entry.payload == payload
    assert entry.stream == S
    assert entry.ts == pytest.approx(1_700_000_000.0)


async def test_read_a_range(bus: EventBus) -> None:
    """read starts at start_seq, honours limit and reads an unknown stream as empty."""
    await _fill(bus, 10)
    assert [e.seq for e in await bus.read(S, 4, limit=3)] == [4, 5, 6]
    assert [e.seq for e in await bus.read(S, 9)] == [9, 10]
    assert await bus.read(S, 11) == []
    assert await bus.read("events:nope") == []


async def test_streams_are_independent_and_discoverable(bus: EventBus) -> None:
    """Each stream has its own seqs; streams(prefix) lists the ones appended to."""
    await _fill(bus, 2, "events:A")
    await _fill(bus, 3, "events:B")
    await _fill(bus, 1, "updates:A")
    assert await bus.last_seq("events:A") == 2
    assert await bus.last_seq("events:B") == 3
    assert await bus.streams("events:") == ["events:A", "events:B"]
    assert await bus.streams() == ["events:A", "events:B", "updates:A"]


async def test_tail_yields_then_blocks_and_wakes(bus: EventBus) -> None:
    """A tail replays what is there, waits, and wakes for each new entry."""
    await _fill(bus, 2)
    got: list[int] = []
    have_two = anyio.Event()
    have_four = anyio.Event()

    async def reader() -> None:
        async for entry in bus.tail(S, 0):
            got.append(entry.seq)
            if len(got) == 2:
                have_two.set()
            if len(got) == 4:
                have_four.set()
                return

    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            tg.start_soon(reader)
            await have_two.wait()
            assert got == [1, 2]
            await bus.append(S, b"3", key="e3")
            await bus.append(S, b"4", key="e4")
            await have_four.wait()
    assert got == [1, 2, 3, 4]


async def test_tail_starts_after_the_given_seq(bus: EventBus) -> None:
    """tail(after_seq=n) starts at n + 1."""
    await _fill(bus, 5)
    with anyio.fail_after(10):
        async for entry in bus.tail(S, 3):
            assert entry.seq == 4
            break


async def test_trim_by_length_keeps_the_newest(bus: EventBus) -> None:
    """An exact trim keeps the newest entries; seqs and keys carry on."""
    await _fill(bus, 10)
    assert await bus.trim(S, max_len=4, exact=True) == 6
    assert await bus.first_seq(S) == 7
    assert [e.seq for e in await bus.read(S)] == [7, 8, 9, 10]
    assert await bus.last_seq(S) == 10
    assert await bus.append(S, b"dup of a trimmed one", key="e1") == 1
    assert await bus.append(S, b"new", key="e11") == 11


async def test_approximate_trim_keeps_at_least_max_len(bus: EventBus) -> None:
    """Without exact, a backend may keep more than max_len but never fewer."""
    await _fill(bus, 50)
    await bus.trim(S, max_len=20)
    entries = await bus.read(S)
    assert len(entries) >= 20
    assert entries[-1].seq == 50
    assert [e.seq for e in entries] == list(range(entries[0].seq, 51))


async def test_trim_by_age(bus: EventBus, clock: ManualClock) -> None:
    """Entries older than max_age_s are dropped, younger ones stay."""
    await _fill(bus, 3)
    clock.advance(100)
    await _fill(bus, 2, start=4)
    clock.advance(10)
    assert await bus.trim(S, max_age_s=3600) == 0
    assert await bus.trim(S, max_age_s=50) == 3
    assert [e.seq for e in await bus.read(S)] == [4, 5]
    assert await bus.trim(S, max_age_s=5) == 2
    assert await bus.read(S) == []
    assert await bus.first_seq(S) == 6
    assert await bus.last_seq(S) == 5


async def test_tail_from_a_trimmed_start_is_detected(bus: EventBus) -> None:
    """A reader that needs trimmed entries gets Trimmed with the oldest seq kept."""
    await _fill(bus, 10)
    await bus.trim(S, max_len=3, exact=True)
    with pytest.raises(Trimmed) as info:
        async for _ in bus.tail(S, 2):
            pass
    assert info.value.wanted == 3
    assert info.value.first_seq == 8
    with anyio.fail_after(10):
        async for entry in bus.tail(S, 7):
            assert entry.seq == 8
            break


async def test_delete_forgets_a_stream(bus: EventBus) -> None:
    """delete drops entries, keys and the stream's name."""
    await _fill(bus, 3)
    await bus.delete(S)
    assert await bus.last_seq(S) == 0
    assert await bus.streams() == []
    assert await bus.append(S, b"x", key="e1") == 1


async def test_group_delivers_each_entry_once(bus: EventBus) -> None:
    """Consumers of one group share the entries; each is pending until acknowledged."""
    await _fill(bus, 5)
    a = await bus.read_group("proc", "a", [S], count=2)
    b = await bus.read_group("proc", "b", [S], count=10)
    assert [e.seq for e in a] == [1, 2]
    assert [e.seq for e in b] == [3, 4, 5]
    assert await bus.read_group("proc", "a", [S]) == []
    pending = await bus.pending("proc", S)
    assert [(p.seq, p.consumer, p.deliveries) for p in pending] == [
        (1, "a", 1),
        (2, "a", 1),
        (3, "b", 1),
        (4, "b", 1),
        (5, "b", 1),
    ]
    assert await bus.ack("proc", S, [1, 2, 99]) == 2
    assert await bus.ack("proc", S, [1]) == 0
    assert [p.seq for p in await bus.pending("proc", S)] == [3, 4, 5]


async def test_groups_are_independent(bus: EventBus) -> None:
    """Another group gets every entry again, from the start of the stream."""
    await _fill(bus, 3)
    await bus.read_group("proc", "a", [S])
    assert [e.seq for e in await bus.read_group("archiver", "x", [S])] == [1, 2, 3]


async def test_group_reads_several_streams(bus: EventBus) -> None:
    """One read covers all the streams a consumer owns, in order within each."""
    await _fill(bus, 2, "events:A")
    await _fill(bus, 3, "events:B")
    got = await bus.read_group("proc", "a", ["events:A", "events:B", "events:C"])
    assert sorted((e.stream, e.seq) for e in got) == [
        ("events:A", 1),
        ("events:A", 2),
        ("events:B", 1),
        ("events:B", 2),
        ("events:B", 3),
    ]
    assert [e.seq for e in got if e.stream == "events:B"] == [1, 2, 3]


async def test_group_read_blocks_until_an_append(bus: EventBus) -> None:
    """A blocking group read wakes when an entry arrives."""
    got: list[int] = []

    async def reader() -> None:
        entries = await bus.read_group("proc", "a", [S], block_s=30)
        got.extend(e.seq for e in entries)

    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            tg.start_soon(reader)
            await anyio.wait_all_tasks_blocked()
            await bus.append(S, b"x", key="e1")
    assert got == [1]


async def test_group_read_returns_empty_when_nothing_comes(bus: EventBus) -> None:
    """A short blocking read with nothing new returns an empty list."""
    assert await bus.read_group("proc", "a", [S], block_s=0.05) == []


async def test_dead_consumers_entries_are_claimed(bus: EventBus) -> None:
    """Entries a dead consumer left pending move to a live one that claims them."""
    await _fill(bus, 4)
    assert [e.seq for e in await bus.read_group("proc", "dead", [S], count=3)] == [1, 2, 3]
    assert await bus.claim_pending("proc", "live", S, min_idle_s=3600) == []
    claimed = await bus.claim_pending("proc", "live", S, min_idle_s=0)
    assert [(e.seq, e.key) for e in claimed] == [(1, "e1"), (2, "e2"), (3, "e3")]
    assert [(p.consumer, p.deliveries) for p in await bus.pending("proc", S)] == [("live", 2)] * 3
    assert await bus.touch("proc", "dead", S, [1, 2, 3]) == []
    assert await bus.touch("proc", "live", S, [1, 3]) == [1, 3]
    assert await bus.ack("proc", S, [1, 2, 3]) == 3
    assert [e.seq for e in await bus.read_group("proc", "live", [S])] == [4]


async def test_claim_respects_count(bus: EventBus) -> None:
    """claim_pending takes at most count entries, oldest first."""
    await _fill(bus, 5)
    await bus.read_group("proc", "dead", [S])
    assert [e.seq for e in await bus.claim_pending("proc", "b", S, min_idle_s=0, count=2)] == [
        1,
        2,
    ]


async def test_trimmed_pending_entries_are_not_claimed(bus: EventBus) -> None:
    """A pending entry that was trimmed is dropped instead of claimed."""
    await _fill(bus, 5)
    await bus.read_group("proc", "dead", [S])
    await bus.trim(S, max_len=2, exact=True)
    claimed = await bus.claim_pending("proc", "live", S, min_idle_s=0)
    assert [e.seq for e in claimed] == [4, 5]


async def test_group_operations_on_unknown_groups(bus: EventBus) -> None:
    """Unknown groups have nothing pending, nothing to claim, ack or touch."""
    assert await bus.pending("nobody", S) == []
    assert await bus.claim_pending("nobody", "c", S, min_idle_s=0) == []
    assert await bus.ack("nobody", S, [1]) == 0
    assert await bus.touch("nobody", "c", S, [1]) == []


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda bus: bus.append(S, "text", key="k"), TypeError),
        (lambda bus: bus.append(S, b"x", key=7), TypeError),
        (lambda bus: bus.append(S, b"x", key=""), ValueError),
        (lambda bus: bus.append(7, b"x", key="k"), TypeError),
        (lambda bus: bus.append("", b"x", key="k"), ValueError),
        (lambda bus: bus.read(S, "1"), TypeError),
        (lambda bus: bus.read(S, 1, limit=0), ValueError),
        (lambda bus: bus.read_group("g", "c", S), TypeError),
        (lambda bus: bus.read_group("g", "", [S]), ValueError),
        (lambda bus: bus.trim(S, max_len=-1), ValueError),
        (lambda bus: bus.claim_pending("g", "c", S, min_idle_s="1"), TypeError),
    ],
)
async def test_bad_arguments_are_refused(
    bus: EventBus, call: Callable[[Any], Awaitable[object]], error: type[Exception]
) -> None:
    """Wrong types and values raise TypeError or ValueError, and nothing is appended."""
    await bus.append(S, b"kept", key="k0")
    with pytest.raises(error):
        await call(bus)
    assert [e.payload for e in await bus.read(S)] == [b"kept"]


async def test_a_bad_item_rejects_the_whole_batch(bus: EventBus) -> None:
    """append_many checks every item first: one bad item appends nothing."""
    await bus.append(S, b"kept", key="k0")
    with pytest.raises(TypeError):
        await bus.append_many(S, [("k1", b"ok"), ("k2", "not bytes")])  # type: ignore[list-item]
    assert await bus.last_seq(S) == 1


async def test_ping_and_close(bus: EventBus) -> None:
    """ping is true while open; after aclose it is false and calls fail as unavailable."""
    assert await bus.ping() is True
    await bus.aclose()
    await bus.aclose()
    assert await bus.ping() is False
    with pytest.raises(BackendUnavailable):
        await bus.append(S, b"x", key="k")


async def test_close_ends_a_blocked_tail(bus: EventBus) -> None:
    """Closing the bus ends readers blocked in tail instead of leaving them hanging."""
    ended = anyio.Event()

    async def reader() -> None:
        async for _ in bus.tail(S, 0):
            pass
        ended.set()

    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            tg.start_soon(reader)
            await anyio.wait_all_tasks_blocked()
            await bus.aclose()
            await ended.wait()


async def test_a_reader_that_falls_behind_a_trim_gets_trimmed(bus: EventBus) -> None:
    """A tail never skips silently: entries it got are contiguous, then Trimmed says where."""
    await _fill(bus, 600)
    got: list[int] = []
    with pytest.raises(Trimmed) as info:  # noqa: PT012 -- the trim happens mid-iteration
        async for entry in bus.tail(S, 0):
            got.append(entry.seq)
            if entry.seq == 1:
                await bus.trim(S, max_len=3, exact=True)
    assert got == list(range(1, len(got) + 1))
    assert info.value.wanted == len(got) + 1
    assert info.value.first_seq == 598


async def test_concurrent_writers_never_split_a_key(bus: EventBus) -> None:
    """Writers racing with overlapping keys get one seq per key and no gaps."""
    keys = [f"k{i}" for i in range(50)]
    results: list[tuple[list[str], list[int]]] = []

    async def writer(order: list[str]) -> None:
        for i in range(0, len(order), 5):
            batch = order[i : i + 5]
            results.append((batch, await bus.append_many(S, [(k, k.encode()) for k in batch])))

    async with anyio.create_task_group() as tg:
        tg.start_soon(writer, keys)
        tg.start_soon(writer, list(reversed(keys)))
    entries = await bus.read(S)
    assert [e.seq for e in entries] == list(range(1, 51))
    by_key = {e.key: e.seq for e in entries}
    assert sorted(by_key) == sorted(keys)
    for batch, seqs in results:
        assert seqs == [by_key[k] for k in batch]


async def test_long_reads_are_complete_and_ordered(bus: EventBus) -> None:
    """Reads longer than one backend round trip come back whole and in order."""
    for start in range(1, 2501, 500):
        await _fill(bus, 500, start=start)
    assert [e.seq for e in await bus.read(S)] == list(range(1, 2501))
    assert [e.seq for e in await bus.read(S, 700, limit=1500)] == list(range(700, 2200))


async def test_a_deleted_stream_can_be_read_by_a_group_again(bus: EventBus) -> None:
    """After delete, a group reads the new entries of the stream from its start."""
    await _fill(bus, 2)
    await bus.read_group("proc", "a", [S])
    await bus.delete(S)
    await bus.append(S, b"again", key="new")
    assert [(e.seq, e.key) for e in await bus.read_group("proc", "a", [S])] == [(1, "new")]
