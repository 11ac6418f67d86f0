"""The feeds' HTTP transport: httpx's API over aiohttp's connections.

The resilient client (:mod:`pressbox.feeds.http`) speaks httpx: its requests, responses,
timeouts and errors. Under it, :class:`AiohttpTransport` sends each request through an
aiohttp session, for two reasons measured on the poller's path:

- **Turns of the event loop.** httpx's own pool (httpcore over anyio) gives the loop a turn
  at each of its locks and checkpoints: six steps of the requesting task from sending a GET
  on a kept connection to holding its answer, against two through aiohttp
  (``tests/feeds/test_aiohttp_transport.py``). The poller shares its loop with the fan-out
  and the API, where one turn can last milliseconds, and a live play waits for each one.
- **CPU.** A 120 KB gzipped diffPatch answer costs the client 1.0-1.1 ms of CPU through
  aiohttp against 1.5-3.7 ms through httpx's pool, whose bookkeeping grows with its
  connections (``bench/http_pool.py``, figures in ``docs/benchmarks.md``).

The httpx-aiohttp package does the same job, but maps a reset connection or a server that
closed early to ``ConnectTimeout``, which would misreport upstream faults as timeouts; the
adapter is small enough to keep here with the right classes.
"""

from __future__ import annotations

import ssl

import aiohttp
import httpx
import yarl

__all__ = ["AiohttpTransport"]


# aiohttp's exceptions as httpx's, most specific first (any other is a TransportError):
# the resilient client decides what to retry by httpx's classes (a timeout, a broken
# connection or a server that closed early is retried; an unsupported URL is not).
_ERRORS: tuple[tuple[type[BaseException], type[httpx.TransportError]], ...] = (
    (aiohttp.ConnectionTimeoutError, httpx.ConnectTimeout),
    (aiohttp.SocketTimeoutError, httpx.ReadTimeout),
    (aiohttp.ServerTimeoutError, httpx.ReadTimeout),
    (aiohttp.ClientConnectorError, httpx.ConnectError),
    (aiohttp.ServerDisconnectedError, httpx.RemoteProtocolError),
    (aiohttp.ClientPayloadError, httpx.RemoteProtocolError),
    (aiohttp.ClientResponseError, httpx.RemoteProtocolError),
    (aiohttp.InvalidURL, httpx.UnsupportedProtocol),
    (aiohttp.ClientOSError, httpx.ReadError),
    (aiohttp.ClientConnectionError, httpx.NetworkError),
)


class AiohttpTransport(httpx.AsyncBaseTransport):
    """An httpx transport that sends each request through an aiohttp session.

    The answer's body is read whole before the response is returned (the resilient client
    reads every body whole anyway), so the connection goes back to the pool at once; the
    body is decoded by httpx from its ``Content-Encoding``, as with httpx's own transport.
    Per-request timeouts come from httpx's ``timeout`` extension: connect, read, and the
    wait for a free connection at ``limit`` (pool plus connect, as one aiohttp timeout).

    Args:
        limit: Most connections open at once, all hosts together (default 100).
        limit_per_host: Most connections open to one host (default 0: no limit of its own).
        keepalive: Seconds an idle connection is kept for reuse (default 5.0, as httpx).
        verify: TLS verification: ``True`` (the system's CAs), ``False``, or a context.
    """

    def __init__(
        self,
        *,
        limit: int = 100,
        limit_per_host: int = 0,
        keepalive: float = 5.0,
        verify: ssl.SSLContext | bool = True,
    ) -> None:
        if limit < 1 or limit_per_host < 0 or keepalive <= 0:
            raise ValueError(
                "AiohttpTransport needs limit >= 1, limit_per_host >= 0, keepalive > 0"
            )
        self._limit = limit
        self._limit_per_host = limit_per_host
        self._keepalive = keepalive
        self._ssl: ssl.SSLContext | bool = httpx.create_ssl_context() if verify is True else verify
        self._session: aiohttp.ClientSession | None = None

    def _open(self) -> aiohttp.ClientSession:
        # Made on first use: an aiohttp session belongs to the event loop it was made on.
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(
                limit=self._limit,
                limit_per_host=self._limit_per_host,
                keepalive_timeout=self._keepalive,
                ssl=self._ssl,
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                auto_decompress=False,
                # httpx's headers are sent as they are; aiohttp adds none of its own.
                skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding"),
                cookie_jar=aiohttp.DummyCookieJar(),
            )
        return self._session

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        session = self._open()
        timeouts = request.extensions.get("timeout", {})
        # aiohttp's connect timeout covers both the wait for a free pooled connection
        # (httpx's pool timeout) and opening one (httpx's connect timeout).
        waits = [t for t in (timeouts.get("pool"), timeouts.get("connect")) if t is not None]
        body = await request.aread()
        try:
            async with session.request(
                request.method,
                yarl.URL(str(request.url), encoded=True),
                headers=request.headers.multi_items(),
                data=body or None,
                allow_redirects=False,
                timeout=aiohttp.ClientTimeout(
                    total=None,
                    connect=sum(waits) if waits else None,
                    sock_connect=timeouts.get("connect"),
                    sock_read=timeouts.get("read"),
                ),
            ) as answer:
                content = await answer.read()
                status = answer.status
                headers = answer.raw_headers  # bytes pairs, as httpx's own transport gives
                reason = answer.reason
        except aiohttp.ClientError as exc:
            raise _translate(exc, request) from exc
        except TimeoutError as exc:
            raise httpx.ReadTimeout(
                f"no answer within the read timeout: {exc}", request=request
            ) from exc
        extensions: dict[str, object] = {"http_version": b"HTTP/1.1"}
        if reason:
            extensions["reason_phrase"] = reason.encode("latin-1", "replace")
        return httpx.Response(
            status_code=status,
            headers=headers,
            stream=httpx.ByteStream(content),
            extensions=extensions,
        )

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def _translate(exc: aiohttp.ClientError, request: httpx.Request) -> httpx.TransportError:
    for source, target in _ERRORS:
        if isinstance(exc, source):
            return target(f"{type(exc).__name__}: {exc}", request=request)
    return httpx.TransportError(f"{type(exc).__name__}: {exc}", request=request)
