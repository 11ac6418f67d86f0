"""The API load generator is an open loop: slow answers do not lower what it sends."""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import cast

import anyio
import pytest

from pressbox.bench import run_api

pytestmark = pytest.mark.anyio

SLOW = 0.5
"""Seconds the test server takes per answer."""


_Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def _load(port: int, *, rps: float, games: str, workers: int, max_conns: int) -> run_api.Load:
    """An API load on ``port`` with one enterprise key, as the game night starts it."""
    args = argparse.Namespace(port=port, rps=rps, games=games, workers=workers, max_conns=max_conns)
    return run_api.Load(args, {"enterprise": ["k"]})


async def _server(handle: _Handler) -> tuple[asyncio.Server, int]:
    """A loopback HTTP server answering with ``handle``, and its port."""
    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


async def _answering(pause: float) -> tuple[asyncio.Server, int]:
    """A server answering every request with ``200 ok`` after ``pause`` seconds."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                await reader.readuntil(b"\r\n\r\n")
                if pause:
                    await asyncio.sleep(pause)
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    return await _server(handle)


async def _stop(load: run_api.Load, sender: asyncio.Task[None], settle: float) -> None:
    """Stop measuring and sending, close the connections, and let the server see them go."""
    run_api.R.measuring = False
    sender.cancel()
    await asyncio.gather(sender, return_exceptions=True)
    await load.aclose()
    await asyncio.sleep(settle)  # the server's handlers see the clients leave


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_slow_answers_open_connections_instead_of_sending_less(anyio_backend: str) -> None:
    """Answers slower than the schedule make the generator open more connections (up to
    its limit) rather than wait; every scheduled request is sent or counted unsent, and
    latency runs from the scheduled time."""
    del anyio_backend
    run_api.R = run_api.Recorder()
    server, port = await _answering(SLOW)
    load = _load(port, rps=40.0, games="g1,g2", workers=2, max_conns=12)
    async with server:
        await load.warm()
        run_api.R.measuring = True
        sender = asyncio.create_task(load.run())
        # Long enough for 40 req/s x 0.5 s to need about 20 connections: more than the cap.
        with anyio.fail_after(30):
            while run_api.R.unsent == 0 or run_api.R.answered < 10:  # noqa: ASYNC110
                await asyncio.sleep(0.05)
        await _stop(load, sender, SLOW + 0.2)
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
def test_answers_given_stale_under_overload_are_told_apart(
    head: bytes, expected: tuple[str, bool]
) -> None:
    buf = bytearray(head + b"ok" + b"HTTP/1.1 204 No Content\r\n\r\n")
    parsed = run_api.parse_response(buf)
    assert parsed is not None
    assert parsed[:2] == expected
    del buf[: parsed[2]]  # the body was consumed with the head
    assert run_api.parse_response(buf) == ("204", False, len(buf))


def test_an_answer_is_parsed_only_once_complete() -> None:
    """A response cut anywhere (head, body, chunk sizes) waits for the rest; chunked bodies
    end at the zero-size chunk; a size that is not a number is an error."""
    plain = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"
    chunked = (
        b"HTTP/1.1 429 Too Many Requests\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5\r\nhello\r\n3;x=1\r\nabc\r\n0\r\n\r\n"
    )
    for whole, status in ((plain, "200"), (chunked, "429")):
        for cut in range(len(whole)):
            assert run_api.parse_response(bytearray(whole[:cut])) is None
        assert run_api.parse_response(bytearray(whole + b"HTTP/1.1")) == (
            status,
            False,
            len(whole),
        )
    with pytest.raises(ValueError, match="invalid literal"):
        run_api.parse_response(bytearray(b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n"))


def test_connections_idle_past_the_servers_keep_alive_are_not_reused() -> None:
    """A connection idle for longer than the server keeps it is closed, not sent on."""

    class Transport:
        closed = False

        def abort(self) -> None:
            self.closed = True

    load = _load(1, rps=1.0, games="g1", workers=0, max_conns=4)
    now = time.monotonic()
    old_conn, fresh_conn = run_api.Http(load), run_api.Http(load)
    old, fresh = Transport(), Transport()
    old_conn.transport = cast(asyncio.Transport, old)
    fresh_conn.transport = cast(asyncio.Transport, fresh)
    load.idle.extend([(old_conn, now - run_api.KEEP_ALIVE_S - 1), (fresh_conn, now)])
    load.connections = 2
    assert load.take_idle() is fresh_conn
    assert not fresh.closed
    assert load.take_idle() is None  # the old one is closed instead
    assert old.closed
    assert load.connections == 1


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_unanswered_and_broken_requests_are_counted_and_their_connections_dropped(
    anyio_backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A request the server never answers counts as a timeout, one whose connection closes
    before the answer as an incomplete read; neither connection is used again."""
    del anyio_backend
    monkeypatch.setattr(run_api, "ANSWER_TIMEOUT", 0.3)
    run_api.R = run_api.Recorder()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = await reader.readuntil(b"\r\n\r\n")
        if b"/v1/games/g1 " in request or b"/v1/games/g1/" in request:
            writer.close()  # half an answer's worth of nothing: the connection ends
            return
        await reader.read()  # never answers: waits for the client to give up
        writer.close()

    server, port = await _server(handle)
    load = _load(port, rps=1.0, games="g1", workers=2, max_conns=4)
    async with server:
        await load.warm()
        run_api.R.measuring = True
        closing, silent = (c for c, _ in list(load.idle))
        load.idle.clear()
        load.send(closing, "game|enterprise", b"GET /v1/games/g1 HTTP/1.1\r\n\r\n", 0.0, True)
        load.send(silent, "latest|enterprise", b"GET /x HTTP/1.1\r\n\r\n", 0.0, True)
        with anyio.fail_after(5):
            while not closing.dropped:  # noqa: ASYNC110
                await asyncio.sleep(0.02)
            await asyncio.sleep(0.4)
            load.expire(time.monotonic())
        await load.aclose()
        await asyncio.sleep(0.2)  # the server's handlers see the clients leave
    assert dict(run_api.R.errors) == {"IncompleteReadError": 1, "TimeoutError": 1}
    assert silent.dropped
    assert load.connections == 0
    assert load.take_idle() is None


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_a_paced_generator_sleeps_between_turns_and_still_reads_every_answer(
    anyio_backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Paced, every turn of the loop sleeps in ``time.sleep`` (not in ``epoll_wait``); the
    requests still go out at the offered rate, above the loop's turns a second, and every
    one sent is answered and recorded."""
    del anyio_backend
    run_api.R = run_api.Recorder()
    naps: list[float] = []
    real_sleep = time.sleep

    def nap(seconds: float) -> None:
        naps.append(seconds)
        real_sleep(seconds)

    monkeypatch.setattr(run_api.time, "sleep", nap)
    server, port = await _answering(0.0)
    # More requests a second than the paced loop has turns: each turn sends all that are due.
    load = _load(port, rps=3000.0, games="g1", workers=8, max_conns=64)
    async with server:
        await load.warm()
        stop = run_api.pace(asyncio.get_running_loop(), 0.001)
        run_api.R.measuring = True
        began = time.monotonic()
        sender = asyncio.create_task(load.run())
        with anyio.fail_after(30):
            while run_api.R.answered < 20 or time.monotonic() - began < 0.5:  # noqa: ASYNC110
                await asyncio.sleep(0.01)
        elapsed = time.monotonic() - began
        await _stop(load, sender, 0.0)
        stop()
        await asyncio.sleep(0.1)
        napped = len(naps)
        await asyncio.sleep(0.05)
    assert len(naps) == napped  # stopped
    r = run_api.R
    assert r.answered >= 20
    assert r.sent - r.answered <= load.args.max_conns  # the rest were in flight
    # The schedule was kept whatever the turns: all due by the last turn went or were counted.
    assert r.scheduled >= load.args.rps * (elapsed - 0.2)
    assert r.sent + r.unsent <= r.scheduled <= r.sent + r.unsent + len(load.tasks) + 1
    assert not run_api.R.errors
    assert len(naps) >= 20
    assert set(naps) == {0.001}
