"""A random but legal baseball game generator, for property tests of the state machine."""

from __future__ import annotations

import random

from pressbox.engine.events import (
    BaseballPlay,
    BaseballSituation,
    GameInfo,
    PlayEvent,
    RunnerMove,
)
from pressbox.engine.state import next_half

GAME = "SIM202001010"


def start_event(game_id: str = GAME) -> PlayEvent:
    return PlayEvent(
        sport="mlb",
        game_id=game_id,
        seq=1,
        event_id=f"{game_id}:0",
        kind="game_start",
        info=GameInfo(home="HOM", away="VIS", date="2020-01-01"),
        after=BaseballSituation(inning=1, half="top", outs=0),
    )


def random_play(
    rng: random.Random,
    before: BaseballSituation,
    home: int,
    away: int,
    seq: int,
    game_id: str = GAME,
    number: int | None = None,
) -> PlayEvent:
    """One legal play from ``before``: runners move forward without passing each other."""
    batter = f"b{seq:04d}"
    moves: list[RunnerMove] = []
    outs = 0
    limit = 3 - before.outs
    ceiling = 5  # runners behind end below the lowest base a runner ahead still holds
    for start in (3, 2, 1):
        runner = before.bases[start - 1]
        if runner is None:
            continue
        roll = rng.random()
        if outs < limit and roll < 0.08:
            moves.append(RunnerMove(runner, start, start + 1, out=True))
            outs += 1
            continue
        ends = [b for b in range(start + 1, min(ceiling, 4))] + ([4] if ceiling == 5 else [])
        if roll < 0.5 or not ends:
            ceiling = start
            continue
        end = rng.choice(ends)
        moves.append(RunnerMove(runner, start, end))
        if end != 4:
            ceiling = end
    reach = [b for b in range(1, min(ceiling, 4))] + ([4] if ceiling == 5 else [])
    batter_up = rng.random() < 0.8 and (outs < limit or bool(reach))
    if batter_up:
        if outs < limit and (rng.random() < 0.6 or not reach):
            moves.append(RunnerMove(batter, 0, 1, out=True))
            outs += 1
        else:
            moves.append(RunnerMove(batter, 0, rng.choice(reach)))
    runs = sum(1 for m in moves if not m.out and m.end == 4)
    if before.half == "bottom":
        home += runs
    else:
        away += runs
    total = before.outs + outs
    if total == 3:
        after = next_half(before)
    else:
        new: list[str | None] = [None, None, None]
        moved = {m.start for m in moves}
        for index, runner in enumerate(before.bases):
            if runner is not None and index + 1 not in moved:
                new[index] = runner
        for m in moves:
            if not m.out and m.end < 4:
                new[m.end - 1] = m.runner
        after = BaseballSituation(
            inning=before.inning, half=before.half, outs=total, bases=(new[0], new[1], new[2])
        )
    n = seq if number is None else number
    return PlayEvent(
        sport="mlb",
        game_id=game_id,
        seq=seq,
        event_id=f"{game_id}:{n}",
        period=before.inning,
        text=f"play {n}",
        home_score=home,
        away_score=away,
        before=before,
        after=after,
        detail=BaseballPlay(
            batter=batter if batter_up else None,
            pitcher="p1",
            code="SIM",
            moves=tuple(moves),
            runs=runs,
            outs_on_play=outs,
            pa_end=batter_up,
        ),
    )


def random_game(rng: random.Random, plays: int, game_id: str = GAME) -> list[PlayEvent]:
    """A game start followed by ``plays`` legal plays (no game end)."""
    events = [start_event(game_id)]
    before = BaseballSituation(inning=1, half="top", outs=0)
    home = away = 0
    for seq in range(2, plays + 2):
        play = random_play(rng, before, home, away, seq, game_id)
        events.append(play)
        assert isinstance(play.after, BaseballSituation)
        before = play.after
        home, away = play.home_score, play.away_score
    return events
