"""Listening sockets that let a busy event loop accept many connections per turn.

libuv (under uvloop, which ``pressbox serve`` and the server roles run on) accepts one
connection per listening socket per turn of the loop and relies on the socket still being
readable for the next one (libuv pull request 3696). That is right for a quiet server and
wrong for a busy one: during a game night a turn of the pipeline's loop takes 0.1-0.7 s
(tens of thousands of stream writes and a thousand API requests a second), so a queue of
connections waiting to be accepted drained at a few a second, and API clients that opened
a new connection waited in the kernel's accept queue for up to ten seconds (a reconnect
storm of stream clients would wait far longer). asyncio's own loop accepts up to the
backlog per turn; uvloop has no option for it.

:func:`listening_sockets` binds several sockets to the same address with ``SO_REUSEPORT``:
the kernel spreads new connections over them, and the loop accepts one from each per
turn. uvicorn takes them as they are (``Server.serve(sockets=...)``). Written here because
no server option or library does this for one process.
"""

from __future__ import annotations

import socket

__all__ = ["LISTENERS", "listening_sockets"]

LISTENERS = 16
"""Sockets per listening address: connections accepted per turn of a busy loop."""


def listening_sockets(
    host: str, port: int, *, count: int = LISTENERS, backlog: int = 2048
) -> list[socket.socket]:
    """``count`` listening sockets on one address (one where ``SO_REUSEPORT`` is missing).

    Args:
        host: The address to listen on (IPv4 or IPv6, or a name that resolves to one).
        port: The port; ``0`` picks a free one, shared by every socket.
        count: Sockets in the group (at least 1).
        backlog: Each socket's accept queue.

    Raises:
        ValueError: ``count`` below 1.
        OSError: The address cannot be bound (in use, not local).
    """
    if count < 1:
        raise ValueError("listening_sockets needs a count of at least 1")
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    if not hasattr(socket, "SO_REUSEPORT"):
        count = 1
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if count > 1:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind(address)
            sock.listen(backlog)
            sock.setblocking(False)
            # Port 0 chose a port: the others join the same one.
            address = sock.getsockname()
    except BaseException:
        for sock in sockets:
            sock.close()
        raise
    return sockets
