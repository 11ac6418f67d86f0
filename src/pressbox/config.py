"""Settings, read once from ``PRESSBOX_*`` environment variables and then frozen.

Only ``service`` and ``cli`` read settings; every lower layer gets plain values through its
constructor. Every default works on a machine with no services: an in-process event log,
a SQLite archive in the working directory, an in-process cache.
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every setting of pressbox, with its environment variable ``PRESSBOX_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix="PRESSBOX_", frozen=True, extra="ignore")

    log_url: str = "memory://"
    """The event log: ``memory://`` (in process) or ``redis://host:port/db``."""
    archive_url: str = "sqlite:///./pressbox.db"
    """The archive: ``sqlite:///path.db``, ``sqlite://`` (in memory) or ``postgresql://...``."""
    cache_url: str = "memory://"
    """The shared cache and rate-limit store: ``memory://`` or ``redis://...``."""
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    data_dir: str | None = None
    """Directory of Retrosheet event files to replay; the bundled sample when unset."""
    replay_speed: float = Field(default=60.0, ge=0.0)
    """Replay speed-up of the between-play gaps; 0 replays as fast as possible."""
    connect_timeout: float = Field(default=2.0, gt=0)
    """Seconds to open a connection to an upstream or backend."""
    read_timeout: float = Field(default=5.0, gt=0)
    """Seconds to wait for an upstream's or backend's answer."""
    write_timeout: float = Field(default=5.0, gt=0)
    pool_timeout: float = Field(default=2.0, gt=0)
