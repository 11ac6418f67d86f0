"""The pregame prior of each game: fixed once, on every backend, and read back unchanged."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anyio
import pytest

from pressbox.engine.events import GamePrior
from pressbox.store import Archive

pytestmark = pytest.mark.anyio

G = "NYA201504060"
RATINGS = GamePrior(home=0.5612345678901234, source="ratings")


async def test_the_first_prior_fixed_stays(archive: Archive) -> None:
    """A second fix returns the first prior, whatever it is given; reads return it too."""
    assert await archive.prior(G) is None
    assert await archive.fix_prior(G, RATINGS) == RATINGS
    odds = GamePrior(home=0.4, source="odds")
    assert await archive.fix_prior(G, odds) == RATINGS
    assert await archive.prior(G) == RATINGS
    assert await archive.fix_prior("other", odds) == odds
    assert await archive.prior("other") == odds


async def test_a_game_without_a_prior_keeps_that_too(archive: Archive) -> None:
    """A prior of source none (no value) is stored and read back as such."""
    none = GamePrior()
    assert await archive.fix_prior(G, none) == none
    assert await archive.fix_prior(G, RATINGS) == none
    assert await archive.prior(G) == none


async def test_a_fixed_prior_survives_reopening(
    archive: Archive, reopen: Callable[[], Archive]
) -> None:
    """Another archive on the same database (a restarted process) reads the same prior."""
    await archive.fix_prior(G, RATINGS)
    async with reopen() as again:
        assert await again.prior(G) == RATINGS
        assert await again.fix_prior(G, GamePrior(home=0.3, source="odds")) == RATINGS


async def test_processes_fixing_one_game_together_agree(
    archive: Archive, reopen: Callable[[], Archive]
) -> None:
    """Archives fixing different priors for one game at once all get the same one back."""
    others = [reopen() for _ in range(3)]
    got: list[GamePrior] = []

    async def fix(target: Archive, home: float) -> None:
        got.append(await target.fix_prior(G, GamePrior(home=home, source="ratings")))

    try:
        for other in others:
            await other.__aenter__()
        async with anyio.create_task_group() as tg:
            tg.start_soon(fix, archive, 0.51)
            for i, other in enumerate(others):
                tg.start_soon(fix, other, 0.52 + i / 100)
    finally:
        for other in others:
            await other.aclose()
    assert len(got) == 4
    assert len(set(got)) == 1
    assert await archive.prior(G) == got[0]


@pytest.mark.parametrize(
    ("prior", "error"),
    [
        (0.55, TypeError),
        (None, TypeError),
        (GamePrior(home=None, source="ratings"), ValueError),
        (GamePrior(home=1.0, source="odds"), ValueError),
        (GamePrior(home=float("nan"), source="odds"), ValueError),
        (GamePrior(home=0.5, source="none"), ValueError),
        (GamePrior(home=0.5, source="guess"), ValueError),  # type: ignore[arg-type]
    ],
)
async def test_bad_priors_are_refused_and_nothing_is_stored(
    archive: Archive, prior: Any, error: type[Exception]
) -> None:
    """Anything but a valid GamePrior raises before a row is written."""
    with pytest.raises(error):
        await archive.fix_prior(G, prior)
    assert await archive.prior(G) is None
    with pytest.raises(ValueError, match="game_id"):
        await archive.fix_prior("", RATINGS)
