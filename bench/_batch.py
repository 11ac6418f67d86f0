"""Time a ``pressbox wp SPORT --batch`` subprocess: JSON lines in, CPU and wall rates out."""

from __future__ import annotations

import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def time_batch(sport: str, payload: bytes, lines: int) -> dict[str, float]:
    """Feed ``payload`` (``lines`` JSON lines) to the batch command of ``sport``.

    Returns:
        States per second of wall time and of the child's CPU time (start-up included).
    """
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    began = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "pressbox", "wp", sport, "--batch"],
        input=payload,
        capture_output=True,
        check=True,
        cwd=ROOT,
    )
    wall = time.perf_counter() - began
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    answered = result.stdout.count(b"\n")
    if answered != lines:
        raise RuntimeError(f"{answered} answers for {lines} lines: {result.stderr[-500:]!r}")
    return {"wall_states_per_s": lines / wall, "cpu_states_per_s": lines / cpu}
