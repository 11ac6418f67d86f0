"""An httpx transport that spreads requests over several small connection pools.

httpx's connection pool (httpcore's ``AsyncConnectionPool``) re-examines every connection
it holds each time a request joins or leaves it: the keep-alive expiry and a readability
probe of the socket of each idle one, and, for each idle one, a count of all the idle
ones. Its CPU per request therefore grows with the square of its open connections: on
loopback, a 120 KB diffPatch answer costs 1.4 ms of CPU per request with 4 requests in
flight and 2.2 ms with 16 through one pool, 1.3 ms with 16 through pools of 4
(``bench/http_pool.py``). Pollers keep a dozen or more requests in
flight to stay ahead of a slow upstream, so :class:`ShardedTransport` gives each request
to the least busy of several pools of at most ``per_pool`` connections: the bookkeeping
stays that of a small pool, and the client keeps its concurrency.

No maintained transport does this (httpx offers one pool per transport; ``Limits`` only
caps it), so it is written here: it only chooses a pool and counts what each one has in
flight until the response is closed; the pools are httpx's own transports.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from types import TracebackType

import httpx

__all__ = ["ShardedTransport"]


class _Counted(httpx.AsyncByteStream):
    """A response body that tells its pool's counter when it is closed."""

    __slots__ = ("_counts", "_index", "_released", "_stream")

    def __init__(self, stream: httpx.AsyncByteStream, counts: list[int], index: int) -> None:
        self._stream = stream
        self._counts = counts
        self._index = index
        self._released = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._stream:
            yield chunk

    async def aclose(self) -> None:
        try:
            await self._stream.aclose()
        finally:
            if not self._released:
                self._released = True
                self._counts[self._index] -= 1


class ShardedTransport(httpx.AsyncBaseTransport):
    """Requests spread over ``pools`` httpx transports of ``per_pool`` connections each.

    A request goes to the pool with the fewest requests in flight (the first such one, so
    a quiet client keeps using the same few warm connections); it counts as in flight until
    its response is closed.

    Args:
        pools: Number of pools (at least 1).
        per_pool: Most connections of each pool (at least 1); also how many idle ones it
            keeps alive.
        **kwargs: Passed to each :class:`httpx.AsyncHTTPTransport` (``retries``,
            ``http2``, ``verify``...); ``limits`` is set here.

    Raises:
        ValueError: ``pools`` or ``per_pool`` is below 1.
    """

    def __init__(self, pools: int = 8, per_pool: int = 4, **kwargs: object) -> None:
        if pools < 1 or per_pool < 1:
            raise ValueError("ShardedTransport needs at least one pool of one connection")
        limits = httpx.Limits(max_connections=per_pool, max_keepalive_connections=per_pool)
        if kwargs.get("verify", True) is True and "cert" not in kwargs:
            # One TLS context for all the pools: each would otherwise load the CA bundle.
            kwargs["verify"] = httpx.create_ssl_context(
                trust_env=bool(kwargs.get("trust_env", True))
            )
        self._pools = [
            httpx.AsyncHTTPTransport(limits=limits, **kwargs)  # type: ignore[arg-type]
            for _ in range(pools)
        ]
        self._in_flight = [0] * pools

    @property
    def in_flight(self) -> tuple[int, ...]:
        """Requests in flight per pool (sent, and their response not yet closed)."""
        return tuple(self._in_flight)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        counts = self._in_flight
        index = counts.index(min(counts))
        counts[index] += 1
        try:
            response = await self._pools[index].handle_async_request(request)
        except BaseException:
            counts[index] -= 1
            raise
        stream = response.stream
        if not isinstance(stream, httpx.AsyncByteStream):  # an httpx transport's never is
            counts[index] -= 1
            return response
        return httpx.Response(
            status_code=response.status_code,
            headers=response.headers,
            stream=_Counted(stream, counts, index),
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        for pool in self._pools:
            await pool.aclose()

    async def __aenter__(self) -> ShardedTransport:
        for pool in self._pools:
            await pool.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc_value: BaseException | None = None,
        traceback: TracebackType | None = None,
    ) -> None:
        await self.aclose()
