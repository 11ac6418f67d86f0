"""Writer processes: a gateway's stream writes on the machine's other cores.

The fan-out's hot loop is one ``send`` per client per update; on loopback the kernel does
the receiver's half of each send inside the same call, about 11 µs on the 2-core machine
of docs/benchmarks.md, and at 10,000 streams those sends were 36-40 % of the embedded
pipeline's samples. One Python process makes them on one core, however many cores the
machine has, and the poller, the processors and the API wait behind them. A writer
process takes the writes of SSE streams off the gateway's loop:

* once a stream's catch-up (snapshot or replay) is written and its socket's buffer is
  empty, the hub hands the writer a duplicate of the socket's descriptor (``SCM_RIGHTS``
  over a ``SOCK_SEQPACKET`` Unix socket pair) with the stream's game;
* from then on each update of a game goes to each writer that holds streams of the game
  once, framed once, and the writer sends it to every one of them, in the order the
  gateway sent it; the writer also writes the streams' heartbeats;
* everything else stays in the gateway: accepting the connection, keys and limits, the
  catch-up, seeing the client leave (the gateway still reads the socket), shutdown, and
  the slow-client policy's re-snapshot.

A stream the writer cannot keep up with goes back to the gateway at a message boundary:
when a send takes nothing, at once; when it takes part of a message, once the rest is out
(or after ``stall_s`` the writer gives up and the gateway drops the connection). The
gateway then treats the stream as lagging (:mod:`pressbox.delivery.fanout`): a snapshot
in place of the backlog once its buffer drains. A stream ended by the gateway (shutdown,
a stalled client) gets its last bytes through the writer, after anything still pending,
so nothing reaches the socket out of order. A writer that dies, or falls so far behind
that the gateway has queued ``_MAX_QUEUED`` bytes for it (stopped, stuck), takes its
streams with it: the gateway stops it, aborts them, and the clients resume with
``Last-Event-ID``.

Hand-written because no library passes live sockets to helper processes for this:
``multiprocessing.reduction.send_handle`` moves one descriptor, and process pools move
pickled work, not connections. The protocol below is small on purpose.

Messages (one datagram each; handles are the gateway's numbers for its streams):

===========  =========================================  ==============================
 gateway →    ``A`` handle, game + the descriptor        take a stream
              ``W`` game, bytes                          write to every stream of a game
              ``O`` handle, bytes                        write to one stream
              ``E`` handle, bytes                        write these last, then let go
              ``D`` handle                               let go now (the client left)
 writer →     ``L`` handle                               given back, lagging
              ``S`` handle                               given up: stalled for stall_s
              ``G`` handle                               the connection failed
===========  =========================================  ==============================
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import selectors
import signal
import socket
import struct
import subprocess
import sys
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import structlog

__all__ = ["Handoff", "WriterPool", "serve"]

_log = structlog.get_logger("pressbox.delivery.writers")

_HANDLE = struct.Struct("!I")
_MAX_PIECE = 192 * 1024
"""Largest payload in one message; longer writes go as several, in order."""
_CHANNEL_BUFFER = 4 * 1024 * 1024
"""Socket buffer of each side of a channel: a burst of updates queues here, not in Python."""
_RECV = _MAX_PIECE + 512
_MAX_QUEUED = 64 * 1024 * 1024
"""Bytes the gateway queues for one writer beyond the channel's buffer before it gives the
writer up (stuck or far behind): its streams are cut and resume from the gateway."""

LAGGING = "lagging"
STALLED = "stalled"
GONE = "gone"
STOPPED = "writer stopped"

_REASONS = {b"L": LAGGING, b"S": STALLED, b"G": GONE}


# -- the writer process ------------------------------------------------------------------


@dataclass(slots=True, eq=False)
class _Stream:
    handle: int
    fd: int
    game: bytes
    pending: bytearray = field(default_factory=bytearray)
    since: float = 0.0
    ending: bool = False


class _Writer:
    """The loop of one writer process (blocking, single-threaded: it only writes)."""

    def __init__(
        self, channel: socket.socket, *, heartbeat: bytes, heartbeat_s: float, stall_s: float
    ) -> None:
        self.channel = channel
        self.heartbeat = heartbeat
        self.heartbeat_s = heartbeat_s
        self.stall_s = stall_s
        self.tick_s = min(0.5, heartbeat_s / 4)
        self.streams: dict[int, _Stream] = {}
        self.games: dict[bytes, dict[int, _Stream]] = {}
        self.blocked: dict[int, _Stream] = {}
        """Streams with bytes the socket has not taken yet, by descriptor."""
        self.beat: list[_Stream] = []
        self.outbox: deque[bytes] = deque()
        self.selector = selectors.DefaultSelector()

    def run(self) -> None:
        self.channel.setblocking(False)
        self.selector.register(self.channel, selectors.EVENT_READ)
        next_tick = time.monotonic() + self.tick_s
        next_beat = time.monotonic() + self.heartbeat_s
        running = True
        while running:
            timeout = max(0.0, next_tick - time.monotonic())
            for key, events in self.selector.select(timeout):
                if key.fileobj is self.channel:
                    if events & selectors.EVENT_READ and not self._read_channel():
                        running = False
                    if events & selectors.EVENT_WRITE:
                        self._flush_outbox()
                else:
                    stream = self.blocked.get(key.fd)
                    if stream is not None:
                        self._drain(stream)
            now = time.monotonic()
            if now >= next_tick:
                next_tick = now + self.tick_s
                if now >= next_beat:
                    next_beat = now + self.heartbeat_s
                    self.beat = [s for s in self.streams.values() if not s.ending]
                self._tick(now)
        for stream in list(self.streams.values()):
            self._close(stream)
        self.selector.close()
        self.channel.close()

    # channel

    def _read_channel(self) -> bool:
        """Handle every message waiting; False once the gateway has gone."""
        while True:
            try:
                data, fds, _, _ = socket.recv_fds(self.channel, _RECV, 1)
            except BlockingIOError:
                return True
            except OSError:
                return False
            if not data:
                for fd in fds:
                    os.close(fd)
                return False
            self._handle(data, fds)

    def _handle(self, data: bytes, fds: list[int]) -> None:
        kind = data[:1]
        if kind == b"W":
            size = data[1]
            subs = self.games.get(data[2 : 2 + size])
            if subs:
                self._write_all(list(subs.values()), memoryview(data)[2 + size :])
            return
        (handle,) = _HANDLE.unpack_from(data, 1)
        body = memoryview(data)[5:]
        if kind == b"A":
            if not fds:
                return
            for extra in fds[1:]:
                os.close(extra)
            stream = _Stream(handle, fds[0], bytes(body))
            self.streams[handle] = stream
            self.games.setdefault(stream.game, {})[handle] = stream
            return
        for fd in fds:
            os.close(fd)
        held = self.streams.get(handle)
        if held is None:
            return
        if kind == b"O":
            if not held.ending:
                self._write_all([held], body)
        elif kind == b"E":
            held.ending = True
            self._leave_game(held)
            held.pending += body
            self._drain(held)
        elif kind == b"D" and not held.ending:
            self._close(held)

    def _report(self, kind: bytes, stream: _Stream) -> None:
        self.outbox.append(kind + _HANDLE.pack(stream.handle))
        self._flush_outbox()

    def _flush_outbox(self) -> None:
        while self.outbox:
            try:
                self.channel.send(self.outbox[0])
            except BlockingIOError:
                self.selector.modify(self.channel, selectors.EVENT_READ | selectors.EVENT_WRITE)
                return
            except OSError:
                self.outbox.clear()
                return
            self.outbox.popleft()
        self.selector.modify(self.channel, selectors.EVENT_READ)

    # streams

    def _write_all(self, streams: list[_Stream], data: memoryview) -> None:
        # The hot loop: one send per stream, nothing else unless a send falls short.
        size = len(data)
        write = os.write
        for stream in streams:
            if stream.pending:
                continue  # given back once its pending bytes are out: these are dropped
            try:
                sent = write(stream.fd, data)
            except BlockingIOError:
                sent = 0
            except OSError:
                self._report(b"G", stream)
                self._close(stream)
                continue
            if sent == size:
                continue
            if sent == 0:
                # At a message boundary: the gateway can take the stream back at once.
                self._report(b"L", stream)
                self._close(stream)
                continue
            stream.pending += data[sent:]
            stream.since = time.monotonic()
            self._leave_game(stream)
            self.blocked[stream.fd] = stream
            self.selector.register(stream.fd, selectors.EVENT_WRITE)

    def _drain(self, stream: _Stream) -> None:
        """Write what a stream still owes; give it back (or let it go) once it is out."""
        while stream.pending:
            try:
                sent = os.write(stream.fd, stream.pending)
            except BlockingIOError:
                break
            except OSError:
                if not stream.ending:
                    self._report(b"G", stream)
                self._close(stream)
                return
            del stream.pending[:sent]
        if stream.pending:
            if stream.fd not in self.blocked:
                stream.since = time.monotonic()
                self.blocked[stream.fd] = stream
                self.selector.register(stream.fd, selectors.EVENT_WRITE)
            return
        if not stream.ending:
            self._report(b"L", stream)
        self._close(stream)

    def _tick(self, now: float) -> None:
        for stream in list(self.blocked.values()):
            if now - stream.since > self.stall_s:
                if not stream.ending:
                    self._report(b"S", stream)
                self._close(stream)
        if self.beat:
            # Spread over the ticks of a period, as the hub does.
            share = max(1, int(len(self.streams) * self.tick_s / self.heartbeat_s) + 1)
            batch, self.beat = self.beat[-share:], self.beat[:-share]
            live = [s for s in batch if s.handle in self.streams and not s.ending]
            self._write_all(live, memoryview(self.heartbeat))

    def _leave_game(self, stream: _Stream) -> None:
        subs = self.games.get(stream.game)
        if subs is not None:
            subs.pop(stream.handle, None)
            if not subs:
                del self.games[stream.game]

    def _close(self, stream: _Stream) -> None:
        if self.streams.pop(stream.handle, None) is None:
            return
        self._leave_game(stream)
        if self.blocked.pop(stream.fd, None) is not None:
            self.selector.unregister(stream.fd)
        os.close(stream.fd)


def serve(channel: socket.socket, *, heartbeat: bytes, heartbeat_s: float, stall_s: float) -> None:
    """Run a writer on its channel until the gateway closes it."""
    _Writer(channel, heartbeat=heartbeat, heartbeat_s=heartbeat_s, stall_s=stall_s).run()


def main() -> None:
    """A writer process's entry (``FD HEARTBEAT_S STALL_S``), as the pool starts it."""
    parser = argparse.ArgumentParser(prog="pressbox-stream-writer")
    parser.add_argument("fd", type=int)
    parser.add_argument("heartbeat_s", type=float)
    parser.add_argument("stall_s", type=float)
    args = parser.parse_args()
    # The gateway ends its streams on Ctrl-C; its writer must outlive the signal to write
    # their last bytes, and it exits when the gateway closes the channel.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from pressbox.delivery.fanout import HEARTBEAT, chunk

    channel = socket.socket(fileno=args.fd)
    serve(channel, heartbeat=chunk(HEARTBEAT), heartbeat_s=args.heartbeat_s, stall_s=args.stall_s)


# -- the gateway's side ------------------------------------------------------------------


class Handoff:
    """A stream held by a writer, as the gateway's subscriber sees it."""

    __slots__ = ("handle", "writer")

    def __init__(self, writer: _Channel, handle: int) -> None:
        self.writer = writer
        self.handle = handle

    def write(self, data: bytes) -> None:
        """Bytes for this stream alone, after everything sent to it before."""
        self.writer.send_pieces(b"O" + _HANDLE.pack(self.handle), data)

    def end(self, final: bytes) -> None:
        """Write ``final`` last, then let the stream go (the gateway closes its side)."""
        self.writer.forget(self.handle)
        self.writer.send(b"E" + _HANDLE.pack(self.handle) + final)

    def drop(self) -> None:
        """Let the stream go now, unwritten bytes and all (the client is gone)."""
        self.writer.forget(self.handle)
        self.writer.send(b"D" + _HANDLE.pack(self.handle))


class _Channel:
    """The gateway's end of one writer: its process, its socket, its streams."""

    def __init__(self, pool: WriterPool, index: int) -> None:
        self.pool = pool
        self.index = index
        self.sock, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        for s in (self.sock, child):
            s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, _CHANNEL_BUFFER)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _CHANNEL_BUFFER)
        try:
            self.proc = subprocess.Popen(  # noqa: S603 - our own module, no shell
                [
                    sys.executable,
                    "-c",
                    # Not ``-m``: the package imports this module before it would run.
                    "from pressbox.delivery.writers import main; main()",
                    str(child.fileno()),
                    str(pool.heartbeat_s),
                    str(pool.stall_s),
                ],
                pass_fds=(child.fileno(),),
                stdin=subprocess.DEVNULL,
            )
        finally:
            child.close()
        self.sock.setblocking(False)
        self.outbox: deque[tuple[bytes, list[int]]] = deque()
        self.queued = 0
        """Bytes in ``outbox``."""
        self.games: dict[str, int] = {}
        """Streams held per game (a game's updates go only to writers that hold some)."""
        self.handles: dict[int, tuple[Any, str]] = {}
        self.alive = True

    def send(self, data: bytes, fds: list[int] | None = None) -> None:
        """Queue one message (with descriptors the channel now owns) behind the others."""
        fds = fds or []
        if not self.alive:
            _close_all(fds)
            return
        if not self.outbox:
            sent = self._try(data, fds)
            if sent is not False:
                _close_all(fds)  # sent (the writer holds its own now) or the channel failed
                if sent is not True:
                    self.pool.lost(self, sent)
                return
            self.pool.loop.add_writer(self.sock, self._flush)
        self.outbox.append((data, fds))
        self.queued += len(data)
        if self.queued > _MAX_QUEUED:
            self.pool.lost(self, f"writer fell behind: {self.queued} bytes queued for it")

    def send_pieces(self, head: bytes, data: bytes) -> None:
        for start in range(0, max(len(data), 1), _MAX_PIECE):
            self.send(head + data[start : start + _MAX_PIECE])

    def _try(self, data: bytes, fds: list[int]) -> bool | str:
        """Send one message now: True, False when the channel is full, or why it failed."""
        try:
            if fds:
                socket.send_fds(self.sock, [data], fds)
            else:
                self.sock.send(data)
        except BlockingIOError:
            return False
        except OSError as exc:
            return f"writer channel failed: {exc}"
        return True

    def _flush(self) -> None:
        while self.outbox and self.alive:
            data, fds = self.outbox[0]
            sent = self._try(data, fds)
            if sent is False:
                return
            self.outbox.popleft()
            self.queued -= len(data)
            _close_all(fds)
            if sent is not True:
                self.pool.lost(self, sent)
                return
        with contextlib.suppress(Exception):
            self.pool.loop.remove_writer(self.sock)

    def forget(self, handle: int) -> None:
        held = self.handles.pop(handle, None)
        if held is None:
            return
        game = held[1]
        left = self.games.get(game, 1) - 1
        if left > 0:
            self.games[game] = left
        else:
            self.games.pop(game, None)

    def readable(self) -> None:
        while True:
            try:
                data = self.sock.recv(64)
            except BlockingIOError:
                return
            except OSError:
                data = b""
            if not data:
                self.pool.lost(self, "writer process ended")
                return
            reason = _REASONS.get(data[:1])
            if reason is None or len(data) < 5:
                continue
            (handle,) = _HANDLE.unpack_from(data, 1)
            held = self.handles.get(handle)
            if held is None:
                continue
            self.forget(handle)
            self.pool.returned(held[0], reason)

    def shut(self, *, flush: bool) -> None:
        """Close the channel; ``flush``: what is still queued goes out first (an orderly
        close: ended streams' last bytes), waiting at most a second for room."""
        self.alive = False
        loop = self.pool.loop
        with contextlib.suppress(Exception):
            loop.remove_reader(self.sock)
        with contextlib.suppress(Exception):
            loop.remove_writer(self.sock)
        self.sock.setblocking(True)
        self.sock.settimeout(1.0)
        with contextlib.suppress(OSError):
            while flush and self.outbox:
                data, fds = self.outbox.popleft()
                try:
                    if fds:
                        socket.send_fds(self.sock, [data], fds)
                    else:
                        self.sock.send(data)
                finally:
                    _close_all(fds)
        for _, fds in self.outbox:
            _close_all(fds)
        self.outbox.clear()
        self.queued = 0
        self.sock.close()


def _close_all(fds: list[int]) -> None:
    for fd in fds:
        with contextlib.suppress(OSError):
            os.close(fd)


class WriterPool:
    """The gateway's writer processes (see the module docstring).

    Args:
        count: Writer processes (at least 1).
        heartbeat_s: Seconds between the heartbeats a writer writes to its streams.
        stall_s: Seconds a writer waits for a stream to take a message before giving up.
        returned: Called with a subscriber and the reason (:data:`LAGGING`,
            :data:`STALLED`, :data:`GONE`, :data:`STOPPED`) when its stream comes back.
    """

    def __init__(
        self,
        count: int,
        *,
        heartbeat_s: float,
        stall_s: float,
        returned: Callable[[Any, str], None],
    ) -> None:
        if count < 1:
            raise ValueError("a writer pool needs at least one writer")
        self.count = count
        self.heartbeat_s = heartbeat_s
        self.stall_s = stall_s
        self._returned = returned
        self._channels: list[_Channel] = []
        self._next_handle = 0
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The loop the pool was started on."""
        if self._loop is None:
            raise RuntimeError("the writer pool is not started")
        return self._loop

    def start(self) -> None:
        """Start the processes (on the running loop)."""
        self._loop = asyncio.get_running_loop()
        for i in range(self.count):
            channel = _Channel(self, i)
            self._channels.append(channel)
            self.loop.add_reader(channel.sock, channel.readable)

    @property
    def streams(self) -> int:
        """Streams the writers hold now."""
        return sum(len(c.handles) for c in self._channels)

    def hand(self, sub: Any, game_id: str, fd: int) -> Handoff | None:
        """Give a stream's socket to the writer holding the fewest; ``None`` if none can.

        The writer gets a duplicate of ``fd`` taken now, so the gateway closing its own
        (the client left before the message went out) never sends another socket that
        reused the number.
        """
        live = [c for c in self._channels if c.alive]
        if not live or len(game_id.encode()) > 255:  # a ``W`` message names it in 255 bytes
            return None
        try:
            fd = os.dup(fd)
        except OSError:
            return None
        channel = min(live, key=lambda c: len(c.handles))
        self._next_handle += 1
        handle = self._next_handle
        channel.handles[handle] = (sub, game_id)
        channel.games[game_id] = channel.games.get(game_id, 0) + 1
        channel.send(b"A" + _HANDLE.pack(handle) + game_id.encode(), [fd])
        return Handoff(channel, handle)

    def write(self, game_id: str, data: bytes) -> None:
        """Send bytes to every stream of a game, whichever writer holds it."""
        key = game_id.encode()
        head = b"W%c%b" % (len(key), key)
        for channel in self._channels:
            if channel.games.get(game_id):
                channel.send_pieces(head, data)

    def returned(self, sub: Any, reason: str) -> None:
        self._returned(sub, reason)

    def lost(self, channel: _Channel, reason: str) -> None:
        """A writer failed or fell behind: it is stopped, and every stream it held is
        aborted by the gateway (the clients resume from it)."""
        if not channel.alive:
            return
        _log.error("delivery.writer_lost", writer=channel.index, reason=reason)
        held = list(channel.handles.values())
        channel.handles.clear()
        channel.games.clear()
        channel.shut(flush=False)
        # A writer still running holds the streams' sockets open: stopped, it lets go of
        # them, so that the connections close and nothing stale reaches them later.
        with contextlib.suppress(OSError):
            channel.proc.kill()
        for sub, _ in held:
            self._returned(sub, STOPPED)

    async def close(self) -> None:
        """Close the channels (queued bytes go out first); wait for the processes (5 s
        each, then they are killed)."""
        timeout = 5.0
        for channel in self._channels:
            if channel.alive:
                channel.shut(flush=True)
        for channel in self._channels:
            try:
                await asyncio.to_thread(channel.proc.wait, timeout)
            except subprocess.TimeoutExpired:
                channel.proc.kill()
                await asyncio.to_thread(channel.proc.wait)
        self._channels.clear()
