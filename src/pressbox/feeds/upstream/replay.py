"""The replay clock of the simulated upstream: which events of each game are published.

Every game has a timeline in *game seconds*: it starts ``offset`` seconds after the replay
starts (the difference between its first pitch and the earliest first pitch of the replay
day) and then publishes its events one by one after their real gaps
(:func:`pressbox.feeds.retrosheet.play_gaps`). The replay runs ``speed`` game seconds per
real second from the moment it is created; ``speed = 0`` publishes everything at once.
Games of earlier days are already final, games of later days are not started.

Time comes from an injected :class:`~pressbox.types.Clock`, so tests move a manual clock
instead of sleeping. A stall (the ``stall`` fault) freezes one game at its current event
for a while; when it ends the game catches up with its timeline, as a real feed does.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from pressbox.types import Clock


@dataclass(frozen=True, slots=True)
class Timeline:
    """When each event of one game is published.

    Attributes:
        offset: Game seconds after the replay start at which the first event is published
            (``-inf`` for a game that is already over, ``inf`` for one that never starts).
        times: Game seconds after the game's own start of each event; non-decreasing,
            ``times[0] == 0``.
    """

    offset: float
    times: tuple[float, ...]

    @classmethod
    def from_gaps(cls, offset: float, gaps: Sequence[float]) -> Timeline:
        """A timeline from the gap before each event (the first gap is ignored)."""
        times, total = [], 0.0
        for i, gap in enumerate(gaps):
            total += gap if i else 0.0
            times.append(total)
        return cls(offset, tuple(times))

    def published(self, elapsed: float) -> int:
        """How many events are out ``elapsed`` game seconds after the replay start."""
        if self.offset == math.inf:
            return 0
        if elapsed == math.inf or self.offset == -math.inf:
            return len(self.times)
        return bisect.bisect_right(self.times, elapsed - self.offset)

    def publish_time(self, n: int) -> float:
        """Game seconds after the replay start at which ``n`` events were out (n >= 1)."""
        if self.offset == -math.inf:
            return -math.inf
        return self.offset + self.times[min(max(n, 1), len(self.times)) - 1]


class Replay:
    """The replay clock shared by every route.

    Args:
        clock: Where time comes from (monotonic seconds and wall-clock seconds).
        speed: Game seconds per real second (``1.0`` real time, ``60`` a minute per
            second); ``0`` publishes every event at once.
        timelines: Game key → its timeline.

    Raises:
        ValueError: ``speed`` is negative.
    """

    def __init__(
        self, clock: Clock, speed: float, timelines: Iterable[tuple[str, Timeline]] = ()
    ) -> None:
        if speed < 0 or math.isnan(speed):
            raise ValueError(f"speed must be 0 (all at once) or positive, not {speed}")
        self.clock = clock
        self.speed = speed
        self.timelines: dict[str, Timeline] = dict(timelines)
        self._t0 = clock.monotonic()
        self._epoch0 = clock.time()
        self._stalls: dict[str, tuple[float, int]] = {}

    def elapsed(self) -> float:
        """Game seconds since the replay started (``inf`` at speed 0)."""
        if self.speed == 0:
            return math.inf
        return (self.clock.monotonic() - self._t0) * self.speed

    def published(self, key: str) -> int:
        """How many events of the game are out now (0: not started).

        Raises:
            KeyError: No game has this key.
        """
        timeline = self.timelines[key]
        n = timeline.published(self.elapsed())
        stall = self._stalls.get(key)
        if stall is not None:
            until, frozen = stall
            if self.clock.monotonic() < until:
                return min(n, frozen)
            del self._stalls[key]
        return n

    def next_change(self, key: str, after: int | None = None) -> float:
        """Real seconds until the game's next event is published.

        Args:
            key: The game.
            after: How many events the caller has seen: the answer is for the one after
                them (``0`` when it is out already). By default the one after those out
                now. A caller that has seen fewer than are out must say so: between its
                own look and this one the replay may have published another, and the
                answer would then be for the event after that one.

        Returns:
            ``0`` when it is due now, ``inf`` when none is coming (the game is over, or
            not started today, or everything is out at speed 0). A stall counts: the
            answer is then the end of the stall at the earliest. A held or manual clock
            makes the answer an estimate; callers look again.

        Raises:
            KeyError: No game has this key.
        """
        timeline = self.timelines[key]
        out = self.published(key)
        n = out if after is None else after
        if n < out:
            return 0.0
        if self.speed == 0 or n >= len(timeline.times) or timeline.offset == math.inf:
            return math.inf
        due = (timeline.publish_time(n + 1) - self.elapsed()) / self.speed
        stall = self._stalls.get(key)
        if stall is not None:
            due = max(due, stall[0] - self.clock.monotonic())
        return max(due, 0.0)

    def stall(self, key: str, seconds: float) -> None:
        """Freeze the game at its current event for ``seconds`` (real, monotonic)."""
        if key in self._stalls and self.clock.monotonic() < self._stalls[key][0]:
            return
        self._stalls[key] = (self.clock.monotonic() + seconds, self.published(key))

    def stalled(self, key: str) -> bool:
        """The game is frozen by a stall now."""
        stall = self._stalls.get(key)
        return stall is not None and self.clock.monotonic() < stall[0]

    def wall_time(self, key: str, n: int) -> float:
        """Wall-clock seconds (Unix) when the game's ``n``-th event came out.

        Events out before the replay started (earlier days, speed 0) date from its start.
        """
        game_seconds = self.timelines[key].publish_time(n) if n > 0 else 0.0
        if self.speed == 0 or game_seconds <= 0:
            return self._epoch0
        return self._epoch0 + game_seconds / self.speed
