"""Run every ``examples/*.py`` as a user would, offline, and check what it prints."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples").glob("*.py"))
#: Each example must finish well within this (seconds).
TIME_LIMIT = 10.0
#: Examples that start a JVM (Spark: ~15 s on an idle 2-core box) get their own limit.
TIME_LIMITS: Dict[str, float] = {"spark_backfill.py": 120.0}

#: Lines each example must print (substrings); every example must also exit 0.
EXPECTED: Dict[str, List[str]] = {
    "quickstart.py": [
        "No AMPLITUDE_API_KEY: sending to the bundled collector at http://127.0.0.1:",
        "Button Clicked: success (200)",
        "Health Check: skipped (0)",
        "$identify: success (200)",
        "collector received: Button Clicked {'color': 'red', 'route': '/home'}",
    ],
    "webapp_flask.py": [
        "No AMPLITUDE_API_KEY: sending to the bundled collector at http://127.0.0.1:",
        "delivered: 3, pending: 0",
        "health-check events: 0",
        "collector received: Request Handled route=/ request_id=req-0001",
        "collector received: Signed Up route=/signup request_id=req-0002",
    ],
    "second_destination.py": [
        "No AMPLITUDE_API_KEY: sending to the bundled collector at http://127.0.0.1:",
        "statuses: Signed Up=success, Health Check=skipped (filtered), "
        "Plan Upgraded=skipped (routed)",
        "destinations delivered: {'audit': 2, 'second-project': 1}",
        "second project received: Plan Upgraded",
        "the audit log holds what both projects received: True",
    ],
    "spark_backfill.py": [
        "No AMPLITUDE_API_KEY: sending to the bundled collector at http://127.0.0.1:",
        "first run: 1,006 events: 1,000 success, 5 skipped (middleware_stopped), 1 invalid",
        "outcomes written to backfill-outcomes (1,006 rows)",
        "same insert ids on the second run: True",
        "collector: 1,000 events stored, 1,000 copies absorbed",
        "emails that reached the collector: 0",
    ],
    "migration.py": [
        "No AMPLITUDE_API_KEY: sending to the bundled collector at http://127.0.0.1:",
        "legacy call site delivered: True",
        "plugin API call site delivered: True",
        "destination plugin counted: {'So What': 2}",
        "collector received 2 event(s); identical on the wire: True",
    ],
}


def _offline_env() -> Dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AMPLITUDE_")}
    env["PYTHONUNBUFFERED"] = "1"
    return env


@pytest.mark.parametrize(
    "example",
    [
        pytest.param(p, marks=pytest.mark.timeout(3 * TIME_LIMITS[p.name] + 10))
        if p.name in TIME_LIMITS
        else p
        for p in EXAMPLES
    ],
    ids=[p.name for p in EXAMPLES],
)
def test_example_runs_offline(example: Path, tmp_path: Path) -> None:
    """The example exits 0 against the bundled collector, in time, printing its key lines."""
    limit = TIME_LIMITS.get(example.name, TIME_LIMIT)
    args = [sys.executable, str(example)]
    if example.name == "second_destination.py":
        args.append(str(tmp_path / "archive.jsonl"))
    started = time.monotonic()
    done = subprocess.run(
        args,
        cwd=tmp_path,
        env=_offline_env(),
        capture_output=True,
        text=True,
        timeout=limit * 3,  # a hang fails here; a slow run fails the assertion below
    )
    elapsed = time.monotonic() - started
    report = f"exit {done.returncode}\n--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}"
    assert done.returncode == 0, report
    assert elapsed < limit, f"{example.name} took {elapsed:.1f} s\n{report}"
    for line in EXPECTED.get(example.name, ["http://127.0.0.1:"]):
        assert line in done.stdout, f"missing {line!r}\n{report}"


def test_every_example_documents_how_to_run_it() -> None:
    """Each example opens with a module docstring that shows the command that runs it."""
    assert {p.name for p in EXAMPLES} >= set(EXPECTED)
    for example in EXAMPLES:
        source = example.read_text(encoding="utf-8")
        assert source.lstrip().startswith('"""'), f"{example.name}: no module docstring"
        assert f"python examples/{example.name}" in source, f"{example.name}: no run command"
