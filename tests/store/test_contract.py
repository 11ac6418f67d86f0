"""The contract every archive backend keeps, run against SQLite (file, memory) and PostgreSQL."""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from pressbox.engine.events import GameInfo, PlayEvent, encode
from pressbox.errors import BackendError, BackendUnavailable, UnknownGame
from pressbox.store import Archive, GameRecord
from pressbox.store._schema import LATEST, MIGRATIONS
from tests.store.conftest import MODEL, event, opened_together, update

pytestmark = pytest.mark.anyio

G = "NYA201504060"


def _game(n: int = 5, game_id: str = G) -> list[PlayEvent]:
    events = [event(game_id, 1, kind="game_start")]
    events += [event(game_id, s, home=s // 2, away=s // 3) for s in range(2, n)]
    events.append(event(game_id, n, kind="game_end", home=4, away=2))
    return events


async def test_events_are_stored_once(archive: Archive) -> None:
    """The same events twice are one row each; the count says how many were new."""
    events = _game()
    assert await archive.put_events(events[:3]) == 3
    assert await archive.put_events(events) == 2
    assert await archive.put_events(events) == 0
    assert await archive.timeline(G) == events


async def test_timeline_is_in_sequence_order(archive: Archive) -> None:
    """Events written out of order come back by seq."""
    events = _game(6)
    await archive.put_events(list(reversed(events[3:])))
    await archive.put_events(events[:3])
    assert [e.seq for e in await archive.timeline(G)] == [1, 2, 3, 4, 5, 6]


async def test_duplicates_inside_one_batch(archive: Archive) -> None:
    """A batch that repeats an event stores it once."""
    e = event(G, 1, kind="game_start")
    assert await archive.put_events([e, e, event(G, 2)]) == 2


async def test_game_rows_follow_the_events(archive: Archive) -> None:
    """game_start fills the teams, plays move the score, game_end makes it final."""
    events = _game(6)
    await archive.put_events(events[:3])
    live = await archive.game(G)
    assert live.status == "live"
    assert live.sport == "mlb"
    assert live.info == GameInfo(home="NYA", away="BOS", date="2015-04-06")
    assert (live.home_score, live.away_score, live.last_seq) == (1, 1, 3)
    await archive.put_events(events[3:])
    final = await archive.game(G)
    assert (final.status, final.home_score, final.away_score, final.last_seq) == (
        "final",
        4,
        2,
        6,
    )
    await archive.put_events([event(G, 2, home=0, away=0)])
    assert (await archive.game(G)).home_score == 4


async def test_a_late_event_does_not_move_the_score_back(archive: Archive) -> None:
    """An older event archived after a newer one leaves the newer score."""
    await archive.put_events([event(G, 5, home=3, away=1)])
    await archive.put_events([event(G, 4, home=2, away=1)])
    game = await archive.game(G)
    assert (game.home_score, game.last_seq) == (3, 5)


async def test_games_are_listed_by_date(archive: Archive) -> None:
    """games() lists every game by date, filtered by sport or status."""
    await archive.put_events(_game(4, "B"))
    await archive.put_game(
        GameRecord(
            game_id="A",
            sport="mlb",
            status="scheduled",
            info=GameInfo(home="CHN", away="STL", date="2015-04-05"),
        )
    )
    await archive.put_game(GameRecord(game_id="C", sport="nfl"))
    assert [g.game_id for g in await archive.games()] == ["C", "A", "B"]
    assert [g.game_id for g in await archive.games(sport="mlb")] == ["A", "B"]
    assert [g.game_id for g in await archive.games(status="final")] == ["B"]
    assert (await archive.game("A")).info == GameInfo(home="CHN", away="STL", date="2015-04-05")


async def test_put_result_makes_a_game_final(archive: Archive) -> None:
    """put_result records the final score of a known game."""
    await archive.put_events(_game(3)[:2])
    await archive.put_result(G, home_score=7, away_score=5)
    game = await archive.game(G)
    assert (game.status, game.home_score, game.away_score) == ("final", 7, 5)


async def test_updates_are_stored_once_per_model(archive: Archive) -> None:
    """An update is identified by game, model and seq."""
    await archive.put_events(_game())
    assert await archive.put_updates([update(G, 1), update(G, 2)]) == 2
    assert await archive.put_updates([update(G, 2), update(G, 3)]) == 1
    assert await archive.put_updates([update(G, 1, model="other/2")]) == 1
    assert [u.seq for u in await archive.updates(G, MODEL)] == [1, 2, 3]
    assert await archive.models(G) == ["mlb-test/1", "other/2"]
    assert len(await archive.updates(G)) == 4
    assert (await archive.updates(G, MODEL))[0] == update(G, 1)


async def test_model_argument_overrides_the_wp_model(archive: Archive) -> None:
    """put_updates(model=...) files updates under that name; no WP files under ''."""
    await archive.put_updates([update(G, 1)], model="named")
    await archive.put_updates([update(G, 1, wp=None, wpa=None)])
    assert await archive.models(G) == ["", "named"]


async def test_updates_of_an_unarchived_game_create_its_row(archive: Archive) -> None:
    """Updates that arrive before their game's events still find a game row."""
    await archive.put_updates([update("X", 1)])
    assert (await archive.game("X")).status == "live"


async def test_wp_series_and_key_plays(archive: Archive) -> None:
    """The WP series is in seq order; key plays are the largest |wpa| first."""
    swings = [0.02, -0.25, 0.05, 0.4, None, -0.1]
    await archive.put_updates(
        [
            update(G, seq, wp=None if wpa is None else 0.5 + seq / 100, wpa=wpa)
            for seq, wpa in enumerate(swings, start=1)
        ]
    )
    series = await archive.wp_series(G, MODEL)
    assert [seq for seq, _ in series] == [1, 2, 3, 4, 6]
    assert series[0][1] == pytest.approx(0.51)
    assert [u.seq for u in await archive.key_plays(G, MODEL, n=3)] == [4, 2, 6]
    assert await archive.key_plays(G, MODEL, n=0) == []
    assert await archive.wp_series(G, "nobody") == []


async def test_checkpoint_is_written_with_the_updates(archive: Archive) -> None:
    """put_updates(checkpoint=...) records the consumer's position; 0 before any."""
    stream = f"events:{G}"
    assert await archive.checkpoint("proc-1", stream) == 0
    await archive.put_updates([update(G, 1), update(G, 2)], checkpoint=("proc-1", stream, 2))
    assert await archive.checkpoint("proc-1", stream) == 2
    await archive.put_updates([], checkpoint=("proc-1", stream, 3))
    assert await archive.checkpoint("proc-1", stream) == 3
    await archive.put_events([event(G, 1, kind="game_start")], checkpoint=("arch", stream, 1))
    assert await archive.checkpoint("arch", stream) == 1
    assert await archive.checkpoint("proc-2", stream) == 0


async def test_updates_and_checkpoint_commit_or_fail_together(
    archive: Archive, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When the checkpoint cannot be written, the updates of that call are not kept."""
    stream = f"events:{G}"
    await archive.put_updates([update(G, 1)], checkpoint=("proc", stream, 1))
    backend = sys.modules[type(archive).__module__]
    monkeypatch.setattr(backend, "_PUT_CHECKPOINT", "INSERT INTO no_such_table VALUES (1)")
    with pytest.raises(BackendError):
        await archive.put_updates([update(G, 2), update(G, 3)], checkpoint=("proc", stream, 3))
    monkeypatch.undo()
    assert [u.seq for u in await archive.updates(G)] == [1]
    assert await archive.checkpoint("proc", stream) == 1
    assert await archive.put_updates([update(G, 2)], checkpoint=("proc", stream, 2)) == 1


async def test_a_batch_of_events_updates_and_checkpoint_is_one_transaction(
    archive: Archive, monkeypatch: pytest.MonkeyPatch
) -> None:
    """put_batch stores events, updates and the checkpoint together, or none of them."""
    stream = f"events:{G}"
    added = await archive.put_batch(
        [event(G, 1, kind="game_start"), event(G, 2, home=1)],
        [update(G, 1), update(G, 2)],
        checkpoint=("proc", stream, 2),
    )
    assert added == (2, 2)
    assert await archive.put_batch([event(G, 2, home=1)], [update(G, 2)]) == (0, 0)
    assert await archive.put_batch([], []) == (0, 0)
    backend = sys.modules[type(archive).__module__]
    monkeypatch.setattr(backend, "_PUT_CHECKPOINT", "INSERT INTO no_such_table VALUES (1)")
    with pytest.raises(BackendError):
        await archive.put_batch(
            [event(G, 3, home=2)], [update(G, 3)], checkpoint=("proc", stream, 3)
        )
    monkeypatch.undo()
    assert [e.seq for e in await archive.timeline(G)] == [1, 2]
    assert [u.seq for u in await archive.updates(G)] == [1, 2]
    assert await archive.checkpoint("proc", stream) == 2


async def test_migrations_apply_once_and_survive_reopening(
    archive: Archive, reopen: Callable[[], Archive]
) -> None:
    """Reopening a database applies nothing new and keeps the data."""
    await archive.put_events(_game())
    assert await archive.schema_version() == LATEST
    async with reopen() as again:
        assert await again.schema_version() == LATEST
        assert len(await again.timeline(G)) == 5
    assert len(MIGRATIONS) == LATEST


async def test_processes_opening_a_new_database_together_migrate_it_once(
    archive_url: str,
) -> None:
    """Archives opened at the same time on a fresh database apply each migration once."""
    if archive_url == "sqlite://":
        pytest.skip("each in-memory SQLite archive is its own database")
    async with opened_together(archive_url, 3) as archives:
        for archive in archives:
            assert await archive.schema_version() == LATEST
        await archives[0].put_events(_game())
        assert len(await archives[2].timeline(G)) == 5


@pytest.mark.parametrize(
    "bad",
    [
        ["not an event"],
        "a string",
        None,
    ],
)
async def test_bad_events_are_refused_and_nothing_is_written(archive: Archive, bad: Any) -> None:
    """A batch with anything but PlayEvents raises TypeError and writes nothing of it."""
    await archive.put_events([event(G, 1, kind="game_start")])
    with pytest.raises(TypeError):
        await archive.put_events([event(G, 2), *bad] if isinstance(bad, list) else bad)
    assert [e.seq for e in await archive.timeline(G)] == [1]


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"updates": [object()]}, TypeError),
        ({"updates": [], "model": 3}, TypeError),
        ({"updates": [], "checkpoint": ("c", "s")}, TypeError),
        ({"updates": [], "checkpoint": ("c", "s", "1")}, TypeError),
        ({"updates": [], "checkpoint": ("c", "s", -1)}, ValueError),
        ({"updates": [], "checkpoint": ("", "s", 1)}, ValueError),
    ],
)
async def test_bad_updates_are_refused(
    archive: Archive, kwargs: dict[str, Any], error: type[Exception]
) -> None:
    """Wrong types and values raise before anything is written."""
    await archive.put_updates([update(G, 1)], checkpoint=("c", "s", 1))
    with pytest.raises(error):
        await archive.put_updates(**kwargs)
    assert len(await archive.updates(G)) == 1
    assert await archive.checkpoint("c", "s") == 1


@pytest.mark.parametrize(
    "call",
    [
        lambda a: a.game("nope"),
        lambda a: a.timeline("nope"),
        lambda a: a.updates("nope"),
        lambda a: a.models("nope"),
        lambda a: a.wp_series("nope", MODEL),
        lambda a: a.key_plays("nope", MODEL),
        lambda a: a.put_result("nope", home_score=1, away_score=0),
    ],
)
async def test_unknown_games_are_reported(
    archive: Archive, call: Callable[[Archive], Awaitable[object]]
) -> None:
    """Asking about a game the archive does not have raises UnknownGame."""
    with pytest.raises(UnknownGame) as info:
        await call(archive)
    assert info.value.game_id == "nope"


async def test_bad_query_arguments(archive: Archive) -> None:
    """Wrong argument types and values are refused with TypeError or ValueError."""
    await archive.put_events(_game())
    with pytest.raises(TypeError):
        await archive.game(42)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="n must be"):
        await archive.key_plays(G, MODEL, n=-1)
    with pytest.raises(TypeError):
        await archive.put_game("NYA")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        await archive.put_result(G, home_score="1", away_score=0)  # type: ignore[arg-type]


async def test_ping_and_close(archive: Archive) -> None:
    """ping is true while open; after aclose calls fail as unavailable."""
    assert await archive.ping() is True
    await archive.aclose()
    await archive.aclose()
    assert await archive.ping() is False
    with pytest.raises(BackendUnavailable):
        await archive.games()


async def test_a_batch_can_hand_over_its_json(archive: Archive) -> None:
    """put_batch stores the events' and updates' JSON as handed over; they read back equal."""
    events = _game(4)
    updates = [update(G, s) for s in (1, 2, 3, 4)]
    added = await archive.put_batch(
        events,
        updates,
        checkpoint=("proc", f"events:{G}", 4),
        event_docs=[encode(e) for e in events],
        update_docs=[encode(u) for u in updates],
    )
    assert added == (4, 4)
    assert await archive.timeline(G) == events
    assert await archive.updates(G) == updates
    assert (await archive.game(G)).status == "final"
    assert await archive.checkpoint("proc", f"events:{G}") == 4


@pytest.mark.parametrize(
    ("docs", "error", "reason"),
    [
        ([b"{}"], ValueError, "1 documents for 2 items"),
        ([b"{}", "{}"], TypeError, "must hold bytes, not str"),
        ([b"{}", None], TypeError, "must hold bytes, not NoneType"),
        (b"{}{}", TypeError, "sequence of bytes"),
        ([b"{}", b"\xff"], ValueError, "not UTF-8"),
    ],
)
async def test_bad_json_handed_over_is_refused(
    archive: Archive, docs: Any, error: type[Exception], reason: str
) -> None:
    """Documents that do not match the batch raise with the reason; nothing is written."""
    await archive.put_events([event(G, 1, kind="game_start")], checkpoint=("c", "s", 1))
    batch = [event(G, 2), event(G, 3)]
    with pytest.raises(error, match=reason):
        await archive.put_batch(batch, [], checkpoint=("c", "s", 3), event_docs=docs)
    with pytest.raises(error, match=reason):
        await archive.put_batch((), [update(G, 2), update(G, 3)], update_docs=docs)
    assert [e.seq for e in await archive.timeline(G)] == [1]
    assert await archive.updates(G) == []
    assert await archive.checkpoint("c", "s") == 1
