"""Shared pieces of the command-line tests: a module of middleware the CLI can import."""

from __future__ import annotations

from pathlib import Path

import pytest

MIDDLEWARE = """
def drop_bots(payload, next):
    if (payload.event.event_properties or {}).get("bot"):
        return  # not calling next: the event is skipped
    next(payload)


def tag(payload, next):
    payload.event.event_properties = {**(payload.event.event_properties or {}), "via": "cli"}
    next(payload)


def explode(payload, next):
    raise RuntimeError("middleware bug")
"""


@pytest.fixture
def middleware_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A module of middleware on sys.path: ``cli_test_middleware``."""
    (tmp_path / "cli_test_middleware.py").write_text(MIDDLEWARE, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    return "cli_test_middleware"
