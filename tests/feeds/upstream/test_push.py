"""The simulated Gameday push channel: a notification per new timecode, with its faults."""

from __future__ import annotations

import math

import anyio
import httpx
import orjson
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from pressbox.feeds.upstream import gumbo as upstream_gumbo
from pressbox.feeds.upstream import run_upstream
from pressbox.feeds.upstream.data import UpstreamData
from pressbox.feeds.upstream.replay import Replay, Timeline
from pressbox.resilience.clock import ManualClock
from tests.feeds.upstream.conftest import ANA_PK

pytestmark = pytest.mark.anyio


async def _drain(channel: ClientConnection) -> None:
    """Read until the channel closes (raises ConnectionClosed)."""
    while True:
        await channel.recv()


def _push(base: str, pk: int = ANA_PK) -> str:
    return base.replace("http://", "ws://") + f"/api/v1/game/push/subscribe/gameday/{pk}"


def test_next_change_says_when_the_next_event_comes() -> None:
    """Real seconds to the next event at the replay's speed; none after the last; a stall
    pushes it to the stall's end."""
    clock = ManualClock()
    replay = Replay(clock, 10.0, [("g", Timeline(0.0, (0.0, 20.0, 50.0)))])
    assert replay.published("g") == 1
    assert replay.next_change("g") == pytest.approx(2.0)
    clock.advance(1.5)
    assert replay.next_change("g") == pytest.approx(0.5)
    replay.stall("g", 4.0)
    assert replay.next_change("g") == pytest.approx(4.0)
    clock.advance(10.0)
    assert replay.published("g") == 3
    assert replay.next_change("g") == math.inf


def test_the_wait_is_for_the_event_after_those_the_caller_has_seen() -> None:
    """``after``: the wait for the event after those the caller has seen, 0 when it is out.
    A channel that looked before an event came out and asks after it used to get the wait
    for the event after that one, and held the one just out back by a whole gap."""
    clock = ManualClock()
    replay = Replay(clock, 10.0, [("g", Timeline(0.0, (0.0, 20.0, 50.0, 60.0)))])
    assert replay.published("g") == 1
    assert replay.next_change("g", after=1) == pytest.approx(2.0)
    clock.advance(2.5)  # the second event came out at 2.0
    assert replay.published("g") == 2
    # The caller saw one: the second is due now. Without ``after``: the third, in 2.5 s.
    assert replay.next_change("g", after=1) == 0.0
    assert replay.next_change("g") == pytest.approx(2.5)
    assert replay.next_change("g", after=2) == pytest.approx(2.5)
    # A stall holds the next event to its end, whatever the caller saw.
    replay.stall("g", 4.0)
    assert replay.next_change("g", after=2) == pytest.approx(4.0)
    clock.advance(10.0)
    assert replay.next_change("g", after=4) == math.inf
    assert replay.next_change("g", after=3) == 0.0


async def test_each_new_timecode_is_notified_in_order(sample: UpstreamData) -> None:
    """Every notification names a timecode the feed has published, newer than the last,
    up to the final document's."""
    async with (
        run_upstream(sample, speed=3000, date="2015-04-10") as base,
        httpx.AsyncClient() as http,
        connect(_push(base)) as channel,
    ):
        mg = sample.games[ANA_PK]
        last = upstream_gumbo.timecode(upstream_gumbo.moments(mg)[-1])
        seen: list[str] = []
        events: list[str] = []
        with anyio.fail_after(30):
            while not seen or seen[-1] != last:
                message = orjson.loads(await channel.recv())
                assert message["gamePk"] == ANA_PK
                assert message["changeEvent"] == {"type": "new_entry"}
                assert isinstance(message["gameEvents"], list)
                seen.append(message["timeStamp"])
                events.extend(message["gameEvents"])
        url = f"{base}/api/v1.1/game/{ANA_PK}/feed/live/timestamps"
        published = (await http.get(url)).json()
    # In order, each a published timecode, the last one the final document's.
    assert len(seen) >= 20
    assert seen == sorted(set(seen))
    assert set(seen) <= set(published)
    assert published[-1] == last
    # Each names what happened, as the feed's metaData does: pitch calls and play results.
    assert "ball" in events
    assert "field_out" in events


async def test_updates_found_together_are_each_notified(sample: UpstreamData) -> None:
    """A wake-up that finds many updates out at once (a clock jump standing in for a busy
    loop that woke late) notifies every one of them, in order: none hides behind the last."""
    clock = ManualClock()
    async with (
        run_upstream(sample, speed=60, clock=clock, date="2015-04-10") as base,
        httpx.AsyncClient() as http,
        connect(_push(base)) as channel,
    ):
        await anyio.sleep(0.2)  # the channel follows the game from here
        clock.advance(3600)
        url = f"{base}/api/v1.1/game/{ANA_PK}/feed/live/timestamps"
        published = (await http.get(url)).json()
        seen: list[str] = []
        with anyio.fail_after(30):
            while not seen or seen[-1] != published[-1]:
                seen.append(orjson.loads(await channel.recv())["timeStamp"])
    assert len(seen) > 50
    assert seen == published[-len(seen) :]


async def test_unknown_games_and_a_closed_service_are_refused(sample: UpstreamData) -> None:
    """An unknown game's handshake is refused; /pressbox/push?open=0 closes open channels
    (code 1001) and refuses new ones until reopened."""
    async with (
        run_upstream(sample, speed=0.001, date="2015-04-10") as base,
        httpx.AsyncClient() as http,
    ):
        with pytest.raises(InvalidStatus):
            async with connect(_push(base, 1)):
                pass
        async with connect(_push(base)) as channel:
            assert (await http.get(f"{base}/pressbox/push?open=0")).json() == {"open": False}
            with anyio.fail_after(5), pytest.raises(ConnectionClosed) as closed:
                await channel.recv()
            assert closed.value.rcvd is not None
            assert closed.value.rcvd.code == 1001
        with pytest.raises(InvalidStatus):
            async with connect(_push(base)):
                pass
        assert (await http.get(f"{base}/pressbox/push?open=maybe")).status_code == 400
        assert (await http.get(f"{base}/pressbox/push?open=1")).json() == {"open": True}
        async with connect(_push(base)):
            pass


@pytest.mark.parametrize(
    ("faults", "expect"),
    [
        ("error500=1", "refused"),
        ("reset=1", "refused"),
        ("error503=1", "refused"),
    ],
)
async def test_handshake_faults_refuse_the_channel(
    sample: UpstreamData, faults: str, expect: str
) -> None:
    """A transport fault drawn at the handshake refuses or drops it."""
    del expect
    async with run_upstream(sample, speed=3000, date="2015-04-10", faults=faults) as base:
        with pytest.raises((InvalidStatus, ConnectionClosed, OSError)):
            async with connect(_push(base), open_timeout=2):
                pass


async def test_notification_faults_cut_repeat_or_close(sample: UpstreamData) -> None:
    """Truncated notifications are not JSON; duplicated ones come twice; a 500 closes the
    channel with 1011. The first draw is the handshake's (no fault fires there)."""
    # truncate does not apply to a handshake: the channel opens, then every message is cut.
    upstream = run_upstream(sample, speed=3000, date="2015-04-10", faults="truncate=1")
    async with upstream as base, connect(_push(base)) as channel:
        with anyio.fail_after(10):
            text = await channel.recv()
        with pytest.raises(orjson.JSONDecodeError):
            orjson.loads(text)
    upstream = run_upstream(sample, speed=3000, date="2015-04-10", faults="dup=1")
    async with upstream as base, connect(_push(base)) as channel:
        with anyio.fail_after(10):
            first, second = await channel.recv(), await channel.recv()
        assert first == second
        assert orjson.loads(first)["gamePk"] == ANA_PK


async def test_a_server_error_closes_the_channel(sample: UpstreamData) -> None:
    """With 500s drawn on half the draws, an open channel ends with close code 1011."""
    async with run_upstream(
        sample, speed=3000, date="2015-04-10", faults="error500=0.5", seed=3
    ) as base:
        for _ in range(20):
            try:
                channel = await connect(_push(base))
            except InvalidStatus:
                continue  # refused at the handshake: draw again
            async with channel:
                with anyio.fail_after(10), pytest.raises(ConnectionClosed) as closed:
                    await _drain(channel)
            assert closed.value.rcvd is not None
            assert closed.value.rcvd.code == 1011
            return
    pytest.fail("no handshake got through in 20 draws")
