"""The fault spec of the simulated upstream, and the per-request fault decision.

A spec is a comma-separated list of ``kind=[duration:]probability`` items::

    latency=200ms:0.1,error500=0.1,error429=0.05,timeout=0.05,reset=0.02,
    truncate=0.02,drift=0.02,stall=30s:0.01,dup=0.02,reorder=0.02,correction=0.01

or the path of a TOML file with the same items, at the top level or under ``[faults]``;
a value is a probability (``error500 = 0.1``), the same ``"duration:probability"`` string,
or a table ``{probability = 0.1, duration = "200ms"}``. Durations take ``ms``, ``s`` or
``m`` (a bare number is seconds). What each kind does is in ``docs/upstream.md``.

Decisions are drawn from one ``random.Random(seed)``: every request takes the same number
of draws whatever fires, so the n-th request gets the same outcome for a given seed and
spec, and tests can replay a sequence exactly.
"""

from __future__ import annotations

import random
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from pressbox.types import JSON

FAULT_KINDS: Final = (
    "latency",
    "error500",
    "error503",
    "error429",
    "timeout",
    "reset",
    "truncate",
    "drift",
    "stall",
    "dup",
    "reorder",
    "correction",
)
"""Every fault kind, in the order their draws are taken."""

DEFAULT_DURATIONS: Final[Mapping[str, float]] = {
    "latency": 0.2,
    "error429": 1.0,
    "timeout": 300.0,
    "stall": 30.0,
    "correction": 30.0,
}
"""Seconds used when a spec item gives no duration: the added latency, the 429's
``Retry-After``, how long a hanging request hangs, how long a stalled game stays frozen,
how long a corrected play stays changed before it is restored."""

_DURATION_RE: Final = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m)?\s*$")
_UNIT: Final = {"ms": 0.001, "s": 1.0, "m": 60.0, None: 1.0}

# Kinds that take a duration without having a default: a 503 sends ``Retry-After`` only
# when the spec gives one (``error503=5s:0.1``), as some servers do and others do not.
_OPTIONAL_DURATIONS: Final = frozenset({"error503"})

# A transport fault takes over the whole answer; when several fire, the first one here wins.
_EXCLUSIVE: Final = ("reset", "timeout", "error500", "error503", "error429", "truncate")


@dataclass(frozen=True, slots=True)
class Fault:
    """One item of a spec.

    Attributes:
        kind: One of :data:`FAULT_KINDS`.
        probability: Chance per request, 0..1.
        duration: Seconds (see :data:`DEFAULT_DURATIONS`); ``None`` when the kind has none.
    """

    kind: str
    probability: float
    duration: float | None = None


@dataclass(frozen=True, slots=True)
class FaultSpec:
    """A parsed fault spec: at most one :class:`Fault` per kind."""

    faults: tuple[Fault, ...] = ()

    def get(self, kind: str) -> Fault | None:
        """The item of ``kind``, or ``None`` when the spec does not name it."""
        return next((f for f in self.faults if f.kind == kind), None)

    def probability(self, kind: str) -> float:
        """The probability of ``kind`` (0 when absent)."""
        fault = self.get(kind)
        return fault.probability if fault is not None else 0.0

    def duration(self, kind: str) -> float:
        """The duration of ``kind`` in seconds, or its default."""
        fault = self.get(kind)
        if fault is not None and fault.duration is not None:
            return fault.duration
        return DEFAULT_DURATIONS.get(kind, 0.0)

    def __bool__(self) -> bool:
        return any(f.probability > 0 for f in self.faults)

    def __str__(self) -> str:
        items = []
        for f in self.faults:
            prefix = f"{f.duration:g}s:" if f.duration is not None else ""
            items.append(f"{f.kind}={prefix}{f.probability:g}")
        return ",".join(items)


NO_FAULTS: Final = FaultSpec()


def parse_duration(text: str) -> float:
    """Seconds of ``"200ms"``, ``"30s"``, ``"2m"`` or ``"1.5"``.

    Raises:
        ValueError: The text is not a duration.
    """
    match = _DURATION_RE.match(text)
    if match is None:
        raise ValueError(f"bad duration {text!r} (use 200ms, 30s, 2m)")
    return float(match.group(1)) * _UNIT[match.group(2)]


def _probability(text: str, item: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"fault {item!r}: bad probability {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"fault {item!r}: probability {value} is not between 0 and 1")
    return value


def _item(kind: str, value: str, item: str) -> Fault:
    if kind not in FAULT_KINDS:
        raise ValueError(f"unknown fault kind in {item!r} (known: {', '.join(FAULT_KINDS)})")
    duration_text, sep, prob_text = value.rpartition(":")
    duration: float | None = None
    if sep:
        if kind not in DEFAULT_DURATIONS and kind not in _OPTIONAL_DURATIONS:
            raise ValueError(f"fault {item!r}: {kind} takes no duration")
        try:
            duration = parse_duration(duration_text)
        except ValueError as exc:
            raise ValueError(f"fault {item!r}: {exc}") from None
    return Fault(kind, _probability(prob_text.strip(), item), duration)


def _build(items: list[Fault]) -> FaultSpec:
    seen: set[str] = set()
    for f in items:
        if f.kind in seen:
            raise ValueError(f"fault {f.kind!r} is given twice")
        seen.add(f.kind)
    return FaultSpec(tuple(sorted(items, key=lambda f: FAULT_KINDS.index(f.kind))))


def parse_faults(spec: str) -> FaultSpec:
    """Parse a spec string, or read a TOML file when ``spec`` names one.

    Args:
        spec: ``"kind=[duration:]probability,..."``, ``""`` for none, or a ``.toml`` path.

    Returns:
        The frozen spec.

    Raises:
        ValueError: An item is malformed; the message names it.
    """
    text = spec.strip()
    if text.lower().endswith(".toml"):
        return load_faults_toml(Path(text))
    items: list[Fault] = []
    for raw in text.split(","):
        item = raw.strip()
        if not item:
            continue
        kind, sep, value = item.partition("=")
        if not sep or not value.strip():
            raise ValueError(f"fault {item!r} is not kind=probability")
        items.append(_item(kind.strip(), value.strip(), item))
    return _build(items)


def load_faults_toml(path: Path) -> FaultSpec:
    """Read a fault spec from a TOML file (see the module docstring for the format).

    Raises:
        ValueError: The file cannot be read, is not TOML, or holds a bad item.
    """
    try:
        data = tomllib.loads(path.read_text())
    except OSError as exc:
        raise ValueError(f"cannot read fault file {path.name}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"fault file {path.name} is not TOML: {exc}") from exc
    table: JSON = data.get("faults", data)
    if not isinstance(table, dict):
        raise ValueError(f"fault file {path.name}: [faults] is not a table")  # noqa: TRY004 - a bad spec is a ValueError, as documented
    items: list[Fault] = []
    for kind, value in table.items():
        item = f"{kind} = {value!r}"
        if isinstance(value, bool):
            raise ValueError(f"fault {item!r}: bad probability {value!r}")  # noqa: TRY004 - as above
        if isinstance(value, int | float):
            items.append(_item(kind, str(value), item))
        elif isinstance(value, str):
            items.append(_item(kind, value, item))
        elif isinstance(value, dict):
            prob = value.get("probability")
            if prob is None or isinstance(prob, bool):
                raise ValueError(f"fault {item!r}: no probability")
            duration = value.get("duration")
            text = f"{duration}:{prob}" if duration is not None else str(prob)
            items.append(_item(kind, text, item))
        else:
            raise ValueError(f"fault {item!r}: not a probability, string or table")  # noqa: TRY004 - as above
    return _build(items)


@dataclass(frozen=True, slots=True)
class Decision:
    """What the faults do to one request (all empty: serve it normally).

    Attributes:
        latency: Seconds to wait before answering (0 for none).
        reset: Close the connection without an answer.
        hang: Seconds to hang without answering (``None``: do not hang).
        status: 500, 503 or 429 instead of the answer (``None``: no error).
        retry_after: ``Retry-After`` seconds of a 429.
        truncate: Keep this fraction of the body (``None``: whole body).
        drift: A variant number for a schema drift (``None``: no drift).
        stall: Freeze the game for this many seconds (``None``: no stall).
        dup: A variant number for a duplicated play (``None``: none).
        reorder: A variant number for two swapped plays (``None``: none).
        correction: A variant number for the correction of an earlier play.
    """

    latency: float = 0.0
    reset: bool = False
    hang: float | None = None
    status: int | None = None
    retry_after: float = 0.0
    truncate: float | None = None
    drift: int | None = None
    stall: float | None = None
    dup: int | None = None
    reorder: int | None = None
    correction: int | None = None
    fired: tuple[str, ...] = field(default=())

    @property
    def transport(self) -> bool:
        """A fault that replaces the answer itself (reset, hang, error status)."""
        return self.reset or self.hang is not None or self.status is not None


CLEAN: Final = Decision()


class FaultInjector:
    """Draws one :class:`Decision` per request from a seeded generator.

    Args:
        spec: The faults and their probabilities.
        seed: The generator's seed; the same seed and spec give the same sequence.
    """

    def __init__(self, spec: FaultSpec, seed: int = 0) -> None:
        self.spec = spec
        self.seed = seed
        self._random = random.Random(seed)
        self.counts: dict[str, int] = dict.fromkeys(FAULT_KINDS, 0)
        self.requests = 0

    def decide(self) -> Decision:
        """Draw the faults of the next request."""
        self.requests += 1
        rnd = self._random
        # Two draws per kind, always: whether it fires and a variant number.
        draws = {kind: (rnd.random(), rnd.randrange(1 << 30)) for kind in FAULT_KINDS}
        if not self.spec:
            return CLEAN
        fired = [k for k in FAULT_KINDS if draws[k][0] < self.spec.probability(k)]
        if not fired:
            return CLEAN
        exclusive = next((k for k in _EXCLUSIVE if k in fired), None)
        fired = [k for k in fired if k not in _EXCLUSIVE or k == exclusive]
        for kind in fired:
            self.counts[kind] += 1
        status = {"error500": 500, "error503": 503, "error429": 429}.get(exclusive or "")
        return Decision(
            latency=self.spec.duration("latency") if "latency" in fired else 0.0,
            reset=exclusive == "reset",
            hang=self.spec.duration("timeout") if exclusive == "timeout" else None,
            status=status,
            retry_after=self.spec.duration("error429")
            if status == 429
            else self.spec.duration("error503")
            if status == 503
            else 0.0,
            truncate=0.2 + 0.6 * (draws["truncate"][1] % 1000) / 1000
            if exclusive == "truncate"
            else None,
            drift=draws["drift"][1] if "drift" in fired else None,
            stall=self.spec.duration("stall") if "stall" in fired else None,
            dup=draws["dup"][1] if "dup" in fired else None,
            reorder=draws["reorder"][1] if "reorder" in fired else None,
            correction=draws["correction"][1] if "correction" in fired else None,
            fired=tuple(fired),
        )
