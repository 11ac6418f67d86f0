"""``pressbox archive games`` and ``pressbox archive export``, on a real SQLite archive."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from pressbox.cli.archive import register
from pressbox.engine.events import decode_event, decode_update
from pressbox.store import from_url
from tests.conftest import ROOT
from tests.store.conftest import MODEL, event, update

G = "NYA201504060"


def _app() -> typer.Typer:
    app = typer.Typer()
    group = typer.Typer()
    app.add_typer(group, name="archive")
    register(app, {"archive": group})
    return app


@pytest.fixture
def archive_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A SQLite archive with one final game (4 events, 3 updates), named by the env var."""
    url = f"sqlite:///{tmp_path / 'archive.db'}"

    async def fill() -> None:
        async with from_url(url) as archive:
            await archive.put_events(
                [
                    event(G, 1, kind="game_start"),
                    event(G, 2, home=1),
                    event(G, 3, home=1, away=2),
                    event(G, 4, kind="game_end", home=3, away=2),
                ]
            )
            await archive.put_updates([update(G, s, wpa=0.1 * s) for s in (1, 2, 3)])

    asyncio.run(fill())
    monkeypatch.setenv("PRESSBOX_ARCHIVE_URL", url)
    return url


def test_games_lists_the_archived_games(archive_url: str) -> None:
    """games prints a header and one line per game with teams, score and status."""
    result = CliRunner().invoke(_app(), ["archive", "games"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert len(lines) == 2
    assert lines[1].split() == [G, "mlb", "2015-04-06", "BOS@NYA", "2-3", "final", "4"]


def test_games_as_json_lines(archive_url: str) -> None:
    """games --json writes one JSON object per game."""
    result = CliRunner().invoke(_app(), ["archive", "games", "--json"])
    assert result.exit_code == 0, result.output
    (line,) = result.stdout.splitlines()
    assert json.loads(line) == {
        "game_id": G,
        "sport": "mlb",
        "status": "final",
        "date": "2015-04-06",
        "home": "NYA",
        "away": "BOS",
        "home_score": 3,
        "away_score": 2,
        "last_seq": 4,
    }


def test_export_writes_events_then_updates(archive_url: str) -> None:
    """export writes every event in seq order, then every update, as JSON lines."""
    result = CliRunner().invoke(_app(), ["archive", "export", G])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert len(lines) == 7
    events = [decode_event(line) for line in lines[:4]]
    assert [e.seq for e in events] == [1, 2, 3, 4]
    updates = [decode_update(line) for line in lines[4:]]
    assert updates == [update(G, s, wpa=0.1 * s) for s in (1, 2, 3)]


@pytest.mark.parametrize(
    ("flags", "count"),
    [(["--no-updates"], 4), (["--no-events"], 3), (["--no-events", "--model", "other"], 0)],
)
def test_export_flags_choose_what_is_written(
    archive_url: str, flags: list[str], count: int
) -> None:
    """--no-events, --no-updates and --model narrow the export."""
    result = CliRunner().invoke(_app(), ["archive", "export", G, *flags])
    assert result.exit_code == 0, result.output
    assert len(result.stdout.splitlines()) == count


def test_export_of_an_unknown_game_fails_clearly(archive_url: str) -> None:
    """An unknown game exits 1 with the game's id on stderr and nothing on stdout."""
    result = CliRunner().invoke(_app(), ["archive", "export", "NOPE"])
    assert result.exit_code == 1
    assert result.stdout == ""
    assert "unknown game 'NOPE'" in result.stderr


def test_unreadable_archive_fails_clearly(tmp_path: Path) -> None:
    """An archive that cannot be opened exits 1 and says which one."""
    url = f"sqlite:///{tmp_path / 'missing' / 'x.db'}"
    result = CliRunner().invoke(_app(), ["archive", "games", "--archive", url])
    assert result.exit_code == 1
    assert "cannot read" in result.stderr
    assert "missing" in result.stderr


def test_unsupported_archive_url_fails_clearly() -> None:
    """An unsupported URL scheme exits 1 naming the supported ones."""
    result = CliRunner().invoke(_app(), ["archive", "games", "--archive", "mysql://db/x"])
    assert result.exit_code == 1
    assert "postgresql://" in result.stderr


def test_the_pressbox_command_has_the_archive_commands(archive_url: str) -> None:
    """`pressbox archive export` runs from the installed command line."""
    proc = subprocess.run(
        [sys.executable, "-m", "pressbox", "archive", "export", G, "--no-events", "--model", MODEL],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert len(proc.stdout.splitlines()) == 3


@pytest.fixture
def real_archive_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A SQLite archive holding the events of a real game (World Series 2016, game 7)."""
    from pressbox.feeds.retrosheet import iter_games
    from tests.conftest import SAMPLE_RETROSHEET

    url = f"sqlite:///{tmp_path / 'real.db'}"
    game = next(iter(iter_games([SAMPLE_RETROSHEET / "2016" / "post" / "2016WS_.EVE"])))

    async def fill() -> None:
        async with from_url(url) as archive:
            await archive.put_events(list(game.events))

    asyncio.run(fill())
    monkeypatch.setenv("PRESSBOX_ARCHIVE_URL", url)
    return url


def test_replay_stores_a_models_updates_beside_the_others(real_archive_url: str) -> None:
    """Re-running a game through two models keeps both sets of updates, once each."""
    from pressbox.engine.models.mlb import default_parameters

    shipped = CliRunner().invoke(_app(), ["archive", "replay", "CLE201611020"])
    assert shipped.exit_code == 0, shipped.output
    assert "96 new updates" in shipped.output
    again = CliRunner().invoke(_app(), ["archive", "replay", "CLE201611020"])
    assert " 0 new updates" in again.output

    async def models() -> dict[str, int]:
        async with from_url(real_archive_url) as archive:
            return {
                m: len(await archive.updates("CLE201611020", m))
                for m in await archive.models("CLE201611020")
            }

    counts = asyncio.run(models())
    assert len(counts) == 1
    ((label, n),) = counts.items()
    assert label.startswith("mlb")
    assert n == 96
    assert default_parameters()


def test_replay_with_a_model_file_and_bad_inputs(real_archive_url: str, tmp_path: Path) -> None:
    """A named model file is used; a missing file or an unknown game fails clearly."""
    import pressbox.engine.models.mlb as mlb

    other = Path(mlb.__file__).parent / "data" / "mlb-2015.json"
    CliRunner().invoke(_app(), ["archive", "replay", "CLE201611020"])
    result = CliRunner().invoke(
        _app(), ["archive", "replay", "CLE201611020", "--model", str(other)]
    )
    assert result.exit_code == 0, result.output
    assert "96 new updates of mlb-markov/2015;" in result.output
    assert "models now: mlb-markov/2015, mlb-markov/2015-2016" in result.output
    missing = CliRunner().invoke(
        _app(), ["archive", "replay", "CLE201611020", "--model", str(tmp_path / "none.json")]
    )
    assert missing.exit_code == 1
    assert "cannot load model" in missing.output
    unknown = CliRunner().invoke(_app(), ["archive", "replay", "NOPE"])
    assert unknown.exit_code == 1
    assert "unknown game" in unknown.output


def test_replay_starts_from_the_games_stored_prior(real_archive_url: str) -> None:
    """A game archived with a pregame prior is re-run from that prior, as it ran live."""
    from pressbox.engine.events import GamePrior

    async def fix() -> None:
        async with from_url(real_archive_url) as archive:
            await archive.fix_prior("CLE201611020", GamePrior(home=0.7, source="odds"))

    asyncio.run(fix())
    result = CliRunner().invoke(_app(), ["archive", "replay", "CLE201611020"])
    assert result.exit_code == 0, result.output

    async def first() -> tuple[float | None, GamePrior | None]:
        async with from_url(real_archive_url) as archive:
            update = (await archive.updates("CLE201611020"))[0]
            return (update.wp.home if update.wp else None), update.prior

    home, prior = asyncio.run(first())
    assert prior == GamePrior(home=0.7, source="odds")
    assert home == pytest.approx(0.7, abs=1e-6)
