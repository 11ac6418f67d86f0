"""Live delivery benchmark: play-to-display latency and fan-out rate, SSE, WebSocket, baseline.

For each server kind (the pressbox gateway over SSE, over WebSocket, and a bare-asyncio
SSE baseline) and each client count, in one run:

1. start the server in its own process, following 15 games on Redis;
2. connect the clients from separate processes (bench/_clients.py), spread over the games;
3. memory per idle connection = growth of the server's RSS / connections;
4. paced phase: 15 games totalling 50 events/s for ``--paced-s`` seconds; latency is the
   update's ``ts_ingest`` (set just before the append) to its receipt by a client;
5. burst phase: ``--burst`` updates appended at once; delivered messages/s is the
   messages received by all clients over the time from the first append to the last
   receipt.

Every phase is bounded in time. For the pressbox gateway the paced phase also reports,
from the server itself, the ``deliver`` stage (the update's ``ts_ingest`` to its bytes
handed to every socket, from ``/metrics``) and the garbage collector's pauses per
generation (``/stats``), so that a tail can be placed on the server or on the clients.
``--loop`` and ``--http`` pick uvicorn's event loop and HTTP parser (the baseline runs
on the same loop). Example (the figures in docs/benchmarks.md)::

    .venv/bin/python bench/fanout.py --clients 1000,10000 --kinds sse,ws,baseline
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import time
import uuid
from pathlib import Path

import httpx
import msgspec

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

from tests.delivery.games import real_game_updates  # noqa: E402

from pressbox.bus import from_url, update_stream  # noqa: E402
from pressbox.engine.events import encode  # noqa: E402

BUCKET_S = 0.0002
ENV = {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}"}


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far (robust to busy neighbours)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return float("nan")  # the server is gone: the figure is void
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


class Feed:
    """Appends updates of 15 games, each a copy of a real game, with fresh ts_ingest."""

    def __init__(self, bus, games: list[str]) -> None:  # type: ignore[no-untyped-def]
        self.bus = bus
        self.games = games
        self.source = {g: real_game_updates(i % 7, game_id=g) for i, g in enumerate(games)}
        self.seq = dict.fromkeys(games, 0)
        self.turn = 0

    async def append(self, game: str | None = None) -> None:
        if game is None:
            game = self.games[self.turn % len(self.games)]
            self.turn += 1
        seq = self.seq[game] + 1
        self.seq[game] = seq
        plays = self.source[game]
        update = msgspec.structs.replace(
            plays[(seq - 1) % len(plays)],
            seq=seq,
            event_id=f"{game}:{seq}",
            ts_ingest=time.time(),
        )
        await self.bus.append(update_stream(game), encode(update), key=update.event_id)


class Clients:
    def __init__(self, procs: list[asyncio.subprocess.Process]) -> None:
        self.procs = procs

    @classmethod
    async def start(cls, kind: str, ports: list[int], games: list[str], n: int, k: int) -> Clients:
        protocol = "ws" if kind == "ws" else "sse"
        procs = []
        share = [n // k + (1 if i < n % k else 0) for i in range(k)]
        offset = 0
        for count in share:
            procs.append(
                await asyncio.create_subprocess_exec(
                    sys.executable,
                    str(ROOT / "bench" / "_clients.py"),
                    protocol,
                    "127.0.0.1",
                    ",".join(map(str, ports)),
                    ",".join(games),
                    str(count),
                    str(offset),
                    stdin=asyncio.subprocess.PIPE,
                    stdout=asyncio.subprocess.PIPE,
                    limit=64 * 1024 * 1024,
                )
            )
            offset += count
        return cls(procs)

    async def ready(self) -> int:
        total = 0
        for p in self.procs:
            assert p.stdout is not None
            line = (await asyncio.wait_for(p.stdout.readline(), 300)).decode()
            total += int(line.split()[1])
        return total

    async def ask(self, command: str) -> list[str]:
        answers = []
        for p in self.procs:
            assert p.stdin is not None
            p.stdin.write(command.encode() + b"\n")
            await p.stdin.drain()
        for p in self.procs:
            assert p.stdout is not None
            answers.append((await asyncio.wait_for(p.stdout.readline(), 60)).decode())
        return answers

    async def report(self) -> dict:
        merged: dict = {"messages": 0, "last": 0.0, "hist": {}, "closed": 0}
        for line in await self.ask("REPORT"):
            r = json.loads(line)
            merged["messages"] += r["messages"]
            merged["closed"] += r["closed"]
            merged["last"] = max(merged["last"], r["last"] or 0.0)
            for b, c in r["hist"].items():
                merged["hist"][int(b)] = merged["hist"].get(int(b), 0) + c
        return merged

    async def stop(self) -> None:
        for p in self.procs:
            if p.stdin is not None and p.returncode is None:
                p.stdin.write(b"QUIT\n")
                await p.stdin.drain()
        for p in self.procs:
            try:
                await asyncio.wait_for(p.wait(), 20)
            except TimeoutError:
                p.kill()


async def server_deliver(kind: str, ports: list[int], reset_gc: bool = False) -> dict[float, float]:
    """The gateways' ``deliver`` stage histogram (cumulative buckets, summed)."""
    buckets: dict[float, float] = {}
    if kind == "baseline":
        return buckets
    async with httpx.AsyncClient() as http:
        for port in ports:
            if reset_gc:
                await http.get(f"http://127.0.0.1:{port}/stats?reset=1")
            text = (await http.get(f"http://127.0.0.1:{port}/metrics")).text
            for line in text.splitlines():
                if line.startswith("pressbox_stage_seconds_bucket") and 'stage="deliver"' in line:
                    le = line.split('le="', 1)[1].split('"', 1)[0]
                    bound = float("inf") if le == "+Inf" else float(le)
                    buckets[bound] = buckets.get(bound, 0.0) + float(line.rsplit(" ", 1)[1])
    return buckets


def bucket_percentiles(before: dict[float, float], after: dict[float, float]) -> dict[str, str]:
    """p50/p95/p99 of a Prometheus histogram's growth, as the bucket bound (``<= x ms``)."""
    grown = sorted((b, after[b] - before.get(b, 0.0)) for b in after)
    total = grown[-1][1] if grown else 0.0
    out: dict[str, str] = {"count": str(int(total))}
    for name, q in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99)):
        for bound, count in grown:
            if total and count >= q * total:
                out[name] = f"<={bound * 1000:g}"
                break
    return out


def percentiles(hist: dict[int, int]) -> dict[str, float]:
    total = sum(hist.values())
    if not total:
        return {}
    out, seen = {}, 0
    marks = [("p50", 0.50), ("p95", 0.95), ("p99", 0.99)]
    for bucket in sorted(hist):
        seen += hist[bucket]
        while marks and seen >= marks[0][1] * total:
            out[marks[0][0]] = (bucket + 1) * BUCKET_S * 1000
            marks.pop(0)
    out["max"] = (max(hist) + 1) * BUCKET_S * 1000
    return out


async def start_server(kind: str, bus_url: str, games: list[str], max_conn: int, opts):  # type: ignore[no-untyped-def]
    if kind == "baseline":
        args = [str(ROOT / "bench" / "_baseline.py"), bus_url, ",".join(games), opts.loop]
    else:
        args = ["-m", "tests.delivery.gateway", "--bus", bus_url]
        args += ["--max-connections", str(max_conn), "--loop", opts.loop, "--http", opts.http]
        if opts.gc_freeze_s:
            args += ["--gc-freeze-s", str(opts.gc_freeze_s)]
        if opts.gc_threshold:
            args += ["--gc-threshold", opts.gc_threshold]
        if os.environ.get("BENCH_PROFILE"):
            args += ["--profile", os.environ["BENCH_PROFILE"]]
    proc = await asyncio.create_subprocess_exec(
        sys.executable, *args, cwd=ROOT, env=ENV, stdout=asyncio.subprocess.PIPE
    )
    assert proc.stdout is not None
    line = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode()
    port = int(line.split()[1])
    if kind != "baseline":
        async with httpx.AsyncClient() as client:
            for _ in range(100):
                try:
                    await client.get(f"http://127.0.0.1:{port}/stats")
                    break
                except httpx.TransportError:
                    await asyncio.sleep(0.1)
    await asyncio.sleep(0.5)
    return proc, port


async def run_one(kind: str, n: int, feed: Feed, args) -> dict:  # type: ignore[no-untyped-def]
    servers = [
        await start_server(kind, args.bus_url, feed.games, 19_000, args)
        for _ in range(args.gateways)
    ]
    procs = [proc for proc, _ in servers]
    ports = [port for _, port in servers]
    try:
        rss0 = sum(rss_kib(p.pid) for p in procs)
        k = max(1, min(args.client_procs, (n + 999) // 1000))
        clients = await Clients.start(kind, ports, feed.games, n, k)
        connected = await clients.ready()
        await asyncio.sleep(args.settle_s)
        rss1 = sum(rss_kib(p.pid) for p in procs)
        result: dict = {
            "kind": kind,
            "loop": f"{args.loop}/{args.http}" if kind != "baseline" else args.loop,
            "servers": len(procs),
            "clients": n,
            "connected": connected,
            "kib_per_conn": round((rss1 - rss0) / max(connected, 1), 2),
            "rss_mib": round(rss1 / 1024, 1),
        }
        # Paced phase: 50 events/s over 15 games.
        await clients.ask("RESET")
        deliver0 = await server_deliver(kind, ports, reset_gc=True)
        result["load_before"] = round(os.getloadavg()[0], 2)
        events = int(args.paced_s * args.rate)
        start = time.monotonic()
        for i in range(events):
            await feed.append()
            delay = start + (i + 1) / args.rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
        expected = events * connected / len(feed.games)
        deadline = time.monotonic() + args.drain_s
        while True:
            # Let the paced phase drain (bounded) so the burst counts only its own.
            await asyncio.sleep(0.5)
            report = await clients.report()
            if report["messages"] >= expected * 0.999 or time.monotonic() > deadline:
                break
        result["load_after"] = round(os.getloadavg()[0], 2)
        if kind != "baseline":
            deliver1 = await server_deliver(kind, ports)
            result["server_deliver_ms"] = bucket_percentiles(deliver0, deliver1)
            async with httpx.AsyncClient() as http:
                result["server_paced"] = [
                    (await http.get(f"http://127.0.0.1:{p}/stats")).json() for p in ports
                ]
        result.update(
            paced_events=events,
            paced_delivered=report["messages"],
            paced_expected=round(expected),
            paced_msgs_per_s=round(report["messages"] / args.paced_s),
            **{f"latency_{k}_ms": round(v, 1) for k, v in percentiles(report["hist"]).items()},
        )
        # Burst phase: --burst updates at once, delivered messages per second.
        await clients.ask("RESET")
        cpu0 = sum(cpu_s(p.pid) for p in procs)
        t0 = time.time()
        for _ in range(args.burst):
            await feed.append()
        expected = args.burst * connected / len(feed.games)
        deadline = time.monotonic() + args.burst_timeout_s
        while time.monotonic() < deadline:
            await asyncio.sleep(0.5)
            report = await clients.report()
            if report["messages"] >= expected * 0.999:
                break
        report = await clients.report()
        cpu1 = sum(cpu_s(p.pid) for p in procs)
        span = max(report["last"] - t0, 1e-6)
        result.update(
            burst_delivered=report["messages"],
            burst_expected=round(expected),
            burst_msgs_per_s=round(report["messages"] / span),
            # Server CPU per delivered message: msgs/s one core sustains, whatever the
            # neighbours do (the 0.5 s polling while waiting adds a little to both kinds).
            burst_server_cpu_s=round(cpu1 - cpu0, 2),
            burst_msgs_per_cpu_s=round(report["messages"] / max(cpu1 - cpu0, 1e-6)),
            closed=report["closed"],
        )
        await clients.stop()
        return result
    finally:
        for proc in procs:
            if proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                await asyncio.wait_for(proc.wait(), 30)
            except TimeoutError:
                proc.kill()


async def main() -> tuple[argparse.Namespace, list[dict]]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--clients", default="1000,10000")
    parser.add_argument("--kinds", default="sse,ws,baseline")
    parser.add_argument("--games", type=int, default=15)
    parser.add_argument("--rate", type=float, default=50.0, help="events/s over all games")
    parser.add_argument("--paced-s", type=float, default=10.0)
    parser.add_argument("--burst", type=int, default=300)
    parser.add_argument("--burst-timeout-s", type=float, default=60.0)
    parser.add_argument("--settle-s", type=float, default=3.0)
    parser.add_argument("--drain-s", type=float, default=15.0)
    parser.add_argument("--client-procs", type=int, default=2)
    parser.add_argument("--gateways", type=int, default=1, help="server processes per kind")
    parser.add_argument("--loop", default="asyncio", choices=["asyncio", "uvloop"])
    parser.add_argument("--http", default="h11", choices=["h11", "httptools"])
    parser.add_argument("--gc-freeze-s", type=float, default=0.0, help="gateway: gc.freeze period")
    parser.add_argument("--gc-threshold", help="gateway: gc.set_threshold, e.g. 700,10,100")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()
    prefix = f"bench-{uuid.uuid4().hex[:8]}:"
    args.bus_url = f"{args.redis}?prefix={prefix}"
    games = [f"BENCH{i:02d}" for i in range(args.games)]
    results = []
    async with from_url(args.bus_url) as bus:
        feed = Feed(bus, games)
        for game in games:
            await feed.append(game)
        try:
            for n in [int(x) for x in args.clients.split(",")]:
                for kind in args.kinds.split(","):
                    result = await run_one(kind, n, feed, args)
                    results.append(result)
                    print(json.dumps(result), flush=True)
        finally:
            for game in games:
                await bus.delete(update_stream(game))
    return args, results


def table(results: list[dict]) -> None:
    cols = [
        "kind",
        "loop",
        "clients",
        "connected",
        "latency_p50_ms",
        "latency_p95_ms",
        "latency_p99_ms",
        "latency_max_ms",
        "paced_delivered",
        "paced_expected",
        "burst_msgs_per_s",
        "burst_msgs_per_cpu_s",
        "kib_per_conn",
        "server_deliver_ms",
        "gc",
        "load_before",
        "load_after",
    ]
    print("| " + " | ".join(cols) + " |")
    print("|" + "---|" * len(cols))
    for r in results:
        stats = r.get("server_paced") or [{}]
        r["gc"] = stats[0].get("gc")
        print("| " + " | ".join(str(r.get(c, "")) for c in cols) + " |")


if __name__ == "__main__":
    options, found = asyncio.run(main())
    if options.json:
        Path(options.json).write_text(json.dumps(found, indent=2))
    table(found)
