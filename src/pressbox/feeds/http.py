"""The resilient upstream client: every call pressbox makes to an upstream goes through it.

:class:`ResilientClient` wraps one :class:`httpx.AsyncClient` (explicit per-phase
:class:`httpx.Timeout`) with the pieces of :mod:`pressbox.resilience`:

* a TTL cache per source (:data:`DEFAULT_TTLS`: roster 1 h, live feed 15 s, weather
  30 min) that serves the last good value with its age when every upstream fails, and
  single-flight, so one fetch runs per key however many callers ask;
* conditional requests: the cached ``ETag`` / ``Last-Modified`` go out as
  ``If-None-Match`` / ``If-Modified-Since``, and a ``304`` refreshes the cached value;
* retries with :mod:`stamina` for idempotent GETs only, on named failures only
  (connection errors, timeouts, 500/502/503/504, 429), capped in attempts *and* total
  time, with exponential backoff and jitter, honouring ``Retry-After`` on 429 and 503;
* hedged requests when asked (``RetryPolicy.hedge_after``): an attempt still unanswered
  after that long is raced by a second identical GET, so a request that hangs costs the
  hedge delay instead of the attempt's deadline;
* a :class:`~pressbox.resilience.CircuitBreaker` and a
  :class:`~pressbox.resilience.RateBudget` per upstream endpoint, and failover to the
  upstream's secondary base URL while the primary's breaker is open or its budget is
  spent (the primary is tried again first as soon as it would be admitted).

httpx errors are translated here, ``raise ... from exc``: callers see only
:class:`~pressbox.errors.FeedUnavailable`, :class:`~pressbox.errors.FeedTimeout`,
:class:`~pressbox.errors.FeedParseError`, :class:`~pressbox.errors.CircuitOpen` and
:class:`~pressbox.errors.RateLimited`. :meth:`ResilientClient.lookup` never raises: when
the cache, the primary and the secondary all fail it returns :class:`Unavailable`, whose
:meth:`~Unavailable.to_json` is the ``{"available": false, "reason": ...}`` answer.

Retries use stamina rather than tenacity directly or a hand-rolled loop: it retries only
what it is told to, caps attempts and total time together, jitters its backoff, has a
test mode, and instruments each retry (``stamina.retry_scheduled`` in structlog, a
Prometheus counter); its backoff hook lets ``Retry-After`` set the next wait. Its total
time is measured on the real clock, so the check that a ``Retry-After`` fits in what is
left of the budget is done here, on the injected clock.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import email.utils
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Literal, TypeAlias

import httpx
import orjson
import stamina
import structlog
from prometheus_client import CollectorRegistry, Counter

from pressbox.errors import (
    ConfigError,
    FeedParseError,
    FeedTimeout,
    FeedUnavailable,
    PressboxError,
    RateLimited,
)
from pressbox.feeds.transport import AiohttpTransport
from pressbox.metrics import per_registry
from pressbox.resilience import Cached, CircuitBreaker, MonotonicClock, RateBudget, TTLCache
from pressbox.types import JSON, Clock

Role: TypeAlias = Literal["primary", "secondary"]
"""Which of an upstream's base URLs answered."""

DEFAULT_TTLS: Mapping[str, float] = MappingProxyType(
    {"roster": 3600.0, "live": 15.0, "weather": 1800.0}
)
"""Time-to-live per source name, seconds, for a :class:`Source` that does not set one."""

DEFAULT_TTL = 60.0
"""Time-to-live, seconds, for a source that is neither configured nor in DEFAULT_TTLS."""

DEFAULT_TIMEOUT = httpx.Timeout(connect=2.0, read=5.0, write=5.0, pool=2.0)
"""Per-phase timeouts, seconds: the same defaults as the ``PRESSBOX_*_TIMEOUT`` settings."""

_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
# Retried transport errors: the request may not have reached the upstream, or the
# connection broke; a GET is safe to send again. Local protocol errors, proxy errors
# and unsupported schemes would fail the same way again, so they are not retried.
_RETRY_TRANSPORT: tuple[type[httpx.TransportError], ...] = (
    httpx.TimeoutException,
    httpx.NetworkError,
    httpx.RemoteProtocolError,
)

_log = structlog.get_logger("pressbox.feeds.http")


@dataclass(frozen=True, slots=True)
class Upstream:
    """One upstream service: its base URLs and the limits it is held to.

    The breaker and the budget are per endpoint: the primary and the secondary each get
    their own.

    Attributes:
        name: The upstream's name, in errors, logs and metrics (``"statsapi"``).
        primary: Base URL tried first (``"https://statsapi.example/api"``).
        secondary: Base URL used while the primary is refused; ``None`` for none.
        budget_limit: Requests allowed per ``budget_window`` per endpoint (default ``100``).
        budget_window: The budget's sliding window, seconds (default ``60.0``).
        budget_warn_at: Fraction of the budget at which ``budget.warning`` is logged
            (default ``0.8``).
        failure_threshold: Consecutive failed calls that open the breaker (default ``5``).
        reset_timeout: Breaker cool-down before one probe, seconds (default ``30.0``).
    """

    name: str
    primary: str
    secondary: str | None = None
    budget_limit: int = 100
    budget_window: float = 60.0
    budget_warn_at: float = 0.8
    failure_threshold: int = 5
    reset_timeout: float = 30.0

    def endpoints(self) -> tuple[tuple[Role, str], ...]:
        """The base URLs in the order they are tried."""
        if self.secondary is None:
            return (("primary", self.primary),)
        return (("primary", self.primary), ("secondary", self.secondary))


@dataclass(frozen=True, slots=True)
class Source:
    """A kind of data fetched from an upstream, with its cache policy.

    Attributes:
        name: The name callers use (``"roster"``, ``"live"``, ``"weather"``).
        upstream: Where it comes from.
        ttl: Seconds a fetched value stays fresh; :data:`DEFAULT_TTLS` by name when
            ``None`` (or :data:`DEFAULT_TTL` for other names).
    """

    name: str
    upstream: Upstream
    ttl: float | None = None

    @property
    def effective_ttl(self) -> float:
        """The TTL in force, seconds."""
        if self.ttl is not None:
            return self.ttl
        return DEFAULT_TTLS.get(self.name, DEFAULT_TTL)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How a GET is retried (the arguments of :func:`stamina.retry_context`).

    Attributes:
        attempts: Most attempts per endpoint, the first included (default ``3``).
        timeout: Most seconds spent retrying one endpoint, waits included (default ``10.0``).
        wait_initial: First backoff, seconds (default ``0.1``).
        wait_max: Longest backoff, seconds (default ``2.0``).
        wait_jitter: Most random seconds added to a backoff (default ``0.5``).
        max_retry_after: The longest ``Retry-After`` that is waited for, seconds; a
            longer one ends the retries and the endpoint is skipped (default ``5.0``).
        attempt_timeout: Deadline of one attempt over all its phases, seconds; bounds a
            response that trickles in under the per-phase read timeout (default ``10.0``).
        hedge_after: Seconds after which an attempt still unanswered is raced by a second,
            identical request (a hedged request): the first good answer is used and the
            other request cancelled, and the attempt fails only once both have failed.
            A request that hangs then costs this long instead of ``attempt_timeout``;
            each hedge spends one request of the endpoint's budget (none is sent when the
            budget is spent). ``None`` (default): no hedging.

    Raises:
        ValueError: ``hedge_after`` is not positive or not below ``attempt_timeout``.
    """

    attempts: int = 3
    timeout: float = 10.0
    wait_initial: float = 0.1
    wait_max: float = 2.0
    wait_jitter: float = 0.5
    max_retry_after: float = 5.0
    attempt_timeout: float = 10.0
    hedge_after: float | None = None

    def __post_init__(self) -> None:
        if self.hedge_after is not None and not 0.0 < self.hedge_after < self.attempt_timeout:
            raise ValueError(
                f"RetryPolicy.hedge_after must be above 0 and below attempt_timeout "
                f"({self.attempt_timeout}s), got {self.hedge_after}"
            )


@dataclass(frozen=True, slots=True)
class Fetched:
    """A JSON document from an upstream or the cache.

    Attributes:
        data: The decoded document.
        age: Seconds since it was fetched or revalidated (monotonic).
        stale: ``True`` when it is past its TTL, served because every upstream failed.
        source: Which endpoint supplied it, ``"primary"`` or ``"secondary"``.
        upstream: The upstream's name.
        reason: Why a stale value was served (the refresh's error), else ``None``.
    """

    data: JSON
    age: float
    stale: bool
    source: Role
    upstream: str
    reason: str | None = None

    @property
    def available(self) -> Literal[True]:
        """Always ``True``; lets callers test ``result.available`` on either outcome."""
        return True

    def to_json(self) -> dict[str, JSON]:
        """The document with its provenance, for an endpoint's answer."""
        return {
            "available": True,
            "data": self.data,
            "age": self.age,
            "stale": self.stale,
            "source": self.source,
        }


@dataclass(frozen=True, slots=True)
class Unavailable:
    """No source could answer: the degraded result of :meth:`ResilientClient.lookup`.

    Attributes:
        reason: What failed, for logs and the ``{"available": false}`` answer.
    """

    reason: str

    @property
    def available(self) -> Literal[False]:
        """Always ``False``."""
        return False

    def to_json(self) -> dict[str, JSON]:
        """The answer an endpoint returns with status 200: ``available`` and ``reason``."""
        return {"available": False, "reason": self.reason}


@dataclass(frozen=True, slots=True)
class _Document:
    data: JSON
    role: Role
    etag: str | None = None
    last_modified: str | None = None


@dataclass(frozen=True, slots=True)
class _Endpoint:
    role: Role
    base_url: str
    breaker: CircuitBreaker
    budget: RateBudget


class _AttemptError(Exception):
    """One failed attempt, already translated; carries what the retry loop decides on.

    Private control flow between an attempt and the loops around it; never leaves the
    module (the translated ``error`` is raised instead).
    """

    def __init__(
        self,
        error: PressboxError,
        *,
        retryable: bool,
        counts: bool,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(error)
        self.error = error
        self.retryable = retryable
        self.counts = counts
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class _Metrics:
    fetches: Counter
    failovers: Counter
    hedges: Counter


def _create_metrics(reg: CollectorRegistry) -> _Metrics:
    # One family per registry, one label set per upstream.
    return _Metrics(
        fetches=Counter(
            "pressbox_feed_fetches",
            "Upstream fetches by endpoint and outcome.",
            ["upstream", "role", "outcome"],
            registry=reg,
        ),
        failovers=Counter(
            "pressbox_feed_failovers",
            "Times a fetch moved on from an endpoint to the next one.",
            ["upstream", "role"],
            registry=reg,
        ),
        hedges=Counter(
            "pressbox_feed_hedges",
            "Attempts hedged (RetryPolicy.hedge_after), by whose answer was used: the "
            "hedge's, the original's, or neither (both failed, or no hedge was allowed).",
            ["upstream", "role", "used"],
            registry=reg,
        ),
    )


_metrics_for = per_registry(_create_metrics)


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds a ``Retry-After`` header asks to wait.

    Args:
        value: The header: delay-seconds (``"120"``) or an HTTP date; ``None`` if absent.
        now: The current wall-clock time, seconds since the epoch (for the date form).

    Returns:
        Seconds to wait, never negative; ``None`` when absent or unreadable.
    """
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, when.timestamp() - now)


class ResilientClient:
    """GETs JSON from configured upstreams through cache, breaker, budget and retries.

    Use it as an async context manager (or call :meth:`aclose`)::

        statsapi = Upstream("statsapi", "https://a.example/api", "https://b.example/api")
        async with ResilientClient([Source("roster", statsapi)]) as client:
            fetched = await client.get_json("roster", "/teams/147/roster")
            answer = await client.lookup("roster", "/teams/147/roster")  # never raises

    Args:
        sources: The sources callers may name. Sources that share an upstream (by name)
            share its breakers and budgets, so they must give it the same settings.
        timeout: Per-phase timeouts of each request; :data:`DEFAULT_TIMEOUT` when ``None``.
        retry: How GETs are retried (default :class:`RetryPolicy`).
        max_stale: How long past its TTL a value may still be served when every upstream
            fails, seconds (default ``86_400.0``).
        max_entries: Most cached documents (default ``1024``).
        clock: Source of time for cache, breakers and budgets; real when ``None``.
        registry: Prometheus registry; the default registry when ``None``.
        transport: An httpx transport to use instead of the network (tests, proxies);
            by default a :class:`~pressbox.feeds.transport.AiohttpTransport`.
        headers: Extra headers sent with every request.

    Raises:
        ConfigError: Two sources configure the same upstream name differently, or two
            sources have the same name.
    """

    def __init__(
        self,
        sources: Iterable[Source],
        *,
        timeout: httpx.Timeout | None = None,
        retry: RetryPolicy | None = None,
        max_stale: float = 86_400.0,
        max_entries: int = 1024,
        clock: Clock | None = None,
        registry: CollectorRegistry | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self._clock: Clock = clock if clock is not None else MonotonicClock()
        self._retry = retry if retry is not None else RetryPolicy()
        self._sources: dict[str, Source] = {}
        self._upstreams: dict[str, Upstream] = {}
        self._endpoints: dict[str, tuple[_Endpoint, ...]] = {}
        self._last_role: dict[str, Role] = {}
        for source in sources:
            self._add(source, registry)
        self._cache: TTLCache[str, _Document] = TTLCache(
            "feeds",
            ttl=DEFAULT_TTL,
            max_stale=max_stale,
            max_entries=max_entries,
            clock=self._clock,
            registry=registry,
        )
        self._metrics = _metrics_for(registry)
        self._http = httpx.AsyncClient(
            timeout=timeout if timeout is not None else DEFAULT_TIMEOUT,
            # aiohttp's connections under httpx's API: two turns of the event loop per
            # request where httpx's own pool takes six (see pressbox.feeds.transport).
            transport=transport if transport is not None else AiohttpTransport(),
            headers={"Accept": "application/json", **(headers or {})},
        )

    def _add(self, source: Source, registry: CollectorRegistry | None) -> None:
        if source.name in self._sources:
            raise ConfigError(f"source {source.name!r} is configured twice")
        up = source.upstream
        known = self._upstreams.get(up.name)
        if known is not None and known != up:
            raise ConfigError(f"upstream {up.name!r} is configured differently by two sources")
        self._sources[source.name] = source
        if known is None:
            self._upstreams[up.name] = up
            self._endpoints[up.name] = tuple(
                _Endpoint(
                    role,
                    base,
                    CircuitBreaker(
                        f"{up.name}:{role}",
                        failure_threshold=up.failure_threshold,
                        reset_timeout=up.reset_timeout,
                        clock=self._clock,
                        registry=registry,
                    ),
                    RateBudget(
                        f"{up.name}:{role}",
                        limit=up.budget_limit,
                        window=up.budget_window,
                        warn_at=up.budget_warn_at,
                        clock=self._clock,
                        registry=registry,
                    ),
                )
                for role, base in up.endpoints()
            )

    async def __aenter__(self) -> ResilientClient:
        await self._http.__aenter__()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    def breaker(self, upstream: str, role: Role = "primary") -> CircuitBreaker:
        """The breaker of one endpoint of ``upstream`` (for health checks and tests).

        Raises:
            KeyError: No such upstream or endpoint.
        """
        return self._endpoint(upstream, role).breaker

    def budget(self, upstream: str, role: Role = "primary") -> RateBudget:
        """The rate budget of one endpoint of ``upstream``.

        Raises:
            KeyError: No such upstream or endpoint.
        """
        return self._endpoint(upstream, role).budget

    def _endpoint(self, upstream: str, role: Role) -> _Endpoint:
        for endpoint in self._endpoints[upstream]:
            if endpoint.role == role:
                return endpoint
        raise KeyError(f"{upstream} has no {role} endpoint")

    async def get_json(
        self, source: str, url: str, *, key: str | None = None, store: bool = True
    ) -> Fetched:
        """A JSON document: fresh from the cache, else from the primary, else the secondary.

        Args:
            source: A configured source's name; it picks the upstream and the TTL.
            url: Path (and query) relative to the upstream's base URL.
            key: Cache key; ``"<source>:<url>"`` when ``None``.
            store: Go through the cache (default). ``False`` is for an answer that is
                read once and never asked for again (a ``diffPatch`` from a timecode):
                it is neither looked up nor kept, no conditional request goes out, and
                no stale value can stand in for it; breakers, budgets, retries and
                failover apply as usual. Keeping such answers would only hold decoded
                documents nobody reads, for the garbage collector to walk.

        Returns:
            The document, its age, whether it is stale and which endpoint supplied it.
            When every endpoint fails but a value within ``max_stale`` is cached, that
            value comes back with ``stale=True`` and the failure as ``reason``.

        Raises:
            ConfigError: ``source`` is not configured.
            FeedUnavailable: Transport error, server error or other refusal on every
                endpoint (for several endpoints, the reason lists each one).
            FeedTimeout: The only endpoint timed out.
            FeedParseError: The only endpoint sent a body that is not JSON.
            CircuitOpen: The only endpoint's breaker is open.
            RateLimited: The only endpoint's budget is spent or it answered 429.
        """
        src = self._sources.get(source)
        if src is None:
            raise ConfigError(f"unknown source {source!r}")
        cache_key = key if key is not None else f"{source}:{url}"
        if not store:
            doc = await self._fetch(src, url, None)
            return Fetched(
                data=doc.data, age=0.0, stale=False, source=doc.role, upstream=src.upstream.name
            )

        async def fetch() -> _Document:
            return await self._fetch(src, url, self._cache.get(cache_key))

        cached = await self._cache.get_or_fetch(cache_key, fetch, ttl=src.effective_ttl)
        doc = cached.value
        return Fetched(
            data=doc.data,
            age=cached.age,
            stale=cached.stale,
            source=doc.role,
            upstream=src.upstream.name,
            reason=None if cached.error is None else str(cached.error),
        )

    async def lookup(
        self, source: str, url: str, *, key: str | None = None
    ) -> Fetched | Unavailable:
        """Like :meth:`get_json`, but never raises: a total failure is :class:`Unavailable`.

        Args:
            source: A configured source's name.
            url: Path relative to the upstream's base URL.
            key: Cache key; ``"<source>:<url>"`` when ``None``.

        Returns:
            The :class:`Fetched` document, or :class:`Unavailable` with the reason.
        """
        try:
            return await self.get_json(source, url, key=key)
        except PressboxError as exc:
            reason = str(exc)
        except Exception as exc:
            # A bug must not blank the screen either; it is logged with its traceback.
            _log.exception("feed.lookup_crashed", source=source, url=url)
            reason = f"unexpected error: {type(exc).__name__}"
        _log.warning("feed.unavailable", source=source, url=url, reason=reason)
        return Unavailable(reason)

    async def _fetch(self, src: Source, url: str, previous: Cached[_Document] | None) -> _Document:
        up = src.upstream
        endpoints = self._endpoints[up.name]
        failures: list[tuple[Role, PressboxError]] = []
        for index, endpoint in enumerate(endpoints):
            try:
                doc = await self._fetch_from(
                    up, endpoint, url, previous, last=index + 1 == len(endpoints)
                )
            except PressboxError as exc:
                failures.append((endpoint.role, exc))
                if index + 1 < len(endpoints):
                    self._metrics.failovers.labels(upstream=up.name, role=endpoint.role).inc()
                    _log.warning(
                        "feed.failover",
                        upstream=up.name,
                        source=src.name,
                        failed=endpoint.role,
                        to=endpoints[index + 1].role,
                        reason=str(exc),
                    )
                continue
            last = self._last_role.get(up.name)
            if last is not None and last != endpoint.role:
                _log.warning("feed.switched", upstream=up.name, previous=last, to=endpoint.role)
            self._last_role[up.name] = endpoint.role
            return doc
        if len(failures) == 1:
            raise failures[0][1]
        reason = "; ".join(f"{role}: {exc}" for role, exc in failures)
        raise FeedUnavailable(up.name, reason) from failures[-1][1]

    async def _fetch_from(
        self,
        up: Upstream,
        endpoint: _Endpoint,
        url: str,
        previous: Cached[_Document] | None,
        *,
        last: bool = True,
    ) -> _Document:
        endpoint.breaker.allow()
        try:
            doc = await self._with_retries(up, endpoint, url, previous, last=last)
        except _AttemptError as exc:
            if exc.counts:
                endpoint.breaker.record_failure()
            else:
                endpoint.breaker.release()
            if isinstance(exc.error, RateLimited) and exc.retry_after is not None:
                # The upstream itself said "slow down": spend nothing more on it until then.
                endpoint.budget.pause(exc.retry_after)
            outcome = type(exc.error).__name__
            self._metrics.fetches.labels(
                upstream=up.name, role=endpoint.role, outcome=outcome
            ).inc()
            raise exc.error from exc.__cause__
        except BaseException:
            endpoint.breaker.release()
            raise
        endpoint.breaker.record_success()
        self._metrics.fetches.labels(upstream=up.name, role=endpoint.role, outcome="ok").inc()
        return doc

    async def _with_retries(
        self,
        up: Upstream,
        endpoint: _Endpoint,
        url: str,
        previous: Cached[_Document] | None,
        *,
        last: bool = True,
    ) -> _Document:
        policy = self._retry
        started = self._clock.monotonic()

        def backoff(exc: Exception) -> bool | float:
            if not isinstance(exc, _AttemptError) or not exc.retryable:
                return False
            if exc.retry_after is None:
                return True
            if exc.retry_after > 0 and not last:
                # Told to wait, with another endpoint to ask: ask it now instead (a 429
                # also pauses this endpoint's budget for that long, in _fetch_from).
                return False
            remaining = policy.timeout - (self._clock.monotonic() - started)
            if exc.retry_after > min(policy.max_retry_after, remaining):
                return False
            return exc.retry_after

        async for attempt in stamina.retry_context(
            on=backoff,
            attempts=policy.attempts,
            timeout=policy.timeout,
            wait_initial=policy.wait_initial,
            wait_max=policy.wait_max,
            wait_jitter=policy.wait_jitter,
        ):
            with attempt:
                return await self._attempt(up, endpoint, url, previous)
        raise AssertionError("stamina ends by returning or raising")  # pragma: no cover

    async def _attempt(
        self, up: Upstream, endpoint: _Endpoint, url: str, previous: Cached[_Document] | None
    ) -> _Document:
        hedge_after = self._retry.hedge_after
        if hedge_after is None:
            return await self._request(up, endpoint, url, previous)
        return await self._hedged(up, endpoint, url, previous, hedge_after)

    async def _hedged(
        self,
        up: Upstream,
        endpoint: _Endpoint,
        url: str,
        previous: Cached[_Document] | None,
        hedge_after: float,
    ) -> _Document:
        # Hand-written: httpx, aiohttp and stamina retry after a failure, none races a
        # second request against a slow one. The race is two tasks and asyncio.wait.
        original = asyncio.ensure_future(self._request(up, endpoint, url, previous))
        running = {original}
        failure: BaseException | None = None
        try:
            done, _ = await asyncio.wait(running, timeout=hedge_after)
            if done:
                return original.result()  # in time, answered or failed: no hedge
            hedge = asyncio.ensure_future(self._request(up, endpoint, url, previous))
            running.add(hedge)
            while running:
                done, running = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
                # The original first when both are done: its answer is as good, and no
                # hedge is counted as used for nothing.
                for task in sorted(done, key=lambda t: t is not original):
                    error = task.exception()
                    if error is None:
                        used = "hedge" if task is hedge else "original"
                        self._count_hedge(up, endpoint, used)
                        return task.result()
                    # Both failing, the original's error is the one told.
                    if failure is None or task is original:
                        failure = error
            self._count_hedge(up, endpoint, "none")
            if failure is None:  # pragma: no cover - a task is done with one or other
                raise RuntimeError("hedged attempt ended without an outcome")
            raise failure
        finally:
            pending = [task for task in running if not task.done()]
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.gather(*pending, return_exceptions=True)

    def _count_hedge(self, up: Upstream, endpoint: _Endpoint, used: str) -> None:
        self._metrics.hedges.labels(upstream=up.name, role=endpoint.role, used=used).inc()

    async def _request(
        self, up: Upstream, endpoint: _Endpoint, url: str, previous: Cached[_Document] | None
    ) -> _Document:
        try:
            endpoint.budget.acquire()
        except RateLimited as exc:
            # No cause: the budget's refusal is the whole story.
            raise _AttemptError(exc, retryable=False, counts=False) from None
        cached_doc = previous.value if previous is not None else None
        headers: dict[str, str] = {}
        if cached_doc is not None:
            if cached_doc.etag is not None:
                headers["If-None-Match"] = cached_doc.etag
            if cached_doc.last_modified is not None:
                headers["If-Modified-Since"] = cached_doc.last_modified
        full_url = endpoint.base_url.rstrip("/") + "/" + url.lstrip("/")
        where = f"{endpoint.role} GET {url}"
        try:
            async with asyncio.timeout(self._retry.attempt_timeout):
                response = await self._http.get(full_url, headers=headers)
        except httpx.TimeoutException as exc:
            error = FeedTimeout(up.name, f"{where}: {type(exc).__name__}")
            raise _AttemptError(error, retryable=True, counts=True) from exc
        except TimeoutError as exc:
            error = FeedTimeout(up.name, f"{where}: no answer in {self._retry.attempt_timeout}s")
            raise _AttemptError(error, retryable=True, counts=True) from exc
        except httpx.TransportError as exc:
            unavailable = FeedUnavailable(up.name, f"{where}: {type(exc).__name__}: {exc}")
            retryable = isinstance(exc, _RETRY_TRANSPORT)
            raise _AttemptError(unavailable, retryable=retryable, counts=True) from exc
        return self._read(up, endpoint.role, where, response, cached_doc)

    def _read(
        self,
        up: Upstream,
        role: Role,
        where: str,
        response: httpx.Response,
        cached_doc: _Document | None,
    ) -> _Document:
        status = response.status_code
        if status == 304 and cached_doc is not None:
            return replace(cached_doc, role=role)
        if status >= 300:
            retry_after = None
            if status in (429, 503):
                retry_after = parse_retry_after(
                    response.headers.get("Retry-After"), self._clock.time()
                )
            if status == 429:
                limited = RateLimited(f"{up.name}:{role}", retry_after or 0.0)
                raise _AttemptError(limited, retryable=True, counts=False, retry_after=retry_after)
            server_side = status >= 500
            raise _AttemptError(
                FeedUnavailable(up.name, f"{where}: HTTP {status}"),
                retryable=status in _RETRY_STATUSES,
                counts=server_side,
                retry_after=retry_after,
            )
        try:
            data = orjson.loads(response.content)
        except orjson.JSONDecodeError as exc:
            error = FeedParseError(up.name, f"{where}: invalid JSON: {exc}")
            raise _AttemptError(error, retryable=False, counts=True) from exc
        return _Document(
            data=data,
            role=role,
            etag=response.headers.get("ETag"),
            last_modified=response.headers.get("Last-Modified"),
        )
