"""The booth dashboard: a static page (HTML, CSS, JS modules) that talks to the HTTP API only.

The page needs no build step. Its one third-party file, the uPlot charting library, is
installed from the npm registry by the project's set-up (``package.json`` at the repo root)
and copied into ``vendor/``; without it the page still works and shows a dash where the
chart would be. See docs/dashboard.md.
"""

from __future__ import annotations

from pathlib import Path

from starlette.staticfiles import StaticFiles

__all__ = ["VENDOR_FILES", "WEB_DIR", "static_app", "vendor_missing"]

WEB_DIR = Path(__file__).resolve().parent
"""Where the page's files are."""

VENDOR_FILES = ("uPlot.esm.js", "uPlot.min.css")
"""The files the set-up copies into ``vendor/`` from ``node_modules/uplot/dist/``."""


def vendor_missing() -> list[str]:
    """Names of the vendored files that are not installed (empty when the set-up ran).

    Returns:
        The missing files of :data:`VENDOR_FILES`, in that order.
    """
    return [name for name in VENDOR_FILES if not (WEB_DIR / "vendor" / name).is_file()]


def static_app() -> StaticFiles:
    """The dashboard as an ASGI app, to mount at ``/`` after every other route.

    ``index.html`` answers ``/``; everything else is a plain file of this folder.

    Returns:
        A Starlette ``StaticFiles`` app over :data:`WEB_DIR`.
    """
    return StaticFiles(directory=WEB_DIR, html=True)
