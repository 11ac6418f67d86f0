"""A full nine-inning game polled through 30 % mixed upstream faults gives the same event
stream as without faults: no play lost, none duplicated, corrections applied, nothing
escapes, stale answers marked with their age.

The simulated upstream runs on loopback, its replay and the poller's pacing on one manual
clock (each poll's sleep moves the clock, and so the game), so the run is deterministic
for the seed and takes seconds of real time.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import httpx
import msgspec
import pytest
from prometheus_client import CollectorRegistry
from structlog.testing import capture_logs

from pressbox.engine.events import GameState, PlayEvent
from pressbox.engine.state import GameMachine
from pressbox.feeds.http import RetryPolicy
from pressbox.feeds.poller import GamePoller, PollResult, statsapi_client
from pressbox.feeds.upstream import run_upstream
from pressbox.feeds.upstream.data import UpstreamData, load_data
from pressbox.resilience.clock import ManualClock
from tests.conftest import SAMPLE_RETROSHEET

pytestmark = pytest.mark.anyio

ANA_PK = 13798201504100
"""``ANA201504100``: KCA 4 at ANA 2, nine innings."""

CONNECTION_FAULTS = {
    "error500": 0.08,
    "error503": 0.05,
    "error429": 0.05,
    "timeout": 0.04,
    "reset": 0.04,
    "truncate": 0.04,
}
"""Faults that make a request fail: 30 % of requests in all, six different ways."""

FAULTS = (
    "error500=0.08,error503=0.05,error429=1s:0.05,timeout=2s:0.04,reset=0.04,truncate=0.04,"
    "latency=20ms:0.05,drift=0.03,dup=0.05,reorder=0.05,stall=20s:0.02,correction=30s:0.03"
)
"""The connection faults above plus content faults: late answers, schema drift,
duplicated and swapped plays, a frozen game, rescored plays."""


@dataclass
class Run:
    """What one poll of the whole game gave."""

    events: list[PlayEvent]
    results: list[PollResult]
    requests: int
    failed_requests: int
    fired: dict[str, int]
    errors: dict[str, int]


@pytest.fixture(scope="module")
def sample() -> UpstreamData:
    """The bundled Retrosheet games, loaded once."""
    return load_data([SAMPLE_RETROSHEET])


async def _poll_game(sample: UpstreamData, faults: str, seed: int) -> Run:
    clock = ManualClock()
    events: list[PlayEvent] = []
    results: list[PollResult] = []

    async def publish(event: PlayEvent) -> None:
        events.append(event)

    async def sleep(seconds: float) -> None:
        clock.advance(seconds)
        await asyncio.sleep(0)

    # Retry-After is never waited for inside the client here, so the poller must honour it.
    retry = RetryPolicy(attempts=2, wait_initial=0.0, wait_jitter=0.0, max_retry_after=0.0)
    async with (
        run_upstream(
            sample, speed=3.0, clock=clock, date="2015-04-10", faults=faults, seed=seed
        ) as base,
        statsapi_client(
            base,
            clock=clock,
            retry=retry,
            timeout=httpx.Timeout(0.25),
            registry=CollectorRegistry(),
        ) as client,
    ):
        poller = GamePoller(client, ANA_PK, publish, clock=clock, sleep=sleep)
        for _ in range(5000):
            result = await poller.poll_once()
            results.append(result)
            if poller.final:
                break
            await sleep(result.next_in)
        async with httpx.AsyncClient() as plain:
            health = (await plain.get(f"{base}/pressbox/health")).json()
    fired: dict[str, int] = health["faultCounts"]
    failed = sum(fired.get(kind, 0) for kind in CONNECTION_FAULTS)
    return Run(events, results, health["requests"], failed, fired, poller.stats.errors)


def _replay(events: list[PlayEvent]) -> tuple[GameState, list[PlayEvent]]:
    machine = GameMachine("mlb", str(ANA_PK))
    for event in events:
        machine.apply(event)
    return machine.state, machine.events


def _content(event: PlayEvent) -> PlayEvent:
    return msgspec.structs.replace(event, seq=0, event_id="", corrects=None)


async def test_thirty_percent_faults_give_the_fault_free_stream(sample: UpstreamData) -> None:
    """Through 30 % failing requests and content faults, the poller's stream, with its
    corrections applied, is the fault-free stream: same ids in order, same final state."""
    clean = await _poll_game(sample, "", 0)
    with capture_logs() as logs:
        faulty = await _poll_game(sample, FAULTS, seed=11)

    assert clean.failed_requests == 0
    assert all(r.ok for r in clean.results)
    assert not any(e.corrects for e in clean.events)
    assert clean.events[-1].kind == "game_end"

    # The faults really happened: 30 % of requests were drawn to fail (about 500 requests,
    # so the drawn share lies within a few points of it), polls failed and were retried.
    assert sum(CONNECTION_FAULTS.values()) == pytest.approx(0.30)
    assert faulty.failed_requests / faulty.requests >= 0.22
    assert sum(not r.ok for r in faulty.results) > 10
    assert set(CONNECTION_FAULTS) <= set(faulty.fired)
    assert {"dup", "reorder", "drift", "correction"} <= set(faulty.fired)
    # Which failures reach a poll (rather than being retried away) depends on the draws;
    # several kinds always do.
    assert len(faulty.errors) >= 2

    # No play lost, none duplicated, in the same order.
    ids = [e.event_id for e in faulty.events]
    assert len(ids) == len(set(ids))
    originals = [e.event_id for e in faulty.events if e.corrects is None]
    assert originals == [e.event_id for e in clean.events]

    # Corrections came through as corrections of events already published, and applying
    # them gives the fault-free history and final state.
    corrections = [e for e in faulty.events if e.corrects is not None]
    assert corrections
    seen: set[str] = set()
    for event in faulty.events:
        assert event.corrects is None or event.corrects in seen
        seen.add(event.event_id)
    clean_state, clean_history = _replay(clean.events)
    faulty_state, faulty_history = _replay(faulty.events)
    assert msgspec.structs.replace(faulty_state, seq=0) == msgspec.structs.replace(
        clean_state, seq=0
    )
    assert [_content(e) for e in faulty_history] == [_content(e) for e in clean_history]
    assert (faulty_state.home_score, faulty_state.away_score) == (2, 4)
    assert faulty_state.status == "final"

    # Nothing escaped: every failure was logged as a failed poll, none as a crash.
    assert not [log for log in logs if log["event"] == "poll.crashed"]
    assert any(log["event"] == "poll.failed" for log in logs)

    # A Retry-After was honoured: the poll after a 429 came no sooner than it asked.
    limited = [r for r in faulty.results if "rate limit" in (r.reason or "")]
    assert limited
    assert all(r.next_in >= 1.0 for r in limited)

    # Stale answers, where the client served one, carried their age and moved nothing.
    for result in faulty.results:
        if result.stale_age is not None:
            assert not result.ok
            assert result.stale_age > 0
            assert not result.events
