"""The simulated upstream: real games served over HTTP in real wire formats, with faults.

``pressbox upstream`` (see ``docs/upstream.md``) replays Retrosheet games as MLB Stats API
live feeds (``feed/live``, ``timestamps``, ``diffPatch``), NFL GameCenter games as ESPN
summaries, and the booth's reference data (schedule, rosters, stats to date, standings,
matchups, park factors, umpires, weather, odds), misbehaving on purpose by a seeded fault
spec. This is the only part of ``feeds`` allowed to use Starlette and uvicorn.
"""

from __future__ import annotations

from pressbox.feeds.upstream.app import MAX_DIFFS, SimulatedUpstream, create_upstream_app
from pressbox.feeds.upstream.data import UpstreamData, load_data
from pressbox.feeds.upstream.faults import (
    FAULT_KINDS,
    NO_FAULTS,
    Decision,
    Fault,
    FaultInjector,
    FaultSpec,
    parse_faults,
)
from pressbox.feeds.upstream.ids import game_id_of_pk, game_pk, player_id, retro_id_of_player
from pressbox.feeds.upstream.replay import Replay, Timeline
from pressbox.feeds.upstream.server import build_app, run_upstream

__all__ = [
    "FAULT_KINDS",
    "MAX_DIFFS",
    "NO_FAULTS",
    "Decision",
    "Fault",
    "FaultInjector",
    "FaultSpec",
    "Replay",
    "SimulatedUpstream",
    "Timeline",
    "UpstreamData",
    "build_app",
    "create_upstream_app",
    "game_id_of_pk",
    "game_pk",
    "load_data",
    "parse_faults",
    "player_id",
    "retro_id_of_player",
    "run_upstream",
]
