"""Updates of a real game (the bundled Retrosheet sample) for delivery tests and benchmarks."""

from __future__ import annotations

import math
from pathlib import Path

import msgspec

from pressbox.engine.events import Update, WinProbability, encode
from pressbox.engine.state import apply, initial_state
from pressbox.feeds.retrosheet import iter_games

SAMPLE = Path(__file__).resolve().parent.parent.parent / "data" / "retrosheet"


def _home_wp(home: int, away: int, inning: int, bottom: bool) -> float:
    # A plain logistic of the lead that sharpens as the game goes on: realistic enough
    # in shape for delivery (the figures are not a model's).
    progress = min(inning + (0.5 if bottom else 0.0), 9.5) / 9.5
    return 1.0 / (1.0 + math.exp(-(home - away) * (0.35 + 1.2 * progress) - 0.08))


def real_game_updates(index: int = 0, game_id: str | None = None) -> list[Update]:
    """The updates a processor would publish for one real game, seq 1, 2, 3...

    Args:
        index: Which game of the sample (in file order).
        game_id: Publish it under this id instead of its own (many copies of a game).
    """
    game = None
    for i, candidate in enumerate(iter_games(SAMPLE)):
        if i == index:
            game = candidate
            break
    assert game is not None
    gid = game_id or game.game_id
    state = initial_state("mlb", game.game_id)
    prev = 0.5
    updates: list[Update] = []
    for event in game.events:
        state = apply(state, event)
        sit = state.situation
        inning = getattr(sit, "inning", 1)
        bottom = getattr(sit, "half", "top") == "bottom"
        home_wp = _home_wp(state.home_score, state.away_score, inning, bottom)
        if state.status == "final":
            home_wp = 1.0 if state.home_score > state.away_score else 0.0
        wpa = home_wp - prev
        prev = home_wp
        updates.append(
            Update(
                sport="mlb",
                game_id=gid,
                seq=len(updates) + 1,
                event_seq=event.seq,
                event_id=event.event_id,
                kind=event.kind,
                state=state if game_id is None else _renamed(state, gid),
                wp=WinProbability(home=home_wp, away=1.0 - home_wp, model="test-logistic"),
                wpa=wpa,
                leverage=1.0,
                key_play=abs(wpa) >= 0.1,
                text=event.text,
            )
        )
    return updates


def _renamed(state, game_id):  # type: ignore[no-untyped-def]
    import msgspec

    return msgspec.structs.replace(state, game_id=game_id)


def payload(update: Update) -> bytes:
    """The bytes a processor appends to ``updates:<game_id>``."""
    return encode(update)


def padded(updates: list[Update], extra: int) -> list[Update]:
    """The updates with ``extra`` bytes more of text each (to fill socket buffers fast)."""
    return [msgspec.structs.replace(u, text=u.text + "x" * extra) for u in updates]
