"""Shared pieces of the command-line tests: a module of middleware the CLI can import."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
API_KEY = "CLI_TEST_KEY_0123456789abcdef"

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


def gc_threshold(payload, next):
    import gc

    payload.event.event_properties = {"gc_threshold": gc.get_threshold()[0]}
    next(payload)
"""


@pytest.fixture
def middleware_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A module of middleware on sys.path: ``cli_test_middleware``."""
    (tmp_path / "cli_test_middleware.py").write_text(MIDDLEWARE, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    return "cli_test_middleware"


def run_module(*args: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    """``python -m amplitude_legacy ARGS`` as a real process, the key in $AMPLITUDE_API_KEY."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "AMPLITUDE_API_KEY": API_KEY}
    return subprocess.run(
        [sys.executable, "-m", "amplitude_legacy", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        check=False,
    )
