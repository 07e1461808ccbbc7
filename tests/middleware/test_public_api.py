"""The public surface of amplitude_legacy.middleware, and its optional dependencies."""

from __future__ import annotations

import inspect
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import amplitude_legacy.middleware as middleware

ROOT = Path(__file__).resolve().parents[2]
EXPECTED_ALL = [
    "AmplitudeDestination",
    "BOT_PATTERN",
    "Destination",
    "JsonlFileDestination",
    "Reason",
    "RedisStreamDestination",
    "TrackingPlan",
    "WebhookDestination",
    "Where",
    "allow_properties",
    "drop_bots",
    "drop_events",
    "enrich",
    "hash_value",
    "keep_events",
    "redact",
    "rename_events",
    "route",
    "sample",
    "sample_bucket",
    "set_defaults",
    "validate",
]


def test_all_is_locked() -> None:
    """__all__ holds exactly the expected names, sorted as ruff sorts them, no duplicates."""
    assert sorted(middleware.__all__) == sorted(EXPECTED_ALL)
    assert len(set(middleware.__all__)) == len(middleware.__all__)


@pytest.mark.parametrize("name", [n for n in EXPECTED_ALL if n not in ("BOT_PATTERN", "Where")])
def test_every_public_name_is_documented(name: str) -> None:
    """Each public function and class has a docstring with Args/Returns or Attributes."""
    obj = getattr(middleware, name)
    doc = inspect.getdoc(obj) or ""
    assert doc, name
    if inspect.isfunction(obj):
        assert "Args:" in doc and "Returns:" in doc and "Examples:" in doc, name


def _python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, cwd=ROOT
    )


def test_importing_never_imports_the_optional_dependencies() -> None:
    """import amplitude_legacy (and .middleware) loads neither redis nor fastjsonschema."""
    done = _python(
        """
        import sys, amplitude_legacy, amplitude_legacy.middleware
        assert "redis" not in sys.modules and "fastjsonschema" not in sys.modules
        """
    )
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize(
    ("module", "build", "extra"),
    [
        ("redis", "RedisStreamDestination('redis://127.0.0.1:9/0', 's')", "redis"),
        ("fastjsonschema", "validate({'E': {}})", "tracking-plan"),
    ],
)
def test_a_missing_extra_names_what_to_install(module: str, build: str, extra: str) -> None:
    """Without the package, construction raises ImportError naming the extra to install."""
    done = _python(
        f"""
        import sys
        sys.modules[{module!r}] = None  # as if it were not installed
        from amplitude_legacy.middleware import *
        try:
            {build}
        except ImportError as exc:
            print(exc)
        """
    )
    assert done.returncode == 0, done.stderr
    assert f'pip install "amplitude_legacy[{extra}]"' in done.stdout
