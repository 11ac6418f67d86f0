"""A small SSE reader over httpx for the delivery tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx


@dataclass
class Event:
    event: str
    data: str
    id: str | None


async def events(response: httpx.Response) -> AsyncIterator[Event]:
    """Parse the events of a streaming response (comments and retry hints skipped)."""
    kind, data, last_id = "message", [], None
    async for line in response.aiter_lines():
        if line == "":
            if data:
                yield Event(kind, "\n".join(data), last_id)
            kind, data, last_id = "message", [], None
            continue
        if line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if field == "event":
            kind = value
        elif field == "data":
            data.append(value)
        elif field == "id":
            last_id = value
