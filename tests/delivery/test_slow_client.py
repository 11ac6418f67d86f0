"""The slow-client policy: bounded buffers, snapshots in place of backlog, stalled clients cut."""

from __future__ import annotations

import asyncio
import socket
import time

import httpx
import pytest

from pressbox.bus import from_url, update_stream
from pressbox.delivery import Hub, Policy, Subscriber
from tests.delivery.games import padded, payload, real_game_updates
from tests.delivery.gateway import build_app, serving
from tests.delivery.sseclient import events

pytestmark = pytest.mark.anyio

GAME = "ANA201504100"


async def _eventually(check, what: str) -> None:
    for _ in range(400):
        if check():
            return
        await asyncio.sleep(0.025)
    raise AssertionError(f"never happened: {what}")


@pytest.mark.parametrize("writers", [0, 1], ids=["gateway", "writer"])
async def test_a_client_that_reads_nothing_is_bounded_and_does_not_hold_back_the_others(writers):
    """A socket that never reads stays within its buffer bound, others get every update."""
    updates = real_game_updates()
    # Big updates (padded text) fill the slow socket's kernel buffers quickly.
    fat = padded(updates, 20_000)
    policy = Policy(high_water=32 * 1024, low_water=8 * 1024, stall_s=1.0, tick_s=0.05)
    state: dict = {}
    async with from_url("memory://") as bus:
        await bus.append(update_stream(GAME), payload(fat[0]), key=fat[0].event_id)
        app = build_app(bus, policy=policy, state=state, writers=writers)
        async with serving(app) as (_, port):
            hub: Hub = state["hub"]
            slow = socket.socket()
            slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            slow.connect(("127.0.0.1", port))
            slow.sendall(f"GET /v1/stream/games/{GAME} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            await _eventually(lambda: hub.stats.connections == 1, "slow client connected")
            worst = 0
            async with httpx.AsyncClient(timeout=10) as client:
                url = f"http://127.0.0.1:{port}/v1/stream/games/{GAME}"
                async with client.stream("GET", url) as response:
                    stream = events(response)
                    assert (await anext(stream)).event == "snapshot"
                    for update in fat[1:]:
                        await bus.append(update_stream(GAME), payload(update), key=update.event_id)
                        event = await anext(stream)
                        assert event.id == f"{GAME}:{update.seq}"
                        worst = max(worst, *(s.buffered() for s in list(hub._subs)))
                    await _eventually(
                        lambda: hub.stats.slow_disconnects == 1, "slow client disconnected"
                    )
            slow.close()
    frame = max(len(payload(u)) for u in fat) + 200
    assert worst <= policy.high_water + frame
    if writers:
        # Both streams went to the writer. The slow one came back: lagging (then lagged
        # here until cut) or stalled in the middle of a message (cut at once); the
        # writer holds at most the rest of that one message for it meanwhile.
        assert hub.stats.handed_off >= 2
        assert hub.stats.given_back >= 1
    else:
        assert hub.stats.lagging >= 1


async def test_queued_client_gets_a_snapshot_in_place_of_its_backlog():
    """A queued client over its bound loses its backlog and is caught up with a snapshot."""
    updates = real_game_updates()
    policy = Policy(high_water=4000, low_water=1000, stall_s=60, tick_s=0.02)
    async with from_url("memory://") as bus:
        await bus.append(update_stream(GAME), payload(updates[0]), key=updates[0].event_id)
        async with Hub(bus, policy=policy) as hub:
            sub = Subscriber("sse")
            hub.admit(None)
            hub.register(sub)
            await hub.subscribe(sub, GAME)
            assert sub.pop().startswith(b"id: " + GAME.encode() + b":1\nevent: snapshot")
            for update in updates[1:20]:
                await bus.append(update_stream(GAME), payload(update), key=update.event_id)
            await _eventually(lambda: hub.stats.updates == 19, "updates followed")
            # Over its bound it lagged: its backlog was dropped, and one snapshot replaced it.
            assert hub.stats.lagging == 1
            await _eventually(lambda: sub.lag_since is None, "caught up")
            assert len(sub.queue) == 1
            caught_up = sub.pop()
            assert caught_up.startswith(b"id: " + GAME.encode() + b":20\nevent: snapshot")
            assert hub.stats.resnapshots == 1
            await bus.append(update_stream(GAME), payload(updates[20]), key=updates[20].event_id)
            await _eventually(lambda: sub.buffered() > 0, "next update")
            assert sub.pop().startswith(b"id: " + GAME.encode() + b":21\nevent: update")
            hub.release(sub)
            assert hub.stats.connections == 0


async def test_a_queued_client_stuck_in_send_is_disconnected():
    """A queued client whose send never returns is ended with a slow-client reason."""
    updates = real_game_updates()
    policy = Policy(stall_s=0.2, tick_s=0.02)
    async with from_url("memory://") as bus:
        await bus.append(update_stream(GAME), payload(updates[0]), key=updates[0].event_id)
        async with Hub(bus, policy=policy) as hub:
            sub = Subscriber("ws")
            hub.admit(None)
            hub.register(sub)
            await hub.subscribe(sub, GAME)
            sub.send_since = time.monotonic()  # as the handler does before a send that hangs
            await _eventually(lambda: sub.closed, "stalled client ended")
            assert sub.reason is not None
            assert sub.reason.startswith("slow client")
            assert hub.stats.slow_disconnects == 1
