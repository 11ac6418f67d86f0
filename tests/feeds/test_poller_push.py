"""The poller on the Gameday push channel of the simulated upstream, on loopback, in real
time: notifications trigger fetches, a push outage falls back to polling without losing a
play, and 30 % upstream faults (on the channel too) still give the fault-free stream."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import anyio
import httpx
import msgspec
import pytest
from prometheus_client import CollectorRegistry
from structlog.testing import capture_logs
from websockets.asyncio.client import connect as ws_connect
from websockets.asyncio.server import ServerConnection
from websockets.asyncio.server import serve as ws_serve

from pressbox.engine.events import PlayEvent
from pressbox.engine.state import GameMachine
from pressbox.feeds import gumbo
from pressbox.feeds.http import RetryPolicy
from pressbox.feeds.poller import (
    GamePoller,
    PollPolicy,
    PushConnection,
    push_base_url,
    statsapi_client,
)
from pressbox.feeds.upstream import SimulatedUpstream, build_app
from pressbox.feeds.upstream import gumbo as upstream_gumbo
from pressbox.feeds.upstream.data import UpstreamData, load_data
from pressbox.feeds.upstream.server import bound_port, make_server
from tests.conftest import SAMPLE_RETROSHEET

pytestmark = pytest.mark.anyio

ANA_PK = 13798201504100
"""``ANA201504100``: KCA 4 at ANA 2, nine innings, alone on 2015-04-10."""

FAULTS = (
    "error500=0.08,error503=0.05,error429=1s:0.05,timeout=1s:0.04,reset=0.04,truncate=0.04,"
    "latency=20ms:0.05,drift=0.03,dup=0.05,reorder=0.05,stall=2s:0.02,correction=2s:0.03"
)
"""30 % of requests (and of push handshakes and notifications) fail, plus content faults."""


@pytest.fixture(scope="module")
def sample() -> UpstreamData:
    """The bundled Retrosheet games, loaded once."""
    return load_data([SAMPLE_RETROSHEET])


@asynccontextmanager
async def serve(
    sample: UpstreamData, speed: float, faults: str = "", seed: int = 0
) -> AsyncIterator[tuple[str, SimulatedUpstream]]:
    """The upstream replaying 2015-04-10 in real time, and its state (for publication
    times)."""
    app = build_app(sample, speed=speed, date="2015-04-10", faults=faults, seed=seed)
    server = make_server(app)
    server.config.setup_event_loop = lambda: None  # type: ignore[method-assign]
    async with anyio.create_task_group() as tg:
        tg.start_soon(server.serve)
        with anyio.fail_after(10):
            while not server.started:  # noqa: ASYNC110 - uvicorn only has a flag
                await anyio.sleep(0.01)
        try:
            yield f"http://127.0.0.1:{bound_port(server)}", app.state.upstream
        finally:
            server.should_exit = True


def publication_times(upstream: SimulatedUpstream) -> Callable[[PlayEvent], float | None]:
    """When the upstream published each event's play (wall clock), by its ``ts_source``."""
    mg = upstream.game(ANA_PK)
    assert mg is not None
    table = {
        int(moment.timestamp()): upstream.last_modified(mg, n)
        for n, moment in enumerate(upstream.moments(mg))
        if n > 0
    }
    return lambda event: None if event.ts_source is None else table.get(int(event.ts_source))


def final_ids(sample: UpstreamData) -> list[str]:
    """The event ids of the game's final document, read at once."""
    mg = sample.games[ANA_PK]
    doc = upstream_gumbo.feed_document(mg, sample, upstream_gumbo.final_point(mg))
    return [e.event_id for e in gumbo.read_document(doc).events]


def value(registry: CollectorRegistry, name: str, **labels: str) -> float:
    """A sample's value, 0 when absent."""
    found = registry.get_sample_value(name, labels)
    return 0.0 if found is None else found


async def wait_for(check: Callable[[], bool], seconds: float = 20.0) -> None:
    """Wait (bounded) until ``check()`` holds."""
    with anyio.fail_after(seconds):
        while not check():  # noqa: ASYNC110 - the state is the poller's, with no event
            await asyncio.sleep(0.02)


def test_push_url_is_next_to_the_stats_api() -> None:
    """http becomes ws, https wss; anything else is refused with the reason."""
    assert push_base_url("http://127.0.0.1:8765") == "ws://127.0.0.1:8765"
    assert push_base_url("https://statsapi.example") == "wss://statsapi.example"
    with pytest.raises(ValueError, match="http"):
        push_base_url("ftp://x")
    with pytest.raises(ValueError, match="push_factor"):
        PollPolicy(push_factor=0.5)


async def test_notifications_trigger_fetches(sample: UpstreamData) -> None:
    """With the timer at a minute, every play after the first poll comes by a notification:
    the game is followed to its end, each play once, and the metrics say so."""
    registry = CollectorRegistry()
    events: list[PlayEvent] = []
    states: list[str | None] = []

    async def publish(event: PlayEvent) -> None:
        events.append(event)

    policy = PollPolicy(action=60.0, pause=60.0, honour_wait=False, push_factor=1.0, jitter=0.0)
    async with (
        serve(sample, speed=1500) as (base, upstream),
        statsapi_client(base, registry=registry, live_ttl=0.001) as client,
    ):
        poller = GamePoller(
            client,
            ANA_PK,
            publish,
            policy=policy,
            push_url=push_base_url(base),
            registry=registry,
            published_at=publication_times(upstream),
        )
        async with anyio.create_task_group() as tg:

            async def watch() -> None:
                await wait_for(lambda: poller.push_state == "up")
                states.append(poller.push_state)
                states.append(str(value(registry, "pressbox_push_channels", state="up")))

            tg.start_soon(watch)
            with anyio.fail_after(60):
                stats = await poller.run()
    assert states == ["up", "1.0"]
    assert [e.event_id for e in events] == final_ids(sample)
    assert stats.polls - stats.pushed == 1  # the first poll only
    assert stats.pushed >= 10
    assert stats.notifications >= stats.pushed - 1
    assert stats.push_connects == 1
    assert value(registry, "pressbox_polls_total", outcome="ok", trigger="push") == stats.pushed
    assert value(registry, "pressbox_polls_total", outcome="ok", trigger="timer") == 1
    assert value(registry, "pressbox_poll_seconds_count", trigger="push") == stats.pushed
    assert value(registry, "pressbox_push_messages_total", kind="notification") >= 10
    assert value(registry, "pressbox_push_connects_total", outcome="connected") == 1
    # The poll stage was timed from the upstream's publication of each play.
    timed = value(registry, "pressbox_stage_seconds_count", stage="poll")
    assert 10 <= timed <= len(events)
    assert value(registry, "pressbox_stage_seconds_sum", stage="poll") > 0
    # Not running: no channel counted.
    assert poller.push_state is None
    assert value(registry, "pressbox_push_channels", state="up") == 0


async def test_push_outage_falls_back_to_polling(sample: UpstreamData) -> None:
    """The push service goes down mid-game: the poller notices, polls on its timer, loses
    and repeats nothing, and subscribes again when the service is back."""
    registry = CollectorRegistry()
    events: list[PlayEvent] = []

    async def publish(event: PlayEvent) -> None:
        events.append(event)

    policy = PollPolicy(
        action=0.2,
        pause=0.2,
        honour_wait=False,
        push_factor=10.0,
        push_retry=0.1,
        push_max_backoff=0.3,
    )
    async with (
        serve(sample, speed=700) as (base, _upstream),
        statsapi_client(base, registry=registry, live_ttl=0.001) as client,
        httpx.AsyncClient() as control,
    ):
        poller = GamePoller(
            client, ANA_PK, publish, policy=policy, push_url=push_base_url(base), registry=registry
        )
        async with anyio.create_task_group() as tg:
            done: list[object] = []

            async def follow() -> None:
                done.append(await poller.run())

            tg.start_soon(follow)
            await wait_for(lambda: poller.push_state == "up" and len(events) > 5)
            await control.get(f"{base}/pressbox/push?open=0")
            await wait_for(lambda: poller.push_state == "down")
            assert value(registry, "pressbox_push_channels", state="down") == 1
            timer_polls = poller.stats.polls - poller.stats.pushed
            published = len(events)
            # Down: the timer alone moves the game.
            await wait_for(
                lambda: (
                    poller.stats.polls - poller.stats.pushed > timer_polls + 3
                    and len(events) > published
                )
            )
            await control.get(f"{base}/pressbox/push?open=1")
            await wait_for(lambda: poller.push_state == "up")
            await wait_for(lambda: bool(done), 60)
    ids = [e.event_id for e in events]
    assert ids == final_ids(sample)
    stats = poller.stats
    assert stats.push_connects == 2
    assert stats.push_failures >= 1
    assert value(registry, "pressbox_push_connects_total", outcome="closed") >= 1
    assert value(registry, "pressbox_polls_total", outcome="ok", trigger="timer") > 3


async def test_thirty_percent_faults_with_push_give_the_fault_free_stream(
    sample: UpstreamData,
) -> None:
    """30 % of requests, push handshakes and notifications fail (with content faults):
    the stream, corrections applied, is the fault-free one, and notifications still
    triggered fetches."""
    events: list[PlayEvent] = []

    async def publish(event: PlayEvent) -> None:
        events.append(event)

    policy = PollPolicy(
        action=0.3,
        pause=0.3,
        honour_wait=False,
        push_factor=3.0,
        retry=0.1,
        max_backoff=1.0,
        push_retry=0.1,
        push_max_backoff=0.5,
    )
    retry = RetryPolicy(attempts=2, wait_initial=0.01, wait_max=0.05, wait_jitter=0.0)
    with capture_logs() as logs:
        async with (
            serve(sample, speed=1000, faults=FAULTS, seed=11) as (base, _upstream),
            statsapi_client(
                base,
                registry=CollectorRegistry(),
                retry=retry,
                timeout=httpx.Timeout(0.5),
                live_ttl=0.001,
            ) as client,
        ):
            poller = GamePoller(
                client,
                ANA_PK,
                publish,
                policy=policy,
                push_url=push_base_url(base),
                registry=CollectorRegistry(),
            )
            with anyio.fail_after(120):
                stats = await poller.run()
            async with httpx.AsyncClient() as plain:
                health = (await plain.get(f"{base}/pressbox/health")).json()
    fired = health["faultCounts"]
    assert {"error500", "reset", "truncate", "dup", "correction"} <= set(fired)
    # About 30 % of the draws (requests, handshakes, notifications) failed; over a hundred
    # draws the share lies well above half of that.
    kinds = ("error500", "error503", "error429", "timeout", "reset", "truncate")
    assert sum(fired.get(kind, 0) for kind in kinds) / health["requests"] >= 0.15
    assert stats.pushed > 0
    assert stats.push_failures > 0
    ids = [e.event_id for e in events]
    assert len(ids) == len(set(ids))
    assert [e.event_id for e in events if e.corrects is None] == final_ids(sample)
    machine = GameMachine("mlb", str(ANA_PK))
    for event in events:
        machine.apply(event)
    clean = GameMachine("mlb", str(ANA_PK))
    mg = sample.games[ANA_PK]
    final_doc = upstream_gumbo.feed_document(mg, sample, upstream_gumbo.final_point(mg))
    for event in gumbo.read_document(final_doc).events:
        clean.apply(event)
    assert msgspec.structs.replace(machine.state, seq=0) == msgspec.structs.replace(
        clean.state, seq=0
    )
    assert machine.state.status == "final"
    assert not [log for log in logs if log["event"] in ("poll.crashed", "poll.push_crashed")]


async def test_pitch_notifications_can_wait_for_the_next_play(sample: UpstreamData) -> None:
    """With push_pitches off, a notification naming only pitch calls fetches nothing: the
    plays still come by their own notifications, every one, and far fewer fetches."""
    registry = CollectorRegistry()
    events: list[PlayEvent] = []

    async def publish(event: PlayEvent) -> None:
        events.append(event)

    policy = PollPolicy(
        action=60.0, pause=60.0, honour_wait=False, push_factor=1.0, push_pitches=False
    )
    async with (
        serve(sample, speed=1500) as (base, _upstream),
        statsapi_client(base, registry=registry, live_ttl=0.001) as client,
    ):
        poller = GamePoller(
            client, ANA_PK, publish, policy=policy, push_url=push_base_url(base), registry=registry
        )
        with anyio.fail_after(60):
            stats = await poller.run()
    assert [e.event_id for e in events] == final_ids(sample)
    left = value(registry, "pressbox_push_messages_total", kind="pitch")
    assert left > 0
    assert stats.pushed < stats.notifications - left + 2
    assert stats.polls - stats.pushed == 1  # no timer poll was needed


async def test_a_notification_ends_the_wait_on_the_loops_next_turn() -> None:
    """A notification resolves the poll loop's wait itself: the wait is over on the event
    loop's next turn (it took four or five turns through an event and two tasks, each a
    few milliseconds on a busy game night). The timer still ends a wait nobody cuts short,
    with the plain sleep and with an injected one."""
    registry = CollectorRegistry()

    async def publish(event: PlayEvent) -> None:
        del event

    slept: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        slept.append(seconds)
        await asyncio.sleep(0)

    async with statsapi_client("http://127.0.0.1:9", registry=registry) as client:
        poller = GamePoller(client, ANA_PK, publish, push_url="ws://127.0.0.1:9", registry=registry)
        waiting = asyncio.ensure_future(poller._wait(60.0, wakeable=True))
        await asyncio.sleep(0)  # armed
        assert not waiting.done()
        poller._on_message(b'{"gamePk": 1, "timeStamp": "20150410_190000", "gameEvents": []}')
        await asyncio.sleep(0)
        assert waiting.done()
        assert waiting.result() == "push"
        # A wake-up before the wait: no wait at all.
        assert await poller._wait(60.0, wakeable=True) == "push"
        poller._woken = False
        # Nobody rings: the timer ends it.
        with anyio.fail_after(5):
            assert await poller._wait(0.01, wakeable=True) == "timer"
        # An injected sleep is what the wait waits on.
        injected = GamePoller(
            client, ANA_PK, publish, push_url="ws://127.0.0.1:9", registry=CollectorRegistry(),
            sleep=fake_sleep,
        )  # fmt: skip
        with anyio.fail_after(5):
            assert await injected._wait(30.0, wakeable=True) == "timer"
        assert slept == [30.0]


async def test_a_whole_message_reaches_the_poller_as_its_frame_is_read() -> None:
    """The push connection hands a whole message to its hook inside ``data_received``,
    before any other task runs (through websockets' queue a reader task would take it a
    turn later); a fragmented message still goes through the queue, and a hook that
    raises is logged without breaking the connection."""

    async def hold(ws: ServerConnection) -> None:
        await ws.wait_closed()

    async with ws_serve(hold, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        async with ws_connect(
            f"ws://127.0.0.1:{port}", create_connection=PushConnection
        ) as channel:
            assert isinstance(channel, PushConnection)
            got: list[bytes] = []
            channel.on_message = got.append
            # Frames as the server sends them (unmasked): text, binary, then a text
            # message in two fragments.
            channel.data_received(b"\x81\x02ab\x82\x02cd")
            assert got == [b"ab", b"cd"]  # no await in between: no turn of the loop
            channel.data_received(b"\x01\x02ef\x80\x02gh")
            assert got == [b"ab", b"cd"]
            assert await asyncio.wait_for(channel.recv(), 5) == "efgh"

            def broken(message: bytes) -> None:
                raise RuntimeError(f"bug on {message!r}")

            channel.on_message = broken
            with capture_logs() as logs:
                channel.data_received(b"\x81\x01x")
            assert [log["event"] for log in logs] == ["poll.push_hook_crashed"]
            channel.on_message = got.append
            channel.data_received(b"\x81\x01y")
            assert got == [b"ab", b"cd", b"y"]
            await channel.ping()  # still open both ways
