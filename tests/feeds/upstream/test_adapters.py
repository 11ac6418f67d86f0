"""The project's own feed adapters read what the simulated upstream serves, and get back the
real games: GUMBO (full documents and diffPatch, live), ESPN summaries, odds, weather and the
generic play list."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from pressbox.engine.events import BaseballPlay, BaseballSituation, PlayEvent
from pressbox.engine.state import GameMachine
from pressbox.errors import FeedParseError
from pressbox.feeds import espn, generic, gumbo, odds, weather
from pressbox.feeds.upstream import gumbo as upstream_gumbo
from pressbox.feeds.upstream import run_upstream
from pressbox.feeds.upstream.data import UpstreamData, load_data
from pressbox.resilience.clock import ManualClock
from tests.feeds.upstream.conftest import ANA_PK


def _silent(event: PlayEvent) -> bool:
    """A play that moves nobody outside a plate appearance (a dropped foul fly): the real
    feed shows only its pitch."""
    play = event.detail
    return (
        isinstance(play, BaseballPlay)
        and not play.moves
        and not play.pa_end
        and _sit(event.before)[:2] == _sit(event.after)[:2]
    )


def _content(event: PlayEvent) -> tuple[object, ...]:
    return (event.kind, event.detail, event.before, event.after, event.home_score, event.text)


def _sit(s: object) -> tuple[object, ...]:
    assert isinstance(s, BaseballSituation)
    return (s.inning, s.half, s.outs, s.bases_code)


@pytest.mark.parametrize("split", [True, False])
def test_gumbo_adapter_rebuilds_every_sample_game(sample: UpstreamData, split: bool) -> None:
    """Every sample game's final feed normalizes into events the state machine accepts, with
    the Retrosheet game's final score; split runner events match Retrosheet one for one."""
    for mg in sample.games.values():
        doc = upstream_gumbo.feed_document(mg, sample, upstream_gumbo.final_point(mg))
        events = gumbo.read_document(doc, split_runner_events=split).events
        machine = GameMachine("mlb", str(mg.pk))
        for event in events:
            machine.apply(event)
        assert (machine.state.home_score, machine.state.away_score) == (
            mg.game.home_score,
            mg.game.away_score,
        )
        if split:
            shown = [e for e in mg.game.events if not _silent(e)]
            assert len(events) == len(shown)
            for ours, theirs in zip(events[1:-1], shown[1:-1], strict=True):
                assert _sit(ours.after) == _sit(theirs.after), theirs.event_id
                assert (ours.home_score, ours.away_score) == (theirs.home_score, theirs.away_score)


@pytest.mark.anyio
async def test_gumbo_game_follows_the_live_feed_by_diff_patch(sample: UpstreamData) -> None:
    """Polling feed/live once and then diffPatch as the replay runs gives the same events as
    reading the final document."""
    clock = ManualClock()
    mg = sample.games[ANA_PK]
    follower = gumbo.GumboGame(split_runner_events=True)
    feed = f"/api/v1.1/game/{ANA_PK}/feed/live"
    polls = 0
    async with (
        run_upstream(sample, speed=60, clock=clock, date="2015-04-10") as base,
        httpx.AsyncClient(base_url=base) as client,
    ):
        while not follower.final:
            if follower.needs_full_document:
                payload = (await client.get(feed)).json()
            else:
                params = {"startTimecode": follower.timestamp or ""}
                payload = (await client.get(f"{feed}/diffPatch", params=params)).json()
            follower.update(payload)
            clock.advance(10)
            polls += 1
            assert polls < 2000
    final = upstream_gumbo.feed_document(mg, sample, upstream_gumbo.final_point(mg))
    expected = gumbo.read_document(final, split_runner_events=True).events
    assert [e.event_id for e in follower.events] == [e.event_id for e in expected]
    assert follower.events[-1].home_score == mg.game.home_score


@pytest.mark.anyio
async def test_odds_and_weather_documents_read_back(sample: UpstreamData) -> None:
    """The flat odds and weather documents are what the odds and weather adapters read."""
    async with (
        run_upstream(sample, speed=0) as base,
        httpx.AsyncClient(base_url=base) as client,
    ):
        odds_doc = (await client.get(f"/odds/v1/games/{ANA_PK}")).json()
        weather_doc = (await client.get(f"/weather/v1/games/{ANA_PK}")).json()
    lines = odds.read_odds(odds_doc)
    assert lines[0].home is not None
    assert lines[0].away is not None
    assert 1 / lines[0].home + 1 / lines[0].away > 1.0
    w = weather.read_weather(weather_doc)
    assert (w.temperature_f, w.wind_speed_mph, w.wind_direction, w.sky) == (67, 7, "tocf", "cloudy")


@pytest.mark.anyio
async def test_espn_and_generic_documents_read_back(nfl_files: list[Path]) -> None:
    """ESPN summaries (with pickcenter) and the generic play list normalize into the NFL
    game's events and final score."""
    data = load_data(nfl_files)
    eid, game = next(iter(data.nfl.items()))
    async with (
        run_upstream(data, speed=0) as base,
        httpx.AsyncClient(base_url=base) as client,
    ):
        summary = (
            await client.get("/apis/site/v2/sports/football/nfl/summary", params={"event": eid})
        ).json()
        flat = (await client.get(f"/generic/v1/games/{eid}/plays")).json()
    final = game.events[-1]
    from_espn = espn.read_summary(summary).events
    assert (from_espn[-1].home_score, from_espn[-1].away_score) == (
        final.home_score,
        final.away_score,
    )
    assert len(from_espn) == len(game.events)
    assert espn.read_pickcenter(summary)[0].spread is not None
    from_generic = generic.read_generic(flat).events
    assert (from_generic[-1].home_score, from_generic[-1].away_score) == (
        final.home_score,
        final.away_score,
    )


async def _follow(
    sample: UpstreamData, faults: str, seed: int
) -> tuple[gumbo.GumboGame, dict[str, int]]:
    """Follow the ANA game through the faults with a plain client: skip what fails."""
    clock = ManualClock()
    follower = gumbo.GumboGame(split_runner_events=True)
    feed = f"/api/v1.1/game/{ANA_PK}/feed/live"
    seen = {"http": 0, "parse": 0, "ok": 0}
    async with (
        run_upstream(
            sample, speed=60, clock=clock, date="2015-04-10", faults=faults, seed=seed
        ) as base,
        httpx.AsyncClient(base_url=base, timeout=0.5) as client,
    ):
        for _ in range(3000):
            if follower.final:
                break
            clock.advance(10)
            try:
                if follower.needs_full_document:
                    response = await client.get(feed)
                else:
                    params = {"startTimecode": follower.timestamp or ""}
                    response = await client.get(f"{feed}/diffPatch", params=params)
                response.raise_for_status()
                follower.update_bytes(response.content)
                seen["ok"] += 1
            except httpx.HTTPError:
                seen["http"] += 1
            except FeedParseError:
                seen["parse"] += 1
    return follower, seen


@pytest.mark.anyio
async def test_a_follower_survives_the_faults_and_ends_with_the_real_game(
    sample: UpstreamData,
) -> None:
    """Through errors, truncation, drift, duplicated and swapped plays, stalls and
    corrections, a follower that skips bad answers still ends with every play of the game
    and its final score; corrections arrive as correcting events."""
    faults = (
        "error500=0.1,error429=0.05,truncate=0.05,drift=0.05,reset=0.03,dup=0.1,"
        "reorder=0.1,stall=20s:0.05,correction=5s:0.05"
    )
    follower, seen = await _follow(sample, faults, seed=21)
    assert follower.final
    assert seen["http"] > 0
    assert seen["parse"] > 0
    mg = sample.games[ANA_PK]
    expected = gumbo.read_document(
        upstream_gumbo.feed_document(mg, sample, upstream_gumbo.final_point(mg)),
        split_runner_events=True,
    ).events
    latest: dict[str, PlayEvent] = {}
    for event in follower.events:
        latest[event.corrects.split("~")[0] if event.corrects else event.event_id] = event
    assert list(latest) == [e.event_id for e in expected]
    for ours, theirs in zip(latest.values(), expected, strict=True):
        assert _content(ours) == _content(theirs)
    assert follower.events[-1].home_score == mg.game.home_score
    assert any(e.corrects for e in follower.events)


@pytest.mark.anyio
async def test_espn_duplicates_and_swaps_are_absorbed(nfl_files: list[Path]) -> None:
    """ESPN summaries with a duplicated or swapped play still normalize to the same game."""
    data = load_data(nfl_files)
    eid, game = next(iter(data.nfl.items()))
    url = "/apis/site/v2/sports/football/nfl/summary"
    async with (
        run_upstream(data, speed=0, faults="dup=1,reorder=1", seed=5) as base,
        httpx.AsyncClient(base_url=base) as client,
    ):
        doc = (await client.get(url, params={"event": eid})).json()
    plays = [p["id"] for d in doc["drives"]["previous"] for p in d["plays"]]
    assert len(plays) == len(set(plays)) + 1
    final = espn.read_summary(doc).events[-1]
    assert (final.home_score, final.away_score) == (
        game.events[-1].home_score,
        game.events[-1].away_score,
    )
