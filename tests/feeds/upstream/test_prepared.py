"""A game prepared ahead of its replay answers exactly as one built on demand."""

from __future__ import annotations

import httpx
import pytest

from pressbox.feeds.upstream.app import SimulatedUpstream, create_upstream_app
from pressbox.feeds.upstream.data import UpstreamData
from pressbox.resilience.clock import ManualClock
from tests.feeds.upstream.conftest import ANA_PK

pytestmark = pytest.mark.anyio

SPANS = [(0, 1), (0, 5), (3, 4), (10, 40), (57, 58), (100, 131), (-30, -1), (-2, -1)]
"""``(start, end)`` update numbers of diffPatch answers; negative: from the end."""


async def _answers(upstream: SimulatedUpstream, client: httpx.AsyncClient) -> list[bytes]:
    mg = upstream.game(ANA_PK)
    assert mg is not None
    codes = upstream.timecodes(mg)
    bodies = []
    for start, end in SPANS:
        path = (
            f"/api/v1.1/game/{ANA_PK}/feed/live/diffPatch"
            f"?startTimecode={codes[start]}&endTimecode={codes[end]}"
        )
        answer = await client.get(path, headers={"Accept-Encoding": "gzip"})
        assert answer.status_code == 200
        bodies.append(answer.content)
    return bodies


async def test_prepared_steps_and_notifications_equal_the_built_ones(sample: UpstreamData) -> None:
    clock = ManualClock()
    app = create_upstream_app(sample, speed=60, clock=clock, date="2015-04-10")
    upstream: SimulatedUpstream = app.state.upstream
    clock.advance(6 * 3600)  # every game of the day final: every update out
    mg = upstream.game(ANA_PK)
    assert mg is not None
    total = len(upstream.points(mg))
    transport = httpx.ASGITransport(app)
    async with httpx.AsyncClient(transport=transport, base_url="http://upstream") as client:
        built = await _answers(upstream, client)
        events = [upstream.notification_events(mg, n) for n in range(total + 1)]
        assert upstream.prepare(mg) == total
        built_before = upstream.documents_built
        prepared = await _answers(upstream, client)
        notified = [upstream.notification_events(mg, n) for n in range(total + 1)]
        # Answered from the prepared steps: not one document built for them.
        assert upstream.documents_built == built_before
    assert prepared == built
    assert notified == events
    # The last update says the game is over.
    last_events = events[-1][0]
    assert last_events is not None
    assert "game_finished" in last_events
    assert upstream.prepared_steps(mg, 0, total + 1) is None  # past the end: built instead
