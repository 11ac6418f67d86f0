"""The fan-out hub: one follower per game, each update encoded once, written to every client.

Design (measured on a 2-core machine, loopback, 300-byte events; see docs/benchmarks.md):
writing pre-encoded bytes straight to each client's socket transport delivers about twice
the messages per second of the usual "one queue and one task per client" design, at a
fraction of the memory per connection. So a game's follower task, when an update arrives,
builds the frames once (SSE chunk, SSE plain, WebSocket text and frame) and walks the
game's subscribers, calling a non-blocking ``write`` on each: for a client served by
uvicorn (SSE over h11 or httptools, WebSocket over its sansio protocol) that is
``transport.write`` of the already framed bytes; for any other client (another ASGI
server, a multi-game SSE stream whose ids differ per client) it appends to a small
bounded queue that the connection's handler drains with ``await send``, or writes
bytes framed for that client alone. Direct writes happen once per turn of the event
loop: the updates of one batch read from the log (a burst, or a follower catching up
after a stall) reach each socket in one write, so falling behind makes the catch-up
cheaper rather than dearer.

Per-client bounded buffers, the slow-client policy:

* Every client has a buffer bound, ``Policy.high_water`` bytes (default 64 KiB): the
  transport's write buffer for direct writes, the queued bytes for queued clients.
* When a write would find the buffer above ``high_water``, the client is marked
  *lagging*: it is sent nothing more (a queued client's backlog is dropped at once, so
  its memory falls back), and the follower goes on to the next client without waiting.
* Every ``Policy.tick_s`` the hub looks at lagging clients. One whose buffer has drained
  below ``Policy.low_water`` gets a fresh ``snapshot`` of each of its games *in place of
  the backlog* it missed, and is followed again (counted in ``HubStats.resnapshots``).
* One that stays lagging longer than ``Policy.stall_s`` (default 20 s) is disconnected
  with the reason ``"slow client: ..."`` (counted in ``HubStats.slow_disconnects``).

So a client never costs more than ``high_water`` plus one frame of buffered memory (and
the kernel's send buffer of a directly written socket is capped too,
``Policy.socket_send_buffer``), and never delays the others: nothing in the follower
awaits a client.

Dead connections: a killed client process closes its socket and the server sees it at
once. A half-open connection is found by the heartbeat (a comment every 15 s on SSE) and
``TCP_USER_TIMEOUT`` (set on every directly written socket, 15 s): unacknowledged data
makes the kernel drop the connection, so its resources are freed within 30 s. A
WebSocket connection the hub owns is pinged on the heartbeat and dropped when it has not
answered by the next one; a socket that closed under the hub before its handler noticed
is freed by the same pass (``HubStats.reaped``). A queued client whose ``send`` stays
blocked longer than ``stall_s`` is disconnected.

Writer processes (``Hub(..., writers=N)``, :mod:`pressbox.delivery.writers`): the hot
loop's sends of single-game chunked SSE streams move to other processes, so that they run
on other cores than the hub's loop; the hub sends each update once per writer and keeps
every other part of a connection. A stream a writer gives back (it lagged, stalled or
failed) rejoins the policy above.

Metrics: :class:`DeliveryMetrics` (connections by transport and write path, messages,
re-snapshots, slow disconnects, reaped connections, refusals) and the ``deliver`` stage
of ``pressbox_stage_seconds`` (an update's emit, or ingest, to its bytes handed to every
socket), on the registry given to the hub.

Shutdown: uvicorn runs the lifespan shutdown only after every connection has ended, and a
streaming handler is never told that the server is stopping. The hub therefore watches
for the moment uvicorn asks its connections to close (it clears ``keep_alive`` on each
request cycle) and then ends every stream itself, so a shutdown never hangs on open
streams; :meth:`Hub.close_streams` does the same on demand, and leaving the hub's context
does it too.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections import deque
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Literal, Self

import msgspec
import structlog
from prometheus_client import CollectorRegistry, Counter, Gauge

from pressbox.bus.base import EventBus, Trimmed, update_stream
from pressbox.delivery.writers import GONE, LAGGING, STALLED, Handoff, WriterPool
from pressbox.engine.events import Update, decode_update
from pressbox.errors import BackendError, FeedParseError, PressboxError, UnknownGame
from pressbox.metrics import per_registry, pipeline_metrics

__all__ = [
    "DeliveryMetrics",
    "Frames",
    "Hub",
    "HubStats",
    "Limits",
    "Policy",
    "Refused",
    "Subscriber",
    "delivery_metrics",
]

_log = structlog.get_logger("pressbox.delivery.fanout")

Protocol_ = Literal["sse", "ws"]

HEARTBEAT = b": hb\n\n"
"""An SSE comment: keeps proxies from timing out and finds half-open connections."""


def chunk(data: bytes) -> bytes:
    """Frame bytes as one HTTP/1.1 chunk (for writes that bypass the server's framing)."""
    return b"%x\r\n%b\r\n" % (len(data), data)


_HEARTBEAT_CHUNK = chunk(HEARTBEAT)


def ws_text_frame(data: bytes) -> bytes:
    """Frame bytes as one unmasked WebSocket text message (server to client, uncompressed).

    Uncompressed messages stay valid when permessage-deflate was negotiated (RFC 7692:
    a sender may leave any message uncompressed), so shared bytes can be written to the
    socket of every WebSocket client.
    """
    n = len(data)
    if n < 126:
        return b"\x81%c%b" % (n, data)
    if n < 65536:
        return b"\x81\x7e%b%b" % (n.to_bytes(2, "big"), data)
    return b"\x81\x7f%b%b" % (n.to_bytes(8, "big"), data)


def ws_close_frame(code: int, reason: str) -> bytes:
    """An unmasked WebSocket close frame."""
    payload = code.to_bytes(2, "big") + reason.encode()[:120]
    return b"\x88%c%b" % (len(payload), payload)


class Refused(PressboxError):
    """A connection is refused by a limit.

    Args:
        status: The HTTP status to answer (429 for a key's limit, 503 for the process).
        reason: Why, for the client.
    """

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(status, reason)
        self.status = status
        self.reason = reason

    def __str__(self) -> str:
        return f"{self.status}: {self.reason}"


@dataclass(frozen=True, slots=True)
class Policy:
    """The slow-client and liveness policy (see the module docstring).

    Args:
        high_water: Bytes buffered for a client above which it is lagging.
        low_water: Bytes below which a lagging client is caught up with a snapshot.
        stall_s: Seconds a client may stay lagging (or blocked in ``send``) before it is
            disconnected.
        heartbeat_s: Seconds between SSE heartbeat comments (and pings of the WebSocket
            connections the hub owns, one of which unanswered for a whole period ends it).
        tick_s: Seconds between the hub's checks of lagging clients.
        tcp_user_timeout_s: ``TCP_USER_TIMEOUT`` set on directly written sockets
            (0 leaves the system default).
        socket_send_buffer: ``SO_SNDBUF`` set on directly written sockets, so that the
            kernel too holds a bounded amount per client (0 leaves the system default,
            which grows to megabytes and would hide a slow reader from the policy).
        replay_max: Most updates replayed to a resuming client from the log; further
            behind, it gets a snapshot.
        recent: Updates kept in memory per game for resumes without reading the log.
    """

    high_water: int = 64 * 1024
    low_water: int = 16 * 1024
    stall_s: float = 20.0
    heartbeat_s: float = 15.0
    tick_s: float = 0.5
    tcp_user_timeout_s: float = 15.0
    socket_send_buffer: int = 128 * 1024
    replay_max: int = 5_000
    recent: int = 256

    def __post_init__(self) -> None:
        if not 0 <= self.low_water <= self.high_water:
            raise ValueError("need 0 <= low_water <= high_water")
        if self.stall_s <= 0 or self.heartbeat_s <= 0 or self.tick_s <= 0:
            raise ValueError("stall_s, heartbeat_s and tick_s must be positive")


@dataclass(frozen=True, slots=True)
class Limits:
    """Connection limits, answered with 429 (per key) or 503 (per process) and a reason.

    Args:
        max_connections: Streams one process holds (keep under its open-file limit).
        max_per_key: Streams one API key holds in this process.
        max_games_per_connection: Games one stream or socket may follow.
    """

    max_connections: int = 18_000
    max_per_key: int = 1_000
    max_games_per_connection: int = 50


@dataclass(slots=True)
class HubStats:
    """Counters of the hub since it started (``connections`` is the number open now)."""

    connections: int = 0
    updates: int = 0
    messages: int = 0
    resnapshots: int = 0
    slow_disconnects: int = 0
    refused: int = 0
    lagging: int = 0
    reaped: int = 0
    handed_off: int = 0
    """Streams given to a writer process (a stream given back and handed again counts twice)."""
    given_back: int = 0
    """Streams a writer gave back (lagging, stalled, failed, or the writer stopped)."""


@dataclass(frozen=True, slots=True)
class DeliveryMetrics:
    """The hub's Prometheus families, bound to one registry (summed over a process's hubs).

    Attributes:
        connections: ``pressbox_delivery_connections{transport,write}``: streams open now,
            by transport (``sse``, ``ws``) and how they are written (``direct`` to the
            socket, ``queued`` through the handler).
        messages: ``pressbox_delivery_messages_total``: messages handed to clients
            (updates, snapshots, replayed updates).
        resnapshots: ``pressbox_delivery_resnapshots_total``: lagging clients caught up
            with a fresh snapshot in place of their backlog.
        slow_disconnects: ``pressbox_delivery_slow_disconnects_total``: clients
            disconnected for staying behind (or blocked in ``send``) past ``stall_s``.
        reaped: ``pressbox_delivery_dead_reaped_total``: connections the hub found closed
            under it (the peer vanished: reset, ``TCP_USER_TIMEOUT``) and freed itself.
        refused: ``pressbox_delivery_refused_total{status}``: connections refused by a
            limit (429 a key's, 503 the process's).
        handed_off: ``pressbox_delivery_handed_off_total``: streams given to a writer
            process (:mod:`pressbox.delivery.writers`).
        given_back: ``pressbox_delivery_given_back_total{reason}``: streams a writer gave
            back: ``lagging``, ``stalled``, ``gone`` (the connection failed) or
            ``writer stopped``.
    """

    connections: Gauge
    messages: Counter
    resnapshots: Counter
    slow_disconnects: Counter
    reaped: Counter
    refused: Counter
    handed_off: Counter
    given_back: Counter


def _create_metrics(reg: CollectorRegistry) -> DeliveryMetrics:
    return DeliveryMetrics(
        connections=Gauge(
            "pressbox_delivery_connections",
            "Streams open now, by transport (sse, ws) and write path (direct, queued).",
            ["transport", "write"],
            registry=reg,
        ),
        messages=Counter(
            "pressbox_delivery_messages",
            "Messages handed to clients (updates, snapshots, replayed updates).",
            registry=reg,
        ),
        resnapshots=Counter(
            "pressbox_delivery_resnapshots",
            "Lagging clients sent a fresh snapshot in place of their backlog.",
            registry=reg,
        ),
        slow_disconnects=Counter(
            "pressbox_delivery_slow_disconnects",
            "Clients disconnected for staying behind past the stall limit.",
            registry=reg,
        ),
        reaped=Counter(
            "pressbox_delivery_dead_reaped",
            "Connections found closed under the hub (peer gone) and freed by it.",
            registry=reg,
        ),
        refused=Counter(
            "pressbox_delivery_refused",
            "Connections refused by a limit, by HTTP status (429 key, 503 process).",
            ["status"],
            registry=reg,
        ),
        handed_off=Counter(
            "pressbox_delivery_handed_off",
            "Streams given to a writer process.",
            registry=reg,
        ),
        given_back=Counter(
            "pressbox_delivery_given_back",
            "Streams a writer process gave back, by reason (lagging, stalled, gone, "
            "writer stopped).",
            ["reason"],
            registry=reg,
        ),
    )


delivery_metrics = per_registry(_create_metrics)
"""The hub's families of a registry (the default one when ``None``)."""


class _Stamps(msgspec.Struct):
    """The timestamps of an update, decoded without the rest of it."""

    ts_ingest: float | None = None
    ts_emit: float | None = None


_stamps = msgspec.json.Decoder(_Stamps)


@dataclass(frozen=True, slots=True)
class Frames:
    """One message, encoded once for every kind of client.

    Args:
        game_id: The game.
        seq: The update's seq (0 for the placeholder snapshot of a game without updates).
        body: The SSE event without its ``id:`` line (``event:`` and ``data:`` lines).
        sse: The whole SSE event with ``id: {game}:{seq}``.
        sse_chunk: ``sse`` framed as an HTTP/1.1 chunk, for direct transport writes.
        ws: The WebSocket text message.
        ws_frame: ``ws`` framed as a WebSocket message, for direct transport writes.
    """

    game_id: str
    seq: int
    body: bytes
    sse: bytes
    sse_chunk: bytes
    ws: str
    ws_frame: bytes

    @classmethod
    def build(
        cls, kind: Literal["snapshot", "update"], game_id: str, seq: int, data: bytes
    ) -> Frames:
        """Encode an update payload (JSON bytes) as a snapshot or update message."""
        body = b"event: %b\ndata: %b\n\n" % (kind.encode(), data)
        sse = b"id: %b:%d\n%b" % (game_id.encode(), seq, body)
        ws = b'{"type":"%b","game":%b,"seq":%d,"data":%b}' % (
            kind.encode(),
            msgspec.json.encode(game_id),
            seq,
            data,
        )
        return cls(game_id, seq, body, sse, chunk(sse), ws.decode(), ws_text_frame(ws))


class Subscriber:
    """One client connection: its games, its position in each, its buffer.

    Built by the SSE and WebSocket endpoints; the hub writes to it without ever awaiting.

    Args:
        protocol: ``"sse"`` or ``"ws"``.
        key: The API key it counts against (``None``: anonymous).
        transport: The socket transport to write chunk-framed SSE bytes to directly, or
            ``None`` to queue messages for the handler to send.
        cycle: The server's request cycle (uvicorn), watched for shutdown.
        multi: An SSE stream of several games: its ids list every game's position.
    """

    __slots__ = (
        "_queued_bytes",
        "chunked",
        "closed",
        "cycle",
        "dead",
        "games",
        "handoff",
        "keepalive",
        "key",
        "lag_since",
        "multi",
        "order",
        "protocol",
        "queue",
        "reason",
        "registered",
        "send_since",
        "transport",
        "wake",
    )

    def __init__(
        self,
        protocol: Protocol_,
        *,
        key: str | None = None,
        transport: asyncio.Transport | None = None,
        cycle: Any = None,
        multi: bool = False,
    ) -> None:
        self.protocol: Protocol_ = protocol
        self.key = key
        self.transport = transport
        self.cycle = cycle
        self.multi = multi
        self.games: dict[str, int] = {}
        self.order: list[str] = []
        self.lag_since: float | None = None
        self.closed = False
        self.reason: str | None = None
        self.queue: deque[bytes | str] | None = None if transport is not None else deque()
        self._queued_bytes = 0
        self.wake: asyncio.Event | None = None if transport is not None else asyncio.Event()
        self.send_since: float | None = None
        self.registered = False
        self.dead = False
        self.chunked = True
        """A direct SSE stream's body is HTTP/1.1 chunks (``False``: an HTTP/1.0 body,
        delimited by the connection's close). The endpoint sets it once the response
        has started."""
        self.handoff: Handoff | None = None
        """The writer process holding this stream's writes, when one does
        (:mod:`pressbox.delivery.writers`): every byte then goes through it."""
        self.keepalive: Callable[[], bool] | None = None
        """Called on every heartbeat pass of a connection that pings its peer itself (a
        WebSocket owned by the hub): sends a ping, and returns False when the previous
        one went unanswered for a whole pass (the peer is gone)."""

    @property
    def write_path(self) -> Literal["direct", "queued"]:
        """``direct`` when the hub writes to the socket, ``queued`` through the handler."""
        return "direct" if self.transport is not None else "queued"

    # -- buffer -------------------------------------------------------------------------

    def buffered(self) -> int:
        """Bytes waiting to reach this client."""
        if self.transport is not None:
            return self.transport.get_write_buffer_size()
        return self._queued_bytes

    def write(self, data: bytes | str) -> None:
        """Hand bytes to the client without waiting (the caller checked the buffer)."""
        if self.transport is not None:
            if self.transport.is_closing():
                self.closed = True
                return
            if self.handoff is not None:
                # Behind whatever the writer still has for this stream, never around it.
                self.handoff.write(data.encode() if isinstance(data, str) else data)
                return
            if isinstance(data, str):
                # A message of this connection alone (an error, a pong): frame it here.
                data = ws_text_frame(data.encode()) if self.protocol == "ws" else data.encode()
            self.transport.write(data)
            return
        if self.queue is None or self.wake is None:
            return
        self.queue.append(data)
        self._queued_bytes += len(data)
        self.wake.set()

    def pop(self) -> bytes | str | None:
        """The next queued message for the handler to send, or ``None``."""
        if not self.queue:
            return None
        data = self.queue.popleft()
        self._queued_bytes -= len(data)
        return data

    def drop_backlog(self) -> None:
        """Forget queued messages (a lagging client gets a snapshot instead)."""
        if self.queue is not None:
            self.queue.clear()
            self._queued_bytes = 0

    def frame(self, frames: Frames) -> bytes | str:
        """The bytes of a message for this client (shared unless ids list several games)."""
        if self.protocol == "ws":
            return frames.ws_frame if self.transport is not None else frames.ws
        if self.multi:
            cursor = ",".join(f"{g}:{self.games[g]}" for g in self.order if g in self.games)
            data = b"id: %b\n%b" % (cursor.encode(), frames.body)
            return chunk(data) if self.transport is not None and self.chunked else data
        if self.transport is not None and self.chunked:
            return frames.sse_chunk
        return frames.sse

    def end(self, reason: str, *, abort: bool = False) -> None:
        """Stop this client; the handler notices and returns.

        Args:
            reason: Why, for logs (and the WebSocket close reason).
            abort: Drop the connection without ending the response (a stuck client).
        """
        if self.closed:
            return
        self.closed = True
        self.reason = reason
        if self.transport is not None and self.handoff is not None:
            handoff, self.handoff = self.handoff, None
            # The writer writes the last chunk after what it still has, then lets go; the
            # connection ends when both sides have closed their descriptors.
            if abort:
                handoff.drop()
                self.transport.abort()
            else:
                handoff.end(b"0\r\n\r\n" if self.chunked else b"")
                self.transport.close()
            return
        if self.transport is not None:
            if abort:
                self.transport.abort()
            elif not self.transport.is_closing():
                # The last chunk (or a close frame) ends the stream cleanly; closing wakes
                # the handler, which is waiting for the disconnect.
                if self.protocol == "ws":
                    self.transport.write(ws_close_frame(1001, reason))
                elif self.chunked:
                    self.transport.write(b"0\r\n\r\n")
                self.transport.close()
        elif self.wake is not None:
            self.wake.set()


@dataclass(slots=True)
class _Game:
    game_id: str
    last_seq: int = 0
    snapshot: Frames | None = None
    payload: bytes = b""
    update: Update | None = None
    subs: set[Subscriber] = field(default_factory=set)
    """Every subscriber of the game, lagging ones included."""
    direct: dict[Subscriber, asyncio.Transport] = field(default_factory=dict)
    """SSE subscribers in step written with one shared chunk: the hot loop of the fan-out."""
    direct_plain: dict[Subscriber, asyncio.Transport] = field(default_factory=dict)
    """SSE subscribers in step over HTTP/1.0 (unchunked body), written with one shared event."""
    direct_ws: dict[Subscriber, asyncio.Transport] = field(default_factory=dict)
    """WebSocket subscribers in step written with one shared frame."""
    handed: set[Subscriber] = field(default_factory=set)
    """SSE subscribers in step whose writes a writer process makes."""
    others: set[Subscriber] = field(default_factory=set)
    """Subscribers in step that need their own framing or a queue."""
    recent: deque[Frames] = field(default_factory=deque)
    pending: list[tuple[Frames, float | None]] = field(default_factory=list)
    """Updates not yet written to the direct subscribers, with their emit time."""
    flush: asyncio.Handle | None = None
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    known: bool = False
    since: int | None = None
    """The update the caller of :meth:`Hub.follow` already had (see there)."""
    error: str | None = None
    failing: str | None = None
    updated_at: float | None = None


def _placeholder(game_id: str) -> Frames:
    data = msgspec.json.encode(
        {"game_id": game_id, "seq": 0, "available": False, "reason": "no update yet"}
    )
    return Frames.build("snapshot", game_id, 0, data)


def tune_socket(transport: asyncio.BaseTransport, policy: Policy) -> None:
    """Bound the kernel's send buffer and drop connections whose data stays unacknowledged.

    With the heartbeat, ``TCP_USER_TIMEOUT`` frees half-open connections in bounded time.
    """
    sock = transport.get_extra_info("socket")
    if sock is None:
        return
    with contextlib.suppress(OSError, AttributeError):
        if policy.socket_send_buffer > 0:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, policy.socket_send_buffer)
        if policy.tcp_user_timeout_s > 0:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
            timeout_ms = int(policy.tcp_user_timeout_s * 1000)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, timeout_ms)


class Hub:
    """Follows games on the event log and fans their updates out to subscribers.

    Use it as ``async with Hub(bus) as hub:`` (inside the app's lifespan, with the bus
    already open). One follower task per game runs in the hub's task group from the first
    subscriber on (or from :meth:`follow`).

    Args:
        bus: The event log holding ``updates:<game_id>`` streams.
        policy: The slow-client and liveness policy.
        limits: Connection limits.
        listeners: Called with every new :class:`Update` of every followed game (the
            graphics sink); they must not block.
        follow_all: Follow every game that has an update stream, discovered every
            ``discover_s`` seconds (for listeners that need every game).
        discover_s: Seconds between looks for new games when ``follow_all``.
        registry: The Prometheus registry of the hub's metrics (:class:`DeliveryMetrics`
            and ``pressbox_stage_seconds{stage="deliver"}``); the default one when
            ``None``.
        writers: Writer processes that make the single-game chunked SSE streams' socket
            writes once their catch-up is written (:mod:`pressbox.delivery.writers`),
            started and stopped with the hub; 0: the hub writes every stream itself.
    """

    def __init__(
        self,
        bus: EventBus,
        *,
        policy: Policy | None = None,
        limits: Limits | None = None,
        listeners: Iterable[Callable[[Update], None]] = (),
        follow_all: bool = False,
        discover_s: float = 2.0,
        registry: CollectorRegistry | None = None,
        writers: int = 0,
    ) -> None:
        if writers < 0:
            raise ValueError("writers must be 0 (none) or more")
        self.bus = bus
        self.policy = policy or Policy()
        self.limits = limits or Limits()
        self.stats = HubStats()
        self.metrics = delivery_metrics(registry)
        # The update's emit (its ingest when it has no emit) to its bytes handed to every
        # socket of this gateway: the server's whole share of play-to-display.
        self._deliver = pipeline_metrics(registry).stage_seconds.labels("deliver")
        self._messages = self.metrics.messages
        self._listeners = list(listeners)
        self._follow_all = follow_all
        self._discover_s = discover_s
        self._games: dict[str, _Game] = {}
        self._subs: set[Subscriber] = set()
        self._lagging: set[Subscriber] = set()
        self._per_key: dict[str, int] = {}
        self._queued: set[Subscriber] = set()
        self._beat: list[Subscriber] = []
        self._tg: asyncio.TaskGroup | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._closing = False
        self._closed = asyncio.Event()
        self._writers: WriterPool | None = None
        self._writer_count = writers

    # -- lifecycle ----------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        if self._writer_count:
            self._writers = WriterPool(
                self._writer_count,
                heartbeat_s=self.policy.heartbeat_s,
                stall_s=self.policy.stall_s,
                returned=self._given_back,
            )
            self._writers.start()
        self._tg = asyncio.TaskGroup()
        await self._tg.__aenter__()
        self._spawn(self._maintain())
        if self._follow_all:
            self._spawn(self._discover())
        return self

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        if self._tg is None:
            coro.close()
            raise RuntimeError("the hub is not running: use it as `async with Hub(bus)`")
        task = self._tg.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close_streams("server shutting down")
        self._closed.set()
        assert self._tg is not None  # noqa: S101 - set in __aenter__
        tg, self._tg = self._tg, None
        # Followers block on the log forever and the maintenance loop never ends: they
        # are cancelled, which the task group then waits for.
        for task in list(self._tasks):
            task.cancel()
        try:
            await tg.__aexit__(exc_type, exc, tb)
        finally:
            if self._writers is not None:
                writers, self._writers = self._writers, None
                await writers.close()

    def add_listener(self, listener: Callable[[Update], None]) -> None:
        """Call ``listener`` with every new update of every followed game (never awaited)."""
        self._listeners.append(listener)

    @property
    def closing(self) -> bool:
        """Whether the hub is ending its streams (shutdown)."""
        return self._closing

    async def wait_closed(self) -> None:
        """Wait until the hub has been left (handlers of queued clients race this)."""
        await self._closed.wait()

    def close_streams(self, reason: str = "server shutting down") -> None:
        """End every stream now; handlers return and clients reconnect elsewhere."""
        self._closing = True
        for sub in list(self._subs):
            sub.end(reason)
        if self._subs:
            _log.info("delivery.streams_closed", count=len(self._subs), reason=reason)

    # -- admission ----------------------------------------------------------------------

    def admit(self, key: str | None) -> None:
        """Count a new connection against the limits.

        Raises:
            Refused: 503 when the hub is closing or the process is full, 429 when the key
                holds its maximum of connections.
        """
        if self._closing:
            raise self._refuse(503, "server shutting down")
        if self.stats.connections >= self.limits.max_connections:
            raise self._refuse(
                503, f"this server holds its maximum of {self.limits.max_connections} streams"
            )
        if key is not None:
            held = self._per_key.get(key, 0)
            if held >= self.limits.max_per_key:
                raise self._refuse(
                    429, f"this key holds its maximum of {self.limits.max_per_key} streams"
                )
            self._per_key[key] = held + 1
        self.stats.connections += 1

    def _refuse(self, status: int, reason: str) -> Refused:
        self.stats.refused += 1
        self.metrics.refused.labels(str(status)).inc()
        return Refused(status, reason)

    def release(self, sub: Subscriber) -> None:
        """Forget a connection: unsubscribe it everywhere and give back its admission."""
        if sub.registered:
            sub.registered = False
            self.metrics.connections.labels(sub.protocol, sub.write_path).dec()
        for game_id in list(sub.games):
            game = self._games.get(game_id)
            if game is not None:
                game.subs.discard(sub)
                self._detach(game, sub)
        sub.games.clear()
        sub.drop_backlog()
        self._subs.discard(sub)
        self._queued.discard(sub)
        self._lagging.discard(sub)
        sub.closed = True
        self.stats.connections -= 1
        if sub.key is not None:
            left = self._per_key.get(sub.key, 1) - 1
            if left > 0:
                self._per_key[sub.key] = left
            else:
                self._per_key.pop(sub.key, None)

    def register(self, sub: Subscriber) -> None:
        """Attach an admitted connection (heartbeats, shutdown, slow-client policy)."""
        self._subs.add(sub)
        if not sub.registered:
            sub.registered = True
            self.metrics.connections.labels(sub.protocol, sub.write_path).inc()
        if sub.queue is not None:
            self._queued.add(sub)
        if sub.transport is not None:
            tune_socket(sub.transport, self.policy)

    # -- games --------------------------------------------------------------------------

    async def ensure(self, game_id: str) -> None:
        """Follow a game from now on, after checking that it exists.

        Raises:
            UnknownGame: The game has no update stream.
            BackendError: The log could not be read.
        """
        await self._channel(game_id)

    def health(self, game_id: str) -> tuple[float | None, str | None]:
        """When a followed game last got news (monotonic) and why following fails, if so."""
        game = self._games.get(game_id)
        if game is None:
            return None, "not followed"
        return game.updated_at, game.failing

    async def _channel(self, game_id: str) -> _Game:
        """The game's channel, followed from now on.

        Raises:
            UnknownGame: The game has no update stream.
            BackendError: The log could not be read.
        """
        game = self._games.get(game_id)
        if game is None:
            game = _Game(game_id)
            self._spawn(self._follow(game))
            self._games[game_id] = game
        await game.ready.wait()
        if game.error is not None or not game.known:
            # Only this channel: another waiter refused before may have let a newer one
            # take the game's place (announced meanwhile), which must stay the only one.
            if self._games.get(game_id) is game:
                del self._games[game_id]
            if game.error is not None:
                raise BackendError(game.error)
            raise UnknownGame(game_id)
        return game

    def follow(self, game_id: str, *, since: int | None = None) -> None:
        """Start following a game before anyone subscribes (announced games).

        Args:
            game_id: The game.
            since: The last update the caller has read itself (a prediction just computed):
                the updates after it reach the listeners even when they land before the
                follower's first read, which would otherwise take them as its snapshot.
        """
        if game_id not in self._games and self._tg is not None:
            game = _Game(game_id, known=True, since=since)
            self._spawn(self._follow(game))
            self._games[game_id] = game

    def latest(self, game_id: str) -> Update | None:
        """The latest update of a followed game (its snapshot), or ``None``."""
        game = self._games.get(game_id)
        if game is None or not game.payload:
            return None
        if game.update is None or game.update.seq != game.last_seq:
            try:
                game.update = decode_update(game.payload)
            except FeedParseError as exc:
                _log.warning("delivery.bad_update", game_id=game_id, error=str(exc))
                return None
        return game.update

    def games(self) -> list[str]:
        """The games followed now."""
        return sorted(g.game_id for g in self._games.values() if g.known)

    async def _load(self, game: _Game) -> None:
        stream = update_stream(game.game_id)
        last = await self.bus.last_seq(stream)
        if last > 0:
            game.known = True
            # Start from the caller's position when it has one: the tail then publishes
            # what landed after it, to the listeners too.
            since = game.since
            start = since if since is not None and 0 < since < last else last
            entries = await self.bus.read(stream, start, limit=1)
            if entries:
                self._set_snapshot(game, entries[0].seq, entries[0].payload)
                return
        game.last_seq = last
        game.snapshot = _placeholder(game.game_id) if last == 0 else game.snapshot

    def _set_snapshot(self, game: _Game, seq: int, payload: bytes) -> None:
        game.last_seq = seq
        game.payload = payload
        game.snapshot = Frames.build("snapshot", game.game_id, seq, payload)

    async def _follow(self, game: _Game) -> None:
        stream = update_stream(game.game_id)
        delay = 0.2
        while True:
            try:
                if not game.ready.is_set():
                    await self._load(game)
                    game.updated_at = time.monotonic()
                    game.ready.set()
                    if not game.known:
                        return
                if game.failing is not None:
                    await self.bus.last_seq(stream)
                    game.failing = None
                async for envelope in self.bus.tail(stream, game.last_seq):
                    self._publish(game, envelope.seq, envelope.payload)
                    delay = 0.2
            except Trimmed:
                # The follower fell behind a trim: everyone gets a snapshot, no gap.
                await self._load(game)
                self._resnapshot_all(game)
            except BackendError as exc:
                if not game.ready.is_set():
                    game.error = str(exc)
                    game.ready.set()
                    return
                game.failing = str(exc)
                _log.warning("delivery.follow_failed", game_id=game.game_id, error=str(exc))
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
            else:
                return  # the log was closed

    def _publish(self, game: _Game, seq: int, payload: bytes) -> None:
        if seq <= game.last_seq:
            return
        frames = Frames.build("update", game.game_id, seq, payload)
        game.last_seq = seq
        game.payload = payload
        game.snapshot = Frames.build("snapshot", game.game_id, seq, payload)
        game.known = True
        game.failing = None
        game.updated_at = time.monotonic()
        game.recent.append(frames)
        if len(game.recent) > self.policy.recent:
            game.recent.popleft()
        self.stats.updates += 1
        try:
            stamps = _stamps.decode(payload)
        except msgspec.MsgspecError:
            start = None
        else:
            start = stamps.ts_emit or stamps.ts_ingest
        # Direct subscribers are written once per turn of the event loop: the updates of
        # one batch read from the log (a burst, or a follower catching up) go to each
        # socket in one write instead of one write each.
        game.pending.append((frames, start))
        if game.flush is None:
            game.flush = asyncio.get_running_loop().call_soon(self._flush, game)
        high = self.policy.high_water
        lagged: list[Subscriber] = []
        sent = 0
        for sub in game.others:
            if sub.closed:
                continue
            if sub.buffered() > high:
                lagged.append(sub)
                continue
            sub.games[game.game_id] = seq
            sub.write(sub.frame(frames))
            sent += 1
        for sub in lagged:
            self._lag(sub)
        self.stats.messages += sent
        self._messages.inc(sent)
        if self._listeners:
            update = self.latest(game.game_id)
            if update is not None:
                for listener in self._listeners:
                    listener(update)

    def _flush(self, game: _Game) -> None:
        """Write a game's pending updates to its direct subscribers (before any other
        write to them, so that every client sees the game's updates in order)."""
        if game.flush is not None:
            game.flush.cancel()
            game.flush = None
        pending = game.pending
        if not pending:
            return
        game.pending = []
        if len(pending) == 1:
            frames = pending[0][0]
            sse, plain, ws = frames.sse_chunk, frames.sse, frames.ws_frame
        else:
            sse = b"".join(f.sse_chunk for f, _ in pending)
            plain = b"".join(f.sse for f, _ in pending)
            ws = b"".join(f.ws_frame for f, _ in pending)
        high = self.policy.high_water
        lagged: list[Subscriber] = []
        # The hot loop: one shared bytes object, one write per client, nothing awaited.
        for data, subs in ((sse, game.direct), (plain, game.direct_plain), (ws, game.direct_ws)):
            for sub, transport in subs.items():
                if transport.get_write_buffer_size() > high:
                    lagged.append(sub)
                    continue
                transport.write(data)
        if game.handed and self._writers is not None:
            self._writers.write(game.game_id, sse)
        clients = (
            len(game.direct) + len(game.direct_plain) + len(game.direct_ws) + len(game.handed)
        ) - len(lagged)
        for sub in lagged:
            self._lag(sub)
        sent = clients * len(pending)
        self.stats.messages += sent
        self._messages.inc(sent)
        now = time.time()
        for _, start in pending:
            if start:
                self._deliver.observe(max(now - start, 0.0))

    def _resnapshot_all(self, game: _Game) -> None:
        self._flush(game)
        if game.snapshot is None:
            return
        for sub in game.subs:
            if sub.lag_since is None and not sub.closed and sub not in game.handed:
                sub.games[game.game_id] = game.last_seq
                sub.write(sub.frame(game.snapshot))
        if game.handed and self._writers is not None:
            for sub in game.handed:
                sub.games[game.game_id] = game.last_seq
            self._writers.write(game.game_id, game.snapshot.sse_chunk)

    def _attach(self, game: _Game, sub: Subscriber) -> None:
        if sub.transport is not None and not sub.multi:
            if sub.protocol == "ws":
                game.direct_ws[sub] = sub.transport
            elif sub.chunked:
                if not self._hand_off(game, sub, sub.transport):
                    game.direct[sub] = sub.transport
            else:
                game.direct_plain[sub] = sub.transport
        else:
            game.others.add(sub)

    def _hand_off(self, game: _Game, sub: Subscriber, transport: asyncio.Transport) -> bool:
        """Give a chunked single-game SSE stream's writes to a writer process, when the
        hub has writers and nothing of the stream is still buffered here (the writer's
        bytes must follow the last ones written here)."""
        if (
            self._writers is None
            or sub.handoff is not None
            or sub.closed
            or transport.is_closing()
            or transport.get_write_buffer_size() > 0
        ):
            return False
        sock = transport.get_extra_info("socket")
        fileno = getattr(sock, "fileno", None)
        if fileno is None:
            return False
        handoff = self._writers.hand(sub, game.game_id, fileno())
        if handoff is None:
            return False
        sub.handoff = handoff
        game.handed.add(sub)
        self.stats.handed_off += 1
        self.metrics.handed_off.inc()
        return True

    def _detach(self, game: _Game, sub: Subscriber) -> None:
        game.direct.pop(sub, None)
        game.direct_plain.pop(sub, None)
        game.direct_ws.pop(sub, None)
        game.others.discard(sub)
        if sub in game.handed:
            game.handed.discard(sub)
            if sub.handoff is not None:
                handoff, sub.handoff = sub.handoff, None
                handoff.drop()

    def _given_back(self, sub: Subscriber, reason: str) -> None:
        """A writer gave a stream back (see :mod:`pressbox.delivery.writers`)."""
        sub.handoff = None
        self.stats.given_back += 1
        self.metrics.given_back.labels(reason).inc()
        for game_id in sub.games:
            game = self._games.get(game_id)
            if game is not None:
                game.handed.discard(sub)
        if sub.closed:
            return
        if reason == LAGGING:
            # At a message boundary, nothing buffered here: the usual lagging client.
            self._lag(sub)
        elif reason == STALLED:
            self._cut_slow(sub, f"slow client: behind for over {self.policy.stall_s:g} s")
        else:
            # The connection failed under the writer, or the writer stopped mid-message:
            # the client resumes from its last event id.
            sub.end("connection lost" if reason == GONE else reason, abort=True)

    def _hand_off_waiting(self) -> None:
        """Hand over direct SSE streams whose buffer has drained since they joined."""
        for game in self._games.values():
            ready = [
                (sub, t)
                for sub, t in game.direct.items()
                if t.get_write_buffer_size() == 0 and not t.is_closing()
            ]
            if not ready:
                continue
            self._flush(game)
            for sub, transport in ready:
                if self._hand_off(game, sub, transport):
                    game.direct.pop(sub, None)

    def _lag(self, sub: Subscriber) -> None:
        if sub.lag_since is not None:
            return
        sub.lag_since = time.monotonic()
        for game_id in sub.games:
            game = self._games.get(game_id)
            if game is not None:
                self._detach(game, sub)
        sub.drop_backlog()
        self._lagging.add(sub)
        self.stats.lagging += 1

    # -- subscriptions ------------------------------------------------------------------

    async def subscribe(self, sub: Subscriber, game_id: str, since: int | None = None) -> None:
        """Add a game to a connection: a snapshot, or the updates after ``since``, then live.

        Nothing is missed or repeated between the catch-up and the live updates: the
        catch-up is written and the connection joins the game in one step, with no await
        in between.

        Args:
            sub: The connection.
            game_id: The game.
            since: The last seq the client has (a resume); ``None`` for a snapshot.

        Raises:
            UnknownGame: The game has no update stream.
            Refused: The connection follows its maximum of games.
        """
        if game_id not in sub.games and len(sub.games) >= self.limits.max_games_per_connection:
            raise Refused(
                429, f"a connection follows at most {self.limits.max_games_per_connection} games"
            )
        game = await self._channel(game_id)
        replay: list[Frames] = []
        if since is not None and since < game.last_seq:
            replay = await self._replay(game, since)
        if sub.closed:
            return
        # From here to the end: no await, so no update slips between catch-up and live.
        self._flush(game)
        game.subs.discard(sub)
        self._detach(game, sub)
        if game_id not in sub.order:
            sub.order.append(game_id)
        out: list[Frames] = []
        if since is None or since > game.last_seq:
            if game.snapshot is not None:
                out = [game.snapshot]
        elif since < game.last_seq:
            have = {f.seq: f for f in replay}
            have.update((f.seq, f) for f in game.recent if f.seq > since)
            wanted = range(since + 1, game.last_seq + 1)
            if all(s in have for s in wanted):
                out = [have[s] for s in wanted]
            elif game.snapshot is not None:
                out = [game.snapshot]
        for frames in out:
            sub.games[game_id] = frames.seq
            sub.write(sub.frame(frames))
        sub.games[game_id] = game.last_seq
        self.stats.messages += len(out)
        self._messages.inc(len(out))
        game.subs.add(sub)
        if sub.lag_since is None:
            self._attach(game, sub)

    async def _replay(self, game: _Game, since: int) -> list[Frames]:
        if game.recent and game.recent[0].seq <= since + 1:
            return []
        missing = game.last_seq - since
        if missing > self.policy.replay_max:
            return []
        entries = await self.bus.read(update_stream(game.game_id), since + 1, limit=missing)
        return [Frames.build("update", game.game_id, e.seq, e.payload) for e in entries]

    def unsubscribe(self, sub: Subscriber, game_id: str) -> None:
        """Stop sending a game to a connection."""
        game = self._games.get(game_id)
        if game is not None:
            self._flush(game)
            game.subs.discard(sub)
            self._detach(game, sub)
        sub.games.pop(game_id, None)
        if game_id in sub.order:
            sub.order.remove(game_id)

    def snapshot_frames(self, game_id: str) -> Frames | None:
        """The current snapshot message of a followed game."""
        game = self._games.get(game_id)
        return None if game is None else game.snapshot

    def send_snapshot(self, sub: Subscriber, game_id: str) -> bool:
        """Send a followed game's snapshot to a connection now; False if not subscribed."""
        game = self._games.get(game_id)
        if game is None or sub not in game.subs or game.snapshot is None:
            return False
        self._flush(game)
        sub.games[game_id] = game.snapshot.seq
        sub.write(sub.frame(game.snapshot))
        return True

    # -- background ---------------------------------------------------------------------

    async def _maintain(self) -> None:
        policy = self.policy
        next_beat = time.monotonic() + policy.heartbeat_s
        while True:
            await asyncio.sleep(policy.tick_s)
            now = time.monotonic()
            self._check_shutdown()
            self._check_lagging(now)
            if self._writers is not None and not self._closing:
                self._hand_off_waiting()
            if now >= next_beat:
                next_beat = now + policy.heartbeat_s
                self._beat = list(self._subs)
            if self._beat:
                # Spread over the ticks of a period so that 50,000 writes never stall
                # the loop at once.
                share = max(1, int(len(self._subs) * policy.tick_s / policy.heartbeat_s) + 1)
                batch, self._beat = self._beat[-share:], self._beat[:-share]
                self._heartbeat(batch)

    def _check_shutdown(self) -> None:
        # uvicorn asks every connection to close at once by clearing keep_alive on its
        # request cycle; one direct SSE client is enough to see it.
        if self._closing:
            return
        # Endpoints attach the cycle only when keep_alive was set when the stream began.
        for sub in self._subs:
            if sub.cycle is not None:
                if getattr(sub.cycle, "keep_alive", True) is False:
                    self.close_streams("server shutting down")
                return

    def _check_lagging(self, now: float) -> None:
        policy = self.policy
        for sub in list(self._lagging):
            if sub.closed:
                self._lagging.discard(sub)
                continue
            assert sub.lag_since is not None  # noqa: S101 - set with membership
            if sub.buffered() <= policy.low_water and (sub.send_since is None):
                self._lagging.discard(sub)
                sub.lag_since = None
                self.stats.resnapshots += 1
                self.metrics.resnapshots.inc()
                for game_id in list(sub.games):
                    game = self._games.get(game_id)
                    if game is not None and game.snapshot is not None:
                        self._flush(game)
                        sub.games[game_id] = game.snapshot.seq
                        sub.write(sub.frame(game.snapshot))
                        self._attach(game, sub)
            elif now - sub.lag_since > policy.stall_s:
                self._lagging.discard(sub)
                self._cut_slow(sub, f"slow client: behind for over {policy.stall_s:g} s")
        for sub in self._queued:
            # A queued client blocked in send (a stuck peer) is a stalled client too.
            if (
                sub.send_since is not None
                and now - sub.send_since > policy.stall_s
                and not sub.closed
            ):
                self._cut_slow(sub, f"slow client: send blocked for over {policy.stall_s:g} s")

    def _cut_slow(self, sub: Subscriber, reason: str) -> None:
        """Disconnect a client that stayed behind past ``stall_s`` (counted and logged)."""
        self.stats.slow_disconnects += 1
        self.metrics.slow_disconnects.inc()
        _log.info("delivery.slow_client_disconnected", reason=reason, key=sub.key)
        sub.end(reason, abort=True)

    def _heartbeat(self, subs: list[Subscriber]) -> None:
        high = self.policy.high_water
        for sub in subs:
            # A socket closed under the hub (not by it: no reason) whose handler has not
            # released it yet: the peer vanished. Free it now.
            if sub.transport is not None and sub.reason is None and sub.transport.is_closing():
                self._reap(sub)
                continue
            if sub.keepalive is not None and not sub.closed and not sub.keepalive():
                # No pong for a whole heartbeat period: the peer is gone.
                sub.end("keepalive ping timeout", abort=True)
                self._reap(sub)
                continue
            if (
                sub.protocol != "sse"
                or sub.closed
                or sub.lag_since is not None
                or sub.handoff is not None  # its writer writes its heartbeats
            ):
                continue
            if sub.buffered() > high:
                self._lag(sub)
                continue
            sub.write(_HEARTBEAT_CHUNK if sub.transport is not None and sub.chunked else HEARTBEAT)

    def _reap(self, sub: Subscriber) -> None:
        """Free a connection whose socket closed under the hub (its handler may lag)."""
        if sub.dead:
            return
        sub.dead = True
        sub.closed = True
        sub.reason = sub.reason or "connection lost"
        for game_id in sub.games:
            game = self._games.get(game_id)
            if game is not None:
                game.subs.discard(sub)
                self._detach(game, sub)
        self._lagging.discard(sub)
        self.stats.reaped += 1
        self.metrics.reaped.inc()

    async def _discover(self) -> None:
        while True:
            try:
                for stream in await self.bus.streams("updates:"):
                    self.follow(stream.removeprefix("updates:"))
            except BackendError as exc:
                _log.warning("delivery.discover_failed", error=str(exc))
            await asyncio.sleep(self._discover_s)
