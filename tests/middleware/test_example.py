"""examples/second_destination.py without an audit path leaves nothing in the temp directory."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_routing_example_leaves_nothing_behind(tmp_path: Path) -> None:
    """Run offline with its own TMPDIR: exit 0, the projects agree, and TMPDIR is empty after."""
    temp = tmp_path / "tmp"
    temp.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AMPLITUDE_")}
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "second_destination.py")],
        cwd=tmp_path,
        env={**env, "TMPDIR": str(temp)},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "the audit log holds what both projects received: True" in done.stdout
    assert list(temp.iterdir()) == [] and sorted(p.name for p in tmp_path.iterdir()) == ["tmp"]
