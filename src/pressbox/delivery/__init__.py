"""Live delivery: the fan-out hub, SSE, WebSocket and broadcast graphics.

Mount the routes in the app and run the hub in its lifespan::

    async with from_url(url) as bus, Hub(bus) as hub:
        routes = delivery_routes(hub)          # mount them; the hub feeds them

Under uvicorn, SSE streams are written straight to their sockets. For the most
connections per process, serve them in front of the app with :func:`with_streams`
(outside every middleware); otherwise wrap the outermost app with
:func:`expose_transport` so that the routes find the socket whatever middleware is in
between. The protocol is
described in docs/delivery.md; the figures in docs/benchmarks.md.
"""

from __future__ import annotations

from starlette.routing import BaseRoute, Route, WebSocketRoute

from pressbox.delivery.fanout import Frames, Hub, HubStats, Limits, Policy, Refused, Subscriber
from pressbox.delivery.graphics import (
    GraphicsBoard,
    GraphicsSink,
    graphics_commands,
    graphics_endpoint,
)
from pressbox.delivery.sse import (
    KeyFunc,
    SSEStream,
    api_key,
    expose_transport,
    parse_last_event_id,
    with_streams,
)
from pressbox.delivery.websocket import WebSocketStream

__all__ = [
    "Frames",
    "GraphicsBoard",
    "GraphicsSink",
    "Hub",
    "HubStats",
    "KeyFunc",
    "Limits",
    "Policy",
    "Refused",
    "SSEStream",
    "Subscriber",
    "WebSocketStream",
    "api_key",
    "delivery_routes",
    "expose_transport",
    "graphics_commands",
    "graphics_endpoint",
    "parse_last_event_id",
    "with_streams",
]


def delivery_routes(
    hub: Hub,
    *,
    board: GraphicsBoard | None = None,
    key_of: KeyFunc = api_key,
    retry_ms: int = 2000,
    prefix: str = "/v1",
    direct: bool = True,
    sse: SSEStream | None = None,
) -> list[BaseRoute]:
    """The delivery routes, ready to mount.

    Args:
        hub: The running hub (created in the app's lifespan).
        board: The graphics board of ``hub``; one is made when ``None``.
        key_of: Finds the API key a connection counts against.
        retry_ms: The SSE reconnect delay suggested to clients.
        prefix: Prepended to every path.
        direct: Write to uvicorn's transports when possible (``False``: a bounded queue
            and a send task per connection, as under any other server).
        sse: The SSE endpoint to mount (one is made from the arguments above when
            ``None``); pass the one served by :func:`with_streams` in front of the app.

    Returns:
        ``GET {prefix}/stream/games/{game_id}``, ``GET {prefix}/stream?games=a,b``,
        ``WS {prefix}/ws`` and ``GET {prefix}/graphics/{game_id}``.
    """
    sse = sse or SSEStream(hub, key_of=key_of, retry_ms=retry_ms, direct=direct)
    board = board or GraphicsBoard(hub)
    return [
        Route(f"{prefix}/stream/games/{{game_id}}", sse, methods=["GET"]),
        Route(f"{prefix}/stream", sse, methods=["GET"]),
        WebSocketRoute(f"{prefix}/ws", WebSocketStream(hub, key_of=key_of, direct=direct)),
        Route(f"{prefix}/graphics/{{game_id}}", graphics_endpoint(board), methods=["GET"]),
    ]
