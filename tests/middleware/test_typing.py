"""The middleware API type-checks in user code (``typed_usage.py``) under ``mypy --strict``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_typed_usage_passes_mypy_strict() -> None:
    """Lambdas over the event, enrichment functions and destinations type-check as written."""
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict",
         "--no-error-summary", "tests/middleware/typed_usage.py"],
        cwd=ROOT, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert done.returncode == 0, f"mypy --strict failed:\n{done.stdout}\n{done.stderr}"
