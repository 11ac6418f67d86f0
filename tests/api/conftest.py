"""Fixtures of the API tests: an open service on in-memory backends."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from pressbox.service import Service
from tests.api.helpers import SETTINGS


@pytest.fixture
async def service() -> AsyncIterator[Service]:
    """An open service: in-memory log, in-memory SQLite archive, no games."""
    async with Service(SETTINGS) as svc:
        yield svc
