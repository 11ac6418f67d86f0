"""Per-key token buckets: exact in process, 429 answers with the RateLimit headers."""

from __future__ import annotations

import pytest

from pressbox.api.keys import Principal
from pressbox.api.limits import MemoryLimiter
from pressbox.api.settings import DEFAULT_TIERS, TierSpec
from pressbox.resilience import ManualClock
from pressbox.service import Service
from tests.api.helpers import add_game, new_key, running

pytestmark = pytest.mark.anyio

COMMUNITY = Principal("k1", "A", "community", DEFAULT_TIERS["community"])


def test_memory_bucket_is_exact() -> None:
    """A Community key gets its burst of 5, then 1 per second, and says when to retry."""
    clock = ManualClock()
    limiter = MemoryLimiter(clock=clock)
    admitted = [limiter.try_local(COMMUNITY).allowed for _ in range(8)]
    assert admitted == [True] * 5 + [False] * 3
    refused = limiter.try_local(COMMUNITY)
    assert refused.retry_after == pytest.approx(1.0)
    assert refused.remaining == 0
    assert refused.limit == 5
    clock.advance(2.5)
    assert [limiter.try_local(COMMUNITY).allowed for _ in range(3)] == [True, True, False]


def test_keys_do_not_share_buckets() -> None:
    """One key's exhausted bucket does not starve another key of the same tier."""
    limiter = MemoryLimiter(clock=ManualClock())
    other = Principal("k2", "B", "community", DEFAULT_TIERS["community"])
    for _ in range(5):
        limiter.try_local(COMMUNITY)
    assert not limiter.try_local(COMMUNITY).allowed
    assert limiter.try_local(other).allowed


def test_decision_headers() -> None:
    """Refusals carry Retry-After (whole seconds, at least 1) and the RateLimit headers."""
    limiter = MemoryLimiter(clock=ManualClock())
    for _ in range(5):
        limiter.try_local(COMMUNITY)
    headers = dict(limiter.try_local(COMMUNITY).headers())
    assert headers == {
        b"ratelimit-limit": b"5",
        b"ratelimit-remaining": b"0",
        b"ratelimit-reset": b"5",
        b"retry-after": b"1",
    }


async def test_http_429(service: Service) -> None:
    """Over its limit a key gets 429 with Retry-After, RateLimit-* and which limit refused."""
    await add_game(service, "G1")
    async with running(service, public=False) as (app, client):
        token = await new_key(app, tier="community")
        statuses = []
        for _ in range(7):
            response = await client.get("/v1/predict/mlb/G1", headers={"X-API-Key": token})
            statuses.append(response.status_code)
    assert statuses[:5] == [200] * 5
    assert statuses.count(200) <= 6  # one more only if a second passed meanwhile
    assert statuses[-1] == 429
    assert response.headers["retry-after"] == "1"
    assert response.headers["ratelimit-remaining"] == "0"
    body = response.json()
    assert body["error"] == "rate_limited"
    assert body["limit"] == "community: 1/s, burst 5"
    assert 0 < body["retry_after"] <= 1


async def test_tiers_from_settings(service: Service) -> None:
    """A tier given in the settings replaces the default of the same name."""
    async with running(
        service, public=False, tiers={"community": TierSpec(rate=0.01, burst=2)}
    ) as (
        app,
        client,
    ):
        token = await new_key(app, tier="community")
        statuses = [
            (await client.get("/v1/games", headers={"X-API-Key": token})).status_code
            for _ in range(3)
        ]
    assert statuses == [200, 200, 429]
