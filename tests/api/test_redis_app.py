"""The app over Redis: keys, the shared bucket and the shared prediction layer in Redis."""

from __future__ import annotations

import uuid

import pytest

from pressbox.api.limits import RedisLeaseLimiter
from pressbox.api.predict import RedisSharedCache
from pressbox.config import Settings
from pressbox.service import Service
from tests.api.helpers import add_game, new_key, running, runtime
from tests.conftest import service_url

pytestmark = [pytest.mark.anyio, pytest.mark.redis]


async def test_app_with_redis_cache_url() -> None:
    """With cache_url redis://, keys, limits and the shared cache all live in Redis."""
    settings = Settings(
        log_url="memory://", archive_url="sqlite://", cache_url=service_url("REDIS")
    )
    game = f"R{uuid.uuid4().hex[:12]}"
    async with Service(settings) as service:
        await add_game(service, game)
        async with running(service, public=False, keys_url=None) as (app, client):
            rt = runtime(app)
            assert isinstance(rt.limiter, RedisLeaseLimiter)
            assert rt.predictions is not None
            assert isinstance(rt.predictions._shared, RedisSharedCache)
            token = await new_key(app, tier="community")
            statuses = [
                (await client.get(f"/v1/predict/mlb/{game}", headers={"X-API-Key": token}))
                for _ in range(10)
            ]
            ready = (await client.get("/readyz")).json()
            shared = await rt.redis.get(f"pressbox:prediction:mlb:{game}")
    codes = [r.status_code for r in statuses]
    # Community: burst 5, 1 token/s (lease batch 1, so exact), then refused.
    assert codes[:5] == [200] * 5
    assert codes.count(200) <= 6
    assert codes[-1] == 429
    assert ready["checks"] == {"log": True, "archive": True, "keys": True, "cache": True}
    assert shared is not None
