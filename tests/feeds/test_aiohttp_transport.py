"""AiohttpTransport: httpx's API over aiohttp's connections, with httpx's errors."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
from collections.abc import AsyncIterator, Coroutine, Generator
from typing import Any

import anyio
import httpx
import orjson
import pytest
from prometheus_client import CollectorRegistry

from pressbox.errors import FeedUnavailable
from pressbox.feeds.http import ResilientClient, RetryPolicy, Source, Upstream
from pressbox.feeds.transport import AiohttpTransport

pytestmark = pytest.mark.anyio

Server = tuple[str, list[int], list[bytes]]


def _answer(body: bytes, *, status: str = "200 OK", extra: bytes = b"") -> bytes:
    return b"HTTP/1.1 %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\n%s\r\n%s" % (
        status.encode(),
        len(body),
        extra,
        body,
    )


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    """A loopback HTTP/1.1 server. ``/n/<k>``: ``{"n": k}``; ``/gzip``: a gzipped body;
    ``/busy``: 503 with ``Retry-After``; ``/truncated``: 10 of 100 promised bytes, then
    closes; ``/close``: closes without answering; ``/hang``: never answers. Yields its URL,
    the peer ports seen (one per connection) and each request's head."""
    ports: list[int] = []
    heads: list[bytes] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        ports.append(writer.get_extra_info("peername")[1])
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                heads.append(head)
                target = head.split(b" ", 2)[1].decode()
                if target == "/hang":
                    await asyncio.sleep(3600)
                if target == "/close":
                    return
                if target == "/truncated":
                    writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n0123456789")
                    await writer.drain()
                    return
                if target == "/gzip":
                    body = gzip.compress(orjson.dumps({"zipped": True}))
                    writer.write(_answer(body, extra=b"content-encoding: gzip\r\n"))
                elif target == "/busy":
                    writer.write(_answer(b"{}", status="503 Busy", extra=b"retry-after: 1\r\n"))
                else:
                    name = target.split("?", 1)[0].rsplit("/", 1)[-1]
                    writer.write(_answer(orjson.dumps({"n": name})))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    srv = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = srv.sockets[0].getsockname()[1]
    async with srv:
        yield f"http://127.0.0.1:{port}", ports, heads


def test_settings_are_checked() -> None:
    for bad in ({"limit": 0}, {"limit_per_host": -1}, {"keepalive": 0.0}):
        with pytest.raises(ValueError, match="AiohttpTransport needs"):
            AiohttpTransport(**bad)  # type: ignore[arg-type]


async def test_answers_headers_and_one_kept_connection(server: Server) -> None:
    url, ports, heads = server
    async with httpx.AsyncClient(
        base_url=url, transport=AiohttpTransport(), headers={"X-Probe": "yes"}
    ) as client:
        for k in range(5):
            response = await client.get(f"/n/{k}", params={"q": "a b"})
            assert response.status_code == 200
            assert response.json() == {"n": str(k)}
            assert response.headers["content-type"] == "application/json"
            assert response.http_version == "HTTP/1.1"
        busy = await client.get("/busy")
    assert busy.status_code == 503
    assert busy.headers["retry-after"] == "1"
    assert busy.reason_phrase == "Busy"
    # One request at a time: one connection, kept alive between them.
    assert len(ports) == 1
    # httpx's headers went out as httpx made them, the query as encoded.
    assert b"x-probe: yes" in heads[0].lower()
    assert heads[0].startswith(b"GET /n/0?q=a+b HTTP/1.1")


async def test_a_gzipped_body_is_decoded(server: Server) -> None:
    url, _, heads = server
    async with httpx.AsyncClient(base_url=url, transport=AiohttpTransport()) as client:
        response = await client.get("/gzip")
    assert response.json() == {"zipped": True}
    assert b"accept-encoding: gzip" in heads[0].lower()


async def test_many_at_once_within_the_limit(server: Server) -> None:
    url, ports, _ = server
    async with httpx.AsyncClient(base_url=url, transport=AiohttpTransport(limit=4)) as client:
        answers = await asyncio.gather(*(client.get(f"/n/{k}") for k in range(40)))
    assert [a.json() for a in answers] == [{"n": str(k)} for k in range(40)]
    assert len(ports) <= 4


async def test_failures_are_httpx_errors(server: Server) -> None:
    url, _, _ = server
    transport = AiohttpTransport()
    timeout = httpx.Timeout(5.0, read=0.2)
    async with httpx.AsyncClient(base_url=url, transport=transport, timeout=timeout) as client:
        with pytest.raises(httpx.RemoteProtocolError):
            await client.get("/truncated")
        with pytest.raises(httpx.RemoteProtocolError):
            await client.get("/close")
        with pytest.raises(httpx.ReadTimeout):
            await client.get("/hang")
        # The client still works after each failure.
        assert (await client.get("/n/7")).json() == {"n": "7"}


async def test_waiting_for_a_free_connection_times_out(server: Server) -> None:
    url, ports, _ = server
    timeout = httpx.Timeout(5.0, pool=0.2, connect=0.2)
    transport = AiohttpTransport(limit=1)
    async with httpx.AsyncClient(base_url=url, transport=transport, timeout=timeout) as client:
        hanging = asyncio.ensure_future(client.get("/hang"))
        # The server's handler lists the connection once it is open: the only one is taken.
        while not ports:  # noqa: ASYNC110 (the fixture's list has no event to wait on)
            await asyncio.sleep(0.01)
        with anyio.fail_after(5), pytest.raises(httpx.ConnectTimeout):
            await client.get("/n/1")
        hanging.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await hanging
        # Once the connection is free, requests go through again.
        assert (await client.get("/n/2")).json() == {"n": "2"}


async def test_refused_connection_is_a_connect_error() -> None:
    probe = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = probe.sockets[0].getsockname()[1]
    probe.close()
    await probe.wait_closed()
    async with httpx.AsyncClient(transport=AiohttpTransport()) as client:
        with pytest.raises(httpx.ConnectError):
            await client.get(f"http://127.0.0.1:{port}/n/1")


async def test_resilient_client_uses_it_by_default_and_retries_its_errors(
    server: Server,
) -> None:
    url, _, heads = server
    source = Source("live", Upstream("loop", url), ttl=0.0)
    retry = RetryPolicy(attempts=3, wait_initial=0.0, wait_max=0.0, wait_jitter=0.0)
    async with ResilientClient([source], registry=CollectorRegistry(), retry=retry) as client:
        assert isinstance(client._http._transport, AiohttpTransport)  # the default
        fetched = await client.get_json("live", "/n/3", store=False)
        assert fetched.data == {"n": "3"}
        with pytest.raises(FeedUnavailable, match="RemoteProtocolError"):
            await client.get_json("live", "/truncated", store=False)
    # The truncated answer was asked for three times: retried as a broken connection.
    assert sum(h.startswith(b"GET /truncated ") for h in heads) == 3


class _Steps:
    """Drives a coroutine and counts how many times it is resumed: one more than the
    times it gave the event loop a turn (each is a turn of another's work on a busy loop)."""

    def __init__(self, coro: Coroutine[Any, Any, Any]) -> None:
        self.coro = coro
        self.steps = 0

    def __await__(self) -> Generator[Any, Any, Any]:
        sent: Any = None
        error: BaseException | None = None
        while True:
            self.steps += 1
            try:
                waited = self.coro.send(sent) if error is None else self.coro.throw(error)
            except StopIteration as stop:
                return stop.value
            try:
                sent, error = (yield waited), None
            except BaseException as exc:
                sent, error = None, exc


async def test_a_request_gives_the_loop_fewer_turns_than_httpx_pool(server: Server) -> None:
    url, _, _ = server
    counts = {}
    for name, transport in (
        ("aiohttp", AiohttpTransport()),
        ("httpx", httpx.AsyncHTTPTransport()),
    ):
        async with httpx.AsyncClient(base_url=url, transport=transport) as client:
            await client.get("/n/0")  # the connection is open and kept
            counted = _Steps(client.get("/n/1"))
            response = await counted
            assert response.json() == {"n": "1"}
            counts[name] = counted.steps
    # Sent, then resumed once its answer is in: two steps (httpx's pool takes five or
    # more here, its locks and anyio's checkpoints each a turn).
    assert counts["aiohttp"] <= 3
    assert counts["aiohttp"] < counts["httpx"], counts
