"""Prefetch against the simulated upstream on loopback: every booth source, degraded ones
reported, never raised."""

from __future__ import annotations

import httpx
import pytest
from prometheus_client import CollectorRegistry

from pressbox.feeds.http import RetryPolicy
from pressbox.feeds.poller import statsapi_client
from pressbox.feeds.prefetch import PrefetchItem, PrefetchReport, prefetch
from pressbox.feeds.upstream import run_upstream
from pressbox.feeds.upstream.data import UpstreamData, load_data
from pressbox.resilience.clock import ManualClock
from tests.conftest import SAMPLE_RETROSHEET

pytestmark = pytest.mark.anyio

ANA_PK = 13798201504100
NO_RETRY = RetryPolicy(attempts=1, wait_initial=0.0, wait_max=0.0, wait_jitter=0.0)
# Port 9 (discard) on loopback: nothing listens there, so connecting is refused at once.
DEAD = "http://127.0.0.1:9"
BOOTH = (
    "schedule",
    "roster:away",
    "roster:home",
    "pitcher:away",
    "pitcher:home",
    "hitters:away",
    "hitters:home",
    "matchups:away",
    "matchups:home",
    "standings",
    "weather",
    "umpire",
    "odds",
)


@pytest.fixture(scope="module")
def sample() -> UpstreamData:
    """The bundled Retrosheet games, loaded once."""
    return load_data([SAMPLE_RETROSHEET])


class _Gate(httpx.AsyncBaseTransport):
    """Forwards to the upstream until ``down`` is set, then refuses every connection."""

    def __init__(self) -> None:
        self._inner = httpx.AsyncHTTPTransport()
        self.down = False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self.down:
            raise httpx.ConnectError("connection refused", request=request)
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


async def test_every_booth_source_is_fetched(sample: UpstreamData) -> None:
    """Schedule, rosters, pitchers, hitters, matchups, standings, weather, umpire and odds
    come back fresh; park factors with no earlier games at the park are reported missing."""
    async with (
        run_upstream(sample, speed=0, date="2015-04-10") as base,
        statsapi_client(base, registry=CollectorRegistry(), retry=NO_RETRY) as client,
    ):
        report = await prefetch(client, ANA_PK)
    assert report.game_pk == ANA_PK
    for name in BOOTH:
        item = report.item(name)
        assert item.available, (name, item.reason)
        assert not item.stale
        assert item.fetched == item.wanted >= 1
        assert item.source == "primary"
    assert report.item("hitters:home").wanted > 9
    park = report.item("park")
    assert not park.available
    assert park.reason is not None
    assert "404" in park.reason
    assert report.missing == (park,)
    as_json = report.to_json()
    assert as_json["gamePk"] == ANA_PK
    assert {"name": "park", "available": False, "reason": park.reason} in as_json["items"]


async def test_nothing_answers_gives_reasons_not_exceptions() -> None:
    """With no upstream at all every item is {"available": false, "reason": ...}."""
    async with statsapi_client(DEAD, registry=CollectorRegistry(), retry=NO_RETRY) as client:
        report = await prefetch(client, ANA_PK)
    assert not report.available
    for item in report.items:
        assert item.to_json() == {"name": item.name, "available": False, "reason": item.reason}
        assert item.reason
    assert report.item("roster:home").reason.startswith("needs the schedule")  # type: ignore[union-attr]
    assert "ConnectError" in (report.item("weather").reason or "")


async def test_a_dead_primary_fails_over_to_the_secondary(sample: UpstreamData) -> None:
    """Every lookup goes to the secondary when the primary refuses connections."""
    async with (
        run_upstream(sample, speed=0, date="2015-04-10") as base,
        statsapi_client(
            DEAD, secondary_url=base, registry=CollectorRegistry(), retry=NO_RETRY
        ) as client,
    ):
        report = await prefetch(client, ANA_PK)
    for name in BOOTH:
        assert report.item(name).available, name
        assert report.item(name).source == "secondary"


async def test_stale_answers_are_marked_with_their_age(sample: UpstreamData) -> None:
    """When the upstream is gone, what the cache holds is served stale with its age and the
    reason; what it never held is reported missing."""
    clock = ManualClock()
    gate = _Gate()
    async with (
        run_upstream(sample, speed=0, date="2015-04-10", clock=clock) as base,
        statsapi_client(
            base, clock=clock, registry=CollectorRegistry(), retry=NO_RETRY, transport=gate
        ) as client,
    ):
        first = await prefetch(client, ANA_PK)
        clock.advance(4000.0)
        gate.down = True
        second = await prefetch(client, ANA_PK)
    assert all(not i.stale for i in first.items)
    for name in BOOTH:
        item = second.item(name)
        assert item.available, name
        assert item.stale, name
        assert item.age is not None
        assert item.age >= 4000.0
        # The first failures are refused connections; they open the breaker for the rest.
        assert any(word in (item.reason or "") for word in ("ConnectError", "circuit")), name
    assert not second.item("park").available


def test_partial_items_say_what_is_missing() -> None:
    """A group item with some documents missing is available, with the count missing."""
    item = PrefetchItem("hitters:home", True, "2 of 9 missing: x", age=1.0, fetched=7, wanted=9)
    assert item.to_json()["reason"] == "2 of 9 missing: x"
    report = PrefetchReport(1, (item,))
    assert report.available == (item,)
    with pytest.raises(KeyError):
        report.item("odds")
