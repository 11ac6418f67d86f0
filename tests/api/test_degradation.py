"""The degradation contract: data that is missing is 200 with available false, never a 5xx."""

from __future__ import annotations

import pytest

from pressbox.engine.events import GameState, WinProbability
from pressbox.service import Service
from tests.api.helpers import SETTINGS, add_game, running

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(
    "path",
    [
        "/v1/games/NEW1",
        "/v1/games/NEW1/plays",
        "/v1/games/NEW1/wp",
        "/v1/games/NEW1/key-plays",
        "/v1/predict/mlb/NEW1",
        "/v1/predictions/latest",
    ],
)
async def test_announced_game_without_updates(service: Service, path: str) -> None:
    """A game announced but without any update yet answers available false with a reason."""
    await service.announce("mlb", "NEW1")
    async with running(service) as (_, client):
        response = await client.get(path)
    body = response.json()
    assert response.status_code == 200, body
    assert body["available"] is False
    assert body["reason"]


async def test_no_games_at_all(service: Service) -> None:
    """An empty archive lists no games, available false."""
    async with running(service) as (_, client):
        body = (await client.get("/v1/games")).json()
    assert body == {"available": False, "reason": "no game matches", "games": []}


@pytest.mark.parametrize("path", ["/v1/games/G1/wp", "/v1/games/G1/key-plays"])
async def test_game_without_wp(service: Service, path: str) -> None:
    """A game whose updates carry no WP has no WP series and no key plays."""
    await add_game(service, "G1", wp=False)
    async with running(service) as (_, client):
        response = await client.get(path)
    assert response.status_code == 200
    assert response.json()["available"] is False


async def test_prediction_without_wp(service: Service) -> None:
    """A game whose latest update has no WP predicts available false."""
    await add_game(service, "G1", wp=False)
    async with running(service) as (_, client):
        body = (await client.get("/v1/predict/mlb/G1")).json()
    assert body == {
        "available": False,
        "reason": "no win-probability model answer",
        "sport": "mlb",
        "game_id": "G1",
    }


@pytest.mark.parametrize(
    "path",
    [
        "/v1/games/NOPE",
        "/v1/games/NOPE/plays",
        "/v1/predict/mlb/NOPE",
    ],
)
async def test_unknown_game_is_404(service: Service, path: str) -> None:
    """A game no one knows is 404 with a reason (not a 5xx, not available false)."""
    async with running(service) as (_, client):
        response = await client.get(path)
    assert response.status_code == 404
    assert response.json()["error"] == "unknown_game"


class BrokenModel:
    """A model that fails on every state."""

    name = "broken"
    version = "0"

    def win_probability(self, state: GameState) -> WinProbability:
        raise RuntimeError("table missing")

    def leverage(self, state: GameState) -> float:
        return 1.0


async def test_post_wp_model_failure_and_absence() -> None:
    """A failing model, or none for the sport, answers available false."""
    async with Service(SETTINGS, models={"mlb": BrokenModel()}) as svc:
        svc._models["nfl"] = None  # no model for this sport
        async with running(svc) as (_, client):
            broken = await client.post(
                "/v1/wp/mlb",
                json={"inning": 1, "half": "top", "outs": 0, "home_score": 0, "away_score": 0},
            )
            missing = await client.post(
                "/v1/wp/nfl",
                json={
                    "quarter": 1,
                    "clock_seconds": 900,
                    "possession": "home",
                    "home_score": 0,
                    "away_score": 0,
                },
            )
    assert broken.status_code == 200
    assert broken.json()["available"] is False
    assert "table missing" in broken.json()["reason"]
    assert missing.status_code == 200
    assert missing.json() == {
        "available": False,
        "reason": "no nfl model is available",
        "sport": "nfl",
        "home": None,
        "away": None,
        "tie": None,
        "model": None,
        "leverage": None,
        "decision": None,
    }


async def test_backend_failure_serves_the_last_prediction(service: Service) -> None:
    """When the log fails on a refresh, the last prediction is served instead of an error."""
    await add_game(service, "G1")
    async with running(service, cache_ttl_s=0.001) as (_, client):
        first = await client.get("/v1/predict/mlb/G1")

        async def failing(game_id: str) -> None:
            from pressbox.errors import BackendUnavailable

            raise BackendUnavailable("log down")

        service.snapshot = failing  # type: ignore[method-assign]
        second = await client.get("/v1/predict/mlb/G1")
    assert first.status_code == second.status_code == 200
    assert second.json()["seq"] == first.json()["seq"]


async def test_backend_failure_without_data_is_503(service: Service) -> None:
    """With nothing cached, a failing backend is 503 with Retry-After (not a 500)."""

    async def failing(**kwargs: object) -> None:
        from pressbox.errors import BackendUnavailable

        raise BackendUnavailable("archive down")

    async with running(service) as (_, client):
        service.archive.games = failing  # type: ignore[method-assign,assignment]
        response = await client.get("/v1/games")
    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"
    assert response.json()["error"] == "unavailable"
