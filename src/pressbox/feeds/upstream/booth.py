"""What a booth prefetches before and during a game, computed from the real season data.

Schedule, teams, rosters (from the Retrosheet roster files), people, season stats to date
and batter-versus-pitcher history (from the play-by-play), standings (from the final
scores), park factors (runs and home runs at a park against the home team's road games)
and odds. Every builder takes the simulator state and the request and returns the JSON
payload, or ``None`` when the object does not exist (the route answers 404).

The umpire crew and the game-time weather come with the game itself: ``gameData.weather``
and ``liveData.boxscore.officials`` of the live feed, ``/api/v1/game/{pk}/boxscore``, and
``/api/v1/schedule?hydrate=weather,officials``.

Odds are *simulated*: no sportsbook is involved. The home team's chance is the log5 of the
two teams' records to date (each regressed toward .500 by 10 wins and 10 losses, NFL by 2
and 2) plus a home edge (4 points MLB, 6 NFL), clamped to 25-75 % (15-85 % NFL); prices are
American odds with a 4.5 % overround; the MLB spread is the run line ±1.5, the NFL spread
is ``13.45 * z(p)`` rounded to the half point (the usual normal approximation).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from statistics import NormalDist
from typing import TYPE_CHECKING, Final

from starlette.requests import Request

from pressbox.engine.events import BaseballPlay, BaseballSituation
from pressbox.feeds.upstream import gumbo, ids
from pressbox.feeds.upstream.data import MlbGame, NflGame, Person, UpstreamData
from pressbox.feeds.upstream.season import Record, records
from pressbox.types import JSON

if TYPE_CHECKING:
    from pressbox.feeds.upstream.app import SimulatedUpstream

_NON_AB: Final = frozenset({"walk", "intentional_walk", "hit_by_pitch", "interference"})
_HITS: Final = {"single": 1, "double": 2, "triple": 3, "home_run": 4}
_OVERROUND: Final = 1.045


# --------------------------------------------------------------------------- per-game tallies


@dataclass(slots=True)
class Line:
    """Counting stats of one player over some games (batting and pitching)."""

    games: set[int] = field(default_factory=set)
    pa: int = 0
    ab: int = 0
    h: int = 0
    d2: int = 0
    d3: int = 0
    hr: int = 0
    bb: int = 0
    ibb: int = 0
    hbp: int = 0
    so: int = 0
    rbi: int = 0
    r: int = 0
    sb: int = 0
    cs: int = 0
    sf: int = 0
    sh: int = 0
    gidp: int = 0
    # pitching
    p_games: set[int] = field(default_factory=set)
    p_starts: int = 0
    bf: int = 0
    outs: int = 0
    p_h: int = 0
    p_hr: int = 0
    p_bb: int = 0
    p_so: int = 0
    p_r: int = 0
    w: int = 0
    lo: int = 0
    sv: int = 0

    def add(self, other: Line) -> None:
        """Add another line's counts to this one."""
        for name in self.__slots__:
            value = getattr(other, name)
            if isinstance(value, set):
                getattr(self, name).update(value)
            else:
                setattr(self, name, getattr(self, name) + value)


def _mods(code: str) -> set[str]:
    return {m.rstrip("+-#!?") for m in code.upper().split(".", 1)[0].split("/")[1:]}


@dataclass(frozen=True, slots=True)
class _PA:
    batter: str
    pitcher: str
    event_type: str
    code: str
    rbi: int


@dataclass(slots=True)
class _GameTally:
    lines: dict[str, Line] = field(default_factory=dict)
    pas: list[_PA] = field(default_factory=list)
    home_hr: int = 0
    away_hr: int = 0


def _tally(mg: MlbGame) -> _GameTally:
    out = _GameTally()

    def line(rid: str) -> Line:
        return out.lines.setdefault(rid, Line())

    starters: set[str] = set()
    for event in mg.game.events:
        play, before = event.detail, event.before
        if not isinstance(play, BaseballPlay) or not isinstance(before, BaseballSituation):
            continue
        fielding = "home" if before.half == "top" else "away"
        if play.pitcher:
            pl = line(play.pitcher)
            if fielding not in starters:
                starters.add(fielding)
                pl.p_starts += 1
            pl.p_games.add(mg.pk)
            pl.outs += play.outs_on_play
            pl.p_r += play.runs
        for move in play.moves:
            if not move.out and move.end == 4:
                line(move.runner).r += 1
            if play.event_type == "stolen_base" and move.start and not move.out:
                line(move.runner).sb += 1
            if play.event_type == "caught_stealing" and move.out:
                line(move.runner).cs += 1
        if not play.pa_end or not play.batter:
            continue
        et, mods = play.event_type, _mods(play.code)
        b = line(play.batter)
        b.games.add(mg.pk)
        b.pa += 1
        b.rbi += play.rbi
        if et not in _NON_AB and not mods & {"SF", "SH"}:
            b.ab += 1
        if et in _HITS:
            b.h += 1
            b.d2 += et == "double"
            b.d3 += et == "triple"
            b.hr += et == "home_run"
            if et == "home_run":
                if before.half == "top":
                    out.away_hr += 1
                else:
                    out.home_hr += 1
        b.bb += et in ("walk", "intentional_walk")
        b.ibb += et == "intentional_walk"
        b.hbp += et == "hit_by_pitch"
        b.so += et == "strikeout"
        b.sf += "SF" in mods
        b.sh += "SH" in mods
        b.gidp += "GDP" in mods
        if play.pitcher:
            p = line(play.pitcher)
            p.bf += 1
            p.p_h += et in _HITS
            p.p_hr += et == "home_run"
            p.p_bb += et in ("walk", "intentional_walk")
            p.p_so += et == "strikeout"
            out.pas.append(_PA(play.batter, play.pitcher, et, play.code, play.rbi))
    for key, attr in (("wp", "w"), ("lp", "lo"), ("save", "sv")):
        rid = mg.game.records.get(key, "")
        if rid:
            setattr(line(rid), attr, getattr(line(rid), attr) + 1)
    return out


def game_tally(data: UpstreamData, mg: MlbGame) -> _GameTally:
    """The per-player counts of one game (cached on ``data``)."""
    key = ("tally", mg.pk)
    cached = data.cache.get(key)
    if isinstance(cached, _GameTally):
        return cached
    tally = _tally(mg)
    data.cache[key] = tally
    return tally


def _games(data: UpstreamData, season: int, before: str | None) -> list[MlbGame]:
    return [
        mg
        for mg in data.games.values()
        if mg.season == season
        and not mg.game.postseason
        and (before is None or mg.game.info.date < before)
    ]


def season_line(data: UpstreamData, rid: str, season: int, before: str | None) -> Line:
    """A player's regular-season counts over the games dated before ``before``."""
    total = Line()
    for mg in _games(data, season, before):
        line = game_tally(data, mg).lines.get(rid)
        if line is not None:
            total.add(line)
    return total


def _rate(value: float) -> str:
    text = f"{value:.3f}"
    return text[1:] if text.startswith("0.") else text


def hitting_stat(line: Line) -> dict[str, JSON]:
    """The Stats API's ``hitting`` stat object of a line."""
    singles = line.h - line.d2 - line.d3 - line.hr
    tb = singles + 2 * line.d2 + 3 * line.d3 + 4 * line.hr
    avg = line.h / line.ab if line.ab else 0.0
    obp_den = line.ab + line.bb + line.hbp + line.sf
    obp = (line.h + line.bb + line.hbp) / obp_den if obp_den else 0.0
    slg = tb / line.ab if line.ab else 0.0
    return {
        "gamesPlayed": len(line.games),
        "runs": line.r,
        "doubles": line.d2,
        "triples": line.d3,
        "homeRuns": line.hr,
        "strikeOuts": line.so,
        "baseOnBalls": line.bb,
        "intentionalWalks": line.ibb,
        "hits": line.h,
        "hitByPitch": line.hbp,
        "avg": _rate(avg),
        "atBats": line.ab,
        "obp": _rate(obp),
        "slg": _rate(slg),
        "ops": _rate(obp + slg),
        "caughtStealing": line.cs,
        "stolenBases": line.sb,
        "groundIntoDoublePlay": line.gidp,
        "plateAppearances": line.pa,
        "totalBases": tb,
        "rbi": line.rbi,
        "sacBunts": line.sh,
        "sacFlies": line.sf,
    }


def pitching_stat(line: Line) -> dict[str, JSON]:
    """The Stats API's ``pitching`` stat object of a line (ERA counts every run)."""
    innings = line.outs / 3
    return {
        "gamesPlayed": len(line.p_games),
        "gamesStarted": line.p_starts,
        "wins": line.w,
        "losses": line.lo,
        "saves": line.sv,
        "inningsPitched": f"{line.outs // 3}.{line.outs % 3}",
        "outs": line.outs,
        "battersFaced": line.bf,
        "hits": line.p_h,
        "runs": line.p_r,
        "homeRuns": line.p_hr,
        "baseOnBalls": line.p_bb,
        "strikeOuts": line.p_so,
        "era": f"{9 * line.p_r / innings:.2f}" if innings else "-.--",
        "whip": f"{(line.p_h + line.p_bb) / innings:.2f}" if innings else "-.--",
    }


# --------------------------------------------------------------------------- request helpers


def _date_param(request: Request, upstream: SimulatedUpstream) -> str | None:
    for name in ("date", "endDate"):
        text = request.query_params.get(name)
        if text:
            for fmt in ("%Y-%m-%d", "%m/%d/%Y"):
                try:
                    return dt.datetime.strptime(text, fmt).date().isoformat()
                except ValueError:
                    continue
    return upstream.replay_day


def _season_param(request: Request, upstream: SimulatedUpstream, date: str | None) -> int:
    text = request.query_params.get("season", "")
    if text.isdigit():
        return int(text)
    if date:
        return int(date[:4])
    seasons = [mg.season for mg in upstream.data.games.values()]
    return max(seasons, default=dt.date.today().year)


def _person_param(request: Request, upstream: SimulatedUpstream, name: str) -> Person | None:
    text = request.path_params.get(name) or request.query_params.get(name) or ""
    if not text.isdigit():
        return None
    rid = ids.retro_id_of_player(int(text))
    if rid is None:
        return None
    return upstream.data.people.get(rid) or (
        upstream.data.person(rid)
        if any(rid in game_tally(upstream.data, mg).lines for mg in upstream.data.games.values())
        else None
    )


def _team_code(text: str) -> str | None:
    if not text.isdigit():
        return None
    return ids.team_code_of_id(int(text))


# --------------------------------------------------------------------------- builders


def teams(upstream: SimulatedUpstream, request: Request) -> JSON:
    """``/api/v1/teams?sportId=1&season=YYYY``."""
    season = _season_param(request, upstream, _date_param(request, upstream))
    codes = sorted(code for (s, code) in upstream.data.teams if s == season)
    return {
        "copyright": gumbo.COPYRIGHT,
        "teams": [gumbo.team_document(upstream.data, season, code) for code in codes],
    }


def roster(upstream: SimulatedUpstream, request: Request) -> JSON | None:
    """``/api/v1/teams/{teamId}/roster?season=YYYY``: the Retrosheet roster file."""
    code = _team_code(request.path_params["team_id"])
    if code is None:
        return None
    season = _season_param(request, upstream, _date_param(request, upstream))
    players = upstream.data.rosters.get((season, code))
    if players is None:
        return None
    ref = ids.team_ref(code)
    entries: list[JSON] = []
    for p in sorted(players, key=lambda p: (p.last_name, p.first_name)):
        doc = gumbo.person_document(p)
        entries.append(
            {
                "person": {**gumbo.person_ref(p), "retrosheetId": p.retro_id},
                "jerseyNumber": "",
                "position": doc["primaryPosition"],
                "status": {"code": "A", "description": "Active"},
                "parentTeamId": ref.mlb_id,
            }
        )
    return {
        "copyright": gumbo.COPYRIGHT,
        "roster": entries,
        "link": f"/api/v1/teams/{ref.mlb_id}/roster",
        "teamId": ref.mlb_id,
        "rosterType": "active",
    }


def person(upstream: SimulatedUpstream, request: Request) -> JSON | None:
    """``/api/v1/people/{personId}``."""
    p = _person_param(request, upstream, "person_id")
    if p is None:
        return None
    return {"copyright": gumbo.COPYRIGHT, "people": [gumbo.person_document(p)]}


def stats(upstream: SimulatedUpstream, request: Request) -> JSON | None:
    """``/api/v1/people/{personId}/stats?stats=season|vsPlayer&group=hitting|pitching``.

    ``season`` totals count the regular-season games dated before ``date`` (or
    ``endDate``; default the replay day, or the whole season when every game replays).
    ``vsPlayer`` with ``opposingPlayerId`` gives the batter-versus-pitcher history over
    every loaded game before that date (both seasons and the postseason).
    """
    p = _person_param(request, upstream, "person_id")
    if p is None:
        return None
    q = request.query_params
    kind = (q.get("stats") or "season").split(",")[0]
    group = (q.get("group") or "hitting").split(",")[0]
    date = _date_param(request, upstream)
    season = _season_param(request, upstream, date)
    data = upstream.data
    if kind in ("vsPlayer", "vsPlayerTotal"):
        opp = _person_param(request, upstream, "opposingPlayerId")
        if opp is None:
            return None
        return _vs_player(data, p, opp, group, date)
    if kind not in ("season", "byDateRange"):
        return {"copyright": gumbo.COPYRIGHT, "stats": []}
    line = season_line(data, p.retro_id, season, date)
    stat = pitching_stat(line) if group == "pitching" else hitting_stat(line)
    team_code = p.team
    return {
        "copyright": gumbo.COPYRIGHT,
        "stats": [
            {
                "type": {"displayName": kind},
                "group": {"displayName": group},
                "exemptions": [],
                "splits": [
                    {
                        "season": str(season),
                        "stat": stat,
                        "team": gumbo.team_ref_document(data, season, team_code),
                        "player": gumbo.person_ref(p),
                        "sport": {"id": 1, "link": "/api/v1/sports/1", "abbreviation": "MLB"},
                        "gameType": "R",
                    }
                ],
            }
        ],
    }


def _vs_player(data: UpstreamData, p: Person, opp: Person, group: str, before: str | None) -> JSON:
    batter, pitcher = (opp, p) if group == "pitching" else (p, opp)
    line = Line()
    for mg in data.games.values():
        if before is not None and mg.game.info.date >= before:
            continue
        for pa in game_tally(data, mg).pas:
            if pa.batter != batter.retro_id or pa.pitcher != pitcher.retro_id:
                continue
            line.games.add(mg.pk)
            line.pa += 1
            line.rbi += pa.rbi
            mods = _mods(pa.code)
            if pa.event_type not in _NON_AB and not mods & {"SF", "SH"}:
                line.ab += 1
            if pa.event_type in _HITS:
                line.h += 1
                line.d2 += pa.event_type == "double"
                line.d3 += pa.event_type == "triple"
                line.hr += pa.event_type == "home_run"
            line.bb += pa.event_type in ("walk", "intentional_walk")
            line.ibb += pa.event_type == "intentional_walk"
            line.hbp += pa.event_type == "hit_by_pitch"
            line.so += pa.event_type == "strikeout"
            line.sf += "SF" in mods
            line.sh += "SH" in mods
    return {
        "copyright": gumbo.COPYRIGHT,
        "stats": [
            {
                "type": {"displayName": "vsPlayerTotal"},
                "group": {"displayName": group},
                "exemptions": [],
                "splits": [
                    {
                        "stat": hitting_stat(line),
                        "batter": gumbo.person_ref(batter),
                        "pitcher": gumbo.person_ref(pitcher),
                        "numTeams": 1,
                        "gameType": "R",
                    }
                ],
            }
        ],
    }


def _games_back(leader: Record, rec: Record) -> str:
    gb = ((leader.wins - rec.wins) + (rec.losses - leader.losses)) / 2
    if gb <= 0:
        return "-"
    return f"{gb:.1f}".removesuffix(".0")


def standings(upstream: SimulatedUpstream, request: Request) -> JSON:
    """``/api/v1/standings?leagueId=103,104&season=YYYY&date=YYYY-MM-DD``."""
    date = _date_param(request, upstream)
    season = _season_param(request, upstream, date)
    leagues_text = request.query_params.get("leagueId") or "103,104"
    leagues = {int(x) for x in leagues_text.split(",") if x.strip().isdigit()}
    recs = records(upstream.data, season, date)
    codes = {code for (s, code) in upstream.data.teams if s == season} | set(recs)
    by_division: dict[int, list[str]] = {}
    for code in codes:
        ref = ids.team_ref(code)
        if ref.league_id in leagues and ref.division_id:
            by_division.setdefault(ref.division_id, []).append(code)
    league_order: dict[int, list[str]] = {}
    for code in codes:
        league_order.setdefault(ids.team_ref(code).league_id, []).append(code)
    for lst in league_order.values():
        lst.sort(key=lambda c: -recs.get(c, Record()).pct)
    out: list[JSON] = []
    for division in sorted(by_division):
        members = sorted(
            by_division[division],
            key=lambda c: (-recs.get(c, Record()).pct, -recs.get(c, Record()).wins, c),
        )
        leader = recs.get(members[0], Record())
        team_records: list[JSON] = []
        for rank, code in enumerate(members, 1):
            rec = recs.get(code, Record())
            ref = ids.team_ref(code)
            streak = rec.streak
            team_records.append(
                {
                    "team": gumbo.team_ref_document(upstream.data, season, code),
                    "season": str(season),
                    "streak": {
                        "streakType": "wins" if streak.startswith("W") else "losses",
                        "streakNumber": int(streak[1:] or 0),
                        "streakCode": streak,
                    },
                    "divisionRank": str(rank),
                    "leagueRank": str(league_order[ref.league_id].index(code) + 1),
                    "gamesBack": _games_back(leader, rec),
                    "gamesPlayed": rec.wins + rec.losses + rec.ties,
                    "leagueRecord": {
                        "wins": rec.wins,
                        "losses": rec.losses,
                        "ties": rec.ties,
                        "pct": rec.pct_text,
                    },
                    "records": {
                        "splitRecords": [
                            {
                                "wins": rec.home_wins,
                                "losses": rec.home_losses,
                                "type": "home",
                                "pct": Record(rec.home_wins, rec.home_losses).pct_text,
                            },
                            {
                                "wins": rec.away_wins,
                                "losses": rec.away_losses,
                                "type": "away",
                                "pct": Record(rec.away_wins, rec.away_losses).pct_text,
                            },
                        ]
                    },
                    "runsAllowed": rec.runs_allowed,
                    "runsScored": rec.runs_scored,
                    "runDifferential": rec.runs_scored - rec.runs_allowed,
                    "wins": rec.wins,
                    "losses": rec.losses,
                    "winningPercentage": rec.pct_text,
                }
            )
        ref0 = ids.team_ref(members[0])
        out.append(
            {
                "standingsType": "regularSeason",
                "league": {"id": ref0.league_id, "link": f"/api/v1/league/{ref0.league_id}"},
                "division": {"id": division, "link": f"/api/v1/divisions/{division}"},
                "sport": {"id": 1, "link": "/api/v1/sports/1"},
                "lastUpdated": f"{date or f'{season}-12-31'}T00:00:00.000Z",
                "teamRecords": team_records,
            }
        )
    return {"copyright": gumbo.COPYRIGHT, "records": out}


def park_factors(upstream: SimulatedUpstream, request: Request) -> JSON | None:
    """``/api/v1/venues/{venueId}/parkFactors?season=YYYY`` (pressbox's own route: the
    Stats API has none). Factor = 100 × per-game runs (home runs) in the home team's games
    at the park ÷ the same in its road games, over the regular-season games dated before
    ``date`` (default: the replay day; the whole season when every game replays)."""
    vid_text = request.path_params["venue_id"]
    if not vid_text.isdigit():
        return None
    data = upstream.data
    date = _date_param(request, upstream)
    season = _season_param(request, upstream, date)
    games = _games(data, season, date)
    at_park = [mg for mg in games if ids.venue_id(mg.game.info.site or "") == int(vid_text)]
    if not at_park:
        return None
    hosts: dict[str, int] = {}
    for mg in at_park:
        hosts[mg.game.info.home] = hosts.get(mg.game.info.home, 0) + 1
    host = max(sorted(hosts), key=hosts.__getitem__)
    home_games = [mg for mg in at_park if mg.game.info.home == host]
    road_games = [mg for mg in games if mg.game.info.away == host]

    def per_game(sample: Sequence[MlbGame]) -> tuple[float, float]:
        if not sample:
            return math.nan, math.nan
        runs = sum(mg.game.home_score + mg.game.away_score for mg in sample)
        hrs = 0
        for mg in sample:
            tally = game_tally(data, mg)
            hrs += tally.home_hr + tally.away_hr
        return runs / len(sample), hrs / len(sample)

    home_runs, home_hr = per_game(home_games)
    road_runs, road_hr = per_game(road_games)

    def factor(a: float, b: float) -> int | None:
        if math.isnan(a) or math.isnan(b) or b == 0:
            return None
        return round(100 * a / b)

    site = at_park[0].game.info.site
    return {
        "copyright": gumbo.COPYRIGHT,
        "venue": gumbo.venue_document(site),
        "season": season,
        "team": gumbo.team_ref_document(data, season, host),
        "gamesHome": len(home_games),
        "gamesRoad": len(road_games),
        "parkFactors": [
            {"stat": "runs", "value": factor(home_runs, road_runs)},
            {"stat": "homeRuns", "value": factor(home_hr, road_hr)},
        ],
        "method": "100 x per-game (team+opponent) at the park / same in the team's road games",
    }


# --------------------------------------------------------------------------- schedule


def schedule_document(
    upstream: SimulatedUpstream, games: Iterable[MlbGame], hydrate: set[str]
) -> JSON:
    """The ``/api/v1/schedule`` answer for some games, with each game's replay status."""
    data = upstream.data
    by_date: dict[str, list[JSON]] = {}
    in_progress_total = 0
    for mg in games:
        info = mg.game.info
        c = upstream.published(mg)
        n = upstream.events_out(mg, c)
        total = len(mg.game.events)
        status = gumbo.status_document(n, total, mg.game.innings < info.innings)
        live = 0 < n < total
        in_progress_total += live
        recs = records(data, mg.season, info.date)
        teams: dict[str, JSON] = {}
        last = mg.game.events[n - 1] if n else None
        for key in ("away", "home"):
            code = getattr(info, key)
            rec = recs.get(code, Record())
            side: dict[str, JSON] = {
                "leagueRecord": {"wins": rec.wins, "losses": rec.losses, "pct": rec.pct_text},
                "team": gumbo.team_ref_document(data, mg.season, code),
                "splitSquad": False,
                "seriesNumber": 0,
            }
            if last is not None:
                side["score"] = last.home_score if key == "home" else last.away_score
            if n >= total:
                mine = mg.game.home_score if key == "home" else mg.game.away_score
                theirs = mg.game.away_score if key == "home" else mg.game.home_score
                side["isWinner"] = mine > theirs
            teams[key] = side
        game: dict[str, JSON] = {
            "gamePk": mg.pk,
            "link": f"/api/v1.1/game/{mg.pk}/feed/live",
            "gameType": gumbo.game_type(mg),
            "season": str(mg.season),
            "gameDate": gumbo.iso(mg.start_utc).replace(".000Z", "Z"),
            "officialDate": info.date,
            "status": status,
            "teams": teams,
            "venue": {k: v for k, v in gumbo.venue_document(info.site).items()},
            "content": {"link": f"/api/v1/game/{mg.pk}/content"},
            "gameNumber": max(info.game_number, 1),
            "publicFacing": True,
            "doubleHeader": "N" if info.game_number == 0 else "Y",
            "gamedayType": "P",
            "tiebreaker": "N",
            "calendarEventID": f"14-{mg.pk}-{info.date}",
            "seasonDisplay": str(mg.season),
            "dayNight": mg.game.records.get("daynight", "night"),
            "scheduledInnings": info.innings,
            "reverseHomeAwayStatus": False,
            "inningBreakLength": 120,
            "recordSource": "S",
            "ifNecessary": "N",
            "ifNecessaryDescription": "Normal Game",
            "retrosheetId": mg.game.game_id,
        }
        if n >= total:
            game["isTie"] = mg.game.home_score == mg.game.away_score
        if "weather" in hydrate:
            game["weather"] = gumbo.weather_document(mg.game.records)
        if "officials" in hydrate:
            game["officials"] = gumbo.officials_document(data, mg.game.records)
        if "linescore" in hydrate:
            game["linescore"] = upstream.document(mg, c)["liveData"]["linescore"]
        if "probablePitcher" in hydrate:
            probable = upstream.document(mg, 0)["gameData"]["probablePitchers"]
            for key in ("away", "home"):
                if key in probable:
                    teams[key]["probablePitcher"] = probable[key]
        by_date.setdefault(info.date, []).append(game)
    dates = []
    for date in sorted(by_date):
        day = by_date[date]
        dates.append(
            {
                "date": date,
                "totalItems": len(day),
                "totalEvents": 0,
                "totalGames": len(day),
                "totalGamesInProgress": sum(
                    1 for g in day if g["status"]["abstractGameState"] == "Live"
                ),
                "games": day,
                "events": [],
            }
        )
    total_games = sum(len(d) for d in by_date.values())
    return {
        "copyright": gumbo.COPYRIGHT,
        "totalItems": total_games,
        "totalEvents": 0,
        "totalGames": total_games,
        "totalGamesInProgress": in_progress_total,
        "dates": dates,
    }


# --------------------------------------------------------------------------- odds


def american(prob: float) -> int:
    """American odds of a win probability with the bookmaker's overround."""
    q = min(max(prob * _OVERROUND, 0.01), 0.99)
    if q >= 0.5:
        return -round(100 * q / (1 - q))
    return round(100 * (1 - q) / q)


def _log5(a: float, b: float) -> float:
    den = a * (1 - b) + b * (1 - a)
    return a * (1 - b) / den if den else 0.5


def mlb_home_probability(home: Record, away: Record) -> float:
    """The simulated chance that the home team wins (see the module docstring)."""
    ph = (home.wins + 10) / (home.wins + home.losses + 20)
    pa = (away.wins + 10) / (away.wins + away.losses + 20)
    return min(max(_log5(ph, pa) + 0.04, 0.25), 0.75)


def _nfl_records(data: UpstreamData, before: str) -> dict[str, Record]:
    out: dict[str, Record] = {}
    for g in data.nfl.values():
        if g.date >= before or _nfl_season(g.date) != _nfl_season(before):
            continue
        end = g.events[-1]
        for code, mine, theirs in (
            (g.home, end.home_score, end.away_score),
            (g.away, end.away_score, end.home_score),
        ):
            rec = out.setdefault(code, Record())
            rec.wins += mine > theirs
            rec.losses += mine < theirs
            rec.ties += mine == theirs
    return out


def _nfl_season(date: str) -> int:
    """An NFL season runs from September to February: January games belong to the year before."""
    year, month = int(date[:4]), int(date[5:7])
    return year if month > 3 else year - 1


def nfl_home_probability(home: Record, away: Record) -> float:
    """The simulated chance that the NFL home team wins."""
    ph = (home.wins + 2) / (home.wins + home.losses + 4)
    pa = (away.wins + 2) / (away.wins + away.losses + 4)
    return min(max(_log5(ph, pa) + 0.06, 0.15), 0.85)


def _market(key: str, stamp: str, outcomes: list[JSON]) -> JSON:
    return {"key": key, "last_update": stamp, "outcomes": outcomes}


def _odds_event(
    event_id: str,
    sport: str,
    title: str,
    commence: dt.datetime,
    home: str,
    away: str,
    p_home: float,
    spread: float,
    spread_prob: float,
    stamp: str,
) -> JSON:
    return {
        "id": event_id,
        "sport_key": sport,
        "sport_title": title,
        "commence_time": commence.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "home_team": home,
        "away_team": away,
        "bookmakers": [
            {
                "key": "pressbox_sim",
                "title": "pressbox (simulated odds)",
                "last_update": stamp,
                "markets": [
                    _market(
                        "h2h",
                        stamp,
                        [
                            {"name": home, "price": american(p_home)},
                            {"name": away, "price": american(1 - p_home)},
                        ],
                    ),
                    _market(
                        "spreads",
                        stamp,
                        [
                            {"name": home, "price": american(spread_prob), "point": spread},
                            {"name": away, "price": american(1 - spread_prob), "point": -spread},
                        ],
                    ),
                ],
            }
        ],
    }


def odds(upstream: SimulatedUpstream, request: Request) -> JSON | None:
    """``/v4/sports/{sport}/odds`` (The Odds API v4 shape) for ``baseball_mlb`` and
    ``americanfootball_nfl``: games of ``date`` (default: the replay day, or every game
    not final), or the ``eventIds`` asked for (``gamePk`` or GameCenter eid)."""
    sport = request.path_params["sport"]
    q = request.query_params
    wanted = {x.strip() for x in (q.get("eventIds") or "").split(",") if x.strip()}
    date = _date_param(request, upstream)
    stamp = dt.datetime.fromtimestamp(upstream.clock.time(), dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    out: list[JSON] = []
    data = upstream.data
    if sport == "baseball_mlb":
        for mg in data.games.values():
            info = mg.game.info
            if wanted and str(mg.pk) not in wanted:
                continue
            if not wanted and date is not None and info.date != date:
                continue
            out_now = upstream.events_out(mg, upstream.published(mg))
            if not wanted and date is None and out_now >= len(mg.game.events):
                continue
            recs = records(data, mg.season, info.date)
            p = mlb_home_probability(recs.get(info.home, Record()), recs.get(info.away, Record()))
            fav_home = p >= 0.5
            # The favourite covers -1.5 about when it wins by two or more.
            p_cover = max(0.2, (p if fav_home else 1 - p) - 0.18)
            spread_prob = p_cover if fav_home else 1 - p_cover
            out.append(
                _odds_event(
                    str(mg.pk),
                    sport,
                    "MLB",
                    mg.start_utc,
                    data.team(mg.season, info.home).name,
                    data.team(mg.season, info.away).name,
                    p,
                    -1.5 if fav_home else 1.5,
                    spread_prob,
                    stamp,
                )
            )
        return out
    if sport == "americanfootball_nfl":
        for g in data.nfl.values():
            if wanted and g.eid not in wanted:
                continue
            if not wanted and date is not None and g.date != date:
                continue
            out.append(_nfl_odds(data, g, stamp))
        return out
    return None


def _nfl_odds(data: UpstreamData, g: NflGame, stamp: str) -> JSON:
    p, spread, _ = nfl_line(data, g)
    return _odds_event(
        g.eid, "americanfootball_nfl", "NFL", g.start_utc, g.home, g.away, p, spread, 0.5, stamp
    )


# --------------------------------------------------------------------------- flat documents


def _game_key(upstream: SimulatedUpstream, text: str) -> MlbGame | NflGame | None:
    if text.isdigit() and int(text) in upstream.data.games:
        return upstream.data.games[int(text)]
    return upstream.data.nfl.get(text)


def _mlb_total(recs: dict[str, Record], home: str, away: str) -> float:
    per_game = []
    for code in (home, away):
        rec = recs.get(code)
        games = rec.wins + rec.losses + rec.ties if rec else 0
        if rec and games:
            per_game.append((rec.runs_scored + rec.runs_allowed) / games)
    total = sum(per_game) / len(per_game) if per_game else 8.5
    return math.floor(total * 2) / 2 + 0.5


def mlb_line(data: UpstreamData, mg: MlbGame) -> tuple[float, float, float]:
    """(home win chance, home run line, total) of an MLB game, from records to date."""
    info = mg.game.info
    recs = records(data, mg.season, info.date)
    p = mlb_home_probability(recs.get(info.home, Record()), recs.get(info.away, Record()))
    return p, -1.5 if p >= 0.5 else 1.5, _mlb_total(recs, info.home, info.away)


def nfl_line(data: UpstreamData, g: NflGame) -> tuple[float, float, float]:
    """(home win chance, home spread, total) of an NFL game, from records to date."""
    recs = _nfl_records(data, g.date)
    p = nfl_home_probability(recs.get(g.home, Record()), recs.get(g.away, Record()))
    spread = -round(2 * 13.45 * NormalDist().inv_cdf(p)) / 2
    points = [
        e.home_score + e.away_score
        for other in data.nfl.values()
        if other.date < g.date and _nfl_season(other.date) == _nfl_season(g.date)
        for e in other.events[-1:]
    ]
    total = sum(points) / len(points) if points else 44.0
    return p, spread, math.floor(total * 2) / 2 + 0.5


def odds_document(upstream: SimulatedUpstream, request: Request) -> JSON | None:
    """``/odds/v1/games/{gameId}``: the flat odds document of :mod:`pressbox.feeds.odds`
    (``gameId`` a ``gamePk`` or a GameCenter eid). Simulated, see the module docstring."""
    game = _game_key(upstream, request.path_params["game_id"])
    if game is None:
        return None
    if isinstance(game, MlbGame):
        p, spread, total = mlb_line(upstream.data, game)
        game_id, sport = str(game.pk), "mlb"
    else:
        p, spread, total = nfl_line(upstream.data, game)
        game_id, sport = game.eid, "nfl"
    return {
        "gameId": game_id,
        "sport": sport,
        "simulated": True,
        "books": [
            {
                "provider": "pressbox-sim",
                "format": "american",
                "home": american(p),
                "away": american(1 - p),
                "draw": None,
                "spread": spread,
                "total": total,
            }
        ],
    }


def nfl_pickcenter(data: UpstreamData, g: NflGame) -> list[JSON]:
    """ESPN's ``pickcenter`` entry for an NFL game (simulated odds)."""
    p, spread, total = nfl_line(data, g)
    home_fav = spread <= 0
    fav = g.home if home_fav else g.away
    return [
        {
            "provider": {"id": "9999", "name": "pressbox (simulated)", "priority": 1},
            "details": f"{fav} {-abs(spread):g}" if spread else "EVEN",
            "overUnder": total,
            "spread": abs(spread),
            "awayTeamOdds": {"favorite": not home_fav, "moneyLine": american(1 - p)},
            "homeTeamOdds": {"favorite": home_fav, "moneyLine": american(p)},
        }
    ]


_RETRO_WEATHER: Final = (
    ("winddir", "windDirection"),
    ("sky", "sky"),
    ("precip", "precipitation"),
    ("fieldcond", "fieldCondition"),
)


def weather_flat_document(upstream: SimulatedUpstream, request: Request) -> JSON | None:
    """``/weather/v1/games/{gamePk}``: game-time weather in the flat shape of
    :mod:`pressbox.feeds.weather`, from Retrosheet's info records (Retrosheet vocabulary)."""
    game = _game_key(upstream, request.path_params["game_id"])
    if not isinstance(game, MlbGame):
        return None
    rec = game.game.records
    out: dict[str, JSON] = {"gameId": str(game.pk)}
    temp = rec.get("temp", "")
    if temp.isdigit() and int(temp) > 0:
        out["temperatureF"] = int(temp)
    speed = rec.get("windspeed", "")
    if speed.isdigit():
        out["windSpeedMph"] = int(speed)
    for key, name in _RETRO_WEATHER:
        value = rec.get(key, "")
        if value and value != "unknown":
            out[name] = value
    out["observedAt"] = gumbo.iso(game.start_utc).replace(".000Z", "Z")
    return out
