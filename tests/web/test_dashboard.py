"""The booth dashboard end to end: headless Chromium against a real ``pressbox serve``.

The server replays the bundled real MLB games at speed in a subprocess with its own SQLite
archive; the page is driven by Playwright with Debian's Chromium. Every request whose host
is not loopback is recorded and refused, and each test asserts there was none.
Screenshots go to ``artifacts/``.

Prerequisites (installed by the test set-up): the ``playwright`` package, Debian's
``chromium``, and the vendored chart library (``npm ci`` then the copy into
``src/pressbox/web/vendor/``). ``PRESSBOX_TEST_CHROMIUM`` names the browser to use and makes
every prerequisite mandatory (a missing one fails); without it, the tests run when all are
present and skip with the reason otherwise.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from pressbox.web import vendor_missing

pytestmark = pytest.mark.browser

REQUIRED = os.environ.get("PRESSBOX_TEST_CHROMIUM")
REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "artifacts"
CHROMIUM = Path(REQUIRED or "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SPEED = "300"
"""Replay speed-up: a nine-inning game takes about half a minute."""
GAME = "WAS201604240"
"""MIN at WAS, a walk-off in the 16th: the longest bundled game, still live mid-test."""
LOOPBACK = {"127.0.0.1", "localhost", "[::1]", "::1"}
WAIT_MS = 30_000


def _missing(reason: str) -> None:
    if REQUIRED:
        pytest.fail(f"{reason} (the test set-up installs it)")
    pytest.skip(reason)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Server:
    """One ``pressbox serve --demo`` subprocess that can be killed and started again.

    Args:
        workdir: Its folder (archive, logs).
        direct: Replay the files straight into the log (``--direct``); otherwise poll the
            simulated Stats API the command serves in-process, the path live data takes.
        paths: Retrosheet files or folders to serve (default: the bundled games).
    """

    def __init__(self, workdir: Path, *, direct: bool = True, paths: tuple[Path, ...] = ()) -> None:
        self.workdir = workdir
        self.direct = direct
        self.paths = paths
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.archive_url = f"sqlite:///{workdir / 'archive.db'}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PRESSBOX_")}
        env |= {
            "PRESSBOX_ARCHIVE_URL": self.archive_url,
            "PRESSBOX_LOG_URL": "memory://",
            "PRESSBOX_CACHE_URL": "memory://",
        }
        self.starts += 1
        log = (self.workdir / f"serve-{self.starts}.log").open("wb")
        command = [sys.executable, "-m", "pressbox", "serve", "--demo"]
        command.append("--direct" if self.direct else "--via-upstream")
        command += [str(path) for path in self.paths]
        self.proc = subprocess.Popen(
            [*command, "--port", str(self.port), "--speed", SPEED],
            cwd=self.workdir,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"pressbox serve exited:\n{self.log()}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        pytest.fail(f"pressbox serve did not answer within 30 s:\n{self.log()}")

    def kill(self) -> None:
        """SIGKILL: no shutdown, no goodbye to the open streams."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()

    def log(self) -> str:
        return "\n".join(
            p.read_text(errors="replace")[-3000:] for p in sorted(self.workdir.glob("serve-*.log"))
        )

    def archived_plays(self, game_id: str) -> dict[int, str]:
        """The game's updates as the archive holds them: seq -> text."""

        async def read() -> dict[int, str]:
            from pressbox.store import from_url

            async with from_url(self.archive_url) as archive:
                return {u.seq: u.text for u in await archive.updates(game_id)}

        # Playwright's sync API owns this thread's event loop.
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            return pool.submit(asyncio.run, read()).result(timeout=30)


@pytest.fixture(scope="module")
def playwright_api() -> Iterator[Any]:
    """Playwright driving Debian's Chromium (never a downloaded browser)."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("the playwright package is not installed")
    if not CHROMIUM.exists():
        _missing(f"{CHROMIUM} is missing (apt-get install chromium)")
    if vendor_missing():
        _missing(f"src/pressbox/web/vendor/ lacks {vendor_missing()} (npm ci, then copy)")
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A real ``pressbox serve --demo`` replaying the bundled games at speed."""
    srv = Server(tmp_path_factory.mktemp("serve"))
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def browser(playwright_api: Any) -> Iterator[Any]:
    """Headless Chromium."""
    b = playwright_api.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
    yield b
    b.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh page that refuses and records every request off loopback."""
    context = browser.new_context(viewport={"width": 1600, "height": 1000})
    outside: list[str] = []
    page_errors: list[str] = []

    def gate(route: Any) -> None:
        host = urlsplit(route.request.url).hostname or ""
        if route.request.url.startswith(("data:", "blob:")) or host in LOOPBACK:
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    context.route("**/*", gate)
    pg = context.new_page()
    pg.on("pageerror", lambda exc: page_errors.append(str(exc)))
    pg.set_default_timeout(WAIT_MS)
    yield pg
    context.close()
    assert outside == [], f"requests left localhost: {outside}"
    assert page_errors == [], f"uncaught errors on the page: {page_errors}"


def _shot(pg: Any, name: str, *, full_page: bool = False) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    pg.screenshot(path=str(path), full_page=full_page)
    return path


def _no_error_screen(pg: Any) -> None:
    text = pg.inner_text("main")
    for word in ("Traceback", "Internal Server Error", "Unhandled", "undefined", "NaN"):
        assert word not in text, f"{word!r} on the page"


def _plays_on_page(pg: Any) -> list[tuple[int, str, bool]]:
    rows: list[list[Any]] = pg.eval_on_selector_all(
        "#plays li",
        "rows => rows.map(r => [Number(r.dataset.seq), "
        "(r.querySelector('.text') || {}).textContent || '', r.dataset.missing === '1'])",
    )
    return [(int(seq), text, bool(missing)) for seq, text, missing in rows]


def test_grid_scores_and_wp_move_as_plays_arrive(page: Any, server: Server) -> None:
    """Every live game has a card whose seq, score and WP bar follow the replay."""
    page.goto(f"{server.url}/")
    page.wait_for_selector(".card[data-status=live]")
    cards = page.locator(".card[data-status=live]")
    assert cards.count() >= 5
    first = page.eval_on_selector_all(
        ".card", "cs => Object.fromEntries(cs.map(c => [c.dataset.game, Number(c.dataset.seq)]))"
    )
    wp_before = page.eval_on_selector_all(
        ".card .wpbar", "bs => bs.map(b => b.dataset.homeWp).join(',')"
    )
    page.wait_for_function(
        "first => [...document.querySelectorAll('.card')]"
        ".filter(c => Number(c.dataset.seq) >= (first[c.dataset.game] || 0) + 3).length >= 3",
        arg=first,
    )
    page.wait_for_function(
        "before => [...document.querySelectorAll('.card .wpbar')]"
        ".map(b => b.dataset.homeWp).join(',') !== before",
        arg=wp_before,
    )
    # Scores change as runs score somewhere on the night.
    page.wait_for_function(
        "() => [...document.querySelectorAll('.card .score')]"
        ".some(s => Number(s.dataset.score) > 0)"
    )
    card = page.locator(f".card[data-game={GAME}]")
    assert card.locator(".team").first.inner_text().strip().startswith("MIN")
    assert card.locator(".wpbar").get_attribute("role") == "img"
    assert "MIN" in (card.locator(".wpbar").get_attribute("aria-label") or "")
    _no_error_screen(page)
    page.wait_for_timeout(500)
    _shot(page, "dashboard-grid.png")


def test_cards_open_the_game_from_the_keyboard(page: Any, server: Server) -> None:
    """Tab reaches the cards and Enter opens the game view."""
    page.goto(f"{server.url}/")
    page.wait_for_selector(f".card[data-game={GAME}]")
    page.focus(f".card[data-game={GAME}]")
    page.keyboard.press("Enter")
    page.wait_for_selector("#scorebug #home-score")
    assert page.url.endswith(f"#/game/{GAME}")


def test_unavailable_source_shows_a_dash_with_its_reason(page: Any, server: Server) -> None:
    """A game replayed from files has no stats source: the matchup panel shows dashes
    whose title says why."""
    page.goto(f"{server.url}/#/game/{GAME}")
    # A loaded server may shed the first read (that too is a dash with its reason); the
    # page reads again after the next update.
    page.wait_for_function(
        "() => [...document.querySelectorAll('#matchup .dash')]"
        ".some(d => (d.title || '').includes('no stats source'))"
    )
    dash = page.locator("#matchup .dash").first
    assert dash.inner_text() == "\u2014"
    title = dash.get_attribute("title") or ""
    assert title.startswith("matchup data unavailable: replayed from Retrosheet files")
    assert dash.get_attribute("tabindex") == "0"
    _no_error_screen(page)


def test_matchup_fields_dash_one_by_one_and_stale_shows_its_age(page: Any, server: Server) -> None:
    """Each missing field of a matchup is its own dash with its reason; a stale line stays
    with its age."""
    answer = {
        "available": True,
        "game_id": GAME,
        "seq": 12,
        "batter": {
            "id": "547180",
            "name": "Bryce Harper",
            "team": "WAS",
            "season": None,
            "reason": "no plate appearance this season to date",
        },
        "pitcher": {
            "id": "502202",
            "name": None,
            "team": "MIN",
            "season": {"ip": "21.1", "era": "4.64", "so": 11, "bb": 9},
            "stale": True,
            "age_s": 300.0,
            "reason": "statsapi: connection refused",
        },
        "head_to_head": {"pa": 4, "ab": 3, "h": 1, "hr": 0, "bb": 1, "so": 1},
    }
    page.route(f"**/v1/games/{GAME}/matchup", lambda route: route.fulfill(status=200, json=answer))
    page.goto(f"{server.url}/#/game/{GAME}")
    page.wait_for_selector("#matchup dl[data-batter='547180']")
    panel = page.locator("#matchup")
    assert "Bryce Harper" in panel.locator(".batter-name").inner_text()
    assert "WAS" in panel.locator(".batter-name").inner_text()
    batter_dash = panel.locator(".batter-line .dash")
    assert batter_dash.get_attribute("title") == "no plate appearance this season to date"
    assert panel.locator(".pitcher-name .dash").get_attribute("title") == "no pitcher known"
    assert panel.locator(".pitcher-line").inner_text() == "4.64 ERA, 21.1 IP, 11 K, 9 BB"
    stale = panel.locator(".stale-note")
    assert stale.count() == 1
    assert stale.inner_text() == "stale \u00b7 5 min"
    assert stale.get_attribute("title") == "statsapi: connection refused"
    assert panel.locator(".h2h-line").inner_text() == "1-for-3, 1 BB, 1 K"
    _no_error_screen(page)


def test_game_view_follows_and_survives_a_killed_server(page: Any, server: Server) -> None:
    """Score and WP move; after SIGKILL and a restart the page resumes with no gap."""
    page.goto(f"{server.url}/#/game/{GAME}")
    page.wait_for_selector("#plays li[data-seq]")
    page.wait_for_function("() => Number(document.querySelector('#scorebug').dataset.seq) >= 10")
    seq0 = int(page.get_attribute("#scorebug", "data-seq") or 0)
    wp0 = page.get_attribute("#scorebug", "data-home-wp")
    page.wait_for_function(
        "s => Number(document.querySelector('#scorebug').dataset.seq) >= s + 5", arg=seq0
    )
    page.wait_for_function(
        "wp => document.querySelector('#scorebug').dataset.homeWp !== wp", arg=wp0
    )
    page.wait_for_selector("#wp-chart canvas")
    page.wait_for_selector("#key-plays .kp")

    # Hovering or focusing a key play shows it, its WPA and leverage under the chart.
    first_key = page.locator("#key-plays .kp").first
    key_seq = first_key.locator(".seq").inner_text()
    first_key.focus()
    readout = page.locator("#wp-readout")
    assert readout.get_attribute("data-seq") == key_seq
    assert "WPA" in readout.inner_text()
    assert "leverage" in readout.inner_text()

    # A grid in a second tab goes through the same restart.
    grid = page.context.new_page()
    grid.set_default_timeout(WAIT_MS)
    grid.goto(f"{server.url}/")
    grid.wait_for_selector(f".card[data-game={GAME}]")

    # Kill the server right after a play arrived, mid-game.
    shown = int(page.get_attribute("#scorebug", "data-seq") or 0)
    page.wait_for_function(
        "s => Number(document.querySelector('#scorebug').dataset.seq) > s", arg=shown
    )
    server.kill()
    page.wait_for_selector("#stale-badge")
    assert "Reconnecting" in page.inner_text("#stale-badge")
    assert page.locator("#scorebug #home-score").count() == 1
    _no_error_screen(page)
    before_kill = int(page.get_attribute("#scorebug", "data-seq") or 0)
    grid_before = int(grid.get_attribute(f".card[data-game={GAME}]", "data-seq") or 0)
    grid.wait_for_selector("#conn[data-state=reconnecting]")

    server.start()
    # The restarted server replays the same games and resumes processing from the
    # archive; the page reconnects by itself and goes on past where it was.
    page.wait_for_function(
        "s => Number(document.querySelector('#scorebug').dataset.seq) >= s + 8",
        arg=before_kill,
        timeout=60_000,
    )
    page.wait_for_selector("#stale-badge", state="detached")
    _no_error_screen(page)
    grid.wait_for_function(
        "([g, s]) => Number(document.querySelector(`.card[data-game=${g}]`).dataset.seq) > s",
        arg=[GAME, grid_before],
    )
    grid.wait_for_selector("#conn[data-state=live]")
    _no_error_screen(grid)

    newest = int(page.get_attribute("#scorebug", "data-seq") or 0)
    # Holes left by the restart are filled from the REST history (a read refused while
    # the new server starts is tried again), so wait for the list to be whole.
    page.wait_for_function(
        "n => document.querySelectorAll('#plays li[data-seq]').length >= n"
        " && !document.querySelector('#plays li[data-missing]')",
        arg=newest,
    )
    plays = _plays_on_page(page)
    seqs = [seq for seq, _, _ in plays]
    assert seqs == list(range(max(seqs), 0, -1)), "plays are not 1..N without gap or duplicate"
    assert [seq for seq, _, missing in plays if missing] == []
    archived = server.archived_plays(GAME)
    assert {seq: text for seq, text, _ in plays} == {s: archived[s] for s in seqs}
    points = page.get_attribute("#wp-chart", "data-points")
    assert points is not None
    assert int(points) >= len(seqs)
    last_key = page.locator("#key-plays .kp").last
    last_key.focus()
    assert page.get_attribute("#wp-readout", "data-seq") == last_key.locator(".seq").inner_text()
    page.evaluate("window.scrollTo(0, 0)")
    _shot(page, "dashboard-game.png")


KC_GAME_PK = 26362201510270
"""World Series 2015 game 1 (NYM at KC) as the simulated Stats API numbers it; KC's hitters
have a season line to date from the bundled regular-season game at ANA."""
BATTING_LINE = r"^\.\d{3}/\.\d{3}/\.\d{3}, \d+ HR, \d+ PA$"


@pytest.fixture
def live_server(tmp_path: Path) -> Iterator[Server]:
    """A real ``pressbox serve --demo`` polling its simulated Stats API (no --direct).

    It serves the bundled 2015 games only: they start within half an hour of each other
    (a few seconds at this speed), the World Series game among them.
    """
    srv = Server(tmp_path, direct=False, paths=(REPO / "data" / "retrosheet" / "2015",))
    srv.start()
    yield srv
    srv.stop()


def test_matchup_panel_shows_the_real_batter_and_season_line(
    page: Any, live_server: Server
) -> None:
    """Through the simulated Stats API, ingest stores the matchup and the panel shows the
    batter's name and season line to date as the upstream computes them."""
    page.goto(f"{live_server.url}/#/game/{KC_GAME_PK}")
    page.wait_for_function(
        "re => [...document.querySelectorAll('#matchup .batter-line')]"
        ".some(n => new RegExp(re).test(n.textContent.trim()))",
        arg=BATTING_LINE,
        timeout=90_000,
    )
    panel = page.locator("#matchup")
    name = panel.locator(".batter-name").inner_text()
    assert name.strip()
    assert "\u2014" not in name
    assert name.strip().endswith("KC")
    batter_id = panel.locator("dl").get_attribute("data-batter")
    assert batter_id
    # What the page shows is what the API serves for the game (read, never fetched).
    served = httpx.get(f"{live_server.url}/v1/games/{KC_GAME_PK}/matchup", timeout=5).json()
    assert served["available"] is True
    assert served["game_id"] == str(KC_GAME_PK)
    assert "no matchup endpoint" not in panel.inner_text()
    _no_error_screen(page)
    _shot(page, "dashboard-matchup.png")


def _football_update(now: float) -> dict[str, Any]:
    situation = {
        "type": "football",
        "quarter": 4,
        "clock_seconds": 125,
        "possession": "home",
        "down": 4,
        "distance": 2,
        "yard_line": 62,
        "home_timeouts": 2,
        "away_timeouts": 1,
    }
    info = {"home": "KC", "away": "BUF", "date": "2021-10-10", "innings": 4}
    state = {
        "v": 1,
        "sport": "nfl",
        "game_id": "NFLTEST",
        "seq": 3,
        "status": "live",
        "info": info,
        "home_score": 17,
        "away_score": 20,
        "period": 4,
        "clock": "2:05",
        "situation": situation,
        "last_play": "Pass short right for 6 yards",
        "plays": 3,
    }
    return {
        "v": 1,
        "sport": "nfl",
        "game_id": "NFLTEST",
        "seq": 3,
        "event_seq": 3,
        "event_id": "NFLTEST:3",
        "kind": "play",
        "correction": False,
        "state": state,
        "wp": {"home": 0.31, "away": 0.69, "tie": 0.0, "model": "test"},
        "wpa": -0.04,
        "leverage": 3.2,
        "key_play": False,
        "text": "Pass short right for 6 yards",
        "ts_source": now - 125,
        "ts_ingest": now - 125,
        "ts_emit": now - 125,
    }


def test_football_fourth_down_panel_and_stale_badge(page: Any, server: Server) -> None:
    """A football game shows down and distance, the real fourth-down call and a stale badge."""
    update = _football_update(time.time())
    plays = [
        {"seq": s, "event_id": f"NFLTEST:{s}", "kind": "play", "text": f"Play {s}"}
        | {"home_score": 17, "away_score": 20, "home_wp": wp, "wpa": None, "leverage": 1.0}
        | {"key_play": False, "ts_emit": None}
        for s, wp in ((1, 0.45), (2, 0.35))
    ]
    answers: dict[str, Any] = {
        "/v1/games/NFLTEST": {"available": True, "game_id": "NFLTEST", "update": update},
        "/v1/games/NFLTEST/plays": {"available": True, "game_id": "NFLTEST", "plays": plays},
        "/v1/games/NFLTEST/wp": {
            "available": True,
            "game_id": "NFLTEST",
            "points": [{"seq": 1, "home": 0.45}, {"seq": 2, "home": 0.35}],
        },
        "/v1/games/NFLTEST/key-plays": {"available": False, "reason": "no key plays yet"},
        "/v1/graphics/NFLTEST": {
            "game_id": "NFLTEST",
            "available": True,
            "stale": True,
            "age_s": 125.0,
            "reason": "no update for 125 s",
        },
    }
    stream = f"id: NFLTEST:3\nevent: snapshot\ndata: {json.dumps(update)}\n\n"

    def fake(route: Any) -> None:
        path = urlsplit(route.request.url).path
        if path == "/v1/stream/games/NFLTEST":
            route.fulfill(status=200, content_type="text/event-stream", body=stream)
        elif path in answers:
            route.fulfill(status=200, json=answers[path])
        else:
            route.fallback()

    page.route("**/v1/**", fake)
    page.goto(f"{server.url}/#/game/NFLTEST")
    page.wait_for_selector("#fourth-down tr.call")
    assert "4th & 2" in page.inner_text("#situation")
    assert "BUF 38" in page.inner_text("#situation")
    assert "Q4" in page.inner_text("#scorebug")
    assert "2:05" in page.inner_text("#scorebug")
    # The decision comes from the real NFL model behind POST /v1/wp/nfl.
    options = page.eval_on_selector_all(
        "#fourth-down tbody tr", "rs => rs.map(r => [r.dataset.option, r.innerText])"
    )
    assert [o for o, _ in options] == ["go", "punt", "field_goal"]
    assert all("%" in text for _, text in options)
    assert "Call:" in page.inner_text("#fourth-down")
    badge = page.locator("#stale-badge")
    badge.wait_for()
    assert badge.inner_text() == "Stale \u00b7 data 2 min old"
    assert badge.get_attribute("title") == "no update for 125 s"
    # The chart steps through the plays from the keyboard.
    page.wait_for_selector("#wp-chart canvas")
    page.focus("#wp-chart")
    page.keyboard.press("End")
    assert page.get_attribute("#wp-readout", "data-seq") == "3"
    page.keyboard.press("ArrowLeft")
    assert page.get_attribute("#wp-readout", "data-seq") == "2"
    assert "Play 2" in page.inner_text("#wp-readout")
    _no_error_screen(page)
    _shot(page, "dashboard-football.png", full_page=True)
