"""Benchmarks run as commands: ``pressbox bench gamenight`` (:mod:`.gamenight`).

Every benchmark starts real processes on loopback (the simulated upstream, the pipeline,
load generators), bounded in time, and reports what it measured as JSON. The modules
whose names start with ``run_`` are the entry points of those processes
(``python -m pressbox.bench.run_...``).
"""

from __future__ import annotations
