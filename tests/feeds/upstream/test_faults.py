"""The fault spec grammar, TOML files, and the seeded per-request decisions."""

from __future__ import annotations

from pathlib import Path

import pytest

from pressbox.feeds.upstream.faults import (
    FAULT_KINDS,
    FaultInjector,
    parse_duration,
    parse_faults,
)

FULL = (
    "latency=200ms:0.1,error500=0.1,error429=0.05,timeout=0.05,reset=0.02,truncate=0.02,"
    "drift=0.02,stall=30s:0.01,dup=0.02,reorder=0.02,correction=0.01"
)


def test_parses_the_full_spec_of_the_issue() -> None:
    """Every item of the documented example is read with its probability and duration."""
    spec = parse_faults(FULL)
    assert spec.probability("error500") == 0.1
    assert spec.duration("latency") == pytest.approx(0.2)
    assert spec.duration("stall") == 30.0
    assert spec.probability("correction") == 0.01
    assert spec.probability("error503") == 0.0
    assert parse_faults(str(spec)) == spec


def test_empty_spec_has_no_faults() -> None:
    """An empty spec is falsy and its injector never fires."""
    spec = parse_faults("")
    assert not spec
    injector = FaultInjector(spec, seed=1)
    assert all(not injector.decide().fired for _ in range(100))


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("error500", "error500"),
        ("boom=0.1", "boom=0.1"),
        ("error500=2", "not between 0 and 1"),
        ("error500=abc", "bad probability"),
        ("latency=fast:0.1", "bad duration"),
        ("reset=1s:0.1", "takes no duration"),
        ("dup=0.1,dup=0.2", "given twice"),
    ],
)
def test_bad_items_raise_value_error_naming_the_item(text: str, needle: str) -> None:
    """A malformed item raises ValueError whose message names it."""
    with pytest.raises(ValueError, match=needle):
        parse_faults(text)


@pytest.mark.parametrize(
    ("text", "seconds"), [("200ms", 0.2), ("30s", 30), ("2m", 120), ("1.5", 1.5)]
)
def test_durations(text: str, seconds: float) -> None:
    """Durations take ms, s, m or bare seconds."""
    assert parse_duration(text) == pytest.approx(seconds)


def test_toml_file(tmp_path: Path) -> None:
    """A TOML file gives the same spec, with numbers, strings and tables."""
    path = tmp_path / "faults.toml"
    path.write_text(
        '[faults]\nerror500 = 0.1\nlatency = "200ms:0.1"\n'
        'stall = {probability = 0.01, duration = "30s"}\n'
    )
    spec = parse_faults(str(path))
    assert spec == parse_faults("error500=0.1,latency=200ms:0.1,stall=30s:0.01")


def test_toml_file_with_a_bad_item(tmp_path: Path) -> None:
    """A bad TOML item is reported like a bad string item."""
    path = tmp_path / "faults.toml"
    path.write_text("error500 = 3\n")
    with pytest.raises(ValueError, match="between 0 and 1"):
        parse_faults(str(path))


def test_same_seed_same_sequence_other_seed_other_sequence() -> None:
    """Decisions are a pure function of seed, spec and request number."""
    spec = parse_faults(FULL)
    first = [FaultInjector(spec, seed=7).decide() for _ in range(1)]
    a = FaultInjector(spec, seed=7)
    b = FaultInjector(spec, seed=7)
    c = FaultInjector(spec, seed=8)
    seq_a = [a.decide() for _ in range(500)]
    seq_b = [b.decide() for _ in range(500)]
    seq_c = [c.decide() for _ in range(500)]
    assert seq_a == seq_b
    assert seq_a != seq_c
    assert seq_a[0] == first[0]


def test_frequencies_follow_the_probabilities() -> None:
    """Over many requests each kind fires about as often as asked (exclusive ones less)."""
    spec = parse_faults("error500=0.2,latency=10ms:0.5,dup=0.1")
    injector = FaultInjector(spec, seed=3)
    for _ in range(5000):
        injector.decide()
    assert 0.17 < injector.counts["error500"] / 5000 < 0.23
    assert 0.46 < injector.counts["latency"] / 5000 < 0.54
    assert 0.08 < injector.counts["dup"] / 5000 < 0.12
    assert set(injector.counts) == set(FAULT_KINDS)


def test_one_transport_fault_at_most() -> None:
    """When several connection faults fire together only the first in priority applies."""
    spec = parse_faults("reset=1,timeout=1,error500=1,truncate=1")
    decision = FaultInjector(spec, seed=0).decide()
    assert decision.reset
    assert (decision.hang, decision.status, decision.truncate) == (None, None, None)
