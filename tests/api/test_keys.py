"""API keys: creation, hashed storage, lookup, revocation, and the 401 answers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from pressbox.api.keys import (
    Authenticator,
    KeyStore,
    MemoryKeyStore,
    Unauthorized,
    create_key,
    digest,
    key_id_of,
    keystore_from_url,
)
from pressbox.api.settings import DEFAULT_TIERS
from pressbox.errors import UnsupportedBackend
from pressbox.resilience import ManualClock
from pressbox.service import Service
from tests.api.helpers import add_game, new_key, running
from tests.conftest import service_url

pytestmark = pytest.mark.anyio


@pytest.fixture(params=["memory", "sqlite", "redis", "postgres"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[KeyStore]:
    """Each key store backend, empty."""
    if request.param == "memory":
        url = "memory://"
    elif request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'keys.db'}"
    elif request.param == "redis":
        url = service_url("REDIS")
    else:
        url = service_url("POSTGRES")
    async with keystore_from_url(url) as opened:
        if request.param == "postgres":
            await opened._run("execute", "DELETE FROM api_keys")  # type: ignore[attr-defined]
        if request.param == "redis":
            for record in await opened.list():
                await opened._call("delete", "pressbox:apikey:" + record.key_id)  # type: ignore[attr-defined]
                await opened._call("srem", "pressbox:apikeys", record.key_id)  # type: ignore[attr-defined]
        yield opened


async def test_lifecycle(store: KeyStore) -> None:
    """A created key authenticates; only its hash is stored; once revoked it is refused."""
    clock = ManualClock()
    record, token = await create_key(store, name="ACME", tier="pro", tiers=DEFAULT_TIERS)
    stored = await store.get(record.key_id)
    assert stored is not None
    assert stored.digest == digest(token)
    assert token not in repr(stored)
    assert key_id_of(token) == record.key_id
    auth = Authenticator(store, DEFAULT_TIERS, cache_s=5.0, clock=clock)
    principal = await auth.authenticate(token)
    assert (principal.key_id, principal.tier, principal.name) == (record.key_id, "pro", "ACME")
    assert [r.key_id for r in await store.list()] == [record.key_id]
    assert await store.revoke(record.key_id, 1.0)
    # Remembered for cache_s, then refused everywhere.
    assert (await auth.authenticate(token)).key_id == record.key_id
    clock.advance(5.1)
    with pytest.raises(Unauthorized, match="revoked"):
        await auth.authenticate(token)
    assert not await store.revoke("000000000000", 1.0)


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        ("nonsense", "malformed"),
        ("pbx_0123456789ab_" + "x" * 43, "unknown"),
    ],
)
async def test_bad_tokens(token: str, reason: str) -> None:
    """Malformed and unknown tokens are refused with the reason."""
    auth = Authenticator(MemoryKeyStore(), DEFAULT_TIERS)
    with pytest.raises(Unauthorized, match=reason):
        await auth.authenticate(token)


async def test_right_id_wrong_secret() -> None:
    """A token with a real id but another secret is unknown."""
    store = MemoryKeyStore()
    _record, token = await create_key(store, name="A", tier="pro", tiers=DEFAULT_TIERS)
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    with pytest.raises(Unauthorized, match="unknown"):
        await Authenticator(store, DEFAULT_TIERS).authenticate(forged)


async def test_create_refuses_unknown_tier_and_empty_name() -> None:
    """Keys need a configured tier (not booth) and a name."""
    tiers = {**DEFAULT_TIERS}
    with pytest.raises(ValueError, match="unknown tier"):
        await create_key(MemoryKeyStore(), name="A", tier="gold", tiers=tiers)
    with pytest.raises(ValueError, match="name"):
        await create_key(MemoryKeyStore(), name=" ", tier="pro", tiers=tiers)


def test_unsupported_store() -> None:
    """An unknown key store scheme names the supported ones."""
    with pytest.raises(UnsupportedBackend, match="sqlite"):
        keystore_from_url("mongodb://x")


async def test_http_auth(service: Service) -> None:
    """Without public mode every /v1/ endpoint needs a key; the 401 says why."""
    await add_game(service, "G1")
    async with running(service, public=False) as (app, client):
        token = await new_key(app, tier="pro")
        missing = await client.get("/v1/predict/mlb/G1")
        bad = await client.get("/v1/predict/mlb/G1", headers={"X-API-Key": "pbx_nope"})
        good = await client.get("/v1/predict/mlb/G1", headers={"X-API-Key": token})
        bearer = await client.get("/v1/games", headers={"Authorization": f"Bearer {token}"})
    assert missing.status_code == 401
    assert missing.json() == {
        "error": "unauthorized",
        "reason": "missing API key (X-API-Key header)",
    }
    assert missing.headers["www-authenticate"].startswith("ApiKey")
    assert bad.status_code == 401
    assert bad.json()["reason"] == "malformed API key"
    assert good.status_code == 200
    assert good.headers["ratelimit-limit"] == "250"
    assert bearer.status_code == 200


async def test_public_mode_serves_keyless_reads_as_booth(service: Service) -> None:
    """In public mode a keyless read counts against the booth tier of its address."""
    await add_game(service, "G1")
    async with running(service, public=True) as (_, client):
        response = await client.get("/v1/predict/mlb/G1")
    assert response.status_code == 200
    assert response.headers["ratelimit-limit"] == "60"
