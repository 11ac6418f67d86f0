"""Building blocks of the API tests: a service with synthetic games and a running app."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from pressbox.api.app import Roles, create_app
from pressbox.api.keys import create_key
from pressbox.api.runtime import Runtime
from pressbox.api.settings import ApiSettings
from pressbox.bus.base import update_stream
from pressbox.config import Settings
from pressbox.engine.events import (
    BaseballSituation,
    GameInfo,
    GameState,
    PlayEvent,
    Update,
    WinProbability,
    encode,
)
from pressbox.service import Service

SETTINGS = Settings(log_url="memory://", archive_url="sqlite://")
INFO = GameInfo(home="HOM", away="AWA", date="2024-04-01")


def make_update(game_id: str, seq: int, *, status: str = "live", wp: bool = True) -> Update:
    """A synthetic update of a baseball game."""
    state = GameState(
        sport="mlb",
        game_id=game_id,
        seq=seq,
        status=status,  # type: ignore[arg-type]
        info=INFO,
        home_score=seq,
        away_score=1,
        period=3,
        clock="B3",
        situation=BaseballSituation(inning=3, half="bottom", outs=1),
    )
    home = min(0.99, 0.5 + 0.05 * seq)
    return Update(
        sport="mlb",
        game_id=game_id,
        seq=seq,
        event_seq=seq,
        event_id=f"{game_id}:{seq}",
        state=state,
        wp=WinProbability(home=home, away=1 - home, model="test/1") if wp else None,
        wpa=0.05 * seq if wp else None,
        leverage=1.2,
        text=f"play {seq}",
        ts_ingest=time.time() - 1.0,
        ts_emit=time.time() - 0.5,
    )


async def land_update(service: Service, app: FastAPI, game_id: str, seq: int) -> Update:
    """A new update of a game: logged, then seen by the read cache (as the hub's listener
    sees it)."""
    update = make_update(game_id, seq)
    await service.bus.append(update_stream(game_id), encode(update), key=update.event_id)
    reads = runtime(app).reads
    assert reads is not None
    reads.on_update(update)
    return update


async def add_game(
    service: Service,
    game_id: str,
    *,
    updates: int = 3,
    status: str = "live",
    wp: bool = True,
) -> list[Update]:
    """Archive a game's events, announce it, and log and archive its updates."""
    events = [
        PlayEvent(
            sport="mlb",
            game_id=game_id,
            seq=1,
            event_id=f"{game_id}:1",
            kind="game_start",
            info=INFO,
        )
    ]
    events += [
        PlayEvent(
            sport="mlb",
            game_id=game_id,
            seq=s,
            event_id=f"{game_id}:{s}",
            home_score=s,
            away_score=1,
        )
        for s in range(2, updates + 1)
    ]
    if status == "final":
        events.append(
            PlayEvent(
                sport="mlb",
                game_id=game_id,
                seq=updates + 1,
                event_id=f"{game_id}:end",
                kind="game_end",
                home_score=updates,
                away_score=1,
            )
        )
    await service.archive.put_events(events)
    await service.announce("mlb", game_id)
    made = [make_update(game_id, s, status=status, wp=wp) for s in range(1, updates + 1)]
    for update in made:
        await service.bus.append(update_stream(game_id), encode(update), key=update.event_id)
    await service.archive.put_updates(made)
    return made


def runtime(app: FastAPI) -> Runtime:
    """The running app's parts."""
    rt: Runtime = app.state.runtime
    return rt


@contextlib.asynccontextmanager
async def running(
    service: Service, *, roles: Roles | None = None, **api: Any
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    """The app over ``service``, started, with a client talking to it in process."""
    api.setdefault("keys_url", "memory://")
    # A busy test machine lags its loop; shedding is tested through in-flight counts.
    api.setdefault("max_lag_s", 60.0)
    app = create_app(
        service.settings,
        service=service,
        roles=roles,
        api_settings=ApiSettings(**api),
        registry=CollectorRegistry(),
    )
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield app, client


async def new_key(app: FastAPI, tier: str = "enterprise", name: str = "ACME") -> str:
    """A fresh key of ``tier`` in the app's key store; returns the token."""
    rt = runtime(app)
    assert rt.keys is not None
    _, token = await create_key(rt.keys, name=name, tier=tier, tiers=rt.tiers)
    return token


@contextlib.asynccontextmanager
async def served(app: FastAPI, http: str = "httptools") -> AsyncIterator[str]:
    """The app under a real uvicorn on a free loopback port; yields its base URL."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", http=http)
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())
    try:
        for _ in range(1000):
            if server.started:
                break
            await asyncio.sleep(0.01)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await serving
