"""Pure helpers shared by the feed adapters: decoding JSON and reading fields defensively.

Upstream documents drift: fields get renamed, dropped or change type without notice. The
readers here turn every such surprise into :class:`~pressbox.errors.FeedParseError` naming
the source, the JSON path and what was expected, so that an adapter can refuse a document
with a reason a log reader understands and keep its last good state. Nothing here does I/O.
"""

from __future__ import annotations

import gzip
import json
import zlib

import orjson

from pressbox.errors import FeedParseError
from pressbox.types import JSON

_GZIP_MAGIC = b"\x1f\x8b"


def gunzip_if_needed(data: bytes, source: str) -> bytes:
    """Return ``data`` decompressed when it is gzip, unchanged otherwise.

    Raises:
        FeedParseError: The data starts like gzip but cannot be decompressed (truncated).
    """
    if not data.startswith(_GZIP_MAGIC):
        return data
    try:
        return gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as exc:
        raise FeedParseError(source, f"bad gzip data: {exc}") from exc


def decode_json(data: bytes | str, source: str) -> JSON:
    """Decode one JSON document (gzip-compressed bytes are accepted too).

    Raises:
        FeedParseError: The data is empty, truncated or not JSON.
    """
    if isinstance(data, bytes):
        data = gunzip_if_needed(data, source)
    if not data.strip():
        raise FeedParseError(source, "empty document")
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise FeedParseError(source, f"malformed JSON: {exc}") from exc


def decode_concatenated(data: bytes | str, source: str) -> list[JSON]:
    """Decode JSON values written back to back (a capture of successive responses).

    Raises:
        FeedParseError: A value is malformed or the data ends in the middle of one.
    """
    if isinstance(data, bytes):
        data = gunzip_if_needed(data, source).decode("utf-8", errors="strict")
    decoder = json.JSONDecoder()
    values: list[JSON] = []
    position = 0
    end = len(data)
    while True:
        while position < end and data[position].isspace():
            position += 1
        if position >= end:
            return values
        try:
            value, position = decoder.raw_decode(data, position)
        except json.JSONDecodeError as exc:
            raise FeedParseError(
                source, f"malformed JSON in value {len(values) + 1}: {exc.msg}", line=exc.lineno
            ) from exc
        values.append(value)


class Reader:
    """Typed, path-aware access to a decoded document.

    Every accessor names the JSON path in its error, so that a drifted document is
    reported as ``"liveData.plays.allPlays[3].about: missing field 'inning'"``.

    Args:
        source: The document's name, used in every error.
    """

    __slots__ = ("source",)

    def __init__(self, source: str) -> None:
        self.source = source

    def error(self, path: str, reason: str) -> FeedParseError:
        """An error about the value at ``path``."""
        return FeedParseError(self.source, f"{path}: {reason}" if path else reason)

    def obj(self, value: JSON, path: str) -> dict[str, JSON]:
        """``value`` as an object."""
        if not isinstance(value, dict):
            raise self.error(path, f"expected an object, got {_kind(value)}")
        return value

    def array(self, value: JSON, path: str) -> list[JSON]:
        """``value`` as an array."""
        if not isinstance(value, list):
            raise self.error(path, f"expected an array, got {_kind(value)}")
        return value

    def field(self, parent: JSON, key: str, path: str) -> JSON:
        """The required field ``key`` of the object at ``path``."""
        mapping = self.obj(parent, path)
        if key not in mapping:
            raise self.error(path, f"missing field {key!r}")
        return mapping[key]

    def get_obj(self, parent: JSON, key: str, path: str) -> dict[str, JSON]:
        """The required object field ``key``."""
        return self.obj(self.field(parent, key, path), _join(path, key))

    def get_list(self, parent: JSON, key: str, path: str) -> list[JSON]:
        """The required array field ``key``."""
        return self.array(self.field(parent, key, path), _join(path, key))

    def get_int(self, parent: JSON, key: str, path: str) -> int:
        """The required integer field ``key`` (integral strings such as ``"72"`` accepted)."""
        value = self.field(parent, key, path)
        result = _as_int(value)
        if result is None:
            raise self.error(_join(path, key), f"expected an integer, got {_kind(value)}")
        return result

    def opt_int(self, parent: JSON, key: str, path: str) -> int | None:
        """The optional integer field ``key``; ``None`` when absent or null."""
        value = self.obj(parent, path).get(key)
        if value is None:
            return None
        result = _as_int(value)
        if result is None:
            raise self.error(_join(path, key), f"expected an integer, got {_kind(value)}")
        return result

    def get_str(self, parent: JSON, key: str, path: str) -> str:
        """The required string field ``key``."""
        value = self.field(parent, key, path)
        if not isinstance(value, str):
            raise self.error(_join(path, key), f"expected a string, got {_kind(value)}")
        return value

    def opt_str(self, parent: JSON, key: str, path: str) -> str | None:
        """The optional string field ``key``; ``None`` when absent or null."""
        value = self.obj(parent, path).get(key)
        if value is None:
            return None
        if not isinstance(value, str):
            raise self.error(_join(path, key), f"expected a string, got {_kind(value)}")
        return value

    def opt_bool(self, parent: JSON, key: str, path: str) -> bool | None:
        """The optional boolean field ``key``; ``None`` when absent or null."""
        value = self.obj(parent, path).get(key)
        if value is None:
            return None
        if not isinstance(value, bool):
            raise self.error(_join(path, key), f"expected a boolean, got {_kind(value)}")
        return value

    def opt_float(self, parent: JSON, key: str, path: str) -> float | None:
        """The optional number field ``key`` (numeric strings accepted); ``None`` if absent."""
        value = self.obj(parent, path).get(key)
        if value is None or value == "":
            return None
        if isinstance(value, bool):
            raise self.error(_join(path, key), "expected a number, got a boolean")
        if isinstance(value, int | float):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
        raise self.error(_join(path, key), f"expected a number, got {_kind(value)}")


def _as_int(value: JSON) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            return None
    return None


def _join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def join(path: str, key: str | int) -> str:
    """The JSON path of ``key`` (a field or an array index) under ``path``."""
    return _join(path, key)


def _kind(value: JSON) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return f"the string {value[:40]!r}"
    if isinstance(value, int | float):
        return f"the number {value}"
    return type(value).__name__


def parse_clock(text: str) -> int | None:
    """Seconds in a ``"M:SS"`` (or ``"MM:SS"``) display clock; ``None`` if it is not one."""
    minutes, sep, seconds = text.strip().partition(":")
    if not sep:
        return None
    try:
        whole = int(minutes)
        secs = float(seconds)
    except ValueError:
        return None
    if whole < 0 or not 0 <= secs < 60:
        return None
    return whole * 60 + int(secs)


def format_clock(seconds: int) -> str:
    """The ``"M:SS"`` display form of a number of seconds."""
    return f"{seconds // 60}:{seconds % 60:02d}"
