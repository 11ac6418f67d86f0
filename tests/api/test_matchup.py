"""``GET /v1/games/{id}/matchup``: read from the context register, never fetched."""

from __future__ import annotations

import time
import uuid

import orjson
import pytest

from pressbox.api.schemas import MatchupOut
from pressbox.bus.redis import RedisBus
from pressbox.config import Settings
from pressbox.engine.events import PlayEvent
from pressbox.feeds.context import MATCHUP, NO_STATS_SOURCE
from pressbox.service import Service
from tests.api.helpers import INFO, add_game, running
from tests.bus.conftest import _drop_prefix
from tests.conftest import service_url

pytestmark = pytest.mark.anyio

RECORD = {
    "available": True,
    "game_id": "G1",
    "seq": 57,
    "as_of": 0.0,
    "batter": {
        "id": "547180",
        "name": "Bryce Harper",
        "team": "WAS",
        "season": {"pa": 64, "ab": 50, "h": 17, "hr": 7, "avg": ".340", "obp": ".469"},
    },
    "pitcher": {
        "id": "502202",
        "name": "Kyle Gibson",
        "team": "MIN",
        "season": {"ip": "21.1", "era": "4.64", "so": 11, "bb": 9},
        "stale": True,
        "age_s": 120.0,
        "reason": "statsapi: connection refused",
    },
    "head_to_head": {"reason": "first meeting"},
}


async def test_a_stored_matchup_is_served_with_its_age(service: Service) -> None:
    """The record ingest stored comes back in the documented shape, aged from as_of."""
    await add_game(service, "G1")
    as_of = time.time() - 30
    await service.bus.put_context("G1", MATCHUP, orjson.dumps({**RECORD, "as_of": as_of}))
    async with running(service) as (_, client):
        response = await client.get("/v1/games/G1/matchup")
    assert response.status_code == 200
    body = response.json()
    MatchupOut.model_validate(body)
    assert body["available"] is True
    assert body["game_id"] == "G1"
    assert body["seq"] == 57
    assert body["batter"]["name"] == "Bryce Harper"
    assert body["batter"]["season"]["avg"] == ".340"
    assert body["batter"]["season"]["slg"] is None
    assert body["pitcher"]["season"]["ip"] == "21.1"
    assert body["pitcher"]["stale"] is True
    assert body["pitcher"]["age_s"] == 120.0
    assert body["head_to_head"]["reason"] == "first meeting"
    assert body["head_to_head"]["pa"] is None
    assert body["as_of"] == pytest.approx(as_of)
    assert 29 <= body["age_s"] < 120


async def test_unknown_game_is_404_like_every_game_route(service: Service) -> None:
    """An unknown game gets the same 404 error body as the other game routes."""
    await add_game(service, "G1")
    async with running(service) as (_, client):
        matchup = await client.get("/v1/games/NOPE/matchup")
        snapshot = await client.get("/v1/games/NOPE")
    assert matchup.status_code == snapshot.status_code == 404
    assert matchup.json()["error"] == "unknown_game"
    assert matchup.json().keys() == snapshot.json().keys()


async def test_known_game_without_a_record_is_unavailable(service: Service) -> None:
    """A game nobody stored a matchup for answers 200 available false with a reason."""
    await add_game(service, "G1")
    async with running(service) as (_, client):
        response = await client.get("/v1/games/G1/matchup")
    assert response.status_code == 200
    body = response.json()
    assert body["available"] is False
    assert "no matchup yet" in body["reason"]
    assert body["batter"] is None


async def test_an_announced_game_not_yet_archived_is_known(service: Service) -> None:
    """A game only announced on the log is not a 404."""
    await service.announce("mlb", "NEW1")
    async with running(service) as (_, client):
        response = await client.get("/v1/games/NEW1/matchup")
    assert response.status_code == 200
    assert response.json()["available"] is False


async def test_an_unavailable_record_passes_its_reason(service: Service) -> None:
    """A record that says why there is no matchup is served as it says."""
    await add_game(service, "G1")
    record = {"available": False, "reason": NO_STATS_SOURCE, "game_id": "G1", "as_of": 1.0}
    await service.bus.put_context("G1", MATCHUP, orjson.dumps(record))
    async with running(service) as (_, client):
        body = (await client.get("/v1/games/G1/matchup")).json()
    assert body["available"] is False
    assert body["reason"] == NO_STATS_SOURCE


@pytest.mark.parametrize("blob", [b"not json", b"[1, 2]", b'{"available": "maybe"}'])
async def test_an_unreadable_record_is_unavailable_not_an_error(
    service: Service, blob: bytes
) -> None:
    """A record that cannot be read answers available false with why, never a 5xx."""
    await add_game(service, "G1")
    await service.bus.put_context("G1", MATCHUP, blob)
    async with running(service) as (_, client):
        response = await client.get("/v1/games/G1/matchup")
    assert response.status_code == 200
    body = response.json()
    assert body["available"] is False
    assert "unreadable" in body["reason"]


async def test_the_route_is_in_the_openapi_document(service: Service) -> None:
    """/openapi.json documents the matchup route, its model and its 404."""
    async with running(service) as (_, client):
        schema = (await client.get("/openapi.json")).json()
    operation = schema["paths"]["/v1/games/{game_id}/matchup"]["get"]
    ok = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert ok["$ref"].endswith("/MatchupOut")
    assert "404" in operation["responses"]
    assert "MatchupOut" in schema["components"]["schemas"]


async def test_a_replayed_game_says_it_has_no_stats_source(service: Service) -> None:
    """A replay from Retrosheet files stores a record saying there is no stats source."""
    await service.replay(speed=0, games=1)
    game_id = (await service.games())[0]
    async with running(service) as (_, client):
        body = (await client.get(f"/v1/games/{game_id}/matchup")).json()
    assert body["available"] is False
    assert body["reason"] == NO_STATS_SOURCE


@pytest.mark.redis
async def test_an_api_process_reads_what_ingest_wrote_to_redis() -> None:
    """Over redis://, the record one process (ingest) put is what another's API serves."""
    url = service_url("REDIS")
    prefix = f"pressbox-test:{uuid.uuid4().hex}:"
    settings = Settings(log_url=f"{url}?prefix={prefix}", archive_url="sqlite://")
    try:
        async with RedisBus(url, prefix=prefix) as ingest_side, Service(settings) as api_side:
            await api_side.announce("mlb", "G1")
            await ingest_side.put_context("G1", MATCHUP, orjson.dumps(RECORD))
            async with running(api_side) as (_, client):
                body = (await client.get("/v1/games/G1/matchup")).json()
    finally:
        await _drop_prefix(url, prefix)
    assert body["available"] is True
    assert body["batter"]["name"] == "Bryce Harper"
    assert body["pitcher"]["stale"] is True


async def test_a_football_game_has_no_batter(service: Service) -> None:
    """A known football game answers unavailable, saying why."""
    start = PlayEvent(
        sport="nfl", game_id="F1", seq=1, event_id="F1:1", kind="game_start", info=INFO
    )
    await service.archive.put_events([start])
    await service.announce("nfl", "F1")
    async with running(service) as (_, client):
        response = await client.get("/v1/games/F1/matchup")
    assert response.status_code == 200
    assert response.json()["available"] is False
    assert response.json()["reason"] == "not a baseball game (nfl)"
