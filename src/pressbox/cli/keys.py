"""``pressbox keys create|list|revoke``: manage API keys in the configured key store.

The store is ``PRESSBOX_API_KEYS_URL``, by default the cache's Redis or the archive's
SQLite file (see ``pressbox.api.settings.ApiSettings.keys_url``). A new key's token is
printed once, on stdout; only its SHA-256 is stored.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from typing import Annotated

import typer

from pressbox.api.keys import KeyRecord, create_key, keystore_from_url
from pressbox.api.settings import ApiSettings
from pressbox.cli._common import configure_logging
from pressbox.config import Settings
from pressbox.errors import PressboxError


def _store_url() -> tuple[str, ApiSettings]:
    configure_logging("WARNING")
    try:
        settings = Settings()
        api = ApiSettings()
    except ValueError as exc:
        typer.echo(f"pressbox: bad settings: {exc}", err=True)
        raise typer.Exit(2) from exc
    return api.resolved_keys_url(settings), api


def _when(ts: float | None) -> str:
    if ts is None:
        return "-"
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def create(
    name: Annotated[str, typer.Option(help="Whose key it is (a customer's name).")],
    tier: Annotated[
        str, typer.Option(help="community, starter, pro, enterprise or a configured tier.")
    ] = "community",
) -> None:
    """Create a key and print its token (shown this once only)."""
    url, api = _store_url()

    async def main() -> tuple[KeyRecord, str]:
        async with keystore_from_url(url) as store:
            return await create_key(store, name=name, tier=tier, tiers=api.all_tiers())

    try:
        record, token = asyncio.run(main())
    except ValueError as exc:
        typer.echo(f"pressbox keys create: {exc}", err=True)
        raise typer.Exit(2) from exc
    except PressboxError as exc:
        typer.echo(f"pressbox keys create: {exc}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(f"created key {record.key_id} ({record.tier}) for {record.name}", err=True)
    typer.echo("the token is shown once; keep it now:", err=True)
    typer.echo(token)


def list_keys() -> None:
    """List keys: id, tier, name, created, revoked (never the tokens)."""
    url, _ = _store_url()

    async def main() -> list[KeyRecord]:
        async with keystore_from_url(url) as store:
            return await store.list()

    try:
        records = asyncio.run(main())
    except PressboxError as exc:
        typer.echo(f"pressbox keys list: {exc}", err=True)
        raise typer.Exit(1) from exc
    for r in records:
        typer.echo(f"{r.key_id}\t{r.tier}\t{r.name}\t{_when(r.created)}\t{_when(r.revoked)}")


def revoke(key_id: Annotated[str, typer.Argument(help="The key's id (from `keys list`).")]) -> None:
    """Revoke a key; every worker refuses it within PRESSBOX_API_KEY_CACHE_S seconds."""
    url, _ = _store_url()

    async def main() -> bool:
        async with keystore_from_url(url) as store:
            return await store.revoke(key_id, time.time())

    try:
        found = asyncio.run(main())
    except PressboxError as exc:
        typer.echo(f"pressbox keys revoke: {exc}", err=True)
        raise typer.Exit(1) from exc
    if not found:
        typer.echo(f"pressbox keys revoke: no key {key_id!r}", err=True)
        raise typer.Exit(1)
    typer.echo(f"revoked key {key_id}", err=True)


def register(app: typer.Typer, groups: dict[str, typer.Typer]) -> None:
    """Add ``keys create``, ``keys list`` and ``keys revoke``."""
    del app
    groups["keys"].command("create")(create)
    groups["keys"].command("list")(list_keys)
    groups["keys"].command("revoke")(revoke)
