"""Choosing the event log by URL."""

from __future__ import annotations

import pytest

from pressbox.bus import SUPPORTED, from_url
from pressbox.bus.memory import MemoryBus
from pressbox.bus.redis import RedisBus
from pressbox.errors import BackendUnavailable, ConfigError, UnsupportedBackend

pytestmark = pytest.mark.anyio


async def test_memory_url() -> None:
    """memory:// gives the in-process bus, with max_len from the query."""
    bus = from_url("memory://?max_len=2")
    assert isinstance(bus, MemoryBus)
    await bus.append_many("s", [("a", b""), ("b", b""), ("c", b"")])
    assert await bus.first_seq("s") == 2


@pytest.mark.parametrize("url", ["redis://127.0.0.1:6379/0", "rediss://example:6380/1?prefix=x:"])
async def test_redis_urls_build_without_connecting(url: str) -> None:
    """redis:// and rediss:// give the Redis bus; nothing connects until used."""
    bus = from_url(url)
    assert isinstance(bus, RedisBus)
    await bus.aclose()


@pytest.mark.parametrize("url", ["kafka://broker:9092", "postgresql://db/x", "", "memory"])
def test_unknown_scheme_names_the_supported_ones(url: str) -> None:
    """An unknown scheme raises UnsupportedBackend listing what is served."""
    with pytest.raises(UnsupportedBackend) as info:
        from_url(url)
    assert info.value.supported == SUPPORTED
    assert "redis://" in str(info.value)
    assert isinstance(info.value, ValueError)


def test_bad_option_is_a_config_error() -> None:
    """A non-integer max_len is reported as a configuration error."""
    with pytest.raises(ConfigError, match="max_len"):
        from_url("memory://?max_len=lots")


def test_backend_injection() -> None:
    """backend= returns the given instance whatever the URL."""
    mine = MemoryBus()
    assert from_url("kafka://ignored", backend=mine) is mine


async def test_unreachable_redis_is_unavailable() -> None:
    """A Redis that cannot be reached fails as BackendUnavailable; ping says False."""
    bus = from_url("redis://127.0.0.1:1/0", connect_timeout=0.5, read_timeout=1.0)
    async with bus:
        assert await bus.ping() is False
        with pytest.raises(BackendUnavailable) as info:
            await bus.append("s", b"x", key="k")
        assert info.value.__cause__ is not None
