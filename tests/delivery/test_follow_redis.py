"""A game's follower over Redis keeps up with a burst: every update, in order, once."""

from __future__ import annotations

import asyncio
import json
import uuid

import httpx
import pytest
from websockets.asyncio.client import connect

from pressbox.bus import from_url, update_stream
from tests.conftest import service_url
from tests.delivery.games import payload, real_game_updates
from tests.delivery.gateway import build_app, serving
from tests.delivery.sseclient import events

pytestmark = [pytest.mark.anyio, pytest.mark.redis]


async def test_a_burst_read_from_redis_reaches_every_client_in_order_once():
    """Hundreds of updates appended at once (as after a feed's stall) are read in batches
    and reach SSE and WebSocket clients of the game whole, while another game goes on."""
    prefix = f"test-follow-{uuid.uuid4().hex[:8]}:"
    a = real_game_updates(0, game_id="BURST")
    b = real_game_updates(1, game_id="OTHER")
    # Several times the real game, renumbered: more than the log's read batch (256).
    burst = [
        a[i % len(a)].__class__(
            **{
                **{f: getattr(a[i % len(a)], f) for f in a[0].__struct_fields__},
                "seq": i + 1,
                "event_id": f"BURST:{i + 1}",
            }
        )
        for i in range(1000)
    ]
    state: dict = {}
    async with from_url(f"{service_url('REDIS')}?prefix={prefix}") as bus:
        try:
            await bus.append(update_stream("BURST"), payload(burst[0]), key=burst[0].event_id)
            await bus.append(update_stream("OTHER"), payload(b[0]), key=b[0].event_id)
            async with (
                serving(build_app(bus, state=state)) as (_, port),
                httpx.AsyncClient(timeout=30) as client,
            ):

                async def sse(game: str, last: int) -> list[int]:
                    seen: list[int] = []
                    url = f"http://127.0.0.1:{port}/v1/stream/games/{game}"
                    async with client.stream("GET", url) as response:
                        async for event in events(response):
                            seen.append(int(event.id.rsplit(":", 1)[1]))
                            if seen[-1] == last:
                                return seen
                    return seen

                async def ws(game: str, last: int) -> list[int]:
                    seen: list[int] = []
                    async with connect(f"ws://127.0.0.1:{port}/v1/ws", max_queue=None) as sock:
                        await sock.send(json.dumps({"type": "subscribe", "game": game}))
                        while not seen or seen[-1] < last:
                            message = json.loads(await sock.recv())
                            if message["type"] in ("snapshot", "update"):
                                seen.append(message["seq"])
                    return seen

                clients = [
                    asyncio.ensure_future(c)
                    for c in (sse("BURST", 1000), ws("BURST", 1000), sse("OTHER", 2))
                ]
                hub = state["hub"]
                for _ in range(200):
                    if hub.stats.connections == 3 and hub.stats.messages >= 3:
                        break
                    await asyncio.sleep(0.05)
                # The burst: one atomic append of 999 updates, then the other game's next.
                items = [(u.event_id, payload(u)) for u in burst[1:]]
                await bus.append_many(update_stream("BURST"), items)
                await bus.append(update_stream("OTHER"), payload(b[1]), key=b[1].event_id)
                seen = await asyncio.wait_for(asyncio.gather(*clients), 60)
            assert seen[0] == list(range(1, 1001))
            assert seen[1] == list(range(1, 1001))
            assert seen[2] == [1, 2]
            assert hub.stats.updates == 1000
            assert hub.stats.lagging == 0
        finally:
            await bus.delete(update_stream("BURST"))
            await bus.delete(update_stream("OTHER"))
