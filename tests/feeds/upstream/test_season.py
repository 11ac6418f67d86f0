"""A full real season through the booth endpoints: the figures are the real 2015 ones."""

from __future__ import annotations

import httpx
import pytest

from pressbox.feeds.upstream import ids, load_data, run_upstream
from tests.conftest import shared_data

pytestmark = [pytest.mark.anyio, pytest.mark.slow]


async def test_2015_season_stats_and_standings() -> None:
    """Season stats, pitching lines and final standings computed from the 2015 Retrosheet
    play-by-play equal the published 2015 figures (slow: reads the whole season)."""
    data = load_data([shared_data("retrosheet", "2015")])
    assert len(data.games) == 2465
    async with (
        run_upstream(data, speed=0, date="2015-12-31") as base,
        httpx.AsyncClient(base_url=base, timeout=60) as client,
    ):
        trout = f"/api/v1/people/{ids.player_id('troum001')}/stats"
        hitting = (await client.get(trout, params={"stats": "season"})).json()
        stat = hitting["stats"][0]["splits"][0]["stat"]
        assert (stat["homeRuns"], stat["hits"], stat["atBats"], stat["stolenBases"]) == (
            41,
            172,
            575,
            11,
        )
        assert (stat["avg"], stat["obp"], stat["slg"]) == (".299", ".402", ".590")
        kershaw = f"/api/v1/people/{ids.player_id('kersc001')}/stats"
        pitching = (await client.get(kershaw, params={"group": "pitching"})).json()
        line = pitching["stats"][0]["splits"][0]["stat"]
        assert (line["wins"], line["losses"], line["inningsPitched"], line["strikeOuts"]) == (
            16,
            7,
            "232.2",
            301,
        )
        standings = (await client.get("/api/v1/standings")).json()
        records = {
            r["team"]["name"]: (r["wins"], r["losses"], r["gamesBack"])
            for division in standings["records"]
            for r in division["teamRecords"]
        }
        assert records["Kansas City Royals"] == (95, 67, "-")
        assert records["St. Louis Cardinals"] == (100, 62, "-")
        assert records["Chicago Cubs"] == (97, 65, "3")
        assert records["Cleveland Indians"] == (81, 80, "13.5")
        coors = f"/api/v1/venues/{ids.venue_id('DEN02')}/parkFactors"
        factors = {f["stat"]: f["value"] for f in (await client.get(coors)).json()["parkFactors"]}
        assert factors["runs"] > 120
