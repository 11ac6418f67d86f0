"""create_app: roles decide the routes; an owned service is opened and closed by the lifespan."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from prometheus_client import CollectorRegistry

from pressbox.api.app import Roles, create_app
from pressbox.api.settings import ApiSettings
from pressbox.service import Service
from tests.api.helpers import SETTINGS, add_game, running, runtime

pytestmark = pytest.mark.anyio


async def test_gateway_role_only(service: Service) -> None:
    """A gateway process serves delivery routes and no REST data routes."""
    await add_game(service, "G1")
    async with running(service, roles=Roles(api=False, gateway=True)) as (_, client):
        games = await client.get("/v1/games")
        graphics = await client.get("/v1/graphics/G1")
        health = await client.get("/healthz")
    assert games.status_code == 404
    assert graphics.status_code == 200
    assert "ratelimit-limit" in graphics.headers
    assert health.status_code == 200


async def test_owned_service_lifecycle() -> None:
    """Without a given service the app opens its own in the lifespan, with its roles."""
    app = create_app(
        SETTINGS,
        roles=Roles(ingest=True, process=True, speed=0),
        api_settings=ApiSettings(keys_url="memory://", max_lag_s=60.0),
        registry=CollectorRegistry(),
    )
    async with app.router.lifespan_context(app):
        rt = runtime(app)
        assert rt.ready
        transport = httpx.ASGITransport(app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            for _ in range(500):
                body = (await client.get("/v1/games", params={"status": "final"})).json()
                if len(body["games"]) >= 7:
                    break
                await asyncio.sleep(0.02)
            ready = (await client.get("/readyz")).json()
    assert len(body["games"]) >= 7
    assert ready["ready"] is True
    assert not rt.ready


async def test_websocket_needs_a_key_without_public_mode(service: Service) -> None:
    """A WebSocket without a good key is refused at the handshake when public mode is off."""
    app = create_app(
        SETTINGS,
        service=service,
        roles=Roles(api=False, gateway=True),
        api_settings=ApiSettings(keys_url="memory://", public=False, max_lag_s=60.0),
        registry=CollectorRegistry(),
    )
    sent: list[dict[str, object]] = []

    async def receive() -> dict[str, object]:
        return {"type": "websocket.connect"}

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    async with app.router.lifespan_context(app):
        for query in (b"", b"api_key=pbx_nope"):
            sent.clear()

            scope = {
                "type": "websocket",
                "path": "/v1/ws",
                "raw_path": b"/v1/ws",
                "root_path": "",
                "query_string": query,
                "headers": [(b"host", b"t")],
                "client": ("127.0.0.1", 1),
                "server": ("127.0.0.1", 80),
                "scheme": "ws",
                "subprotocols": [],
                "asgi": {"version": "3.0"},
            }
            await app(scope, receive, send)  # type: ignore[arg-type]
            assert sent[0]["type"] == "websocket.close"
            assert sent[0]["code"] == 1008
