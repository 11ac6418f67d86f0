"""Full real seasons: booth figures equal the published 2015 ones; GUMBO feeds round-trip."""

from __future__ import annotations

import httpx
import pytest

from pressbox.engine.events import BaseballPlay, BaseballSituation, PlayEvent
from pressbox.engine.state import GameMachine
from pressbox.feeds import gumbo
from pressbox.feeds.upstream import gumbo as upstream_gumbo
from pressbox.feeds.upstream import ids, load_data, run_upstream
from tests.conftest import shared_data

pytestmark = pytest.mark.slow


@pytest.mark.anyio
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


def _shown(event: PlayEvent) -> bool:
    play, before, after = event.detail, event.before, event.after
    if not isinstance(play, BaseballPlay) or play.moves or play.pa_end:
        return True
    assert isinstance(before, BaseballSituation)
    assert isinstance(after, BaseballSituation)
    return (before.inning, before.half) != (after.inning, after.half)


@pytest.mark.parametrize("season", ["2015", "2016"])
def test_every_twentieth_game_of_a_season_round_trips(season: str) -> None:
    """Every 20th game of a real season, served as a final GUMBO feed, normalizes into the
    Retrosheet game's plays and final score, and the state machine accepts them all (slow)."""
    data = load_data([shared_data("retrosheet", season)])
    games = list(data.games.values())[::20]
    assert len(games) > 100
    for mg in games:
        doc = upstream_gumbo.feed_document(mg, data, upstream_gumbo.final_point(mg))
        events = gumbo.read_document(doc, split_runner_events=True).events
        machine = GameMachine("mlb", str(mg.pk))
        for event in events:
            machine.apply(event)
        assert len(events) == sum(1 for e in mg.game.events if _shown(e)), mg.game.game_id
        assert (machine.state.home_score, machine.state.away_score) == (
            mg.game.home_score,
            mg.game.away_score,
        )
