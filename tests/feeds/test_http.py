"""End-to-end tests of the resilient client against real HTTP servers on loopback."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections import defaultdict
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import uvicorn
from prometheus_client import CollectorRegistry
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send
from structlog.testing import capture_logs

from pressbox.errors import (
    CircuitOpen,
    ConfigError,
    FeedParseError,
    FeedTimeout,
    FeedUnavailable,
    RateLimited,
)
from pressbox.feeds.http import (
    DEFAULT_TTL,
    Fetched,
    ResilientClient,
    RetryPolicy,
    Source,
    Unavailable,
    Upstream,
    parse_retry_after,
)
from pressbox.resilience import BreakerState, ManualClock

pytestmark = pytest.mark.anyio

LAST_MODIFIED = "Sat, 21 Nov 2026 12:00:00 GMT"


@dataclass
class Control:
    """What a test server answers, path by path, and what it has seen."""

    base: str = ""
    plans: dict[str, list[Any]] = field(default_factory=lambda: defaultdict(list))
    default: dict[str, Any] = field(default_factory=dict)
    version: dict[str, int] = field(default_factory=lambda: defaultdict(lambda: 1))
    hits: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    not_modified: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    headers: dict[str, list[dict[str, str]]] = field(default_factory=lambda: defaultdict(list))
    release: asyncio.Event = field(default_factory=asyncio.Event)
    waiting: asyncio.Event = field(default_factory=asyncio.Event)
    hit: asyncio.Event = field(default_factory=asyncio.Event)

    def plan(self, path: str, *actions: Any) -> None:
        """Answer the next requests for ``path`` with ``actions``, then the default."""
        self.plans[path].extend(actions)


class Handler:
    """The one ASGI endpoint of the test server; it obeys its Control."""

    def __init__(self, control: Control) -> None:
        self.control = control

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        path = request.url.path
        c = self.control
        c.hits[path] += 1
        c.hit.set()
        c.headers[path].append(dict(request.headers))
        plan = c.plans[path]
        action = plan.pop(0) if plan else c.default.get(path, "ok")
        kind, arg = action if isinstance(action, tuple) else (action, None)
        if kind == "hold":
            # Answers only once the test lets it: a slow upstream without wall-clock pacing.
            # ``("hold", action)`` then does that action instead of answering.
            c.waiting.set()
            await c.release.wait()
            kind, arg = arg if isinstance(arg, tuple) else (arg or "ok", None)
        if kind == "reset":
            # Promise a body, send half of it, then drop the connection.
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [(b"content-length", b"100")],
                }
            )
            await send({"type": "http.response.body", "body": b'{"x":', "more_body": True})
            raise ConnectionAbortedError("test server drops the connection")
        response: Response
        if kind == "ok":
            etag = f'"v{c.version[path]}"'
            use_etag = not path.startswith("/lm/")
            if use_etag and request.headers.get("if-none-match") == etag:
                c.not_modified[path] += 1
                response = Response(status_code=304, headers={"ETag": etag})
            elif not use_etag and request.headers.get("if-modified-since") == LAST_MODIFIED:
                c.not_modified[path] += 1
                response = Response(status_code=304)
            else:
                headers = {"ETag": etag} if use_etag else {"Last-Modified": LAST_MODIFIED}
                body = {"path": path, "version": c.version[path]}
                response = JSONResponse(body, headers=headers)
        elif kind == "status":
            status, headers = (
                (arg, {}) if isinstance(arg, int) else (arg[0], {"Retry-After": str(arg[1])})
            )
            response = JSONResponse({"error": status}, status_code=status, headers=headers)
        elif kind == "badjson":
            response = Response(b"{not json", media_type="application/json")
        else:
            raise AssertionError(f"unknown action {action!r}")
        await response(scope, receive, send)


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # The test process keeps its own signal handlers.
        yield


@contextlib.asynccontextmanager
async def serve() -> AsyncIterator[Control]:
    control = Control()
    app = Starlette(routes=[Route("/{path:path}", Handler(control))])
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=0,
        lifespan="off",
        log_level="critical",
        access_log=False,
        timeout_graceful_shutdown=1,
    )
    server = _Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.005)
    port = server.servers[0].sockets[0].getsockname()[1]
    control.base = f"http://127.0.0.1:{port}"
    try:
        yield control
    finally:
        control.release.set()
        server.should_exit = True
        await task


@pytest.fixture
async def primary() -> AsyncIterator[Control]:
    async with serve() as control:
        yield control


@pytest.fixture
async def secondary() -> AsyncIterator[Control]:
    async with serve() as control:
        yield control


FAST = RetryPolicy(attempts=3, timeout=5.0, wait_initial=0.0, wait_max=0.0, wait_jitter=0.0)


def client_for(
    primary: Control,
    secondary: Control | None = None,
    *,
    clock: ManualClock | None = None,
    retry: RetryPolicy = FAST,
    ttl: float | None = None,
    timeout: httpx.Timeout | None = None,
    registry: CollectorRegistry | None = None,
    **limits: Any,
) -> ResilientClient:
    upstream = Upstream(
        "stats",
        primary.base,
        secondary.base if secondary is not None else None,
        **limits,
    )
    return ResilientClient(
        [Source("live", upstream, ttl=ttl), Source("roster", upstream)],
        clock=clock or ManualClock(),
        retry=retry,
        timeout=timeout,
        registry=registry if registry is not None else CollectorRegistry(),
    )


async def test_fetches_json_and_serves_it_from_the_cache(primary):
    """A document is fetched once and then served fresh from the cache with its age."""
    clock = ManualClock()
    async with client_for(primary, clock=clock) as client:
        first = await client.get_json("live", "/game/1")
        clock.advance(5.0)
        second = await client.get_json("live", "/game/1")
    assert first == Fetched({"path": "/game/1", "version": 1}, 0.0, False, "primary", "stats")
    assert first.available
    assert (second.data, second.age, second.stale) == (first.data, 5.0, False)
    assert primary.hits["/game/1"] == 1


async def test_source_ttls_default_by_name():
    """Roster, live and weather get 3600 s, 15 s and 1800 s unless configured."""
    up = Upstream("u", "http://x")
    assert Source("roster", up).effective_ttl == 3600.0
    assert Source("live", up).effective_ttl == 15.0
    assert Source("weather", up).effective_ttl == 1800.0
    assert Source("odds", up).effective_ttl == DEFAULT_TTL
    assert Source("live", up, ttl=2.0).effective_ttl == 2.0


async def test_304_revalidates_with_etag_and_refreshes_freshness(primary):
    """Past the TTL an If-None-Match goes out; a 304 makes the cached value fresh again."""
    clock = ManualClock()
    async with client_for(primary, clock=clock) as client:
        await client.get_json("live", "/game/2")
        clock.advance(16.0)
        revalidated = await client.get_json("live", "/game/2")
        clock.advance(10.0)
        cached = await client.get_json("live", "/game/2")
        primary.version["/game/2"] = 2
        clock.advance(16.0)
        changed = await client.get_json("live", "/game/2")
    assert primary.headers["/game/2"][1]["if-none-match"] == '"v1"'
    assert primary.not_modified["/game/2"] == 1
    assert (revalidated.data["version"], revalidated.age, revalidated.stale) == (1, 0.0, False)
    assert cached.age == 10.0
    assert primary.hits["/game/2"] == 3
    assert changed.data["version"] == 2


async def test_304_revalidates_with_last_modified(primary):
    """A document with only Last-Modified is revalidated with If-Modified-Since."""
    clock = ManualClock()
    async with client_for(primary, clock=clock) as client:
        await client.get_json("live", "/lm/3")
        clock.advance(16.0)
        again = await client.get_json("live", "/lm/3")
    assert primary.headers["/lm/3"][1]["if-modified-since"] == LAST_MODIFIED
    assert primary.not_modified["/lm/3"] == 1
    assert again.data == {"path": "/lm/3", "version": 1}


async def test_server_errors_are_retried(primary):
    """A 500 and a 503 are retried and the third attempt's answer is returned."""
    primary.plan("/g", ("status", 500), ("status", 503))
    async with client_for(primary) as client:
        fetched = await client.get_json("live", "/g")
    assert fetched.data["path"] == "/g"
    assert primary.hits["/g"] == 3


async def test_retries_are_capped_and_the_error_translated(primary):
    """After the capped attempts a 5xx surfaces as FeedUnavailable (from httpx nothing leaks)."""
    primary.default["/g"] = ("status", 502)
    async with client_for(primary) as client:
        with pytest.raises(FeedUnavailable, match="HTTP 502") as info:
            await client.get_json("live", "/g")
    assert primary.hits["/g"] == 3
    assert info.value.source == "stats"


async def test_stale_value_is_served_with_its_age_when_the_upstream_fails(primary):
    """When the refresh fails, the last good value comes back stale with its age and reason."""
    clock = ManualClock()
    async with client_for(primary, clock=clock) as client:
        await client.get_json("live", "/g")
        primary.default["/g"] = ("status", 500)
        clock.advance(100.0)
        with capture_logs() as logs:
            fetched = await client.get_json("live", "/g")
    assert (fetched.stale, fetched.age) == (True, 100.0)
    assert fetched.reason is not None
    assert "HTTP 500" in fetched.reason
    assert "cache.stale_served" in [e["event"] for e in logs]


async def test_an_answer_read_once_is_neither_cached_nor_served_stale(primary):
    """With store=False every call asks the upstream, without If-None-Match, and a failure
    raises even when the same URL was fetched before."""
    async with client_for(primary) as client:
        first = await client.get_json("live", "/g", store=False)
        second = await client.get_json("live", "/g", store=False)
        primary.default["/g"] = ("status", 500)
        with pytest.raises(FeedUnavailable, match="HTTP 500"):
            await client.get_json("live", "/g", store=False)
    assert first == Fetched({"path": "/g", "version": 1}, 0.0, False, "primary", "stats")
    assert second.data == first.data
    assert primary.hits["/g"] == 5
    assert all("if-none-match" not in h for h in primary.headers["/g"])


async def test_retry_after_zero_on_429_is_honoured(primary):
    """A 429 with Retry-After: 0 is retried after exactly that wait, not the backoff."""
    primary.plan("/g", ("status", (429, 0)))
    slow_backoff = RetryPolicy(attempts=2, timeout=5.0, wait_initial=3.0, wait_jitter=0.0)
    async with client_for(primary, retry=slow_backoff) as client:
        with capture_logs() as logs:
            fetched = await client.get_json("live", "/g")
    assert fetched.data["path"] == "/g"
    scheduled = [e for e in logs if e["event"] == "stamina.retry_scheduled"]
    assert [e["wait_for"] for e in scheduled] == [0.0]


async def test_long_retry_after_is_not_waited_for_and_pauses_the_budget(primary):
    """A 429 asking for more than max_retry_after ends the retries and pauses the endpoint."""
    primary.default["/g"] = ("status", (429, 120))
    clock = ManualClock()
    async with client_for(primary, clock=clock) as client:
        with pytest.raises(RateLimited) as info:
            await client.get_json("live", "/g")
        assert info.value.retry_after == 120.0
        with pytest.raises(RateLimited, match="stats:primary"):
            await client.get_json("live", "/g")
        assert client.breaker("stats").state is BreakerState.CLOSED
    assert primary.hits["/g"] == 1


async def test_retry_after_beyond_the_total_time_left_is_not_waited_for(primary):
    """A Retry-After longer than the retry budget's remaining time ends the retries."""
    primary.default["/g"] = ("status", (503, 3))
    retry = RetryPolicy(attempts=5, timeout=2.0, max_retry_after=5.0)
    async with client_for(primary, retry=retry) as client:
        with pytest.raises(FeedUnavailable, match="HTTP 503"):
            await client.get_json("live", "/g")
    assert primary.hits["/g"] == 1


async def test_503_retry_after_is_honoured(primary):
    """A 503 with Retry-After: 0 is retried at once."""
    primary.plan("/g", ("status", (503, 0)))
    async with client_for(primary) as client:
        assert (await client.get_json("live", "/g")).data["path"] == "/g"
    assert primary.hits["/g"] == 2


async def test_slow_response_is_a_feed_timeout(primary):
    """A read that exceeds the per-phase read timeout is a FeedTimeout after the retries."""
    primary.default["/g"] = "hold"
    timeout = httpx.Timeout(connect=1.0, read=0.05, write=1.0, pool=1.0)
    async with client_for(primary, timeout=timeout) as client:
        with pytest.raises(FeedTimeout, match="ReadTimeout"):
            await client.get_json("live", "/g")
    assert primary.hits["/g"] == 3


async def test_attempt_deadline_bounds_a_whole_attempt(primary):
    """The per-attempt deadline turns an answer that never comes into a FeedTimeout."""
    primary.default["/g"] = "hold"
    retry = RetryPolicy(attempts=1, attempt_timeout=0.05)
    async with client_for(primary, retry=retry) as client:
        with pytest.raises(FeedTimeout, match="no answer"):
            await client.get_json("live", "/g")


async def test_connection_reset_is_retried_then_unavailable(primary):
    """A connection dropped mid-body is a transport error: retried, then FeedUnavailable."""
    primary.default["/g"] = "reset"
    async with client_for(primary) as client:
        with pytest.raises(FeedUnavailable, match="RemoteProtocolError"):
            await client.get_json("live", "/g")
    assert primary.hits["/g"] == 3


async def test_refused_connection_is_unavailable():
    """Nothing listening on the port is FeedUnavailable (ConnectError)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    nobody = Control(base=f"http://127.0.0.1:{port}")
    async with client_for(nobody) as client:
        with pytest.raises(FeedUnavailable, match="ConnectError"):
            await client.get_json("live", "/g")


async def test_bad_json_is_a_parse_error_and_not_retried(primary):
    """A 200 whose body is not JSON is a FeedParseError on the first attempt."""
    primary.default["/g"] = "badjson"
    async with client_for(primary) as client:
        with pytest.raises(FeedParseError, match="invalid JSON"):
            await client.get_json("live", "/g")
    assert primary.hits["/g"] == 1


async def test_client_errors_are_not_retried_and_do_not_trip_the_breaker(primary):
    """A 404 fails at once and leaves the breaker's failure count alone."""
    primary.default["/g"] = ("status", 404)
    async with client_for(primary, failure_threshold=1) as client:
        with pytest.raises(FeedUnavailable, match="HTTP 404"):
            await client.get_json("live", "/g")
        assert client.breaker("stats").state is BreakerState.CLOSED
    assert primary.hits["/g"] == 1


async def test_breaker_opens_stops_calling_probes_once_and_closes(primary):
    """After N failed calls the breaker opens and the upstream is left alone; after the
    cool-down one probe goes out and its success closes the breaker."""
    clock = ManualClock()
    primary.default["/g"] = ("status", 500)
    retry = RetryPolicy(attempts=1)
    async with client_for(
        primary, clock=clock, retry=retry, failure_threshold=2, reset_timeout=30.0
    ) as client:
        for _ in range(2):
            with pytest.raises(FeedUnavailable):
                await client.get_json("live", "/g")
        breaker = client.breaker("stats")
        assert breaker.state is BreakerState.OPEN
        with pytest.raises(CircuitOpen) as info:
            await client.get_json("live", "/g")
        assert info.value.retry_at == 30.0
        assert primary.hits["/g"] == 2
        clock.advance(30.0)
        primary.default["/g"] = "ok"
        with capture_logs() as logs:
            fetched = await client.get_json("live", "/g")
        assert fetched.source == "primary"
        assert client.breaker("stats").state is BreakerState.CLOSED
    assert primary.hits["/g"] == 3
    assert [e["event"] for e in logs if e["event"].startswith("breaker.")] == [
        "breaker.half_open",
        "breaker.closed",
    ]


async def test_failover_to_secondary_and_back_when_the_breaker_recovers(primary, secondary):
    """With the primary's breaker open calls go to the secondary; after a successful probe
    they go back to the primary."""
    clock = ManualClock()
    primary.default["/g"] = ("status", 500)
    retry = RetryPolicy(attempts=1)
    async with client_for(
        primary, secondary, clock=clock, retry=retry, failure_threshold=1, reset_timeout=30.0
    ) as client:
        with capture_logs() as logs:
            first = await client.get_json("live", "/g", key="a")
            second = await client.get_json("live", "/g", key="b")
        assert (first.source, second.source) == ("secondary", "secondary")
        assert primary.hits["/g"] == 1
        assert secondary.hits["/g"] == 2
        failover = [e for e in logs if e["event"] == "feed.failover"]
        assert [e["reason"] for e in failover][1].startswith("circuit 'stats:primary' is open")
        clock.advance(30.0)
        primary.default["/g"] = "ok"
        with capture_logs() as logs:
            back = await client.get_json("live", "/g", key="c")
    assert back.source == "primary"
    assert ("feed.switched", "secondary", "primary") in [
        (e["event"], e.get("previous"), e.get("to")) for e in logs
    ]


async def test_budget_warns_before_the_limit_then_fails_over(primary, secondary):
    """The budget warns at 80% of its limit, and at the limit calls go to the secondary."""
    async with client_for(primary, secondary, budget_limit=5, budget_window=60.0) as client:
        with capture_logs() as logs:
            sources = [(await client.get_json("live", "/g", key=str(n))).source for n in range(6)]
    assert sources == ["primary"] * 5 + ["secondary"]
    events = [e["event"] for e in logs if e["event"].startswith(("budget.", "feed."))]
    assert events == ["budget.warning", "budget.exhausted", "feed.failover", "feed.switched"]
    assert primary.hits["/g"] == 5


async def test_retry_after_with_a_secondary_fails_over_at_once(primary, secondary):
    """A 429 asking to wait is not waited for while a secondary can answer: the fetch
    moves on at once, and the primary's budget stays paused for the time asked."""
    primary.plan("/g", ("status", (429, 2)))
    clock = ManualClock()
    async with client_for(primary, secondary, clock=clock) as client:
        with capture_logs() as logs:
            first = await client.get_json("live", "/g", key="a")
            during = await client.get_json("live", "/g", key="b")
        clock.advance(2.0)
        after = await client.get_json("live", "/g", key="c")
    assert [first.source, during.source, after.source] == ["secondary", "secondary", "primary"]
    assert [e for e in logs if e["event"] == "stamina.retry_scheduled"] == []
    assert (primary.hits["/g"], secondary.hits["/g"]) == (2, 2)


async def test_503_retry_after_with_a_secondary_fails_over_at_once(primary, secondary):
    """So does a 503 with Retry-After; without one it is retried on the primary first."""
    primary.plan("/g", ("status", (503, 2)), ("status", 503))
    async with client_for(primary, secondary) as client:
        told = await client.get_json("live", "/g", key="a")
        untold = await client.get_json("live", "/g", key="b")
    assert (told.source, untold.source) == ("secondary", "primary")
    assert (primary.hits["/g"], secondary.hits["/g"]) == (3, 1)


async def test_every_source_failing_gives_unavailable(primary, secondary):
    """When primary and secondary both fail and nothing is cached, lookup degrades."""
    primary.default["/g"] = ("status", 500)
    secondary.default["/g"] = "badjson"
    async with client_for(primary, secondary, retry=RetryPolicy(attempts=1)) as client:
        with pytest.raises(
            FeedUnavailable, match=r"primary: .*HTTP 500; secondary: .*invalid JSON"
        ):
            await client.get_json("live", "/g")
        answer = await client.lookup("live", "/g", key="other")
    assert isinstance(answer, Unavailable)
    assert not answer.available
    assert answer.to_json()["available"] is False
    assert "secondary" in answer.to_json()["reason"]


async def test_lookup_returns_the_document_when_it_can(primary):
    """lookup() passes a successful fetch through unchanged."""
    async with client_for(primary) as client:
        answer = await client.lookup("roster", "/team/1")
    assert isinstance(answer, Fetched)
    assert answer.to_json() == {
        "available": True,
        "data": {"path": "/team/1", "version": 1},
        "age": 0.0,
        "stale": False,
        "source": "primary",
    }


async def test_lookup_never_raises_even_on_a_bug():
    """An unexpected exception below lookup() becomes Unavailable and is logged."""

    def handler(request: httpx.Request) -> httpx.Response:
        raise RuntimeError("bug")

    up = Upstream("mock", "http://mock")
    client = ResilientClient(
        [Source("live", up)], transport=httpx.MockTransport(handler), registry=CollectorRegistry()
    )
    async with client:
        with capture_logs() as logs:
            answer = await client.lookup("live", "/x")
            unknown = await client.lookup("nope", "/x")
    assert answer == Unavailable("unexpected error: RuntimeError")
    assert isinstance(unknown, Unavailable)
    assert "unknown source" in unknown.reason
    assert "feed.lookup_crashed" in [e["event"] for e in logs]
    assert client.breaker("mock").state is BreakerState.CLOSED


async def test_concurrent_callers_share_one_request(primary):
    """Many callers asking for the same document cause a single upstream request."""
    primary.plan("/g", "hold")
    async with client_for(primary) as client:
        tasks = [asyncio.create_task(client.get_json("live", "/g")) for _ in range(10)]
        await primary.waiting.wait()
        primary.release.set()
        results = await asyncio.gather(*tasks)
    assert primary.hits["/g"] == 1
    assert {r.data["path"] for r in results} == {"/g"}


async def test_conflicting_configuration_is_refused():
    """Duplicate sources, or one upstream name with two settings, are ConfigErrors."""
    a = Upstream("u", "http://a")
    with pytest.raises(ConfigError, match="twice"):
        ResilientClient([Source("live", a), Source("live", a)], registry=CollectorRegistry())
    with pytest.raises(ConfigError, match="differently"):
        ResilientClient(
            [Source("live", a), Source("roster", Upstream("u", "http://b"))],
            registry=CollectorRegistry(),
        )


async def test_endpoint_accessors_name_what_is_missing():
    """Asking for the secondary of an upstream without one is a KeyError."""
    client = ResilientClient(
        [Source("live", Upstream("u", "http://a"))], registry=CollectorRegistry()
    )
    async with client:
        assert client.budget("u").limit == 100
        with pytest.raises(KeyError, match="no secondary"):
            client.breaker("u", "secondary")


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("7", 7.0),
        (" 0 ", 0.0),
        ("Sat, 21 Nov 2026 12:00:30 GMT", 30.0),
        ("Sat, 21 Nov 2026 11:00:00 GMT", 0.0),
        ("Sat, 21 Nov 2026 12:00:30", 30.0),
        ("soon", None),
    ],
)
def test_parse_retry_after(header, expected):
    """Retry-After is read as seconds or as an HTTP date relative to now."""
    now = 1_795_262_400.0  # 2026-11-21T12:00:00Z
    assert parse_retry_after(header, now) == expected


async def test_clients_share_the_default_registry():
    """Two clients on the default registry register their metrics only once."""
    up = Upstream("shared", "http://a")
    async with ResilientClient([Source("live", up)]), ResilientClient([Source("live", up)]):
        pass


# Hedged requests: the answers that matter never wait on the clock; a hedge that did not
# happen leaves the test waiting for the held request until the attempt's deadline, and
# the test then fails on what it got.
HEDGED = RetryPolicy(
    attempts=1,
    timeout=10.0,
    wait_initial=0.0,
    wait_max=0.0,
    wait_jitter=0.0,
    attempt_timeout=8.0,
    hedge_after=0.02,
)


def hedges(registry: CollectorRegistry, used: str) -> float:
    labels = {"upstream": "stats", "role": "primary", "used": used}
    return registry.get_sample_value("pressbox_feed_hedges_total", labels) or 0.0


async def test_a_request_that_hangs_is_hedged(primary):
    """The second request's answer is used; the hung one is not waited for."""
    primary.plan("/g", "hold")
    registry = CollectorRegistry()
    async with client_for(primary, retry=HEDGED, registry=registry) as client:
        fetched = await client.get_json("live", "/g", store=False)
        assert fetched.data == {"path": "/g", "version": 1}
        assert primary.hits["/g"] == 2
        assert not primary.release.is_set()
        assert hedges(registry, "hedge") == 1
        assert client.breaker("stats").state is BreakerState.CLOSED


async def test_an_answer_in_time_sends_no_hedge(primary):
    """An attempt answered before ``hedge_after`` is one request."""
    registry = CollectorRegistry()
    policy = RetryPolicy(attempts=1, attempt_timeout=8.0, hedge_after=5.0)
    async with client_for(primary, retry=policy, registry=registry) as client:
        await client.get_json("live", "/g", store=False)
    assert primary.hits["/g"] == 1
    assert hedges(registry, "hedge") + hedges(registry, "original") == 0


async def test_a_failed_hedge_leaves_the_original_to_answer(primary):
    """The hedge's 500 does not fail the attempt while the original may still answer."""
    primary.plan("/g", "hold", ("status", 500))
    registry = CollectorRegistry()
    async with client_for(primary, retry=HEDGED, registry=registry) as client:
        fetch = asyncio.create_task(client.get_json("live", "/g", store=False))
        await until_hits(primary, "/g", 2, fetch)
        primary.release.set()
        fetched = await fetch
    assert fetched.data == {"path": "/g", "version": 1}
    assert hedges(registry, "original") == 1


async def until_hits(control: Control, path: str, n: int, fetch: asyncio.Task[Fetched]) -> None:
    """Wait for the server's ``n``-th request for ``path``; fail if the fetch ends first."""
    while True:
        control.hit.clear()
        if control.hits[path] >= n:
            return
        hit = asyncio.ensure_future(control.hit.wait())
        await asyncio.wait({hit, fetch}, return_when=asyncio.FIRST_COMPLETED)
        hit.cancel()
        fetch_waiting(fetch)


def fetch_waiting(fetch: asyncio.Task[Fetched]) -> bool:
    """``True`` while the fetch runs; its early end is the failure under test."""
    if fetch.done():
        fetch.result()  # its error, if it failed
        raise AssertionError(f"the fetch ended before the original answered: {fetch.result()}")
    return True


async def test_both_failing_fail_the_attempt_with_the_originals_error(primary):
    """Neither answer good: the attempt fails, and the original's failure is the one told."""
    primary.plan("/g", ("hold", ("status", 503)), ("status", 500))
    registry = CollectorRegistry()
    async with client_for(primary, retry=HEDGED, registry=registry) as client:
        fetch = asyncio.create_task(client.get_json("live", "/g", store=False))
        await until_hits(primary, "/g", 2, fetch)
        primary.release.set()
        with pytest.raises(FeedUnavailable, match="HTTP 503"):
            await fetch
    assert hedges(registry, "none") == 1


async def test_no_hedge_is_sent_past_the_budget(primary):
    """The hedge spends the endpoint's budget like any request: none left, none sent,
    and the original still answers."""
    primary.plan("/g", "hold")
    registry = CollectorRegistry()
    refused = {"budget": "stats:primary"}
    async with client_for(primary, retry=HEDGED, registry=registry, budget_limit=1) as client:
        fetch = asyncio.create_task(client.get_json("live", "/g", store=False))
        while not registry.get_sample_value("pressbox_budget_rejected_total", refused):
            assert fetch_waiting(fetch)
            await asyncio.sleep(0.01)
        primary.release.set()
        fetched = await fetch
    assert fetched.data["version"] == 1
    assert primary.hits["/g"] == 1
    assert hedges(registry, "original") == 1


@pytest.mark.parametrize("hedge_after", [0.0, -1.0, 8.0, 9.0])
def test_hedge_after_out_of_range_is_refused(hedge_after):
    """``hedge_after`` must be positive and below the attempt's deadline."""
    with pytest.raises(ValueError, match="hedge_after must be above 0 and below"):
        RetryPolicy(attempt_timeout=8.0, hedge_after=hedge_after)
