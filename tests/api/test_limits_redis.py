"""The shared bucket in Redis: leases, and exactness across 4 worker processes.

Tolerance (see ``pressbox.api.limits``): over a window, the workers together admit at
most the bucket's allowance plus one lease batch per worker, and at least the allowance
minus one lease batch per worker.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import time
import uuid
from typing import Any

import pytest
import redis.asyncio as aioredis

from pressbox.api.keys import Principal
from pressbox.api.limits import RedisLeaseLimiter
from pressbox.api.settings import TierSpec
from pressbox.resilience import ManualClock
from tests.conftest import service_url

pytestmark = [pytest.mark.anyio, pytest.mark.redis]

SPEC = TierSpec(rate=400, burst=100, rank=2)
LEASE_S = 0.05  # batch = 400 × 0.05 = 20 tokens
WORKERS = 4
RUN_S = 1.5


def _principal(key_id: str, spec: TierSpec = SPEC) -> Principal:
    return Principal(key_id, "test", "pro", spec)


async def test_lease_batches_and_local_refusal() -> None:
    """Tokens are leased in batches; an empty bucket is refused locally until its refill."""
    client = aioredis.from_url(service_url("REDIS"))
    clock = ManualClock()
    try:
        limiter = RedisLeaseLimiter(client, lease_s=LEASE_S, clock=clock)
        slow = _principal(f"t-{uuid.uuid4().hex}", TierSpec(rate=0.01, burst=30))
        assert limiter.batch(slow) == 1
        key = _principal(f"t-{uuid.uuid4().hex}", TierSpec(rate=0.01, burst=50))
        limiter = RedisLeaseLimiter(client, lease_s=5000.0, lease_max=20, clock=clock)
        assert limiter.batch(key) == 20
        admitted = [(await limiter.acquire(key)).allowed for _ in range(60)]
        # 50 tokens in the bucket, leased 20 + 20 + 10, then refused.
        assert admitted == [True] * 50 + [False] * 10
        # 3 leases and one empty answer; the later refusals never went to Redis.
        assert limiter.round_trips == 4
        refused = limiter.try_local(key)
        assert refused is not None
        assert not refused.allowed
        assert refused.retry_after > 0
    finally:
        await client.aclose()


async def test_unspent_lease_expires() -> None:
    """A lease not spent within lease_ttl_s is dropped, not carried into a later window."""
    client = aioredis.from_url(service_url("REDIS"))
    clock = ManualClock()
    try:
        key = _principal(f"t-{uuid.uuid4().hex}", TierSpec(rate=0.001, burst=10))
        limiter = RedisLeaseLimiter(client, lease_s=50_000.0, lease_ttl_s=1.0, clock=clock)
        assert (await limiter.acquire(key)).allowed  # leases all 10, spends 1
        clock.advance(1.5)
        # The 9 leased tokens are gone; the shared bucket is empty.
        assert not (await limiter.acquire(key)).allowed
    finally:
        await client.aclose()


def _worker(url: str, key_id: str, go: Any, ready: Any, out: Any) -> None:
    ready.put(True)
    while go.value == 0.0:
        time.sleep(0.001)
    start = go.value

    async def run() -> tuple[int, float, float, float, float]:
        client = aioredis.from_url(url)
        await client.ping()
        limiter = RedisLeaseLimiter(client, lease_s=LEASE_S)
        principal = _principal(key_id)
        admitted = 0
        # Each admission is bracketed by the clock before and after it, so the window can
        # be taken wide (before the first, after the last) for the upper bound and narrow
        # (after the first, before the last) for the lower one, however the OS schedules.
        first_before = first_after = last_before = last_after = 0.0
        await asyncio.sleep(max(0.0, start - time.time()))
        stop = start + RUN_S
        while (before := time.time()) < stop:
            decision = limiter.try_local(principal) or await limiter.acquire(principal)
            if decision.allowed:
                after = time.time()
                admitted += 1
                if not first_before:
                    first_before, first_after = before, after
                last_before, last_after = before, after
            else:
                await asyncio.sleep(0)
        await client.aclose()
        return admitted, first_before, first_after, last_before, last_after

    out.put(asyncio.run(run()))


def test_four_workers_share_one_bucket() -> None:
    """4 processes hammering one key admit the bucket's allowance within W × batch tokens."""
    url = service_url("REDIS")
    key_id = f"t-{uuid.uuid4().hex}"
    ctx = multiprocessing.get_context("spawn")
    out, ready = ctx.Queue(), ctx.Queue()
    go = ctx.Value("d", 0.0)
    procs = [
        ctx.Process(target=_worker, args=(url, key_id, go, ready, out)) for _ in range(WORKERS)
    ]
    for p in procs:
        p.start()
    for _ in procs:
        ready.get(timeout=30)
    go.value = time.time() + 0.3  # after every client has connected
    results = [out.get(timeout=30) for _ in procs]
    for p in procs:
        p.join(timeout=10)
    admitted = sum(r[0] for r in results)
    assert all(r[0] > 0 for r in results)  # every worker got a share
    wide = max(r[4] for r in results) - min(r[1] for r in results)
    narrow = max(r[3] for r in results) - min(r[2] for r in results)
    tolerance = WORKERS * int(SPEC.rate * LEASE_S)
    # +1: the fraction of a token left in the bucket at the last take.
    assert admitted <= SPEC.burst + SPEC.rate * wide + tolerance + 1, (admitted, wide)
    assert admitted >= SPEC.burst + SPEC.rate * narrow - tolerance - 1, (admitted, narrow)
