"""The event log: ordered, replayable per-game streams, chosen by URL.

``from_url("memory://")`` gives the in-process log (the embedded default);
``from_url("redis://host:6379/0")`` (or ``rediss://``) gives Redis Streams. The concrete
backends are imported inside their branch, so redis is only needed when it is chosen.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from pressbox.bus.base import (
    GAMES_STREAM,
    ContextStore,
    Envelope,
    EventBus,
    Pending,
    Trimmed,
    event_stream,
    update_stream,
)
from pressbox.errors import ConfigError, UnsupportedBackend

__all__ = [
    "GAMES_STREAM",
    "SUPPORTED",
    "ContextStore",
    "Envelope",
    "EventBus",
    "Pending",
    "Trimmed",
    "event_stream",
    "from_url",
    "update_stream",
]

SUPPORTED = ("memory://", "redis://", "rediss://")


def _int_option(url: str, options: dict[str, list[str]], name: str) -> int | None:
    values = options.get(name)
    if not values:
        return None
    try:
        return int(values[-1])
    except ValueError:
        raise ConfigError(f"{url}: option {name} must be an integer") from None


def from_url(
    url: str,
    *,
    backend: EventBus | None = None,
    connect_timeout: float = 2.0,
    read_timeout: float = 5.0,
) -> EventBus:
    """Build the event log a URL names.

    Args:
        url: ``memory://`` (optionally ``?max_len=N``), ``redis://host:port/db`` or
            ``rediss://...`` (optionally ``?max_len=N&prefix=name:``).
        backend: A ready instance to use instead (tests, custom backends); ``url`` is then
            ignored.
        connect_timeout: Seconds to open a connection to a network backend.
        read_timeout: Seconds to wait for a network backend's answer.

    Returns:
        An unopened bus; use it as ``async with bus:``.

    Raises:
        UnsupportedBackend: The scheme is not one of :data:`SUPPORTED`.
        ConfigError: An option in the URL cannot be used.
    """
    if backend is not None:
        return backend
    if not isinstance(url, str):
        raise TypeError(f"url must be str, not {type(url).__name__}")
    parts = urlsplit(url)
    options = parse_qs(parts.query)
    max_len = _int_option(url, options, "max_len")
    if parts.scheme == "memory":
        from pressbox.bus.memory import MemoryBus

        return MemoryBus() if max_len is None else MemoryBus(max_len=max_len)
    if parts.scheme in ("redis", "rediss"):
        from pressbox.bus.redis import RedisBus

        prefix = options.get("prefix", ["pressbox:"])[-1]
        clean = parts._replace(
            query="&".join(
                f"{k}={v}"
                for k, vs in options.items()
                if k not in ("max_len", "prefix")
                for v in vs
            )
        ).geturl()
        return RedisBus(
            clean,
            prefix=prefix,
            max_len=10_000 if max_len is None else max_len,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
        )
    raise UnsupportedBackend(url, SUPPORTED)
