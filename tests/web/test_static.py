"""The dashboard's files: served by the static app, no reference to any outside host."""

from __future__ import annotations

import re

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount

from pressbox.web import VENDOR_FILES, WEB_DIR, static_app, vendor_missing

pytestmark = pytest.mark.anyio

_PAGE_FILES = ("index.html", "app.js", "styles.css")


async def test_static_app_serves_the_page_at_root() -> None:
    """``/`` answers index.html, which loads the module, the styles and the vendored chart CSS."""
    app = Starlette(routes=[Mount("/", app=static_app())])
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://booth") as client:
        page = await client.get("/")
        script = await client.get("/app.js")
        missing = await client.get("/nothing-here.js")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert '<script type="module" src="app.js">' in page.text
    assert 'href="styles.css"' in page.text
    assert 'href="vendor/uPlot.min.css"' in page.text
    assert script.status_code == 200
    assert "javascript" in script.headers["content-type"]
    assert missing.status_code == 404


@pytest.mark.parametrize("name", _PAGE_FILES)
def test_page_files_name_no_outside_host(name: str) -> None:
    """No URL with a host: every asset and every read is same-origin."""
    text = (WEB_DIR / name).read_text()
    assert re.findall(r"(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}", text, flags=re.IGNORECASE) == []


def test_page_reads_only_the_api_and_its_own_files() -> None:
    """Every path the script fetches or streams is under /v1/ (or its vendored module)."""
    text = (WEB_DIR / "app.js").read_text()
    paths = re.findall(r"""(?:api|EventSource|LiveStream)\(\s*`([^`]+)`""", text)
    paths += re.findall(r"""(?:api|EventSource|LiveStream)\(\s*"([^"]+)\"""", text)
    assert paths
    assert all(p.startswith("/v1/") for p in paths), paths
    assert re.findall(r'import\("([^"]+)"\)', text) == ["./vendor/uPlot.esm.js"]


def test_vendor_missing_names_only_vendored_files() -> None:
    """The set-up check lists a subset of the vendored files, in order."""
    missing = vendor_missing()
    assert missing == [name for name in VENDOR_FILES if name in missing]
    for name in set(VENDOR_FILES) - set(missing):
        assert (WEB_DIR / "vendor" / name).is_file()
