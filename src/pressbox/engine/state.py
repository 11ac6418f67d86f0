"""The game state machine: fold normalized events into a :class:`GameState`.

:func:`apply` is the pure transition. It checks that an event can follow the state (the
next sequence number, a situation that matches, legal runner movement, at most three
outs, scores that change only by the runs of the batting side) and raises
:class:`~pressbox.errors.InvalidEvent` with a reason otherwise; the state passed in is
never changed, so nothing already accepted is lost.

:class:`GameMachine` keeps one game's history on top of it: the same event twice changes
nothing, and an event that ``corrects`` an earlier one replaces it and recomputes the state
from that point (or is refused, leaving the history as it was, when the corrected history
would be impossible).
"""

from __future__ import annotations

from enum import Enum

import msgspec

from pressbox.engine.events import (
    BATTER,
    HOME_PLATE,
    BaseballPlay,
    BaseballSituation,
    FootballSituation,
    GameState,
    PlayEvent,
)
from pressbox.errors import ImpossibleTransition, OutOfOrder
from pressbox.types import Sport

_BASE_NAMES = ("", "first", "second", "third", "home")
_EMPTY_BASES: tuple[str | None, str | None, str | None] = (None, None, None)
_MAX_FOOTBALL_POINTS_PER_PLAY = 8
"""A touchdown with a two-point return on the same play is the most one play can add."""


def baseball_start() -> BaseballSituation:
    """The situation before the first pitch: top of the first, nobody out, bases empty."""
    return BaseballSituation(inning=1, half="top", outs=0)


def next_half(situation: BaseballSituation) -> BaseballSituation:
    """The start of the half-inning after ``situation``'s: nobody out, bases empty."""
    if situation.half == "top":
        return BaseballSituation(inning=situation.inning, half="bottom", outs=0)
    return BaseballSituation(inning=situation.inning + 1, half="top", outs=0)


def inning_clock(situation: BaseballSituation) -> str:
    """The display clock of a baseball situation: ``"T9"`` or ``"B9"``."""
    return f"{'T' if situation.half == 'top' else 'B'}{situation.inning}"


def initial_state(sport: Sport, game_id: str) -> GameState:
    """The state of a game before any event: scheduled, no score."""
    return GameState(sport=sport, game_id=game_id)


def apply(state: GameState, event: PlayEvent) -> GameState:
    """Apply the next event of a game.

    Args:
        state: The game's state after its previous event.
        event: The event with sequence ``state.seq + 1``.

    Returns:
        The new state; ``state`` itself is unchanged.

    Raises:
        OutOfOrder: ``event.seq`` is not ``state.seq + 1``.
        ImpossibleTransition: The event cannot follow the state; the reason says why.
    """
    if event.seq != state.seq + 1:
        raise OutOfOrder(
            state.game_id,
            event.event_id,
            f"sequence {event.seq} does not follow {state.seq}",
        )
    return _transition(state, event)


def _reject(state: GameState, event: PlayEvent, reason: str) -> ImpossibleTransition:
    return ImpossibleTransition(state.game_id, event.event_id, reason)


def _transition(state: GameState, event: PlayEvent) -> GameState:
    """Apply ``event`` without the sequence check; the new state takes ``event.seq``."""
    if event.sport != state.sport or event.game_id != state.game_id:
        raise _reject(
            state,
            event,
            f"event is for {event.sport} game {event.game_id}, "
            f"not {state.sport} game {state.game_id}",
        )
    if state.status == "final":
        raise _reject(state, event, f"the game is final; no {event.kind} can follow")
    if event.kind == "game_start":
        return _start(state, event)
    if event.kind == "game_end":
        return _end(state, event)
    if event.sport == "mlb":
        return _baseball_play(state, event)
    return _football_play(state, event)


def _start(state: GameState, event: PlayEvent) -> GameState:
    if state.status != "scheduled" or state.plays:
        raise _reject(state, event, "the game has already started")
    if event.info is None:
        raise _reject(state, event, "game_start carries no game info")
    if event.home_score or event.away_score:
        raise _reject(state, event, "a game cannot start with a score")
    situation = event.after
    if situation is None and event.sport == "mlb":
        situation = baseball_start()
    clock = inning_clock(situation) if isinstance(situation, BaseballSituation) else event.clock
    return msgspec.structs.replace(
        state,
        seq=event.seq,
        status="live",
        info=event.info,
        situation=situation,
        period=event.period or 1,
        clock=clock,
        last_play=event.text or None,
    )


def _end(state: GameState, event: PlayEvent) -> GameState:
    if (event.home_score, event.away_score) != (state.home_score, state.away_score):
        raise _reject(
            state,
            event,
            f"final score {event.away_score}-{event.home_score} (away-home) differs from "
            f"the score of the plays {state.away_score}-{state.home_score}",
        )
    return msgspec.structs.replace(
        state,
        seq=event.seq,
        status="final",
        last_play=event.text or state.last_play,
    )


def _baseball_play(state: GameState, event: PlayEvent) -> GameState:
    current = state.situation
    if current is None:
        current = baseball_start()
    if not isinstance(current, BaseballSituation):  # pragma: no cover - sport checked above
        raise _reject(state, event, "the game has a football situation")
    before = event.before
    detail = event.detail
    if not isinstance(before, BaseballSituation):
        raise _reject(state, event, "a baseball play needs a baseball 'before' situation")
    if not isinstance(detail, BaseballPlay):
        raise _reject(state, event, "a baseball play needs baseball play detail")
    if (before.inning, before.half, before.outs) != (current.inning, current.half, current.outs):
        raise _reject(
            state,
            event,
            f"play starts at {inning_clock(before)} with {before.outs} out, but the game "
            f"is at {inning_clock(current)} with {current.outs} out",
        )
    bases = before.bases
    for index in range(3):
        if (bases[index] is None) != (current.bases[index] is None):
            raise _reject(
                state,
                event,
                f"play has bases {before.bases_code} but the game has {current.bases_code}",
            )

    new_bases: list[str | None] = [None, None, None]
    moved = [False, False, False, False]
    outs = 0
    runs = 0
    for move in detail.moves:
        start = move.start
        if not 0 <= start <= 3:
            raise _reject(state, event, f"{move.runner} starts from base {start}")
        if moved[start]:
            who = "the batter" if start == BATTER else f"the runner on {_BASE_NAMES[start]}"
            raise _reject(state, event, f"{who} moves twice")
        moved[start] = True
        if start and bases[start - 1] is None:
            raise _reject(state, event, f"no runner on {_BASE_NAMES[start]} to move")
        if move.out:
            outs += 1
            continue
        end = move.end
        if not 1 <= end <= HOME_PLATE or end < start:
            raise _reject(state, event, f"{move.runner} cannot go from base {start} to base {end}")
        if end == HOME_PLATE:
            runs += 1
        elif new_bases[end - 1] is not None:
            raise _reject(state, event, f"two runners end on {_BASE_NAMES[end]}")
        else:
            new_bases[end - 1] = move.runner
    for index in range(3):
        runner = bases[index]
        if runner is not None and not moved[index + 1]:
            if new_bases[index] is not None:
                raise _reject(state, event, f"two runners end on {_BASE_NAMES[index + 1]}")
            new_bases[index] = runner

    total_outs = before.outs + outs
    if total_outs > 3:
        raise _reject(state, event, f"{total_outs} outs in a half-inning")
    if detail.runs != runs or detail.outs_on_play != outs:
        raise _reject(
            state,
            event,
            f"play claims {detail.runs} runs and {detail.outs_on_play} outs but its "
            f"moves make {runs} and {outs}",
        )
    home, away = state.home_score, state.away_score
    if before.half == "bottom":
        home += runs
    else:
        away += runs
    if (event.home_score, event.away_score) != (home, away):
        raise _reject(
            state,
            event,
            f"score after the play is {event.away_score}-{event.home_score} (away-home) "
            f"but its runs make {away}-{home}",
        )

    if total_outs == 3:
        after = next_half(before)
    else:
        balls = strikes = 0
        claimed = event.after
        if isinstance(claimed, BaseballSituation):
            balls, strikes = claimed.balls, claimed.strikes
        after = BaseballSituation(
            inning=before.inning,
            half=before.half,
            outs=total_outs,
            bases=(new_bases[0], new_bases[1], new_bases[2]),
            balls=balls,
            strikes=strikes,
        )
    claimed = event.after
    if claimed is not None and (
        not isinstance(claimed, BaseballSituation)
        or (claimed.inning, claimed.half, claimed.outs, claimed.bases)
        != (after.inning, after.half, after.outs, after.bases)
    ):
        raise _reject(
            state,
            event,
            f"play claims to end at {_describe(claimed)} but its moves end at {_describe(after)}",
        )
    return GameState(
        sport=state.sport,
        game_id=state.game_id,
        seq=event.seq,
        status="live",
        info=state.info,
        home_score=home,
        away_score=away,
        period=after.inning,
        clock=inning_clock(after),
        situation=after,
        last_play=event.text or detail.code,
        plays=state.plays + 1,
    )


def _describe(situation: BaseballSituation | FootballSituation) -> str:
    if isinstance(situation, FootballSituation):
        return "a football situation"
    return f"{inning_clock(situation)}, {situation.outs} out, bases {situation.bases_code}"


def _football_play(state: GameState, event: PlayEvent) -> GameState:
    after = event.after if event.after is not None else event.before
    if not isinstance(after, FootballSituation):
        raise _reject(state, event, "a football play needs a football situation")
    current = state.situation
    if isinstance(current, FootballSituation) and after.quarter < current.quarter:
        raise _reject(
            state,
            event,
            f"play is in quarter {after.quarter} but the game is in quarter {current.quarter}",
        )
    if not 1 <= after.quarter <= 10:
        raise _reject(state, event, f"quarter {after.quarter} does not exist")
    if not 0 <= after.clock_seconds <= 900:
        raise _reject(state, event, f"{after.clock_seconds} s left in a quarter is impossible")
    if after.down is not None and not 1 <= after.down <= 4:
        raise _reject(state, event, f"down {after.down} does not exist")
    if after.yard_line is not None and not 0 <= after.yard_line <= 100:
        raise _reject(state, event, f"yard line {after.yard_line} is off the field")
    if after.distance is not None and after.distance < 0:
        raise _reject(state, event, f"negative distance {after.distance}")
    for side, new, old in (
        ("home", event.home_score, state.home_score),
        ("away", event.away_score, state.away_score),
    ):
        if new < old:
            raise _reject(state, event, f"{side} score falls from {old} to {new}")
        if new - old > _MAX_FOOTBALL_POINTS_PER_PLAY:
            raise _reject(state, event, f"{side} scores {new - old} points on one play")
    return GameState(
        sport=state.sport,
        game_id=state.game_id,
        seq=event.seq,
        status="live",
        info=state.info,
        home_score=event.home_score,
        away_score=event.away_score,
        period=after.quarter,
        clock=event.clock,
        situation=after,
        last_play=event.text or None,
        plays=state.plays + 1,
    )


class Outcome(Enum):
    """What :meth:`GameMachine.apply` did with an event."""

    APPLIED = "applied"
    DUPLICATE = "duplicate"
    """The event was already applied; nothing changed."""
    CORRECTED = "corrected"
    """The event replaced an earlier one and the state was recomputed."""
    PENDING = "pending"
    """A correction held back: it changes the situation, so the plays after the one it
    corrects no longer follow until the feed corrects them too. It applies with the
    corrections that complete the chain."""


class _ChainIncomplete(ImpossibleTransition):
    """A correction is possible in itself, but a later, uncorrected event no longer follows."""


class GameMachine:
    """One game's history: idempotent, ordered, and open to corrections.

    A correction that changes the outcome of a play (a hit scored as an error, a runner
    who was really out) also changes the situation every later play starts from; a feed
    then corrects those plays too, one after the other. Such a correction is held
    (:attr:`Outcome.PENDING`) until the corrections that follow make the whole history
    possible again, and then they apply together. A regular event that follows on the
    uncorrected history drops the held corrections; one that follows on neither is refused.

    Args:
        sport: The game's sport.
        game_id: The game's id.
    """

    __slots__ = ("_events", "_index", "_pending", "_states", "_superseded")

    def __init__(self, sport: Sport, game_id: str) -> None:
        self._events: list[PlayEvent] = []
        self._states: list[GameState] = [initial_state(sport, game_id)]
        self._index: dict[str, int] = {}
        self._superseded: set[str] = set()
        self._pending: list[PlayEvent] = []

    @property
    def pending(self) -> list[PlayEvent]:
        """Corrections held until the chain they belong to is complete."""
        return list(self._pending)

    @property
    def state(self) -> GameState:
        """The state after the latest event."""
        return self._states[-1]

    @property
    def events(self) -> list[PlayEvent]:
        """The effective history: corrected events stand in place of the ones they replaced."""
        return list(self._events)

    def state_at(self, position: int) -> GameState:
        """The state after the first ``position`` events of the history (0 = before any)."""
        return self._states[position]

    def apply(self, event: PlayEvent) -> Outcome:
        """Apply an event to the history.

        Returns:
            Whether the event was applied, was a duplicate, or corrected an earlier event.

        Raises:
            OutOfOrder: The event's sequence is not the next one.
            ImpossibleTransition: The event, or the history it corrects, is impossible; the
                history is left as it was.
        """
        state = self.state
        if event.event_id in self._superseded or any(
            held.event_id == event.event_id for held in self._pending
        ):
            return Outcome.DUPLICATE
        known = self._index.get(event.event_id)
        if known is not None:
            stored = self._events[known]
            if event == stored or _same_play(event, stored):
                return Outcome.DUPLICATE
            raise ImpossibleTransition(
                state.game_id,
                event.event_id,
                "an event with this id was already applied with different content; "
                "send a correction instead",
            )
        if event.corrects is None:
            try:
                new_state = apply(state, event)
            except ImpossibleTransition as exc:
                if not self._pending:
                    raise
                raise ImpossibleTransition(
                    state.game_id,
                    event.event_id,
                    f"{exc.reason} (and {len(self._pending)} held corrections are incomplete)",
                ) from exc
            self._pending.clear()
            self._events.append(event)
            self._states.append(new_state)
            self._index[event.event_id] = len(self._events) - 1
            return Outcome.APPLIED
        if event.seq != state.seq + 1:
            raise OutOfOrder(
                state.game_id,
                event.event_id,
                f"sequence {event.seq} does not follow {state.seq}",
            )
        chain = [*self._pending, event]
        try:
            self._correct(chain)
        except _ChainIncomplete:
            self._pending.append(event)
            return Outcome.PENDING
        self._pending.clear()
        return Outcome.CORRECTED

    def _correct(self, chain: list[PlayEvent]) -> None:
        """Replace the events the corrections of ``chain`` name, and recompute the history.

        Raises:
            _ChainIncomplete: An uncorrected later event no longer follows.
            ImpossibleTransition: A correction is impossible in itself, or names an event
                that is not in the history.
        """
        state = self.state
        newest = chain[-1]
        positions: dict[str, int] = {}
        replacements: dict[int, PlayEvent] = {}
        for correction in chain:
            target = correction.corrects or ""
            position = positions.get(target, self._index.get(target))
            if position is None:
                raise ImpossibleTransition(
                    state.game_id, correction.event_id, f"corrects unknown event {target!r}"
                )
            positions[correction.event_id] = position
            original = self._events[position]
            replacements[position] = msgspec.structs.replace(correction, seq=original.seq)
        start = min(replacements)
        history = list(self._events)
        for position, replacement in replacements.items():
            history[position] = replacement
        states = self._states[: start + 1]
        for position in range(start, len(history)):
            later = history[position]
            try:
                states.append(_transition(states[-1], later))
            except ImpossibleTransition as exc:
                kind = _ChainIncomplete if position not in replacements else ImpossibleTransition
                what = "is impossible" if position in replacements else "makes event"
                detail = (
                    f"correction {later.event_id} {what}: {exc.reason}"
                    if position in replacements
                    else f"correcting {newest.corrects} {what} {later.event_id} impossible: "
                    f"{exc.reason}"
                )
                raise kind(state.game_id, newest.event_id, detail) from exc
        states[-1] = msgspec.structs.replace(states[-1], seq=newest.seq)
        for position in replacements:
            original_id = self._events[position].event_id
            del self._index[original_id]
            self._superseded.add(original_id)
            self._index[history[position].event_id] = position
        self._events = history
        self._states = states


def _same_play(a: PlayEvent, b: PlayEvent) -> bool:
    """Two deliveries of one event that differ only in delivery metadata."""
    return msgspec.structs.replace(a, seq=b.seq, ts_ingest=b.ts_ingest) == b
