"""Fixtures of the simulated-upstream tests: the bundled sample loaded once, a few NFL games."""

from __future__ import annotations

from pathlib import Path

import pytest

from pressbox.feeds.upstream.data import UpstreamData, load_data
from tests.conftest import SAMPLE_RETROSHEET, shared_data

ANA_PK = 13798201504100
"""``ANA201504100``: KCA 4 at ANA 2, nine innings."""


@pytest.fixture(scope="session")
def sample() -> UpstreamData:
    """The seven bundled Retrosheet games with their rosters and team files."""
    data = load_data([SAMPLE_RETROSHEET])
    assert data.games, "the bundled sample must load"
    return data


@pytest.fixture(scope="session")
def nfl_files() -> list[Path]:
    """Two real GameCenter games of 2015 (skips outside CI when the shared data is absent)."""
    folder = shared_data("nfl-gamecenter", "2015")
    return sorted(folder.glob("*.json.gz"))[:2]
