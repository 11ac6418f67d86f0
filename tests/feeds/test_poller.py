"""The live poller against the simulated upstream on loopback, paced by a manual clock."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import httpx
import pytest
from prometheus_client import CollectorRegistry
from structlog.testing import capture_logs

from pressbox.engine.events import PlayEvent
from pressbox.errors import RateLimited
from pressbox.feeds import gumbo
from pressbox.feeds.http import ResilientClient, RetryPolicy, Unavailable
from pressbox.feeds.poller import (
    GamePoller,
    PollPolicy,
    discover,
    feed_wait,
    game_phase,
    ingest_from_upstream,
    next_interval,
    read_schedule,
    statsapi_client,
)
from pressbox.feeds.upstream import gumbo as upstream_gumbo
from pressbox.feeds.upstream import run_upstream
from pressbox.feeds.upstream.data import UpstreamData, load_data
from pressbox.resilience.clock import ManualClock
from tests.conftest import SAMPLE_RETROSHEET

pytestmark = pytest.mark.anyio

ANA_PK = 13798201504100
"""``ANA201504100``: KCA 4 at ANA 2, nine innings, alone on 2015-04-10."""

NO_RETRY = RetryPolicy(attempts=1, wait_initial=0.0, wait_max=0.0, wait_jitter=0.0)


@pytest.fixture(scope="module")
def sample() -> UpstreamData:
    """The bundled Retrosheet games, loaded once."""
    return load_data([SAMPLE_RETROSHEET])


def manual_sleep(clock: ManualClock) -> Callable[[float], Awaitable[None]]:
    """A sleep that moves the manual clock (and so the replay) instead of waiting."""

    async def sleep(seconds: float) -> None:
        clock.advance(seconds)
        await asyncio.sleep(0)

    return sleep


@asynccontextmanager
async def upstream_client(
    sample: UpstreamData,
    clock: ManualClock,
    *,
    faults: str = "",
    speed: float = 2.0,
    retry: RetryPolicy = NO_RETRY,
    transport: httpx.AsyncBaseTransport | None = None,
) -> AsyncIterator[ResilientClient]:
    """The upstream replaying 2015-04-10 on the manual clock, and a client for it."""
    async with (
        run_upstream(sample, speed=speed, clock=clock, date="2015-04-10", faults=faults) as base,
        statsapi_client(
            base,
            clock=clock,
            retry=retry,
            timeout=httpx.Timeout(1.0),
            registry=CollectorRegistry(),
            transport=transport,
        ) as client,
    ):
        yield client


def final_events(sample: UpstreamData, pk: int = ANA_PK) -> list[PlayEvent]:
    """The events of a game's final document, read at once."""
    mg = sample.games[pk]
    doc = upstream_gumbo.feed_document(mg, sample, upstream_gumbo.final_point(mg))
    return list(gumbo.read_document(doc).events)


def _doc(
    state: str = "Live", detailed: str = "In Progress", inning: str = "Top", wait: object = 10
) -> dict[str, object]:
    return {
        "metaData": {"wait": wait, "timeStamp": "20150410_190500"},
        "gameData": {"status": {"abstractGameState": state, "detailedState": detailed}},
        "liveData": {"linescore": {"inningState": inning}},
    }


@pytest.mark.parametrize(
    ("doc", "phase", "interval"),
    [
        (_doc(), "action", 10.0),
        (_doc(wait=None), "action", 5.0),
        (_doc(inning="Middle"), "break", 30.0),
        (_doc(inning="End", wait=45), "break", 45.0),
        (_doc("Preview", "Scheduled"), "pregame", 30.0),
        (_doc("Preview", "Pre-Game"), "pregame", 30.0),
        (_doc(detailed="Delayed: Rain"), "delay", 30.0),
        (_doc("Final", "Final"), "final", 60.0),
        (None, "action", 5.0),
        ({"metaData": {"wait": True}}, "action", 5.0),
    ],
)
def test_interval_follows_the_phase_and_the_feeds_wait(
    doc: object, phase: str, interval: float
) -> None:
    """About 5 s in play (metaData.wait when given), 30 s (at least wait) in breaks."""
    assert game_phase(doc) == phase
    assert next_interval(doc, PollPolicy()) == interval


def test_wait_can_be_ignored_and_is_validated() -> None:
    """honour_wait=False keeps the policy's intervals; a bad wait is ignored."""
    assert next_interval(_doc(), PollPolicy(honour_wait=False)) == 5.0
    assert feed_wait(_doc(wait=-3)) is None
    assert feed_wait(_doc(wait="10")) is None
    with pytest.raises(ValueError, match="action"):
        PollPolicy(action=0)


async def test_follows_a_game_by_diff_patch_to_the_final_event(sample: UpstreamData) -> None:
    """One full document, then diffPatch; every event once, in order, ending with game_end;
    intervals follow the game (wait in play, 30 s in breaks)."""
    clock = ManualClock()
    published: list[PlayEvent] = []

    async def publish(event: PlayEvent) -> None:
        published.append(event)

    async with upstream_client(sample, clock) as client:
        poller = GamePoller(
            client,
            ANA_PK,
            publish,
            policy=PollPolicy(jitter=0.0),
            clock=clock,
            sleep=manual_sleep(clock),
        )
        intervals: dict[str, set[float]] = {}
        for _ in range(3000):
            result = await poller.poll_once()
            assert result.ok, result.reason
            phase = game_phase(poller.game.document)
            intervals.setdefault(phase, set()).add(result.next_in)
            if poller.final:
                break
            clock.advance(result.next_in)
    assert poller.final
    assert [e.event_id for e in published] == [e.event_id for e in final_events(sample)]
    assert published[-1].kind == "game_end"
    assert poller.stats.full == 1
    assert poller.stats.patches == poller.stats.polls - 1
    assert intervals["action"] == {10.0}
    assert intervals["break"] == {30.0}


async def test_jitter_spreads_intervals_repeatably(sample: UpstreamData) -> None:
    """Intervals vary by at most the jitter fraction, the same way for the same game."""
    clock = ManualClock()

    async def publish(event: PlayEvent) -> None:
        pass

    async def intervals() -> list[float]:
        poller = GamePoller(client, ANA_PK, publish, clock=clock, sleep=manual_sleep(clock))
        return [(await poller.poll_once()).next_in for _ in range(20)]

    async with upstream_client(sample, clock) as client:
        clock.advance(3000)
        first = await intervals()
        second = await intervals()
    assert first == second
    assert len(set(first)) > 1
    assert all(0.9 * 10.0 <= i <= 1.1 * 30.0 for i in first)
    with pytest.raises(ValueError, match="jitter"):
        PollPolicy(jitter=1.0)


async def test_run_returns_after_final_and_publishes_each_play_once(
    sample: UpstreamData,
) -> None:
    """run() stops after game_end; the published events are those of the final document."""
    clock = ManualClock()
    published: list[PlayEvent] = []

    async def publish(event: PlayEvent) -> None:
        published.append(event)

    async with upstream_client(sample, clock, speed=20.0) as client:
        poller = GamePoller(client, ANA_PK, publish, clock=clock, sleep=manual_sleep(clock))
        stats = await poller.run()
    ids = [e.event_id for e in published]
    assert len(ids) == len(set(ids))
    assert ids == [e.event_id for e in final_events(sample)]
    assert stats.published == len(ids)
    assert stats.duplicates == 0


async def test_retry_after_sets_the_next_poll(sample: UpstreamData) -> None:
    """A 429 whose Retry-After is too long to wait in the client moves the next poll."""
    clock = ManualClock()

    async def publish(event: PlayEvent) -> None:
        raise AssertionError("nothing comes through a 429")

    retry = RetryPolicy(attempts=2, wait_initial=0.0, wait_jitter=0.0, max_retry_after=1.0)
    async with upstream_client(sample, clock, faults="error429=7s:1", retry=retry) as client:
        poller = GamePoller(client, ANA_PK, publish, clock=clock, sleep=manual_sleep(clock))
        result = await poller.poll_once()
        assert not result.ok
        assert result.next_in >= 7.0
        assert "429" in (result.reason or "") or "retry after" in (result.reason or "")
        # The budget is paused for the Retry-After: polling sooner is refused locally.
        with pytest.raises(RateLimited):
            client.budget("statsapi").acquire()


async def test_an_open_breaker_delays_the_poll_until_its_probe(sample: UpstreamData) -> None:
    """Failing polls back off; once the breaker opens the next poll waits for its probe."""
    clock = ManualClock()

    async def publish(event: PlayEvent) -> None:
        raise AssertionError("nothing comes through errors")

    async with upstream_client(sample, clock, faults="error500=1") as client:
        poller = GamePoller(client, ANA_PK, publish, clock=clock, sleep=manual_sleep(clock))
        waits = []
        for _ in range(6):
            result = await poller.poll_once()
            assert not result.ok
            waits.append(result.next_in)
        assert waits[:3] == [2.0, 4.0, 8.0]
        breaker = client.breaker("statsapi")
        assert breaker.state.value == "open"
        assert breaker.retry_at is not None
        assert waits[-1] >= breaker.retry_at - clock.monotonic() > 8.0


async def test_a_failed_publish_is_retried_in_order_without_duplicates(
    sample: UpstreamData,
) -> None:
    """An event whose publish raised stays queued and goes out first on the next poll."""
    clock = ManualClock()
    published: list[PlayEvent] = []
    calls = 0

    async def flaky(event: PlayEvent) -> None:
        nonlocal calls
        calls += 1
        if calls % 7 == 0:
            raise ConnectionError("log unavailable")
        published.append(event)

    async with upstream_client(sample, clock, speed=20.0) as client:
        poller = GamePoller(client, ANA_PK, flaky, clock=clock, sleep=manual_sleep(clock))
        with capture_logs() as logs:
            await poller.run()
    assert [e.event_id for e in published] == [e.event_id for e in final_events(sample)]
    assert poller.stats.publish_failures > 0
    assert any(log["event"] == "poll.publish_failed" for log in logs)


async def test_duplicated_and_swapped_plays_are_published_once_in_order(
    sample: UpstreamData,
) -> None:
    """Duplicated and reordered plays in the feed do not duplicate or reorder the log."""
    clock = ManualClock()
    published: list[PlayEvent] = []

    async def publish(event: PlayEvent) -> None:
        published.append(event)

    async with upstream_client(sample, clock, faults="dup=0.5,reorder=0.5", speed=10) as client:
        poller = GamePoller(client, ANA_PK, publish, clock=clock, sleep=manual_sleep(clock))
        await poller.run()
    assert [e.event_id for e in published] == [e.event_id for e in final_events(sample)]


async def test_corrections_are_published_as_corrections(sample: UpstreamData) -> None:
    """A rescored play goes out as a new event that corrects the earlier one, and its
    restoration as a correction of the correction."""
    clock = ManualClock()
    published: list[PlayEvent] = []

    async def publish(event: PlayEvent) -> None:
        published.append(event)

    async with upstream_client(sample, clock, faults="correction=60s:0.05") as client:
        poller = GamePoller(client, ANA_PK, publish, clock=clock, sleep=manual_sleep(clock))
        await poller.run()
    corrections = [e for e in published if e.corrects is not None]
    assert corrections
    ids = {e.event_id for e in published}
    assert all(c.corrects in ids for c in corrections)
    assert poller.stats.corrections == len(corrections)
    latest = {e.event_id.split("~")[0]: e for e in published}
    assert [(e.event_id, e.text) for e in final_events(sample)] == [
        (key, e.text) for key, e in latest.items()
    ]


class _BadPatches(httpx.AsyncBaseTransport):
    """Forwards to the real upstream, but answers every diffPatch with a broken patch, and
    refuses to connect once ``down`` is set."""

    def __init__(self) -> None:
        self._inner = httpx.AsyncHTTPTransport()
        self.patches = 0
        self.down = False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self.down:
            raise httpx.ConnectError("connection refused", request=request)
        if request.url.path.endswith("/diffPatch"):
            self.patches += 1
            return httpx.Response(200, json=[{"patch": []}])
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


async def test_a_refused_patch_falls_back_to_the_full_document(sample: UpstreamData) -> None:
    """When a diffPatch cannot be applied the same poll reads the full document."""
    clock = ManualClock()
    published: list[PlayEvent] = []

    async def publish(event: PlayEvent) -> None:
        published.append(event)

    transport = _BadPatches()
    async with upstream_client(sample, clock, speed=20.0, transport=transport) as client:
        poller = GamePoller(client, ANA_PK, publish, clock=clock, sleep=manual_sleep(clock))
        await poller.run()
    assert transport.patches > 0
    assert poller.stats.fallbacks == transport.patches
    assert poller.stats.failures == 0
    assert [e.event_id for e in published] == [e.event_id for e in final_events(sample)]


async def test_stale_answers_are_reported_with_their_age_not_read(sample: UpstreamData) -> None:
    """When the client serves its cached document, the poll reports its age and moves on."""
    clock = ManualClock()
    published: list[PlayEvent] = []

    async def publish(event: PlayEvent) -> None:
        published.append(event)

    transport = _BadPatches()
    async with upstream_client(sample, clock, transport=transport) as client:
        poller = GamePoller(client, ANA_PK, publish, clock=clock, sleep=manual_sleep(clock))
        assert (await poller.poll_once()).ok
        clock.advance(30)
        # From now on the upstream is gone: only the cached full document is left.
        transport.down = True
        result = await poller.poll_once()
    assert not result.ok
    assert result.stale_age is not None
    assert result.stale_age >= 30


async def test_the_pool_discovers_and_follows_every_game(sample: UpstreamData) -> None:
    """ingest_from_upstream announces each scheduled game and publishes all its events."""
    published: dict[str, list[PlayEvent]] = {}
    announced: list[tuple[str, str]] = []

    async def publish(event: PlayEvent) -> None:
        published.setdefault(event.game_id, []).append(event)

    async def announce(sport: str, game_id: str) -> None:
        announced.append((sport, game_id))

    async with run_upstream(sample, speed=0) as base:
        report = await ingest_from_upstream(publish, announce, base, max_in_flight=3, spread=0)
    assert sorted(report.games) == sorted(str(pk) for pk in sample.games)
    assert sorted(announced) == sorted(("mlb", str(pk)) for pk in sample.games)
    for pk in sample.games:
        expected = [e.event_id for e in final_events(sample, pk)]
        assert [e.event_id for e in published[str(pk)]] == expected
    assert report.stats.published == sum(len(v) for v in published.values())


async def test_discovery_reads_the_schedule_and_degrades(sample: UpstreamData) -> None:
    """discover() lists the day's games; an unreadable schedule is Unavailable, not raised."""
    async with (
        run_upstream(sample, speed=0, date="2015-04-10") as base,
        statsapi_client(base, registry=CollectorRegistry()) as client,
    ):
        games = await discover(client, date="2015-04-10")
    assert not isinstance(games, Unavailable)
    assert [g.game_pk for g in games] == [ANA_PK]
    assert games[0].state == "Final"
    assert games[0].home
    async with (
        run_upstream(sample, speed=0, faults="drift=1", seed=2) as base,
        statsapi_client(base, registry=CollectorRegistry()) as client,
    ):
        broken = await discover(client, date="2015-04-10")
    assert isinstance(broken, Unavailable)
    with pytest.raises(Exception, match="gamePk"):
        read_schedule({"dates": [{"games": [{"pk": 1}]}]})


async def test_ingest_into_the_service_log_is_idempotent(sample: UpstreamData) -> None:
    """Into Service.publish, every event lands once in the game's log with ingest stamps,
    even when ingest runs twice over the same games (a restarted ingest process)."""
    from pressbox.bus.base import event_stream
    from pressbox.config import Settings
    from pressbox.engine.events import decode_event
    from pressbox.service import Service

    async with (
        Service(Settings(log_url="memory://", archive_url="sqlite://")) as service,
        run_upstream(sample, speed=0) as base,
    ):
        for _ in range(2):
            await ingest_from_upstream(
                service.publish, service.announce, base, games=[ANA_PK], spread=0
            )
        assert await service.games() == [str(ANA_PK)]
        log = await service.bus.read(event_stream(str(ANA_PK)))
    events = [decode_event(entry.payload) for entry in log]
    assert [e.event_id for e in events] == [e.event_id for e in final_events(sample)]
    assert all(e.ts_ingest is not None for e in events)


class _ScheduleDown(httpx.AsyncBaseTransport):
    """Refuses the first ``failures`` schedule requests, then forwards everything."""

    def __init__(self, failures: int) -> None:
        self._inner = httpx.AsyncHTTPTransport()
        self.failures = failures

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/v1/schedule" and self.failures > 0:
            self.failures -= 1
            return httpx.Response(503, json={"message": "down"})
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


async def test_ingest_waits_for_the_schedule(sample: UpstreamData) -> None:
    """An unavailable schedule is asked for again, with backoff, until it answers."""
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    published: list[PlayEvent] = []

    async def publish(event: PlayEvent) -> None:
        published.append(event)

    async def announce(sport: str, game_id: str) -> None:
        pass

    async with run_upstream(sample, speed=0, date="2015-04-10") as base:
        transport = _ScheduleDown(failures=3)
        async with statsapi_client(
            base, registry=CollectorRegistry(), retry=NO_RETRY, transport=transport
        ) as client:
            report = await ingest_from_upstream(
                publish,
                announce,
                base,
                date="2015-04-10",
                client=client,
                sleep=sleep,
                spread=0,
            )
    assert report.games == (str(ANA_PK),)
    assert waits[:3] == [1.0, 2.0, 4.0]
    assert published[-1].kind == "game_end"
