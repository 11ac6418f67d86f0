"""The read cache: game reads answered from kept bytes until the game's next update."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry

from pressbox.api.reads import ReadCache, Stale, Ticket
from pressbox.service import Service
from tests.api.helpers import add_game, land_update, make_update, running, runtime

pytestmark = pytest.mark.anyio


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _cache(
    clock: _Clock | None = None,
    *,
    ttl_s: float = 1.0,
    stale_s: float = 10.0,
    max_entries: int = 4096,
) -> ReadCache:
    return ReadCache(
        ttl_s=ttl_s,
        stale_s=stale_s,
        max_entries=max_entries,
        registry=CollectorRegistry(),
        clock=clock or _Clock(),
    )


def _kept(cache: ReadCache, path: str, body: bytes, query: bytes = b"") -> None:
    ticket = cache.lookup(path, query)
    assert isinstance(ticket, Ticket)
    cache.keep(ticket, body, b"application/json")


@pytest.mark.parametrize(
    ("path", "kept"),
    [
        ("/v1/games/G1", True),
        ("/v1/games/G1/plays", True),
        ("/v1/games/G1/wp", True),
        ("/v1/games/G1/key-plays", True),
        ("/v1/games", True),
        ("/v1/predictions/latest", True),
        ("/v1/games/G1/matchup", False),  # changes with the context register, not updates
        ("/v1/games/", False),
        ("/v1/predict/mlb/G1", False),  # the prediction cache's
        ("/v1/keys", False),
    ],
)
def test_which_reads_are_kept(path: str, kept: bool) -> None:
    assert (_cache().lookup(path, b"") is not None) is kept


def test_an_update_ends_its_games_reads_and_the_reads_over_all_games() -> None:
    cache = _cache()
    for path in ("/v1/games/G1", "/v1/games/G2", "/v1/predictions/latest"):
        ticket = cache.lookup(path, b"")
        assert isinstance(ticket, Ticket)
        cache.keep(ticket, path.encode(), b"application/json")
    assert cache.lookup("/v1/games/G1", b"") == (b"/v1/games/G1", b"application/json")
    cache.on_update(make_update("G1", 4))
    assert isinstance(cache.lookup("/v1/games/G1", b""), Ticket)
    assert isinstance(cache.lookup("/v1/predictions/latest", b""), Ticket)
    assert cache.lookup("/v1/games/G2", b"") == (b"/v1/games/G2", b"application/json")


def test_an_answer_built_while_an_update_landed_is_never_served() -> None:
    cache = _cache()
    ticket = cache.lookup("/v1/games/G1/plays", b"since=0")
    assert isinstance(ticket, Ticket)
    cache.on_update(make_update("G1", 4))  # lands while the answer is built
    cache.keep(ticket, b"old", b"application/json")
    assert isinstance(cache.lookup("/v1/games/G1/plays", b"since=0"), Ticket)


def test_the_query_is_part_of_the_key_and_entries_expire() -> None:
    clock = _Clock()
    cache = _cache(clock, ttl_s=1.0)
    ticket = cache.lookup("/v1/games/G1/plays", b"since=0")
    assert isinstance(ticket, Ticket)
    cache.keep(ticket, b"all", b"application/json")
    assert isinstance(cache.lookup("/v1/games/G1/plays", b"since=5"), Ticket)
    assert cache.lookup("/v1/games/G1/plays", b"since=0") == (b"all", b"application/json")
    clock.now += 1.0
    assert isinstance(cache.lookup("/v1/games/G1/plays", b"since=0"), Ticket)


def test_the_least_recently_used_answers_go_first() -> None:
    cache = _cache(max_entries=2)
    for game in ("A", "B", "C"):
        ticket = cache.lookup(f"/v1/games/{game}", b"")
        assert isinstance(ticket, Ticket)
        cache.keep(ticket, game.encode(), b"application/json")
    assert len(cache) == 2
    assert isinstance(cache.lookup("/v1/games/A", b""), Ticket)
    assert cache.lookup("/v1/games/C", b"") == (b"C", b"application/json")


@pytest.mark.parametrize(("ttl_s", "max_entries"), [(0.0, 4096), (1.0, 0)])
def test_a_cache_that_keeps_nothing_is_refused(ttl_s: float, max_entries: int) -> None:
    with pytest.raises(ValueError, match="positive"):
        _cache(ttl_s=ttl_s, max_entries=max_entries)


def test_the_fallback_is_the_last_answer_kept_with_its_age_and_how_far_behind() -> None:
    clock = _Clock()
    cache = _cache(clock, ttl_s=1.0, stale_s=10.0)
    _kept(cache, "/v1/games/G1/plays", b"as of 3", b"since=0")
    _kept(cache, "/v1/predictions/latest", b"latest as of 3")
    assert cache.fallback("/v1/games/G1/plays", b"since=0") == Stale(
        b"as of 3", b"application/json", 0.0, 0
    )
    for seq in (4, 5):
        cache.on_update(make_update("G1", seq))
    clock.now += 0.5  # within ttl_s of the build: no rebuild due yet
    assert isinstance(cache.lookup("/v1/games/G1/plays", b"since=0"), Ticket)
    assert cache.fallback("/v1/games/G1/plays", b"since=0") == Stale(
        b"as of 3", b"application/json", 0.5, 2
    )
    assert cache.fallback("/v1/predictions/latest", b"") == Stale(
        b"latest as of 3", b"application/json", 0.5, 2
    )
    # Another query, another game, a read that is never kept: nothing to give.
    assert cache.fallback("/v1/games/G1/plays", b"since=5") is None
    assert cache.fallback("/v1/games/G2/plays", b"since=0") is None
    assert cache.fallback("/v1/games/G1/matchup", b"") is None


def test_under_overload_one_read_per_ttl_rebuilds_the_kept_answer() -> None:
    clock = _Clock()
    cache = _cache(clock, ttl_s=1.0, stale_s=10.0)
    _kept(cache, "/v1/games/G1/plays", b"as of 3")
    cache.on_update(make_update("G1", 4))
    clock.now += 1.0  # the rebuild is due: one ticket, then the older answer meanwhile
    ticket = cache.fallback("/v1/games/G1/plays", b"")
    assert ticket == Ticket(("/v1/games/G1/plays", b""), 1)
    for _ in range(3):
        assert cache.fallback("/v1/games/G1/plays", b"") == Stale(
            b"as of 3", b"application/json", 1.0, 1
        )
    clock.now += 0.5
    assert isinstance(ticket, Ticket)
    cache.keep(ticket, b"as of 4", b"application/json")
    assert cache.lookup("/v1/games/G1/plays", b"") == (b"as of 4", b"application/json")
    # A rebuild that never came back (an error is not kept): another one ttl_s later.
    cache.on_update(make_update("G1", 5))
    clock.now += 1.0
    assert isinstance(cache.fallback("/v1/games/G1/plays", b""), Ticket)
    assert isinstance(cache.fallback("/v1/games/G1/plays", b""), Stale)
    clock.now += 1.0
    assert isinstance(cache.fallback("/v1/games/G1/plays", b""), Ticket)
    # Older than stale_s: refused while no rebuild is due, rebuilt when one is.
    clock.now += 10.0
    assert isinstance(cache.fallback("/v1/games/G1/plays", b""), Ticket)
    assert cache.fallback("/v1/games/G1/plays", b"") is None


def test_a_stale_s_of_zero_gives_no_fallback() -> None:
    cache = _cache(stale_s=0.0)
    _kept(cache, "/v1/games/G1", b"kept")
    cache.on_update(make_update("G1", 4))
    assert cache.fallback("/v1/games/G1", b"") is None
    with pytest.raises(ValueError, match="stale_s"):
        _cache(stale_s=-1.0)


async def test_the_app_answers_a_read_again_from_the_cache_until_the_next_update(
    service: Service,
) -> None:
    await add_game(service, "G1")
    async with running(service) as (app, client):
        rt = runtime(app)
        reads = rt.reads
        assert reads is not None
        registry = rt.registry
        assert registry is not None

        def hits() -> float:
            value = registry.get_sample_value("pressbox_api_read_cache_total", {"outcome": "hit"})
            return value or 0.0

        first = await client.get("/v1/games/G1")
        second = await client.get("/v1/games/G1")
        assert first.status_code == second.status_code == 200
        assert second.content == first.content
        assert second.headers["content-type"] == first.headers["content-type"]
        assert "ratelimit-limit" in second.headers
        assert hits() == 1
        # A new update: logged, then seen by the hub, whose listener ends the entry.
        await land_update(service, app, "G1", 4)
        third = await client.get("/v1/games/G1")
        assert third.json()["update"]["seq"] == 4
        assert hits() == 1
        # A refusal or a missing game is never kept.
        for _ in range(2):
            assert (await client.get("/v1/games/NOPE")).status_code == 404
        assert hits() == 1
