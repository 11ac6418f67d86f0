"""An open SSE stream holds no frame of FastAPI's or Starlette's middleware.

Thousands of idle streams each keep their coroutine chain alive for as long as they are
open; a chain through FastAPI's middleware is some twenty coroutines and their closures
per connection, all of them walked by every full garbage collection. The edge hands a
stream it admitted straight to the SSE endpoint.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from types import CoroutineType
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry

from pressbox.api.app import Roles, create_app
from pressbox.api.settings import ApiSettings
from pressbox.service import Service
from tests.api.helpers import add_game, new_key, served

pytestmark = pytest.mark.anyio


def _chain(task: asyncio.Task[Any]) -> Iterator[CoroutineType[Any, Any, Any]]:
    """The coroutines a task is suspended in, outermost first."""
    awaited: Any = task.get_coro()
    while isinstance(awaited, CoroutineType):
        yield awaited
        awaited = awaited.cr_await


def _stream_chains() -> list[list[str]]:
    """``module:function`` of every frame of the tasks suspended in the SSE endpoint."""
    chains = []
    for task in asyncio.all_tasks():
        frames = [f"{c.cr_code.co_filename}:{c.cr_code.co_qualname}" for c in _chain(task)]
        if any("SSEStream.__call__" in f for f in frames):
            chains.append(frames)
    return chains


@pytest.mark.parametrize("http", ["h11", "httptools"])
async def test_an_open_stream_skips_the_frameworks_middleware(service: Service, http: str) -> None:
    await add_game(service, "G1")
    api = ApiSettings(keys_url="memory://", public=False, max_lag_s=60.0)
    app = create_app(
        service.settings,
        service=service,
        roles=Roles(api=True, gateway=True),
        api_settings=api,
        registry=CollectorRegistry(),
    )
    async with served(app, http) as base:
        headers = {"X-API-Key": await new_key(app)}
        async with (
            httpx.AsyncClient(base_url=base) as client,
            client.stream("GET", "/v1/stream/games/G1", headers=headers) as stream,
        ):
            assert stream.status_code == 200
            # The edge's rate-limit headers still come with the stream's answer.
            assert "ratelimit-limit" in stream.headers
            lines = stream.aiter_lines()
            async for line in lines:
                if line.startswith("event: snapshot"):
                    break
            chains = _stream_chains()
            assert len(chains) == 1
            frames = chains[0]
            assert any("Edge.__call__" in f for f in frames)
            framework = [f for f in frames if "/fastapi/" in f or "/starlette/" in f]
            assert framework == []
            # Everything else still goes through FastAPI.
            assert (await client.get("/v1/games/G1", headers=headers)).status_code == 200
