"""Prediction API benchmark: cached GET /v1/predict/... on loopback, one worker.

Runs, in one invocation, each server in its own process pinned to CPU 0 (the load
generators on CPU 1), all under the same uvicorn configuration (``--http``, ``--loop``;
default httptools and uvloop):

1. ``bare``: a bare Starlette endpoint returning constant pre-encoded JSON bytes (the
   ceiling of the same server);
2. ``api-nolimit``: the pressbox app, keys checked, rate limiter off;
3. ``api``: the pressbox app with the in-process rate limiter, 64 Enterprise keys in rotation;
4. ``api-redis`` (``--redis URL``): the same with the shared Redis bucket (leases);

each at full load (wrk, closed loop, ``--connections``) and at half the full-load rate
measured (open loop: bench/openloop.c sends on a fixed schedule and measures each latency
from the time the request was due), ``--rounds`` times, the modes interleaved within a
round; then the spike run, open loop: steady high-priority predictions for 30 s, plus,
from 10 s to 20 s, low-priority requests (/v1/predictions/latest, /v1/games/{id}/plays)
at ten times that rate, with shedding on and, as a control, off.

Usage::

    python bench/api.py [--duration 8] [--rounds 3] [--redis redis://127.0.0.1:6379/0]

Needs wrk (``apt-get install wrk``) and a C compiler (``cc``). Prints Markdown tables for
docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx

HERE = Path(__file__).resolve().parent
GAMES = 20
KEYS = 64


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# ----------------------------------------------------------------------------- servers


async def _serve(
    mode: str,
    port: int,
    keys_file: Path,
    redis: str | None,
    shed: bool,
    http: str,
    max_inflight: int,
) -> None:
    import uvicorn
    from starlette.applications import Starlette
    from starlette.responses import Response
    from starlette.routing import Route

    from pressbox.api.app import create_app
    from pressbox.api.keys import create_key, keystore_from_url
    from pressbox.api.predict import encode_prediction
    from pressbox.api.settings import ApiSettings
    from pressbox.config import Settings
    from pressbox.service import Service

    sys.path.insert(0, str(HERE.parent))
    from tests.api.helpers import add_game, make_update

    config: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": port,
        "log_level": "warning",
        "access_log": False,
        "lifespan": "on",
        "http": http,
    }
    if mode == "bare":
        body = encode_prediction(make_update("BENCH00", 3)).body(time.time())

        async def bare(request: Any) -> Response:
            return Response(body, media_type="application/json")

        app: Any = Starlette(routes=[Route("/bare", bare)])
        await uvicorn.Server(uvicorn.Config(app, **config)).serve()
        return

    keys_url = f"sqlite:///{keys_file.with_suffix('.db')}"
    api = ApiSettings(
        public=False,
        keys_url=keys_url,
        ratelimit=mode != "api-nolimit",
        max_lag_s=0.05 if shed else 1000.0,
        max_inflight=max_inflight if shed else 10**6,
        low_share=0.25 if shed else 1.0,
    )
    settings = Settings(
        log_url="memory://", archive_url="sqlite://", cache_url=redis or "memory://"
    )
    async with keystore_from_url(keys_url) as store:
        tokens = [
            (await create_key(store, name=f"bench{i}", tier="enterprise", tiers=api.all_tiers()))[1]
            for i in range(KEYS)
        ]
    async with Service(settings) as service:
        for i in range(GAMES):
            await add_game(service, f"BENCH{i:02d}", updates=30)
        app = create_app(settings, service=service, api_settings=api)
        await asyncio.to_thread(keys_file.write_text, "\n".join(tokens) + "\n")
        await uvicorn.Server(uvicorn.Config(app, **config)).serve()


class Server:
    """One benchmark server in a subprocess pinned to CPU 0."""

    def __init__(
        self,
        mode: str,
        tmp: Path,
        redis: str | None,
        server: tuple[str, str],
        shed: bool = True,
        max_inflight: int = 256,
    ) -> None:
        self.mode = mode
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.keys_file = tmp / f"keys-{mode}-{self.port}.txt"
        args = [sys.executable, __file__, "_server", mode, str(self.port), str(self.keys_file)]
        args += ["--redis", redis] if redis else []
        args += [] if shed else ["--no-shed"]
        args += ["--http", server[0], "--loop", server[1], "--max-inflight", str(max_inflight)]
        self.proc = subprocess.Popen(["taskset", "-c", "0", *args])

    def __enter__(self) -> Server:
        health = "/bare" if self.mode == "bare" else "/healthz"
        for _ in range(300):
            try:
                if httpx.get(self.url + health, timeout=1).status_code == 200 and (
                    self.mode == "bare" or self.keys_file.exists()
                ):
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"server {self.mode} did not start")

    def __exit__(self, *exc: object) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)

    def cpu(self) -> float:
        """CPU seconds (user + system) the server process has used so far."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# ----------------------------------------------------------------------------- wrk

LUA = """
local keys = {}
local keys_file = os.getenv("BENCH_KEYS")
if keys_file and keys_file ~= "" then
  for line in io.lines(keys_file) do keys[#keys + 1] = line end
end
local paths = {}
for p in string.gmatch(os.getenv("BENCH_PATHS"), "[^,]+") do paths[#paths + 1] = p end
local pause = tonumber(os.getenv("BENCH_DELAY_MS") or "0")
local i = 0
request = function()
  i = i + 1
  local headers = {}
  if #keys > 0 then headers["X-API-Key"] = keys[(i % #keys) + 1] end
  return wrk.format("GET", paths[(i % #paths) + 1], headers)
end
if pause > 0 then
  delay = function() return pause end
end
"""

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if not match:
        raise ValueError(f"wrk printed a latency that is not one: {text!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def _wrk_field(pattern: str, out: str) -> str:
    # Anchored at the start of a line: the "+/- Stdev" column of the thread statistics
    # ends in "%" too (e.g. "71.50%"), and an unanchored "50%" once matched it.
    match = re.search(pattern, out, re.MULTILINE)
    if match is None:
        raise RuntimeError(f"wrk output without {pattern!r}:\n{out}")
    return match.group(1)


def wrk(
    url: str,
    paths: list[str],
    *,
    keys: Path | None,
    duration: float,
    connections: int,
    lua: Path,
) -> dict[str, float]:
    """Run wrk (closed loop) on CPU 1 and read its summary."""
    env = {
        **os.environ,
        "BENCH_KEYS": str(keys) if keys else "",
        "BENCH_PATHS": ",".join(paths),
        "BENCH_DELAY_MS": "0",
    }
    command = ["taskset", "-c", "1", "wrk", "-t1", f"-c{connections}", f"-d{duration:g}s"]
    command += ["--latency", "-s", str(lua), url]
    out = subprocess.run(command, env=env, capture_output=True, text=True, check=True).stdout
    result = {
        "rps": float(_wrk_field(r"^Requests/sec:\s+([\d.]+)", out)),
        "p50": _ms(_wrk_field(r"^\s+50%\s+(\S+)$", out)),
        "p99": _ms(_wrk_field(r"^\s+99%\s+(\S+)$", out)),
        "requests": float(_wrk_field(r"^\s+(\d+) requests in", out)),
    }
    non2xx = re.search(r"^\s+Non-2xx or 3xx responses:\s+(\d+)", out, re.MULTILINE)
    result["non2xx"] = float(non2xx.group(1)) if non2xx else 0.0
    return result


OPENLOOP_C = HERE / "openloop.c"


def build_openloop(tmp: Path) -> Path:
    """Compile bench/openloop.c with the system C compiler; the binary's path."""
    binary = tmp / "openloop"
    subprocess.run(["cc", "-O2", "-o", str(binary), str(OPENLOOP_C)], check=True)
    return binary


class OpenLoop:
    """One run of the open-loop generator (bench/openloop.c) on CPU 1, in the background.

    Args:
        binary: The compiled generator.
        url: ``http://127.0.0.1:PORT``.
        paths: Request paths, in rotation.
        keys: API keys, one per line, in rotation (``None``: no key).
        rate: Requests per second, on a fixed schedule.
        duration: Seconds of schedule.
        offset: Seconds after ``t0`` at which the schedule starts.
        connections: Keep-alive connections (a due request waits for a free one, and its
            latency counts from the time it was due).
        t0: The common start, ``time.monotonic()`` seconds (generators sharing it share
            one clock: CLOCK_MONOTONIC is the same for every process).
    """

    def __init__(
        self,
        binary: Path,
        url: str,
        paths: list[str],
        *,
        keys: Path | None,
        rate: float,
        duration: float,
        offset: float = 0.0,
        connections: int = 32,
        t0: float | None = None,
    ) -> None:
        # Beside the binary: the benchmark's temporary directory, removed at its end.
        tmp = Path(tempfile.mkdtemp(prefix="openloop-", dir=binary.parent))
        self.out = tmp / "latencies.txt"
        (tmp / "paths.txt").write_text("\n".join(paths) + "\n")
        host, port = url.removeprefix("http://").split(":")
        env = {**os.environ, "OPENLOOP_T0": f"{time.monotonic() if t0 is None else t0:.6f}"}
        self.proc = subprocess.Popen(
            [
                "taskset",
                "-c",
                "1",
                str(binary),
                host,
                port,
                f"{rate:g}",
                f"{duration:g}",
                f"{offset:g}",
                str(connections),
                str(tmp / "paths.txt"),
                str(keys) if keys else "-",
                str(self.out),
            ],
            env=env,
        )

    def result(self, since: float = 0.0, until: float = float("inf")) -> dict[str, float]:
        """Wait for the run; rate, p50, p99 (ms) and non-2xx of requests due in a window.

        Args:
            since: Seconds after ``t0`` (the window's start).
            until: Seconds after ``t0`` (the window's end).

        Returns:
            ``rps`` (answers per second of the window), ``p50``, ``p99``, ``max`` (ms, from
            the time each request was due; a request never answered counts as infinitely
            late), ``non2xx`` (503s and the like), ``lost`` (never answered), ``requests``.
        """
        if self.proc.wait() != 0:
            raise RuntimeError(f"openloop failed ({self.proc.returncode})")
        latencies: list[float] = []
        non2xx = lost = 0
        first = last = None
        with self.out.open() as lines:
            for line in lines:
                due_us, latency_us, status = line.split()
                due = float(due_us) / 1e6
                if not since <= due < until:
                    continue
                first = due if first is None else first
                last = due
                if status == "0":
                    lost += 1
                    latencies.append(float("inf"))
                    continue
                latencies.append(float(latency_us) / 1e3)
                if not status.startswith("2"):
                    non2xx += 1
        if not latencies or first is None or last is None:
            raise RuntimeError("openloop: no request in the window")
        latencies.sort()
        answered = len(latencies) - lost
        span = max(last - first, 1e-9)
        return {
            "rps": answered / span,
            "p50": _percentile(latencies, 0.50),
            "p99": _percentile(latencies, 0.99),
            "max": latencies[-1],
            "non2xx": float(non2xx),
            "lost": float(lost),
            "requests": float(len(latencies)),
        }


def _percentile(ordered: list[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _fmt(r: dict[str, float]) -> str:
    return f"{r['rps']:>9,.0f} | {r['p50']:7.2f} | {r['p99']:7.2f} | {int(r['non2xx']):>7}"


async def _drive(
    app: Any, path: str, headers: list[tuple[bytes, bytes]], n: int, query: bytes = b""
) -> float:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query,
        "root_path": "",
        "headers": [(b"host", b"127.0.0.1"), *headers],
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 8000),
    }

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    statuses: set[int] = set()

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.add(message["status"])

    best = float("inf")
    # The best of 5 rounds: on a shared machine the neighbours only ever add time.
    for _ in range(5):
        start = time.process_time()
        for _ in range(n // 5):
            await app(dict(scope), receive, send)
        best = min(best, time.process_time() - start)
    if statuses != {200}:
        raise RuntimeError(f"unexpected statuses {statuses}")
    return best / (n // 5) * 1e6


@contextlib.asynccontextmanager
async def _keyed_app(
    settings: Any, service: Any, api: Any
) -> AsyncIterator[tuple[Any, list[tuple[bytes, bytes]]]]:
    """The app over ``service``, started, and the headers of one key whose bucket never
    runs dry (so that every call takes a token)."""
    from prometheus_client import CollectorRegistry

    from pressbox.api.app import create_app
    from pressbox.api.keys import create_key
    from pressbox.api.settings import TierSpec

    app = create_app(settings, service=service, api_settings=api, registry=CollectorRegistry())
    async with app.router.lifespan_context(app):
        rt = app.state.runtime
        rt.tiers["enterprise"] = TierSpec(rate=1e9, burst=10**9, rank=3)
        rt.auth.tiers["enterprise"] = rt.tiers["enterprise"]
        _, token = await create_key(rt.keys, name="bench", tier="enterprise", tiers=rt.tiers)
        yield app, [(b"x-api-key", token.encode())]


async def inprocess(n: int = 20_000) -> list[str]:
    """CPU per request of the app alone (no server, no socket), on process time."""
    from starlette.applications import Starlette
    from starlette.responses import Response
    from starlette.routing import Route

    from pressbox.api.predict import encode_prediction
    from pressbox.api.settings import ApiSettings
    from pressbox.config import Settings
    from pressbox.service import Service

    sys.path.insert(0, str(HERE.parent))
    from tests.api.helpers import add_game, make_update

    body = encode_prediction(make_update("G1", 3)).body(time.time())

    async def bare(request: Any) -> Response:
        return Response(body, media_type="application/json")

    bare_app = Starlette(routes=[Route("/b", bare)])
    rows = [f"| bare Starlette route | {await _drive(bare_app, '/b', [], n):.1f} |"]
    settings = Settings(log_url="memory://", archive_url="sqlite://")
    async with Service(settings) as service:
        await add_game(service, "G1")
        for limited in (False, True):
            # No shedding: this loop never yields, so the lag monitor would shed it all.
            api = ApiSettings(
                public=False, keys_url="memory://", ratelimit=limited, max_lag_s=1000.0
            )
            async with _keyed_app(settings, service, api) as (app, headers):
                await _drive(app, "/v1/predict/mlb/G1", headers, 100)
                spent = await _drive(app, "/v1/predict/mlb/G1", headers, n)
                label = "limiter on (in process)" if limited else "limiter off"
                rows.append(f"| pressbox GET /v1/predict, {label} | {spent:.1f} |")
        rows.extend(await _reads(settings, service, n // 10))
    return rows


async def _reads(settings: Any, service: Any, n: int) -> list[str]:
    """CPU per game read, answered by FastAPI (read cache off) and by the edge (on)."""
    from pressbox.api.settings import ApiSettings

    reads = [
        ("/v1/games/G1", b""),
        ("/v1/games/G1/plays", b"since=0&limit=20"),
        ("/v1/predictions/latest", b""),
    ]
    rows = []
    for cached in (0.0, 60.0):
        # No shedding and no low-priority budget: this loop never yields.
        api = ApiSettings(
            public=False,
            keys_url="memory://",
            max_lag_s=1000.0,
            low_share=1.0,
            max_inflight=10**6,
            read_cache_s=cached,
        )
        async with _keyed_app(settings, service, api) as (app, headers):
            for path, query in reads:
                await _drive(app, path, headers, 50, query)
                spent = await _drive(app, path, headers, n, query)
                how = "read cache (edge)" if cached else "FastAPI (read cache off)"
                shown = path + ("?" + query.decode() if query else "")
                rows.append(f"| pressbox GET {shown}, {how} | {spent:.1f} |")
    return rows


MODES = ("bare", "api-nolimit", "api", "api-redis")


def measure(
    mode: str,
    tmp: Path,
    lua: Path,
    binary: Path,
    args: argparse.Namespace,
) -> dict[str, dict[str, float]]:
    """Full load (wrk) and half of the rate measured (open loop) against one fresh server."""
    predict = [f"/v1/predict/mlb/BENCH{i:02d}" for i in range(GAMES)]
    redis = args.redis if mode == "api-redis" else None
    server_mode = "api" if mode == "api-redis" else mode
    server_config = (args.http, args.loop)
    with Server(server_mode, tmp, redis, server_config, max_inflight=args.max_inflight) as server:
        paths = ["/bare"] if mode == "bare" else predict
        keys = None if mode == "bare" else server.keys_file
        wrk(server.url, paths, duration=2, connections=args.connections, keys=keys, lua=lua)
        cpu = server.cpu()
        full = wrk(
            server.url,
            paths,
            duration=args.duration,
            connections=args.connections,
            keys=keys,
            lua=lua,
        )
        full["per_cpu"] = full["requests"] / max(1e-9, server.cpu() - cpu)
        half_rate = full["rps"] / 2
        cpu = server.cpu()
        half = OpenLoop(
            binary, server.url, paths, keys=keys, rate=half_rate, duration=args.duration
        ).result()
        half["per_cpu"] = half["requests"] / max(1e-9, server.cpu() - cpu)
        half["rate"] = half_rate
    return {"full": full, "half": half}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--duration", type=float, default=8.0)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3, help="Rounds of every mode.")
    parser.add_argument("--redis", default=None, help="Also measure the shared Redis bucket.")
    parser.add_argument("--http", default="httptools", choices=("httptools", "h11"))
    parser.add_argument("--loop", default="uvloop", choices=("uvloop", "asyncio"))
    parser.add_argument("--skip-spike", action="store_true")
    parser.add_argument("--only-spike", action="store_true")
    parser.add_argument("--skip-inprocess", action="store_true")
    parser.add_argument(
        "--only-inprocess", action="store_true", help="Only the app-alone table (no server)."
    )
    parser.add_argument(
        "--max-inflight", type=int, default=256, help="The servers' PRESSBOX_API_MAX_INFLIGHT."
    )
    parser.add_argument(
        "--spike-rate", type=float, default=1000.0, help="Steady high-priority req/s."
    )
    parser.add_argument(
        "--spike-factor", type=float, default=10.0, help="Low-priority rate / steady rate."
    )
    parser.add_argument(
        "--spike-all",
        action="store_true",
        help="During the spike, high-priority requests also go to --spike-factor times.",
    )
    args = parser.parse_args()
    if args.only_inprocess:
        print("| app alone, per request | µs of CPU |\n|---|---:|")
        print("\n".join(asyncio.run(inprocess())), flush=True)
        return
    if shutil.which("wrk") is None:
        sys.exit("bench/api.py needs wrk: apt-get install wrk")
    print(f"server: uvicorn {_uvicorn_version()}, http={args.http}, loop={args.loop}, 1 worker")
    print(f"load average before: {_loadavg()}", flush=True)

    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        lua = tmp / "bench.lua"
        lua.write_text(LUA)
        binary = build_openloop(tmp)
        if not args.only_spike:
            if not args.skip_inprocess:
                print("\n| app alone, per cached request | µs of CPU |")
                print("|---|---:|")
                print("\n".join(asyncio.run(inprocess())), flush=True)
            modes = [m for m in MODES if m != "api-redis" or args.redis]
            results: dict[str, list[dict[str, dict[str, float]]]] = {m: [] for m in modes}
            rows: list[str] = []
            print(
                "\n| round | server | load | req/s | p50 ms | p99 ms | non-2xx | × bare "
                "| req per server CPU-s | × bare | load avg |"
            )
            print("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---|")
            for n in range(1, args.rounds + 1):
                for mode in modes:
                    got = measure(mode, tmp, lua, binary, args)
                    results[mode].append(got)
                    bare = results["bare"][-1]["full"]
                    rows += _rows(f"{n}", mode, got, bare, _loadavg())
                    print("\n".join(rows[-2:]), flush=True)
            print("\nMedian of the rounds (× bare: each round against its own bare run):\n")
            print(
                "| server | load | req/s | p50 ms | p99 ms | non-2xx | × bare "
                "| req per server CPU-s | × bare |"
            )
            print("|---|---|---|---:|---:|---:|---:|---:|---:|")
            for mode in modes:
                print(_median_rows(mode, results[mode], results["bare"]))
        if not args.skip_spike:
            spike(tmp, binary, args)
    print(f"\nload average after: {_loadavg()}")


def _rows(
    label: str, mode: str, got: dict[str, dict[str, float]], bare: dict[str, float], load: str
) -> list[str]:
    full, half = got["full"], got["half"]
    ratio = full["rps"] / bare["rps"]
    cpu_ratio = full["per_cpu"] / bare["per_cpu"]
    return [
        f"| {label} | {mode} | full | {_fmt(full)} | {ratio:4.2f} | "
        f"{full['per_cpu']:,.0f} | {cpu_ratio:4.2f} | {load} |",
        f"| {label} | {mode} | half (open loop, {half['rate']:,.0f}/s) | {_fmt(half)} | | "
        f"{half['per_cpu']:,.0f} | | |",
    ]


def _median_rows(
    mode: str, runs: list[dict[str, dict[str, float]]], bares: list[dict[str, dict[str, float]]]
) -> str:
    def med(load: str, key: str) -> float:
        return statistics.median(r[load][key] for r in runs)

    ratio = statistics.median(
        r["full"]["rps"] / b["full"]["rps"] for r, b in zip(runs, bares, strict=True)
    )
    cpu_ratio = statistics.median(
        r["full"]["per_cpu"] / b["full"]["per_cpu"] for r, b in zip(runs, bares, strict=True)
    )
    full = {k: med("full", k) for k in ("rps", "p50", "p99", "non2xx", "per_cpu")}
    half = {k: med("half", k) for k in ("rps", "p50", "p99", "non2xx")}
    return (
        f"| {mode} | full | {_fmt(full)} | {ratio:4.2f} | {full['per_cpu']:,.0f} "
        f"| {cpu_ratio:4.2f} |\n| {mode} | half | {_fmt(half)} | | | |"
    )


def _loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def _uvicorn_version() -> str:
    import uvicorn

    return str(uvicorn.__version__)


SPIKE_S = (10.0, 20.0)
"""The spike's window, seconds into the 30 s run."""


def spike(tmp: Path, binary: Path, args: argparse.Namespace) -> None:
    """Open loop: high-priority predictions at ``--spike-rate`` for 30 s; from 10 s to 20 s,
    low-priority requests at ``--spike-factor`` times that rate (and, with ``--spike-all``,
    the predictions too)."""
    predict = [f"/v1/predict/mlb/BENCH{i:02d}" for i in range(GAMES)]
    low = [
        "/v1/predictions/latest" if i % 2 else f"/v1/games/BENCH{i:02d}/plays" for i in range(GAMES)
    ]
    rate, factor = args.spike_rate, args.spike_factor
    start, end = SPIKE_S
    print(
        f"\nSpike: {rate:,.0f} high-priority req/s for 30 s; {start:g}-{end:g} s: "
        f"+{rate * factor:,.0f} low-priority req/s"
        + (f", predictions at {rate * factor:,.0f}/s" if args.spike_all else "")
        + " (open loop, latency from the time each request was due)\n"
    )
    print(
        "| shedding | high p99 ms before | high p50 ms (spike) | high p99 ms (spike) "
        "| high p99 ms (whole run) | high non-2xx | low sent | low 200 | low 503 | low lost "
        "| load avg |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for shed in (True, False):
        server_config = (args.http, args.loop)
        with Server(
            "api", tmp, None, server_config, shed=shed, max_inflight=args.max_inflight
        ) as server:
            t0 = time.monotonic() + 0.5
            keys = server.keys_file
            high = OpenLoop(
                binary,
                server.url,
                predict,
                keys=keys,
                rate=rate,
                duration=30,
                t0=t0,
                connections=32,
            )
            extra = (
                OpenLoop(
                    binary,
                    server.url,
                    predict,
                    keys=keys,
                    rate=rate * (factor - 1),
                    duration=end - start,
                    offset=start,
                    t0=t0,
                    connections=64,
                )
                if args.spike_all
                else None
            )
            lowrun = OpenLoop(
                binary,
                server.url,
                low,
                keys=keys,
                rate=rate * factor,
                duration=end - start,
                offset=start,
                t0=t0,
                connections=128,
            )
            before = high.result(0.0, start)
            during = high.result(start, end)
            whole = high.result()
            lows = lowrun.result()
            extra_note = ""
            if extra is not None:
                more = extra.result()
                extra_note = f" (extra predictions: p99 {more['p99']:.2f} ms)"
            print(
                f"| {'on' if shed else 'off'} | {before['p99']:.2f} | {during['p50']:.2f} | "
                f"{during['p99']:.2f} | {whole['p99']:.2f} | {int(whole['non2xx'])} | "
                f"{int(lows['requests']):,} | "
                f"{int(lows['requests'] - lows['non2xx'] - lows['lost']):,} | "
                f"{int(lows['non2xx']):,} | {int(lows['lost']):,} | {_loadavg()} |{extra_note}",
                flush=True,
            )


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "_server":
        inner = argparse.ArgumentParser()
        inner.add_argument("cmd")
        inner.add_argument("mode")
        inner.add_argument("port", type=int)
        inner.add_argument("keys_file", type=Path)
        inner.add_argument("--redis", default=None)
        inner.add_argument("--no-shed", action="store_true")
        inner.add_argument("--http", default="httptools")
        inner.add_argument("--loop", default="uvloop")
        inner.add_argument("--max-inflight", type=int, default=256)
        a = inner.parse_args()
        import structlog

        structlog.configure(
            wrapper_class=structlog.make_filtering_bound_logger(40)  # errors only
        )
        # Server.serve() runs in the loop it is given (uvicorn's loop= applies to run()),
        # so the loop is chosen here, as uvicorn itself does.
        factory = None
        if a.loop == "uvloop":
            import uvloop

            factory = uvloop.new_event_loop
        with asyncio.Runner(loop_factory=factory) as runner:
            runner.run(
                _serve(a.mode, a.port, a.keys_file, a.redis, not a.no_shed, a.http, a.max_inflight)
            )
    else:
        main()
