"""Type-check the documented examples (``tests/typing/api.py``) with ``mypy --strict``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_documented_examples_type_check_strict(tmp_path: Path) -> None:
    """``mypy --strict tests/typing/api.py`` reports no error (a fresh cache keeps it honest)."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--cache-dir",
            str(tmp_path / "mypy-cache"),
            "--no-error-summary",
            "tests/typing/api.py",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, f"mypy --strict failed:\n{done.stdout}\n{done.stderr}"
