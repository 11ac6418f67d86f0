"""Feed ingest: 200 concurrent games polled from the simulated upstream, on one core.

Usage::

    .venv/bin/python bench/ingest.py [--data SEASON_DIR] [--games 200] [--live-seconds 90]
        [--runs live,catch_up,catch_up_full,capacity,final,adapter] [--answers FILE] [--json]

SEASON_DIR defaults to ``../shared/data/retrosheet/2015`` next to the repository. The
``--games`` regular-season games whose first pitches are closest together are served by
``pressbox upstream`` (in a child process of this script, pinned to the second core), so
that they are all live at once; the pollers (:class:`pressbox.feeds.poller.PollerPool`, one
:class:`~pressbox.feeds.poller.GamePoller` per game, through the
:class:`~pressbox.feeds.http.ResilientClient` and the GUMBO adapter) run in this process,
pinned to the first core. Runs, each against a fresh upstream:

* live: the upstream at ``--live-speed`` game seconds per second (default 20), the pollers
  with the default policy (``metaData.wait`` = 10 s in play, 30 s in breaks), measured for
  ``--live-seconds`` (default 60) once the games are under way (after the half-hour
  preview). Per poll: lateness (due → started, the delay the pool adds by
  scheduling) and duration (started → every new event published: HTTP, diffPatch,
  normalization), p50/p99; CPU seconds of this process per game per minute.
* catch-up: the upstream at ``--burst-speed`` (default 300), the pollers every second,
  until every game is final: events published per CPU second with normalization, from
  diffPatch answers (``catch_up``) and from full documents (``catch_up_full``,
  ``PollPolicy(diff_patch=False)``).
* capacity: as the catch-up, with the upstream at ``--capacity-speed`` (default 2000): the
  200 games then offer more than 2,000 events a second at their peak, ten or more per poll.
  Besides the figures of the catch-up, the busiest three seconds: events published per wall
  second and the share of the pollers' core they took (the run samples its wall clock, CPU
  and events every half second). Whether one core ingests 2,000 events a second is read
  there; a catch-up's events per CPU second, at four to nine events per poll, are mostly the
  cost of a poll.
* final: the upstream at speed 0 (every game over): one full document per game,
  normalized into all of its events (events per CPU second).
* adapter (not in the default runs): a catch-up whose live-feed answers are recorded (its
  own figures not kept), then replayed twice through the adapter alone (decoding,
  patching, reading; no HTTP, no upstream pace) under the collector policy: CPU per answer
  and events per CPU second. ``--answers FILE`` saves the recorded answers there, or
  replays them from it when it exists, so that other code can take the same answers.

CPU is user + system time of this process (``time.process_time``), so the upstream's own
work on the other core does not count; wall time is printed alongside. The pollers run on
``--loop`` (default ``auto``: uvloop when installed, as ``pressbox serve`` and the pipeline
roles run); the upstream keeps asyncio's loop, so its pace (and the updates each poll
brings) stays that of earlier figures.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import datetime as dt
import gc
import logging
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx
import orjson
import structlog
from prometheus_client import CollectorRegistry

from pressbox.bench import loops
from pressbox.bench.loops import LOOPS
from pressbox.bench.rates import busiest
from pressbox.engine.events import PlayEvent
from pressbox.feeds.gumbo import GumboGame
from pressbox.feeds.poller import (
    MAX_IN_FLIGHT,
    PollerPool,
    PollPolicy,
    PollStats,
    statsapi_client,
)
from pressbox.gcpolicy import CollectorPolicy

ROOT = Path(__file__).resolve().parent.parent
DEFAULT = ROOT.parent / "shared" / "data" / "retrosheet" / "2015"


def _cores() -> tuple[int, int]:
    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else [0]
    return cores[0], cores[-1]


def _pin(core: int) -> None:
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {core})


def _select(data_dir: Path, games: int) -> object:
    """The season's data with only the ``games`` regular-season games starting closest
    together (by time of day), so that they replay side by side."""
    from pressbox.feeds.upstream import load_data

    data = load_data([data_dir])
    regular = [mg for mg in data.games.values() if mg.game.info.date[5:7] not in ("10", "11")]

    def time_of_day(mg: object) -> float:
        start: dt.datetime = mg.start_utc  # type: ignore[attr-defined]
        return (start.hour * 60 + start.minute) * 60.0

    regular.sort(key=time_of_day)
    if len(regular) < games:
        sys.exit(f"only {len(regular)} games in {data_dir}")
    best = min(
        range(len(regular) - games + 1),
        key=lambda i: time_of_day(regular[i + games - 1]) - time_of_day(regular[i]),
    )
    chosen = regular[best : best + games]
    return dataclasses.replace(data, games={mg.pk: mg for mg in chosen})


def serve(data_dir: Path, games: int, speed: float) -> None:
    """Serve the selected games (child process): print the base URL, run until killed."""
    from pressbox.feeds.upstream import run_upstream

    data = _select(data_dir, games)

    async def main() -> None:
        async with run_upstream(data, speed=speed) as base:  # type: ignore[arg-type]
            print(base, flush=True)
            await asyncio.Event().wait()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())


@contextlib.contextmanager
def upstream(data_dir: Path, games: int, speed: float, core: int):  # type: ignore[no-untyped-def]
    """A child ``serve`` process pinned to ``core``; yields its base URL."""
    proc = subprocess.Popen(
        [sys.executable, __file__, "--serve", "--data", str(data_dir),
         "--games", str(games), "--speed", str(speed)],
        stdout=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: _pin(core),
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        if not url.startswith("http"):
            sys.exit("the upstream did not start")
        yield url, proc.pid
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _cpu_of(pid: int) -> float:
    """User + system CPU seconds of another process (Linux ``/proc``)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclasses.dataclass
class Run:
    """One run's measurements."""

    games: int
    wall: float
    cpu: float
    upstream_cpu: float
    events: int
    stats: PollStats
    final: int
    gc: _GcTimer
    samples: list[tuple[float, float, int]] = dataclasses.field(default_factory=list)
    """(wall, CPU, events) every ``SAMPLE_S`` from the start of the measurement."""


SAMPLE_S = 0.5
"""How often a run samples its wall clock, CPU and events published."""

BUSIEST_S = 3.0
"""The window over which the capacity run reports its busiest ingest."""


class _GcTimer:
    """CPU seconds and count of the cyclic collector's collections, per generation (a
    ``gc.callbacks`` hook)."""

    def __init__(self) -> None:
        self.seconds = [0.0, 0.0, 0.0]
        self.count = [0, 0, 0]
        self._began = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._began = time.process_time()
            return
        generation = info["generation"]
        self.seconds[generation] += time.process_time() - self._began
        self.count[generation] += 1

    def to_json(self) -> dict[str, object]:
        return {
            "collections": self.count,
            "cpu_s": [round(s, 2) for s in self.seconds],
        }

    def __str__(self) -> str:
        return (
            f"GC {sum(self.seconds):.1f} s CPU in {self.count[0]}/{self.count[1]}/"
            f"{self.count[2]} collections (generation 0/1/2)"
        )


async def _run(
    url: str,
    pks: list[str],
    policy: PollPolicy,
    *,
    seconds: float | None,
    upstream_pid: int,
    warmup: float = 0.0,
    collector: CollectorPolicy | None = None,
    max_in_flight: int = MAX_IN_FLIGHT,
    transport: httpx.AsyncBaseTransport | None = None,
) -> Run:
    """Poll the games; measure from ``warmup`` seconds on, for ``seconds`` (or to the end),
    under ``collector`` (the ingest role's collector policy) when given."""
    events = 0

    async def publish(event: PlayEvent) -> None:
        nonlocal events
        events += 1

    async with statsapi_client(
        url,
        registry=CollectorRegistry(),
        budget_limit=1_000_000,
        timeout=httpx.Timeout(10.0),
        transport=transport,
    ) as client:
        pool = PollerPool(
            client, publish, policy=policy, max_in_flight=max_in_flight, keep_timings=True
        )
        async with asyncio.TaskGroup() as group:
            if collector is not None:
                collecting = group.create_task(collector.run())
            polling = group.create_task(pool.run(pks))
            if warmup:
                await asyncio.sleep(warmup)
            before = pool.stats()
            marks = {pk: len(p.stats.lateness) for pk, p in pool.pollers.items()}
            events0 = events
            up0 = _cpu_of(upstream_pid)
            gc_timer = _GcTimer()
            gc.callbacks.append(gc_timer)
            cpu0, wall0 = time.process_time(), time.perf_counter()
            samples: list[tuple[float, float, int]] = [(0.0, 0.0, 0)]

            async def sample() -> None:
                while True:
                    await asyncio.sleep(SAMPLE_S)
                    samples.append(
                        (time.perf_counter() - wall0, time.process_time() - cpu0, events - events0)
                    )

            sampling = group.create_task(sample())
            if seconds is None:
                await polling
            else:
                await asyncio.sleep(seconds)
                polling.cancel()
            sampling.cancel()
            wall = time.perf_counter() - wall0
            cpu = time.process_time() - cpu0
            up = _cpu_of(upstream_pid) - up0
            gc.callbacks.remove(gc_timer)
            if collector is not None:
                collecting.cancel()
    after = PollStats()
    for pk, poller in pool.pollers.items():
        mark = marks.get(pk, 0)
        after.lateness.extend(poller.stats.lateness[mark:])
        after.durations.extend(poller.stats.durations[mark:])
    total = pool.stats()
    for name in ("polls", "failures", "full", "patches", "published"):
        setattr(after, name, getattr(total, name) - getattr(before, name))
    after.errors = {
        kind: count - before.errors.get(kind, 0)
        for kind, count in total.errors.items()
        if count > before.errors.get(kind, 0)
    }
    final = sum(p.final for p in pool.pollers.values())
    samples.append((wall, cpu, events - events0))
    return Run(len(pks), wall, cpu, up, events - events0, after, final, gc_timer, samples)


class _Recorder(httpx.AsyncBaseTransport):
    """The client's default transport, keeping the body of every live-feed answer (full
    document or diffPatch, gunzipped) with its game, in the order they came."""

    def __init__(self) -> None:
        from pressbox.feeds.transport import AiohttpTransport  # here: --answers runs old code

        self._inner = AiohttpTransport()
        self.bodies: list[tuple[str, bytes]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self._inner.handle_async_request(request)
        path = request.url.path
        if response.status_code != 200 or "/feed/live" not in path:
            return response
        body = await response.aread()  # gunzipped by httpx
        await response.aclose()
        self.bodies.append((path.split("/game/")[1].split("/")[0], body))
        headers = [
            (k, v)
            for k, v in response.headers.multi_items()
            if k.lower() not in ("content-encoding", "content-length")
        ]
        return httpx.Response(response.status_code, headers=headers, content=body)

    async def aclose(self) -> None:
        await self._inner.aclose()


async def _replay(
    bodies: list[tuple[str, bytes]], collector: CollectorPolicy | None
) -> dict[str, object]:
    """The recorded answers through the adapter alone (decode, patch, read), in the order
    they came, one GumboGame per game, under ``collector``: no HTTP, no upstream pace."""
    games: dict[str, GumboGame] = {}
    events = 0
    decode = 0.0
    async with asyncio.TaskGroup() as group:
        collecting = group.create_task(collector.run()) if collector is not None else None
        await asyncio.sleep(0)
        gc_timer = _GcTimer()
        gc.callbacks.append(gc_timer)
        cpu0 = time.process_time()
        for pk, body in bodies:
            began = time.process_time()
            payload = orjson.loads(body)
            decode += time.process_time() - began
            events += len(games.setdefault(pk, GumboGame()).update(payload))
            await asyncio.sleep(0)  # the collector policy's timer runs as in a poller
        cpu = time.process_time() - cpu0
        gc.callbacks.remove(gc_timer)
        if collecting is not None:
            collecting.cancel()
    return {
        "answers": len(bodies),
        "megabytes": round(sum(len(b) for _, b in bodies) / 1e6, 1),
        "events": events,
        "cpu_s": round(cpu, 2),
        "decode_cpu_s": round(decode, 2),
        "cpu_ms_per_answer": round(cpu / len(bodies) * 1000, 2),
        "events_per_cpu_s": round(events / cpu),
        "gc": gc_timer.to_json(),
    }


def _games(url: str) -> list[str]:
    games = httpx.get(f"{url}/pressbox/games", timeout=30).json()
    rows = games["mlb"]
    return [str(g["gamePk"]) for g in rows]


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def _ms(values: list[float], q: float) -> str:
    return f"{_pct(values, q) * 1000:.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT)
    parser.add_argument("--games", type=int, default=200)
    parser.add_argument("--live-seconds", type=float, default=60.0)
    parser.add_argument("--live-speed", type=float, default=20.0)
    parser.add_argument("--burst-speed", type=float, default=300.0)
    parser.add_argument(
        "--capacity-speed",
        type=float,
        default=2000.0,
        help="The capacity run's replay speed (default 2000: more than 2,000 events a second "
        "offered at the peak by 200 games).",
    )
    parser.add_argument("--speed", type=float, default=0.0, help=argparse.SUPPRESS)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--json", action="store_true", help="Print the figures as JSON.")
    parser.add_argument(
        "--max-in-flight",
        type=int,
        default=MAX_IN_FLIGHT,
        help="Most live-feed requests in flight at once (default: PollerPool's).",
    )
    parser.add_argument(
        "--loop",
        choices=LOOPS,
        default="auto",
        help="The pollers' event loop: auto (uvloop when installed, as pressbox serve and the "
        "pipeline roles run), uvloop or asyncio. The upstream keeps asyncio's.",
    )
    parser.add_argument(
        "--gc",
        choices=("policy", "interpreter"),
        default="policy",
        help="The pollers' garbage collection: the ingest role's collector policy "
        "(pressbox.gcpolicy, as the app runs it; default) or the interpreter's defaults.",
    )
    parser.add_argument(
        "--answers",
        type=Path,
        help="The adapter run's recorded answers: replayed from FILE if it exists, else "
        "recorded and saved there (to replay the same answers through other code).",
    )
    parser.add_argument(
        "--runs",
        default="live,catch_up,catch_up_full,capacity,final",
        help="Comma-separated runs to make (default: all but 'adapter', which records a "
        "catch-up's answers and replays them through the adapter alone).",
    )
    args = parser.parse_args()
    runs = set(args.runs.split(","))
    unknown = runs - {"live", "catch_up", "catch_up_full", "capacity", "final", "adapter"}
    if unknown:
        parser.error(f"unknown runs: {', '.join(sorted(unknown))}")
    if args.serve:
        serve(args.data, args.games, args.speed)
        return
    if not args.data.exists():
        sys.exit(f"no such data: {args.data}")
    # Only errors: a line per finished game or stale answer would cost more than it tells.
    # Plain tracebacks: the console renderer's default shows every frame's locals, which with
    # a run's recorded answers in scope means rendering hundreds of megabytes.
    processors = [*structlog.get_config()["processors"][:-1]]
    processors.append(
        structlog.dev.ConsoleRenderer(exception_formatter=structlog.dev.plain_traceback)
    )
    structlog.configure(
        wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR), processors=processors
    )
    mine, theirs = _cores()
    _pin(mine)
    print(
        f"{args.games} games from {args.data.name}; pollers on core {mine}, "
        f"upstream on core {theirs}",
        file=sys.stderr,
    )
    out: dict[str, object] = {"games": args.games}
    if "live" in runs:
        _live(args, out, theirs)
    _batches(args, out, theirs, runs)
    if "adapter" in runs:
        _adapter(args, out, theirs)
    if args.json:
        print(orjson.dumps(out, option=orjson.OPT_INDENT_2).decode())


def _adapter(args: argparse.Namespace, out: dict[str, object], theirs: int) -> None:
    """The adapter run: a catch-up recorded (its own figures not kept: recording costs),
    then its answers replayed through the adapter alone, twice."""
    saved: Path | None = args.answers
    if saved is not None and saved.exists():
        bodies = _load_answers(saved)
    else:
        recorder = _Recorder()
        _to_the_end(args, args.burst_speed, CATCH_UP, theirs, transport=recorder)
        bodies = recorder.bodies
        if saved is not None:
            _save_answers(saved, bodies)
    replays = [loops.run(_replay(bodies, _collector(args)), args.loop) for _ in range(2)]
    out["adapter"] = {"speed": args.burst_speed, "replays": replays}
    for r in replays:
        print(
            f"adapter: {r['answers']} answers ({r['megabytes']} MB), {r['events']} events in "
            f"{r['cpu_s']} s CPU (decoding {r['decode_cpu_s']} s): {r['cpu_ms_per_answer']} ms "
            f"per answer, {r['events_per_cpu_s']:,} events per CPU second; GC {r['gc']}",
            file=sys.stderr,
        )


def _save_answers(path: Path, bodies: list[tuple[str, bytes]]) -> None:
    """Each answer as a ``<game> <length>`` line and its bytes."""
    with path.open("wb") as out:
        for pk, body in bodies:
            out.write(f"{pk} {len(body)}\n".encode())
            out.write(body)


def _load_answers(path: Path) -> list[tuple[str, bytes]]:
    bodies = []
    with path.open("rb") as src:
        while line := src.readline():
            pk, size = line.decode().split()
            bodies.append((pk, src.read(int(size))))
    return bodies


def _collector(args: argparse.Namespace) -> CollectorPolicy | None:
    """The collector policy of the ingest role (the app's defaults), unless ``--gc
    interpreter``."""
    return CollectorPolicy(registry=CollectorRegistry()) if args.gc == "policy" else None


def _live(args: argparse.Namespace, out: dict[str, object], theirs: int) -> None:
    """The live run: the default policy at the feed's own cadence."""
    with upstream(args.data, args.games, args.live_speed, theirs) as (url, pid):
        pks = _games(url)
        live = loops.run(
            _run(
                url,
                pks,
                PollPolicy(),
                seconds=args.live_seconds,
                upstream_pid=pid,
                # The preview is out half an hour of game time before first pitch.
                warmup=1800.0 / args.live_speed + 15.0,
                collector=_collector(args),
                max_in_flight=args.max_in_flight,
            ),
            args.loop,
        )
    s = live.stats
    added = [a + b for a, b in zip(s.lateness, s.durations, strict=True)]
    out["live"] = {
        "speed": args.live_speed,
        "wall_s": round(live.wall, 1),
        "polls": s.polls,
        "polls_per_s": round(s.polls / live.wall, 1),
        "full": s.full,
        "patches": s.patches,
        "failures": s.failures,
        "errors": s.errors,
        "events": live.events,
        "lateness_p50_ms": round(_pct(s.lateness, 50) * 1000, 2),
        "lateness_p99_ms": round(_pct(s.lateness, 99) * 1000, 2),
        "duration_p50_ms": round(_pct(s.durations, 50) * 1000, 2),
        "duration_p99_ms": round(_pct(s.durations, 99) * 1000, 2),
        "added_p50_ms": round(_pct(added, 50) * 1000, 2),
        "added_p99_ms": round(_pct(added, 99) * 1000, 2),
        "cpu_s": round(live.cpu, 2),
        "cpu_core_share": round(live.cpu / live.wall, 3),
        "cpu_ms_per_game_per_min": round(live.cpu / live.games / (live.wall / 60) * 1000, 1),
        "upstream_cpu_s": round(live.upstream_cpu, 2),
        "gc": live.gc.to_json(),
    }
    print(
        f"live: {s.polls} polls in {live.wall:.0f} s ({s.full} full, {s.patches} patches, "
        f"{s.failures} failed: {s.errors}), {live.events} events; "
        f"lateness p50 {_ms(s.lateness, 50)} p99 {_ms(s.lateness, 99)}; "
        f"poll p50 {_ms(s.durations, 50)} p99 {_ms(s.durations, 99)}; CPU {live.cpu:.1f} s "
        f"({live.cpu / live.wall:.0%} of the core, "
        f"{live.cpu / live.games / (live.wall / 60) * 1000:.0f} ms per game per minute); "
        f"upstream CPU {live.upstream_cpu:.1f} s; {live.gc}",
        file=sys.stderr,
    )


CATCH_UP = PollPolicy(action=1.0, pause=1.0, honour_wait=False, retry=0.5, max_backoff=2.0)
"""The catch-up's polling: every game every second."""


def _to_the_end(
    args: argparse.Namespace,
    speed: float,
    policy: PollPolicy,
    theirs: int,
    transport: httpx.AsyncBaseTransport | None = None,
) -> Run:
    """Every game polled with ``policy`` from a fresh upstream at ``speed`` until final."""
    with upstream(args.data, args.games, speed, theirs) as (url, pid):
        return loops.run(
            _run(
                url,
                _games(url),
                policy,
                seconds=None,
                upstream_pid=pid,
                collector=_collector(args),
                max_in_flight=args.max_in_flight,
                transport=transport,
            ),
            args.loop,
        )


def _batches(args: argparse.Namespace, out: dict[str, object], theirs: int, runs: set[str]) -> None:
    """The catch-up and final runs: events per CPU second."""
    for name, speed, policy in (
        ("catch_up", args.burst_speed, CATCH_UP),
        ("catch_up_full", args.burst_speed, dataclasses.replace(CATCH_UP, diff_patch=False)),
        ("capacity", args.capacity_speed, CATCH_UP),
        ("final", 0.0, PollPolicy()),
    ):
        if name not in runs:
            continue
        run = _to_the_end(args, speed, policy, theirs)
        s = run.stats
        out[name] = {
            "speed": speed,
            "wall_s": round(run.wall, 1),
            "cpu_s": round(run.cpu, 2),
            "polls": s.polls,
            "full": s.full,
            "patches": s.patches,
            "failures": s.failures,
            "errors": s.errors,
            "events": run.events,
            "final_games": run.final,
            "events_per_cpu_s": round(run.events / run.cpu),
            "events_per_poll": round(run.events / s.polls, 1),
            "cpu_ms_per_poll": round(run.cpu / s.polls * 1000, 2),
            "events_per_wall_s": round(run.events / run.wall),
            "upstream_cpu_s": round(run.upstream_cpu, 2),
            "gc": run.gc.to_json(),
        }
        peak = busiest(run.samples, BUSIEST_S)
        if peak is not None:
            out[name]["busiest"] = {
                "from_s": round(peak.from_s, 1),
                "seconds": round(peak.seconds, 1),
                "events_per_s": round(peak.per_s),
                "cpu_core_share": round(peak.cpu_core_share, 3),
            }
        print(
            f"{name}: {run.events} events of {run.final}/{run.games} games in "
            f"{run.wall:.1f} s wall, {run.cpu:.1f} s CPU: {run.events / run.cpu:,.0f} events "
            f"per CPU second ({run.events / run.wall:,.0f}/s wall); {s.polls} polls "
            f"({s.full} full, {s.patches} patches, {s.failures} failed: {s.errors}), "
            f"{run.events / s.polls:.1f} events and {run.cpu / s.polls * 1000:.2f} ms CPU per "
            f"poll; upstream CPU {run.upstream_cpu:.1f} s; {run.gc}",
            file=sys.stderr,
        )
        if peak is not None:
            print(
                f"{name}: busiest {peak.seconds:.1f} s (from {peak.from_s:.1f} s): "
                f"{peak.per_s:,.0f} events/s, the pollers using {peak.cpu_core_share:.0%} "
                "of their core",
                file=sys.stderr,
            )


if __name__ == "__main__":
    main()
