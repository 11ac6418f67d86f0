"""The MLB GUMBO live feed (``/api/v1.1/game/{gamePk}/feed/live``) as normalized events.

:func:`read_document` turns one full live-feed document into the ordered
:class:`~pressbox.engine.events.PlayEvent` list of the event contract: ``game_start``, one
``play`` per completed at-bat (``liveData.plays.allPlays[]``, in ``atBatIndex`` order), and
``game_end`` once the game is final. Runner movement comes from ``runners[].movement``
(``start``/``end``/``isOut``/``outBase``; the batter starts from 0), the score after each play
from ``result.homeScore``/``result.awayScore``, which must agree with the runs of the moves.

:class:`GumboGame` follows one game live: feed it full documents or ``feed/live/diffPatch``
responses (RFC 6902 patches, applied in order) and it returns only what is new since the
last call: new plays (by ``atBatIndex``; with ``split_runner_events`` also the steals, wild
pitches and pickoffs inside an at-bat, by ``playEvents`` index), and corrections, when the
normalized content of an already emitted play changes (the new event ``corrects`` the
earlier event id). A document or patch that cannot be read raises
:class:`~pressbox.errors.FeedParseError` and leaves the game at its last good document.

Event ids are ``"{gamePk}:{atBatIndex}"`` for an at-bat, ``"{gamePk}:{atBatIndex}.{index}"``
for an event inside one at ``playEvents[index]`` (a runner placed by rule, or a runner event
when they are split; ``.placed`` for an extra-inning runner the feed moves without a
``runner_placed`` action), ``"{gamePk}:start"``/``"{gamePk}:end"``, and ``"<id>~<n>"`` for the
n-th correction of ``<id>``.

Upstream quirks handled here: feeds before about 2020 leave ``isOut`` null and do not name
the runners left on base; the full documents the server sends empty
``metaData.gameEvents``/``logicalEvents`` while its later diffs expect them filled; a game
can end inside an at-bat that is never marked complete (a walk-off wild pitch).
"""

from __future__ import annotations

import copy
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

import msgspec
import orjson

from pressbox.engine.events import (
    BATTER,
    HOME_PLATE,
    BaseballPlay,
    BaseballSituation,
    GameInfo,
    PlayEvent,
    RunnerMove,
)
from pressbox.errors import FeedParseError
from pressbox.feeds.parse import EventLog, Reader, decode_json, join
from pressbox.types import JSON, Half

__all__ = [
    "EVENT_TYPES",
    "GumboDocument",
    "GumboGame",
    "is_play_by_play",
    "live_feed_from_play_by_play",
    "read_document",
    "read_play_by_play",
]

_BASES: Final = {"1B": 1, "2B": 2, "3B": 3, "4B": HOME_PLATE, "score": HOME_PLATE, "HM": 4}

EVENT_TYPES: Final[dict[str, str]] = {
    "single": "single",
    "double": "double",
    "triple": "triple",
    "home_run": "home_run",
    "walk": "walk",
    "intent_walk": "intentional_walk",
    "hit_by_pitch": "hit_by_pitch",
    "strikeout": "strikeout",
    "strike_out": "strikeout",
    "strikeout_double_play": "strikeout",
    "strikeout_triple_play": "strikeout",
    "field_out": "out",
    "force_out": "out",
    "grounded_into_double_play": "out",
    "grounded_into_triple_play": "out",
    "double_play": "out",
    "triple_play": "out",
    "sac_fly": "out",
    "sac_bunt": "out",
    "sac_fly_double_play": "out",
    "sac_bunt_double_play": "out",
    "other_out": "out",
    "runner_double_play": "out",
    "fielders_choice": "fielders_choice",
    "fielders_choice_out": "fielders_choice",
    "field_error": "error",
    "error": "error",
    "catcher_interf": "interference",
    "batter_interference": "interference",
    "fan_interference": "interference",
    "stolen_base": "stolen_base",
    "stolen_base_2b": "stolen_base",
    "stolen_base_3b": "stolen_base",
    "stolen_base_home": "stolen_base",
    "caught_stealing": "caught_stealing",
    "caught_stealing_2b": "caught_stealing",
    "caught_stealing_3b": "caught_stealing",
    "caught_stealing_home": "caught_stealing",
    "pickoff_caught_stealing_2b": "caught_stealing",
    "pickoff_caught_stealing_3b": "caught_stealing",
    "pickoff_caught_stealing_home": "caught_stealing",
    "pickoff_1b": "pickoff",
    "pickoff_2b": "pickoff",
    "pickoff_3b": "pickoff",
    "pickoff_error_1b": "error",
    "pickoff_error_2b": "error",
    "pickoff_error_3b": "error",
    "wild_pitch": "wild_pitch",
    "passed_ball": "passed_ball",
    "balk": "balk",
    "defensive_indiff": "defensive_indifference",
    "other_advance": "other_advance",
    "runner_placed": "runner_placed",
}
"""GUMBO ``eventType`` → the contract's coarse family (anything else is ``"other"``)."""

_POST_ON_BASES: Final = ("postOnFirst", "postOnSecond", "postOnThird")

_FINAL_STATES: Final = frozenset({"Final"})

# metaData.gameEvents / logicalEvents are emptied in the full documents the server sends
# ("fullUpdate"), while the diffs that follow were computed against the server's own copy
# where they were filled: ops on these two lists cannot apply and carry nothing we use.
_VOLATILE_PATCH_PATHS: Final = ("/metaData/gameEvents", "/metaData/logicalEvents")

_UNFOLLOWED: Final = (
    ("liveData", "plays", "currentPlay"),
    ("liveData", "plays", "playsByInning"),
    ("liveData", "boxscore"),
)
"""Parts of the live feed that no reading uses, left out of the document a
:class:`GumboGame` keeps. ``currentPlay`` repeats the last entry of ``allPlays``; with the
box score and the plays by inning they take about half of the operations of a diffPatch,
which the game then skips instead of copying and applying them."""
_UNFOLLOWED_PATHS: Final = frozenset("/" + "/".join(p) for p in _UNFOLLOWED)
_UNFOLLOWED_UNDER: Final = tuple(sorted(path + "/" for path in _UNFOLLOWED_PATHS))
_UNFOLLOWED_ABOVE: Final = frozenset(
    "".join("/" + token for token in part[:depth])
    for part in _UNFOLLOWED
    for depth in range(len(part))
)
"""Pointers whose value holds unfollowed parts: after an operation there, they are left
out again."""

_BAD_ESCAPE: Final = re.compile(r"~(?![01])")


@dataclass(frozen=True, slots=True)
class GumboDocument:
    """What one full GUMBO document says, normalized.

    Attributes:
        game_id: The ``gamePk`` as a string.
        timestamp: ``metaData.timeStamp`` (``"20230413_194828"``), ordered as text.
        events: ``game_start``, the plays and, if final, ``game_end``, numbered from 1.
        at_bats: Completed at-bats (``allPlays`` entries) among the events.
        final: The game is over and ``game_end`` is among the events.
        issues: Inconsistencies that did not stop the reading (a trimmed document...).
    """

    game_id: str
    timestamp: str | None
    events: tuple[PlayEvent, ...]
    at_bats: int
    final: bool
    issues: tuple[str, ...] = ()


@dataclass(slots=True)
class _Move:
    runner: str
    start: int
    end: int
    out: bool


@dataclass(slots=True)
class _Tracker:
    """The situation and score as the plays so far leave them."""

    inning: int = 1
    half: Half = "top"
    outs: int = 0
    bases: list[str | None] = field(default_factory=lambda: [None, None, None])
    home: int = 0
    away: int = 0
    pitchers: dict[str, str] = field(default_factory=dict)
    """The pitcher on the mound for each half (``"top"``: the home team's pitcher)."""

    def situation(self, balls: int = 0, strikes: int = 0) -> BaseballSituation:
        return BaseballSituation(
            inning=self.inning,
            half=self.half,
            outs=self.outs,
            bases=(self.bases[0], self.bases[1], self.bases[2]),
            balls=min(balls, 3),
            strikes=min(strikes, 2),
        )

    @property
    def clock(self) -> str:
        return f"{'T' if self.half == 'top' else 'B'}{self.inning}"

    def copy(self) -> _Tracker:
        return _Tracker(
            self.inning,
            self.half,
            self.outs,
            list(self.bases),
            self.home,
            self.away,
            dict(self.pitchers),
        )


@dataclass(slots=True)
class _PlayState:
    """What one ``allPlays`` entry gave in a reading."""

    after: _Tracker
    """The situation once the entry's events are applied (where the next entry starts)."""
    complete: bool
    events: list[PlayEvent]


@dataclass(slots=True)
class _Reading:
    """One reading of a document, kept so that the next version is read from where it
    differs (see :meth:`_DocumentReader.read_from`)."""

    key: tuple[object, ...]
    """What every play's reading depends on besides the plays before it."""
    game_id: str
    timestamp: str | None
    start: PlayEvent
    plays: list[_PlayState]
    first_read: int
    """The first ``allPlays`` index read this time (the ones before are from the last)."""
    end: PlayEvent | None
    at_bats: int
    final: bool
    issues: tuple[str, ...]

    def new_events(self) -> list[PlayEvent]:
        """``game_start``, the events of the plays read this time, and ``game_end``."""
        events = [self.start]
        for play in self.plays[self.first_read :]:
            events.extend(play.events)
        if self.end is not None:
            events.append(self.end)
        return events


def read_document(
    doc: JSON, *, source: str = "gumbo", split_runner_events: bool = False
) -> GumboDocument:
    """Normalize one full GUMBO live-feed document.

    Args:
        doc: The decoded document.
        source: Its name in errors (a file name or URL).
        split_runner_events: Emit steals, wild pitches, pickoffs... inside an at-bat as
            plays of their own (``pa_end=False``) instead of folding them into the at-bat.

    Returns:
        The normalized document; only completed at-bats (and, when split, runner events
        already over in the at-bat in progress) become plays.

    Raises:
        FeedParseError: The document is not a GUMBO live feed, misses a field the events
            need, or contradicts itself (a score the runners' moves do not make...).
    """
    return _DocumentReader(Reader(source), split_runner_events).read(doc)


def read_play_by_play(
    doc: JSON,
    *,
    game_id: str,
    source: str = "gumbo",
    split_runner_events: bool = False,
) -> GumboDocument:
    """Normalize a ``/api/v1/game/{gamePk}/playByPlay`` response.

    That endpoint serves the live feed's ``liveData.plays`` alone: no teams, no status. The
    teams are named ``HOME`` and ``AWAY``, the date is the first play's, and the game is
    never taken as final (no ``game_end``).

    Args:
        doc: The decoded response (``allPlays``, ``currentPlay``...).
        game_id: The ``gamePk`` the response was fetched for.
        source: Its name in errors.
        split_runner_events: See :func:`read_document`.

    Raises:
        FeedParseError: As :func:`read_document`.
    """
    return read_document(
        live_feed_from_play_by_play(doc, game_id=game_id, source=source),
        source=source,
        split_runner_events=split_runner_events,
    )


def live_feed_from_play_by_play(doc: JSON, *, game_id: str, source: str = "gumbo") -> JSON:
    """A live-feed document holding a ``playByPlay`` response (see :func:`read_play_by_play`).

    Raises:
        FeedParseError: The response is not an object with an ``allPlays`` array.
    """
    r = Reader(source)
    plays = r.obj(doc, "")
    first = next(iter(r.get_list(plays, "allPlays", "")), None)
    about = first.get("about") if isinstance(first, dict) else None
    start = about.get("startTime") if isinstance(about, dict) else None
    return {
        "gamePk": game_id,
        "gameData": {
            "status": {"abstractGameState": "Live"},
            "teams": {"home": {"abbreviation": "HOME"}, "away": {"abbreviation": "AWAY"}},
            "datetime": {"officialDate": start[:10] if isinstance(start, str) else ""},
            "game": {},
        },
        "liveData": {"plays": plays},
    }


def is_play_by_play(doc: JSON) -> bool:
    """The document is a ``playByPlay`` response rather than a full live feed."""
    return isinstance(doc, dict) and "allPlays" in doc and "liveData" not in doc


class _DocumentReader:
    __slots__ = ("post_on_bases", "r", "split")

    def __init__(self, reader: Reader, split: bool) -> None:
        self.r = reader
        self.split = split
        self.post_on_bases = False

    def read(self, doc: JSON) -> GumboDocument:
        reading = self.read_from(doc, None, 0)
        events = [reading.start, *(e for play in reading.plays for e in play.events)]
        if reading.end is not None:
            events.append(reading.end)
        numbered = tuple(
            msgspec.structs.replace(event, seq=number) for number, event in enumerate(events, 1)
        )
        return GumboDocument(
            game_id=reading.game_id,
            timestamp=reading.timestamp,
            events=numbered,
            at_bats=reading.at_bats,
            final=reading.final,
            issues=reading.issues,
        )

    def read_from(self, doc: JSON, prev: _Reading | None, dirty: int) -> _Reading:
        """Read ``doc``, re-reading the plays from ``allPlays[dirty]`` on.

        ``prev`` is the reading of the previous version of the document, which is known to
        differ from ``doc`` at most in its header and in the plays from ``dirty`` on. The
        header (cheap) is always read; when it changes what the plays depend on (the teams,
        the scheduled innings, the probable pitchers...), every play is read again.
        Otherwise the plays before ``dirty`` keep their events from ``prev``, and so does
        every play before the last one ``prev`` read (the at-bat in progress, or the one
        the game may end inside, changes with the status and the plays that follow it).
        The outcome, errors included, is what reading the whole of ``doc`` gives.
        """
        r = self.r
        root = r.obj(doc, "")
        game_pk = r.get_int(root, "gamePk", "")
        game_id = str(game_pk)
        meta = root.get("metaData")
        timestamp = r.opt_str(meta, "timeStamp", "metaData") if isinstance(meta, dict) else None
        game_data = r.get_obj(root, "gameData", "")
        live = r.get_obj(root, "liveData", "")
        status = r.get_obj(game_data, "status", "gameData")
        abstract = r.get_str(status, "abstractGameState", "gameData.status")
        info = self._info(game_data, live)
        all_plays = r.get_list(r.get_obj(live, "plays", "liveData"), "allPlays", "liveData.plays")

        # Feeds before about 2020 do not name the runners left on base after a play.
        self.post_on_bases = any(
            isinstance(play, dict)
            and isinstance(play.get("matchup"), dict)
            and any(key in play["matchup"] for key in _POST_ON_BASES)
            for play in all_plays
        )
        pitchers = self._probable_pitchers(game_data)
        key = (game_id, info, tuple(sorted(pitchers.items())), self.post_on_bases)
        start = 0
        if prev is not None and prev.key == key and prev.plays:
            start = max(0, min(dirty, len(prev.plays) - 1, len(all_plays)))
        kept = prev.plays[:start] if prev is not None else []
        tracker = kept[-1].after.copy() if kept else _Tracker(pitchers=pitchers)

        issues: list[str] = []
        game_start = PlayEvent(
            sport="mlb",
            game_id=game_id,
            seq=1,
            event_id=f"{game_id}:start",
            kind="game_start",
            period=1,
            clock="T1",
            text=f"{info.away} at {info.home}",
            info=info,
            after=BaseballSituation(inning=1, half="top", outs=0),
        )
        plays: list[_PlayState] = list(kept)
        # Every play kept is complete: only the last one read before may be in progress.
        last_complete = True
        ordered = self._by_at_bat(all_plays, start)
        for position, (path, play) in enumerate(ordered, start):
            if not last_complete:
                raise r.error(path, "an at-bat follows one that is not complete")
            # A game can end inside an at-bat (a walk-off wild pitch, a game called in the
            # middle of one): once final, nothing more will join the last at-bat.
            closed = abstract in _FINAL_STATES and position == len(all_plays) - 1
            complete, new = self._play(
                game_id, play, path, position, tracker, info.innings, closed=closed
            )
            plays.append(_PlayState(after=tracker.copy(), complete=complete, events=new))
            last_complete = complete
        at_bats = sum(play.complete for play in plays)
        if plays:
            last_complete = plays[-1].complete

        final = abstract in _FINAL_STATES and last_complete
        if final:
            home, away = self._final_score(live)
            if (home, away) != (tracker.home, tracker.away):
                final = False
                issues.append(
                    f"the game is final at {away}-{home} (away-home) but its plays reach "
                    f"{tracker.away}-{tracker.home}; no game_end (a trimmed document?)"
                )
        game_end = None
        if final:
            game_end = PlayEvent(
                sport="mlb",
                game_id=game_id,
                seq=0,
                event_id=f"{game_id}:end",
                kind="game_end",
                period=tracker.inning,
                clock=tracker.clock,
                text="Final",
                home_score=tracker.home,
                away_score=tracker.away,
                after=tracker.situation(),
            )
        return _Reading(
            key=key,
            game_id=game_id,
            timestamp=timestamp,
            start=game_start,
            plays=plays,
            first_read=start,
            end=game_end,
            at_bats=at_bats,
            final=final,
            issues=tuple(issues),
        )

    def _info(self, game_data: dict[str, JSON], live: dict[str, JSON]) -> GameInfo:
        r = self.r
        teams = r.get_obj(game_data, "teams", "gameData")
        names: dict[str, tuple[str, str | None]] = {}
        for side in ("home", "away"):
            path = f"gameData.teams.{side}"
            team = r.get_obj(teams, side, "gameData.teams")
            code = r.opt_str(team, "abbreviation", path) or r.opt_str(team, "teamCode", path)
            name = r.opt_str(team, "name", path)
            if code is None and name is None:
                raise r.error(path, "missing field 'abbreviation' (and no 'name')")
            names[side] = (code or name or "", name)
        when = r.get_obj(game_data, "datetime", "gameData")
        date = r.opt_str(when, "officialDate", "gameData.datetime") or r.opt_str(
            when, "originalDate", "gameData.datetime"
        )
        start_time = r.opt_str(when, "dateTime", "gameData.datetime")
        if date is None:
            if start_time is None:
                raise r.error("gameData.datetime", "missing field 'officialDate'")
            date = start_time[:10]
        game = r.get_obj(game_data, "game", "gameData")
        venue = game_data.get("venue")
        site = r.opt_str(venue, "name", "gameData.venue") if isinstance(venue, dict) else None
        double_header = r.opt_str(game, "doubleHeader", "gameData.game") or "N"
        game_number = 0
        if double_header != "N":
            game_number = r.opt_int(game, "gameNumber", "gameData.game") or 0
        linescore = live.get("linescore")
        innings = 9
        if isinstance(linescore, dict):
            innings = r.opt_int(linescore, "scheduledInnings", "liveData.linescore") or 9
        season = r.opt_int(game, "season", "gameData.game") or int(date[:4])
        # The runner on second in extra innings: regular seasons from 2020, and the 2020-2021
        # postseasons did without it; a placed runner is read from the feed either way.
        game_type = r.opt_str(game, "type", "gameData.game")
        extra_runner = season >= 2020 and game_type == "R"
        return GameInfo(
            home=names["home"][0],
            away=names["away"][0],
            date=date,
            start_time=start_time,
            site=site,
            game_number=game_number,
            innings=innings,
            extra_runner=extra_runner,
            home_name=names["home"][1],
            away_name=names["away"][1],
        )

    def _by_at_bat(self, all_plays: list[JSON], start: int = 0) -> list[tuple[str, JSON]]:
        """``allPlays[start:]`` with their paths, checked to list each at-bat once, in order.

        A copy of the feed that lists an at-bat twice or two of them the wrong way round is
        refused rather than repaired: the next poll usually brings a clean one, and a
        refused document is counted where a silent repair would hide a broken upstream.
        """
        r = self.r
        ordered: list[tuple[str, JSON]] = []
        for position in range(start, len(all_plays)):
            play = all_plays[position]
            path = join("liveData.plays.allPlays", position)
            about = r.get_obj(play, "about", path)
            index = r.get_int(about, "atBatIndex", join(path, "about"))
            if index != position:
                if index < position:
                    reason = f"at-bat {index} is listed again at position {position}"
                    if index == position - 1:
                        reason = f"at-bat {index} is listed twice"
                else:
                    reason = f"at-bat {index} comes where at-bat {position} belongs"
                raise r.error(path, f"{reason} (allPlays out of atBatIndex order)")
            ordered.append((path, play))
        return ordered

    @staticmethod
    def _probable_pitchers(game_data: dict[str, JSON]) -> dict[str, str]:
        """The starters announced in ``gameData.probablePitchers``, by the half they pitch."""
        probable = game_data.get("probablePitchers")
        pitchers: dict[str, str] = {}
        if not isinstance(probable, dict):
            return pitchers
        for side, half in (("home", "top"), ("away", "bottom")):
            person = probable.get(side)
            if isinstance(person, dict) and isinstance(person.get("id"), int):
                pitchers[half] = str(person["id"])
        return pitchers

    def _final_score(self, live: dict[str, JSON]) -> tuple[int, int]:
        r = self.r
        teams = r.get_obj(r.get_obj(live, "linescore", "liveData"), "teams", "liveData.linescore")
        home = r.get_int(r.get_obj(teams, "home", "liveData.linescore.teams"), "runs", "home")
        away = r.get_int(r.get_obj(teams, "away", "liveData.linescore.teams"), "runs", "away")
        return home, away

    def _play(
        self,
        game_id: str,
        play: JSON,
        path: str,
        position: int,
        tracker: _Tracker,
        innings: int,
        *,
        closed: bool = False,
    ) -> tuple[bool, list[PlayEvent]]:
        """The events of one ``allPlays`` entry; whether the at-bat is over.

        ``closed`` says that the game ended with this at-bat, complete or not.
        """
        r = self.r
        play = r.obj(play, path)
        about = r.get_obj(play, "about", path)
        about_path = join(path, "about")
        at_bat = r.get_int(about, "atBatIndex", about_path)
        if at_bat != position:
            raise r.error(about_path, f"atBatIndex {at_bat} at position {position}")
        inning = r.get_int(about, "inning", about_path)
        half = r.get_str(about, "halfInning", about_path)
        if half not in ("top", "bottom"):
            raise r.error(join(about_path, "halfInning"), f"unknown half {half!r}")
        complete = r.opt_bool(about, "isComplete", about_path)
        if complete is None:
            raise r.error(about_path, "missing field 'isComplete'")
        if (inning, half) != (tracker.inning, tracker.half):
            raise r.error(
                path,
                f"at-bat {at_bat} is in {'T' if half == 'top' else 'B'}{inning} but the plays "
                f"before it leave the game at {tracker.clock} with {tracker.outs} out",
            )
        matchup = r.get_obj(play, "matchup", path)
        batter = str(r.get_int(r.get_obj(matchup, "batter", join(path, "matchup")), "id", "batter"))
        pitcher = str(
            r.get_int(r.get_obj(matchup, "pitcher", join(path, "matchup")), "id", "pitcher")
        )
        play_events = r.get_list(play, "playEvents", path)
        groups = self._runner_groups(play, path)

        events: list[PlayEvent] = []
        placed = self._placed_runners(play_events, path, groups)
        if not placed and inning > innings and tracker.outs == 0 and tracker.bases == [None] * 3:
            placed = _implicit_placed_runner(groups)
        final_index = max(groups) if groups and complete else None
        for index in sorted(groups):
            if index == final_index:
                break
            kind = (
                "runner_placed"
                if index in placed
                else self._event_type_at(play_events, index, path)
            )
            if index in placed:
                moves = groups[index]
            elif not self.split:
                continue
            elif not complete and not closed and index >= len(play_events) - 1:
                # The at-bat in progress may still attach more moves to its latest event.
                continue
            else:
                moves = groups[index]
            events.append(
                self._apply(
                    tracker,
                    game_id=game_id,
                    event_id=f"{game_id}:{at_bat}.{index if index >= 0 else 'placed'}",
                    moves=moves,
                    count=self._count_before(play_events, index),
                    batter=None if kind == "runner_placed" else batter,
                    pitcher=_pitcher_at(play_events, index, tracker.pitchers.get(half), pitcher),
                    code=kind,
                    text=self._description_at(play_events, index)
                    or f"{kind.replace('_', ' ')}: {', '.join(m.runner for m in moves)}",
                    pa_end=False,
                    rbi=0,
                    score=None,
                    ts=self._time_at(play_events, index),
                    path=join(join(path, "playEvents"), index),
                )
            )
            del groups[index]
        if not complete and closed and groups:
            last = max(groups)
            left = [move for index in sorted(groups) for move in groups[index]]
            result = play.get("result")
            home = r.opt_int(result, "homeScore", join(path, "result")) if result else None
            away = r.opt_int(result, "awayScore", join(path, "result")) if result else None
            events.append(
                self._apply(
                    tracker,
                    game_id=game_id,
                    event_id=f"{game_id}:{at_bat}",
                    moves=_merge(left),
                    count=self._count_before(play_events, last),
                    batter=batter,
                    pitcher=_pitcher_at(play_events, last, tracker.pitchers.get(half), pitcher),
                    code=self._event_type_at(play_events, last, path),
                    text=self._description_at(play_events, last),
                    pa_end=False,
                    rbi=0,
                    score=(home, away) if home is not None and away is not None else None,
                    ts=self._time_at(play_events, last),
                    path=path,
                )
            )
        if not complete:
            return closed, events
        tracker.pitchers[half] = pitcher

        result = r.get_obj(play, "result", path)
        result_path = join(path, "result")
        code = r.get_str(result, "eventType", result_path)
        remaining: list[_Move] = []
        for index in sorted(groups):
            remaining.extend(groups[index])
        merged = _merge(remaining)
        home = r.get_int(result, "homeScore", result_path)
        away = r.get_int(result, "awayScore", result_path)
        last_index = final_index if final_index is not None else len(play_events)
        events.append(
            self._apply(
                tracker,
                game_id=game_id,
                event_id=f"{game_id}:{at_bat}",
                moves=merged,
                count=self._count_before(play_events, last_index),
                batter=batter,
                pitcher=pitcher,
                code=code,
                text=" ".join((r.opt_str(result, "description", result_path) or "").split()),
                pa_end=any(m.start == BATTER and m.runner == batter for m in merged),
                rbi=r.opt_int(result, "rbi", result_path) or 0,
                score=(home, away),
                ts=_timestamp(r.opt_str(about, "endTime", about_path)),
                path=path,
            )
        )
        self._check_after(play, path, tracker)
        return True, events

    def _runner_groups(self, play: dict[str, JSON], path: str) -> dict[int, list[_Move]]:
        """``runners[]`` grouped by the ``playEvents`` index they happened on, merged per runner."""
        r = self.r
        runners = r.get_list(play, "runners", path)
        groups: dict[int, list[_Move]] = {}
        entry: JSON
        for number, entry in enumerate(runners):
            entry_path = join(join(path, "runners"), number)
            movement = r.get_obj(entry, "movement", entry_path)
            details = r.get_obj(entry, "details", entry_path)
            move_path = join(entry_path, "movement")
            runner = str(
                r.get_int(r.get_obj(details, "runner", join(entry_path, "details")), "id", "runner")
            )
            start = self._base(r.opt_str(movement, "start", move_path), move_path, "start")
            end_name = r.opt_str(movement, "end", move_path)
            out_base = r.opt_str(movement, "outBase", move_path)
            is_out = r.opt_bool(movement, "isOut", move_path)
            # Older feeds leave isOut null; an out is then a movement that ends nowhere but
            # names the base where it was made.
            out = bool(is_out) or (is_out is None and end_name is None and out_base is not None)
            if out:
                end = (
                    self._base(out_base, move_path, "outBase")
                    if out_base is not None
                    else min(start + 1, HOME_PLATE)
                )
            elif end_name is None:
                raise r.error(move_path, f"runner {runner} neither reaches a base nor is out")
            else:
                end = self._base(end_name, move_path, "end")
            if not out and end == start and start != BATTER:
                continue
            index = r.opt_int(details, "playIndex", join(entry_path, "details"))
            groups.setdefault(-1 if index is None else index, []).append(
                _Move(runner=runner, start=start, end=end, out=out)
            )
        if -1 in groups:
            # Without playIndex (old feeds) every move belongs to the at-bat's result.
            loose = groups.pop(-1)
            last = max(groups, default=0)
            groups.setdefault(last, []).extend(loose)
        return {index: _merge(moves) for index, moves in groups.items()}

    def _placed_runners(
        self, play_events: list[JSON], path: str, groups: dict[int, list[_Move]]
    ) -> set[int]:
        """Indexes of ``runner_placed`` actions (the extra-inning runner), with their moves."""
        r = self.r
        placed: set[int] = set()
        for index, event in enumerate(play_events):
            if not isinstance(event, dict) or not isinstance(event.get("details"), dict):
                continue
            if event["details"].get("eventType") != "runner_placed":
                continue
            event_path = join(join(path, "playEvents"), index)
            if index not in groups:
                player = r.get_obj(event, "player", event_path)
                runner = str(r.get_int(player, "id", join(event_path, "player")))
                base = r.opt_int(event, "base", event_path) or 2
                groups[index] = [_Move(runner=runner, start=BATTER, end=base, out=False)]
            placed.add(index)
        return placed

    def _base(self, name: str | None, path: str, key: str) -> int:
        if name is None:
            return BATTER
        base = _BASES.get(name)
        if base is None:
            raise self.r.error(join(path, key), f"unknown base {name!r}")
        return base

    def _event_type_at(self, play_events: list[JSON], index: int, path: str) -> str:
        if not 0 <= index < len(play_events):
            raise self.r.error(
                join(path, "runners"), f"a runner moves on playEvents[{index}], which is missing"
            )
        details = (
            play_events[index].get("details") if isinstance(play_events[index], dict) else None
        )
        kind = details.get("eventType") if isinstance(details, dict) else None
        return kind if isinstance(kind, str) else "other_advance"

    @staticmethod
    def _description_at(play_events: list[JSON], index: int) -> str:
        event = play_events[index] if 0 <= index < len(play_events) else None
        details = event.get("details") if isinstance(event, dict) else None
        text = details.get("description") if isinstance(details, dict) else None
        return " ".join(text.split()) if isinstance(text, str) else ""

    @staticmethod
    def _time_at(play_events: list[JSON], index: int) -> float | None:
        event = play_events[index] if 0 <= index < len(play_events) else None
        when = event.get("endTime") or event.get("startTime") if isinstance(event, dict) else None
        return _timestamp(when if isinstance(when, str) else None)

    @staticmethod
    def _count_before(play_events: list[JSON], index: int) -> tuple[int, int]:
        """The count when ``playEvents[index]`` happened: the count after the one before it."""
        for event in reversed(play_events[: max(index, 0)]):
            count = event.get("count") if isinstance(event, dict) else None
            if isinstance(count, dict):
                balls, strikes = count.get("balls"), count.get("strikes")
                if isinstance(balls, int) and isinstance(strikes, int):
                    return balls, strikes
        return 0, 0

    def _apply(
        self,
        tracker: _Tracker,
        *,
        game_id: str,
        event_id: str,
        moves: list[_Move],
        count: tuple[int, int],
        batter: str | None,
        pitcher: str,
        code: str,
        text: str,
        pa_end: bool,
        rbi: int,
        score: tuple[int, int] | None,
        ts: float | None,
        path: str,
    ) -> PlayEvent:
        """Move ``tracker`` through one play and return its event (``seq`` set later)."""
        r = self.r
        bases = list(tracker.bases)
        for move in moves:
            # A pinch runner takes the base under a new id; 'before' carries it, which the
            # state machine adopts because the occupancy is the same.
            if move.start != BATTER:
                if bases[move.start - 1] is None:
                    raise r.error(
                        path,
                        f"runner {move.runner} moves from base {move.start}, which is empty "
                        f"at {tracker.clock} with {tracker.outs} out",
                    )
                bases[move.start - 1] = move.runner
        tracker.bases = bases
        before = tracker.situation(*count)
        new_bases: list[str | None] = list(bases)
        for move in moves:
            if move.start != BATTER:
                new_bases[move.start - 1] = None
        outs = runs = 0
        for move in moves:
            if move.out:
                outs += 1
            elif move.end == HOME_PLATE:
                runs += 1
            else:
                if new_bases[move.end - 1] is not None:
                    raise r.error(path, f"two runners end on base {move.end}")
                new_bases[move.end - 1] = move.runner
            if not move.out and move.end < move.start:
                raise r.error(path, f"runner {move.runner} goes back from {move.start}")
        home, away = tracker.home, tracker.away
        if tracker.half == "bottom":
            home += runs
        else:
            away += runs
        if score is not None and score != (home, away):
            raise r.error(
                path,
                f"result says {score[1]}-{score[0]} (away-home) but the runners' moves make "
                f"{away}-{home}",
            )
        total_outs = tracker.outs + outs
        if total_outs > 3:
            raise r.error(path, f"{total_outs} outs in a half-inning")
        period, clock = tracker.inning, tracker.clock
        tracker.home, tracker.away = home, away
        if total_outs == 3:
            if tracker.half == "top":
                tracker.half = "bottom"
            else:
                tracker.half, tracker.inning = "top", tracker.inning + 1
            tracker.outs, tracker.bases = 0, [None, None, None]
        else:
            tracker.outs, tracker.bases = total_outs, new_bases
        family = "runner_placed" if code == "runner_placed" else EVENT_TYPES.get(code, "other")
        return PlayEvent(
            sport="mlb",
            game_id=game_id,
            seq=0,
            event_id=event_id,
            kind="play",
            period=period,
            clock=clock,
            text=text,
            home_score=home,
            away_score=away,
            before=before,
            after=tracker.situation(),
            detail=BaseballPlay(
                batter=batter,
                pitcher=pitcher,
                code=code,
                moves=tuple(RunnerMove(m.runner, m.start, m.end, m.out) for m in moves),
                runs=runs,
                outs_on_play=outs,
                pa_end=pa_end,
                rbi=rbi,
                event_type=family,
            ),
            ts_source=ts,
        )

    def _check_after(self, play: dict[str, JSON], path: str, tracker: _Tracker) -> None:
        """Cross-check the tracked bases with ``matchup.postOnFirst/Second/Third``."""
        if not self.post_on_bases or (tracker.outs == 0 and tracker.bases == [None, None, None]):
            return  # a new half-inning: the feed keeps the bases of the third out
        matchup = play.get("matchup")
        if not isinstance(matchup, dict):
            return
        for number, key in enumerate(_POST_ON_BASES):
            occupied = isinstance(matchup.get(key), dict)
            if occupied != (tracker.bases[number] is not None):
                raise self.r.error(
                    join(path, "matchup"),
                    f"{key} says base {number + 1} is {'taken' if occupied else 'empty'} but "
                    f"the runners' moves leave it {'empty' if occupied else 'taken'}",
                )


def _pitcher_at(play_events: list[JSON], index: int, at_start: str | None, at_end: str) -> str:
    """Who pitched at ``playEvents[index]``: the last pitching change before it, else the
    pitcher the at-bat started with (``matchup.pitcher`` names the one at its end)."""
    current = at_start
    for event in play_events[: max(index, 0)]:
        details = event.get("details") if isinstance(event, dict) else None
        if isinstance(details, dict) and details.get("eventType") == "pitching_substitution":
            player = event.get("player")
            if isinstance(player, dict) and isinstance(player.get("id"), int):
                current = str(player["id"])
    return current or at_end


def _implicit_placed_runner(groups: dict[int, list[_Move]]) -> set[int]:
    """The extra-inning runner of a feed that moves him without a ``runner_placed`` action.

    At the start of an extra half-inning the bases are empty, so the first move from a base
    names the runner the rule put there; he is placed (as his own event, at index -1) before
    the at-bat's events.
    """
    for index in sorted(groups):
        for move in groups[index]:
            if move.start != BATTER:
                groups[-1] = [_Move(runner=move.runner, start=BATTER, end=move.start, out=False)]
                return {-1}
    return set()


def _merge(moves: list[_Move]) -> list[_Move]:
    """One move per runner: from the first base he left to the last he reached (or his out)."""
    by_runner: dict[str, _Move] = {}
    order: list[str] = []
    for move in sorted(moves, key=lambda m: (m.start, m.end)):
        known = by_runner.get(move.runner)
        if known is None:
            by_runner[move.runner] = _Move(move.runner, move.start, move.end, move.out)
            order.append(move.runner)
            continue
        known.start = min(known.start, move.start)
        if known.out:
            continue
        if move.out:
            known.out, known.end = True, move.end
        else:
            known.end = max(known.end, move.end)
    merged = [by_runner[runner] for runner in order]
    merged.sort(key=lambda m: -m.start)
    return merged


def _timestamp(text: str | None) -> float | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


class GumboGame:
    """One MLB game followed live through its GUMBO feed.

    The game keeps its last good document (without the parts no reading uses, whose
    diffPatch operations it skips: :data:`_UNFOLLOWED`) and the reading of it between
    updates: a diffPatch copies only the parts of the document it changes (see
    :class:`_Patch`), and only the plays it touched (by the paths of its operations) or
    that follow them are read again, from the at-bat in progress on; a full document is
    compared play by play with the last one (by its serialized bytes) and read again from
    the first play that differs.
    The events are those a reading of the whole document gives (see
    :meth:`_DocumentReader.read_from`).

    Args:
        source: The feed's name in errors.
        split_runner_events: See :func:`read_document`.
    """

    __slots__ = (
        "_digests",
        "_doc",
        "_issues",
        "_log",
        "_reading",
        "_resync",
        "_timestamp",
        "game_id",
        "source",
        "split_runner_events",
    )

    def __init__(self, *, source: str = "gumbo", split_runner_events: bool = False) -> None:
        self.source = source
        self.split_runner_events = split_runner_events
        self.game_id: str | None = None
        self._doc: JSON = None
        self._reading: _Reading | None = None
        self._digests: list[bytes | None] = []
        self._timestamp: str | None = None
        self._log = EventLog()
        self._resync = True
        self._issues: tuple[str, ...] = ()

    @property
    def document(self) -> JSON:
        """The last good document (``None`` before the first), without the parts no
        reading uses (``liveData.plays.currentPlay``, ``liveData.plays.playsByInning``,
        ``liveData.boxscore``: see :data:`_UNFOLLOWED`); never changed later."""
        return self._doc

    @property
    def timestamp(self) -> str | None:
        """``metaData.timeStamp`` of the last good document."""
        return self._timestamp

    @property
    def events(self) -> list[PlayEvent]:
        """Every event returned so far, in order (corrections included)."""
        return self._log.events

    @property
    def issues(self) -> tuple[str, ...]:
        """Inconsistencies noticed in the last good document that did not stop it."""
        return self._issues

    @property
    def final(self) -> bool:
        """``game_end`` has been emitted."""
        return self.game_id is not None and f"{self.game_id}:end" in self._log

    @property
    def needs_full_document(self) -> bool:
        """Ask for the full ``feed/live`` next, not a diffPatch.

        True before the first document and after a diffPatch was refused (a poll was lost
        or the patch was computed from another version), until a full document is taken.
        """
        return self._resync

    def update_bytes(self, data: bytes | str) -> list[PlayEvent]:
        """Decode a response body (JSON, gzip accepted) and :meth:`update` with it."""
        return self.update(decode_json(data, self.source))

    def update(self, payload: JSON) -> list[PlayEvent]:
        """Take one response: a full document (object) or a diffPatch response (array).

        Returns:
            The events new since the last call, numbered after the previous ones.

        Raises:
            FeedParseError: The response cannot be read or applied; nothing changes (the
                document, its reading and the events are those of the last good one).
        """
        try:
            return self._update(payload)
        except FeedParseError:
            if isinstance(payload, list):
                # A lost or mismatched patch leaves the server's base and ours apart; only a
                # full document brings them together again.
                self._resync = True
            raise

    def _update(self, payload: JSON) -> list[PlayEvent]:
        if isinstance(payload, dict):
            timestamp = _doc_timestamp(payload)
            if (
                self._timestamp is not None
                and timestamp is not None
                and timestamp < self._timestamp
            ):
                raise FeedParseError(
                    self.source,
                    f"stale document: timeStamp {timestamp} is older than {self._timestamp}",
                )
            dirty, digests = _first_difference(
                self._digests, _all_plays(self._doc), _all_plays(payload)
            )
            reading = self._read(payload, dirty)
            return self._commit(_followed(payload), reading, digests, full=True)
        if not isinstance(payload, list):
            raise FeedParseError(
                self.source,
                f"expected a live-feed document or a diffPatch array, got {type(payload).__name__}",
            )
        if not payload:
            return []
        if self._doc is None:
            raise FeedParseError(self.source, "a diffPatch arrived before any full document")
        # The patched document is a new one sharing what did not change with the last good
        # one, which a refused response (or an unreadable result) leaves as it was.
        patch = _Patch(self._doc)
        if not self._patch(patch, payload):
            return []
        reading = self._read(patch.doc, patch.dirty)
        digests = self._digests if patch.digests is None else patch.digests
        # The plays read again may have changed: their digests are made from the document
        # if a full one comes (most never do: a game followed by diffPatch gets none).
        kept = digests[: reading.first_read]
        full = any(isinstance(r, dict) and "liveData" in r for r in payload)
        return self._commit(patch.doc, reading, kept, full=full)

    def _read(self, doc: JSON, dirty: int) -> _Reading:
        reading = _DocumentReader(Reader(self.source), self.split_runner_events).read_from(
            doc, self._reading, dirty
        )
        if self.game_id is not None and reading.game_id != self.game_id:
            raise FeedParseError(
                self.source,
                f"document is for game {reading.game_id}, not {self.game_id}",
            )
        return reading

    def _commit(
        self,
        doc: JSON,
        reading: _Reading,
        digests: list[bytes | None],
        *,
        full: bool,
    ) -> list[PlayEvent]:
        # The plays before the first one read gave the same events as in the last reading,
        # which the log already holds as they are: leaving them out changes nothing.
        new = self._log.update(reading.new_events())
        self.game_id = reading.game_id
        self._doc = doc
        self._reading = reading
        self._digests = digests
        self._timestamp = reading.timestamp or self._timestamp
        self._issues = reading.issues
        if full:
            self._resync = False
        return new

    def _patch(self, patch: _Patch, responses: list[JSON]) -> bool:
        """Apply every patch of a diffPatch response in order; whether any applied."""
        current = self._timestamp
        applied = stale = 0
        for number, response in enumerate(responses):
            if isinstance(response, dict) and "gamePk" in response and "liveData" in response:
                # The server answers with a full document when the diff would be too large.
                patch.replace_document(_followed(response), self._digests, _all_plays(self._doc))
                current = _doc_timestamp(response) or current
                applied += 1
                continue
            ops = response.get("diff") if isinstance(response, dict) else None
            if not isinstance(ops, list):
                raise FeedParseError(self.source, f"diffPatch[{number}]: no 'diff' array")
            stamp = _patch_timestamp(ops)
            if stamp is not None and current is not None and stamp <= current:
                stale += stamp < current
                continue
            for position, op in enumerate(ops):
                if type(op) is dict:
                    name, path = op.get("op"), op.get("path")
                    if type(path) is str:
                        if path.startswith(_UNFOLLOWED_UNDER) or path in _UNFOLLOWED_PATHS:
                            continue  # a part the game does not keep: nothing to apply
                        if name == "replace" and patch.replace_fast(path, op):
                            continue
                else:
                    name = path = None
                if not isinstance(name, str) or not isinstance(path, str):
                    where = f"diffPatch[{number}].diff[{position}]"
                    if not isinstance(name, str):
                        raise FeedParseError(self.source, f"{where}: not a JSON Patch operation")
                    raise FeedParseError(self.source, f"{where}: the operation has no path")
                try:
                    patch.apply(name, path, op)
                    if path in _UNFOLLOWED_ABOVE:
                        patch.leave_out(_UNFOLLOWED)
                except _PatchError as exc:
                    if path.startswith(_VOLATILE_PATCH_PATHS):
                        continue
                    raise FeedParseError(
                        self.source,
                        f"diffPatch[{number}].diff[{position}]: cannot {name} {path}: {exc}",
                    ) from None
            current = stamp or current
            applied += 1
        if not applied and stale:
            raise FeedParseError(
                self.source,
                f"stale diffPatch: every patch is older than the document ({self._timestamp})",
            )
        return applied > 0


_ALL_PLAYS_PATH: Final = "/liveData/plays/allPlays"
_ALL_PLAYS_SLASH: Final = _ALL_PLAYS_PATH + "/"


class _PatchError(Exception):
    """An operation that cannot apply; the message says why."""


class _Patch:
    """RFC 6902 operations applied to a document without changing it.

    Each operation copies (shallowly) the objects and arrays on its way from the root to the
    value it changes, unless this patch already made them, and changes the copies: the new
    document shares every untouched subtree with the old one, which stays as it was. A
    patch that fails, or a document that cannot be read once patched, is simply dropped,
    and a document handed out (:attr:`GumboGame.document`, the HTTP cache's copy of a
    response) is never changed under its holder. Copying the whole document for each patch
    instead costs 4-10 ms late in a game, and most of a poll's CPU in garbage collection.

    Written here rather than with ``jsonpatch`` (which the tests use as the reference): a
    catching-up game takes hundreds of operations per update (about a thousand at 300 game
    seconds per poll), and ``jsonpatch`` spends ~0.15 ms on each (a ``JsonPatch`` and a
    ``JsonPointer`` per operation, the path walked from the root every time) against about
    a microsecond here, where the parent of each path is kept for the next operation under
    it; and ``jsonpatch`` can only patch in place or copy the whole document. Operations:
    ``add``, ``remove``, ``replace``, ``move``, ``copy`` and ``test``, with the RFC's
    semantics (RFC 6901 pointers, ``-`` to append, no leading zeros in indexes, ``move``
    not into its own children, ``test`` by JSON equality); any other is refused.

    It also notes the first ``allPlays`` index an operation may have changed (``dirty``).
    """

    __slots__ = ("box", "digests", "dirty", "made", "owned", "parents", "prefixes")

    def __init__(self, doc: JSON) -> None:
        self.box: list[JSON] = [doc]
        # Containers this patch made (by id); ``made`` keeps them alive so that no id is
        # reused by an object that is not ours.
        self.owned: set[int] = set()
        self.made: list[JSON] = []
        # Parent pointer (as sent) -> our copy of the container there. An entry is dropped
        # when the value at or above its pointer is replaced or removed, or when an array
        # above it shifts.
        self.parents: dict[str, tuple[Any, int | None]] = {}
        # Every pointer above a cached one (with and without its trailing "/"): a change
        # at a pointer not in here has nothing cached under it (stale entries only cost a
        # look through the cache).
        self.prefixes: set[str] = set()
        self.dirty = sys.maxsize
        self.digests: list[bytes | None] | None = None

    @property
    def doc(self) -> JSON:
        return self.box[0]

    def replace_document(
        self, doc: JSON, digests: list[bytes | None], plays: list[JSON] | None
    ) -> None:
        """A full document in the response: what follows applies to it. ``digests`` and
        ``plays`` are the last good document's (see :func:`_first_difference`)."""
        self.box[0] = doc
        self.parents.clear()
        # Compared with the last good document, not with what earlier patches of this
        # response made: the reading to come starts from the last good one.
        self.dirty, self.digests = _first_difference(digests, plays, _all_plays(doc))

    def replace_fast(self, path: str, op: dict[str, JSON]) -> bool:
        """Replace a number, string... in an object already walked, if that is what ``op``
        does (most operations do): :meth:`_replace` without the calls. False: do nothing,
        :meth:`apply` will."""
        slash = path.rfind("/")
        cached = self.parents.get(path[:slash]) if slash > 0 else None
        if cached is None or "value" not in op:
            return False
        parent, where = cached
        key = path[slash + 1 :]
        if type(parent) is not dict or "~" in key:
            return False
        old = parent.get(key, parent)
        if old is parent or type(old) is dict or type(old) is list:
            return False
        parent[key] = op["value"]
        if where is not None:
            self.note(where, path, None)
        return True

    def apply(self, name: str, path: str, op: dict[str, JSON]) -> None:
        """Apply one operation; on :class:`_PatchError` the document is as it was."""
        if name == "replace":
            self._replace(path, self._value(op))
        elif name == "add":
            self._add(path, self._value(op))
        elif name == "remove":
            self._remove(path)
        elif name == "test":
            if not _json_equal(self._get(_pointer(path)), self._value(op)):
                raise _PatchError("the value is not the one tested")
        elif name in ("move", "copy"):
            source = op.get("from")
            if not isinstance(source, str):
                raise _PatchError("the operation has no 'from'")
            if name == "copy":
                value = self._get(_pointer(source))
                # The copy must not share containers that a later operation may change
                # through either place (this patch's own copies are changed in place).
                self._add(path, _copy_json(value) if isinstance(value, (dict, list)) else value)
            elif source != path:
                if path.startswith(source + "/"):
                    raise _PatchError("a value cannot move into one of its own children")
                self._get(_pointer(source))  # it must exist before anything changes
                moved = self._remove(source)
                try:
                    self._add(path, moved)
                except _PatchError:
                    self._put_back(source, moved)
                    raise
        else:
            raise _PatchError(f"unknown operation {name!r}")

    def leave_out(self, parts: tuple[tuple[str, ...], ...]) -> None:
        """Remove each of ``parts`` (reference tokens from the root) where the document
        has it (see :data:`_UNFOLLOWED`)."""
        for tokens in parts:
            try:
                self._get(list(tokens))
            except _PatchError:
                continue  # not in this document
            self._remove("".join("/" + token for token in tokens))

    @staticmethod
    def _value(op: dict[str, JSON]) -> JSON:
        if "value" not in op:
            raise _PatchError("the operation has no 'value'")
        return op["value"]

    def note(self, where: int | None, path: str, index: int | None) -> None:
        """Note the first play that a change at ``path`` may touch; ``where`` says what
        its parent is (see :func:`_where`), ``index`` is the array index resolved."""
        if where is None:
            return
        if where >= 0:
            self.dirty = min(self.dirty, where)
        elif where == -1:
            # An entry of allPlays itself: added or removed at ``index`` (later ones shift);
            # an allPlays that is not an array is read again whole.
            self.dirty = min(self.dirty, index if index is not None else 0)
        elif _ALL_PLAYS_PATH.startswith(path) and _ALL_PLAYS_PATH[len(path) : len(path) + 1] in (
            "",
            "/",
        ):
            self.dirty = 0  # allPlays itself, or a container above it

    def _forget(self, path: str) -> None:
        """Drop the cached parents at or under ``path`` (its value was replaced or removed,
        or, for an array's items, they moved)."""
        parents = self.parents
        if not parents or (path not in parents and path not in self.prefixes):
            return
        under = path if path.endswith("/") else path + "/"
        for key in [k for k in parents if k == path or k.startswith(under)]:
            del parents[key]

    def _own(self, node: Any) -> Any:
        if id(node) in self.owned:
            return node
        mine = node.copy()
        self.owned.add(id(mine))
        self.made.append(mine)
        return mine

    def _locate(self, path: str) -> tuple[Any, int | None, str, str]:
        """Our copy of the object or array holding the value at ``path``, what it is to
        allPlays (see :func:`_where`), the last reference token (unescaped), and the
        parent's pointer."""
        slash = path.rfind("/")
        if slash < 0:
            raise _PatchError("a JSON pointer starts with '/'")
        parent_path = path[:slash]
        token = path[slash + 1 :]
        if "~" in token:
            token = _unescape(token)
        cached = self.parents.get(parent_path)
        if cached is None:
            cached = (self._walk_from_cached(parent_path), _where(parent_path))
            self.parents[parent_path] = cached
            prefixes = self.prefixes
            prefixes.add(parent_path + "/")
            cut = parent_path.rfind("/")
            # From the deepest up, until one already there (with all those above it).
            while cut > 0 and parent_path[:cut] not in prefixes:
                prefixes.add(parent_path[:cut])
                prefixes.add(parent_path[: cut + 1])
                cut = parent_path.rfind("/", 0, cut)
        return cached[0], cached[1], token, parent_path

    def _walk_from_cached(self, pointer: str) -> Any:
        """:meth:`_walk` to ``pointer``, from the nearest container above it that is cached."""
        parents = self.parents
        cut = pointer.rfind("/")
        while cut > 0:
            cached = parents.get(pointer[:cut])
            if cached is not None:
                return self._walk(_pointer(pointer[cut:]), cached[0])
            cut = pointer.rfind("/", 0, cut)
        return self._walk(_pointer(pointer))

    def _walk(self, tokens: list[str], start: Any = None) -> Any:
        """Our copy of the container at ``tokens`` under ``start`` (one of ours; the root
        when ``None``), copying what is on the way."""
        if start is None:
            node = self.box[0]
            if not isinstance(node, (dict, list)):
                raise _PatchError("the document is not an object or an array")
            node = self.box[0] = self._own(node)
        else:
            node = start
        for token in tokens:
            if isinstance(node, dict):
                if token not in node:
                    raise _PatchError(f"no member {token!r}")
                key: str | int = token
            else:
                key = _index(node, token, end=False)
            child = node[key]
            if not isinstance(child, (dict, list)):
                raise _PatchError(f"{token!r} is not an object or an array")
            mine = self._own(child)
            node[key] = mine
            node = mine
        return node

    def _get(self, tokens: list[str]) -> JSON:
        node = self.box[0]
        for token in tokens:
            if isinstance(node, dict):
                if token not in node:
                    raise _PatchError(f"no member {token!r}")
                node = node[token]
            elif isinstance(node, list):
                node = node[_index(node, token, end=False)]
            else:
                raise _PatchError(f"{token!r} is looked up in a scalar")
        return node

    def _set_root(self, path: str, value: JSON) -> None:
        self.box[0] = value
        self.parents.clear()
        self.dirty = 0

    def _add(self, path: str, value: JSON) -> None:
        if not path:
            self._set_root(path, value)
            return
        parent, where, key, parent_path = self._locate(path)
        if type(parent) is dict:
            old = parent.get(key)
            parent[key] = value
            if isinstance(old, (dict, list)):
                self._forget(path)
            self.note(where, path, None)
            return
        index = len(parent) if key == "-" else _index(parent, key, end=True)
        if index < len(parent):
            self._forget(parent_path + "/")  # the items from index on move
        parent.insert(index, value)
        self.note(where, path, index)

    def _remove(self, path: str) -> JSON:
        if not path:
            raise _PatchError("the whole document cannot be removed")
        parent, where, key, parent_path = self._locate(path)
        if type(parent) is dict:
            if key not in parent:
                raise _PatchError(f"no member {key!r}")
            old = parent.pop(key)
            if isinstance(old, (dict, list)):
                self._forget(path)
            self.note(where, path, None)
            return old
        index = _index(parent, key, end=False)
        if index < len(parent) - 1:
            self._forget(parent_path + "/")  # the items after index move
        elif isinstance(parent[index], (dict, list)):
            self._forget(path)
        self.note(where, path, index)
        return parent.pop(index)

    def _put_back(self, path: str, value: JSON) -> None:
        """Undo :meth:`_remove` (of a ``move`` whose target turned out wrong)."""
        parent, _, key, _ = self._locate(path)
        if type(parent) is dict:
            parent[key] = value
        else:
            parent.insert(int(key), value)

    def _replace(self, path: str, value: JSON) -> None:
        if not path:
            self._set_root(path, value)
            return
        parent, where, key, _ = self._locate(path)
        if type(parent) is dict:
            if key not in parent:
                raise _PatchError(f"no member {key!r}")
            old = parent[key]
            parent[key] = value
            if isinstance(old, (dict, list)):
                self._forget(path)
            self.note(where, path, None)
            return
        index = _index(parent, key, end=False)
        old = parent[index]
        parent[index] = value
        if isinstance(old, (dict, list)):
            self._forget(path)
        self.note(where, path, index)


def _where(parent_path: str) -> int | None:
    """What a container is to allPlays, for the plays a change inside it may touch: inside
    entry ``n`` (``n``), allPlays itself (-1), above it (-2), or apart (``None``)."""
    if parent_path.startswith(_ALL_PLAYS_SLASH):
        entry = parent_path[len(_ALL_PLAYS_SLASH) :].partition("/")[0]
        # walked as an index of the array; an allPlays that is not an array: read it all
        return int(entry) if entry.isascii() and entry.isdigit() else 0
    if parent_path == _ALL_PLAYS_PATH:
        return -1
    if _ALL_PLAYS_PATH.startswith(parent_path + "/"):
        return -2
    return None


def _unescape(token: str) -> str:
    if _BAD_ESCAPE.search(token):
        raise _PatchError("'~' is followed by neither '0' nor '1'")
    return token.replace("~1", "/").replace("~0", "~")


def _pointer(text: str) -> list[str]:
    """The reference tokens of an RFC 6901 JSON pointer."""
    if not text:
        return []
    if text[0] != "/":
        raise _PatchError("a JSON pointer starts with '/'")
    tokens = text[1:].split("/")
    if "~" in text:
        tokens = [_unescape(token) for token in tokens]
    return tokens


def _index(array: list[JSON], token: str, *, end: bool) -> int:
    """An array index token: digits without a leading zero, within the array (or just past
    its end when ``end``)."""
    if not token.isdigit() or not token.isascii() or (len(token) > 1 and token[0] == "0"):
        raise _PatchError(f"{token!r} is not an array index")
    index = int(token)
    if index > len(array) or (index == len(array) and not end):
        raise _PatchError(f"index {index} is out of range (the array has {len(array)})")
    return index


def _json_equal(a: JSON, b: JSON) -> bool:
    """JSON equality (RFC 6902 ``test``): numbers by value, but ``true`` is not ``1``."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, dict):
        return (
            isinstance(b, dict)
            and a.keys() == b.keys()
            and all(_json_equal(value, b[key]) for key, value in a.items())
        )
    if isinstance(a, list):
        return (
            isinstance(b, list)
            and len(a) == len(b)
            and all(_json_equal(x, y) for x, y in zip(a, b, strict=True))
        )
    if isinstance(a, (int, float)):
        return isinstance(b, (int, float)) and a == b
    return type(a) is type(b) and a == b


def _followed(doc: JSON) -> JSON:
    """``doc`` without its :data:`_UNFOLLOWED` parts: shallow copies of the objects on their
    way (``doc`` itself is not changed), or ``doc`` when it has none of them."""
    return _without(doc, _UNFOLLOWED)


def _without(node: JSON, parts: Iterable[tuple[str, ...]]) -> JSON:
    """``node`` without the members at ``parts`` (reference tokens from ``node``): the
    objects on the way to one it has are copied, ``node`` itself is returned otherwise."""
    if type(node) is not dict:
        return node
    drop: set[str] = set()
    deeper: dict[str, list[tuple[str, ...]]] = {}
    for part in parts:
        if len(part) == 1:
            drop.add(part[0])
        else:
            deeper.setdefault(part[0], []).append(part[1:])
    changed = {}
    for key, below in deeper.items():
        child = node.get(key)
        kept = _without(child, below)
        if kept is not child:
            changed[key] = kept
    if not changed and drop.isdisjoint(node):
        return node
    return {key: changed.get(key, value) for key, value in node.items() if key not in drop}


def _all_plays(doc: JSON) -> list[JSON] | None:
    live = doc.get("liveData") if isinstance(doc, dict) else None
    plays = live.get("plays") if isinstance(live, dict) else None
    all_plays = plays.get("allPlays") if isinstance(plays, dict) else None
    return all_plays if isinstance(all_plays, list) else None


def _digest(play: JSON) -> bytes | None:
    try:
        # Sorted keys: a patched play lists the members a patch added last, the server's
        # full document in its own order; the same play must give the same bytes.
        return orjson.dumps(play, option=orjson.OPT_SORT_KEYS)
    except orjson.JSONEncodeError:
        return None  # not comparable: read again


def _first_difference(
    old: list[bytes | None], old_plays: list[JSON] | None, new_plays: list[JSON] | None
) -> tuple[int, list[bytes | None]]:
    """The first ``allPlays`` index where the last document and a new one differ (or where
    one of them ends), compared play by play by their serialized bytes (a play's digest:
    equal bytes, equal play, equal events).

    Digests are made as they are needed and kept for the next comparison: ``old`` holds
    those of the first of the last document's plays (``old_plays``; the plays patched since
    its last comparison have none), and the new document's are made up to the difference
    only, since every play after it is read again anyway.

    Returns:
        The index, and the digests of the new plays up to it (it included).
    """
    plays: list[JSON] = [] if old_plays is None else old_plays
    new: list[JSON] = [] if new_plays is None else new_plays
    known = len(old)
    digests: list[bytes | None] = []
    for index in range(min(len(plays), len(new))):
        a = old[index] if index < known else _digest(plays[index])
        b = _digest(new[index])
        digests.append(b)
        if a is None or a != b:
            return index, digests
    return min(len(plays), len(new)), digests


def _copy_json(doc: JSON) -> JSON:
    """A deep copy of a decoded JSON document (several times faster than ``deepcopy``)."""
    try:
        return orjson.loads(orjson.dumps(doc))
    except orjson.JSONEncodeError:
        # Integers beyond 64 bits, which orjson does not encode; the document is still JSON.
        return copy.deepcopy(doc)


def _doc_timestamp(doc: dict[str, JSON]) -> str | None:
    meta = doc.get("metaData")
    stamp = meta.get("timeStamp") if isinstance(meta, dict) else None
    return stamp if isinstance(stamp, str) else None


def _patch_timestamp(ops: list[JSON]) -> str | None:
    first = ops[0] if ops else None
    if isinstance(first, dict) and first.get("path") == "/metaData/timeStamp":
        value = first.get("value")
        return value if isinstance(value, str) else None
    return None
