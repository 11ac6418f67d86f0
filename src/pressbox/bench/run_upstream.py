"""The game-night upstream process: the simulated upstream serving one slate of real games.

``python -m pressbox.bench.run_upstream --data PATH... --games N [--date D] --speed X
--faults SPEC --seed S --out FILE`` loads the data, keeps the ``N`` games of one day whose
first pitches are closest together (so that they are live at the same time), starts the
replay and serves it on two free loopback ports. Before serving it writes ``FILE`` (JSON):

- ``url``: the base URL;
- ``mirror``: the same replay on the second port, for a pipeline's secondary source;
- ``date``, ``games``: the day and the ``gamePk`` of each game kept;
The replay is **held** at its start (every game in its preview) until the process gets
SIGUSR1, so that the pipeline and thousands of clients can connect first; then it runs,
and the process writes ``FILE.publish`` (JSON): for each game, the wall-clock second (Unix)
at which the upstream publishes each of its points, keyed by the point's game-time
``timeStamp`` as Unix seconds. The adapter stamps every event with that game time
(``ts_source``: ``about.endTime`` of the play, ``endTime`` of the pitch), so a client that
receives an update looks its ``ts_source`` up there to learn when the upstream published
the play: play-to-display latency is measured from the upstream's publication, not from
pressbox's ingest.

It serves until SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import signal
import sys
import time
from collections import defaultdict
from pathlib import Path

from prometheus_client import CollectorRegistry

from pressbox.bench import loops
from pressbox.feeds.upstream.app import create_upstream_app
from pressbox.feeds.upstream.data import MlbGame, UpstreamData, load_data
from pressbox.feeds.upstream.faults import parse_faults
from pressbox.feeds.upstream.server import bound_port, make_server
from pressbox.gcpolicy import CollectorPolicy


class HeldClock:
    """Real time that stands still until :meth:`start`, then runs from where it stood."""

    def __init__(self) -> None:
        self._mono0 = time.monotonic()
        self._wall0 = time.time()
        self._started: tuple[float, float] | None = None

    @property
    def held_at(self) -> float:
        """The wall-clock second at which time stood still."""
        return self._wall0

    def start(self) -> float:
        """Let time run; the wall-clock second at which it started."""
        if self._started is None:
            self._started = (time.monotonic(), time.time())
        return self._started[1]

    def monotonic(self) -> float:
        """Frozen before the start, then real seconds since it."""
        if self._started is None:
            return self._mono0
        return self._mono0 + time.monotonic() - self._started[0]

    def time(self) -> float:
        """Likewise for wall-clock time (as it stood when the clock was made)."""
        if self._started is None:
            return self._wall0
        return self._wall0 + time.monotonic() - self._started[0]


def choose_slate(games: list[MlbGame], count: int, date: str | None) -> tuple[str, list[MlbGame]]:
    """The day and its ``count`` games whose first pitches are closest together.

    Args:
        games: Every loaded MLB game.
        count: How many games to keep (fewer when the day has fewer).
        date: The day (``YYYY-MM-DD``); the day with the tightest slate of ``count`` games
            when ``None`` (the first such day on a tie; days with fewer games only when no
            day has enough).

    Returns:
        The day and its chosen games, in first-pitch order.

    Raises:
        ValueError: No game on that day, or no game at all.
    """
    by_day: dict[str, list[MlbGame]] = defaultdict(list)
    for mg in games:
        by_day[mg.game.info.date].append(mg)
    if date is not None and date not in by_day:
        raise ValueError(f"no game on {date}")
    if not by_day:
        raise ValueError("no MLB game in the data")
    best: tuple[tuple[int, float], str, list[MlbGame]] | None = None
    for day in [date] if date is not None else sorted(by_day):
        ordered = sorted(by_day[day], key=lambda mg: (mg.start_utc, mg.pk))
        k = min(count, len(ordered))
        for i in range(len(ordered) - k + 1):
            window = ordered[i : i + k]
            span = (window[-1].start_utc - window[0].start_utc).total_seconds()
            # More games first, then the tightest span.
            score = (-k, span)
            if best is None or score < best[0]:
                best = (score, day, window)
    if best is None:
        raise ValueError("no slate")
    return best[1], best[2]


async def serve(args: argparse.Namespace) -> None:
    """Build the app, write the publication table, serve until a signal."""
    data = load_data(args.data)
    date, chosen = choose_slate(list(data.games.values()), args.games, args.date)
    kept = {mg.pk: mg for mg in chosen}
    slate: UpstreamData = dataclasses.replace(data, games=kept, nfl={}, cache={})
    clock = HeldClock()
    app = create_upstream_app(
        slate,
        speed=args.speed,
        faults=parse_faults(args.faults),
        seed=args.seed,
        date=date,
        clock=clock,
    )
    upstream = app.state.upstream
    # Every clean answer and notification of the slate worked out before anyone connects,
    # as a CDN in front of the real API would have them: the replay's single core then
    # answers instead of building documents (docs/gamenight.md).
    began = time.process_time()
    steps = sum(upstream.prepare(mg) for mg in chosen)
    print(
        f"prepared {steps} updates of {len(chosen)} games in {time.process_time() - began:.1f} s",
        file=sys.stderr,
    )
    # The upstream holds every document it built for a while: keep the collector's full
    # passes over them from stalling its answers, as the pipeline does.
    collector = asyncio.create_task(CollectorPolicy(registry=CollectorRegistry()).run())
    # The same replay on two ports: the second is the mirror a pipeline can name as its
    # secondary source (faults are drawn per request, so the two fail independently).
    servers = [make_server(app, "127.0.0.1", 0) for _ in ("primary", "mirror")]
    tasks = []
    for server in servers:
        server.config.setup_event_loop = lambda: None  # type: ignore[method-assign]
        tasks.append(asyncio.create_task(server.serve()))
        while not server.started:
            await asyncio.sleep(0.01)
            if tasks[-1].done():
                tasks[-1].result()
    out = {
        "url": f"http://127.0.0.1:{bound_port(servers[0])}",
        "mirror": f"http://127.0.0.1:{bound_port(servers[1])}",
        "date": date,
        "games": [str(mg.pk) for mg in chosen],
    }
    stop = asyncio.Event()
    go = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGUSR1, go.set)
    _write(Path(args.out), out)
    waits = [asyncio.create_task(stop.wait()), asyncio.create_task(go.wait())]
    await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    if go.is_set():
        started = clock.start()
        # The replay's wall clock stood still until now: shift its times by the hold.
        shift = started - clock.held_at
        publish: dict[str, dict[str, float]] = {}
        for mg in chosen:
            table: dict[str, float] = {}
            for n, moment in enumerate(upstream.moments(mg)):
                if n > 0:
                    wall = upstream.last_modified(mg, n) + shift
                    table[str(int(moment.timestamp()))] = round(wall, 4)
            publish[str(mg.pk)] = table
        _write(Path(args.out + ".publish"), {"started": started, "publish": publish})
        await stop.wait()
    for server in servers:
        server.should_exit = True
    await asyncio.gather(*tasks)
    collector.cancel()


def _write(path: Path, value: object) -> None:
    # Readers wait for the file to appear: write it whole, then rename.
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(value))
    tmp.replace(path)


def main() -> None:
    """Parse the arguments and serve."""
    parser = argparse.ArgumentParser(prog="python -m pressbox.bench.run_upstream")
    parser.add_argument("--data", nargs="+", required=True)
    parser.add_argument("--games", type=int, default=15)
    parser.add_argument("--date", default=None)
    parser.add_argument("--speed", type=float, default=60.0)
    parser.add_argument("--faults", default="")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", required=True)
    parser.add_argument("--loop", choices=loops.LOOPS, default="auto")
    args = parser.parse_args()
    loops.run(serve(args), args.loop)


if __name__ == "__main__":
    main()
