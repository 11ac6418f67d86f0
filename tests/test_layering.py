"""The import direction of STYLE.md §2, checked on every module's imports with ``ast``."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "src" / "pressbox"

# What each part of the package may import from the project (besides itself).
ALLOWED: dict[str, set[str]] = {
    "types": set(),
    "errors": set(),
    "config": {"types", "errors"},
    "engine": {"types", "errors"},
    "resilience": {"types", "errors", "metrics"},
    "bus": {"types", "errors"},
    "store": {"types", "errors", "engine.events"},
    "feeds": {"types", "errors", "engine", "resilience", "bus.base", "metrics"},
    "metrics": set(),
    "gcpolicy": {"metrics"},
    "listen": set(),
    "processor": {"types", "errors", "engine", "bus.base", "store.base", "metrics"},
    "delivery": {"types", "errors", "engine", "bus.base", "resilience", "metrics"},
    "service": {
        "types",
        "errors",
        "config",
        "engine",
        "resilience",
        "bus",
        "store",
        "feeds",
        "processor",
        "delivery",
        "metrics",
    },
    "api": {
        "types",
        "errors",
        "engine",
        "resilience",
        "delivery",
        "service",
        "store.base",
        "bus.base",
        "web",
        "metrics",
        "gcpolicy",
    },
    "web": {"types", "errors"},
    "bench": {
        "types",
        "errors",
        "config",
        "engine",
        "resilience",
        "bus",
        "store",
        "feeds",
        "processor",
        "delivery",
        "service",
        "api",
        "web",
        "metrics",
        "gcpolicy",
        "listen",
    },
    "cli": {"*"},
    "__main__": {"cli"},
    "__init__": set(),
}

# Third-party modules a part must never import (the domain stays pure).
FORBIDDEN: dict[str, set[str]] = {
    "engine": {
        "asyncio",
        "httpx",
        "redis",
        "asyncpg",
        "aiosqlite",
        "starlette",
        "fastapi",
        "uvicorn",
        "structlog",
        "logging",
        "typer",
        "time",
    },
    "resilience": {"httpx", "redis", "asyncpg", "starlette", "fastapi", "typer"},
    "bus": {"httpx", "asyncpg", "aiosqlite", "starlette", "fastapi", "typer"},
    "store": {"httpx", "redis", "starlette", "fastapi", "typer"},
    "processor": {"redis", "asyncpg", "aiosqlite", "httpx", "starlette", "typer"},
    "feeds": {"redis", "asyncpg", "aiosqlite", "starlette", "fastapi", "typer"},
}

# Modules allowed an exception to FORBIDDEN: the simulated upstream is an HTTP server.
EXEMPT: dict[str, set[str]] = {
    "feeds.upstream": {"starlette", "uvicorn"},
}

# Concrete backends are imported only by their package's from_url factory.
CONCRETE = {"bus.memory", "bus.redis", "store.sqlite", "store.postgres"}


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def _dotted(path: Path) -> str:
    rel = path.relative_to(PACKAGE).with_suffix("")
    return ".".join(rel.parts)


def _part(dotted: str) -> str:
    return dotted.split(".", 1)[0]


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
            names.extend(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _allowed(part: str, target: str) -> bool:
    rules = ALLOWED.get(part)
    if rules is None:
        return False
    if "*" in rules:
        return True
    return any(target == rule or target.startswith(rule + ".") for rule in rules)


@pytest.mark.parametrize("path", _modules(), ids=_dotted)
def test_imports_follow_the_layers(path: Path) -> None:
    """A module imports only its own part and the parts below it."""
    me = _dotted(path)
    part = _part(me)
    bad = []
    for name in _imports(path):
        if name == "pressbox" or not name.startswith("pressbox."):
            continue
        target = name.removeprefix("pressbox.")
        if _part(target) == part:
            continue
        if not _allowed(part, target):
            bad.append(target)
    assert not bad, f"pressbox.{me} may not import {sorted(set(bad))}"


@pytest.mark.parametrize("path", _modules(), ids=_dotted)
def test_forbidden_libraries(path: Path) -> None:
    """The domain and lower layers keep away from web, drivers and each other's concerns."""
    me = _dotted(path)
    forbidden = set(FORBIDDEN.get(_part(me), set()))
    for prefix, allowed in EXEMPT.items():
        if me == prefix or me.startswith(prefix + "."):
            forbidden -= allowed
    used = {name.split(".", 1)[0] for name in _imports(path)}
    assert not used & forbidden, f"pressbox.{me} imports {sorted(used & forbidden)}"


@pytest.mark.parametrize("path", _modules(), ids=_dotted)
def test_concrete_backends_are_private(path: Path) -> None:
    """Only a package's own modules import its concrete backends (lazily, in from_url)."""
    me = _dotted(path)
    for name in _imports(path):
        target = name.removeprefix("pressbox.")
        for backend in CONCRETE:
            if (target == backend or target.startswith(backend + ".")) and _part(me) != _part(
                backend
            ):
                pytest.fail(f"pressbox.{me} imports the concrete backend {backend}")


def test_every_module_has_future_annotations_and_a_docstring() -> None:
    """Every module opens with a docstring and ``from __future__ import annotations``."""
    missing = []
    for path in _modules():
        text = path.read_text()
        tree = ast.parse(text)
        if text.strip() and ast.get_docstring(tree) is None:
            missing.append(f"{_dotted(path)}: no docstring")
        if text.strip() and "from __future__ import annotations" not in text:
            missing.append(f"{_dotted(path)}: no future import")
    assert not missing, missing
