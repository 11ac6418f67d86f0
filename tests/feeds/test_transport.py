"""ShardedTransport: requests spread over small pools, counted until their response closes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import orjson
import pytest
from prometheus_client import CollectorRegistry

from pressbox.feeds.http import ResilientClient, Source, Upstream
from pressbox.feeds.transport import ShardedTransport

pytestmark = pytest.mark.anyio


@pytest.fixture
async def server() -> AsyncIterator[tuple[str, list[int]]]:
    """A loopback HTTP/1.1 server answering ``/n/<k>`` with ``{"n": k}``; ``/slow`` waits
    until released. Yields its URL and the peer ports seen (one per connection)."""
    ports: list[int] = []
    release = asyncio.Event()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        ports.append(writer.get_extra_info("peername")[1])
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                target = head.split(b" ", 2)[1].decode()
                if target == "/slow":
                    await release.wait()
                body = orjson.dumps({"n": target.rsplit("/", 1)[-1]})
                writer.write(
                    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                    b"content-length: %d\r\n\r\n%s" % (len(body), body)
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    srv = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = srv.sockets[0].getsockname()[1]
    async with srv:
        try:
            yield f"http://127.0.0.1:{port}", ports
        finally:
            release.set()


def test_needs_a_pool_of_one_connection() -> None:
    with pytest.raises(ValueError, match="at least one pool"):
        ShardedTransport(pools=0)
    with pytest.raises(ValueError, match="at least one pool"):
        ShardedTransport(per_pool=0)


async def test_open_responses_go_to_the_least_busy_pool(server: tuple[str, list[int]]) -> None:
    url, _ = server
    transport = ShardedTransport(pools=3, per_pool=2)
    async with httpx.AsyncClient(base_url=url, transport=transport) as client:
        opened = []
        for k in range(4):
            request = client.build_request("GET", f"/n/{k}")
            opened.append(await client.send(request, stream=True))
        # Each new request went to the pool with fewest in flight, the first on a tie.
        assert transport.in_flight == (2, 1, 1)
        bodies = [orjson.loads(await r.aread()) for r in opened]
        assert bodies == [{"n": str(k)} for k in range(4)]
        for r in opened:
            await r.aclose()
        assert transport.in_flight == (0, 0, 0)
        # Closing twice does not count twice.
        await opened[0].aclose()
        assert transport.in_flight == (0, 0, 0)


async def test_a_quiet_client_keeps_to_one_pool(server: tuple[str, list[int]]) -> None:
    url, ports = server
    transport = ShardedTransport(pools=4, per_pool=2)
    async with httpx.AsyncClient(base_url=url, transport=transport) as client:
        for k in range(10):
            response = await client.get(f"/n/{k}")
            assert response.json() == {"n": str(k)}
    # One request at a time: the first pool's one warm connection served them all.
    assert len(ports) == 1


async def test_many_in_flight_all_answered(server: tuple[str, list[int]]) -> None:
    url, ports = server
    transport = ShardedTransport(pools=4, per_pool=2)
    async with httpx.AsyncClient(base_url=url, transport=transport) as client:
        answers = await asyncio.gather(*(client.get(f"/n/{k}") for k in range(40)))
    assert [a.json() for a in answers] == [{"n": str(k)} for k in range(40)]
    assert transport.in_flight == (0, 0, 0, 0)
    # Never more connections than the pools allow together.
    assert len(ports) <= 8


async def test_a_failed_request_is_not_left_in_flight() -> None:
    # Nothing listens on this port (bound, then closed).
    probe = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = probe.sockets[0].getsockname()[1]
    probe.close()
    await probe.wait_closed()
    transport = ShardedTransport(pools=2, per_pool=1)
    async with httpx.AsyncClient(transport=transport) as client:
        with pytest.raises(httpx.ConnectError):
            await client.get(f"http://127.0.0.1:{port}/n/1")
    assert transport.in_flight == (0, 0)


async def test_resilient_client_uses_small_pools_by_default(server: tuple[str, list[int]]) -> None:
    url, ports = server
    source = Source("live", Upstream("loop", url), ttl=0.0)
    async with ResilientClient([source], registry=CollectorRegistry()) as client:
        transport = client._http._transport  # the default is what is tested
        assert isinstance(transport, ShardedTransport)
        fetched = await asyncio.gather(
            *(client.get_json("live", f"/n/{k}", store=False) for k in range(24))
        )
    assert [f.data for f in fetched] == [{"n": str(k)} for k in range(24)]
    assert len(ports) <= 32
