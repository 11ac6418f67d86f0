"""What only the Redis log does: its key layout and the translation of server errors."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import redis.asyncio as aioredis

from pressbox.bus.redis import RedisBus
from pressbox.errors import BackendError, BackendUnavailable
from tests.bus.conftest import _drop_prefix
from tests.conftest import service_url

pytestmark = [pytest.mark.anyio, pytest.mark.redis]


async def test_server_errors_become_backend_errors() -> None:
    """A Redis error reply (a key of the wrong type) surfaces as BackendError, not redis's."""
    url = service_url("REDIS")
    prefix = f"pressbox-test:{uuid.uuid4().hex}:"
    client = aioredis.Redis.from_url(url)
    try:
        await client.set(f"{prefix}log:{{events:G}}", "not a stream")
        async with RedisBus(url, prefix=prefix) as bus:
            with pytest.raises(BackendError) as info:
                await bus.append("events:G", b"x", key="k")
            assert not isinstance(info.value, BackendUnavailable)
            assert "WRONGTYPE" in str(info.value)
            assert await bus.append("events:H", b"x", key="k") == 1
    finally:
        await client.aclose()
        await _drop_prefix(url, prefix)


async def test_entries_are_stream_entries_with_the_seq_as_id() -> None:
    """Other Redis clients see a plain stream: ids "<seq>-0", fields k, p and t."""
    url = service_url("REDIS")
    prefix = f"pressbox-test:{uuid.uuid4().hex}:"
    client = aioredis.Redis.from_url(url)
    try:
        async with RedisBus(url, prefix=prefix) as bus:
            await bus.append_many("events:G", [("a", b"1"), ("b", b"2")])
        entries: Any = await client.xrange(f"{prefix}log:{{events:G}}")
        assert [(i, f[b"k"], f[b"p"]) for i, f in entries] == [
            (b"1-0", b"a", b"1"),
            (b"2-0", b"b", b"2"),
        ]
    finally:
        await client.aclose()
        await _drop_prefix(url, prefix)


async def test_a_group_removed_behind_the_bus_is_recreated() -> None:
    """When another client deletes the stream, the next group read recreates the group."""
    url = service_url("REDIS")
    prefix = f"pressbox-test:{uuid.uuid4().hex}:"
    client = aioredis.Redis.from_url(url)
    try:
        async with RedisBus(url, prefix=prefix) as bus:
            await bus.append("events:G", b"1", key="a")
            assert len(await bus.read_group("proc", "c", ["events:G"])) == 1
            await client.delete(f"{prefix}log:{{events:G}}")
            await bus.append("events:G", b"2", key="b")
            assert [e.key for e in await bus.read_group("proc", "c", ["events:G"])] == ["b"]
    finally:
        await client.aclose()
        await _drop_prefix(url, prefix)


async def test_context_is_one_expiring_hash_per_game_shared_by_every_client() -> None:
    """A context blob put by one process is read by another; its hash expires."""
    url = service_url("REDIS")
    prefix = f"pressbox-test:{uuid.uuid4().hex}:"
    client = aioredis.Redis.from_url(url)
    try:
        async with (
            RedisBus(url, prefix=prefix, context_ttl_s=600) as writer,
            RedisBus(url, prefix=prefix) as reader,
        ):
            await writer.put_context("G1", "matchup", b'{"available": true}')
            assert await reader.get_context("G1", "matchup") == b'{"available": true}'
        key = f"{prefix}context:{{G1}}"
        assert await client.hget(key, "matchup") == b'{"available": true}'
        assert 0 < await client.ttl(key) <= 600
    finally:
        await client.aclose()
        await _drop_prefix(url, prefix)
