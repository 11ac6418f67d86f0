"""The edge: deadlines, bad input (sizes, methods, ids, values) and the error table."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from fastapi.exceptions import RequestValidationError

from pressbox.api.app import ERRORS, collapse, error_response
from pressbox.api.keys import Unauthorized
from pressbox.errors import (
    BackendUnavailable,
    CircuitOpen,
    RateLimited,
    UnknownGame,
)
from pressbox.service import Service
from tests.api.helpers import add_game, running

pytestmark = pytest.mark.anyio


async def test_deadline_gives_503(service: Service) -> None:
    """A request that outlives its deadline is answered 503 with Retry-After."""
    never = asyncio.Event()

    async def hang(**kwargs: object) -> None:
        await never.wait()

    async with running(service, deadline_s=0.05) as (_app, client):
        service.archive.games = hang  # type: ignore[method-assign,assignment]
        response = await client.get("/v1/games")
    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"
    assert response.json()["error"] == "timeout"
    assert "ratelimit-limit" in response.headers


async def test_cached_reads_have_the_shorter_deadline(service: Service) -> None:
    """A prediction computed past the cached-read deadline is 503, not a hang."""
    never = asyncio.Event()

    async def hang(game_id: str) -> None:
        await never.wait()

    async with running(service, cached_deadline_s=0.05, deadline_s=30) as (_, client):
        service.snapshot = hang  # type: ignore[method-assign]
        response = await client.get("/v1/predict/mlb/G1")
    assert response.status_code == 503
    assert response.json()["error"] == "timeout"


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/v1/predict/soccer/G1", 422),
        ("GET", "/v1/predict/mlb/bad%20id", 422),
        ("GET", "/v1/predict/mlb/" + "x" * 80, 422),
        ("GET", "/v1/games?status=paused", 422),
        ("GET", "/v1/games/G1/plays?since=-1", 422),
        ("GET", "/v1/games/G1/plays?since=abc", 422),
        ("GET", "/v1/games/G1/key-plays?n=1000", 422),
        ("DELETE", "/v1/games", 405),
        ("POST", "/v1/predict/mlb/G1", 405),
        ("GET", "/v1/nothing", 404),
    ],
)
async def test_bad_input_is_4xx_with_a_reason(
    service: Service, method: str, path: str, status: int
) -> None:
    """Malformed paths, ids, query values and wrong methods get a 4xx with a reason."""
    await add_game(service, "G1")
    async with running(service) as (_, client):
        response = await client.request(method, path)
    assert response.status_code == status
    body = response.json()
    assert body["error"]
    assert body["reason"]


async def test_bad_bodies(service: Service) -> None:
    """Invalid, oversized and non-JSON bodies are refused before any model runs."""
    async with running(service, max_body_bytes=1024) as (_, client):
        invalid = await client.post("/v1/wp/mlb", json={"inning": 0, "half": "top"})
        extra = await client.post(
            "/v1/wp/mlb",
            json={"inning": 1, "half": "top", "outs": 0, "home_score": 0, "away_score": 0, "x": 1},
        )
        big = await client.post("/v1/wp/mlb", content=b"{" + b" " * 4096 + b"}")
        text = await client.post(
            "/v1/wp/mlb", content=b"not json", headers={"content-type": "application/json"}
        )
    assert invalid.status_code == 422
    assert "inning" in invalid.json()["reason"]
    assert invalid.json()["detail"]
    assert extra.status_code == 422
    assert big.status_code == 413
    assert text.status_code == 422


async def test_chunked_body_over_the_limit(service: Service) -> None:
    """A body without a length is counted as it arrives and refused past the limit."""

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(8):
            yield b" " * 512

    async with running(service, max_body_bytes=1024) as (_, client):
        response = await client.post(
            "/v1/wp/mlb", content=chunks(), headers={"content-type": "application/json"}
        )
    assert response.status_code == 413


async def test_oversized_headers(service: Service) -> None:
    """Headers over the limit get 431."""
    async with running(service, max_header_bytes=1024) as (_, client):
        response = await client.get("/v1/games", headers={"X-Junk": "x" * 2000})
    assert response.status_code == 431
    assert response.json()["error"] == "headers_too_large"


@pytest.mark.parametrize(
    ("exc", "status", "retry_after"),
    [
        (Unauthorized("missing API key"), 401, None),
        (RateLimited("pro", 2.2), 429, "3"),
        (UnknownGame("G9"), 404, None),
        (CircuitOpen("statsapi", 10.0), 503, "1"),
        (BackendUnavailable("down"), 503, "1"),
        (TimeoutError(), 503, "1"),
        (RequestValidationError([]), 422, None),
        (ExceptionGroup("one", [ExceptionGroup("inner", [UnknownGame("G9")])]), 404, None),
    ],
)
def test_error_table(exc: Exception, status: int, retry_after: str | None) -> None:
    """Each error maps to its status (groups of one are unwrapped), with Retry-After."""
    response = error_response(exc)
    assert response is not None
    assert response.status_code == status
    assert response.headers.get("retry-after") == retry_after


def test_unlisted_errors_are_not_mapped() -> None:
    """An error outside the table is a bug: not mapped (500 at the edge)."""
    assert error_response(KeyError("x")) is None
    group = ExceptionGroup("two", [KeyError("a"), KeyError("b")])
    assert collapse(group) is group
    assert all(rule.status < 600 for _, rule in ERRORS)
