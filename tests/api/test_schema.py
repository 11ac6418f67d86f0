"""schemathesis against /openapi.json of a real server on loopback: no 5xx, no answer
outside the schema (bounded: a few examples per operation, well under a minute)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import uvicorn
from hypothesis import HealthCheck, given, settings
from prometheus_client import CollectorRegistry

from pressbox.api.app import Roles, create_app
from pressbox.api.settings import ApiSettings, TierSpec
from tests.api.helpers import SETTINGS

schemathesis = pytest.importorskip("schemathesis", reason="schemathesis is not installed")
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.specs.openapi.checks import (  # noqa: E402
    content_type_conformance,
    response_schema_conformance,
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def api_schema() -> Iterator[Any]:
    """A real server replaying the bundled games; its OpenAPI schema."""
    port = _free_port()
    app = create_app(
        SETTINGS,
        roles=Roles(api=True, ingest=True, process=True, speed=0),
        api_settings=ApiSettings(
            keys_url="memory://", booth=TierSpec(rate=1e6, burst=10**6), max_lag_s=10.0
        ),
        registry=CollectorRegistry(),
    )
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                if httpx.get(f"{base}/v1/games", timeout=1).json().get("available"):
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        yield schemathesis.openapi.from_url(f"{base}/openapi.json")
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def test_api_conforms_to_its_schema(api_schema: Any) -> None:
    """Generated requests for every operation get no 5xx and answers that fit the schema."""
    checks = [not_a_server_error, response_schema_conformance, content_type_conformance]
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 11

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=25,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def conforms(case: Any) -> None:
            case.call_and_validate(checks=checks)

        conforms()
