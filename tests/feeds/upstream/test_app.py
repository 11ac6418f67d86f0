"""The simulated upstream on a real loopback server, seen from an httpx client."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import jsonpatch
import pytest

from pressbox.feeds.upstream import ids, run_upstream
from pressbox.feeds.upstream.data import UpstreamData, load_data
from pressbox.resilience.clock import ManualClock
from tests.feeds.upstream.conftest import ANA_PK

pytestmark = pytest.mark.anyio

FEED = f"/api/v1.1/game/{ANA_PK}/feed/live"


async def test_every_mlb_route_answers_in_shape(sample: UpstreamData) -> None:
    """Schedule, feed, timestamps, diffPatch, linescore, boxscore, teams, roster, people,
    stats, matchup, standings, park factors and odds all answer with their real keys."""
    async with (
        run_upstream(sample, speed=0, date="2015-04-10") as base,
        httpx.AsyncClient(base_url=base) as client,
    ):
        sched = (
            await client.get(
                "/api/v1/schedule?sportId=1&date=2015-04-10&hydrate=weather,officials,probablePitcher,linescore"
            )
        ).json()
        game = sched["dates"][0]["games"][0]
        assert game["gamePk"] == ANA_PK
        assert game["status"]["abstractGameState"] == "Final"
        assert game["weather"]["temp"] == "67"
        assert {o["officialType"] for o in game["officials"]} >= {"Home Plate"}
        assert game["teams"]["home"]["probablePitcher"]["fullName"] == "Hector Santiago"
        assert game["teams"]["away"]["score"] == 4
        other = (await client.get("/api/v1/schedule?sportId=1&date=10/27/2015")).json()
        assert other["dates"][0]["games"][0]["status"]["abstractGameState"] == "Preview"

        feed = (await client.get(FEED)).json()
        assert feed["gamePk"] == ANA_PK
        assert feed["liveData"]["linescore"]["teams"]["away"]["runs"] == 4
        codes = (await client.get(f"{FEED}/timestamps")).json()
        assert codes[-1] == feed["metaData"]["timeStamp"]
        assert (
            await client.get(f"{FEED}/diffPatch", params={"startTimecode": codes[-1]})
        ).json() == []
        line = (await client.get(f"/api/v1/game/{ANA_PK}/linescore")).json()
        assert line["currentInning"] == 9
        box = (await client.get(f"/api/v1/game/{ANA_PK}/boxscore")).json()
        assert box["officials"][0]["official"]["retrosheetId"] == "millb901"

        kc = ids.TEAMS["KCA"].mlb_id
        teams = (await client.get("/api/v1/teams?sportId=1&season=2015")).json()["teams"]
        assert any(t["id"] == kc and t["teamName"] == "Royals" for t in teams)
        roster = (await client.get(f"/api/v1/teams/{kc}/roster?season=2015")).json()
        assert roster["teamId"] == kc
        cain = next(r for r in roster["roster"] if r["person"]["fullName"] == "Lorenzo Cain")
        pid = cain["person"]["id"]
        person = (await client.get(f"/api/v1/people/{pid}")).json()["people"][0]
        assert person["retrosheetId"] == "cainl001"

        stats = (
            await client.get(
                f"/api/v1/people/{pid}/stats",
                params={
                    "stats": "season",
                    "group": "hitting",
                    "season": 2015,
                    "date": "2015-12-31",
                },
            )
        ).json()
        split = stats["stats"][0]["splits"][0]
        assert split["stat"]["plateAppearances"] > 0
        assert split["stat"]["avg"].startswith(".") or split["stat"]["avg"] == "1.000"
        santiago = ids.player_id("santh001")
        vs = (
            await client.get(
                f"/api/v1/people/{pid}/stats",
                params={
                    "stats": "vsPlayer",
                    "opposingPlayerId": santiago,
                    "group": "hitting",
                    "date": "2015-12-31",
                },
            )
        ).json()
        assert vs["stats"][0]["splits"][0]["pitcher"]["id"] == santiago
        assert vs["stats"][0]["splits"][0]["stat"]["plateAppearances"] >= 1

        standings = (
            await client.get("/api/v1/standings?leagueId=103,104&season=2015&date=2015-12-31")
        ).json()
        records = [r for rec in standings["records"] for r in rec["teamRecords"]]
        assert {"team", "wins", "losses", "gamesBack", "divisionRank"} <= set(records[0])
        royals = next(r for r in records if r["team"]["id"] == kc)
        assert (royals["wins"], royals["losses"]) == (1, 0)

        venue = feed["gameData"]["venue"]["id"]
        pf = (
            await client.get(f"/api/v1/venues/{venue}/parkFactors?season=2015&date=2015-12-31")
        ).json()
        assert pf["venue"]["retrosheetId"] == "ANA01"
        assert {f["stat"] for f in pf["parkFactors"]} == {"runs", "homeRuns"}

        odds = (
            await client.get("/v4/sports/baseball_mlb/odds", params={"eventIds": str(ANA_PK)})
        ).json()
        markets = {m["key"]: m for m in odds[0]["bookmakers"][0]["markets"]}
        prices = [o["price"] for o in markets["h2h"]["outcomes"]]
        assert min(prices) < 0
        assert all(abs(p) >= 100 for p in prices)
        assert {abs(o["point"]) for o in markets["spreads"]["outcomes"]} == {1.5}

        assert (await client.get("/api/v1.1/game/1/feed/live")).status_code == 404
        assert (await client.get("/pressbox/games")).json()["mlb"][0]["retrosheetId"]
        ids_map = (
            await client.get("/pressbox/players", params={"retrosheetId": "cainl001"})
        ).json()
        assert ids_map == [{"id": pid, "retrosheetId": "cainl001", "fullName": "Lorenzo Cain"}]


async def test_etag_and_last_modified_give_304(sample: UpstreamData) -> None:
    """A matching If-None-Match or a fresh If-Modified-Since gets 304 with no body."""
    clock = ManualClock()
    async with (
        run_upstream(sample, speed=60, clock=clock) as base,
        httpx.AsyncClient(base_url=base) as client,
    ):
        first = await client.get(FEED)
        etag, modified = first.headers["etag"], first.headers["last-modified"]
        again = await client.get(FEED, headers={"If-None-Match": etag})
        assert again.status_code == 304
        assert again.content == b""
        since = await client.get(FEED, headers={"If-Modified-Since": modified})
        assert since.status_code == 304
        clock.advance(3600)
        changed = await client.get(FEED, headers={"If-None-Match": etag})
        assert changed.status_code == 200
        assert changed.headers["etag"] != etag


async def test_plays_advance_with_the_clock_and_diff_patch_catches_up(sample: UpstreamData) -> None:
    """As the manual clock runs, plays come out; diffPatch from an older timecode, applied
    to the older document, gives the newer document."""
    clock = ManualClock()
    async with (
        run_upstream(sample, speed=60, clock=clock, date="2015-04-10") as base,
        httpx.AsyncClient(base_url=base) as client,
    ):
        clock.advance(30)
        old = (await client.get(FEED)).json()
        n_old = len(old["liveData"]["plays"]["allPlays"])
        clock.advance(5)
        new = (await client.get(FEED)).json()
        assert len(new["liveData"]["plays"]["allPlays"]) > n_old
        answer = (
            await client.get(
                f"{FEED}/diffPatch", params={"startTimecode": old["metaData"]["timeStamp"]}
            )
        ).json()
        assert isinstance(answer, list)
        assert answer
        doc = old
        for patch in answer:
            doc = jsonpatch.apply_patch(doc, patch["diff"])
        assert doc == new
        clock.advance(3 * 3600)
        far = (
            await client.get(
                f"{FEED}/diffPatch", params={"startTimecode": old["metaData"]["timeStamp"]}
            )
        ).json()
        assert isinstance(far, dict)
        assert far["gameData"]["status"]["abstractGameState"] == "Final"
        unknown = (
            await client.get(f"{FEED}/diffPatch", params={"startTimecode": "19990101_000000"})
        ).json()
        assert unknown == far


async def _outcomes(data: UpstreamData, spec: str, seed: int, count: int) -> list[str]:
    out = []
    async with (
        run_upstream(data, speed=0, faults=spec, seed=seed) as base,
        httpx.AsyncClient(base_url=base, timeout=0.5) as client,
    ):
        for _ in range(count):
            try:
                r = await client.get(FEED)
            except httpx.HTTPError as exc:
                out.append(type(exc).__name__)
                continue
            try:
                doc = r.json()
            except json.JSONDecodeError:
                out.append(f"{r.status_code}:malformed")
                continue
            kind = "ok" if isinstance(doc, dict) and "liveData" in doc else "other"
            if r.status_code == 200 and "timeStamp" not in doc.get("metaData", {}):
                kind = "drift"
            out.append(f"{r.status_code}:{kind}")
    return out


async def test_faults_are_deterministic_with_the_seed(sample: UpstreamData) -> None:
    """The same seed gives the same sequence of outcomes seen by the client."""
    spec = "error500=0.15,error503=0.1,error429=0.1,truncate=0.1,reset=0.1"
    first = await _outcomes(sample, spec, 11, 40)
    second = await _outcomes(sample, spec, 11, 40)
    other = await _outcomes(sample, spec, 12, 40)
    assert first == second
    assert first != other
    kinds = {o.split(":")[0] for o in first}
    assert {"500", "503", "429", "200"} <= kinds
    assert "200:malformed" in first
    assert any(o in ("RemoteProtocolError", "ReadError") for o in first)


async def test_error_429_carries_retry_after(sample: UpstreamData) -> None:
    """A 429 answer tells the client when to come back."""
    async with (
        run_upstream(sample, speed=0, faults="error429=3s:1") as base,
        httpx.AsyncClient(base_url=base) as client,
    ):
        r = await client.get(FEED)
    assert r.status_code == 429
    assert r.headers["retry-after"] == "3"


async def test_error_503_sends_retry_after_only_when_the_spec_gives_one(
    sample: UpstreamData,
) -> None:
    """error503 with a duration carries Retry-After; without one it does not."""
    async with (
        run_upstream(sample, speed=0, faults="error503=5s:1") as base,
        httpx.AsyncClient(base_url=base) as client,
    ):
        with_header = await client.get(FEED)
    async with (
        run_upstream(sample, speed=0, faults="error503=1") as base,
        httpx.AsyncClient(base_url=base) as client,
    ):
        without = await client.get(FEED)
    assert (with_header.status_code, with_header.headers["retry-after"]) == (503, "5")
    assert without.status_code == 503
    assert "retry-after" not in without.headers


async def test_answers_are_gzipped_for_clients_that_accept_it(sample: UpstreamData) -> None:
    """Large answers come gzip-encoded, as the real API sends them."""
    async with (
        run_upstream(sample, speed=0) as base,
        httpx.AsyncClient(base_url=base) as client,
    ):
        r = await client.get(FEED)
    assert r.headers["content-encoding"] == "gzip"
    assert r.json()["gamePk"] == ANA_PK


async def test_reset_drops_the_connection_without_an_answer(sample: UpstreamData) -> None:
    """A reset closes the TCP connection; httpx sees a protocol or read error."""
    async with (
        run_upstream(sample, speed=0, faults="reset=1") as base,
        httpx.AsyncClient(base_url=base) as client,
    ):
        with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
            await client.get(FEED)
        health = await client.get("/pressbox/health")
    assert health.json()["faultCounts"] == {"reset": 1}


async def test_timeout_hangs_until_the_client_gives_up(sample: UpstreamData) -> None:
    """A hanging request never answers; the client's read timeout fires."""
    async with (
        run_upstream(sample, speed=0, faults="timeout=5s:1") as base,
        httpx.AsyncClient(base_url=base, timeout=0.3) as client,
    ):
        with pytest.raises(httpx.ReadTimeout):
            await client.get(FEED)


async def test_latency_delays_but_answers(sample: UpstreamData) -> None:
    """Latency still answers normally."""
    async with (
        run_upstream(sample, speed=0, faults="latency=50ms:1") as base,
        httpx.AsyncClient(base_url=base) as client,
    ):
        r = await client.get(FEED)
    assert r.status_code == 200
    assert r.json()["gamePk"] == ANA_PK


async def test_truncate_serves_malformed_json(sample: UpstreamData) -> None:
    """A truncated answer is a 200 whose body is not valid JSON."""
    async with (
        run_upstream(sample, speed=0, faults="truncate=1") as base,
        httpx.AsyncClient(base_url=base) as client,
    ):
        r = await client.get(FEED)
    assert r.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(r.content)


async def test_drift_renames_or_drops_fields(sample: UpstreamData) -> None:
    """Drifted documents differ from the clean one by renamed or missing fields."""
    async with run_upstream(sample, speed=0) as base, httpx.AsyncClient(base_url=base) as client:
        clean = (await client.get(FEED)).json()
    seen = set()
    async with (
        run_upstream(sample, speed=0, faults="drift=1", seed=4) as base,
        httpx.AsyncClient(base_url=base) as client,
    ):
        for _ in range(12):
            doc = (await client.get(FEED)).json()
            assert doc != clean
            seen.add(json.dumps(sorted(doc["liveData"])) + json.dumps(sorted(doc["metaData"])))
    assert len(seen) > 1


async def test_dup_reorder_and_correction_change_the_plays(sample: UpstreamData) -> None:
    """dup lists a play twice, reorder swaps two, correction rescores an earlier play and
    keeps it rescored until it is restored."""
    clock = ManualClock()
    async with (
        run_upstream(sample, speed=0, clock=clock) as base,
        httpx.AsyncClient(base_url=base) as client,
    ):
        clean = (await client.get(FEED)).json()["liveData"]["plays"]["allPlays"]
    async with (
        run_upstream(sample, speed=0, faults="dup=1") as base,
        httpx.AsyncClient(base_url=base) as client,
    ):
        plays = (await client.get(FEED)).json()["liveData"]["plays"]["allPlays"]
    index = [p["atBatIndex"] for p in plays]
    assert len(plays) == len(clean) + 1
    assert len(set(index)) == len(clean)
    async with (
        run_upstream(sample, speed=0, faults="reorder=1") as base,
        httpx.AsyncClient(base_url=base) as client,
    ):
        plays = (await client.get(FEED)).json()["liveData"]["plays"]["allPlays"]
    index = [p["atBatIndex"] for p in plays]
    assert sorted(index) == list(range(len(clean)))
    assert index != sorted(index)
    live = ManualClock()
    async with (
        run_upstream(
            sample, speed=60, clock=live, faults="correction=20s:1", seed=2, date="2015-04-10"
        ) as base,
        httpx.AsyncClient(base_url=base) as client,
    ):
        live.advance(60)
        fired = (await client.get(FEED)).json()["liveData"]["plays"]["allPlays"]
        live.advance(2)
        shown = (await client.get(FEED)).json()["liveData"]["plays"]["allPlays"]
        changed = [
            i
            for i, (a, b) in enumerate(zip(fired, shown, strict=False))
            if a != b and a["about"]["isComplete"] and i < len(fired) - 1
        ]
        assert len(changed) == 1
        assert shown[changed[0]]["about"]["hasReview"] is True
        live.advance(10)
        still = (await client.get(FEED)).json()["liveData"]["plays"]["allPlays"]
        assert still[changed[0]] == shown[changed[0]]
        live.advance(15)
        await client.get(FEED)
        live.advance(2)
        restored = (await client.get(FEED)).json()["liveData"]["plays"]["allPlays"]
        assert restored[changed[0]] == fired[changed[0]]


async def test_stall_freezes_a_game(sample: UpstreamData) -> None:
    """A stall keeps serving the same point while the clock runs, then the game catches up."""
    clock = ManualClock()
    async with (
        run_upstream(
            sample, speed=60, clock=clock, faults="stall=30s:1", date="2015-04-10"
        ) as base,
        httpx.AsyncClient(base_url=base) as client,
    ):
        clock.advance(60)
        first = (await client.get(FEED)).json()["metaData"]["timeStamp"]
        clock.advance(20)
        assert (await client.get(FEED)).json()["metaData"]["timeStamp"] == first
        clock.advance(20)
        games = (await client.get("/pressbox/games")).json()["mlb"]
        ana = next(g for g in games if g["gamePk"] == ANA_PK)
        assert ana["stalled"] is False
        assert ana["published"] > 1


async def test_espn_summary_from_nfl_gamecenter(nfl_files: list[Path]) -> None:
    """An NFL game is served as an ESPN summary: header, drives with plays, win probability."""
    data = load_data(nfl_files)
    eid = next(iter(data.nfl))
    async with run_upstream(data, speed=0) as base, httpx.AsyncClient(base_url=base) as client:
        doc = (
            await client.get("/apis/site/v2/sports/football/nfl/summary", params={"event": eid})
        ).json()
        board = (await client.get("/apis/site/v2/sports/football/nfl/scoreboard")).json()
        odds = (await client.get("/v4/sports/americanfootball_nfl/odds")).json()
        missing = await client.get(
            "/apis/site/v2/sports/football/nfl/summary", params={"event": "x"}
        )
    comp = doc["header"]["competitions"][0]
    assert {c["homeAway"] for c in comp["competitors"]} == {"home", "away"}
    assert comp["status"]["type"]["completed"] is True
    plays = [p for d in doc["drives"]["previous"] for p in d["plays"]]
    assert plays
    assert {"id", "text", "homeScore", "awayScore", "start", "end"} <= set(plays[0])
    final = data.nfl[eid].events[-1]
    home = next(c for c in comp["competitors"] if c["homeAway"] == "home")
    assert int(home["score"]) == final.home_score
    assert 0.0 <= doc["winprobability"][0]["homeWinPercentage"] <= 1.0
    assert len(board["events"]) == len(data.nfl)
    assert {e["id"] for e in odds} == set(data.nfl)
    assert missing.status_code == 404
