"""``pressbox keys create|list|revoke`` against a SQLite key store."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from pressbox.cli import _register, app

runner = CliRunner()


def _env(tmp_path: Path) -> dict[str, str]:
    return {"PRESSBOX_API_KEYS_URL": f"sqlite:///{tmp_path / 'keys.db'}"}


def test_create_list_revoke(tmp_path: Path) -> None:
    """A key is created (token printed once), listed without its token, then revoked."""
    _register()
    env = _env(tmp_path)
    created = runner.invoke(app, ["keys", "create", "--tier", "pro", "--name", "ACME"], env=env)
    assert created.exit_code == 0, created.output
    token = created.stdout.strip()
    assert token.startswith("pbx_")
    key_id = token.split("_")[1]
    listed = runner.invoke(app, ["keys", "list"], env=env)
    assert listed.exit_code == 0
    assert key_id in listed.stdout
    assert "ACME" in listed.stdout
    assert "pro" in listed.stdout
    assert token not in listed.stdout
    assert listed.stdout.strip().endswith("-")  # not revoked
    revoked = runner.invoke(app, ["keys", "revoke", key_id], env=env)
    assert revoked.exit_code == 0
    listed = runner.invoke(app, ["keys", "list"], env=env)
    assert not listed.stdout.strip().endswith("-")


def test_revoke_unknown_and_bad_tier(tmp_path: Path) -> None:
    """Revoking an unknown id fails with 1; an unknown tier is a usage error (2)."""
    _register()
    env = _env(tmp_path)
    assert runner.invoke(app, ["keys", "revoke", "000000000000"], env=env).exit_code == 1
    bad = runner.invoke(app, ["keys", "create", "--tier", "gold", "--name", "A"], env=env)
    assert bad.exit_code == 2
    assert "unknown tier" in bad.stderr
