"""Retrosheet event files read into normalized MLB play events.

A Retrosheet event file (``2015ANA.EVA``, ``2015WS.EVE``...) holds one record per game:
``id``/``info`` lines, the ``start`` lineups, then ``play`` lines with ``sub`` (and
``com``, ``data``, ``badj``, ``padj``, ``ladj``, ``radj``) lines in between. This module
turns each game into the ordered :class:`~pressbox.engine.events.PlayEvent` log of the
event contract: ``game_start``, one ``play`` event per Retrosheet play (``NP`` lines, which
only mark substitutions, produce none), ``game_end``. It tracks the situation itself
(inning, half, outs, runner ids on base, score) because a Retrosheet play string only says
what changed.

The play grammar covered (the Retrosheet event-file specification): hits (``S``, ``D``,
``T``, ``H``/``HR``, ``DGR``), fielded outs with putout chains and force outs in
parentheses (``64(1)3``, ``8(B)84(2)``), errors (``E5``, ``3E1``), fielder's choice,
foul-fly errors, walks, intentional walks, hit by pitch, catcher interference,
strikeouts alone or with a runner event (``K+SB2``, ``K+CS2(26)``, ``W+WP``...), stolen
bases, caught stealing, pickoffs (``PO``, ``POCS``) with and without errors, wild pitches,
passed balls, balks, defensive indifference, other advances, and the advances after the
``.``: ``-`` or ``X``, error-negated outs (``1X3(5E2)``), the ``(UR)``, ``(TUR)``,
``(NR)``, ``(NORBI)`` and ``(RBI)`` tags, and runners placed by rule (``radj``).

Library choice. Three Python readers on PyPI were compared on the 2015 season before
writing this one. ``pychadwick`` 0.6.1 does not build (its CMake configuration is too old
for current cmake). ``pyretrosheet`` 0.0.10 parses every 2015 file (2,429 games, 9.4 s)
into play-string models, but tracks no situation: no outs, runner ids, or score, so
everything this module does would still be needed on top of it. ``retrosheetpy`` 2.1.0
delegates to ``chadwickpy`` 0.4.0, a pure-Python port of Chadwick's ``cwevent`` that does
track the situation, but it needs about 1.1 s per team file (over 30 s a season, ten
times our budget), is GPL-3.0 (pressbox is MIT) and pulls in duckdb and pyarrow.

Reading is pure apart from opening the files; a game that cannot be read is skipped and
reported as a :class:`~pressbox.errors.FeedParseError` (file name, line, reason).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Final, TypeAlias

import msgspec

from pressbox.engine.events import (
    BaseballPlay,
    BaseballSituation,
    GameInfo,
    PlayEvent,
    RunnerMove,
)
from pressbox.errors import FeedParseError

Bases: TypeAlias = tuple[str | None, str | None, str | None]
_EMPTY: Final[Bases] = (None, None, None)
_SPORT: Final = "mlb"

EVENT_SUFFIXES: Final = (".EVA", ".EVN", ".EVE")
"""Event files: American League and National League home games, and the postseason."""

_BASE_OF: Final = {"B": 0, "1": 1, "2": 2, "3": 3, "H": 4}
_PITCH_LETTERS: Final = frozenset("BCFHIKLMOPQRSTUVXY")
_DEFAULT_GAME_SECONDS: Final = 180 * 60.0


@dataclass(frozen=True, slots=True)
class RosterPlayer:
    """One line of a Retrosheet roster file (``ANA2015.ROS``)."""

    player_id: str
    last_name: str
    first_name: str
    bats: str
    throws: str
    team: str
    position: str


@dataclass(frozen=True, slots=True)
class RetrosheetGame:
    """One game of an event file, as normalized events.

    Attributes:
        game_id: Retrosheet id, home team + date + game number (``ANA201504100``).
        info: Teams, date, start time, site and doubleheader number.
        events: ``game_start``, the plays in order, ``game_end``; seq 1, 2, 3...
        records: Every ``info`` line of the game, raw (``umphome``, ``temp``, ``sky``...).
        source: The event file's name.
        postseason: The game comes from a postseason file (``.EVE``).
        pitches: The pitch sequence of each event (``"CBFX"``, ``""`` when none), one per
            event, for pacing and pitch counts.
    """

    game_id: str
    info: GameInfo
    events: tuple[PlayEvent, ...]
    records: MappingProxyType[str, str] = field(default_factory=lambda: MappingProxyType({}))
    source: str = ""
    postseason: bool = False
    pitches: tuple[str, ...] = ()

    @property
    def home_score(self) -> int:
        """Final runs of the home team."""
        return self.events[-1].home_score

    @property
    def away_score(self) -> int:
        """Final runs of the visitors."""
        return self.events[-1].away_score

    @property
    def plays(self) -> int:
        """Number of ``play`` events."""
        return len(self.events) - 2

    @property
    def innings(self) -> int:
        """Innings played: the inning of the last play (a walk-off in the 10th gives 10)."""
        return self.events[-1].period

    @property
    def umpires(self) -> dict[str, str]:
        """Umpire ids by position (``home``, ``1b``, ``2b``, ``3b``, ``lf``, ``rf``)."""
        return {
            key[3:]: value
            for key, value in self.records.items()
            if key.startswith("ump") and value and value != "(none)"
        }

    @property
    def weather(self) -> dict[str, str]:
        """Conditions as recorded: ``temp``, ``winddir``, ``windspeed``, ``sky``, ``precip``,
        ``fieldcond``, ``daynight`` (``"unknown"`` and ``-1`` where not known)."""
        keys = ("temp", "winddir", "windspeed", "sky", "precip", "fieldcond", "daynight")
        return {key: self.records[key] for key in keys if key in self.records}

    def summary(self) -> dict[str, str | int]:
        """The game's one-line summary: ids, teams, final score, innings and plays."""
        return {
            "game_id": self.game_id,
            "date": self.info.date,
            "home": self.info.home,
            "away": self.info.away,
            "home_score": self.home_score,
            "away_score": self.away_score,
            "innings": self.innings,
            "plays": self.plays,
        }


# --------------------------------------------------------------------------- play strings

Move: TypeAlias = tuple[int, int, bool]
"""(start, end, out) of one runner; start 0 is the batter, end 4 is home."""


@dataclass(frozen=True, slots=True)
class _Spec:
    """What a play string says, independent of who is on base (cached per string)."""

    event_type: str
    pa_end: bool
    moves: tuple[Move, ...]
    """Moves implied by the basic play (batter and runners); advances override them."""
    advances: tuple[Move, ...]
    """Moves written after the ``.``, in order."""
    no_rbi: frozenset[int]
    """Start bases whose run is marked ``(NR)``/``(NORBI)``."""
    yes_rbi: frozenset[int]
    """Start bases whose run is marked ``(RBI)``."""
    rbi_default: bool
    """Runs on this play count as RBI unless marked otherwise."""
    force_batter: bool
    """The batter was awarded first base, so runners forced by him move up if unnamed."""
    verb: str
    """What the batter did, for the event text (``"grounds into a double play"``)."""


class _PlayError(ValueError):
    """A play string or a situation that cannot be read; becomes FeedParseError."""


_ADVANCE_RE: Final = re.compile(r"([B123])([-X])([123H])((?:\([^)]*\))*)$")
_GROUP_RE: Final = re.compile(r"\(([^)]*)\)")
_FIELD_ERR_RE: Final = re.compile(r"^\d*E\d")
_CHAIN_RE: Final = re.compile(r"^[0-9]*$")
_HIT_TYPES: Final = {"S": ("single", 1), "D": ("double", 2), "T": ("triple", 3)}


def _is_error_group(group: str) -> bool:
    return _FIELD_ERR_RE.match(group) is not None


def _fielding_groups(groups: str) -> list[str]:
    """The fielding-credit groups of an advance, without modifiers such as ``/TH``."""
    found = []
    for g in _GROUP_RE.findall(groups):
        g = g.split("/", 1)[0]
        if g and (g[0].isdigit() or g[0] == "E"):
            found.append(g)
    return found


def _parse_advances(text: str) -> tuple[list[Move], set[int], set[int]]:
    moves: list[Move] = []
    no_rbi: set[int] = set()
    yes_rbi: set[int] = set()
    for part in text.split(";"):
        if not part:
            continue
        m = _ADVANCE_RE.match(part)
        if m is None:
            raise _PlayError(f"unreadable advance {part!r}")
        start = _BASE_OF[m.group(1)]
        end = _BASE_OF[m.group(3)]
        groups = m.group(4)
        out = m.group(2) == "X"
        if out:
            fielding = _fielding_groups(groups)
            # An out written with X is cancelled when every fielding credit is an error
            # ("1X3(5E2)": the throw was dropped). "1XH(72)(E2/TH)" and "(E6/TH)(92)" stay
            # outs: the error let the runner try for another base where he was thrown out.
            if fielding and all(_is_error_group(g) for g in fielding):
                out = False
        if groups:
            tags = set(_GROUP_RE.findall(groups))
            if tags & {"NR", "NORBI"}:
                no_rbi.add(start)
            if "RBI" in tags:
                yes_rbi.add(start)
        moves.append((start, end, out))
    return moves, no_rbi, yes_rbi


def _fielded(play: str) -> tuple[list[Move], bool, bool]:
    """Outs of a fielding chain such as ``64(1)3`` or ``8(B)84(2)``.

    Returns:
        The runner/batter out moves, whether the batter is out, and whether the chain
        holds an error (``3E1``: the batter reaches).
    """
    moves: list[Move] = []
    batter_out = False
    trailing_digits = False
    has_error = "E" in play
    i = 0
    n = len(play)
    while i < n:
        c = play[i]
        if c == "(":
            j = play.index(")", i)
            who = play[i + 1 : j]
            if who == "B":
                batter_out = True
                moves.append((0, 1, True))
            elif who in ("1", "2", "3"):
                b = int(who)
                moves.append((b, b + 1, True))
            else:
                raise _PlayError(f"unreadable force out {play!r}")
            trailing_digits = False
            i = j + 1
        elif c.isdigit():
            trailing_digits = True
            i += 1
        elif c == "E":
            i += 1
        else:
            raise _PlayError(f"unreadable fielding play {play!r}")
    if has_error:
        return moves, False, True
    if trailing_digits and not batter_out:
        batter_out = True
        moves.append((0, 1, True))
    return moves, batter_out, False


_RUNNER_ONLY: Final = (
    ("WP", "wild_pitch"),
    ("PB", "passed_ball"),
    ("BK", "balk"),
    ("DI", "defensive_indifference"),
    ("OA", "other_advance"),
    ("E", "error"),
)


def _runner_event(part: str) -> tuple[str, list[Move]]:
    """Runner events alone or after ``K+``/``W+``: ``SB2``, ``SBH;SB2``, ``CS2(24)``...

    Returns:
        The family of the first event and the moves the events imply.
    """
    kinds: list[str] = []
    moves: list[Move] = []
    for item in part.split(";"):
        if item.startswith("SB") and len(item) >= 3:
            to = _BASE_OF[item[2]]
            kinds.append("stolen_base")
            moves.append((to - 1, to, False))
        elif item.startswith(("POCS", "CS")) and len(item) >= (5 if item[0] == "P" else 3):
            at = 4 if item[0] == "P" else 2
            to = _BASE_OF[item[at]]
            # An error in the fielding credit ("CS2(2E6)") lets the runner take the base.
            safe = any(_is_error_group(g) for g in _fielding_groups(item[at + 1 :]))
            kinds.append("caught_stealing")
            moves.append((to - 1, to, not safe))
        elif item.startswith("PO") and len(item) >= 3:
            base = _BASE_OF[item[2]]
            safe = any(_is_error_group(g) for g in _fielding_groups(item[3:]))
            kinds.append("pickoff")
            # A pickoff error leaves the runner where he was unless an advance moves him.
            if not safe:
                moves.append((base, base, True))
        else:
            for prefix, kind in _RUNNER_ONLY:
                if item.startswith(prefix):
                    kinds.append(kind)
                    break
            else:
                raise _PlayError(f"unknown runner event {part!r}")
    return kinds[0], moves


def _head(basic: str) -> str:
    """The basic play without its modifiers; a ``/`` inside parentheses is not one."""
    depth = 0
    for i, c in enumerate(basic):
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
        elif c == "/" and depth == 0:
            return basic[:i]
    return basic


# A season has about 6,000 distinct play strings for 190,000 plays, so reading each one
# once and sharing the immutable result pays; the bound keeps a pathological input from
# growing it without limit.
_CACHE: dict[str, _Spec] = {}
_CACHE_MAX: Final = 200_000


def _spec_of(code: str) -> _Spec:
    """Read a Retrosheet play string into what it implies (memoized; strings repeat).

    Raises:
        _PlayError: The string does not follow the grammar.
    """
    spec = _CACHE.get(code)
    if spec is None:
        spec = _parse_play(code)
        if len(_CACHE) < _CACHE_MAX:
            _CACHE[code] = spec
    return spec


def _parse_play(code: str) -> _Spec:
    text = code.replace("!", "").replace("#", "").replace("?", "")
    basic, _, adv = text.partition(".")
    advances, no_rbi, yes_rbi = _parse_advances(adv) if adv else ([], set(), set())
    head = _head(basic)
    modifiers = basic[len(head) :]
    moves: list[Move] = []
    pa_end = True
    force = False
    rbi_default = True
    if head.startswith(("SB", "CS", "PO", "WP", "PB", "BK", "DI", "OA")):
        event_type, moves = _runner_event(head)
        pa_end = False
        rbi_default = False
    elif head.startswith("K"):
        event_type = "strikeout"
        rest = head[1:]
        plus = ""
        if "+" in rest:
            rest, plus = rest.split("+", 1)
        if not _CHAIN_RE.match(rest):
            raise _PlayError(f"unreadable strikeout {code!r}")
        moves = [(0, 1, True)]
        if plus:
            moves += _runner_event(plus)[1]
        rbi_default = False
    elif head.startswith(("W", "IW", "I")) and not head.startswith("WP"):
        event_type = "walk" if head[0] == "W" else "intentional_walk"
        moves = [(0, 1, False)]
        force = True
        if "+" in head:
            moves += _runner_event(head.split("+", 1)[1])[1]
    elif head.startswith("HP"):
        event_type, moves, force = "hit_by_pitch", [(0, 1, False)], True
    elif head.startswith(("HR", "H")):
        event_type, moves = "home_run", [(0, 4, False)]
    elif head.startswith("DGR"):
        event_type, moves = "double", [(0, 2, False)]
    elif head[:1] in _HIT_TYPES and (len(head) == 1 or head[1].isdigit()):
        event_type, base = _HIT_TYPES[head[0]]
        moves = [(0, base, False)]
    elif head.startswith("FLE"):
        event_type, pa_end, rbi_default = "error", False, False
    elif head.startswith("FC"):
        event_type, moves = "fielders_choice", [(0, 1, False)]
    elif head == "C":
        event_type, moves, force = "interference", [(0, 1, False)], True
    elif head.startswith("E"):
        event_type, moves, rbi_default = "error", [(0, 1, False)], False
    elif head[:1].isdigit():
        outs, _batter_out, error = _fielded(head)
        moves = outs
        if error:
            event_type, rbi_default = "error", False
            moves.append((0, 1, False))
        else:
            event_type = "out"
            if not any(s == 0 for s, _, _ in moves):
                # A force out such as 64(1) retires a runner and puts the batter on first.
                moves.append((0, 1, False))
                event_type = "fielders_choice"
        if "/GDP" in modifiers or "/GTP" in modifiers:
            rbi_default = False
    else:
        raise _PlayError(f"unknown play {code!r}")
    return _Spec(
        event_type=event_type,
        pa_end=pa_end,
        moves=tuple(moves),
        advances=tuple(advances),
        no_rbi=frozenset(no_rbi),
        yes_rbi=frozenset(yes_rbi),
        rbi_default=rbi_default,
        force_batter=force,
        verb=_verb(event_type, modifiers),
    )


_OUT_VERBS: Final = (
    ("GTP", "grounds into a triple play"),
    ("LTP", "lines into a triple play"),
    ("GDP", "grounds into a double play"),
    ("LDP", "lines into a double play"),
    ("FDP", "flies into a double play"),
    ("SF", "hits a sacrifice fly"),
    ("SH", "lays down a sacrifice bunt"),
    ("BG", "bunts out"),
    ("BP", "bunts out"),
    ("G", "grounds out"),
    ("L", "lines out"),
    ("P", "pops out"),
    ("F", "flies out"),
)


def _verb(event_type: str, modifiers: str) -> str:
    if event_type == "out":
        mods = {m.rstrip("+-") for m in modifiers.split("/")}
        for mod, verb in _OUT_VERBS:
            if mod in mods:
                return verb
    return _VERB.get(event_type, event_type)


# --------------------------------------------------------------------------- applying plays


@dataclass(frozen=True, slots=True)
class PlayResult:
    """A play string applied to a situation."""

    moves: tuple[RunnerMove, ...]
    bases: Bases
    outs_on_play: int
    runs: int
    rbi: int
    event_type: str
    pa_end: bool
    verb: str


def apply_play(code: str, batter: str, bases: Bases) -> PlayResult:
    """Apply a play string to the runners on base.

    Args:
        code: The Retrosheet play string (``S9/G.2-H;1-3``).
        batter: The batter's id.
        bases: Runner ids on first, second and third before the play.

    Returns:
        Every runner's move (batter included as start 0), the bases after the play
        (before any inning change), outs, runs and RBI of the play.

    Raises:
        ValueError: The string is not valid, or names a runner who is not there.
    """
    spec = _spec_of(code)
    plan: dict[int, tuple[int, bool]] = {}
    for start, end, out in spec.moves:
        plan[start] = (end, out)
    for start, end, out in spec.advances:
        plan[start] = (end, out)
    for start, (end, out) in list(plan.items()):
        if start and end == start and not out:
            del plan[start]
    if spec.force_batter and plan.get(0) == (1, False):
        # Runners forced by an awarded first base move up even when the file omits them.
        for b in (1, 2, 3):
            if bases[b - 1] is None:
                break
            if b not in plan:
                plan[b] = (b + 1, False)
    moves: list[RunnerMove] = []
    new: list[str | None] = list(bases)
    outs = runs = rbi = 0
    occupied_after: set[int] = set()
    for start in sorted(plan, reverse=True):
        end, out = plan[start]
        if start == 0:
            runner = batter
        else:
            runner_on = bases[start - 1]
            if runner_on is None:
                raise _PlayError(f"no runner on base {start} for {code!r}")
            runner = runner_on
            new[start - 1] = None
        if out:
            outs += 1
        else:
            if end < start:
                raise _PlayError(f"runner from {start} goes back to {end} on {code!r}")
            if end == 4:
                runs += 1
                if start in spec.yes_rbi or (spec.rbi_default and start not in spec.no_rbi):
                    rbi += 1
            else:
                if end in occupied_after:
                    raise _PlayError(f"two runners end on base {end} on {code!r}")
                occupied_after.add(end)
        moves.append(RunnerMove(runner, start, end, out))
    for end in occupied_after:
        if new[end - 1] is not None:
            raise _PlayError(f"base {end} is still occupied on {code!r}")
    for m in moves:
        if not m.out and m.end < 4:
            new[m.end - 1] = m.runner
    moves.sort(key=lambda m: m.start)
    return PlayResult(
        moves=tuple(moves),
        bases=(new[0], new[1], new[2]),
        outs_on_play=outs,
        runs=runs,
        rbi=rbi,
        event_type=spec.event_type,
        pa_end=spec.pa_end,
        verb=spec.verb,
    )


# --------------------------------------------------------------------------- games

_VERB: Final = {
    "single": "singles",
    "double": "doubles",
    "triple": "triples",
    "home_run": "homers",
    "walk": "walks",
    "intentional_walk": "is walked intentionally",
    "hit_by_pitch": "is hit by a pitch",
    "strikeout": "strikes out",
    "out": "is out",
    "error": "reaches on an error",
    "fielders_choice": "reaches on a fielder's choice",
    "interference": "reaches on interference",
    "stolen_base": "stolen base",
    "caught_stealing": "caught stealing",
    "pickoff": "pickoff",
    "wild_pitch": "wild pitch",
    "passed_ball": "passed ball",
    "balk": "balk",
    "defensive_indifference": "defensive indifference",
    "other_advance": "runner advances",
    "runner_placed": "runner placed on base",
}


_BASE_WORDS: Final = ("", "1st", "2nd", "3rd", "home")


def _where(move: RunnerMove) -> str:
    if move.out:
        return f"out at {_BASE_WORDS[move.end]}"
    return "scores" if move.end == 4 else f"to {_BASE_WORDS[move.end]}"


def _date(raw: str) -> str:
    return raw.replace("/", "-")


@dataclass(slots=True)
class _GameBuilder:
    game_id: str
    source: str
    start_line: int
    postseason: bool
    team_names: dict[str, str]
    records: dict[str, str] = field(default_factory=dict)
    lineup: list[dict[int, str]] = field(default_factory=lambda: [{}, {}])
    fielders: list[dict[int, str]] = field(default_factory=lambda: [{}, {}])
    names: dict[str, str] = field(default_factory=dict)
    events: list[PlayEvent] = field(default_factory=list)
    pitches: list[str] = field(default_factory=list)
    inning: int = 1
    half: int = 0
    outs: int = 0
    bases: Bases = _EMPTY
    score: list[int] = field(default_factory=lambda: [0, 0])
    info: GameInfo | None = None
    error: FeedParseError | None = None

    def fail(self, line: int, reason: str) -> None:
        if self.error is None:
            self.error = FeedParseError(self.source, f"{self.game_id}: {reason}", line=line)

    def situation(self, balls: int = 0, strikes: int = 0) -> BaseballSituation:
        return BaseballSituation(
            inning=self.inning,
            half="top" if self.half == 0 else "bottom",
            outs=self.outs,
            bases=self.bases,
            balls=balls,
            strikes=strikes,
        )

    def start(self) -> None:
        r = self.records
        home, away = r.get("hometeam", ""), r.get("visteam", "")
        if not home or not away or "date" not in r:
            raise _PlayError("the game has no hometeam, visteam or date")
        number = r.get("number", "0")
        self.info = GameInfo(
            home=home,
            away=away,
            date=_date(r["date"]),
            start_time=r.get("starttime") or None,
            site=r.get("site") or None,
            game_number=int(number) if number.isdigit() else 0,
            innings=int(r["innings"]) if r.get("innings", "").isdigit() else 9,
            extra_runner=False,
            home_name=self.team_names.get(home),
            away_name=self.team_names.get(away),
        )
        self.events.append(
            PlayEvent(
                sport=_SPORT,
                game_id=self.game_id,
                seq=1,
                event_id=f"{self.game_id}:1",
                kind="game_start",
                period=1,
                clock="T1",
                text=f"{self.info.away_name or away} at {self.info.home_name or home}",
                after=self.situation(),
                info=self.info,
            )
        )
        self.pitches.append("")

    def lineup_line(self, parts: list[str]) -> None:
        # start/sub,id,"name",team,slot,position (the name never holds a comma in
        # these files, but strip the quotes rather than trusting the field count).
        player, name = parts[1], parts[2].strip('"')
        team, slot, pos = int(parts[-3]), int(parts[-2]), int(parts[-1])
        self.names[player] = name
        if pos == 12 and slot in self.lineup[team]:
            # A pinch runner takes the base of the player whose lineup slot he takes.
            old = self.lineup[team][slot]
            if old in self.bases:
                b1, b2, b3 = (player if r == old else r for r in self.bases)
                self.bases = (b1, b2, b3)
        if slot:
            self.lineup[team][slot] = player
        if pos <= 10:
            self.fielders[team][pos] = player

    def radj(self, player: str, base_text: str) -> None:
        base = int(base_text)
        if not 1 <= base <= 3:
            raise _PlayError(f"radj to base {base_text!r}")
        if self.bases[base - 1] is not None:
            raise _PlayError(f"radj to occupied base {base}")
        before = self.situation()
        new = list(self.bases)
        new[base - 1] = player
        self.bases = (new[0], new[1], new[2])
        if self.info is not None and not self.info.extra_runner:
            self.info = msgspec.structs.replace(self.info, extra_runner=True)
        self.push(
            before,
            self.situation(),
            BaseballPlay(
                batter=None,
                pitcher=self.fielders[1 - self.half].get(1),
                code="radj",
                moves=(RunnerMove(player, 0, base),),
                event_type="runner_placed",
            ),
            f"{self.names.get(player, player)} placed on base {base}",
        )

    def play(
        self, inning: int, half: int, batter: str, count: str, pitches: str, code: str
    ) -> None:
        if inning != self.inning or half != self.half:
            raise _PlayError(
                f"play for inning {inning} half {half} while the game is in "
                f"inning {self.inning} half {self.half} with {self.outs} outs"
            )
        balls = int(count[0]) if len(count) == 2 and count[0].isdigit() else 0
        strikes = int(count[1]) if len(count) == 2 and count[1].isdigit() else 0
        before = self.situation(balls, strikes)
        result = apply_play(code, batter, self.bases)
        outs = self.outs + result.outs_on_play
        if outs > 3:
            raise _PlayError(f"{code!r} makes out number {outs}")
        self.score[half] += result.runs
        if outs == 3:
            self.outs = 0
            self.bases = _EMPTY
            if half == 1:
                self.inning += 1
            self.half = 1 - half
        else:
            self.outs = outs
            self.bases = result.bases
        self.push(
            before,
            self.situation(),
            BaseballPlay(
                batter=batter,
                pitcher=self.fielders[1 - half].get(1),
                code=code,
                moves=result.moves,
                runs=result.runs,
                outs_on_play=result.outs_on_play,
                pa_end=result.pa_end,
                rbi=result.rbi,
                event_type=result.event_type,
            ),
            self.describe(batter, result, code),
        )
        self.pitches[-1] = pitches

    def describe(self, batter: str, result: PlayResult, code: str) -> str:
        """A broadcast line: who did what, where each runner went, and the play string."""
        name = self.names.get(batter, batter)
        runners = [
            f"{self.names.get(m.runner, m.runner)} {_where(m)}"
            for m in reversed(result.moves)
            if m.start
        ]
        if result.pa_end:
            text = f"{name} {result.verb}"
            if runners:
                text += "; " + ", ".join(runners)
        elif runners:
            text = f"{result.verb.capitalize()}: {', '.join(runners)}"
        else:
            text = f"{result.verb.capitalize()} ({name} up)"
        return f"{text} ({code})"

    def push(
        self, before: BaseballSituation, after: BaseballSituation, play: BaseballPlay, text: str
    ) -> None:
        seq = len(self.events) + 1
        self.pitches.append("")
        self.events.append(
            PlayEvent(
                sport=_SPORT,
                game_id=self.game_id,
                seq=seq,
                event_id=f"{self.game_id}:{seq}",
                period=before.inning,
                clock=f"{'T' if before.half == 'top' else 'B'}{before.inning}",
                text=text,
                home_score=self.score[1],
                away_score=self.score[0],
                before=before,
                after=after,
                detail=play,
            )
        )

    def finish(self) -> RetrosheetGame:
        if self.info is None:
            raise _PlayError("the game has no info lines")
        if len(self.events) < 2:
            raise _PlayError("the game has no plays")
        last = self.events[-1]
        final = self.situation()
        seq = len(self.events) + 1
        self.events.append(
            PlayEvent(
                sport=_SPORT,
                game_id=self.game_id,
                seq=seq,
                event_id=f"{self.game_id}:{seq}",
                kind="game_end",
                period=last.period,
                clock=last.clock,
                text="Final" if last.period == self.info.innings else f"Final/{last.period}",
                home_score=self.score[1],
                away_score=self.score[0],
                before=final,
                after=final,
            )
        )
        if self.info is not None and self.events[0].info != self.info:
            self.events[0] = msgspec.structs.replace(self.events[0], info=self.info)
        return RetrosheetGame(
            game_id=self.game_id,
            info=self.info,
            events=tuple(self.events),
            records=MappingProxyType(dict(self.records)),
            source=self.source,
            postseason=self.postseason,
            pitches=(*self.pitches, ""),
        )


def parse_lines(
    lines: Iterable[str],
    source: str = "retrosheet",
    errors: list[FeedParseError] | None = None,
    *,
    postseason: bool = False,
    team_names: dict[str, str] | None = None,
) -> Iterator[RetrosheetGame]:
    """Read the games of one event file's lines.

    Args:
        lines: The file's lines, with or without line ends.
        source: The file name, for errors.
        errors: A list that receives one :class:`FeedParseError` per game that could
            not be read (that game is skipped); ``None`` drops them.
        postseason: Mark the games as postseason games.
        team_names: Team code to ``"City Nickname"``, for :class:`GameInfo` names.

    Returns:
        An iterator of the games that could be read, in file order.
    """
    names = team_names or {}
    game: _GameBuilder | None = None
    started = False
    for number, raw in enumerate(lines, 1):
        line = raw.rstrip("\r\n")
        if not line:
            continue
        kind, _, rest = line.partition(",")
        if kind == "id":
            if game is not None:
                done = _finish(game, number, errors)
                if done is not None:
                    yield done
            game = _GameBuilder(rest.strip(), source, number, postseason, names)
            started = False
            continue
        if game is None or game.error is not None:
            continue
        try:
            if kind == "play":
                if not started:
                    game.start()
                    started = True
                parts = rest.split(",")
                if len(parts) != 6:
                    raise _PlayError(f"play line with {len(parts) + 1} fields")
                code = parts[5]
                if code == "NP":
                    continue
                game.play(int(parts[0]), int(parts[1]), parts[2], parts[3], parts[4], code)
            elif kind == "info":
                key, _, value = rest.partition(",")
                game.records[key] = value.strip('"')
            elif kind in ("start", "sub"):
                game.lineup_line(line.split(","))
            elif kind == "radj":
                if not started:
                    game.start()
                    started = True
                player, _, base = rest.partition(",")
                game.radj(player, base)
        except (ValueError, IndexError, KeyError) as exc:
            game.fail(number, str(exc) if isinstance(exc, _PlayError) else f"bad line: {exc!r}")
    if game is not None:
        done = _finish(game, None, errors)
        if done is not None:
            yield done


def _finish(
    game: _GameBuilder, line: int | None, errors: list[FeedParseError] | None
) -> RetrosheetGame | None:
    if game.error is None:
        try:
            return game.finish()
        except _PlayError as exc:
            game.fail(line if line is not None else game.start_line, str(exc))
    if errors is not None and game.error is not None:
        errors.append(game.error)
    return None


def _event_files(paths: Iterable[str | Path], recursive: bool) -> list[Path]:
    files: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            pattern = "**/*" if recursive else "*"
            found = [f for f in p.glob(pattern) if f.suffix.upper() in EVENT_SUFFIXES]
            files.extend(sorted(found))
        else:
            files.append(p)
    return files


def _team_names(event_file: Path, cache: dict[Path, dict[str, str]]) -> dict[str, str]:
    """``TEAMyyyy`` of the file's folder or its parent (postseason files live in post/)."""
    for folder in (event_file.parent, event_file.parent.parent):
        if folder in cache:
            return cache[folder]
        teams = next(
            (f for f in sorted(folder.glob("*")) if f.name.upper().startswith("TEAM")), None
        )
        if teams is not None:
            cache[folder] = read_teams(teams)
            return cache[folder]
    return {}


def iter_games(
    paths: Sequence[str | Path] | str | Path,
    errors: list[FeedParseError] | None = None,
    *,
    recursive: bool = True,
) -> Iterator[RetrosheetGame]:
    """Read every game of the given event files and folders.

    Args:
        paths: Event files (``.EVA``, ``.EVN``, ``.EVE``) and folders of them.
        errors: A list that receives one :class:`FeedParseError` per game that could
            not be read; the game is skipped and reading goes on. ``None`` drops them.
        recursive: Also read the event files of sub-folders (a season's ``post/``).

    Returns:
        An iterator of games: files in name order, games in file order.
    """
    if isinstance(paths, (str, Path)):
        paths = [paths]
    names_cache: dict[Path, dict[str, str]] = {}
    for path in _event_files(paths, recursive):
        try:
            text = path.read_text(encoding="latin-1")
        except OSError as exc:
            if errors is not None:
                errors.append(FeedParseError(path.name, f"cannot read: {exc.strerror}"))
            continue
        yield from parse_lines(
            text.splitlines(),
            path.name,
            errors,
            postseason=path.suffix.upper() == ".EVE",
            team_names=_team_names(path, names_cache),
        )


def read_teams(path: str | Path) -> dict[str, str]:
    """Read a ``TEAMyyyy`` file: team code to ``"City Nickname"``."""
    teams: dict[str, str] = {}
    for line in Path(path).read_text(encoding="latin-1").splitlines():
        parts = line.strip().split(",")
        if len(parts) >= 4:
            teams[parts[0]] = f"{parts[2]} {parts[3]}"
    return teams


def read_rosters(directory: str | Path) -> dict[str, dict[str, RosterPlayer]]:
    """Read the roster files (``*.ROS``) of a folder.

    Args:
        directory: A season folder (``2015/``) or its ``post/`` folder.

    Returns:
        Team code to player id to :class:`RosterPlayer`.
    """
    rosters: dict[str, dict[str, RosterPlayer]] = {}
    for path in sorted(Path(directory).glob("*")):
        if path.suffix.upper() != ".ROS":
            continue
        for line in path.read_text(encoding="latin-1").splitlines():
            parts = line.strip().split(",")
            if len(parts) < 7:
                continue
            player = RosterPlayer(*parts[:7])
            rosters.setdefault(player.team, {})[player.player_id] = player
    return rosters


def play_gaps(game: RetrosheetGame) -> list[float]:
    """Realistic seconds before each event of a game, for paced replays.

    The game's recorded length (``timeofgame``, minutes; 3 hours when unknown) is
    shared between its plays in proportion to the pitches each one took plus one
    (the time between batters), so a ten-pitch walk waits longer than a first-pitch out.

    Returns:
        One gap per event of ``game.events`` (0 for ``game_start``).
    """
    minutes = game.records.get("timeofgame", "")
    total = float(minutes) * 60 if minutes.isdigit() and int(minutes) > 0 else _DEFAULT_GAME_SECONDS
    weights: list[float] = [0.0]
    counted = 0
    prev_batter: str | None = None
    for event, sequence in zip(game.events[1:], game.pitches[1:], strict=True):
        detail = event.detail
        if not isinstance(detail, BaseballPlay):
            weights.append(1.0)
            continue
        if detail.batter != prev_batter:
            counted = 0
        # A pitch sequence repeats the pitches of earlier plays of the same plate
        # appearance (a steal during the at-bat), so count only the new ones.
        pitches = sum(1 for c in sequence if c in _PITCH_LETTERS)
        weights.append(1.0 + max(pitches - counted, 0))
        counted = 0 if detail.pa_end else max(pitches, counted)
        prev_batter = detail.batter
    scale = total / sum(weights)
    return [w * scale for w in weights]
