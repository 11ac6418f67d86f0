"""Shared fixtures: anyio on asyncio, a clean environment, service URLs, data paths."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_RETROSHEET = ROOT / "data" / "retrosheet"
SHARED_DATA = Path(os.environ.get("PRESSBOX_SHARED_DATA", ROOT.parent / "shared" / "data"))
IN_CI = bool(os.environ.get("CI") or os.environ.get("PRESSBOX_CI"))


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(autouse=True)
def reset_logging() -> Iterator[None]:
    """A command that configured structlog in one test does not leak into the next."""
    yield
    structlog.reset_defaults()


@pytest.fixture(autouse=True)
def clean_environ() -> Iterator[None]:
    """Tests cannot leak PRESSBOX_* settings into each other."""
    saved = dict(os.environ)
    for key in list(os.environ):
        if key.startswith("PRESSBOX_") and not key.startswith(("PRESSBOX_TEST_", "PRESSBOX_CI")):
            del os.environ[key]
    yield
    os.environ.clear()
    os.environ.update(saved)


def service_url(name: str) -> str:
    """The URL of a real service for tests, or skip with the reason (fail in CI).

    Args:
        name: ``"REDIS"`` or ``"POSTGRES"``; read from ``PRESSBOX_TEST_<name>_URL``.
    """
    url = os.environ.get(f"PRESSBOX_TEST_{name}_URL")
    if url:
        return url
    if IN_CI:
        pytest.fail(f"PRESSBOX_TEST_{name}_URL is not set in CI; .ci/run sets it")
    pytest.skip(f"no {name.lower()} server: set PRESSBOX_TEST_{name}_URL to run this test")


def shared_data(*parts: str) -> Path:
    """A path under the shared real-data folder, or skip when it is absent (fail in CI)."""
    path = SHARED_DATA.joinpath(*parts)
    if path.exists():
        return path
    if IN_CI:
        pytest.fail(f"shared data {path} is missing in CI")
    pytest.skip(f"shared data {path} is not on this machine (set PRESSBOX_SHARED_DATA)")
