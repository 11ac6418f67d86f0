"""Processors: real games from the log into updates, the update stream and the archive."""

from __future__ import annotations

import asyncio
import contextlib
import math

import msgspec
import pytest

from pressbox import bus as bus_factory
from pressbox import store as store_factory
from pressbox.bus.base import event_stream, update_stream
from pressbox.config import Settings
from pressbox.engine.events import (
    GameInfo,
    GamePrior,
    GameState,
    PlayEvent,
    Update,
    WinProbability,
    decode_event,
    decode_update,
    encode,
    to_dict,
)
from pressbox.feeds.retrosheet import iter_games
from pressbox.processor import GameProcessor, GameScorer
from pressbox.service import ProcessorPool, Service
from tests.conftest import SAMPLE_RETROSHEET

pytestmark = pytest.mark.anyio


class ScoreModel:
    """A tiny deterministic model: the home WP follows the run difference."""

    name = "test-score"
    version = "1"

    def win_probability(self, state: GameState) -> WinProbability:
        if state.status == "final":
            home = 1.0 if state.home_score > state.away_score else 0.0
            if state.home_score == state.away_score:
                home = 0.5
        else:
            home = 1.0 / (1.0 + math.exp(-0.6 * (state.home_score - state.away_score) - 0.1))
        return WinProbability(home=home, away=1.0 - home, model="test-score/1")

    def leverage(self, state: GameState) -> float:
        return 1.0


GAMES = {game.game_id: game for game in iter_games([SAMPLE_RETROSHEET])}
WS7 = GAMES["CLE201611020"]


def test_scorer_wpa_sums_to_final_minus_start() -> None:
    """The WPA of a whole game adds up to the final result minus the starting WP."""
    scorer = GameScorer("mlb", WS7.game_id, ScoreModel())
    updates = [scorer.score(event) for event in WS7.events]
    assert all(u is not None for u in updates)
    real = [u for u in updates if u is not None]
    assert [u.seq for u in real] == list(range(1, len(WS7.events) + 1))
    assert real[-1].state.status == "final"
    assert (real[-1].state.home_score, real[-1].state.away_score) == (7, 8)
    start, final = real[0].wp, real[-1].wp
    assert start is not None
    assert final is not None
    assert final.home == 0.0
    total = sum(u.wpa for u in real if u.wpa is not None)
    assert total == pytest.approx(final.home - start.home, abs=1e-12)
    assert any(u.key_play for u in real)


def test_scorer_skips_duplicates_and_renumbers_after_a_refusal() -> None:
    """A duplicate yields no update; after a refused event the game goes on."""
    scorer = GameScorer("mlb", WS7.game_id, None)
    first, second, third = WS7.events[:3]
    assert scorer.score(first) is not None
    assert scorer.score(first) is None
    bogus = msgspec.structs.replace(second, event_id="bogus", home_score=99)
    with pytest.raises(Exception, match="score after the play"):
        scorer.score(bogus)
    update = scorer.score(msgspec.structs.replace(second, seq=3))
    assert update is not None
    assert update.event_seq == 3
    assert update.seq == 2
    assert scorer.score(msgspec.structs.replace(third, seq=4)) is not None


async def _fill(bus, events: tuple[PlayEvent, ...]) -> None:
    for event in events:
        await bus.append(event_stream(event.game_id), encode(event), key=event.event_id)


async def test_processor_archives_every_event_and_update_once() -> None:
    """A real game from the log ends archived, with one update per event, in order."""
    async with (
        bus_factory.from_url("memory://") as bus,
        store_factory.from_url("sqlite://") as archive,
    ):
        await _fill(bus, WS7.events)
        processor = GameProcessor(bus, archive, "mlb", WS7.game_id, ScoreModel(), batch=17)
        await processor.run()
        assert processor.final
        assert processor.stats.updates == len(WS7.events)
        assert processor.stats.refused == 0
        timeline = await archive.timeline(WS7.game_id)
        assert [e.event_id for e in timeline] == [e.event_id for e in WS7.events]
        stored = await archive.updates(WS7.game_id)
        assert [u.seq for u in stored] == list(range(1, len(WS7.events) + 1))
        entries = await bus.read(update_stream(WS7.game_id))
        assert [decode_update(e.payload).event_id for e in entries] == [
            e.event_id for e in WS7.events
        ]
        assert await archive.checkpoint("processor", event_stream(WS7.game_id)) == len(WS7.events)


async def test_restarted_processor_resumes_without_gaps_or_duplicates() -> None:
    """A processor that stops mid-game and restarts publishes exactly what one run does."""
    async with (
        bus_factory.from_url("memory://") as bus,
        store_factory.from_url("sqlite://") as archive,
    ):
        await _fill(bus, WS7.events)
        first = GameProcessor(bus, archive, "mlb", WS7.game_id, ScoreModel(), batch=10)
        await first.resume()
        await first.process(await bus.read(event_stream(WS7.game_id), 1, limit=25))
        # A crash after the update stream was written but before the archive: the same
        # batch is published again by the next processor.
        batch = await bus.read(event_stream(WS7.game_id), 26, limit=10)
        scorer_copy = GameProcessor(bus, archive, "mlb", WS7.game_id, ScoreModel())
        await scorer_copy.resume()
        await scorer_copy.process(batch)
        await archive.put_updates([], checkpoint=("processor", event_stream(WS7.game_id), 25))

        second = GameProcessor(bus, archive, "mlb", WS7.game_id, ScoreModel(), batch=7)
        assert await second.resume() == 25
        await second.run()
        entries = await bus.read(update_stream(WS7.game_id))
        updates = [decode_update(e.payload) for e in entries]
        assert [u.seq for u in updates] == list(range(1, len(WS7.events) + 1))
        assert [u.event_id for u in updates] == [e.event_id for e in WS7.events]
        assert len(await archive.updates(WS7.game_id)) == len(WS7.events)


async def test_bad_events_are_counted_and_the_game_goes_on() -> None:
    """Undecodable and impossible events are counted; nothing already accepted is lost."""
    async with (
        bus_factory.from_url("memory://") as bus,
        store_factory.from_url("sqlite://") as archive,
    ):
        stream = event_stream(WS7.game_id)
        events = WS7.events
        await _fill(bus, events[:5])
        await bus.append(stream, b"{not json", key="garbage")
        impossible = msgspec.structs.replace(events[5], event_id="impossible", away_score=40)
        await bus.append(stream, encode(impossible), key="impossible")
        await _fill(bus, events[5:])
        processor = GameProcessor(bus, archive, "mlb", WS7.game_id, ScoreModel())
        await processor.run()
        assert processor.stats.undecodable == 1
        assert processor.stats.refused == 1
        assert processor.final
        final = (await archive.updates(WS7.game_id))[-1]
        assert (final.state.home_score, final.state.away_score) == (7, 8)
        assert final.seq == len(events)


async def test_service_replays_and_pool_processes_every_bundled_game(tmp_path) -> None:
    """The embedded service replays the bundled games and processes them all to final."""
    settings = Settings(log_url="memory://", archive_url=f"sqlite:///{tmp_path / 'a.db'}")
    async with Service(settings, models={"mlb": ScoreModel()}) as service:
        appended = await service.replay([SAMPLE_RETROSHEET], speed=0)
        assert appended == sum(len(g.events) for g in GAMES.values())
        assert sorted(await service.games()) == sorted(GAMES)
        await ProcessorPool(service, consumer="solo").run(until_idle=True)
        for game_id, game in GAMES.items():
            state = await service.state(game_id)
            assert state is not None
            assert state.status == "final"
            assert (state.home_score, state.away_score) == (game.home_score, game.away_score)
        assert await service.ping() == {"log": True, "archive": True}
        assert await service.snapshot("nope") is None


async def test_replay_paces_by_real_gaps_divided_by_speed() -> None:
    """A paced replay waits the game's between-play gaps divided by the speed."""
    waits: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        waits.append(seconds)

    settings = Settings(log_url="memory://", archive_url="sqlite://")
    async with Service(settings) as service:
        await service.replay([SAMPLE_RETROSHEET], speed=60, games=1, sleep=fake_sleep)
    game = next(iter(GAMES.values()))
    minutes = int(game.records["timeofgame"])
    assert sum(waits) == pytest.approx(minutes * 60 / 60, rel=1e-6)


async def test_upstream_ingest_travels_the_real_path(tmp_path) -> None:
    """Games polled from the simulated HTTP upstream end final with the real scores."""
    from pressbox.feeds.upstream import run_upstream
    from pressbox.service import run_roles

    files = [SAMPLE_RETROSHEET / "2016" / "post" / "2016WS_.EVE"]
    settings = Settings(log_url="memory://", archive_url=f"sqlite:///{tmp_path / 'u.db'}")
    async with (
        run_upstream(files, speed=20_000, port=0) as base_url,
        Service(settings, models={"mlb": ScoreModel()}) as service,
    ):
        roles = asyncio.create_task(
            run_roles(service, ingest=True, process=True, upstream_url=base_url)
        )
        try:
            async with asyncio.timeout(60):
                while True:
                    games = await service.archive.games(status="final")
                    if games:
                        break
                    await asyncio.sleep(0.2)
        finally:
            roles.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await roles
        (game,) = games
        assert (game.away_score, game.home_score) == (8, 7)
        state = await service.state(game.game_id)
        assert state is not None
        assert state.status == "final"
        assert state.plays >= 80


async def test_a_lost_update_stream_is_restored_from_the_archive() -> None:
    """After a restart on a fresh in-process log, the update stream is whole and in step."""
    async with store_factory.from_url("sqlite://") as archive:
        async with bus_factory.from_url("memory://") as first_bus:
            await _fill(first_bus, WS7.events)
            first = GameProcessor(first_bus, archive, "mlb", WS7.game_id, ScoreModel())
            await first.resume()
            await first.process(await first_bus.read(event_stream(WS7.game_id), 1, limit=40))
        async with bus_factory.from_url("memory://") as second_bus:
            await _fill(second_bus, WS7.events)
            second = GameProcessor(second_bus, archive, "mlb", WS7.game_id, ScoreModel())
            assert await second.resume() == 40
            assert await second_bus.last_seq(update_stream(WS7.game_id)) == 40
            await second.run()
            entries = await second_bus.read(update_stream(WS7.game_id))
            updates = [decode_update(e.payload) for e in entries]
            assert [e.seq for e in entries] == [u.seq for u in updates]
            assert [u.event_id for u in updates] == [e.event_id for e in WS7.events]


async def test_processor_counts_outcomes_and_times_its_stage() -> None:
    """The processor reports published and refused events and the process stage's latency."""
    from prometheus_client import CollectorRegistry

    registry = CollectorRegistry()
    async with (
        bus_factory.from_url("memory://") as bus,
        store_factory.from_url("sqlite://") as archive,
    ):
        stream = event_stream(WS7.game_id)
        stamped = [msgspec.structs.replace(e, ts_ingest=1.0) for e in WS7.events]
        await _fill(bus, tuple(stamped[:3]))
        await bus.append(stream, b"{not json", key="garbage")
        await _fill(bus, tuple(stamped[3:]))
        processor = GameProcessor(bus, archive, "mlb", WS7.game_id, ScoreModel(), registry=registry)
        await processor.run()

    def value(name: str, **labels: str) -> float:
        found = registry.get_sample_value(name, labels)
        assert found is not None, (name, labels)
        return found

    assert value("pressbox_processor_events_total", outcome="published") == len(WS7.events)
    assert value("pressbox_processor_events_total", outcome="undecodable") == 1
    assert value("pressbox_processor_events_total", outcome="refused") == 0
    assert value("pressbox_stage_seconds_count", stage="process") == len(WS7.events)
    assert value("pressbox_stage_seconds_sum", stage="process") > 0


class _Watched:
    """An archive that hands every call through and signals each archived batch."""

    def __init__(self, archive) -> None:
        self._archive = archive
        self.checkpoint_seq = 0
        self._written = asyncio.Event()

    def __getattr__(self, name: str):
        return getattr(self._archive, name)

    async def put_batch(self, *args, **kwargs):
        added = await self._archive.put_batch(*args, **kwargs)
        self.checkpoint_seq = kwargs["checkpoint"][2]
        self._written.set()
        return added

    async def written(self, seq: int) -> None:
        async with asyncio.timeout(10):
            while self.checkpoint_seq < seq:
                self._written.clear()
                await self._written.wait()


class _Recording(_Watched):
    """An archive that hands every call through and notes the backlog gauge at each batch."""

    def __init__(self, archive, read) -> None:
        super().__init__(archive)
        self._read = read
        self.backlogs: list[float] = []

    async def put_batch(self, *args, **kwargs):
        self.backlogs.append(self._read())
        return await super().put_batch(*args, **kwargs)


async def test_backlog_batch_sizes_and_archive_time_are_exported() -> None:
    """The backlog gauge starts at the whole log and falls batch by batch to zero; batch
    sizes and archive writes are observed once per batch."""
    from prometheus_client import CollectorRegistry

    registry = CollectorRegistry()

    def value(name: str, **labels: str) -> float:
        found = registry.get_sample_value(name, labels)
        assert found is not None, (name, labels)
        return found

    n = len(WS7.events)
    async with (
        bus_factory.from_url("memory://") as bus,
        store_factory.from_url("sqlite://") as store,
    ):
        await _fill(bus, WS7.events)
        archive = _Recording(store, lambda: value("pressbox_processor_backlog_events"))
        processor = GameProcessor(
            bus, archive, "mlb", WS7.game_id, ScoreModel(), batch=10, registry=registry
        )
        await processor.run()
    batches = -(-n // 10)
    assert archive.backlogs == [float(n - 10 * i) for i in range(batches)]
    assert value("pressbox_processor_backlog_events") == 0
    assert processor.backlog == 0
    assert value("pressbox_processor_batch_events_count") == batches
    assert value("pressbox_processor_batch_events_sum") == n
    assert value("pressbox_processor_batch_events_bucket", le="10.0") == batches
    assert value("pressbox_archive_write_seconds_count") == batches
    assert value("pressbox_archive_write_seconds_sum") > 0


async def test_backlog_follows_events_that_arrive_while_the_processor_waits() -> None:
    """Events appended while a processor waits show in the backlog until processed; a
    processor that stops takes its share out of the gauge."""
    from prometheus_client import CollectorRegistry

    registry = CollectorRegistry()
    gauge = "pressbox_processor_backlog_events"
    async with (
        bus_factory.from_url("memory://") as bus,
        store_factory.from_url("sqlite://") as store,
    ):
        await _fill(bus, WS7.events[:20])
        seen: list[float] = []
        archive = _Recording(store, lambda: registry.get_sample_value(gauge) or 0.0)
        processor = GameProcessor(
            bus, archive, "mlb", WS7.game_id, ScoreModel(), batch=5, registry=registry
        )
        task = asyncio.create_task(processor.run())
        await archive.written(20)
        seen.append(registry.get_sample_value(gauge) or 0.0)
        archive.backlogs.clear()
        await _fill(bus, WS7.events[20:40])
        await archive.written(40)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert seen == [0.0]
    # The first new batch is read after the tail woke on the first new event; it sees
    # every event of the batch as backlog, and the full batches look up the rest.
    assert archive.backlogs[0] >= 5
    assert max(archive.backlogs) <= 20
    assert archive.backlogs[-1] == 5
    assert registry.get_sample_value(gauge) == 0


async def test_the_archive_keeps_the_log_sequence_and_bytes_of_each_event(tmp_path) -> None:
    """An event numbered differently by its adapter is archived under its log sequence;
    the others are archived as the log holds them."""
    import sqlite3

    path = tmp_path / "a.db"
    events = list(WS7.events)
    events[3] = msgspec.structs.replace(events[3], seq=1000)
    async with (
        bus_factory.from_url("memory://") as bus,
        store_factory.from_url(f"sqlite:///{path}") as archive,
    ):
        await _fill(bus, tuple(events))
        await GameProcessor(bus, archive, "mlb", WS7.game_id, ScoreModel()).run()
        logged = {e.key: e.payload for e in await bus.read(event_stream(WS7.game_id))}
        timeline = await archive.timeline(WS7.game_id)
    assert timeline == list(WS7.events)
    with sqlite3.connect(path) as conn:
        rows = dict(conn.execute("SELECT event_id, payload FROM events").fetchall())
    renumbered = events[3].event_id
    assert decode_event(rows.pop(renumbered)).seq == 4
    assert logged.pop(renumbered) != encode(WS7.events[3])
    assert {k: v.encode() for k, v in rows.items()} == logged


# --------------------------------------------------------------------------- priors


@pytest.fixture(scope="module")
def mlb_model():
    from pressbox.engine.models import mlb

    return mlb.load()


def _source(home: float, source: str = "ratings"):
    """A prior source that answers ``home`` for every game and counts its calls."""
    calls: list[str] = []

    async def ask(sport, game_id, info) -> GamePrior:
        calls.append(game_id)
        return GamePrior(home=home, source=source)  # type: ignore[arg-type]

    ask.calls = calls  # type: ignore[attr-defined]
    return ask


async def _run_whole(model, prior_source, game=WS7) -> list[Update]:
    async with (
        bus_factory.from_url("memory://") as bus,
        store_factory.from_url("sqlite://") as archive,
    ):
        await _fill(bus, game.events)
        await GameProcessor(bus, archive, "mlb", game.game_id, model, priors=prior_source).run()
        return [decode_update(e.payload) for e in await bus.read(update_stream(game.game_id))]


async def test_a_game_starts_at_its_prior_and_its_wpa_sums_to_the_result(mlb_model) -> None:
    """The first WP is the prior; every update carries it; WPA sums exactly to final − start."""
    source = _source(0.62)
    updates = await _run_whole(mlb_model, source)
    assert source.calls == [WS7.game_id]
    assert all(u.prior == GamePrior(home=0.62, source="ratings") for u in updates)
    first, last = updates[0].wp, updates[-1].wp
    assert first is not None
    assert last is not None
    assert first.home == pytest.approx(0.62, abs=2.0**-32)
    assert last.home == 0.0
    assert sum(u.wpa for u in updates if u.wpa is not None) == last.home - first.home
    plain = await _run_whole(mlb_model, None)
    assert all(u.prior == GamePrior() for u in plain)
    start = plain[0].wp
    assert start is not None
    assert start.home == mlb_model.table().start != first.home
    # A stronger home team is never given a lower WP than an average one.
    assert all(
        a.wp.home >= b.wp.home - 1e-12 for a, b in zip(updates, plain, strict=True) if a.wp and b.wp
    )


async def test_a_killed_processor_resumes_with_the_prior_it_started_with(mlb_model) -> None:
    """Killed mid-game and restarted with a book that moved since, a processor goes on
    from the stored prior: its WPs equal an uninterrupted run's, update for update."""
    reference = await _run_whole(mlb_model, _source(0.58))
    async with (
        bus_factory.from_url("memory://") as bus,
        store_factory.from_url("sqlite://") as store,
    ):
        archive = _Watched(store)
        await _fill(bus, WS7.events[:50])
        first = GameProcessor(
            bus, archive, "mlb", WS7.game_id, mlb_model, batch=7, priors=_source(0.58)
        )
        task = asyncio.create_task(first.run())
        await archive.written(40)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await _fill(bus, WS7.events[50:])
        moved = _source(0.41, "odds")
        second = GameProcessor(bus, archive, "mlb", WS7.game_id, mlb_model, batch=7, priors=moved)
        assert await second.resume() >= 40
        assert second.prior == GamePrior(home=0.58, source="ratings")
        await second.run()
        assert moved.calls == []
        published = [decode_update(e.payload) for e in await bus.read(update_stream(WS7.game_id))]
        archived = await store.updates(WS7.game_id)
    for run in (published, archived):
        assert [u.seq for u in run] == [u.seq for u in reference]
        assert [u.wp for u in run] == [u.wp for u in reference]
        assert [u.wpa for u in run] == [u.wpa for u in reference]
        assert {u.prior for u in run} == {GamePrior(home=0.58, source="ratings")}


async def test_a_prior_stored_before_any_batch_is_the_one_used(mlb_model) -> None:
    """Killed between fixing the prior and archiving its first batch, a game keeps that prior."""
    async with (
        bus_factory.from_url("memory://") as bus,
        store_factory.from_url("sqlite://") as archive,
    ):
        await _fill(bus, WS7.events)
        fixed = GamePrior(home=0.66, source="odds")
        await archive.fix_prior(WS7.game_id, fixed)
        source = _source(0.45)
        processor = GameProcessor(bus, archive, "mlb", WS7.game_id, mlb_model, priors=source)
        await processor.run()
        updates = await archive.updates(WS7.game_id)
    assert {u.prior for u in updates} == {fixed}
    assert updates[0].wp is not None
    assert updates[0].wp.home == pytest.approx(0.66, abs=2.0**-32)


async def test_a_game_started_before_priors_were_stored_goes_on_without_one(mlb_model) -> None:
    """A game archived without a stored prior resumes with none, as it was published."""
    plain = await _run_whole(mlb_model, None)
    async with (
        bus_factory.from_url("memory://") as bus,
        store_factory.from_url("sqlite://") as archive,
    ):
        await _fill(bus, WS7.events)
        head = [u for u in plain if u.event_seq <= 30]
        await archive.put_batch(
            list(WS7.events[:30]),
            [msgspec.structs.replace(u, prior=None) for u in head],
            checkpoint=("processor", event_stream(WS7.game_id), 30),
        )
        processor = GameProcessor(bus, archive, "mlb", WS7.game_id, mlb_model, priors=_source(0.7))
        await processor.run()
        assert await archive.prior(WS7.game_id) == GamePrior()
        rest = [decode_update(e.payload) for e in await bus.read(update_stream(WS7.game_id), 31)]
    assert [u.wp for u in rest] == [u.wp for u in plain[30:]]


async def test_a_model_that_takes_no_prior_publishes_source_none() -> None:
    """A model (or wrapper) without a prior argument is not asked to take one."""
    source = _source(0.7)
    updates = await _run_whole(ScoreModel(), source)
    assert source.calls == []
    assert {u.prior for u in updates} == {GamePrior()}
    assert all(u.prior is None for u in await _run_whole(None, source))


def test_an_update_without_a_prior_still_decodes(mlb_model) -> None:
    """Updates written before priors existed decode, with no prior; new ones show it."""
    scorer = GameScorer("mlb", WS7.game_id, mlb_model)
    update = scorer.score(WS7.events[0])
    assert update is not None
    doc = msgspec.json.decode(encode(update))
    assert doc["prior"] is None
    del doc["prior"]
    assert decode_update(msgspec.json.encode(doc)).prior is None
    assert scorer.fix_prior(GamePrior(home=0.6, source="odds")) == GamePrior(
        home=0.6, source="odds"
    )
    later = scorer.score(WS7.events[1])
    assert later is not None
    assert to_dict(later)["prior"] == {"home": 0.6, "source": "odds"}
    assert GameScorer("mlb", "g", ScoreModel()).fix_prior(GamePrior(home=0.6, source="odds")) == (
        GamePrior()
    )


def _final(
    game_id: str, home: str, away: str, score: tuple[int, int], date: str
) -> list[PlayEvent]:
    info = GameInfo(home=home, away=away, date=date)
    start = PlayEvent(
        sport="mlb", game_id=game_id, seq=1, event_id=f"{game_id}:1", kind="game_start", info=info
    )
    end = PlayEvent(
        sport="mlb",
        game_id=game_id,
        seq=2,
        event_id=f"{game_id}:2",
        kind="game_end",
        home_score=score[0],
        away_score=score[1],
    )
    return [start, end]


async def test_the_service_book_is_seeded_from_the_archive_and_moved_by_finals(
    tmp_path, mlb_model
) -> None:
    """A game's prior comes from the finals archived before; its own final moves the book."""
    from pressbox.engine.models.priors import Priors

    settings = Settings(log_url="memory://", archive_url=f"sqlite:///{tmp_path / 'a.db'}")
    finals = [_final(f"F{i}", "CLE", "CHN", (6, 1), f"2016-10-{10 + i:02d}") for i in range(6)] + [
        _final("OLD", "CHN", "CLE", (9, 0), "2015-09-01")
    ]
    by_hand = Priors()
    for events in sorted(finals, key=lambda e: e[0].info.date):
        info = events[0].info
        by_hand.record_final(
            "mlb", info.home, info.away, *(events[1].home_score, events[1].away_score),
            season=int(info.date[:4]),
        )  # fmt: skip
    expected = by_hand.prior_for("mlb", "CLE", "CHN", season=2016)
    async with Service(settings, models={"mlb": mlb_model}) as service:
        await service.archive.put_events([e for events in finals for e in events])
        await service.replay([SAMPLE_RETROSHEET / "2016" / "post" / "2016WS_.EVE"], speed=0)
        await ProcessorPool(service, consumer="solo").run(until_idle=True)
        first = (await service.archive.updates(WS7.game_id))[0]
        assert first.prior == GamePrior(home=expected.home, source="ratings")
        assert expected.elo_diff > 0.0
        assert expected.home > 0.56
        assert first.wp is not None
        assert first.wp.home == pytest.approx(expected.home, abs=2.0**-32)
        assert await service.archive.prior(WS7.game_id) == first.prior
        # The game's final is in the book, once (CHN won game 7 in Cleveland).
        book = service.priors.book("mlb")
        assert book.rating("CLE") < by_hand.book("mlb").rating("CLE")
        counted = book.home_count
        state = await service.state(WS7.game_id)
        assert state is not None
        await service.record_final("mlb", WS7.game_id, state)
        assert book.home_count == counted


async def test_a_game_with_odds_in_the_log_starts_from_the_market(mlb_model) -> None:
    """Odds put in the game's context register make its prior, margin removed."""
    import orjson

    from pressbox.feeds.odds import pregame_prior, read_odds
    from pressbox.service import ODDS

    doc = {"books": [{"provider": "a", "home": -150, "away": 130}]}
    market = pregame_prior(read_odds(doc), "mlb")
    assert market is not None
    settings = Settings(log_url="memory://", archive_url="sqlite://")
    async with Service(settings, models={"mlb": mlb_model}) as service:
        await service.bus.put_context(WS7.game_id, ODDS, orjson.dumps(doc))
        await service.bus.put_context("PIT201609290", ODDS, b"{not json")
        await service.replay([SAMPLE_RETROSHEET], speed=0)
        await ProcessorPool(service, consumer="solo").run(until_idle=True)
        odds = await service.snapshot(WS7.game_id)
        unreadable = await service.snapshot("PIT201609290")
    assert odds is not None
    assert odds.prior == GamePrior(home=market.home, source="odds")
    assert unreadable is not None
    assert unreadable.prior is not None
    assert unreadable.prior.source == "ratings"
