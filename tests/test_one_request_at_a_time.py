"""The core suites pass unchanged with ``maxConcurrentRequests: 1`` as well as the default."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_core_suites_pass_one_request_at_a_time() -> None:
    """Unit, wire and spool tests all pass when every client sends one request at a time."""
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-x",
         "--max-concurrent-requests=1", "tests/unit", "tests/wire", "tests/spool"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
