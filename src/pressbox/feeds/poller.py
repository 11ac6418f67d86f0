"""The live poller: one task per game keeps the game's event log current from GUMBO.

:class:`GamePoller` follows one game through a :class:`~pressbox.feeds.http.ResilientClient`
and the GUMBO adapter (:class:`~pressbox.feeds.gumbo.GumboGame`): the full ``feed/live``
document first, then ``feed/live/diffPatch?startTimecode=`` from the last
``metaData.timeStamp``, falling back to the full document in the same poll when a patch
cannot be fetched or applied (the adapter then asks for a resync). Every new event goes to
an async ``publish(event)`` callback once, in order: the adapter numbers new plays and
turns a changed play into a correction (``corrects`` set), and the poller keeps the ids it
published, so a play is never published twice; an event whose publish failed stays queued
and goes out first on the next poll, so none is lost.

With a push service (``push_url``, the Gameday WebSocket
``/api/v1/game/push/subscribe/gameday/{gamePk}``), :meth:`GamePoller.run` subscribes to
the game's channel and polls at once on each notification of a new timecode; polling
stays as the safety net, ``PollPolicy.push_factor`` times less often while the channel is
up, at its own cadence while it is down (the channel is reopened with backoff). A
notification is a hint: lost, late, repeated or malformed ones cost at most a poll.

The interval adapts to the game (:func:`next_interval`): about 5 s while plays happen,
about 30 s in breaks (pre-game, between half-innings, delays), ``metaData.wait`` when the
feed gives one, never sooner than a ``Retry-After`` or an open breaker allows, and a
capped exponential backoff while polls fail. Time comes from an injected clock and an
injected ``sleep``, so tests move a manual clock instead of waiting.

:class:`PollerPool` runs many pollers under one task group (200+ games) with a bound on
requests in flight, and :func:`ingest_from_upstream` is the whole ingest role: discover the
day's schedule (``/api/v1/schedule?sportId=1&date=``), announce every game, poll each until
it is final, publishing every event. Nothing but cancellation leaves a poller: failures
are logged (``poll.failed``, ``poll.stale``, ``poll.publish_failed``, ``poll.crashed``;
``poll.push_up``, ``poll.push_down``, ``poll.push_malformed``) and retried.

Metrics (through :func:`pressbox.metrics.per_registry`): ``pressbox_stage_seconds{stage=
"poll"}`` (a play's publication by the upstream to its publication here),
``pressbox_polls_total{outcome,trigger}``, ``pressbox_poll_seconds{trigger}``,
``pressbox_push_channels{state}``, ``pressbox_push_messages_total{kind}`` and
``pressbox_push_connects_total{outcome}`` (see ``docs/upstream.md``).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal, TypeAlias

import httpx
import orjson
import structlog
import websockets
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.frames import Frame, Opcode

from pressbox.engine.events import PlayEvent
from pressbox.errors import CircuitOpen, FeedParseError, PressboxError, RateLimited
from pressbox.feeds.gumbo import GumboGame
from pressbox.feeds.http import ResilientClient, RetryPolicy, Source, Unavailable, Upstream
from pressbox.metrics import STAGE_BUCKETS, per_registry, pipeline_metrics
from pressbox.resilience import MonotonicClock
from pressbox.types import JSON, Clock, Sport

Publish: TypeAlias = Callable[[PlayEvent], Awaitable[object]]
"""Where events go (``Service.publish``): called once per event, in order."""

Announce: TypeAlias = Callable[[Sport, str], Awaitable[object]]
"""Tells the processors about a game (``Service.announce``); must be idempotent."""

Sleep: TypeAlias = Callable[[float], Awaitable[None]]
"""Waits that many seconds (``asyncio.sleep``; tests pass one that advances a manual clock)."""

Phase: TypeAlias = Literal["pregame", "action", "break", "delay", "final"]
"""Where a game stands for pacing: before it, during play, between half-innings, held
up (delay, suspension), over."""

LIVE_SOURCE = "live"
SCHEDULE_SOURCE = "schedule"
BOOTH_SOURCES: tuple[str, ...] = (
    "roster",
    "stats",
    "matchups",
    "standings",
    "park",
    "weather",
    "umpire",
    "odds",
)
"""The reference sources prefetch reads (see :mod:`pressbox.feeds.prefetch`)."""

_BREAK_INNING_STATES = frozenset({"Middle", "End"})
_DELAY_WORDS = ("Delay", "Suspended", "Postponed", "Warmup", "Pre-Game")
_PREGAME_STATES = frozenset({"Preview"})

_log = structlog.get_logger("pressbox.feeds.poller")

PUSH_PATH = "/api/v1/game/push/subscribe/gameday/{game_pk}"
"""The Gameday push channel of a game, relative to the push service's base URL."""

MAX_STAGE_AGE = 3600.0
"""Poll-stage ages above this many seconds are not observed: the feed's times are then not
the wall clock's (a replay of old games), and the figure would mean nothing."""

MAX_IN_FLIGHT = 16
"""Default bound on a pool's live-feed requests in flight. Each is an HTTP/1.1 connection,
and httpx's pool (httpcore) scans its connections two or three times per request, calling
each idle one's keep-alive and socket checks from inside a loop over them: the CPU per
request grows with the square of the open connections. 200 games polled every 5-10 s need
a few requests in flight against a real upstream; 16 keep a local one saturated in a
catch-up at 300 times real speed. When that upstream is slow (its core shared), 64 meant
64 open connections and 16 ms of CPU per poll, against 10 ms with 16 (measured through one
httpx pool; the client now sends through aiohttp's connections,
:class:`pressbox.feeds.transport.AiohttpTransport`, whose CPU per request stays at
about 1 ms from 1 to 64 in flight: ``bench/http_pool.py``)."""

_PUSH_OPEN_TIMEOUT = 5.0
_PUSH_CLOSE_TIMEOUT = 1.0
_PUSH_MAX_MESSAGE = 1 << 16


class PushConnection(ClientConnection):
    """A push channel's WebSocket connection that hands each whole message to
    ``on_message`` as soon as its frame is parsed, in the connection's ``data_received``.

    websockets queues a message for a reader task, which resumes on a later turn of the
    event loop; the poller only needs to know that something changed, and on a loop busy
    with the fan-out each turn is milliseconds of a live play's time. A message in several
    frames (a fragmented one, which the push service does not send) goes through the queue
    as usual, so ``async for`` over the connection still sees those.
    """

    on_message: Callable[[bytes], None] | None = None

    def process_event(self, event: object) -> None:
        hook = self.on_message
        if (
            hook is not None
            and self.response is not None
            and isinstance(event, Frame)
            and event.fin
            and event.opcode in (Opcode.TEXT, Opcode.BINARY)
        ):
            try:
                hook(bytes(event.data))
            except Exception:
                # A bug here must not break the connection's reading: logged and dropped.
                _log.exception("poll.push_hook_crashed")
            return
        super().process_event(event)  # type: ignore[arg-type]


PITCH_CALLS = frozenset(
    {
        "ball", "called_strike", "swinging_strike", "strike", "unknown_strike", "foul",
        "foul_tip", "foul_bunt", "foul_tip_bunt", "missed_bunt", "blocked_ball",
        "swinging_strike_blocked", "intent_ball", "pitchout", "swinging_pitchout",
        "foul_pitchout", "automatic_ball", "automatic_strike",
    }
)  # fmt: skip
"""``gameEvents`` of a pitch that ends nothing (no play, no out, no runner moved)."""

Trigger: TypeAlias = Literal["timer", "push"]
"""What started a poll: its interval ran out, or a push notification came."""

PushState: TypeAlias = Literal["up", "down"]


@dataclass(frozen=True, slots=True)
class _Metrics:
    polls: Counter
    push_channels: Gauge
    push_messages: Counter
    push_connects: Counter
    poll_seconds: Histogram
    poll_stage: Histogram


def _create_metrics(reg: CollectorRegistry) -> _Metrics:
    return _Metrics(
        polls=Counter(
            "pressbox_polls",
            "Live-feed polls by outcome (ok, failed, stale, publish_failed) and trigger "
            "(timer, push).",
            ["outcome", "trigger"],
            registry=reg,
        ),
        push_channels=Gauge(
            "pressbox_push_channels",
            "Games whose Gameday push channel is up, or down (polling alone).",
            ["state"],
            registry=reg,
        ),
        push_messages=Counter(
            "pressbox_push_messages",
            "Push-channel messages by kind: notification, malformed, known (a timecode "
            "already read), pitch (left to the next fetch), missed (a timer poll found "
            "what no notification announced).",
            ["kind"],
            registry=reg,
        ),
        push_connects=Counter(
            "pressbox_push_connects",
            "Attempts to open a push channel by outcome (connected, failed) and channels "
            "that closed (closed).",
            ["outcome"],
            registry=reg,
        ),
        poll_seconds=Histogram(
            "pressbox_poll_seconds",
            "Time one poll takes, from its start to its events published, by trigger "
            "(the poll stage less the wait for the poll).",
            ["trigger"],
            buckets=STAGE_BUCKETS,
            registry=reg,
        ),
        poll_stage=pipeline_metrics(reg).stage_seconds.labels("poll"),
    )


_metrics_for = per_registry(_create_metrics)


def push_base_url(base_url: str) -> str:
    """The push service's base URL next to a Stats API base URL (``http`` → ``ws``).

    Raises:
        ValueError: The URL is neither ``http://`` nor ``https://``.
    """
    for plain, secure in (("http://", "ws://"), ("https://", "wss://")):
        if base_url.startswith(plain):
            return secure + base_url[len(plain) :]
    raise ValueError(f"a Stats API base URL is http:// or https://, not {base_url!r}")


def pitch_only(message: dict[str, JSON]) -> bool:
    """The notification names only pitch calls (:data:`PITCH_CALLS`)."""
    events = message.get("gameEvents")
    return (
        isinstance(events, list)
        and bool(events)
        and all(isinstance(e, str) and e in PITCH_CALLS for e in events)
    )


def event_source_time(event: PlayEvent) -> float | None:
    """When the upstream published an event's play: its ``ts_source`` (the feed's own time
    of the play, ``about.endTime``), Unix seconds; the default of :class:`GamePoller`."""
    return event.ts_source


@dataclass(frozen=True, slots=True)
class PollPolicy:
    """How often a game is polled, seconds.

    Attributes:
        action: Interval while plays happen (default ``5.0``).
        pause: Interval in breaks: pre-game, between half-innings, delays (default ``30.0``).
        honour_wait: Use the feed's ``metaData.wait`` as the interval during play, and as a
            floor in breaks, when the feed gives one (default ``True``).
        retry: First wait after a failed poll (default ``2.0``); it doubles with each
            consecutive failure up to ``max_backoff``.
        max_backoff: Longest wait after failures (default ``30.0``).
        jitter: Each interval is stretched or shrunk at random by up to this fraction
            (default ``0.1``), so that games started together do not poll in lockstep
            and hit the upstream in bursts. The draws are seeded by the game, so a run
            is repeatable.
        after_final: Interval after the game is final when the poller keeps going for
            late corrections (default ``60.0``).
        push_factor: While the game's push channel is up, intervals are this many times
            longer (default ``3.0``): polling is then only the safety net that catches a
            notification the channel lost.
        push_pitches: Fetch at once on a notification whose ``gameEvents`` are only pitch
            calls (:data:`PITCH_CALLS`; default ``True``). ``False`` leaves those updates,
            which carry no play, to the next play's notification or the safety-net poll: in
            a replay at hundreds of times real speed most notifications are pitches, and a
            fetch each costs more than polling.
        push_retry: First wait before the push channel is opened again after it failed
            or closed, seconds (default ``0.5``); it doubles up to ``push_max_backoff``.
        push_max_backoff: Longest wait between two attempts to open the push channel
            (default ``30.0``).
        diff_patch: Follow the game by ``diffPatch`` after the first document (default
            ``True``); ``False`` asks for the full document every time (with
            ``If-None-Match``, so an unchanged game costs a ``304``): more bytes, but less
            CPU here when many updates arrive between polls, since applying a patch means
            copying the document and applying each operation.
    """

    action: float = 5.0
    pause: float = 30.0
    honour_wait: bool = True
    retry: float = 2.0
    max_backoff: float = 30.0
    after_final: float = 60.0
    diff_patch: bool = True
    jitter: float = 0.1
    push_factor: float = 3.0
    push_pitches: bool = True
    push_retry: float = 0.5
    push_max_backoff: float = 30.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.jitter < 1.0:
            raise ValueError("PollPolicy.jitter must be in [0, 1)")
        if self.push_factor < 1.0:
            raise ValueError("PollPolicy.push_factor must be at least 1")
        for name in (
            "action",
            "pause",
            "retry",
            "max_backoff",
            "after_final",
            "push_retry",
            "push_max_backoff",
        ):
            if getattr(self, name) <= 0:
                raise ValueError(f"PollPolicy.{name} must be positive")


def game_phase(doc: JSON) -> Phase:
    """Where a GUMBO live-feed document says the game stands, for pacing.

    Args:
        doc: A full live-feed document (missing fields read as "in action").

    Returns:
        ``"final"``, ``"pregame"``, ``"delay"``, ``"break"`` (between half-innings) or
        ``"action"``.
    """
    if not isinstance(doc, dict):
        return "action"
    game_data = doc.get("gameData")
    status = game_data.get("status") if isinstance(game_data, dict) else None
    if isinstance(status, dict):
        abstract = status.get("abstractGameState")
        detailed = status.get("detailedState")
        if abstract == "Final":
            return "final"
        if isinstance(detailed, str) and any(word in detailed for word in _DELAY_WORDS):
            return "pregame" if abstract in _PREGAME_STATES else "delay"
        if abstract in _PREGAME_STATES:
            return "pregame"
    live = doc.get("liveData")
    linescore = live.get("linescore") if isinstance(live, dict) else None
    if isinstance(linescore, dict) and linescore.get("inningState") in _BREAK_INNING_STATES:
        return "break"
    return "action"


def feed_wait(doc: JSON) -> float | None:
    """``metaData.wait`` of a live-feed document, seconds, when it is a positive number."""
    meta = doc.get("metaData") if isinstance(doc, dict) else None
    wait = meta.get("wait") if isinstance(meta, dict) else None
    if isinstance(wait, bool) or not isinstance(wait, int | float) or wait <= 0:
        return None
    return float(wait)


def next_interval(doc: JSON, policy: PollPolicy) -> float:
    """Seconds until the next poll of a game whose latest document is ``doc``.

    Args:
        doc: The latest good full document (``None`` before the first).
        policy: The intervals.

    Returns:
        ``policy.action`` (or ``metaData.wait``) during play; ``policy.pause`` (at least
        ``metaData.wait``) in breaks; ``policy.after_final`` once the game is over.
    """
    phase = game_phase(doc)
    wait = feed_wait(doc) if policy.honour_wait else None
    if phase == "final":
        return policy.after_final
    if phase == "action":
        return wait if wait is not None else policy.action
    return max(policy.pause, wait or 0.0)


@dataclass(frozen=True, slots=True)
class PollResult:
    """What one poll did.

    Attributes:
        ok: A document or patch was read (even one with nothing new).
        events: The events published by this poll, in order.
        next_in: Seconds until the next poll.
        mode: ``"full"`` or ``"patch"``: what was read (``None`` when nothing was).
        reason: Why the poll failed, else ``None``.
        stale_age: Age, seconds, of a stale answer the client served instead (not used
            for the game; only reported), else ``None``.
    """

    ok: bool
    events: tuple[PlayEvent, ...]
    next_in: float
    mode: Literal["full", "patch"] | None = None
    reason: str | None = None
    stale_age: float | None = None


@dataclass(slots=True)
class PollStats:
    """Counters of one poller (or, summed, of a pool).

    Attributes:
        polls: Polls done.
        failures: Polls that read nothing.
        full: Full documents read.
        patches: diffPatch answers read.
        fallbacks: Polls where a patch failed and the full document was asked for.
        published: Events published.
        corrections: Of those, corrections.
        duplicates: Events the adapter returned again that were not published twice.
        publish_failures: Calls to ``publish`` that raised (the event was kept and retried).
        stale: Stale answers the client served instead of a fresh one.
        errors: Failed polls by the kind of error (``FeedTimeout``, ``CircuitOpen``...).
        pushed: Polls a push notification started (the others came on the timer).
        notifications: Push notifications received (malformed ones included).
        push_malformed: Notifications that were not the expected JSON (they still wake
            the poller: something changed).
        push_missed: Timer polls that found new events while the push channel was up: a
            notification lost or late, caught by the safety net.
        push_connects: Times the push channel opened.
        push_failures: Times it failed to open or was closed.
        lateness: For each poll, seconds between when it was due and when it started
            (only kept when the poller is asked to, for benchmarks).
        durations: For each poll, seconds it took (same).
    """

    polls: int = 0
    failures: int = 0
    full: int = 0
    patches: int = 0
    fallbacks: int = 0
    published: int = 0
    corrections: int = 0
    duplicates: int = 0
    publish_failures: int = 0
    stale: int = 0
    pushed: int = 0
    notifications: int = 0
    push_malformed: int = 0
    push_missed: int = 0
    push_connects: int = 0
    push_failures: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    lateness: list[float] = field(default_factory=list)
    durations: list[float] = field(default_factory=list)

    def add(self, other: PollStats) -> None:
        """Add another poller's counters to these."""
        for name in (
            "polls",
            "failures",
            "full",
            "patches",
            "fallbacks",
            "published",
            "corrections",
            "duplicates",
            "publish_failures",
            "stale",
            "pushed",
            "notifications",
            "push_malformed",
            "push_missed",
            "push_connects",
            "push_failures",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for kind, count in other.errors.items():
            self.errors[kind] = self.errors.get(kind, 0) + count
        self.lateness.extend(other.lateness)
        self.durations.extend(other.durations)


class _Stale(PressboxError):
    """The client served its cached value because the upstream failed (not used here)."""

    def __init__(self, age: float, reason: str | None) -> None:
        super().__init__(age, reason)
        self.age = age
        self.reason = reason

    def __str__(self) -> str:
        return f"stale answer ({self.age:.1f}s old): {self.reason}"


def feed_path(game_pk: int | str) -> str:
    """The live-feed path of a game, relative to the Stats API base URL."""
    return f"/api/v1.1/game/{game_pk}/feed/live"


class GamePoller:
    """Follows one MLB game's GUMBO feed and publishes each new event once.

    Args:
        client: The resilient client; it must configure the ``source`` (see
            :func:`statsapi_client`).
        game_pk: The game's ``gamePk``.
        publish: Called with each new event, in order; an exception keeps the event
            queued for the next poll.
        source: The client's source for live documents (default ``"live"``).
        policy: Intervals (default :class:`PollPolicy`).
        clock: Time for pacing; real when ``None``.
        sleep: How to wait; ``asyncio.sleep`` when ``None``.
        limiter: Bounds requests in flight across pollers (a pool's semaphore).
        split_runner_events: See :func:`~pressbox.feeds.gumbo.read_document`.
        keep_timings: Record each poll's lateness and duration in :attr:`stats`.
        push_url: Base URL of the Gameday push service (``ws://127.0.0.1:8765``; see
            :func:`push_base_url`): :meth:`run` subscribes to the game's channel and polls
            at once on each notification, ``policy.push_factor`` times less often
            otherwise; ``None`` (default) polls alone.
        registry: Prometheus registry of the poll metrics; the default one when ``None``.
        published_at: When the upstream published an event's play, Unix seconds, for the
            poll-stage histogram (default :func:`event_source_time`).
    """

    def __init__(
        self,
        client: ResilientClient,
        game_pk: int | str,
        publish: Publish,
        *,
        source: str = LIVE_SOURCE,
        policy: PollPolicy | None = None,
        clock: Clock | None = None,
        sleep: Sleep | None = None,
        limiter: asyncio.Semaphore | None = None,
        split_runner_events: bool = False,
        keep_timings: bool = False,
        push_url: str | None = None,
        registry: CollectorRegistry | None = None,
        published_at: Callable[[PlayEvent], float | None] | None = None,
    ) -> None:
        self.game_pk = str(game_pk)
        self._client = client
        self._publish = publish
        self._source = source
        self._policy = policy if policy is not None else PollPolicy()
        self._clock: Clock = clock if clock is not None else MonotonicClock()
        self._sleep: Sleep = sleep if sleep is not None else asyncio.sleep
        self._limiter = limiter
        self._keep_timings = keep_timings
        self._game = GumboGame(
            source=f"gumbo:{self.game_pk}", split_runner_events=split_runner_events
        )
        self._pending: deque[PlayEvent] = deque()
        self._published: set[str] = set()
        self._failures = 0
        self._told_when = False
        # Pacing, not security: a seeded generator keeps a run repeatable.
        self._random = random.Random(self.game_pk)
        self._push_url = (
            None if push_url is None else push_url.rstrip("/") + PUSH_PATH.format(game_pk=game_pk)
        )
        self._push_state: PushState | None = None
        # A notification (or the push channel's state changing) since the poll began, and
        # what it asks for; ``_waiter`` is the wait it cuts short.
        self._woken = False
        self._wake_reason: Trigger = "push"
        self._waiter: asyncio.Future[None] | None = None
        self._metrics = _metrics_for(registry)
        self._published_at = published_at if published_at is not None else event_source_time
        self.stats = PollStats()

    @property
    def push_state(self) -> PushState | None:
        """``"up"`` while the push channel is open, ``"down"`` while it is not (polling
        alone), ``None`` when the poller has no push channel or is not running."""
        return self._push_state

    @property
    def final(self) -> bool:
        """The game is over and every event, ``game_end`` included, was published."""
        return self._game.final and not self._pending

    @property
    def game(self) -> GumboGame:
        """The adapter's view of the game (last good document, events so far)."""
        return self._game

    async def _get(self, url: str, *, store: bool = True) -> JSON:
        """One document through the client, under the pool's limit; stale answers refused.

        ``store=False`` for an answer read once (a diffPatch): the client does not cache it.
        """
        if self._limiter is None:
            fetched = await self._client.get_json(self._source, url, store=store)
        else:
            async with self._limiter:
                fetched = await self._client.get_json(self._source, url, store=store)
        if fetched.stale:
            # A cached answer from before the failure moves the game nowhere; the failure
            # is what counts, so the next poll comes on the failure schedule.
            self.stats.stale += 1
            raise _Stale(fetched.age, fetched.reason)
        return fetched.data

    async def _read(self) -> Literal["full", "patch"]:
        """Fetch and apply the next document or patch; fall back to the full document."""
        path = feed_path(self.game_pk)
        if (
            self._policy.diff_patch
            and not self._game.needs_full_document
            and self._game.timestamp is not None
        ):
            try:
                patch = await self._get(
                    f"{path}/diffPatch?startTimecode={self._game.timestamp}", store=False
                )
                self._pending.extend(self._game.update(patch))
            except PressboxError as exc:
                self.stats.fallbacks += 1
                _log.info("poll.patch_failed", game_id=self.game_pk, reason=str(exc))
            else:
                self.stats.patches += 1
                return "patch"
        doc = await self._get(path)
        self._pending.extend(self._game.update(doc))
        self.stats.full += 1
        return "full"

    async def _flush(self) -> list[PlayEvent]:
        """Publish the queued events in order; stop at the first failure, keeping the rest."""
        sent: list[PlayEvent] = []
        while self._pending:
            event = self._pending[0]
            if event.event_id in self._published:
                self.stats.duplicates += 1
                self._pending.popleft()
                continue
            await self._publish(event)
            self._pending.popleft()
            self._published.add(event.event_id)
            self._observe_stage(event)
            self.stats.published += 1
            if event.corrects is not None:
                self.stats.corrections += 1
            sent.append(event)
        return sent

    def _observe_stage(self, event: PlayEvent) -> None:
        """Time from the upstream's publication of the play to its publication here."""
        published = self._published_at(event)
        if published is None:
            return
        age = time.time() - published
        if -MAX_STAGE_AGE <= age <= MAX_STAGE_AGE:
            self._metrics.poll_stage.observe(max(age, 0.0))

    def _failure_wait(self, exc: BaseException | None) -> float:
        self._failures += 1
        self._told_when = isinstance(exc, RateLimited | CircuitOpen)
        backoff = min(
            self._policy.max_backoff, self._policy.retry * float(2.0 ** min(self._failures - 1, 16))
        )
        # The upstream's own word on when to come back wins over our backoff.
        if isinstance(exc, RateLimited):
            return max(backoff, exc.retry_after)
        if isinstance(exc, CircuitOpen):
            return max(backoff, exc.retry_at - self._clock.monotonic())
        return backoff

    async def poll_once(self, trigger: Trigger = "timer") -> PollResult:
        """Poll once: read what is new, publish it, and say when to poll next.

        Args:
            trigger: What started the poll (counted in ``pressbox_polls_total``).

        Returns:
            What happened; never raises (except cancellation). ``next_in`` is the
            interval of polling alone; :meth:`run` stretches it while push is up.
        """
        self.stats.polls += 1
        self.stats.pushed += trigger == "push"
        began = time.perf_counter()
        try:
            return await self._poll_once(trigger)
        finally:
            self._metrics.poll_seconds.labels(trigger).observe(time.perf_counter() - began)

    async def _poll_once(self, trigger: Trigger) -> PollResult:
        mode: Literal["full", "patch"] | None = None
        error: BaseException | None = None
        try:
            mode = await self._read()
        except Exception as exc:
            error = exc
        sent: list[PlayEvent] = []
        publish_error: BaseException | None = None
        try:
            sent = await self._flush()
        except Exception as exc:
            publish_error = exc
            self.stats.publish_failures += 1
            _log.warning(
                "poll.publish_failed",
                game_id=self.game_pk,
                pending=len(self._pending),
                reason=f"{type(exc).__name__}: {exc}",
            )
        if error is None and publish_error is None:
            self._failures = 0
            self._metrics.polls.labels("ok", trigger).inc()
            interval = self._jittered(next_interval(self._game.document, self._policy))
            return PollResult(True, tuple(sent), interval, mode)
        self.stats.failures += error is not None
        failed = error if error is not None else publish_error
        outcome = "stale" if isinstance(failed, _Stale) else "failed" if error else "publish_failed"
        self._metrics.polls.labels(outcome, trigger).inc()
        kind = "StaleAnswer" if isinstance(failed, _Stale) else type(failed).__name__
        self.stats.errors[kind] = self.stats.errors.get(kind, 0) + 1
        wait = self._failure_wait(failed)
        reason = self._describe(failed)
        stale_age = failed.age if isinstance(failed, _Stale) else None
        if isinstance(failed, _Stale):
            _log.info("poll.stale", game_id=self.game_pk, age=failed.age, reason=failed.reason)
        elif error is not None and not isinstance(error, PressboxError):
            _log.error("poll.crashed", game_id=self.game_pk, reason=reason, exc_info=error)
        elif error is not None:
            _log.info("poll.failed", game_id=self.game_pk, reason=reason, next_in=wait)
        return PollResult(error is None, tuple(sent), wait, mode, reason, stale_age)

    def _jittered(self, interval: float) -> float:
        spread = self._policy.jitter
        if not spread:
            return interval
        return interval * (1.0 + self._random.uniform(-spread, spread))

    @staticmethod
    def _describe(exc: BaseException | None) -> str:
        if isinstance(exc, PressboxError):
            return str(exc)
        return f"unexpected error: {type(exc).__name__}: {exc}"

    async def run(self, *, until_final: bool = True, start_in: float = 0.0) -> PollStats:
        """Poll until the game is final (or forever, for late corrections).

        Args:
            until_final: Return once ``game_end`` is published; otherwise keep polling at
                ``policy.after_final`` until cancelled.
            start_in: Seconds to wait before the first poll (a pool spreads its games'
                first polls this way).

        Returns:
            The poller's counters.
        """
        if self._push_url is None:
            return await self._poll_loop(until_final, start_in)
        self._set_push_state("down")
        try:
            async with asyncio.TaskGroup() as group:
                listener = group.create_task(self._listen(), name=f"push:{self.game_pk}")
                try:
                    return await self._poll_loop(until_final, start_in)
                finally:
                    listener.cancel()
        finally:
            self._set_push_state(None)

    async def _poll_loop(self, until_final: bool, start_in: float) -> PollStats:
        if start_in > 0:
            await self._sleep(start_in)
        due = self._clock.monotonic()
        trigger: Trigger = "timer"
        while True:
            started = self._clock.monotonic()
            self._woken = False
            result = await self.poll_once(trigger)
            if trigger == "timer" and result.events and self._push_state == "up":
                # The channel was up but said nothing of these: a lost or late notification.
                self.stats.push_missed += 1
                self._metrics.push_messages.labels("missed").inc()
            if self._keep_timings:
                self.stats.lateness.append(max(0.0, started - due))
                self.stats.durations.append(self._clock.monotonic() - started)
            if until_final and self.final:
                return self.stats
            wait = result.next_in
            if self._push_url is None:
                due = self._clock.monotonic() + wait
                await self._sleep(wait)
                continue
            if result.ok and self._push_state == "up":
                wait *= self._policy.push_factor
            due = self._clock.monotonic() + wait
            # After a refusal with a date to come back (429, open breaker) a notification
            # does not bring the poll forward.
            trigger = await self._wait(wait, wakeable=not (self._failures and self._told_when))

    async def _wait(self, seconds: float, *, wakeable: bool) -> Trigger:
        """Sleep ``seconds`` (the injected sleep), or less when a notification comes.

        A notification resolves the wait's future itself, so the poll loop runs on the
        event loop's next turn. (Racing the sleep against an ``asyncio.Event`` took four or
        five turns to get there: the event's waiter task, ``asyncio.wait``'s callback, the
        loop, then cancelling both tasks and awaiting them; on a busy loop each turn is
        milliseconds, measured as the poll stage of a game night.)
        """
        if not wakeable:
            await self._sleep(seconds)
            return self._wake_reason if self._woken else "timer"
        if self._woken:
            return self._wake_reason
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()

        def ring(_: object = None) -> None:
            if not waiter.done():
                waiter.set_result(None)

        timer: asyncio.TimerHandle | None = None
        sleeper: asyncio.Future[None] | None = None
        if self._sleep is asyncio.sleep:
            timer = loop.call_later(seconds, ring)  # no task for the plain sleep
        else:
            sleeper = asyncio.ensure_future(self._sleep(seconds))
            sleeper.add_done_callback(ring)
        self._waiter = waiter
        try:
            await waiter
        finally:
            self._waiter = None
            if timer is not None:
                timer.cancel()
            if sleeper is not None:
                sleeper.cancel()
        return self._wake_reason if self._woken else "timer"

    def _wake_up(self, reason: Trigger) -> None:
        """Ask for a poll now (``reason`` is what it counts as), cutting a wait short."""
        self._wake_reason = reason
        self._woken = True
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _set_push_state(self, state: PushState | None) -> None:
        if state == self._push_state:
            return
        if self._push_state is not None:
            self._metrics.push_channels.labels(self._push_state).dec()
        if state is not None:
            self._metrics.push_channels.labels(state).inc()
        self._push_state = state

    def _on_message(self, message: str | bytes) -> None:
        """Wake the poll loop on a notification of a timecode not read yet."""
        self.stats.notifications += 1
        timecode: object = None
        try:
            decoded = orjson.loads(message)
            timecode = decoded.get("timeStamp") if isinstance(decoded, dict) else None
        except orjson.JSONDecodeError:
            decoded = None
        if not isinstance(decoded, dict):
            # Bad input on a hint channel: counted, logged, and taken as "something changed".
            self.stats.push_malformed += 1
            self._metrics.push_messages.labels("malformed").inc()
            _log.info("poll.push_malformed", game_id=self.game_pk, size=len(message))
        elif timecode is not None and timecode == self._game.timestamp:
            self._metrics.push_messages.labels("known").inc()
            return
        elif not self._policy.push_pitches and pitch_only(decoded):
            self._metrics.push_messages.labels("pitch").inc()
            return
        else:
            self._metrics.push_messages.labels("notification").inc()
        self._wake_up("push")

    async def _listen(self) -> None:
        """Keep the game's push channel open, reopening it with backoff; never raises but
        for cancellation. Waits use the real clock: they pace a network connection."""
        url = self._push_url
        if url is None:
            return
        delay = self._policy.push_retry
        while True:
            reason = "closed"
            try:
                async with ws_connect(
                    url,
                    create_connection=PushConnection,
                    open_timeout=_PUSH_OPEN_TIMEOUT,
                    close_timeout=_PUSH_CLOSE_TIMEOUT,
                    max_size=_PUSH_MAX_MESSAGE,
                    compression=None,
                ) as channel:
                    self.stats.push_connects += 1
                    self._metrics.push_connects.labels("connected").inc()
                    self._set_push_state("up")
                    _log.info("poll.push_up", game_id=self.game_pk)
                    delay = self._policy.push_retry
                    # Whatever changed while the channel was down is read now.
                    self._wake_up("push")
                    if isinstance(channel, PushConnection):
                        channel.on_message = self._on_message
                    # Whole messages reach _on_message from the connection itself; this
                    # loop sees fragmented ones, and ends when the channel closes.
                    async for message in channel:
                        self._on_message(message)
            except (OSError, TimeoutError, websockets.exceptions.WebSocketException) as exc:
                reason = f"{type(exc).__name__}: {exc}"
            except Exception as exc:
                # A bug here must not stop the game's polling: logged, and retried.
                reason = f"unexpected error: {type(exc).__name__}: {exc}"
                _log.error("poll.push_crashed", game_id=self.game_pk, exc_info=exc)
            outcome = "closed" if self._push_state == "up" else "failed"
            self.stats.push_failures += 1
            self._metrics.push_connects.labels(outcome).inc()
            if self._push_state == "up":
                # The loop may be sleeping a safety-net interval: poll now, and from then
                # on at the cadence of polling alone.
                self._wake_up("timer")
            self._set_push_state("down")
            _log.info("poll.push_down", game_id=self.game_pk, reason=reason, retry_in=delay)
            await asyncio.sleep(delay * (1.0 + self._random.uniform(0.0, 0.2)))
            delay = min(delay * 2, self._policy.push_max_backoff)


@dataclass(frozen=True, slots=True)
class ScheduledGame:
    """One game of the schedule.

    Attributes:
        game_pk: Its ``gamePk``.
        state: ``status.abstractGameState`` (``"Preview"``, ``"Live"``, ``"Final"``...).
        detailed: ``status.detailedState``.
        away: Away team name.
        home: Home team name.
        start: ``gameDate`` (UTC, ISO).
    """

    game_pk: int
    state: str = ""
    detailed: str = ""
    away: str = ""
    home: str = ""
    start: str = ""


_SKIPPED_STATES = ("Postponed", "Cancelled", "Canceled")


def read_schedule(doc: JSON) -> list[ScheduledGame]:
    """The games of a ``/api/v1/schedule`` answer.

    Raises:
        FeedParseError: The answer has no ``dates[].games[].gamePk``.
    """
    dates = doc.get("dates") if isinstance(doc, dict) else None
    if not isinstance(dates, list):
        raise FeedParseError("schedule", "no 'dates' list")
    games: list[ScheduledGame] = []
    for day in dates:
        entries = day.get("games") if isinstance(day, dict) else None
        if not isinstance(entries, list):
            raise FeedParseError("schedule", "a date has no 'games' list")
        for entry in entries:
            pk = entry.get("gamePk") if isinstance(entry, dict) else None
            if isinstance(pk, bool) or not isinstance(pk, int):
                raise FeedParseError("schedule", "a game has no integer 'gamePk'")
            status = entry.get("status") or {}
            teams = entry.get("teams") or {}

            def name(side: str, teams: JSON = teams) -> str:
                team = (teams.get(side) or {}).get("team") or {}
                return str(team.get("name", ""))

            games.append(
                ScheduledGame(
                    game_pk=pk,
                    state=str(status.get("abstractGameState", "")),
                    detailed=str(status.get("detailedState", "")),
                    away=name("away"),
                    home=name("home"),
                    start=str(entry.get("gameDate", "")),
                )
            )
    return games


async def discover(
    client: ResilientClient,
    *,
    date: str | None = None,
    source: str = SCHEDULE_SOURCE,
) -> list[ScheduledGame] | Unavailable:
    """The day's MLB games from ``/api/v1/schedule?sportId=1&date=``.

    Args:
        client: The resilient client (with a ``"schedule"`` source).
        date: ``YYYY-MM-DD``; the upstream's current day when ``None``.
        source: The client's source name for the schedule.

    Returns:
        The games, or :class:`~pressbox.feeds.http.Unavailable` with the reason; never
        raises (except cancellation).
    """
    url = "/api/v1/schedule?sportId=1" + (f"&date={date}" if date else "")
    answer = await client.lookup(source, url)
    if isinstance(answer, Unavailable):
        return answer
    try:
        return read_schedule(answer.data)
    except FeedParseError as exc:
        return Unavailable(str(exc))


class PollerPool:
    """Polls many games at once under one task group, with a bound on requests in flight.

    Args:
        client: The resilient client shared by every game.
        publish: Where every game's events go.
        announce: Called once per game before its poller starts (``Service.announce``).
        policy: Intervals shared by the games.
        clock: Time for pacing; real when ``None``.
        sleep: How to wait; ``asyncio.sleep`` when ``None``.
        max_in_flight: Most live-feed requests in flight at once (default
            :data:`MAX_IN_FLIGHT`).
        split_runner_events: See :func:`~pressbox.feeds.gumbo.read_document`.
        keep_timings: Record each poll's lateness and duration (benchmarks).
        push_url: Base URL of the Gameday push service, or ``None`` to poll alone (see
            :class:`GamePoller`).
        registry: Prometheus registry of the poll metrics (default one when ``None``).
        published_at: See :class:`GamePoller`.
    """

    def __init__(
        self,
        client: ResilientClient,
        publish: Publish,
        *,
        announce: Announce | None = None,
        policy: PollPolicy | None = None,
        clock: Clock | None = None,
        sleep: Sleep | None = None,
        max_in_flight: int = MAX_IN_FLIGHT,
        split_runner_events: bool = False,
        keep_timings: bool = False,
        push_url: str | None = None,
        registry: CollectorRegistry | None = None,
        published_at: Callable[[PlayEvent], float | None] | None = None,
    ) -> None:
        if max_in_flight < 1:
            raise ValueError("max_in_flight must be at least 1")
        self._client = client
        self._publish = publish
        self._announce = announce
        self._policy = policy
        self._clock = clock
        self._sleep = sleep
        self._limiter = asyncio.Semaphore(max_in_flight)
        self._split = split_runner_events
        self._keep_timings = keep_timings
        self._push_url = push_url
        self._registry = registry
        self._published_at = published_at
        self.pollers: dict[str, GamePoller] = {}

    def poller(self, game_pk: int | str) -> GamePoller:
        """The poller of a game, made on first use."""
        key = str(game_pk)
        found = self.pollers.get(key)
        if found is None:
            found = GamePoller(
                self._client,
                key,
                self._publish,
                policy=self._policy,
                clock=self._clock,
                sleep=self._sleep,
                limiter=self._limiter,
                split_runner_events=self._split,
                keep_timings=self._keep_timings,
                push_url=self._push_url,
                registry=self._registry,
                published_at=self._published_at,
            )
            self.pollers[key] = found
        return found

    async def _announce_game(self, game_pk: str) -> None:
        if self._announce is None:
            return
        delay = 1.0
        while True:
            try:
                await self._announce("mlb", game_pk)
            except Exception as exc:
                _log.warning(
                    "poll.announce_failed", game_id=game_pk, reason=f"{type(exc).__name__}: {exc}"
                )
                await (self._sleep or asyncio.sleep)(delay)
                delay = min(delay * 2, 30.0)
            else:
                return

    async def _follow(self, game_pk: str, until_final: bool, start_in: float) -> None:
        with structlog.contextvars.bound_contextvars(game_id=game_pk, sport="mlb"):
            await self._announce_game(game_pk)
            await self.poller(game_pk).run(until_final=until_final, start_in=start_in)
            _log.info("poll.game_final", game_id=game_pk)

    async def run(
        self,
        games: Iterable[int | str],
        *,
        until_final: bool = True,
        spread: float | None = None,
    ) -> PollStats:
        """Poll every game until each is final (or until cancelled).

        Args:
            games: ``gamePk`` values.
            until_final: Stop each game's poller once its ``game_end`` is published.
            spread: Seconds over which the games' first polls are spread evenly, so that
                a pool started with hundreds of games does not send them all at once;
                ``policy.action`` when ``None`` (``0`` polls every game at once).

        Returns:
            The pool's counters, summed over the games.
        """
        pks = list(dict.fromkeys(str(g) for g in games))
        window = (self._policy or PollPolicy()).action if spread is None else spread
        step = window / len(pks) if pks else 0.0
        async with asyncio.TaskGroup() as group:
            for index, pk in enumerate(pks):
                group.create_task(self._follow(pk, until_final, index * step), name=f"poll:{pk}")
        return self.stats()

    def stats(self) -> PollStats:
        """The counters of every poller, summed."""
        total = PollStats()
        for poller in self.pollers.values():
            total.add(poller.stats)
        return total


def statsapi_client(
    base_url: str,
    *,
    secondary_url: str | None = None,
    clock: Clock | None = None,
    retry: RetryPolicy | None = None,
    timeout: httpx.Timeout | None = None,
    budget_limit: int = 6000,
    budget_window: float = 60.0,
    live_ttl: float = 1.0,
    registry: CollectorRegistry | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    max_entries: int = 4096,
) -> ResilientClient:
    """A :class:`ResilientClient` for the MLB Stats API (or the simulated upstream).

    It configures the ``live`` and ``schedule`` sources the poller uses and the booth
    sources prefetch uses (:data:`BOOTH_SOURCES`), all on one upstream named
    ``"statsapi"``.

    Args:
        base_url: The primary base URL (``http://127.0.0.1:8765``).
        secondary_url: A mirror tried while the primary is refused.
        clock: Time for cache, breakers and budgets; real when ``None``.
        retry: Retry policy (default :class:`~pressbox.feeds.http.RetryPolicy`).
        timeout: Per-phase timeouts (the client's default when ``None``).
        budget_limit: Requests per ``budget_window`` per endpoint (default ``6000``: 200
            games polled every 5 s with room for retries and fallbacks).
        budget_window: The budget's window, seconds (default ``60.0``).
        live_ttl: Seconds a live document stays fresh in the cache (default ``1.0``:
            shorter than any poll interval, so each poll asks the upstream, with
            ``If-None-Match``).
        registry: Prometheus registry; the default one when ``None``.
        transport: An httpx transport instead of the network.
        max_entries: Most cached documents (default ``4096``).

    Returns:
        The client (enter it with ``async with``).
    """
    upstream = Upstream(
        "statsapi",
        base_url,
        secondary_url,
        budget_limit=budget_limit,
        budget_window=budget_window,
    )
    sources = [
        Source(LIVE_SOURCE, upstream, ttl=live_ttl),
        Source(SCHEDULE_SOURCE, upstream, ttl=30.0),
        Source("roster", upstream, ttl=3600.0),
        Source("stats", upstream, ttl=3600.0),
        Source("matchups", upstream, ttl=3600.0),
        Source("standings", upstream, ttl=3600.0),
        Source("park", upstream, ttl=86_400.0),
        Source("weather", upstream, ttl=1800.0),
        Source("umpire", upstream, ttl=3600.0),
        Source("odds", upstream, ttl=300.0),
    ]
    return ResilientClient(
        sources,
        clock=clock,
        retry=retry,
        timeout=timeout,
        registry=registry,
        transport=transport,
        max_entries=max_entries,
    )


@dataclass(frozen=True, slots=True)
class IngestReport:
    """What :func:`ingest_from_upstream` did.

    Attributes:
        games: The ``gamePk`` values followed.
        stats: The pool's counters.
    """

    games: tuple[str, ...]
    stats: PollStats


async def ingest_from_upstream(
    publish: Publish,
    announce: Announce,
    base_url: str,
    *,
    date: str | None = None,
    games: Sequence[int | str] | None = None,
    clock: Clock | None = None,
    sleep: Sleep | None = None,
    policy: PollPolicy | None = None,
    secondary_url: str | None = None,
    max_in_flight: int = MAX_IN_FLIGHT,
    split_runner_events: bool = False,
    client: ResilientClient | None = None,
    spread: float | None = None,
    push: bool | str = True,
    registry: CollectorRegistry | None = None,
    published_at: Callable[[PlayEvent], float | None] | None = None,
) -> IngestReport:
    """Follow a day's MLB games from a Stats API (or ``pressbox upstream``) until final.

    Discovers the games from ``/api/v1/schedule?sportId=1&date=`` (retrying, with backoff,
    until the schedule answers), skips postponed and cancelled ones, announces each game,
    and polls each until its ``game_end`` is published. Never raises but for cancellation.

    Args:
        publish: ``Service.publish``: each new normalized event, once, in order per game.
        announce: ``Service.announce``: called with ``("mlb", gamePk)`` before a game's
            first event.
        base_url: The upstream's base URL (``http://127.0.0.1:8765``).
        date: The day, ``YYYY-MM-DD``; the upstream's current day when ``None``.
        games: Follow these ``gamePk`` values instead of discovering the schedule.
        clock: Time for pacing and the client; real when ``None``.
        sleep: How to wait; ``asyncio.sleep`` when ``None``.
        policy: Poll intervals (default :class:`PollPolicy`).
        secondary_url: A mirror of the upstream for failover.
        max_in_flight: Most live-feed requests in flight at once (default
            :data:`MAX_IN_FLIGHT`).
        split_runner_events: See :func:`~pressbox.feeds.gumbo.read_document`.
        client: A ready client (with the sources of :func:`statsapi_client`); one is made
            and closed here when ``None``.
        spread: Seconds over which the games' first polls are spread (see
            :meth:`PollerPool.run`; ``policy.action`` when ``None``).
        push: Subscribe to each game's Gameday push channel and poll at once on each
            notification (``True``, the default: the channel next to ``base_url``, see
            :func:`push_base_url`; a string: the push service's base URL; ``False``:
            poll alone). While a channel is down its game is polled as without it.
        registry: Prometheus registry of the poll metrics (default one when ``None``).
        published_at: See :class:`GamePoller`.

    Returns:
        The games followed and the pool's counters.
    """
    push_url = push if isinstance(push, str) else push_base_url(base_url) if push else None
    async with contextlib.AsyncExitStack() as stack:
        if client is None:
            client = await stack.enter_async_context(
                statsapi_client(base_url, secondary_url=secondary_url, clock=clock)
            )
        if games is None:
            pks = await _discover_until_answered(client, date, sleep or asyncio.sleep)
        else:
            pks = [str(g) for g in games]
        _log.info("poll.discovered", games=len(pks), date=date)
        pool = PollerPool(
            client,
            publish,
            announce=announce,
            policy=policy,
            clock=clock,
            sleep=sleep,
            max_in_flight=max_in_flight,
            split_runner_events=split_runner_events,
            push_url=push_url,
            registry=registry,
            published_at=published_at,
        )
        stats = await pool.run(pks, spread=spread)
        return IngestReport(tuple(pks), stats)
    raise AssertionError("unreachable")  # pragma: no cover - the stack never swallows


async def _discover_until_answered(
    client: ResilientClient, date: str | None, sleep: Sleep
) -> list[str]:
    delay = 1.0
    while True:
        found = await discover(client, date=date)
        if not isinstance(found, Unavailable):
            return [
                str(g.game_pk)
                for g in found
                if not any(word in g.detailed for word in _SKIPPED_STATES)
            ]
        _log.warning("poll.schedule_unavailable", reason=found.reason, next_in=delay)
        await sleep(delay)
        delay = min(delay * 2, 30.0)
