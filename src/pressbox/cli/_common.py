"""Helpers shared by the command modules: logging set-up and JSON-lines output."""

from __future__ import annotations

import logging
import sys

import orjson
import structlog

from pressbox.types import JSON


def configure_logging(level: str = "INFO", *, json: bool = False) -> None:
    """Send structured logs to stderr, as key-value console lines or JSON lines."""
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso"),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping()[level.upper()]
        ),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        # Not cached: tests capture logs after a command has configured them in-process.
        cache_logger_on_first_use=False,
    )


def write_json_line(value: JSON) -> None:
    """Write one compact JSON line to stdout and flush it (consumers read line by line)."""
    sys.stdout.buffer.write(orjson.dumps(value) + b"\n")
    sys.stdout.buffer.flush()
