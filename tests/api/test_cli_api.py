"""``pressbox serve``, ``api`` and ``gateway``: the app and the roles they hand to uvicorn."""

from __future__ import annotations

import socket
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from pressbox.api.runtime import Runtime
from pressbox.cli import _register, app
from pressbox.cli import api as cli_api

runner = CliRunner()


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Calls to uvicorn (``run_server``, or ``uvicorn.run`` for several workers), recorded
    instead of serving."""
    calls: list[dict[str, Any]] = []

    def fake_run(target: Any, **kwargs: Any) -> None:
        calls.append({"target": target, **kwargs})

    monkeypatch.setattr("uvicorn.run", fake_run)
    monkeypatch.setattr(cli_api, "run_server", fake_run)
    _register()
    return calls


def _roles(call: dict[str, Any]) -> Any:
    return call["target"].__closure__[0].cell_contents.state.roles


def _runtime(call: dict[str, Any]) -> Runtime:
    # expose_transport wraps the app: its closure holds the FastAPI app.
    inner = call["target"].__closure__[0].cell_contents
    rt: Runtime = inner.state.runtime
    return rt


def test_serve_runs_every_role(served: list[dict[str, Any]]) -> None:
    """serve --demo: every role, public mode, a longer lag allowance, the dashboard URL."""
    result = runner.invoke(
        app,
        ["serve", "--demo", "--port", "8123", "--speed", "0"],
        env={"PRESSBOX_ARCHIVE_URL": "sqlite://"},
    )
    assert result.exit_code == 0, result.output
    assert "dashboard: http://127.0.0.1:8123/" in result.stderr
    (call,) = served
    assert call["port"] == 8123
    rt = _runtime(call)
    assert rt.api.public
    assert rt.api.max_lag_s == cli_api.SERVE_MAX_LAG_S
    assert "upstream: http://127.0.0.1:" in result.stderr
    roles = _roles(call)
    assert roles.upstream_url.startswith("http://127.0.0.1:")
    assert roles.poll_interval == 1.0


def test_serve_direct_replays_files(served: list[dict[str, Any]]) -> None:
    """serve --demo --direct replays the files straight into the log, no upstream."""
    result = runner.invoke(
        app,
        ["serve", "--demo", "--direct", "--port", "8126", "--speed", "0"],
        env={"PRESSBOX_ARCHIVE_URL": "sqlite://"},
    )
    assert result.exit_code == 0, result.output
    roles = _roles(served[-1])
    assert roles.upstream_url is None
    assert roles.ingest


def test_gateway_and_api(served: list[dict[str, Any]]) -> None:
    """gateway and api print their URLs and hand uvicorn an app."""
    env = {"PRESSBOX_ARCHIVE_URL": "sqlite://", "PRESSBOX_API_MAX_LAG_S": "0.5"}
    gateway = runner.invoke(app, ["gateway", "--port", "8124"], env=env)
    api = runner.invoke(app, ["api", "--port", "8125"], env=env)
    assert gateway.exit_code == 0
    assert api.exit_code == 0
    assert "gateway: http://127.0.0.1:8124/" in gateway.stderr
    assert "api: http://127.0.0.1:8125/" in api.stderr
    assert [c["port"] for c in served] == [8124, 8125]
    assert _runtime(served[1]).api.max_lag_s == 0.5


def test_api_workers_need_redis(served: list[dict[str, Any]]) -> None:
    """Several API workers without a shared Redis are refused (limits would not be shared)."""
    result = runner.invoke(app, ["api", "--workers", "2"], env={"PRESSBOX_CACHE_URL": "memory://"})
    assert result.exit_code == 2
    assert "redis" in result.stderr
    assert served == []


def test_api_workers_with_redis(served: list[dict[str, Any]]) -> None:
    """With Redis, several workers run from the app factory."""
    result = runner.invoke(
        app, ["api", "--workers", "3"], env={"PRESSBOX_CACHE_URL": "redis://127.0.0.1:1/0"}
    )
    assert result.exit_code == 0
    (call,) = served
    assert call["target"] == "pressbox.cli.api:api_app"
    assert call["factory"] is True
    assert call["workers"] == 3


def test_servers_run_httptools_uvloop_and_sansio(served: list[dict[str, Any]]) -> None:
    """By default every command runs httptools, uvloop and the sans-I/O WebSocket."""
    env = {"PRESSBOX_ARCHIVE_URL": "sqlite://", "PRESSBOX_CACHE_URL": "redis://127.0.0.1:1/0"}
    commands = (
        ["api", "--port", "8127"],
        ["api", "--port", "8127", "--workers", "2"],
        ["gateway", "--port", "8127"],
        ["serve", "--direct", "--port", "8127", "--speed", "0"],
    )
    for args in commands:
        result = runner.invoke(app, args, env=env)
        assert result.exit_code == 0, result.output
    assert len(served) == 4
    for call in served:
        assert (call["http"], call["loop"], call["ws"]) == (
            "httptools",
            "uvloop",
            "websockets-sansio",
        )


def test_server_choice_is_configurable(served: list[dict[str, Any]]) -> None:
    """--http h11 --loop asyncio are handed to uvicorn as given."""
    result = runner.invoke(
        app,
        ["api", "--http", "h11", "--loop", "asyncio"],
        env={"PRESSBOX_ARCHIVE_URL": "sqlite://"},
    )
    assert result.exit_code == 0, result.output
    (call,) = served
    assert (call["http"], call["loop"], call["ws"]) == ("h11", "asyncio", "websockets-sansio")


def test_server_auto_falls_back_and_explicit_needs_the_package(
    served: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without httptools/uvloop, auto means h11/asyncio; asking for them by name is an error."""
    real = cli_api.importlib.util.find_spec
    monkeypatch.setattr(
        cli_api.importlib.util,
        "find_spec",
        lambda name, *a: None if name in ("httptools", "uvloop") else real(name, *a),
    )
    assert cli_api.server_options() == {"http": "h11", "loop": "asyncio", "ws": "websockets-sansio"}
    result = runner.invoke(
        app, ["api", "--http", "httptools"], env={"PRESSBOX_ARCHIVE_URL": "sqlite://"}
    )
    assert result.exit_code == 2
    assert "httptools is not installed" in result.stderr
    assert served == []


def test_a_port_that_cannot_be_listened_on_is_a_clear_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The server's address taken: exit 1 with the address and the reason."""
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    try:
        with pytest.raises(typer.Exit) as exited:
            cli_api.run_server(object(), host="127.0.0.1", port=port)
        assert exited.value.exit_code == 1
        err = capsys.readouterr().err
        assert f"cannot listen on 127.0.0.1:{port}" in err
        assert "in use" in err
    finally:
        taken.close()
