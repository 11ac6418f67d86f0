"""The API load generator is an open loop: slow answers do not lower what it sends."""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import cast

import anyio
import pytest

from pressbox.bench import run_api

pytestmark = pytest.mark.anyio

SLOW = 0.5
"""Seconds the test server takes per answer."""


async def _slow_server() -> tuple[asyncio.Server, int]:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                await reader.readuntil(b"\r\n\r\n")
                await asyncio.sleep(SLOW)
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_slow_answers_open_connections_instead_of_sending_less(anyio_backend: str) -> None:
    """Answers slower than the schedule make the generator open more connections (up to
    its limit) rather than wait; every scheduled request is sent or counted unsent, and
    latency runs from the scheduled time."""
    del anyio_backend
    run_api.R = run_api.Recorder()
    server, port = await _slow_server()
    args = argparse.Namespace(port=port, rps=40.0, games="g1,g2", workers=2, max_conns=12)
    load = run_api.Load(args, {"enterprise": ["k"]})
    async with server:
        await load.warm()
        run_api.R.measuring = True
        sender = asyncio.create_task(load.run())
        # Long enough for 40 req/s x 0.5 s to need about 20 connections: more than the cap.
        with anyio.fail_after(30):
            while run_api.R.unsent == 0 or run_api.R.answered < 10:  # noqa: ASYNC110
                await asyncio.sleep(0.05)
        run_api.R.measuring = False
        sender.cancel()
        await asyncio.gather(sender, return_exceptions=True)
        await load.aclose()
        await asyncio.sleep(SLOW + 0.2)  # the server's handlers see the clients leave
    r = run_api.R
    # A closed loop of 2 connections would hold at 2 in flight; this one opened up to its cap.
    assert r.most_connections == 12
    assert r.unsent > 0
    assert r.sent + r.unsent <= r.scheduled <= r.sent + r.unsent + 1
    # Every answer took at least the server's time, counted from the schedule.
    assert min(ms for hist in r.ms.values() for ms in hist) >= int(SLOW * 1000) - 1
    report = run_api.report()
    assert report["scheduled"] == r.scheduled
    assert report["unsent"] == r.unsent


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n", ("200", False)),
        (
            b'HTTP/1.1 200 OK\r\ncache-status: pressbox; hit; detail="overloaded: 1 updates'
            b' behind, 0.200 s old"\r\nage: 0\r\nContent-Length: 2\r\n\r\n',
            ("200", True),
        ),
        (b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 2\r\n\r\n", ("503", False)),
    ],
)
async def test_answers_given_stale_under_overload_are_told_apart(
    anyio_backend: str, head: bytes, expected: tuple[str, bool]
) -> None:
    del anyio_backend
    reader = asyncio.StreamReader()
    reader.feed_data(head + b"ok" + b"HTTP/1.1 204 No Content\r\n\r\n")
    assert await run_api.read_response(reader) == expected
    assert await run_api.read_response(reader) == ("204", False)  # the body was consumed


def test_connections_idle_past_the_servers_keep_alive_are_not_reused() -> None:
    """A connection idle for longer than the server keeps it is closed, not sent on."""

    class Writer:
        closed = False

        def close(self) -> None:
            self.closed = True

    args = argparse.Namespace(port=1, rps=1.0, games="g1", workers=0, max_conns=4)
    load = run_api.Load(args, {"enterprise": ["k"]})
    now = time.monotonic()
    old, fresh = Writer(), Writer()
    old_conn = (cast(asyncio.StreamReader, None), cast(asyncio.StreamWriter, old))
    fresh_conn = (cast(asyncio.StreamReader, None), cast(asyncio.StreamWriter, fresh))
    load.idle.extend([(old_conn, now - run_api.KEEP_ALIVE_S - 1), (fresh_conn, now)])
    load.connections = 2
    assert load.take_idle() is fresh_conn
    assert not fresh.closed
    assert load.take_idle() is None  # the old one is closed instead
    assert old.closed
    assert load.connections == 1
