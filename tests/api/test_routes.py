"""The REST endpoints: answers, shapes, the hot route's bytes and the OpenAPI document."""

from __future__ import annotations

import asyncio

import pytest

from pressbox.api.schemas import PredictionOut, PredictionsOut
from pressbox.bus.base import update_stream
from pressbox.engine.events import encode
from pressbox.service import Service
from tests.api.helpers import add_game, make_update, running, runtime

pytestmark = pytest.mark.anyio


async def test_games_lists_and_filters(service: Service) -> None:
    """/v1/games lists archived games and filters by status and sport."""
    await add_game(service, "LIVE1")
    await add_game(service, "DONE1", status="final")
    async with running(service) as (_, client):
        everything = (await client.get("/v1/games")).json()
        live = (await client.get("/v1/games", params={"status": "live"})).json()
        nfl = (await client.get("/v1/games", params={"sport": "nfl"})).json()
    assert {g["game_id"] for g in everything["games"]} == {"LIVE1", "DONE1"}
    assert [g["game_id"] for g in live["games"]] == ["LIVE1"]
    assert live["games"][0]["home"] == "HOM"
    assert nfl == {"available": False, "reason": "no game matches", "games": []}


async def test_snapshot_plays_wp_and_key_plays(service: Service) -> None:
    """A game's snapshot, plays since a sequence, WP series and key plays."""
    await add_game(service, "G1", updates=4)
    async with running(service) as (_, client):
        snap = (await client.get("/v1/games/G1")).json()
        plays = (await client.get("/v1/games/G1/plays", params={"since": 2})).json()
        wp = (await client.get("/v1/games/G1/wp")).json()
        key = (await client.get("/v1/games/G1/key-plays", params={"n": 2})).json()
    assert snap["available"]
    assert snap["update"]["seq"] == 4
    assert snap["game"]["status"] == "live"
    assert [p["seq"] for p in plays["plays"]] == [3, 4]
    assert plays["last_seq"] == 4
    assert wp["model"] == "test/1"
    assert [p["seq"] for p in wp["points"]] == [1, 2, 3, 4]
    assert [p["seq"] for p in key["plays"]] == [4, 3]


async def test_prediction_bytes_match_the_schema(service: Service) -> None:
    """The hot route's pre-encoded body validates against its documented model."""
    await add_game(service, "G1")
    async with running(service) as (_, client):
        cold = await client.get("/v1/predict/mlb/G1")
        hot = await client.get("/v1/predict/mlb/G1")
        schema = (await client.get("/openapi.json")).json()
    for response in (cold, hot):
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/json"
        body = PredictionOut.model_validate_json(response.content)
        assert body.available
        assert body.seq == 3
        assert body.model == "test/1"
        assert body.staleness_s is not None
        assert body.staleness_s >= 0.5
    ref = schema["paths"]["/v1/predict/{sport}/{game_id}"]["get"]["responses"]["200"]
    assert ref["content"]["application/json"]["schema"]["$ref"].endswith("/PredictionOut")


async def test_latest_predictions_cover_live_games(service: Service) -> None:
    """/v1/predictions/latest has one prediction per live game and none for final ones."""
    await add_game(service, "A1")
    await add_game(service, "B1")
    await add_game(service, "F1", status="final")
    async with running(service) as (_, client):
        response = await client.get("/v1/predictions/latest")
    body = PredictionsOut.model_validate_json(response.content)
    assert body.available
    assert sorted(p.game_id for p in body.predictions) == ["A1", "B1"]


async def test_update_refreshes_the_cached_prediction(service: Service) -> None:
    """A new update replaces the cached prediction at once (never staler than the stream)."""
    await add_game(service, "G1")
    async with running(service) as (app, client):
        first = (await client.get("/v1/predict/mlb/G1")).json()
        cache = runtime(app).predictions
        assert cache is not None
        cache.on_update(make_update("G1", 4))
        second = (await client.get("/v1/predict/mlb/G1")).json()
        cache.on_update(make_update("G1", 2))
        third = (await client.get("/v1/predict/mlb/G1")).json()
    assert (first["seq"], second["seq"], third["seq"]) == (3, 4, 4)
    assert cache.computations == 1


async def test_post_wp_baseball(service: Service) -> None:
    """POST /v1/wp/mlb answers for a typed-in state with the shipped model."""
    async with running(service) as (_, client):
        response = await client.post(
            "/v1/wp/mlb",
            json={
                "inning": 9,
                "half": "bottom",
                "outs": 2,
                "bases": [True, False, True],
                "home_score": 3,
                "away_score": 4,
            },
        )
    body = response.json()
    assert response.status_code == 200, body
    assert body["available"]
    assert 0 < body["home"] < 0.5
    assert body["home"] + body["away"] + body["tie"] == pytest.approx(1.0)
    assert body["leverage"] > 1


async def test_post_wp_wrong_situation_kind(service: Service) -> None:
    """A football situation for a baseball sport is refused with 422 and a reason."""
    async with running(service) as (_, client):
        response = await client.post(
            "/v1/wp/mlb",
            json={
                "quarter": 4,
                "clock_seconds": 100,
                "possession": "home",
                "home_score": 3,
                "away_score": 4,
            },
        )
    assert response.status_code == 422
    assert "baseball" in response.json()["reason"]


async def test_health_ready_metrics(service: Service) -> None:
    """/healthz, /readyz (backends pinged) and /metrics answer without a key."""
    async with running(service, public=False) as (_, client):
        health = await client.get("/healthz")
        ready = await client.get("/readyz")
        await client.get("/v1/games")
        metrics = await client.get("/metrics")
    assert health.json() == {"status": "ok"}
    assert ready.json() == {"ready": True, "checks": {"log": True, "archive": True, "keys": True}}
    assert "pressbox_api_refused_total" in metrics.text
    assert 'pressbox_stage_seconds_count{stage="publish"}' in metrics.text
    # The hub's families go to the app's own registry, not only the global one.
    assert "pressbox_delivery_connections" in metrics.text


async def test_dashboard_root_is_public(service: Service) -> None:
    """The booth page at / needs no key."""
    async with running(service, public=False) as (_, client):
        response = await client.get("/")
    assert response.status_code == 200
    assert "text/html" in response.headers["content-type"]


async def test_post_wp_football_fourth_down(service: Service) -> None:
    """A football fourth down comes with the value of going for it, kicking and punting."""
    state = {
        "quarter": 4,
        "clock_seconds": 120,
        "possession": "home",
        "down": 4,
        "distance": 2,
        "yard_line": 60,
        "home_score": 17,
        "away_score": 20,
    }
    async with running(service) as (_, client):
        fourth = (await client.post("/v1/wp/nfl", json=state)).json()
        first = (await client.post("/v1/wp/nfl", json={**state, "down": 1})).json()
    assert fourth["available"], fourth
    decision = fourth["decision"]
    assert decision["recommendation"] in ("go", "field_goal", "punt")
    best = max(v for v in (decision["go"], decision["field_goal"], decision["punt"]) if v)
    assert decision[decision["recommendation"]] == best
    # The offense is the home team: its WP before the decision is the home WP.
    assert decision["offense_wp"] == pytest.approx(fourth["home"], abs=0.05)
    assert first["decision"] is None


async def test_stream_update_reaches_the_cache(service: Service) -> None:
    """An update appended to the log replaces the cached prediction without a computation."""
    await add_game(service, "G1")
    async with running(service) as (app, client):
        assert (await client.get("/v1/predict/mlb/G1")).json()["seq"] == 3
        newer = make_update("G1", 4)
        await service.bus.append(update_stream("G1"), encode(newer), key=newer.event_id)
        cache = runtime(app).predictions
        assert cache is not None
        for _ in range(500):
            found = cache.peek("mlb", "G1")
            if found is not None and found.seq == 4:
                break
            await asyncio.sleep(0.01)
        body = (await client.get("/v1/predict/mlb/G1")).json()
    assert body["seq"] == 4
    assert cache.computations == 1
    assert cache.refreshes >= 1
