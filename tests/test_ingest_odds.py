"""The ingest role keeps each game's pregame odds, so that its processor starts from them."""

from __future__ import annotations

import anyio
import pytest

from pressbox.config import Settings
from pressbox.engine.events import GameInfo
from pressbox.feeds.poller import PollPolicy
from pressbox.feeds.upstream import ids, run_upstream
from pressbox.feeds.upstream.data import load_data
from pressbox.service import ODDS, Service
from tests.conftest import SAMPLE_RETROSHEET

pytestmark = pytest.mark.anyio

WS_PK = str(ids.game_pk("KCA201510270"))
"""World Series 2015, game 1 (NYN at KCA), in the bundled sample."""


async def test_ingest_stores_the_odds_and_the_game_starts_from_them() -> None:
    sample = load_data([SAMPLE_RETROSHEET])
    policy = PollPolicy(action=0.05, pause=0.1, honour_wait=False)
    async with (
        run_upstream(sample, speed=0, date="2015-10-27") as base,
        Service(Settings(log_url="memory://", archive_url="sqlite://")) as service,
    ):
        with anyio.fail_after(60):
            report = await service.ingest_upstream(base, policy=policy)
        stored = await service.bus.get_context(WS_PK, ODDS)
        prior = await service.pregame_prior(
            "mlb", WS_PK, GameInfo(home="KCA", away="NYN", date="2015-10-27")
        )
    assert report.games == (WS_PK,)
    assert stored is not None
    assert prior.source == "odds"
    assert prior.home is not None
    assert 0.0 < prior.home < 1.0
