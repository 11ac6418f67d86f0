"""The matchup context from ingest's side, against the simulated upstream on loopback."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import anyio
import anyio.lowlevel
import httpx
import orjson
import pytest
from prometheus_client import CollectorRegistry

from pressbox.bus.memory import MemoryBus
from pressbox.config import Settings
from pressbox.engine.events import BaseballPlay, FootballPlay, PlayEvent, decode_event
from pressbox.errors import BackendUnavailable
from pressbox.feeds.context import MATCHUP, MatchupFeeder
from pressbox.feeds.gumbo import GumboGame
from pressbox.feeds.http import RetryPolicy
from pressbox.feeds.poller import PollPolicy, feed_path, statsapi_client
from pressbox.feeds.upstream import ids, run_upstream
from pressbox.feeds.upstream.data import UpstreamData, load_data
from pressbox.resilience.clock import ManualClock
from pressbox.service import Service, run_roles
from tests.conftest import SAMPLE_RETROSHEET

pytestmark = pytest.mark.anyio

WS_GAME = "KCA201510270"
"""World Series 2015 game 1 (NYM at KC): KC's hitters have a season line from the
bundled regular-season game at ANA, the Mets' do not."""
WS_PK = ids.game_pk(WS_GAME)
WS_DAY = "2015-10-27"
NO_RETRY = RetryPolicy(attempts=1, wait_initial=0.0, wait_max=0.0, wait_jitter=0.0)
DEAD = "http://127.0.0.1:9"
RATE = re.compile(r"^\d?\.\d{3}$")


@pytest.fixture(scope="module")
def sample() -> UpstreamData:
    """The bundled Retrosheet games, loaded once."""
    return load_data([SAMPLE_RETROSHEET])


class _Gate(httpx.AsyncBaseTransport):
    """Forwards to the upstream until ``down`` is set, then refuses every connection."""

    def __init__(self) -> None:
        self._inner = httpx.AsyncHTTPTransport()
        self.down = False
        self.requests: list[str] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(str(request.url))
        if self.down:
            raise httpx.ConnectError("connection refused", request=request)
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


class _Now:
    def __init__(self) -> None:
        self.t = 1_800_000_000.0

    def __call__(self) -> float:
        return self.t


async def _events(base: str) -> list[PlayEvent]:
    """The WS game's events as ingest reads them from the live feed."""
    async with httpx.AsyncClient(base_url=base) as http:
        doc = (await http.get(feed_path(WS_PK))).json()
    return GumboGame(source=f"gumbo:{WS_PK}").update(doc)


def _first_kc_hitter(events: list[PlayEvent]) -> int:
    """Index of the first play whose batter is KC's leadoff man (bottom of the 1st)."""
    for index, event in enumerate(events):
        if event.before is not None and getattr(event.before, "half", None) == "bottom":
            return index
    raise AssertionError("no bottom half")


@pytest.fixture
async def bus() -> AsyncIterator[MemoryBus]:
    async with MemoryBus() as bus:
        yield bus


async def _stored(bus: MemoryBus) -> dict[str, object]:
    blob = await bus.get_context(str(WS_PK), MATCHUP)
    assert blob is not None
    record: dict[str, object] = orjson.loads(blob)
    return record


async def test_a_new_matchup_is_fetched_and_stored(sample: UpstreamData, bus: MemoryBus) -> None:
    """Names, teams, both season lines to date and the history, as the upstream gives them."""
    async with (
        run_upstream(sample, speed=0, date=WS_DAY) as base,
        statsapi_client(base, registry=CollectorRegistry(), retry=NO_RETRY) as client,
    ):
        events = await _events(base)
        at = _first_kc_hitter(events)
        feeder = MatchupFeeder(client, bus)
        for seq, event in enumerate(events[: at + 1], start=1):
            feeder.observe(event, seq)
        record = await feeder.refresh(str(WS_PK))
        play = events[at].detail
        assert isinstance(play, BaseballPlay)
        async with httpx.AsyncClient(base_url=base) as http:
            direct = (
                await http.get(
                    f"/api/v1/people/{play.batter}/stats",
                    params={"stats": "season", "group": "hitting", "date": WS_DAY},
                )
            ).json()["stats"][0]["splits"][0]
    assert record is not None
    assert record == await _stored(bus)
    assert record["available"] is True
    assert record["seq"] == at + 1
    batter = record["batter"]
    pitcher = record["pitcher"]
    assert isinstance(batter, dict)
    assert isinstance(pitcher, dict)
    assert batter["id"] == play.batter
    assert batter["name"] == direct["player"]["fullName"] == "Alcides Escobar"
    info = events[0].info
    assert info is not None
    assert (batter["team"], pitcher["team"]) == (info.home, info.away) == ("KC", "NYM")
    season = batter["season"]
    assert season["pa"] == direct["stat"]["plateAppearances"] > 0
    assert season["avg"] == direct["stat"]["avg"]
    assert RATE.match(season["obp"])
    assert pitcher["id"] == play.pitcher
    assert pitcher["name"]
    # The Mets' starter pitched in none of the bundled regular-season games.
    assert pitcher["season"] is None
    assert "to date" in pitcher["reason"]
    assert record["head_to_head"] == {"reason": "first meeting"}


async def test_the_service_keeps_the_matchup_current_while_it_ingests(
    sample: UpstreamData,
) -> None:
    """run_roles with an upstream stores each game's latest matchup, read back by the API."""
    async with (
        run_upstream(sample, speed=0, date=WS_DAY) as base,
        Service(Settings(log_url="memory://", archive_url="sqlite://")) as service,
    ):
        with anyio.fail_after(60):
            async with anyio.create_task_group() as tg:
                tg.start_soon(lambda: run_roles(service, ingest=True, upstream_url=base))
                while True:
                    blob = await service.matchup(str(WS_PK))
                    last = await service.bus.last_seq(f"events:{WS_PK}")
                    if blob is not None and last and orjson.loads(blob)["seq"] >= last - 1:
                        break
                    await anyio.sleep(0.05)
                tg.cancel_scope.cancel()
    record = orjson.loads(blob or b"null")
    assert record["available"] is True
    assert record["batter"]["name"]
    assert record["pitcher"]["name"]


async def test_a_dead_upstream_gives_unavailable_with_a_reason(bus: MemoryBus) -> None:
    """Nothing answers: the record says unavailable and why; nothing raises into ingest."""
    async with statsapi_client(DEAD, registry=CollectorRegistry(), retry=NO_RETRY) as client:
        feeder = MatchupFeeder(client, bus)
        feeder.observe(_play("G9", "111", "222"), 4)
        record = await feeder.refresh("G9")
    assert record is not None
    stored = orjson.loads(await bus.get_context("G9", MATCHUP) or b"null")
    assert stored == record
    assert record["available"] is False
    assert record["seq"] == 4
    assert "did not answer" in str(record["reason"])
    assert "ConnectError" in str(record["reason"]) or "refused" in str(record["reason"])


async def test_a_failed_refresh_keeps_the_last_good_value_marked_with_its_age(
    sample: UpstreamData, bus: MemoryBus
) -> None:
    """Upstream down after a good fetch: the cached lines stay, stale, with their age."""
    clock = ManualClock()
    gate = _Gate()
    async with (
        run_upstream(sample, speed=0, date=WS_DAY, clock=clock) as base,
        statsapi_client(
            base, clock=clock, registry=CollectorRegistry(), retry=NO_RETRY, transport=gate
        ) as client,
    ):
        events = await _events(base)
        at = _first_kc_hitter(events)
        feeder = MatchupFeeder(client, bus, clock=clock, retry_s=10.0)
        for seq, event in enumerate(events[: at + 1], start=1):
            feeder.observe(event, seq)
        good = await feeder.refresh(str(WS_PK))
        clock.advance(4000.0)  # past the stats TTL (1 h)
        gate.down = True
        again = await feeder.refresh(str(WS_PK))
    assert good is not None
    assert again is not None
    assert again == await _stored(bus)
    assert again["available"] is True
    batter = again["batter"]
    assert isinstance(batter, dict)
    assert batter["season"] == good["batter"]["season"]
    assert batter["stale"] is True
    assert batter["age_s"] >= 4000.0
    assert batter["reason"]


async def test_the_feeders_own_copy_outlives_the_clients_cache(
    sample: UpstreamData, bus: MemoryBus
) -> None:
    """With the client's cache evicted, the last good answer of a request still serves."""
    gate = _Gate()
    now = _Now()
    async with (
        run_upstream(sample, speed=0, date=WS_DAY) as base,
        statsapi_client(
            base, registry=CollectorRegistry(), retry=NO_RETRY, transport=gate, max_entries=1
        ) as client,
    ):
        events = await _events(base)
        at = _first_kc_hitter(events)
        feeder = MatchupFeeder(client, bus, now=now)
        for seq, event in enumerate(events[: at + 1], start=1):
            feeder.observe(event, seq)
        good = await feeder.refresh(str(WS_PK))
        now.t += 90.0
        gate.down = True
        again = await feeder.refresh(str(WS_PK))
    assert good is not None
    assert again is not None
    assert again["available"] is True
    batter = again["batter"]
    assert isinstance(batter, dict)
    assert batter["season"] == good["batter"]["season"]
    assert batter["stale"] is True
    assert batter["age_s"] == pytest.approx(90.0, abs=1.0)
    assert "ConnectError" in batter["reason"] or "refused" in batter["reason"]


def _play(game_id: str, batter: str | None, pitcher: str | None, seq: int = 2) -> PlayEvent:
    return PlayEvent(
        sport="mlb",
        game_id=game_id,
        seq=seq,
        event_id=f"{game_id}:{seq}",
        detail=BaseballPlay(batter=batter, pitcher=pitcher),
    )


async def test_observe_schedules_only_changes_and_due_retries(bus: MemoryBus) -> None:
    """A fetch is scheduled for a new matchup, not for the same complete one, and again for
    an incomplete one once retry_s has passed."""
    clock = ManualClock()
    async with statsapi_client(DEAD, registry=CollectorRegistry(), retry=NO_RETRY) as client:
        feeder = MatchupFeeder(client, bus, clock=clock, retry_s=30.0)
        feeder.observe(_play("G1", "1", "2"))
        assert list(feeder.scheduled) == ["G1"]
        await feeder.refresh("G1")  # the upstream is dead: incomplete
        assert list(feeder.scheduled) == []
        feeder.observe(_play("G1", "1", "2", seq=3))
        assert list(feeder.scheduled) == []
        clock.advance(31.0)
        feeder.observe(_play("G1", "1", "2", seq=4))
        assert list(feeder.scheduled) == ["G1"]
        await feeder.refresh("G1")
        feeder.observe(_play("G1", "3", "2", seq=5))
        assert list(feeder.scheduled) == ["G1"]


async def test_observe_ignores_what_names_no_matchup(bus: MemoryBus) -> None:
    """Football, runner events without a batter and broken events schedule nothing."""
    async with statsapi_client(DEAD, registry=CollectorRegistry(), retry=NO_RETRY) as client:
        feeder = MatchupFeeder(client, bus)
        feeder.observe(
            PlayEvent(sport="nfl", game_id="F1", seq=1, event_id="F1:1", detail=FootballPlay())
        )
        feeder.observe(_play("G1", None, "2"))
        feeder.observe(object())  # type: ignore[arg-type]
        assert list(feeder.scheduled) == []
        assert await feeder.refresh("G1") is None


async def test_ids_that_are_not_stats_api_ids_are_not_fetched(bus: MemoryBus) -> None:
    """Retrosheet ids cannot be looked up: the record says so and no request goes out."""
    gate = _Gate()
    async with statsapi_client(
        DEAD, registry=CollectorRegistry(), retry=NO_RETRY, transport=gate
    ) as client:
        feeder = MatchupFeeder(client, bus)
        feeder.observe(_play("G1", "harpb003", "gibsk001"))
        record = await feeder.refresh("G1")
    assert record is not None
    assert record["available"] is False
    assert "not Stats API ids" in str(record["reason"])
    assert gate.requests == []


class _BrokenStore:
    def __init__(self) -> None:
        self.puts = 0

    async def put_context(self, game_id: str, kind: str, payload: bytes) -> None:
        self.puts += 1
        raise BackendUnavailable("redis: connection refused")

    async def get_context(self, game_id: str, kind: str) -> bytes | None:
        return None


async def test_a_store_failure_is_logged_and_retried_not_raised() -> None:
    """The record cannot be written: refresh returns, and the matchup is fetched again."""
    store = _BrokenStore()
    clock = ManualClock()
    async with statsapi_client(DEAD, registry=CollectorRegistry(), retry=NO_RETRY) as client:
        feeder = MatchupFeeder(client, store, clock=clock, retry_s=5.0)
        feeder.observe(_play("G1", "1", "2"))
        assert await feeder.refresh("G1") is not None
        clock.advance(6.0)
        feeder.observe(_play("G1", "1", "2", seq=3))
        assert list(feeder.scheduled) == ["G1"]
    assert store.puts == 1


async def test_run_fetches_in_the_background_for_the_latest_matchup(
    sample: UpstreamData, bus: MemoryBus
) -> None:
    """run() follows observe(): the stored record ends on the last matchup observed."""
    async with (
        run_upstream(sample, speed=0, date=WS_DAY) as base,
        statsapi_client(base, registry=CollectorRegistry(), retry=NO_RETRY) as client,
    ):
        events = await _events(base)
        feeder = MatchupFeeder(client, bus)
        plays = [e for e in events if isinstance(e.detail, BaseballPlay) and e.detail.batter]
        with anyio.fail_after(30):
            async with anyio.create_task_group() as tg:
                tg.start_soon(feeder.run)
                for seq, event in enumerate(events, start=1):
                    feeder.observe(event, seq)
                    if seq % 10 == 0:
                        await anyio.lowlevel.checkpoint()
                last = plays[-1].detail
                assert isinstance(last, BaseballPlay)
                last_pitcher = last.pitcher
                while True:
                    blob = await bus.get_context(str(WS_PK), MATCHUP)
                    record: dict[str, Any] = orjson.loads(blob) if blob else {}
                    if record and record["batter"]["id"] == last.batter and not feeder.scheduled:
                        break
                    await anyio.sleep(0.02)
                tg.cancel_scope.cancel()
    assert record["pitcher"]["id"] == last_pitcher
    # Coalesced: far fewer fetches than plays.
    assert 1 <= feeder.fetches < len(plays)


async def test_a_matchup_being_fetched_is_not_scheduled_again(
    sample: UpstreamData, bus: MemoryBus
) -> None:
    """Plays of the matchup whose fetch is in flight schedule nothing more."""
    async with (
        run_upstream(sample, speed=0, date=WS_DAY) as base,
        statsapi_client(base, registry=CollectorRegistry(), retry=NO_RETRY) as client,
    ):
        feeder = MatchupFeeder(client, bus)
        batter, pitcher = str(ids.player_id("escoa003")), str(ids.player_id("harvm001"))
        feeder.observe(_play(str(WS_PK), batter, pitcher))
        scheduled: list[list[str]] = []
        async with anyio.create_task_group() as tg:
            tg.start_soon(feeder.refresh, str(WS_PK))
            await anyio.lowlevel.checkpoint()
            feeder.observe(_play(str(WS_PK), batter, pitcher, seq=3))
            scheduled.append(list(feeder.scheduled))
            feeder.observe(_play(str(WS_PK), batter, "1", seq=4))
            scheduled.append(list(feeder.scheduled))
    assert scheduled == [[], [str(WS_PK)]]
    assert feeder.fetches == 1


async def test_ingest_upstream_ends_with_each_games_last_matchup_stored(
    sample: UpstreamData,
) -> None:
    """The ingest role alone: every game followed to the end, its last matchup stored."""
    policy = PollPolicy(action=0.05, pause=0.1, honour_wait=False)
    async with (
        run_upstream(sample, speed=0, date=WS_DAY) as base,
        Service(Settings(log_url="memory://", archive_url="sqlite://")) as service,
    ):
        with anyio.fail_after(60):
            report = await service.ingest_upstream(base, policy=policy)
        blob = await service.matchup(str(WS_PK))
        logged = await service.bus.read(f"events:{WS_PK}")
    assert report.games == (str(WS_PK),)
    plays = [
        (entry.seq, event.detail)
        for entry in logged
        if isinstance((event := decode_event(entry.payload)).detail, BaseballPlay)
        and event.detail.batter
    ]
    seq, last = plays[-1]
    assert isinstance(last, BaseballPlay)
    record = orjson.loads(blob or b"null")
    assert (record["batter"]["id"], record["pitcher"]["id"]) == (last.batter, last.pitcher)
    assert record["seq"] == seq
