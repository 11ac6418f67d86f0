"""A game followed from a known position: what landed after it reaches the listeners."""

from __future__ import annotations

import asyncio

import pytest

from pressbox.bus import from_url
from pressbox.bus.base import update_stream
from pressbox.delivery import Hub
from pressbox.engine.events import Update, encode
from tests.delivery.games import real_game_updates

pytestmark = pytest.mark.anyio

GAME = "G1"


async def _settle(condition: object) -> None:
    for _ in range(500):
        if callable(condition) and condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not reached")


@pytest.mark.parametrize(("since", "heard"), [(2, [3, 4]), (None, []), (4, []), (9, [])])
async def test_updates_after_the_callers_position_reach_the_listeners(
    since: int | None, heard: list[int]
) -> None:
    updates = real_game_updates(game_id=GAME)[:4]
    seen: list[Update] = []
    async with from_url("memory://") as bus, Hub(bus, listeners=[seen.append]) as hub:
        # The caller read update 2; 3 and 4 land before the hub's first read of the game.
        for update in updates:
            await bus.append(update_stream(GAME), encode(update), key=update.event_id)
        hub.follow(GAME, since=since)
        await _settle(lambda: (latest := hub.latest(GAME)) is not None and latest.seq == 4)
        await asyncio.sleep(0.05)
    assert [u.seq for u in seen] == heard


async def test_a_refused_subscriber_leaves_a_newer_channel_of_the_game_in_place() -> None:
    """Two subscribers wait for a game not known yet and are refused one after the other;
    between the two refusals the game is announced. The second refusal must not drop the
    announced channel: an orphaned follower would keep publishing beside a new one, and
    every update would reach the listeners (and a writer's streams) twice."""
    from pressbox.delivery.fanout import Subscriber
    from pressbox.errors import UnknownGame

    updates = real_game_updates(game_id=GAME)[:4]
    seen: list[Update] = []
    async with from_url("memory://") as bus, Hub(bus, listeners=[seen.append]) as hub:

        async def first() -> None:
            with pytest.raises(UnknownGame):
                await hub.subscribe(Subscriber("sse"), GAME)
            hub.follow(GAME)  # announced right after the first refusal, before the second

        async def second() -> None:
            with pytest.raises(UnknownGame):
                await hub.subscribe(Subscriber("sse"), GAME)

        await asyncio.gather(first(), second())
        hub.follow(GAME)  # announced again: a no-op while the channel is in place
        for update in updates:
            await bus.append(update_stream(GAME), encode(update), key=update.event_id)
        await _settle(lambda: (latest := hub.latest(GAME)) is not None and latest.seq == 4)
        await asyncio.sleep(0.1)
    assert [u.seq for u in seen] == [1, 2, 3, 4]
