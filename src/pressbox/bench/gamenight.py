"""Game night, measured: the whole system under a championship-Saturday load, on loopback.

:func:`run_gamenight` starts, each in its own process:

1. the simulated upstream (:mod:`.run_upstream`) replaying one day's slate of real games
   (optionally with faults);
2. the pipeline (:mod:`.run_pipeline`): poller → event log → processors → archive →
   delivery and API; one process on the embedded defaults, or one per role group (ingest;
   process; gateway + API) when the log is ``redis://``;
3. the load: SSE and WebSocket client processes (:mod:`.run_clients`) and an API load
   process (:mod:`.run_api`) with keys of several tiers created beforehand;

waits until every client holds its first snapshot, measures for ``duration`` seconds,
collects every process's counters and ``/proc`` figures, and returns the report
(:class:`GamenightConfig` → JSON). Everything is bounded in time and stopped at the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import platform
import re
import select
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit, urlunsplit

from pressbox.api.keys import create_key, keystore_from_url
from pressbox.api.settings import ApiSettings
from pressbox.bench.run_api import TIER_SHARE

MAX_PER_PROCESS = 9000
"""Most connections of one client process (one epoll loop; one open file each)."""

API_MAX_CONNECTIONS = 1024
"""Most connections of the API load process; a request due with every one busy is not
sent (counted as ``unsent``)."""

STREAM_KEY_SHARE = 900
"""Streams per stream key: under the gateway's 1,000 per key and process."""


@dataclass(frozen=True, slots=True)
class GamenightConfig:
    """What to run.

    Attributes:
        data: Retrosheet season folders or files for the upstream.
        games: Games of the slate (the day's games closest together in first pitch).
        date: The day (``YYYY-MM-DD``); the tightest day with enough games when ``None``.
        speed: Upstream game seconds per real second.
        sse_clients: SSE connections, one game each, spread evenly over the games.
        ws_clients: WebSocket connections, likewise.
        api_rps: REST requests per second offered.
        duration: Seconds measured (after every client has its first snapshot).
        drain: Most seconds to wait after the measurement for every connection to hold
            the updates published during it (what is still missing then is lost).
        warmup: Seconds between the clients being ready and the replay's start.
        poll: The poller's interval, seconds (while a game's push channel is down).
        push_poll: With the Gameday push channel, the poller's safety-net interval,
            seconds; ``0`` polls alone every ``poll`` seconds.
        api_max_lag: The API's shedding threshold (``PRESSBOX_API_MAX_LAG_S``), seconds of
            event-loop lag past which it refuses work with 503 (default ``0.25``, as
            ``pressbox serve``).
        loop: Event loop of the upstream, pipeline and API-load processes: ``"auto"`` (uvloop when
            installed), ``"uvloop"`` or ``"asyncio"``.
        client_procs: SSE client processes (default: one per core, more when a process
            would hold over :data:`MAX_PER_PROCESS` connections).
        faults: The upstream's fault spec (``docs/upstream.md``).
        mirror: Give the pipeline the upstream's mirror (the same replay on a second port,
            faults drawn alike) as its secondary source: a fetch the primary refuses or
            asks to wait (``Retry-After``) goes there (docs/resilience.md).
        harness_nice: Niceness of the harness's processes (upstream, clients, API load),
            ``0`` for none. They stand in for machines elsewhere; on the machine under test
            a client woken by each update it is sent would otherwise preempt the server in
            the middle of its fan-out (the scheduler favours a task that was asleep).
        seed: The fault seed.
        log_url: Event log (``memory://`` embedded, ``redis://...``).
        archive_url: Archive (a SQLite file in the work folder when ``None``).
        cache_url: API cache and limits (``memory://``, or the log's Redis).
        split_gateway: With a ``redis://`` log, run the gateway and the API in two processes
            (two ports) instead of one.
        client_read_every: Seconds between two looks of a client process at its sockets
            (0: as soon as data comes); the wait is part of the latency measured.
        receipt_stamps: The client processes also time each update at the kernel's
            receipt of its bytes (``play_to_receipt_ms``); it costs them a little CPU.
        api_pace: Seconds the API load process sleeps between two looks at its sockets
            (0: it waits in ``epoll_wait`` and is woken by each answer); the waits are part
            of the API latency measured.
        stream_writers: Writer processes of the gateway (``PRESSBOX_API_STREAM_WRITERS``,
            :mod:`pressbox.delivery.writers`); 0: the gateway writes the streams itself.
            Two by default: a burst of updates (several games' plays at once) is sent
            from both cores instead of queueing behind one writer.
        reset: Empty the Redis database and the PostgreSQL schema first (they must be
            dedicated to the benchmark); a PostgreSQL database that does not exist yet is
            created.
        workdir: Where processes write their files and logs (a temporary folder if
            ``None``).
    """

    data: tuple[str, ...]
    games: int = 15
    date: str | None = None
    speed: float = 500.0
    sse_clients: int = 10_000
    ws_clients: int = 1_000
    api_rps: float = 1000.0
    duration: float = 30.0
    drain: float = 60.0
    warmup: float = 2.0
    poll: float = 0.1
    push_poll: float = 1.0
    client_procs: int | None = None
    loop: str = "auto"
    api_max_lag: float = 0.25
    faults: str = ""
    mirror: bool = True
    harness_nice: int = 3
    seed: int = 0
    log_url: str = "memory://"
    archive_url: str | None = None
    cache_url: str = "memory://"
    split_gateway: bool = False
    stream_writers: int = 2
    client_read_every: float = 0.005
    receipt_stamps: bool = False
    api_pace: float = 0.001
    reset: bool = False
    workdir: str | None = None


@dataclass(slots=True)
class _Proc:
    role: str
    popen: subprocess.Popen[bytes]
    cpu0: float = 0.0
    buf: bytes = b""
    stderr: IO[str] | None = None
    report: dict[str, Any] = field(default_factory=dict)


# ------------------------------------------------------------------------------ /proc


def _stat(pid: int | str) -> list[str] | None:
    """The fields of ``/proc/<pid>/stat`` after the command name (state first), if any."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def cpu_seconds(pid: int) -> float:
    """User plus system CPU seconds of a process so far (``/proc/<pid>/stat``)."""
    fields = _stat(pid)
    if fields is None:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def child_pids(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (a gateway's writer processes), by pid."""
    found: list[int] = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat(entry.name)
            if fields is not None and int(fields[1]) == pid:
                found.append(int(entry.name))
    return sorted(found)


def memory_mb(pid: int, field_name: str = "VmHWM") -> float:
    """A ``/proc/<pid>/status`` memory field in MiB (``VmHWM``: peak resident set)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field_name + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


# ------------------------------------------------------------------------------ stats


def percentile(hist: Mapping[int, int], q: float) -> float | None:
    """The ``q`` quantile (0..1) of a histogram of whole milliseconds; ``None`` if empty."""
    total = sum(hist.values())
    if total == 0:
        return None
    rank = max(1, math.ceil(q * total))
    seen = 0
    for value in sorted(hist):
        seen += hist[value]
        if seen >= rank:
            return float(value)
    return float(max(hist))


def summary(hist: Mapping[int, int]) -> dict[str, float | int | None]:
    """Count, p50, p95, p99 and max of a millisecond histogram."""
    return {
        "count": sum(hist.values()),
        "p50": percentile(hist, 0.50),
        "p95": percentile(hist, 0.95),
        "p99": percentile(hist, 0.99),
        "max": float(max(hist)) if hist else None,
    }


def merge(into: dict[int, int], more: Mapping[str, int]) -> None:
    """Add a JSON histogram (string keys) into an integer-keyed one."""
    for key, count in more.items():
        into[int(key)] += count


def missing_at_end(last_seq: Mapping[str, list[int]], final: Mapping[str, int]) -> int:
    """Updates each connection still lacked at the end (the games' last ``seq`` known)."""
    lost = 0
    for game, seqs in last_seq.items():
        end = final.get(game, 0)
        for seq in seqs:
            lost += max(0, end - max(seq, 0))
    return lost


def peak_rate(times: Iterable[float], t0: float, t1: float) -> int:
    """The most of ``times`` in one whole second of ``[t0, t1)``."""
    counts: dict[int, int] = defaultdict(int)
    for when in times:
        if t0 <= when < t1:
            counts[int(when - t0)] += 1
    return max(counts.values(), default=0)


def live_rate(times: Iterable[float], t0: float, t1: float) -> float | None:
    """``times`` in ``[t0, t1)`` per second from the first of them to the last: the rate
    while the games ran (a slate whose games end inside the window would have a diluted
    mean over the whole window). ``None`` with fewer than two."""
    inside = [when for when in times if t0 <= when < t1]
    span = max(inside) - min(inside) if len(inside) > 1 else 0.0
    return round(len(inside) / span, 1) if span > 0 else None


def prometheus_samples(text: str, name: str) -> dict[str, float]:
    """The samples of one family by their label set (``'outcome="ok",trigger="push"'``)."""
    out: dict[str, float] = {}
    prefix = name + "{"
    for line in text.splitlines():
        if line.startswith(prefix):
            labels, _, number = line[len(prefix) :].rpartition("} ")
            with contextlib.suppress(ValueError):
                out[labels] = float(number)
    return out


def poller_figures(text: str) -> dict[str, Any]:
    """The poller's metrics from a ``/metrics`` text: polls by outcome and trigger, the
    mean time of a poll by trigger, push messages by kind, push connects by outcome,
    channels by state, upstream fetches by endpoint and outcome, hedged requests, and the
    count and mean of the server's poll-stage histogram (publication to the log)."""
    stage = prometheus_samples(text, "pressbox_stage_seconds_count")
    total = prometheus_samples(text, "pressbox_stage_seconds_sum")
    count = stage.get('stage="poll"', 0.0)
    durations = prometheus_samples(text, "pressbox_poll_seconds_sum")
    polls_timed = prometheus_samples(text, "pressbox_poll_seconds_count")
    return {
        "poll_duration_mean_ms": {
            labels: round(1000 * durations.get(labels, 0.0) / n, 1)
            for labels, n in polls_timed.items()
            if n
        },
        "polls": prometheus_samples(text, "pressbox_polls_total"),
        "push_messages": prometheus_samples(text, "pressbox_push_messages_total"),
        "push_connects": prometheus_samples(text, "pressbox_push_connects_total"),
        "push_channels": prometheus_samples(text, "pressbox_push_channels"),
        "fetches": prometheus_samples(text, "pressbox_feed_fetches_total"),
        "hedges": prometheus_samples(text, "pressbox_feed_hedges_total"),
        "poll_stage": {
            "count": count,
            "mean_ms": round(1000 * total.get('stage="poll"', 0.0) / count, 1) if count else None,
        },
    }


_LABEL = re.compile(r'(\w+)="([^"]*)"')


def histogram_window(before: str, after: str, name: str, **labels: str) -> dict[float, float]:
    """One histogram's cumulative bucket counts (``{le: count}``, ``le`` in seconds, the
    last ``inf``) gathered between two ``/metrics`` texts of the same process; only the
    series whose labels include ``labels``."""

    def buckets(text: str) -> dict[float, float]:
        out: dict[float, float] = defaultdict(float)
        for key, count in prometheus_samples(text, name + "_bucket").items():
            found = dict(_LABEL.findall(key))
            if "le" in found and all(found.get(k) == v for k, v in labels.items()):
                out[float(found["le"])] += count
        return out

    start, end = buckets(before), buckets(after)
    return {le: end[le] - start.get(le, 0.0) for le in sorted(end)}


def bucket_quantile(cumulative: Mapping[float, float], q: float) -> float | None:
    """The upper bound (seconds) of the bucket that holds quantile ``q``; ``None`` with
    no observation."""
    total = cumulative.get(math.inf, 0.0)
    if total <= 0:
        return None
    for le, count in sorted(cumulative.items()):
        if count >= q * total:
            return le
    return math.inf


def loop_figures(before: str, after: str) -> dict[str, Any]:
    """What the serving process's event loop went through between two ``/metrics`` texts:
    its lag (``pressbox_event_loop_lag_seconds``: the bucket bounds, in ms, that hold
    the p50, p99 and p99.9, and the samples over 25 and 100 ms) and the garbage
    collector's pauses by generation (count, total ms, pauses over 10 ms)."""

    def at_most(cumulative: Mapping[float, float], q: float) -> float | None:
        bound = bucket_quantile(cumulative, q)
        return None if bound is None else 1000 * bound

    lag = histogram_window(before, after, "pressbox_event_loop_lag_seconds")
    samples = lag.get(math.inf, 0.0)
    pauses: dict[str, dict[str, float]] = {}
    sums = prometheus_samples(after, "pressbox_gc_pause_seconds_sum")
    sums_before = prometheus_samples(before, "pressbox_gc_pause_seconds_sum")
    for generation in ("0", "1", "2"):
        hist = histogram_window(before, after, "pressbox_gc_pause_seconds", generation=generation)
        key = f'generation="{generation}"'
        n = hist.get(math.inf, 0.0)
        pauses[generation] = {
            "count": n,
            "total_ms": round(1000 * (sums.get(key, 0.0) - sums_before.get(key, 0.0)), 1),
            "over_10ms": n - hist.get(0.01, n),
        }
    return {
        "lag_ms": {
            "samples": samples,
            "p50_at_most": at_most(lag, 0.5),
            "p99_at_most": at_most(lag, 0.99),
            "p999_at_most": at_most(lag, 0.999),
            "over_25ms": samples - lag.get(0.025, samples),
            "over_100ms": samples - lag.get(0.1, samples),
        },
        "gc_pauses": pauses,
    }


def prometheus_totals(text: str) -> dict[str, float]:
    """Sum the samples of each ``pressbox_*`` counter and gauge over their labels."""
    out: dict[str, float] = defaultdict(float)
    for line in text.splitlines():
        if not line.startswith("pressbox_") or "_bucket{" in line:
            continue
        name = line.split("{", 1)[0].split(" ", 1)[0]
        if name.endswith("_created"):
            continue
        with contextlib.suppress(ValueError):
            out[name] += float(line.rsplit(" ", 1)[1])
    return dict(out)


# ------------------------------------------------------------------------------ helpers


def free_port() -> int:
    """A free loopback port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _wait_file(path: Path, proc: _Proc, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc.popen.poll() is not None:
            raise RuntimeError(f"{proc.role} exited with {proc.popen.returncode}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"{proc.role} not ready after {timeout:.0f} s")
        time.sleep(0.05)


def _lines(proc: _Proc, timeout: float) -> Iterator[str]:
    """Lines the process prints on stdout until ``timeout`` (raw reads: no text buffering)."""
    if proc.popen.stdout is None:
        raise RuntimeError(f"{proc.role} has no stdout pipe")
    fd = proc.popen.stdout.fileno()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        while b"\n" in proc.buf:
            line, proc.buf = proc.buf.split(b"\n", 1)
            yield line.decode()
        ready, _, _ = select.select([fd], [], [], 0.1)
        if ready:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                raise RuntimeError(f"{proc.role} exited with {proc.popen.wait()}")
            proc.buf += chunk
    raise TimeoutError(f"{proc.role}: no answer after {timeout:.0f} s")


def _wait_line(proc: _Proc, prefix: str, timeout: float) -> str:
    for line in _lines(proc, timeout):
        if line.startswith(prefix):
            return line
    raise AssertionError("unreachable")  # pragma: no cover


def _tell(proc: _Proc, command: str) -> None:
    if proc.popen.stdin is None:
        raise RuntimeError(f"{proc.role} has no stdin pipe")
    proc.popen.stdin.write(command.encode() + b"\n")
    proc.popen.stdin.flush()


def _get_json(url: str, key: str | None = None, timeout: float = 2.0) -> Any:
    headers = {"X-API-Key": key} if key else {}
    request = urllib.request.Request(url, headers=headers)  # noqa: S310 - loopback http
    with urllib.request.urlopen(request, timeout=timeout) as answer:  # noqa: S310 - loopback
        return json.loads(answer.read())


def _get_text(url: str, timeout: float = 5.0) -> str:
    with urllib.request.urlopen(url, timeout=timeout) as answer:  # noqa: S310 - loopback
        text: str = answer.read().decode()
        return text


def _wait_breakers_closed(api: str, timeout: float) -> None:
    """Wait until no breaker of the pipeline is open (the connection storm may trip one)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            text = _get_text(f"{api}/metrics")
            if not any(
                line.startswith("pressbox_breaker_state{")
                and 'state="open"' in line
                and not line.endswith(" 0.0")
                for line in text.splitlines()
            ):
                return
        time.sleep(0.5)


def _final_seqs(api: str, games: list[str], key: str) -> dict[str, int]:
    out = {}
    for game in games:
        try:
            doc = _get_json(f"{api}/v1/games/{game}", key)
        except OSError:
            out[game] = 0
            continue
        update = doc.get("update") or doc.get("latest") or {}
        out[game] = int(update.get("seq") or doc.get("seq") or 0)
    return out


async def _make_keys(url: str, counts: Mapping[str, int]) -> dict[str, list[str]]:
    tiers = ApiSettings().all_tiers()
    out: dict[str, list[str]] = defaultdict(list)
    async with keystore_from_url(url) as store:
        for label, n in counts.items():
            # Streams hold enterprise keys: the per-key stream limit is what matters there.
            tier = "enterprise" if label == "stream" else label
            for i in range(n):
                _, token = await create_key(
                    store, name=f"gamenight-{label}-{i}", tier=tier, tiers=tiers
                )
                out[label].append(token)
    return dict(out)


def client_processes(connections: int, wanted: int | None) -> int:
    """Client processes for ``connections``: ``wanted`` (default one per core), at least
    enough that none holds over :data:`MAX_PER_PROCESS`, at most one per connection.

    More processes than cores would not read faster, only switch more: the clients share
    the cores with what they measure.
    """
    if connections <= 0:
        return 0
    base = wanted if wanted is not None else (os.cpu_count() or 1)
    return min(connections, max(1, base, math.ceil(connections / MAX_PER_PROCESS)))


def key_counts(cfg: GamenightConfig) -> dict[str, int]:
    """Keys per tier: enough that each tier's share of the load stays at about 70 % of its
    rate, except ``community`` (one key, over its limit on purpose: 429s are counted)."""
    tiers = ApiSettings().all_tiers()
    counts = {"stream": max(1, math.ceil((cfg.sse_clients + cfg.ws_clients) / STREAM_KEY_SHARE))}
    for tier, share in TIER_SHARE.items():
        need = cfg.api_rps * share / (0.7 * tiers[tier].rate)
        counts[tier] = 1 if tier == "community" else max(1, math.ceil(need))
    return counts


async def _reset(cfg: GamenightConfig) -> None:
    import asyncpg
    import redis.asyncio as aioredis

    for url in {cfg.log_url, cfg.cache_url}:
        if url.startswith("redis://"):
            client = aioredis.from_url(url)
            await client.flushdb()
            await client.aclose()
    if cfg.archive_url and cfg.archive_url.startswith("postgresql://"):
        try:
            conn = await asyncpg.connect(cfg.archive_url)
        except asyncpg.InvalidCatalogNameError:
            await create_database(cfg.archive_url)
            conn = await asyncpg.connect(cfg.archive_url)
        await conn.execute("DROP SCHEMA IF EXISTS public CASCADE; CREATE SCHEMA public;")
        await conn.close()


async def create_database(url: str) -> None:
    """Create the PostgreSQL database that ``url`` names, through the server's ``postgres``
    maintenance database (a fresh machine has no dedicated game-night database)."""
    import asyncpg

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    if not name or not name.replace("_", "").isalnum():
        raise ValueError(f"{url!r}: the database name must be letters, digits and underscores")
    conn = await asyncpg.connect(urlunsplit(parts._replace(path="/postgres")))
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    except asyncpg.DuplicateDatabaseError:
        pass  # created meanwhile by another run
    finally:
        await conn.close()


# ------------------------------------------------------------------------------ run


@contextlib.contextmanager
def _processes() -> Iterator[list[_Proc]]:
    procs: list[_Proc] = []
    try:
        yield procs
    finally:
        for proc in procs:
            if proc.popen.poll() is None:
                proc.popen.terminate()
        for proc in procs:
            try:
                proc.popen.wait(10)
            except subprocess.TimeoutExpired:
                proc.popen.kill()
                proc.popen.wait()
            for pipe in (proc.popen.stdin, proc.popen.stdout, proc.stderr):
                if pipe is not None:
                    with contextlib.suppress(OSError):
                        pipe.close()


def _spawn(
    procs: list[_Proc],
    role: str,
    module: str,
    args: list[str],
    workdir: Path,
    env: Mapping[str, str] | None = None,
    pipes: bool = False,
    nice: int = 0,
) -> _Proc:
    stderr = (workdir / f"{role}.log").open("w")
    popen = subprocess.Popen(  # noqa: S603 - this interpreter and pressbox's own modules
        [sys.executable, "-m", f"pressbox.bench.{module}", *args],
        stdin=subprocess.PIPE if pipes else subprocess.DEVNULL,
        stdout=subprocess.PIPE if pipes else subprocess.DEVNULL,
        stderr=stderr,
        env={**os.environ, **(env or {})},
    )
    if nice:
        with contextlib.suppress(OSError):  # not allowed here: the run goes on without
            os.setpriority(os.PRIO_PROCESS, popen.pid, nice)
    proc = _Proc(role, popen, stderr=stderr)
    procs.append(proc)
    return proc


def run_gamenight(cfg: GamenightConfig, *, progress: Any = None) -> dict[str, Any]:
    """Run the benchmark; the report as a JSON-ready dict.

    Args:
        cfg: What to run.
        progress: A callable taking one line of progress text (or ``None``).

    Returns:
        The report (see ``docs/gamenight.md``).

    Raises:
        RuntimeError: A process exited early.
        TimeoutError: A process did not get ready in time.
    """
    say = progress or (lambda _line: None)
    with contextlib.ExitStack() as stack:
        if cfg.workdir:
            workdir = Path(cfg.workdir)
            workdir.mkdir(parents=True, exist_ok=True)
        else:
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="gamenight-")))
        procs = stack.enter_context(_processes())
        return _run(cfg, workdir, procs, say)
    raise AssertionError("unreachable")  # pragma: no cover


def clear_workdir(workdir: Path) -> list[Path]:
    """Remove what an earlier run left in a kept work folder; the files removed.

    The waits of a run must see its own files (the slate, the publication table, the
    readiness files), and its games must start from nothing: an archive that holds them
    final already would restore them, and the run would publish nothing. Logs and reports
    stay (they are overwritten).
    """
    stale = [
        *workdir.glob("upstream.json"),
        *workdir.glob("upstream.json.publish"),
        *workdir.glob("*.ready"),
        *workdir.glob("keys.db*"),
        *workdir.glob("archive.db*"),
    ]
    for path in stale:
        path.unlink(missing_ok=True)
    return stale


def _run(cfg: GamenightConfig, workdir: Path, procs: list[_Proc], say: Any) -> dict[str, Any]:
    if cfg.reset:
        asyncio.run(_reset(cfg))
    # 1. The upstream.
    slate_file = workdir / "upstream.json"
    clear_workdir(workdir)
    upstream = _spawn(
        procs,
        "upstream",
        "run_upstream",
        [
            "--data",
            *cfg.data,
            "--games",
            str(cfg.games),
            "--speed",
            str(cfg.speed),
            "--faults",
            cfg.faults,
            "--seed",
            str(cfg.seed),
            "--out",
            str(slate_file),
            "--loop",
            cfg.loop,
            *(["--date", cfg.date] if cfg.date else []),
        ],
        workdir,
        nice=cfg.harness_nice,
    )
    _wait_file(slate_file, upstream, 180)
    slate = json.loads(slate_file.read_text())
    games: list[str] = slate["games"]
    say(f"upstream {slate['url']}: {len(games)} games of {slate['date']}")

    # 2. Keys, then the pipeline.
    keys_url = f"sqlite:///{workdir / 'keys.db'}"
    keys = asyncio.run(_make_keys(keys_url, key_counts(cfg)))
    port = free_port()
    api_port = free_port() if cfg.split_gateway else port
    env = {
        "PRESSBOX_LOG_URL": cfg.log_url,
        "PRESSBOX_ARCHIVE_URL": cfg.archive_url or f"sqlite:///{workdir / 'archive.db'}",
        "PRESSBOX_CACHE_URL": cfg.cache_url,
        "PRESSBOX_API_KEYS_URL": keys_url,
        "PRESSBOX_API_PUBLIC": "0",
        # Like `pressbox serve`: roles that share a loop shed only on a lasting lag.
        "PRESSBOX_API_MAX_LAG_S": str(cfg.api_max_lag),
        "PRESSBOX_API_STREAM_WRITERS": str(cfg.stream_writers),
    }
    common = [
        "--upstream",
        slate["url"],
        "--games",
        ",".join(games),
        "--poll",
        str(cfg.poll),
        "--push-poll",
        str(cfg.push_poll),
        "--publish",
        str(slate_file) + ".publish",
        "--loop",
        cfg.loop,
    ]
    if cfg.mirror:
        common += ["--upstream-secondary", slate["mirror"]]
    if cfg.log_url.startswith("memory://"):
        groups = [("pipeline", "ingest,process,gateway,api")]
    else:
        groups = [("ingest", "ingest"), ("process", "process"), ("gateway+api", "gateway,api")]
        if cfg.split_gateway:
            groups[2:] = [("gateway", "gateway"), ("api", "api")]
    front: _Proc | None = None
    for role, roles in groups:
        ready = workdir / f"{role}.ready"
        proc = _spawn(
            procs,
            role,
            "run_pipeline",
            [
                "--roles",
                roles,
                "--port",
                str(api_port if roles == "api" else port),
                "--ready",
                str(ready),
                *common,
            ],
            workdir,
            env,
        )
        _wait_file(ready, proc, 60)
        if "gateway" in roles:
            front = proc
    if front is None:
        raise RuntimeError("no process serves the streams")
    api = f"http://127.0.0.1:{api_port}"
    say(f"pipeline {api}: {', '.join(r for r, _ in groups)}")
    rss_before = memory_mb(front.popen.pid, "VmRSS")

    # 3. The clients, then the API load.
    stream_keys = ",".join(keys["stream"])
    clients: list[_Proc] = []
    for proto, total, nproc in (
        ("sse", cfg.sse_clients, client_processes(cfg.sse_clients, cfg.client_procs)),
        ("ws", cfg.ws_clients, client_processes(cfg.ws_clients, 1)),
    ):
        for i in range(nproc):
            n = total // nproc + (1 if i < total % nproc else 0)
            offset = i * (total // nproc)
            clients.append(
                _spawn(
                    procs,
                    f"{proto}-clients-{i}",
                    "run_clients",
                    [
                        "--proto",
                        proto,
                        "--port",
                        str(port),
                        "--games",
                        ",".join(games),
                        "--n",
                        str(n),
                        "--offset",
                        str(offset),
                        "--keys",
                        stream_keys,
                        "--read-every",
                        str(cfg.client_read_every),
                        *(["--stamps"] if cfg.receipt_stamps else []),
                    ],
                    workdir,
                    pipes=True,
                    nice=cfg.harness_nice,
                )
            )
    for proc in clients:
        _wait_line(proc, "READY", 120 + (cfg.sse_clients + cfg.ws_clients) / 100)
    rss_after = memory_mb(front.popen.pid, "VmRSS")
    say(f"clients ready: {cfg.sse_clients} SSE, {cfg.ws_clients} WebSocket")
    loader: _Proc | None = None
    if cfg.api_rps > 0:
        api_keys = ",".join(f"{t}:{k}" for t in TIER_SHARE for k in keys.get(t, []))
        # Connections opened up front; the open loop opens more (up to --max-conns) when
        # answers are slow, rather than sending less.
        workers = max(4, min(128, math.ceil(cfg.api_rps / 20)))
        loader = _spawn(
            procs,
            "api-load",
            "run_api",
            [
                "--port",
                str(api_port),
                "--rps",
                str(cfg.api_rps),
                "--games",
                ",".join(games),
                "--keys",
                api_keys,
                "--workers",
                str(workers),
                "--max-conns",
                str(API_MAX_CONNECTIONS),
                "--loop",
                cfg.loop,
                "--pace",
                str(cfg.api_pace),
            ],
            workdir,
            pipes=True,
            nice=cfg.harness_nice,
        )
        _wait_line(loader, "READY", 30)
    time.sleep(cfg.warmup)
    _wait_breakers_closed(api, 60)

    # 4. Start the replay and measure.
    publish_file = Path(str(slate_file) + ".publish")
    upstream.popen.send_signal(signal.SIGUSR1)
    _wait_file(publish_file, upstream, 30)
    published = json.loads(publish_file.read_text())
    slate["publish"] = published["publish"]
    t0 = published["started"]
    for proc in [*clients, *([loader] if loader else [])]:
        _tell(proc, f"MEASURE {t0} {publish_file}")
    for proc in procs:
        proc.cpu0 = cpu_seconds(proc.popen.pid)
    # The pipeline's own children (the gateway's writer processes) are pipeline CPU too.
    kids = {
        f"{p.role}/writer-{i}": pid
        for p in procs
        if p.role not in _HARNESS_ROLES and p not in clients
        for i, pid in enumerate(child_pids(p.popen.pid))
    }
    kids_cpu0 = {role: cpu_seconds(pid) for role, pid in kids.items()}
    metrics_before = ""
    with contextlib.suppress(OSError):
        metrics_before = _get_text(f"{api}/metrics")
    seq0: dict[str, int] = {}  # the replay was held: no game had an update before t0
    say(f"measuring {cfg.duration:.0f} s")
    time.sleep(max(0.0, t0 + cfg.duration - time.time()))
    t1 = time.time()
    cpu = {p.role: cpu_seconds(p.popen.pid) - p.cpu0 for p in procs}
    peak = {p.role: memory_mb(p.popen.pid) for p in procs}  # before reports end the clients
    for role, pid in kids.items():
        cpu[role] = cpu_seconds(pid) - kids_cpu0[role]
        peak[role] = memory_mb(pid)
    if loader is not None:
        loader.report = _ask_report(loader)
    final = _final_seqs(api, games, keys["enterprise"][0])
    metrics_text = ""
    with contextlib.suppress(OSError):
        metrics_text = _get_text(f"{api}/metrics")
    # Kept for a closer look than the report's: every histogram's buckets at the end.
    (workdir / "metrics.prom").write_text(metrics_text)
    drained = _drain(clients, final, cfg.drain)
    for proc in clients:
        proc.report = _ask_report(proc)
    health: dict[str, Any] = {}
    with contextlib.suppress(OSError, ValueError):
        health = _get_json(f"{slate['url']}/pressbox/health")
    for p in procs:
        peak[p.role] = max(peak[p.role], memory_mb(p.popen.pid))
    report = _report(
        cfg,
        slate,
        procs,
        clients,
        loader,
        cpu,
        peak,
        t0,
        t1,
        seq0,
        final,
        rss_before,
        rss_after,
        metrics_text,
        health,
    )
    report["drain_s"] = drained
    report["event_loop"] = loop_figures(metrics_before, metrics_text)
    report["wp_compute_us"] = _wp_times(workdir)
    ingest_metrics = _ingest_metrics(workdir)
    if ingest_metrics:
        report["poller"] = poller_figures(ingest_metrics)
    return report


def _ingest_metrics(workdir: Path) -> str:
    """The Prometheus text a split ingest process saved last (``ingest.ready.prom``; it
    serves no ``/metrics``), empty when there is none (the embedded pipeline's poller
    metrics come from its ``/metrics``)."""
    with contextlib.suppress(OSError):
        return (workdir / "ingest.ready.prom").read_text()
    return ""


def _wp_times(workdir: Path) -> dict[str, dict[str, float | int | None]]:
    """Win-probability call times of every pipeline process, merged, by method (µs)."""
    merged: dict[str, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    for path in workdir.glob("*.ready.wp.json"):
        with contextlib.suppress(OSError, ValueError):
            for method, hist in json.loads(path.read_text()).items():
                merge(merged[method], hist)
    return {method: summary(hist) for method, hist in merged.items()}


def _drain(clients: list[_Proc], final: dict[str, int], limit: float) -> float:
    """Wait until every connection holds each game's last update (at most ``limit`` s);
    a late update is late, not lost. Returns the seconds waited."""
    start = time.monotonic()
    while time.monotonic() - start < limit:
        behind = 0
        for proc in clients:
            _tell(proc, "BEHIND " + json.dumps(final))
            _, count, most = _wait_line(proc, "BEHIND", 30).split(" ", 2)
            behind += int(count)
            for game, seq in json.loads(most).items():
                if seq > final.get(game, 0):
                    # A client is further than the API said: every client must get there.
                    final[game] = seq
                    behind += 1
        if behind == 0:
            break
        time.sleep(0.5)
    return round(time.monotonic() - start, 2)


def _ask_report(proc: _Proc) -> dict[str, Any]:
    _tell(proc, "REPORT")
    report: dict[str, Any] = json.loads(_wait_line(proc, "{", 60))
    return report


def _report(
    cfg: GamenightConfig,
    slate: dict[str, Any],
    procs: list[_Proc],
    clients: list[_Proc],
    loader: _Proc | None,
    cpu: dict[str, float],
    peak: dict[str, float],
    t0: float,
    t1: float,
    seq0: dict[str, int],
    final: dict[str, int],
    rss_before: float,
    rss_after: float,
    metrics_text: str,
    health: dict[str, Any],
) -> dict[str, Any]:
    elapsed = t1 - t0
    pub: dict[int, int] = defaultdict(int)
    ingest: dict[int, int] = defaultdict(int)
    emit: dict[int, int] = defaultdict(int)
    poll: dict[int, int] = defaultdict(int)
    process: dict[int, int] = defaultdict(int)
    series: dict[int, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    lost = dup = delivered = reconnects = unmapped = 0
    breakdown: dict[str, int] = defaultdict(int)
    refused: dict[str, int] = defaultdict(int)
    by_proto: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    pub_by_proto: dict[str, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    emit_by_proto: dict[str, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    pub_rx: dict[int, int] = defaultdict(int)
    pub_rx_by_proto: dict[str, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    emit_rx_by_proto: dict[str, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    # ``final``: each game's last seq when the measurement ended (the API's, raised by the
    # drain to the furthest any client had then); later updates are outside the window.
    first_seen: dict[str, float] = {}
    for proc in clients:
        r = proc.report
        for key, when in r["first_seen"].items():
            first_seen[key] = min(when, first_seen.get(key, when))
        proto = proc.role.split("-", 1)[0]
        merge(pub, r["pub_ms"])
        merge(ingest, r["ingest_ms"])
        merge(emit, r["emit_ms"])
        merge(pub_by_proto[proto], r["pub_ms"])
        merge(emit_by_proto[proto], r["emit_ms"])
        merge(pub_rx, r["pub_rx_ms"])
        merge(pub_rx_by_proto[proto], r["pub_rx_ms"])
        merge(emit_rx_by_proto[proto], r["emit_rx_ms"])
        merge(poll, r.get("poll_ms", {}))
        merge(process, r.get("process_ms", {}))
        for second, counts in r["series"].items():
            merge(series[int(second)], counts)
        tail = missing_at_end(r["last_seq"], final)
        lost += r["lost"] + r["resnapshot_lost"] + tail
        breakdown["gaps"] += r["lost"]
        breakdown["resnapshot"] += r["resnapshot_lost"]
        breakdown["resnapshots"] += r["resnapshots"]
        breakdown["missing_at_end"] += tail
        dup += r["duplicates"]
        delivered += r["updates"]
        reconnects += r["reconnects"]
        unmapped += r["unmapped"]
        for status, n in r["refused"].items():
            refused[status] += n
        by_proto[proto]["connections"] += r["connections"]
        by_proto[proto]["updates"] += r["updates"]
        by_proto[proto]["lost"] += r["lost"] + r["resnapshot_lost"] + tail
        by_proto[proto]["duplicates"] += r["duplicates"]
    points = [
        wall for table in slate["publish"].values() for wall in table.values() if t0 <= wall < t1
    ]
    produced = sum(max(0, final[g] - seq0.get(g, 0)) for g in final)
    api_out: dict[str, Any] = {}
    status_total: dict[str, int] = defaultdict(int)
    stale_total = 0
    if loader is not None:
        r = loader.report
        span = elapsed
        stale_by_label = r.get("stale", {})
        for label, statuses in sorted(r["status"].items()):
            endpoint, tier = label.split("|")
            stale = stale_by_label.get(label, 0)
            ms: dict[int, int] = defaultdict(int)
            merge(ms, r["ms"][label])
            n = sum(statuses.values())
            api_out.setdefault(endpoint, {})[tier] = {
                "requests": n,
                "rps": round(n / span, 1),
                "p50_ms": percentile(ms, 0.5),
                "p99_ms": percentile(ms, 0.99),
                "status_counts": dict(statuses),
                "stale": stale,
            }
            for status, count in statuses.items():
                status_total[status] += count
            stale_total += stale
        lag: dict[int, int] = defaultdict(int)
        merge(lag, r["send_lag_ms"])
        api_summary: dict[str, Any] = {
            "offered_rps": cfg.api_rps,
            "scheduled_rps": round(r["scheduled"] / span, 1),
            "sent_rps": round(r["sent"] / span, 1),
            "rps": round(r["answered"] / span, 1),
            "unsent": r["unsent"],
            "most_connections": r["most_connections"],
            "send_lag_ms": summary(lag),
            "status_counts": dict(status_total),
            "stale_answers": stale_total,
            # The slowest answer of each second of the window (seconds from its start).
            "slowest_ms_by_second": {
                str(int(second) - int(t0)): ms
                for second, ms in sorted(r.get("slowest_ms_by_second", {}).items())
                if t0 <= float(second) < t1
            },
            "refused": prometheus_samples(metrics_text, "pressbox_api_refused_total"),
            "client_errors": r["errors"],
        }
    else:
        api_summary = {
            "offered_rps": 0,
            "scheduled_rps": 0.0,
            "sent_rps": 0.0,
            "rps": 0.0,
            "unsent": 0,
            "status_counts": {},
            "stale_answers": 0,
            "client_errors": {},
        }
    connections = cfg.sse_clients + cfg.ws_clients
    totals = prometheus_totals(metrics_text)
    five_xx = sum(n for s, n in status_total.items() if s.startswith("5"))
    five_xx += sum(n for s, n in refused.items() if s.startswith("5"))
    return {
        "config": {k: v for k, v in asdict(cfg).items() if k != "workdir"},
        "slate": {"date": slate["date"], "games": slate["games"]},
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
        },
        "started": t0,
        "duration_s": round(elapsed, 2),
        "play_to_display_ms": summary(pub),
        "play_to_receipt_ms": summary(pub_rx) if cfg.receipt_stamps else None,
        "ingest_to_display_ms": summary(ingest),
        "emit_to_display_ms": summary(emit),
        "stages_ms": {
            "poll": summary(poll),
            "process": summary(process),
            "deliver": summary(emit),
        },
        "lost_updates": lost,
        "lost_breakdown": dict(breakdown),
        "duplicate_updates": dup,
        "unmapped_updates": unmapped,
        "reconnects": reconnects,
        "stream_refusals": dict(refused),
        "upstream_points_per_s": round(len(points) / elapsed, 1),
        "events_per_s": round(produced / elapsed, 1),
        "live_events_per_s": live_rate(first_seen.values(), t0, t1),
        "peak_events_per_s": peak_rate(first_seen.values(), t0, t1),
        "delivered_per_s": round(delivered / elapsed, 1),
        "clients": {
            k: {
                **v,
                "play_to_display_ms": summary(pub_by_proto[k]),
                "deliver_ms": summary(emit_by_proto[k]),
                **(
                    {
                        "play_to_receipt_ms": summary(pub_rx_by_proto[k]),
                        "deliver_receipt_ms": summary(emit_rx_by_proto[k]),
                    }
                    if cfg.receipt_stamps
                    else {}
                ),
            }
            for k, v in by_proto.items()
        },
        "api": {**api_summary, "endpoints": api_out},
        "status_5xx": five_xx,
        "status_429": status_total.get("429", 0) + refused.get("429", 0),
        "status_503": status_total.get("503", 0) + refused.get("503", 0),
        "processes": {
            role: {
                "cpu_s": round(seconds, 2),
                "cpu_pct": round(100 * seconds / elapsed, 1),
                "peak_rss_mb": round(peak.get(role, 0.0), 1),
            }
            for role, seconds in cpu.items()
        },
        "harness": _harness(procs, clients, loader, cpu, elapsed),
        "memory_per_connection_kb": (
            round(1024 * (rss_after - rss_before) / connections, 1) if connections else None
        ),
        "metrics": totals,
        "poller": poller_figures(metrics_text),
        "upstream": {
            k: health.get(k) for k in ("faults", "requests", "faultCounts") if k in health
        },
        "series": [
            {"t": second - int(t0), **{k: v for k, v in summary(hist).items() if k != "max"}}
            for second, hist in sorted(series.items())
        ],
    }


_HARNESS_ROLES = ("upstream", "api-load")


def _harness(
    procs: list[_Proc],
    clients: list[_Proc],
    loader: _Proc | None,
    cpu: Mapping[str, float],
    elapsed: float,
) -> dict[str, Any]:
    """What the benchmark's own processes took of the machine, to tell whether they, and
    not pressbox, limited the run: client processes against cores, their CPU, the load
    generator's lag behind its schedule."""
    cores = os.cpu_count() or 1
    client_roles = {p.role for p in clients}
    harness_cpu = sum(
        cpu.get(p.role, 0.0) for p in procs if p.role in client_roles or p.role in _HARNESS_ROLES
    )
    pipeline_cpu = sum(
        seconds
        for role, seconds in cpu.items()
        if role not in client_roles and role not in _HARNESS_ROLES
    )
    busiest = max((cpu.get(p.role, 0.0) for p in clients), default=0.0)
    lag = loader.report.get("send_lag_ms") if loader is not None else None
    lag_hist: dict[int, int] = defaultdict(int)
    if lag:
        merge(lag_hist, lag)
    return {
        "cores": cores,
        "client_processes": len(clients),
        "cpu_s": {
            "harness": round(harness_cpu, 2),
            "pipeline": round(pipeline_cpu, 2),
            "machine": round(cores * elapsed, 2),
        },
        "busiest_client_cpu_pct": round(100 * busiest / elapsed, 1) if elapsed else None,
        "api_send_lag_ms": summary(lag_hist),
        "api_unsent": loader.report.get("unsent", 0) if loader is not None else 0,
    }


def plot(report: Mapping[str, Any], path: str | Path) -> None:
    """Draw play-to-display latency (p50, p95, p99) per second of the run into a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = report["series"]
    fig, ax = plt.subplots(figsize=(9, 4))
    for key in ("p50", "p95", "p99"):
        ax.plot([r["t"] for r in rows], [r[key] for r in rows], label=key)
    ax.set_xlabel("seconds into the run")
    ax.set_ylabel("play-to-display latency (ms)")
    cfg = report["config"]
    ax.set_title(
        f"game night: {len(report['slate']['games'])} games, {cfg['sse_clients']} SSE + "
        f"{cfg['ws_clients']} WS clients, {cfg['api_rps']:.0f} API req/s"
        + (f", faults {cfg['faults']}" if cfg["faults"] else ""),
        fontsize=9,
    )
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
