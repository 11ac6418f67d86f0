"""The exception tree of pressbox; every error the project raises on purpose is here.

Callers catch at whatever level they need::

    PressboxError
    ├── ConfigError
    ├── FeedError                       an upstream feed failed
    │   ├── FeedUnavailable             transport error or 5xx
    │   ├── FeedTimeout                 a phase of the request timed out
    │   └── FeedParseError              a document could not be read (line, reason)
    ├── CircuitOpen(retry_at)           the breaker refuses calls until retry_at
    ├── RateLimited(retry_after)        a budget or bucket is exhausted
    ├── BackendError                    the log, archive or cache backend failed
    │   └── BackendUnavailable
    ├── Trimmed(stream, wanted)         a log reader asked for entries already trimmed
    ├── UnsupportedBackend(ValueError)  a URL scheme no backend serves
    ├── UnknownGame
    └── InvalidEvent                    an event the game state cannot take (reason)
        ├── OutOfOrder                  a sequence gap or a stale sequence
        └── ImpossibleTransition        four outs, two runners on one base, ...

Driver and HTTP errors (redis, asyncpg, httpx) are translated at the boundary of
``bus``, ``store`` and ``feeds`` with ``raise ... from exc``; nothing above them sees them.
"""

from __future__ import annotations


class PressboxError(Exception):
    """Root of every error raised on purpose by pressbox."""


class ConfigError(PressboxError):
    """A setting is missing or has a value that cannot be used."""


class FeedError(PressboxError):
    """An upstream feed could not give a usable answer.

    Args:
        source: The upstream's name (``"gumbo"``, ``"espn"``...).
        reason: What went wrong, for logs and ``{"available": false}`` answers.
    """

    def __init__(self, source: str, reason: str) -> None:
        super().__init__(source, reason)
        self.source = source
        self.reason = reason

    def __str__(self) -> str:
        return f"{self.source}: {self.reason}"


class FeedUnavailable(FeedError):
    """The upstream could not be reached or answered with a server error."""


class FeedTimeout(FeedError):
    """A phase of the upstream request (connect, read, write, pool) timed out."""


class FeedParseError(FeedError):
    """A feed document or data file could not be read.

    Args:
        source: Where the document came from (a file name, an upstream).
        reason: What is wrong with it.
        line: The 1-based line number in a text file, when known.
    """

    def __init__(self, source: str, reason: str, line: int | None = None) -> None:
        super().__init__(source, reason)
        self.line = line

    def __str__(self) -> str:
        where = f"{self.source}:{self.line}" if self.line is not None else self.source
        return f"{where}: {self.reason}"


class CircuitOpen(PressboxError):
    """The circuit breaker of an upstream is open.

    Args:
        name: The breaker's name.
        retry_at: Monotonic time (seconds) after which one probe is allowed.
    """

    def __init__(self, name: str, retry_at: float) -> None:
        super().__init__(name, retry_at)
        self.name = name
        self.retry_at = retry_at

    def __str__(self) -> str:
        return f"circuit {self.name!r} is open until t={self.retry_at:.3f}"


class RateLimited(PressboxError):
    """A rate budget or token bucket has no room.

    Args:
        limit: Which limit refused (a tier, an upstream budget).
        retry_after: Seconds until a request would be admitted.
    """

    def __init__(self, limit: str, retry_after: float) -> None:
        super().__init__(limit, retry_after)
        self.limit = limit
        self.retry_after = retry_after

    def __str__(self) -> str:
        return f"rate limit {self.limit!r} reached; retry after {self.retry_after:.3f}s"


class BackendError(PressboxError):
    """The event log, archive or cache backend failed."""


class BackendUnavailable(BackendError):
    """The backend could not be reached."""


class UnsupportedBackend(PressboxError, ValueError):
    """A backend URL has a scheme no backend serves.

    Args:
        url: The URL as given.
        supported: The schemes that are served.
    """

    def __init__(self, url: str, supported: tuple[str, ...]) -> None:
        super().__init__(url, supported)
        self.url = url
        self.supported = supported

    def __str__(self) -> str:
        return f"Unsupported backend: {self.url!r} (supported: {', '.join(self.supported)})"


class UnknownGame(PressboxError):
    """No game with this id is known."""

    def __init__(self, game_id: str) -> None:
        super().__init__(game_id)
        self.game_id = game_id

    def __str__(self) -> str:
        return f"unknown game {self.game_id!r}"


class InvalidEvent(PressboxError):
    """An event that the game state refuses; the state is left as it was.

    Args:
        game_id: The game the event was for.
        event_id: The refused event.
        reason: Why it was refused, in words a log reader understands.
    """

    def __init__(self, game_id: str, event_id: str, reason: str) -> None:
        super().__init__(game_id, event_id, reason)
        self.game_id = game_id
        self.event_id = event_id
        self.reason = reason

    def __str__(self) -> str:
        return f"{self.game_id} event {self.event_id}: {self.reason}"


class OutOfOrder(InvalidEvent):
    """The event's sequence number is not the next one."""


class ImpossibleTransition(InvalidEvent):
    """Applying the event would leave an impossible game state."""


class Trimmed(PressboxError):
    """Entries a reader asked for were trimmed from the stream.

    Args:
        stream: The stream's name.
        wanted: The first sequence the reader needed.
        first_seq: The oldest sequence the stream still holds.
    """

    def __init__(self, stream: str, wanted: int, first_seq: int) -> None:
        super().__init__(stream, wanted, first_seq)
        self.stream = stream
        self.wanted = wanted
        self.first_seq = first_seq

    def __str__(self) -> str:
        return (
            f"stream {self.stream!r} was trimmed: wanted seq {self.wanted}, "
            f"oldest kept is {self.first_seq}"
        )
