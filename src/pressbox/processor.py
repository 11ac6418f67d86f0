"""One processor per game: events in, state and its consequences out.

:class:`GameScorer` is the synchronous heart: it folds each normalized event into the
game's state machine, asks the sport's model for the win probability and leverage of the
new state, and builds the :class:`~pressbox.engine.events.Update` (WPA against the
previous update, key-play flag). It is what ``archive replay`` and the benchmarks run.

A game's win probability starts from its pregame prior, fixed once when the game starts
(its first event with the teams): the processor asks its prior source (the service's:
the market's odds when it has them, else its in-season rating book), stores the answer in
the archive (:meth:`~pressbox.store.base.Archive.fix_prior`, where the first one stored
stays) and hands every ``win_probability`` call of the game the stored prior. A processor
that resumes the game reads it back before re-folding, so a restart or a takeover goes on
with the win probabilities the game was published with; every update carries the prior
and its source (``odds``, ``ratings`` or ``none``).

:class:`GameProcessor` runs a scorer over a game's stream in the event log: it resumes
from the checkpoint stored in the archive (re-folding the events before it without
publishing them), reads the log in batches, appends each update to the game's update
stream (idempotent on the event's sequence, so a crash between the two writes publishes
nothing twice) and then archives the events, the updates and the new checkpoint in one
transaction. Nothing is encoded twice: the archive gets each event's bytes as the log
holds them and each update's bytes as they were published. A refused event is counted
and logged with its reason; it never stops the game. Its metrics (outcomes, process
latency, backlog, batch sizes, archive writes) are described in :mod:`pressbox.metrics`.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeAlias

import msgspec
import structlog

from pressbox.bus.base import Envelope, EventBus, Trimmed, event_stream, update_stream
from pressbox.engine.events import (
    GameInfo,
    GamePrior,
    GameState,
    PlayEvent,
    Update,
    WinProbability,
    decode_event,
    encode,
)
from pressbox.engine.models.base import PriorModel, WinProbabilityModel, prior_model
from pressbox.engine.state import GameMachine, Outcome
from pressbox.errors import FeedParseError, InvalidEvent
from pressbox.metrics import pipeline_metrics
from pressbox.store.base import Archive
from pressbox.types import Sport

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

_log = structlog.get_logger(__name__)

DEFAULT_KEY_PLAY_WPA = 0.10
"""A play that moves the home team's WP by at least ten points is a key play."""

NO_PRIOR = GamePrior()
"""The prior of a game whose model starts from its own average teams."""

PriorSource: TypeAlias = Callable[[Sport, str, GameInfo], Awaitable[GamePrior]]
"""``(sport, game_id, info) -> prior``: a game's pregame prior, asked once as it starts."""


class GameScorer:
    """Fold one game's events into updates.

    Args:
        sport: The game's sport.
        game_id: The game's id.
        model: The sport's win-probability model; ``None`` publishes state without WP.
        key_play_wpa: |WPA| at or above which a play is a key play (default 0.10).
        clock: Unix time for ``ts_emit`` (default ``time.time``).
    """

    __slots__ = (
        "_clock",
        "_key",
        "_last_wp",
        "_machine",
        "_model",
        "_prior",
        "_prior_home",
        "_prior_model",
        "updates",
    )

    def __init__(
        self,
        sport: Sport,
        game_id: str,
        model: WinProbabilityModel | None,
        *,
        key_play_wpa: float = DEFAULT_KEY_PLAY_WPA,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._machine = GameMachine(sport, game_id)
        self._model = model
        self._prior_model: PriorModel | None = None if model is None else prior_model(model)
        self._prior: GamePrior | None = None
        self._prior_home: float | None = None
        self._key = key_play_wpa
        self._clock = clock
        self._last_wp: WinProbability | None = None
        self.updates = 0
        """How many updates this game has published (the last update's seq)."""

    @property
    def model_label(self) -> str:
        """The name its updates are archived under: ``name/version``, or ``""`` without a model."""
        if self._model is None:
            return ""
        return f"{self._model.name}/{self._model.version}"

    @property
    def machine(self) -> GameMachine:
        """The game's state machine."""
        return self._machine

    @property
    def takes_prior(self) -> bool:
        """The model starts a game at a pregame prior (see :func:`prior_model`)."""
        return self._prior_model is not None

    @property
    def prior(self) -> GamePrior | None:
        """The game's prior once fixed (``None`` before)."""
        return self._prior

    def fix_prior(self, prior: GamePrior) -> GamePrior:
        """Score the rest of the game from ``prior`` (every later update carries it).

        Returns:
            The prior in effect: ``prior``, or :data:`NO_PRIOR` when the model takes none.
        """
        if prior.home is None or self._prior_model is None:
            prior = NO_PRIOR
        self._prior = prior
        self._prior_home = prior.home
        return prior

    def score(self, event: PlayEvent) -> Update | None:
        """Apply an event and build its update.

        Returns:
            The update, or ``None`` when nothing changed: a duplicate event, or a correction
            held until its chain completes.

        Raises:
            InvalidEvent: The state machine refused the event; nothing changed.
        """
        log_seq = event.seq
        expected = self._machine.state.seq + 1
        if log_seq != expected:
            # The log orders the game; the machine numbers only the events it accepted, so
            # after a refused event the next one is renumbered to follow on.
            event = msgspec.structs.replace(event, seq=expected)
        outcome = self._machine.apply(event)
        if outcome is Outcome.DUPLICATE or outcome is Outcome.PENDING:
            # Nothing changed yet: a held correction publishes with the one that completes it.
            return None
        state = self._machine.state
        wp = wpa = leverage = None
        key_play = False
        if self._model is not None:
            home = self._prior_home
            if home is not None and self._prior_model is not None:
                wp = self._prior_model.win_probability(state, home)
            else:
                wp = self._model.win_probability(state)
            # Leverage is the models' own: at the average strength (MLB, by definition of
            # the index) or from the ratings in the model file (NFL).
            leverage = self._model.leverage(state)
            if self._last_wp is not None:
                wpa = wp.home - self._last_wp.home
                key_play = abs(wpa) >= self._key and event.kind == "play"
            self._last_wp = wp
        self.updates += 1
        return Update(
            sport=state.sport,
            game_id=state.game_id,
            seq=self.updates,
            event_seq=log_seq,
            event_id=event.event_id,
            kind=event.kind,
            correction=outcome is Outcome.CORRECTED,
            state=state,
            wp=wp,
            wpa=wpa,
            leverage=leverage,
            key_play=key_play,
            text=event.text,
            ts_source=event.ts_source,
            ts_ingest=event.ts_ingest,
            ts_emit=self._clock(),
            prior=self._prior,
        )


def rescore(
    sport: Sport,
    game_id: str,
    events: Iterable[PlayEvent],
    model: WinProbabilityModel | None,
    prior: GamePrior | None = None,
) -> list[Update]:
    """Run a game's events through a fresh scorer (a re-run after a model change).

    Events the state machine refuses are skipped, as a live processor skips them.

    Args:
        prior: The game's prior (the archive's :meth:`~pressbox.store.base.Archive.prior`);
            ``None``: none.

    Returns:
        The updates, numbered 1, 2, 3... as a processor would have published them.
    """
    scorer = GameScorer(sport, game_id, model)
    if prior is not None and model is not None:
        scorer.fix_prior(prior)
    updates: list[Update] = []
    for event in events:
        try:
            update = scorer.score(event)
        except InvalidEvent:
            continue
        if update is not None:
            updates.append(update)
    return updates


@dataclass(slots=True)
class ProcessorStats:
    """Counters of one game's processor."""

    events: int = 0
    updates: int = 0
    refused: int = 0
    duplicates: int = 0
    undecodable: int = 0
    lost: int = 0
    """Events trimmed from the log before they were processed."""


class GameProcessor:
    """Run one game's events from the log into updates, the update stream and the archive.

    Args:
        bus: The event log.
        archive: The archive.
        sport: The game's sport.
        game_id: The game's id.
        model: The sport's model (``None``: state only).
        consumer: This processor's name; its checkpoint is stored under it.
        batch: Events read and archived per round trip (default 500).
        key_play_wpa: See :class:`GameScorer`.
        registry: Prometheus registry of the stage latency and outcome counts (default:
            prometheus-client's).
        priors: Where the game's pregame prior comes from (``None``: the game has none,
            which is fixed like any other prior).
    """

    def __init__(
        self,
        bus: EventBus,
        archive: Archive,
        sport: Sport,
        game_id: str,
        model: WinProbabilityModel | None,
        *,
        consumer: str = "processor",
        batch: int = 500,
        key_play_wpa: float = DEFAULT_KEY_PLAY_WPA,
        registry: CollectorRegistry | None = None,
        priors: PriorSource | None = None,
    ) -> None:
        self._bus = bus
        self._sport = sport
        self._priors = priors
        self._prior_pending = model is not None
        """The game has a model and its prior is not fixed yet."""
        self._metrics = pipeline_metrics(registry)
        self._archive = archive
        self._game_id = game_id
        self._consumer = consumer
        self._batch = batch
        self._events = event_stream(game_id)
        self._updates = update_stream(game_id)
        self._scorer = GameScorer(sport, game_id, model, key_play_wpa=key_play_wpa)
        self._position = 0
        self._head = 0
        """The highest log sequence seen (the log's length at the last look)."""
        self._backlog = 0
        """What this processor adds to the backlog gauge now."""
        metrics = self._metrics
        self._outcomes = tuple(
            metrics.processor_events.labels(outcome)
            for outcome in ("published", "refused", "unchanged", "undecodable")
        )
        self._process_stage = metrics.stage_seconds.labels("process")
        self.stats = ProcessorStats()

    @property
    def position(self) -> int:
        """The last event-log sequence processed and archived."""
        return self._position

    @property
    def backlog(self) -> int:
        """Events of the game in the log not yet processed, as of the last read."""
        return self._backlog

    @property
    def final(self) -> bool:
        """The game is over."""
        return self._scorer.machine.state.status == "final"

    @property
    def state(self) -> GameState:
        """The game's state after the last event processed."""
        return self._scorer.machine.state

    @property
    def prior(self) -> GamePrior | None:
        """The game's pregame prior once fixed (``None`` before, or without a model)."""
        return self._scorer.prior

    async def resume(self) -> int:
        """Re-fold the events up to the archived checkpoint, publishing nothing.

        When the log lost the game's updates (an in-process log after a restart), the
        archived ones are put back first, so that the update stream's positions stay the
        updates' own sequence numbers and clients resume on the ids they already hold.

        Returns:
            The checkpoint: the last event sequence already processed.
        """
        checkpoint = await self._archive.checkpoint(self._consumer, self._events)
        if checkpoint and self._prior_pending:
            # Without a checkpoint nothing is folded before the game starts, where fixing
            # the prior hands back one stored earlier anyway.
            stored = await self._archive.prior(self._game_id)
            if stored is not None:
                self._use_prior(stored)
        if checkpoint:
            # The archive holds every event the checkpoint covers, even those the log
            # has trimmed since.
            for event in await self._archive.timeline(self._game_id):
                if event.seq > checkpoint:
                    break
                self._fold(event, publish=False)
            if self._prior_pending and self.state.info is not None:
                # Started before its prior was stored (by an older pressbox): it goes on
                # as it was published, without one.
                self._use_prior(await self._archive.fix_prior(self._game_id, NO_PRIOR))
            await self._restore_updates()
        self._position = checkpoint
        return checkpoint

    async def _fix_prior(self, info: GameInfo) -> None:
        """Fix the game's prior as it starts: ask the source, keep what the archive keeps."""
        candidate = NO_PRIOR
        if self._priors is not None and self._scorer.takes_prior:
            candidate = await self._priors(self._sport, self._game_id, info)
        self._use_prior(await self._archive.fix_prior(self._game_id, candidate))

    def _use_prior(self, prior: GamePrior) -> None:
        used = self._scorer.fix_prior(prior)
        self._prior_pending = False
        _log.info(
            "processor.prior_fixed", game_id=self._game_id, source=used.source, home=used.home
        )

    async def _restore_updates(self) -> None:
        published = await self._bus.last_seq(self._updates)
        if published >= self._scorer.updates:
            return
        label = self._scorer.model_label
        archived = [
            u
            for u in await self._archive.updates(self._game_id, label)
            if published < u.seq <= self._scorer.updates
        ]
        if archived:
            await self._bus.append_many(
                self._updates, [(str(u.event_seq), encode(u)) for u in archived]
            )
            _log.info(
                "processor.updates_restored",
                game_id=self._game_id,
                count=len(archived),
                model=label,
            )

    async def run(self) -> None:
        """Process the game until its final event (or until cancelled).

        While it runs, its backlog (events in the log it has not processed) is part of
        ``pressbox_processor_backlog_events``; it leaves the gauge when ``run`` returns or
        fails (a game taken over elsewhere counts there).
        """
        try:
            await self.resume()
            self._head = max(self._head, await self._bus.last_seq(self._events))
            self._set_backlog()
            await self._loop()
        finally:
            self._metrics.processor_backlog.dec(self._backlog)
            self._backlog = 0

    async def _loop(self) -> None:
        while not self.final:
            entries = await self._bus.read(self._events, self._position + 1, limit=self._batch)
            if not entries:
                await self._wait()
                continue
            head = entries[-1].seq
            if len(entries) >= self._batch:
                # A full batch: more may be waiting behind it. One look per full batch.
                head = max(head, await self._bus.last_seq(self._events))
            if head > self._head:
                self._head = head
                self._set_backlog()
            if entries[0].seq != self._position + 1:
                # The log dropped events this game never processed; they cannot be had
                # back, so say so loudly and go on from what the log still holds.
                _log.error(
                    "processor.events_trimmed",
                    game_id=self._game_id,
                    reason=str(Trimmed(self._events, self._position + 1, entries[0].seq)),
                )
                self.stats.lost += entries[0].seq - self._position - 1
            await self.process(entries)

    async def _wait(self) -> None:
        tail = self._bus.tail(self._events, self._position)
        try:
            async for entry in tail:
                self._head = max(self._head, entry.seq)
                return
        finally:
            # A tail left open would keep its blocking read (and its connection) until
            # the garbage collector finalizes it.
            aclose = getattr(tail, "aclose", None)
            if aclose is not None:
                await aclose()

    async def process(self, entries: list[Envelope]) -> None:
        """Process a batch of consecutive log entries and archive the outcome."""
        events: list[PlayEvent] = []
        event_docs: list[bytes] = []
        updates: list[Update] = []
        stats = self.stats
        before = (stats.refused, stats.duplicates, stats.undecodable)
        source = self._events
        fold = self._fold
        for entry in entries:
            payload = entry.payload
            try:
                event = decode_event(payload, source=source)
            except FeedParseError as exc:
                stats.undecodable += 1
                _log.warning(
                    "processor.event_undecodable",
                    game_id=self._game_id,
                    seq=entry.seq,
                    reason=exc.reason,
                )
                continue
            # The log's position is the event's sequence, whatever the adapter numbered.
            if event.seq != entry.seq:
                event = msgspec.structs.replace(event, seq=entry.seq)
                payload = encode(event)
            if self._prior_pending and event.info is not None:
                await self._fix_prior(event.info)
            events.append(event)
            # The archive keeps the bytes the log holds: they decode to this very event.
            event_docs.append(payload)
            update = fold(event, publish=True)
            if update is not None:
                updates.append(update)
        stats.events += len(entries)
        # Each update is encoded once, for the update stream and the archive alike.
        update_docs = [encode(u) for u in updates]
        if updates:
            await self._bus.append_many(
                self._updates,
                [(str(u.event_seq), doc) for u, doc in zip(updates, update_docs, strict=True)],
            )
        last = entries[-1].seq
        started = time.perf_counter()
        await self._archive.put_batch(
            events,
            updates,
            checkpoint=(self._consumer, self._events, last),
            event_docs=event_docs,
            update_docs=update_docs,
        )
        self._metrics.archive_seconds.observe(time.perf_counter() - started)
        self._position = last
        stats.updates += len(updates)
        self._observe(len(entries), updates, before)

    def _observe(self, read: int, updates: list[Update], before: tuple[int, int, int]) -> None:
        stats = self.stats
        metrics = self._metrics
        counts = self._outcomes
        counts[0].inc(len(updates))
        counts[1].inc(stats.refused - before[0])
        counts[2].inc(stats.duplicates - before[1])
        counts[3].inc(stats.undecodable - before[2])
        metrics.processor_batch.observe(read)
        observe = self._process_stage.observe
        for update in updates:
            ingest, emit = update.ts_ingest, update.ts_emit
            if ingest is not None and emit is not None:
                observe(emit - ingest if emit > ingest else 0.0)
        self._set_backlog()

    def _set_backlog(self) -> None:
        backlog = max(self._head - self._position, 0)
        if backlog != self._backlog:
            self._metrics.processor_backlog.inc(backlog - self._backlog)
            self._backlog = backlog

    def _fold(self, event: PlayEvent, *, publish: bool) -> Update | None:
        try:
            update = self._scorer.score(event)
        except InvalidEvent as exc:
            if publish:
                self.stats.refused += 1
                _log.warning(
                    "processor.event_refused",
                    game_id=self._game_id,
                    seq=event.seq,
                    event_id=event.event_id,
                    reason=exc.reason,
                )
            return None
        if update is None and publish:
            self.stats.duplicates += 1
        return update
