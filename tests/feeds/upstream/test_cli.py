"""``pressbox upstream`` on the command line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import typer
from typer.testing import CliRunner

from pressbox.cli import _register, app
from tests.conftest import SAMPLE_RETROSHEET


@pytest.fixture(scope="module")
def cli() -> typer.Typer:
    _register()
    return app


@pytest.mark.parametrize(
    ("spec", "reason"),
    [("error500=7", "between 0 and 1"), ("nope=0.1", "unknown fault kind"), ("dup", "dup")],
)
def test_bad_fault_spec_exits_non_zero_with_the_reason(
    cli: typer.Typer, spec: str, reason: str
) -> None:
    """A bad --faults stops the command before serving, with the reason on stderr."""
    result = CliRunner().invoke(cli, ["upstream", "--port", "0", "--faults", spec])
    assert result.exit_code == 2
    assert reason in result.output


def test_missing_data_path_exits_non_zero(cli: typer.Typer, tmp_path: Path) -> None:
    """A data path that does not exist is refused."""
    result = CliRunner().invoke(cli, ["upstream", "--data", str(tmp_path / "nothing")])
    assert result.exit_code == 2
    assert "no such data path" in result.output


def test_serves_and_prints_the_base_url() -> None:
    """The command prints its base URL on stdout and answers on it."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "pressbox", "upstream", "--port", "0", "--speed", "0",
         "--data", str(SAMPLE_RETROSHEET / "2015"), str(SAMPLE_RETROSHEET / "2016"),
         "--faults", "error500=0.5", "--seed", "3"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        health = httpx.get(f"{url}/pressbox/health", timeout=5).json()
        assert (health["ok"], health["games"], health["seed"]) == (True, 7, 3)
        assert health["faults"] == "error500=0.5"
        codes = [httpx.get(f"{url}/api/v1/schedule", timeout=5).status_code for _ in range(20)]
        assert set(codes) == {200, 500}
    finally:
        proc.terminate()
        proc.communicate(timeout=10)
