"""The composition root: backends from URLs, and the roles that run on them.

:class:`Service` opens the event log and the archive named by the settings (the only
place that calls ``bus.from_url`` and ``store.from_url``), and runs the roles of the data
flow under one task group:

- **ingest**: puts games into the log. :func:`run_roles` polls an MLB Stats API (or the
  simulated one) through the live poller, or :meth:`Service.replay` replays real games from
  Retrosheet files, paced like the real game divided by a speed-up; either way each game
  is announced on the ``games`` stream and each event appended with its event id as
  idempotency key (:meth:`Service.publish`). Polling ingest also keeps each game's
  batter-versus-pitcher record current in the log's context register
  (:class:`~pressbox.feeds.context.MatchupFeeder`, through the same resilient client);
  a replay from files, which has no stats source, writes a record that says so.
- **process**: :class:`ProcessorPool` takes games from the ``games`` stream through a
  consumer group, runs one :class:`~pressbox.processor.GameProcessor` per game, keeps its
  claim fresh, and takes over the games of a processor that stopped answering. Each game
  starts from a pregame prior (:meth:`Service.pregame_prior`): the market's when the log's
  context register holds the game's odds (kind :data:`ODDS`), else the service's rating
  book of the sport (:class:`~pressbox.engine.models.priors.Priors`), seeded from the
  finals in the archive when the sport's first game starts and moved by every final the
  pool publishes.

A role that runs alone (``pressbox ingest``, ``pressbox process``) uses the same code.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import socket
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Self

import msgspec
import orjson
import structlog

from pressbox import bus as bus_factory
from pressbox import store as store_factory
from pressbox.bus.base import GAMES_STREAM, Envelope, EventBus, event_stream, update_stream
from pressbox.config import Settings
from pressbox.engine.events import (
    GameInfo,
    GamePrior,
    GameState,
    PlayEvent,
    Update,
    decode_update,
    encode,
)
from pressbox.engine.models import WinProbabilityModel, get_model
from pressbox.engine.models.priors import Final, Priors, season_of
from pressbox.errors import BackendError, FeedParseError
from pressbox.feeds.context import (
    MATCHUP,
    NO_STATS_SOURCE,
    MatchupFeeder,
    put_record,
    unavailable_record,
)
from pressbox.feeds.http import Fetched, ResilientClient
from pressbox.feeds.odds import pregame_prior, read_odds
from pressbox.feeds.poller import (
    IngestReport,
    PollPolicy,
    ingest_from_upstream,
    statsapi_client,
)
from pressbox.feeds.retrosheet import RetrosheetGame, iter_games, play_gaps
from pressbox.processor import GameProcessor
from pressbox.store.base import Archive
from pressbox.types import Sport

_log = structlog.get_logger(__name__)

BUNDLED_DATA = Path(__file__).resolve().parent.parent.parent / "data" / "retrosheet"
"""The real games that ship with the repository (a handful, with the Retrosheet NOTICE);
found from the source tree, as the README's editable install runs it."""

PROCESSOR_GROUP = "processors"

ODDS = "odds"
"""The context kind of a game's pregame odds: the document :func:`~pressbox.feeds.odds.read_odds`
reads (what an odds source's ``/odds/v1/games/{id}`` serves)."""


def default_consumer() -> str:
    """A consumer name unique to this process: host and pid."""
    return f"{socket.gethostname()}-{os.getpid()}"


class Service:
    """The backends of one pressbox process and the roles that use them.

    Args:
        settings: Where the log, archive and cache are (``PRESSBOX_*`` settings).
        bus: A ready event log instead of ``settings.log_url`` (tests, embedding).
        archive: A ready archive instead of ``settings.archive_url``.
        models: Models to use instead of the shipped ones, by sport.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        bus: EventBus | None = None,
        archive: Archive | None = None,
        models: dict[Sport, WinProbabilityModel] | None = None,
    ) -> None:
        self.settings = settings
        self.bus: EventBus = bus_factory.from_url(settings.log_url, backend=bus)
        self.archive: Archive = store_factory.from_url(settings.archive_url, backend=archive)
        self._models: dict[Sport, WinProbabilityModel | None] = dict(models or {})
        self.priors = Priors()
        """The rating book of each sport (see :meth:`pregame_prior`)."""
        self._seeded: set[Sport] = set()
        self._seeding = asyncio.Lock()
        self._stack = contextlib.AsyncExitStack()

    async def __aenter__(self) -> Self:
        await self._stack.__aenter__()
        try:
            await self._stack.enter_async_context(self.bus)
            await self._stack.enter_async_context(self.archive)
        except BaseException:
            await self._stack.aclose()
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._stack.__aexit__(exc_type, exc, tb)

    def model(self, sport: Sport) -> WinProbabilityModel | None:
        """The sport's win-probability model, loaded once; ``None`` when it has none."""
        if sport not in self._models:
            try:
                self._models[sport] = get_model(sport)
                # The model's tables live as long as the process: moved out of the cyclic
                # collector's reach, full collections stop rescanning them (120-210 ms of a
                # 3-4 s pipeline run otherwise).
                gc.collect()
                gc.freeze()
            except Exception as exc:
                # Stale beats nothing: without a model the games still publish their state.
                _log.error("service.model_unavailable", sport=sport, error=str(exc))
                self._models[sport] = None
        return self._models[sport]

    async def pregame_prior(self, sport: Sport, game_id: str, info: GameInfo) -> GamePrior:
        """The prior a game starts from: its odds' when the log holds them, else the book's.

        Raises:
            BackendError: The log or the archive failed (the processor tries again later).
        """
        await self._seed_priors(sport)
        market = await self._market_prior(sport, game_id)
        prior = self.priors.prior_for(
            sport, info.home, info.away, odds=market, season=_season(sport, info.date)
        )
        return GamePrior(home=prior.home, source=prior.source)

    async def record_final(self, sport: Sport, game_id: str, state: GameState) -> None:
        """Move the sport's rating book by a final (once per game; teams unknown: nothing)."""
        info = state.info
        if state.status != "final" or info is None:
            return
        await self._seed_priors(sport)
        try:
            self.priors.record_final(
                sport,
                info.home,
                info.away,
                state.home_score,
                state.away_score,
                season=_season(sport, info.date),
                game_id=game_id,
            )
        except ValueError as exc:  # a team playing itself: a feed's error, not a result
            _log.warning("priors.final_refused", game_id=game_id, reason=str(exc))

    async def _seed_priors(self, sport: Sport) -> None:
        # Every final archived, in date order: the book's own rules carry ratings and the
        # home rate from one season into the next, so the current season needs the
        # earlier ones as the book saw them.
        async with self._seeding:
            if sport in self._seeded:
                return
            finals = [
                Final(
                    g.info.home,
                    g.info.away,
                    g.home_score,
                    g.away_score,
                    season=_season(sport, g.info.date),
                    order=g.info.date,
                    game_id=g.game_id,
                )
                for g in await self.archive.games(sport=sport, status="final")
                if g.info is not None and g.info.home != g.info.away
            ]
            recorded = self.priors.seed(sport, finals)
            self._seeded.add(sport)
            _log.info("priors.seeded", sport=sport, finals=recorded)

    async def _market_prior(self, sport: Sport, game_id: str) -> float | None:
        doc = await self.bus.get_context(game_id, ODDS)
        if doc is None:
            return None
        try:
            market = pregame_prior(read_odds(orjson.loads(doc)), sport)
        except (FeedParseError, orjson.JSONDecodeError, ValueError) as exc:
            _log.warning("priors.odds_unreadable", game_id=game_id, reason=str(exc))
            return None
        return None if market is None else market.home

    async def ping(self) -> dict[str, bool]:
        """Whether each backend answers (for the readiness endpoint)."""
        return {"log": await self.bus.ping(), "archive": await self.archive.ping()}

    # ----------------------------------------------------------------- reading

    async def games(self) -> list[str]:
        """Ids of every game announced on the log, in announcement order."""
        return [entry.key for entry in await self.bus.read(GAMES_STREAM)]

    async def snapshot(self, game_id: str) -> Update | None:
        """The latest update of a game, or ``None`` before its first."""
        stream = update_stream(game_id)
        last = await self.bus.last_seq(stream)
        if last == 0:
            return None
        entries = await self.bus.read(stream, last, limit=1)
        return decode_update(entries[0].payload, source=stream) if entries else None

    async def matchup(self, game_id: str) -> bytes | None:
        """The game's batter-versus-pitcher record as ingest wrote it (JSON), or ``None``.

        See :mod:`pressbox.feeds.context` for its shape; it is read from the log's context
        register, never fetched here.
        """
        return await self.bus.get_context(game_id, MATCHUP)

    async def state(self, game_id: str) -> GameState | None:
        """The latest state of a game, or ``None`` before its first update."""
        update = await self.snapshot(game_id)
        return None if update is None else update.state

    # ----------------------------------------------------------------- ingest

    async def announce(self, sport: Sport, game_id: str) -> None:
        """Tell processors about a game (idempotent)."""
        payload = orjson.dumps({"sport": sport, "game_id": game_id})
        await self.bus.append(GAMES_STREAM, payload, key=game_id)

    async def publish(self, event: PlayEvent, *, now: float | None = None) -> int:
        """Append one normalized event to its game's log, stamped with the ingest time.

        Returns:
            The event's sequence in the log (the existing one for a duplicate id).
        """
        stamp = time.time() if now is None else now
        stamped = msgspec.structs.replace(
            event,
            ts_ingest=stamp,
            ts_source=event.ts_source if event.ts_source is not None else stamp,
        )
        return await self.bus.append(
            event_stream(event.game_id), encode(stamped), key=event.event_id
        )

    async def replay(
        self,
        paths: Sequence[str | Path] | None = None,
        *,
        speed: float | None = None,
        games: int | None = None,
        sleep: Callable[[float], object] | None = None,
    ) -> int:
        """Replay real games into the log, concurrently, each paced like the real game.

        Args:
            paths: Retrosheet event files or folders; the bundled games when ``None``.
            speed: Divide real between-play gaps by this; 0 is as fast as possible
                (default: ``settings.replay_speed``).
            games: Replay at most this many games.
            sleep: The coroutine function to wait with (tests pass a fake one).

        Returns:
            The number of events appended.
        """
        chosen = _load_games(paths or [self.settings.data_dir or BUNDLED_DATA], games)
        pace = self.settings.replay_speed if speed is None else speed
        wait = sleep or asyncio.sleep
        counts: list[int] = []

        async def one(game: RetrosheetGame) -> None:
            await self.announce("mlb", game.game_id)
            await self._no_matchup(game.game_id)
            # A restarted ingest catches up at once on what the log already holds (those
            # appends are no-ops by their keys), then paces the rest.
            logged = await self.bus.last_seq(event_stream(game.game_id))
            appended = 0
            for index, (gap, event) in enumerate(zip(play_gaps(game), game.events, strict=True)):
                if pace > 0 and gap > 0 and index >= logged:
                    await wait(gap / pace)  # type: ignore[misc]  # sleep returns an awaitable
                await self.publish(event)
                appended += 1
            counts.append(appended)
            _log.info("ingest.game_replayed", game_id=game.game_id, events=appended)

        async with asyncio.TaskGroup() as group:
            for game in chosen:
                group.create_task(one(game))
        return sum(counts)

    async def ingest_upstream(
        self, upstream_url: str, *, policy: PollPolicy | None = None
    ) -> IngestReport:
        """Poll every game of the day from a Stats API into the log, with their matchups.

        One resilient client serves both the poller
        (:func:`~pressbox.feeds.poller.ingest_from_upstream`) and the
        :class:`~pressbox.feeds.context.MatchupFeeder`, which sees every event published
        and keeps each game's batter-versus-pitcher record current in the log's context
        register.

        Args:
            upstream_url: The MLB Stats API (or ``pressbox upstream``) base URL.
            policy: Poll intervals (the poller's defaults when ``None``).

        Returns:
            The games followed and the poller's counters, once every game is final and
            the last matchups are stored (or 30 s have passed trying).
        """
        async with statsapi_client(upstream_url) as client:
            feeder = MatchupFeeder(client, self.bus)

            async def publish(event: PlayEvent) -> int:
                seq = await self.publish(event)
                feeder.observe(event, seq)
                return seq

            async def announce(sport: Sport, game_id: str) -> None:
                # Before the game's first event, so that its processor starts from them.
                await self._store_odds(client, game_id)
                await self.announce(sport, game_id)

            async with asyncio.TaskGroup() as group:
                following = group.create_task(feeder.run())
                report = await ingest_from_upstream(
                    publish, announce, upstream_url, policy=policy, client=client
                )
                await feeder.drain()
                following.cancel()
            return report

    async def _store_odds(self, client: ResilientClient, game_id: str) -> None:
        """Keep the game's pregame odds in the log's context register (kind :data:`ODDS`),
        when the upstream has them; without them the game starts from the rating book."""
        found = await client.lookup("odds", f"/odds/v1/games/{game_id}")
        if not isinstance(found, Fetched):
            _log.info("ingest.no_odds", game_id=game_id, reason=found.reason)
            return
        try:
            await self.bus.put_context(game_id, ODDS, orjson.dumps(found.data))
        except BackendError as exc:
            _log.warning("ingest.odds_not_stored", game_id=game_id, reason=str(exc))

    async def _no_matchup(self, game_id: str) -> None:
        # The API tells the booth why the panel is empty rather than "not yet".
        try:
            await put_record(self.bus, game_id, unavailable_record(game_id, NO_STATS_SOURCE))
        except BackendError as exc:
            _log.warning("context.store_failed", game_id=game_id, reason=str(exc))


def _season(sport: Sport, date: str) -> int | None:
    try:
        return season_of(sport, date)
    except ValueError:
        return None


def _load_games(paths: Iterable[str | Path], limit: int | None) -> list[RetrosheetGame]:
    chosen: list[RetrosheetGame] = []
    for game in iter_games(list(paths)):
        if limit is not None and len(chosen) >= limit:
            break
        chosen.append(game)
    return chosen


class ProcessorPool:
    """Run the processors of every game this process owns.

    Games come from the ``games`` stream through the ``processors`` consumer group, so
    several processes share them, each game owned by one. Ownership is kept fresh with a
    heartbeat; a game whose owner stopped heart-beating for ``takeover_s`` is claimed by
    another pool, which resumes it from the archived checkpoint.

    Args:
        service: The service whose log, archive and models to use.
        consumer: This pool's name in the group (default: host and pid).
        heartbeat_s: Seconds between heartbeats (default 1).
        takeover_s: Idle seconds after which another pool's game is taken (default 5).
    """

    def __init__(
        self,
        service: Service,
        *,
        consumer: str | None = None,
        heartbeat_s: float = 1.0,
        takeover_s: float = 5.0,
    ) -> None:
        self._service = service
        self._bus = service.bus
        self.consumer = consumer or default_consumer()
        self._heartbeat = heartbeat_s
        self._takeover = takeover_s
        self._owned: dict[int, asyncio.Task[None]] = {}
        self.processors: dict[str, GameProcessor] = {}

    async def run(self, *, until_idle: bool = False) -> None:
        """Take games and process them until cancelled.

        Args:
            until_idle: Return once every game taken is final and no new game arrives
                (for batch jobs and tests).
        """
        async with asyncio.TaskGroup() as group:
            # Games this consumer held before a restart are still pending for it: take
            # them back at once rather than wait for them to look abandoned.
            for pending in await self._bus.pending(PROCESSOR_GROUP, GAMES_STREAM):
                if pending.consumer != self.consumer:
                    continue
                for entry in await self._bus.read(GAMES_STREAM, pending.seq, limit=1):
                    announced = orjson.loads(entry.payload)
                    self._owned[entry.seq] = group.create_task(
                        self._run_game(entry.seq, announced["sport"], announced["game_id"])
                    )
            while True:
                try:
                    entries = await self._round(group, until_idle)
                except BackendError as exc:
                    # The log is down for a moment: keep the games running, retry soon.
                    _log.warning("processor.pool_backend_error", error=str(exc))
                    await asyncio.sleep(self._heartbeat)
                    continue
                if until_idle and not entries and all(t.done() for t in self._owned.values()):
                    return
                if until_idle and not entries:
                    await asyncio.sleep(0.01)

    async def _round(self, group: asyncio.TaskGroup, until_idle: bool) -> list[Envelope]:
        entries = await self._bus.read_group(
            PROCESSOR_GROUP,
            self.consumer,
            [GAMES_STREAM],
            count=100,
            block_s=0 if until_idle else self._heartbeat,
        )
        entries += await self._bus.claim_pending(
            PROCESSOR_GROUP, self.consumer, GAMES_STREAM, min_idle_s=self._takeover
        )
        for entry in entries:
            task = self._owned.get(entry.seq)
            if task is not None and not task.done():
                continue
            announced = orjson.loads(entry.payload)
            self._owned[entry.seq] = group.create_task(
                self._run_game(entry.seq, announced["sport"], announced["game_id"])
            )
        await self._keep_claims()
        return entries

    async def _keep_claims(self) -> None:
        live = [seq for seq, task in self._owned.items() if not task.done()]
        if not live:
            return
        still = set(await self._bus.touch(PROCESSOR_GROUP, self.consumer, GAMES_STREAM, live))
        for seq in live:
            if seq not in still:
                # Another pool took this game over (we were presumed dead): stop ours.
                self._owned[seq].cancel()

    async def _run_game(self, entry_seq: int, sport: Sport, game_id: str) -> None:
        processor = GameProcessor(
            self._bus,
            self._service.archive,
            sport,
            game_id,
            self._service.model(sport),
            consumer=PROCESSOR_GROUP,
            priors=self._service.pregame_prior,
        )
        self.processors[game_id] = processor
        with structlog.contextvars.bound_contextvars(game_id=game_id, sport=sport):
            try:
                await processor.run()
            except Exception as exc:
                # The game stays claimed but unacknowledged: once its claim goes stale it
                # is taken again (by this pool or another) and resumed from its checkpoint.
                _log.exception("processor.failed", error=str(exc))
                return
            await self._bus.ack(PROCESSOR_GROUP, GAMES_STREAM, [entry_seq])
            _log.info("processor.game_final", stats=str(processor.stats))
            try:
                await self._service.record_final(sport, game_id, processor.state)
            except BackendError as exc:
                # The book misses this final until the next start seeds it from the archive.
                _log.warning("priors.final_not_recorded", error=str(exc))


async def run_roles(
    service: Service,
    *,
    ingest: bool = False,
    process: bool = False,
    paths: Sequence[str | Path] | None = None,
    speed: float | None = None,
    consumer: str | None = None,
    upstream_url: str | None = None,
    poll_interval: float | None = None,
) -> None:
    """Run the background roles of a process under one task group until cancelled.

    Args:
        service: The open service.
        ingest: Put games into the log: polled from ``upstream_url`` when it is given,
            else replayed straight from Retrosheet files.
        process: Run a processor pool.
        paths: Retrosheet files or folders for a direct replay (default: the bundled games).
        speed: Replay speed-up for a direct replay (default: the settings').
        consumer: The processor pool's consumer name.
        upstream_url: An MLB Stats API (or ``pressbox upstream``) to poll every game of the
            day from, through the resilient feed client; the same client fetches each
            game's matchup context (:class:`~pressbox.feeds.context.MatchupFeeder`).
        poll_interval: Seconds between polls of a game during play (breaks: twice that),
            for a local upstream replayed fast; ``None`` keeps the poller's defaults.
    """
    async with asyncio.TaskGroup() as group:
        if ingest and upstream_url:
            policy = None
            if poll_interval is not None:
                policy = PollPolicy(
                    action=poll_interval, pause=2 * poll_interval, honour_wait=False
                )
            group.create_task(service.ingest_upstream(upstream_url, policy=policy))
        elif ingest:
            group.create_task(service.replay(paths, speed=speed))
        if process:
            group.create_task(ProcessorPool(service, consumer=consumer).run())
