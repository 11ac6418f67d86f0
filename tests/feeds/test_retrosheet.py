"""The Retrosheet reader: the play grammar, game records, errors and the bundled sample.

Play strings come from real ``play`` lines of the 2015-2016 event files (the full line is
quoted next to each case); the runners on base are the ones the game had at that moment.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pressbox.engine.events import BaseballPlay, BaseballSituation, PlayEvent, RunnerMove
from pressbox.engine.state import GameMachine
from pressbox.errors import FeedParseError
from pressbox.feeds.retrosheet import (
    PlayResult,
    RetrosheetGame,
    apply_play,
    iter_games,
    parse_lines,
    play_gaps,
    read_rosters,
    read_teams,
)
from tests.conftest import SAMPLE_RETROSHEET

R1, R2, R3 = "run1", "run2", "run3"


def run(code: str, on: str = "") -> PlayResult:
    """Apply a play string with runners on the bases named in ``on`` (``"13"``)."""
    bases = (R1 if "1" in on else None, R2 if "2" in on else None, R3 if "3" in on else None)
    return apply_play(code, "bat", bases)


def run_detail(event: PlayEvent) -> BaseballPlay:
    assert isinstance(event.detail, BaseballPlay)
    return event.detail


def moves(result: PlayResult) -> list[tuple[str, int, int, bool]]:
    return [(m.runner, m.start, m.end, m.out) for m in result.moves]


def test_hits() -> None:
    """Singles, doubles, triples, home runs and ground-rule doubles move the batter."""
    # play,1,0,hosme001,22,CBFFB>X,S9/G.2-H
    r = run("S9/G.2-H", "2")
    assert moves(r) == [("bat", 0, 1, False), (R2, 2, 4, False)]
    assert (r.event_type, r.runs, r.rbi, r.bases) == ("single", 1, 1, ("bat", None, None))
    # play,2,0,escoa003,22,FSBBX,D8/F+.2-H(UR);1-H
    r = run("D8/F+.2-H(UR);1-H", "12")
    assert (r.event_type, r.runs, r.rbi, r.bases) == ("double", 2, 2, (None, "bat", None))
    # play,6,0,orlap001,00,X,T8/L+
    assert run("T8/L+").bases == (None, None, "bat")
    # play,6,0,morak001,22,SCBBX,HR/78/L
    r = run("HR/78/L", "1")
    assert (r.event_type, r.runs, r.bases) == ("home_run", 1, (R1, None, None))
    # play,2,1,ahmen001,01,FX,HR/7/F.2-H(TUR);B-H(TUR)
    r = run("HR/7/F.2-H(TUR);B-H(TUR)", "2")
    assert (r.runs, r.bases) == (2, (None, None, None))
    # play,9,1,freed001,11,BFX,DGR/9/L.1-3
    r = run("DGR/9/L.1-3", "1")
    assert (r.event_type, r.bases) == ("double", (None, "bat", R1))
    # play,2,0,martj006,21,BBCX,S7/L+.B-2(E7): the batter takes second on the error.
    assert run("S7/L+.B-2(E7)").bases == (None, "bat", None)


def test_outs_with_fielders() -> None:
    """Putout chains, force outs, double and triple plays count the right outs."""
    # play,1,0,escoa003,22,FSBFBX,63/G
    r = run("63/G")
    assert (moves(r), r.outs_on_play, r.event_type) == ([("bat", 0, 1, True)], 1, "out")
    # play,6,1,pujoa001,10,BX,64(1)3/GDP
    r = run("64(1)3/GDP", "1")
    assert (r.outs_on_play, r.bases, r.rbi) == (2, (None, None, None), 0)
    # play,7,0,guyeb001,12,..BSSX,3(B)6(1)/GDP
    assert run("3(B)6(1)/GDP", "1").outs_on_play == 2
    # play,5,1,kinsi001,21,.BBCX,5(2)4(1)3/GTP
    assert run("5(2)4(1)3/GTP", "12").outs_on_play == 3
    # play,9,0,goldp001,02,CS>X,6/L/TP.2X2(64);1X1(43)
    assert run("6/L/TP.2X2(64);1X1(43)", "12").outs_on_play == 3
    # play,3,1,giavj001,21,C*B1*BX,64(1)/FO/G-: the batter is safe at first on the force.
    r = run("64(1)/FO/G-", "1")
    assert moves(r) == [("bat", 0, 1, False), (R1, 1, 2, True)]
    assert r.event_type == "fielders_choice"
    # play,14,1,hosme001,..,9/F/SF.3-H(UR) (KCA201510270): the sacrifice fly drives it in.
    r = run("9/F/SF.3-H(UR)", "3")
    assert (r.outs_on_play, r.runs, r.rbi) == (1, 1, 1)


def test_errors() -> None:
    """Errors put the batter on base; a foul-fly error moves nobody and keeps the at-bat."""
    # play,3,1,troum001,00,X,E6/G
    r = run("E6/G")
    assert (r.event_type, r.bases, r.outs_on_play, r.pa_end) == (
        "error",
        ("bat", None, None),
        0,
        True,
    )
    # play,2,1,aybae001,10,BX,3E1/G: the error is in the putout chain.
    assert run("3E1/G").bases == ("bat", None, None)
    # play,2,0,infao001,01,CX,E5/FO/G.3-H;1-2: no RBI on an error.
    r = run("E5/FO/G.3-H;1-2", "13")
    assert (r.runs, r.rbi, r.bases) == (1, 0, ("bat", R1, None))
    # play,6,0,reimn001,11,.BSF,FLE4
    r = run("FLE4", "1")
    assert (r.moves, r.pa_end, r.bases) == ((), False, (R1, None, None))


def test_fielders_choice() -> None:
    """A fielder's choice puts the batter on first and may retire a runner."""
    # play,4,0,sogae001,10,BX,FC3/G.3XH(325);1-2
    r = run("FC3/G.3XH(325);1-2", "13")
    assert (r.event_type, r.outs_on_play, r.runs, r.bases) == (
        "fielders_choice",
        1,
        0,
        ("bat", R1, None),
    )


def test_walks_and_hit_by_pitch() -> None:
    """Walks, intentional walks and hit batters award first base and force runners."""
    # play,3,0,escoa003,32,CBBFBF*B,W
    assert (run("W").event_type, run("W").bases) == ("walk", ("bat", None, None))
    # play,2,0,cainl001,30,IIII,IW
    assert run("IW").event_type == "intentional_walk"
    # play,3,0,mousm001,00,11H,HP.1-2
    r = run("HP.1-2", "1")
    assert (r.event_type, r.bases) == ("hit_by_pitch", ("bat", R1, None))
    # play,8,0,gorda001,00,H,HP: with the bases loaded the file would list 3-H;2-3;1-2,
    # and the forced runners move up even when a line leaves them out.
    r = run("HP", "123")
    assert (r.runs, r.rbi, r.bases) == (1, 1, ("bat", R1, R2))


def test_strikeouts_with_runner_events() -> None:
    """A strikeout can share its play with a steal, a caught stealing, a wild pitch..."""
    # play,3,0,morak001,02,SCFS,K
    assert moves(run("K")) == [("bat", 0, 1, True)]
    # play,3,1,cowgc001,12,CBSS,K23
    assert run("K23").outs_on_play == 1
    # play,1,0,cainl001,32,SBBCF*B1>S,K+SB2/MREV
    r = run("K+SB2/MREV", "1")
    assert (r.event_type, r.outs_on_play, r.bases, r.pa_end) == (
        "strikeout",
        1,
        (None, R1, None),
        True,
    )
    # play,2,1,joycm001,32,CSBFBBFFC,K+CS2(26)/DP
    assert run("K+CS2(26)/DP", "1").outs_on_play == 2
    # play,8,1,mckem001,32,BBBCFC,K+PO1(23)/DP/MREV
    assert run("K+PO1(23)/DP/MREV", "1").outs_on_play == 2
    # play,3,0,morak001,22,CBFBS,K+WP.B-1: the batter reaches on the wild third strike.
    r = run("K+WP.B-1")
    assert (r.outs_on_play, r.bases) == (0, ("bat", None, None))
    # play,7,0,odorr001,22,BBCFS,K+PB.B-1
    assert run("K+PB.B-1").bases == ("bat", None, None)
    # play,6,1,sancc001,12,CBFFS,K+E2/TH.B-3
    assert run("K+E2/TH.B-3").bases == (None, None, "bat")
    # play,9,0,cirip001,12,.*BCF>F>S,K+DI.1-2
    assert run("K+DI.1-2", "1").bases == (None, R1, None)
    # play,5,1,tomay001,32,.BBF2BSFFB,W+WP.2-3
    r = run("W+WP.2-3", "2")
    assert (r.event_type, r.bases) == ("walk", ("bat", None, R2))
    # play,8,1,joycm001,31,..BBFB>B,W+SB3
    assert run("W+SB3", "2").bases == ("bat", None, R2)
    # play,9,0,aybae001,31,BFBB.I,IW+WP.3-H(NR);2-3
    r = run("IW+WP.3-H(NR);2-3", "23")
    assert (r.runs, r.rbi, r.bases) == (1, 0, ("bat", None, R2))


def test_stolen_bases() -> None:
    """Stolen bases, double steals and steals of home."""
    # play,9,0,choos001,10,.B>C,SB2.1-3(E2/TH2)
    r = run("SB2.1-3(E2/TH2)", "1")
    assert (r.event_type, r.pa_end, r.bases) == ("stolen_base", False, (None, None, R1))
    # play,4,1,davic003,22,FBF*B>B,SBH;SB2
    r = run("SBH;SB2", "13")
    assert (r.runs, r.rbi, r.bases) == (1, 0, (None, R1, None))
    # play,10,0,castj006,12,BCT>B,SBH(UR);SB2
    assert run("SBH(UR);SB2", "13").runs == 1


def test_caught_stealing() -> None:
    """Caught stealing retires the runner, unless an error lets him stay safe."""
    # play,5,0,riosa002,12,C*BF>B,CSH(2425)
    r = run("CSH(2425)", "3")
    assert (moves(r), r.event_type) == ([(R3, 3, 4, True)], "caught_stealing")
    # play,5,0,mchuc001,11,BM>B,CS2(2E6).1-2: the error makes him safe.
    r = run("CS2(2E6).1-2", "1")
    assert (r.outs_on_play, r.bases) == (0, (None, R1, None))
    # play,3,1,goldp001,01,S>B,CS3(2E5).2-3;1-2
    r = run("CS3(2E5).2-3;1-2", "12")
    assert (r.outs_on_play, r.bases) == (0, (None, R1, R2))


def test_pickoffs() -> None:
    """Pickoffs and pickoff-caught-stealing, with and without errors."""
    # play,2,0,norrd001,22,CB1F*B111,PO1(13)
    r = run("PO1(13)", "1")
    assert (r.event_type, r.outs_on_play, r.bases) == ("pickoff", 1, (None, None, None))
    # play,7,0,cainl001,22,CBBF1,PO1(E1).1-2
    r = run("PO1(E1).1-2", "1")
    assert (r.outs_on_play, r.bases) == (0, (None, R1, None))
    # play,8,1,blang001,20,.*BB+3,PO3(E2/TH).1-2: "/TH" inside the parentheses.
    r = run("PO3(E2/TH).1-2", "13")
    assert (r.outs_on_play, r.bases) == (0, (None, R1, R3))
    # play,3,0,valbl001,00,1,POCS2(13)
    r = run("POCS2(13)", "1")
    assert (r.event_type, r.outs_on_play) == ("caught_stealing", 1)
    # play,6,1,pennc001,20,.3BB+3,POCSH(252).1-2
    r = run("POCSH(252).1-2", "13")
    assert (r.outs_on_play, r.runs, r.bases) == (1, 0, (None, R1, None))


@pytest.mark.parametrize(
    ("line", "on", "kind", "bases", "runs"),
    [
        ("play,3,1,joycm001,22,BBSF1FFB,WP.1-2", "1", "wild_pitch", (None, R1, None), 0),
        ("play,6,1,pujoa001,01,CB,WP.3-H(NR);2-3;1-2", "123", "wild_pitch", (None, R1, R2), 1),
        ("play,4,0,hundn001,00,B,PB.2-3", "2", "passed_ball", (None, None, R2), 0),
        ("play,3,0,altuj001,10,BN,BK.1-2", "1", "balk", (None, R1, None), 0),
        ("play,9,1,giavj001,00,>C,DI.1-2", "1", "defensive_indifference", (None, R1, None), 0),
        ("play,2,0,hamij003,00,B,OA.2X3(25)", "2", "other_advance", (None, None, None), 0),
        ("play,7,0,mcgec001,12,SC*B*B,OA.1X1(23)", "1", "other_advance", (None, None, None), 0),
    ],
)
def test_runner_advances_between_pitches(
    line: str, on: str, kind: str, bases: tuple[str | None, ...], runs: int
) -> None:
    """Wild pitches, passed balls, balks, indifference and other advances."""
    r = run(line.split(",")[-1], on)
    assert (r.event_type, r.bases, r.runs, r.rbi, r.pa_end) == (kind, bases, runs, 0, False)


def test_advances_after_the_dot() -> None:
    """X outs, outs cancelled by an error, and the (UR)/(TUR)/(NR)/(RBI) tags."""
    # play,7,1,lougd001,10,BX,S6/G.3-H;1XH(E6/TH)(92);B-2: the error let the runner try
    # for home, where he was thrown out; the out stands.
    r = run("S6/G.3-H;1XH(E6/TH)(92);B-2", "13")
    assert (r.runs, r.outs_on_play, r.bases) == (1, 1, (None, "bat", None))
    # play,9,1,sprig001,00,X,FC5.1X3(5E4);B-1: the dropped throw cancels the out.
    r = run("FC5.1X3(5E4);B-1", "1")
    assert (r.outs_on_play, r.bases) == (0, ("bat", None, R1))
    # play,5,1,howar001,00,>B,SB2.1XH(72)(E2/TH): out at home after the throwing error.
    assert run("SB2.1XH(72)(E2/TH)", "1").outs_on_play == 1
    # play,2,1,pujoa001,32,BFF*BB>F>F>F>X,E6/L.2-H(UR)(NR);1-3
    r = run("E6/L.2-H(UR)(NR);1-3", "12")
    assert (r.runs, r.rbi, r.bases) == (1, 0, ("bat", None, R1))
    # play,6,1,rojam002,11,.B>C.X,E5/G-.3-H(RBI): an RBI is credited despite the error.
    assert run("E5/G-.3-H(RBI)", "3").rbi == 1
    # play,7,0,vogts001,12,CFBX,S9/L.3-H(UR);2-H(TUR);1-3
    r = run("S9/L.3-H(UR);2-H(TUR);1-3", "123")
    assert (r.runs, r.rbi, r.bases) == (2, 2, ("bat", None, R1))


def test_interference() -> None:
    """Batter interference is an out; catcher interference awards first base."""
    # play,6,1,aybae001,01,FX,2/BG/BINT
    assert (run("2/BG/BINT").outs_on_play, run("2/BG/BINT").event_type) == (1, "out")
    # play,3,0,zunim001,01,SX,2/BG/BINT.2-2: the runner holds ("2-2" is no move).
    r = run("2/BG/BINT.2-2", "2")
    assert (moves(r), r.bases) == ([("bat", 0, 1, True)], (None, R2, None))
    # play,6,1,murpd005,32,BCBFBFX,C/E2
    r = run("C/E2", "1")
    assert (r.event_type, r.bases) == ("interference", ("bat", R1, None))


def test_bad_play_strings_are_refused() -> None:
    """An unknown play, an advance from an empty base or a crowded base raise ValueError."""
    with pytest.raises(ValueError, match="unknown play"):
        run("ZZ9")
    with pytest.raises(ValueError, match="no runner on base 2"):
        run("S9.2-H", "1")
    with pytest.raises(ValueError, match="two runners end on base 2"):
        run("D7.1-2", "1")


HEADER = """id,TST201504100
version,2
info,visteam,KCA
info,hometeam,ANA
info,date,2015/04/10
info,number,0
info,timeofgame,60
start,escoa003,"Alcides Escobar",0,1,6
start,mousm001,"Mike Moustakas",0,2,5
start,cainl001,"Lorenzo Cain",0,3,8
start,vargj001,"Jason Vargas",0,0,1
start,calhk001,"Kole Calhoun",1,1,9
start,santh001,"Hector Santiago",1,0,1
"""


def game_of(body: str, errors: list[FeedParseError] | None = None) -> list[RetrosheetGame]:
    return list(parse_lines((HEADER + body).splitlines(), "TST.EVA", errors))


def test_substitutions_change_batter_pitcher_and_runner_ids() -> None:
    """A pinch runner takes over his base; a new pitcher is credited from the next play."""
    # Lines from ANA201504100 and 2015ANA.EVA (pinch runner deshd002 for belta001).
    [game] = game_of(
        "play,1,0,escoa003,31,BBBCB,W\n"
        "play,1,0,mousm001,00,,NP\n"
        'sub,deshd002,"Delino DeShields",0,1,12\n'
        'sub,smitj001,"Joe Smith",1,0,1\n'
        "play,1,0,mousm001,10,.B>C,SB2.1-3(E2/TH2)\n"
    )
    sb = game.events[2]
    assert isinstance(sb.before, BaseballSituation)
    assert isinstance(sb.detail, BaseballPlay)
    assert sb.before.bases == ("deshd002", None, None)
    assert sb.detail.pitcher == "smitj001"
    assert run_detail(game.events[1]).pitcher == "santh001"
    assert sb.after == BaseballSituation(
        inning=1, half="top", outs=0, bases=(None, None, "deshd002")
    )
    assert [e.seq for e in game.events] == [1, 2, 3, 4]


def test_radj_places_the_extra_inning_runner() -> None:
    """``radj,<player>,<base>`` becomes a runner_placed play with no batter."""
    # The extra-inning runner dates from 2020, so no 2015-2016 file has a radj line; this
    # one follows the Retrosheet specification's format.
    body = "".join(f"play,{i},{h},escoa003,00,X,63/G\n" * 3 for i in range(1, 10) for h in (0, 1))
    [game] = game_of(body + "radj,cainl001,2\nplay,10,0,escoa003,00,X,S9/G.2-H\n")
    placed, single = game.events[-3], game.events[-2]
    assert isinstance(placed.detail, BaseballPlay)
    assert placed.detail.code == "radj"
    assert placed.detail.event_type == "runner_placed"
    assert placed.detail.batter is None
    assert placed.detail.pa_end is False
    assert placed.detail.moves == (RunnerMove("cainl001", 0, 2),)
    assert single.away_score == 1
    assert game.info.extra_runner
    assert game.events[0].info is not None
    assert game.events[0].info.extra_runner
    _through_machine(game)


def test_a_broken_game_is_skipped_and_reported() -> None:
    """A bad line skips its game with file, line and reason; the next game is still read."""
    errors: list[FeedParseError] = []
    lines = (HEADER + "play,1,0,escoa003,00,X,S9.2-H\n" + HEADER + "play,1,0,x,00,X,K\n").split(
        "\n"
    )
    games = list(parse_lines(lines, "TST.EVA", errors))
    assert len(games) == 1
    assert games[0].plays == 1
    [error] = errors
    assert (error.source, error.line) == ("TST.EVA", 14)
    assert "no runner on base 2" in error.reason


def test_play_for_the_wrong_half_inning_is_an_error() -> None:
    """A play line that disagrees with the tracked inning and outs is refused."""
    errors: list[FeedParseError] = []
    assert game_of("play,1,0,escoa003,00,X,63/G\nplay,1,1,calhk001,00,X,63/G\n", errors) == []
    assert "while the game is in inning 1 half 0 with 1 outs" in errors[0].reason


def sample(game_id: str) -> RetrosheetGame:
    [game] = [g for g in iter_games([SAMPLE_RETROSHEET]) if g.game_id == game_id]
    return game


def test_walk_off_ends_mid_inning() -> None:
    """The 2015 World Series opener ends on a sacrifice fly with one out in the 14th."""
    game = sample("KCA201510270")
    last, end = game.events[-2], game.events[-1]
    assert run_detail(last).code == "9/F/SF.3-H(UR)"
    assert last.after == BaseballSituation(
        inning=14, half="bottom", outs=1, bases=("cainl001", "zobrb001", None)
    )
    assert end.before == last.after
    assert end.kind == "game_end"
    assert (end.home_score, end.away_score) == (5, 4)
    assert game.innings == 14
    assert game.postseason
    assert end.text == "Final/14"


def test_weather_shortened_games() -> None:
    """Games called after six innings end there, a 1-1 tie included."""
    assert sample("COL201505080").summary() == {
        "game_id": "COL201505080",
        "date": "2015-05-08",
        "home": "COL",
        "away": "LAN",
        "home_score": 1,
        "away_score": 2,
        "innings": 6,
        "plays": 47,
    }
    tie = sample("PIT201609290")
    assert (tie.home_score, tie.away_score, tie.innings) == (1, 1, 6)


def _through_machine(game: RetrosheetGame) -> None:
    machine = GameMachine("mlb", game.game_id)
    for event in game.events:
        machine.apply(event)
    assert machine.state.status == "final"
    assert (machine.state.home_score, machine.state.away_score) == (
        game.home_score,
        game.away_score,
    )


def test_every_sample_game_passes_the_state_machine() -> None:
    """Each bundled game applies event by event to GameMachine and ends final."""
    errors: list[FeedParseError] = []
    games = list(iter_games([SAMPLE_RETROSHEET], errors))
    assert errors == []
    assert len(games) == 7
    for game in games:
        _through_machine(game)


def test_sample_game_first_plays() -> None:
    """The reader's events for ANA201504100 start as the box score does."""
    game = sample("ANA201504100")
    start, first = game.events[0], game.events[1]
    assert start.kind == "game_start"
    assert start.info == game.info
    assert (game.info.home, game.info.away, game.info.date) == ("ANA", "KCA", "2015-04-10")
    assert game.info.home_name == "Anaheim Angels"
    assert first.event_id == "ANA201504100:2"
    assert first.clock == "T1"
    assert first.text == "Alcides Escobar grounds out (63/G)"
    assert isinstance(first.before, BaseballSituation)
    assert (first.before.balls, first.before.strikes) == (2, 2)
    assert game.pitches[1] == "FSBFBX"
    assert len(game.pitches) == len(game.events)
    assert game.records["umphome"] == "millb901"
    assert game.umpires == {
        "home": "millb901",
        "1b": "eddid901",
        "2b": "wolfj901",
        "3b": "hamaa901",
    }
    assert game.weather["sky"] == "cloudy"
    single = game.events[4]
    assert single.text == "Eric Hosmer singles; Lorenzo Cain scores (S9/G.2-H)"
    assert (single.away_score, run_detail(single).rbi) == (1, 1)


def test_iter_games_reads_files_and_folders(tmp_path: Path) -> None:
    """Folders are read recursively unless told otherwise; files are read as given."""
    season = SAMPLE_RETROSHEET / "2016"
    assert len(list(iter_games(season))) == 4
    assert len(list(iter_games([season], recursive=False))) == 2
    assert len(list(iter_games([season / "2016PIT.EVN"]))) == 1
    errors: list[FeedParseError] = []
    assert list(iter_games([tmp_path / "2016XXX.EVN"], errors)) == []
    assert "cannot read" in errors[0].reason


def test_rosters_and_teams() -> None:
    """Roster files give each team's players; TEAM files give names."""
    rosters = read_rosters(SAMPLE_RETROSHEET / "2015")
    assert rosters["ANA"]["troum001"].last_name == "Trout"
    assert rosters["KCA"]["escoa003"].position == "SS"
    assert read_teams(SAMPLE_RETROSHEET / "2016" / "TEAM2016.TXT")["CHN"] == "Chicago Cubs"


def test_play_gaps_share_the_game_length() -> None:
    """Gaps add up to the recorded game length and grow with the pitches of a play."""
    game = sample("ANA201504100")
    gaps = play_gaps(game)
    assert len(gaps) == len(game.events)
    assert gaps[0] == 0
    assert sum(gaps) == pytest.approx(int(game.records["timeofgame"]) * 60)
    # 63/G after six pitches waits longer than 6/P on the first pitch.
    assert gaps[1] > gaps[2]
