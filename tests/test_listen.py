"""Listening sockets in a SO_REUSEPORT group: one port, many accepts per turn of the loop."""

from __future__ import annotations

import asyncio
import socket
import threading
import time

import pytest

from pressbox.listen import listening_sockets

uvloop = pytest.importorskip("uvloop")

CLIENTS = 50
TURNS = 12
"""Turns of the loop the server gets, each made 20 ms long by a busy callback."""


def test_the_sockets_share_one_port_and_take_every_connection() -> None:
    group = listening_sockets("127.0.0.1", 0, count=4)
    try:
        ports = {s.getsockname()[1] for s in group}
        assert len(group) == 4
        assert len(ports) == 1
        port = ports.pop()
        clients = [socket.create_connection(("127.0.0.1", port)) for _ in range(64)]
        time.sleep(0.1)
        taken = []
        for sock in group:
            n = 0
            while True:
                try:
                    conn, _ = sock.accept()
                except BlockingIOError:
                    break
                conn.close()
                n += 1
            taken.append(n)
        assert sum(taken) == 64
        assert sum(1 for n in taken if n) >= 2  # the kernel spread them
        for client in clients:
            client.close()
    finally:
        for sock in group:
            sock.close()


def test_a_bad_count_or_a_taken_port_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        listening_sockets("127.0.0.1", 0, count=0)
    plain = socket.socket()
    plain.bind(("127.0.0.1", 0))
    plain.listen()
    try:
        with pytest.raises(OSError, match=r"[Aa]ddress already in use"):
            listening_sockets("127.0.0.1", plain.getsockname()[1], count=2)
    finally:
        plain.close()


def _accepted_in_busy_turns(count: int) -> int:
    """Connections a uvloop server accepts in :data:`TURNS` long turns, ``CLIENTS`` waiting."""
    accepted = 0

    class Counting(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            nonlocal accepted
            accepted += 1

    async def main() -> int:
        loop = asyncio.get_running_loop()
        group = listening_sockets("127.0.0.1", 0, count=count)
        servers = [await loop.create_server(Counting, sock=s) for s in group]
        port = group[0].getsockname()[1]
        clients: list[socket.socket] = []

        def connect() -> None:  # the kernel completes the handshakes; nothing is accepted yet
            clients.extend(socket.create_connection(("127.0.0.1", port)) for _ in range(CLIENTS))

        # The loop does not run while the clients queue up in the kernel.
        thread = threading.Thread(target=connect)
        thread.start()
        thread.join()
        turns = 0
        done = loop.create_future()

        def busy_turn() -> None:
            nonlocal turns
            time.sleep(0.02)  # a loop kept busy: every turn is long
            turns += 1
            if turns < TURNS:
                loop.call_soon(busy_turn)
            else:
                done.set_result(None)

        loop.call_soon(busy_turn)
        await done
        for server in servers:
            server.close()
        for client in clients:
            client.close()
        return accepted

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main())


def test_a_busy_uvloop_accepts_one_connection_per_socket_per_turn() -> None:
    """Why the group exists: with one socket a busy loop takes about one connection per
    turn; with sixteen every waiting connection is in within a few turns."""
    assert _accepted_in_busy_turns(1) <= TURNS + 1
    assert _accepted_in_busy_turns(16) == CLIENTS
