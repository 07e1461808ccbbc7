"""Smoke test of bench/integrations.py: its smallest run completes and counts what it logged."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VARIANTS = ["without", "with (context)", "with (+ request event)"]


def test_smallest_integrations_benchmark_run(tmp_path: Path) -> None:
    """Every framework and driver reports each variant; every request event was delivered."""
    out = tmp_path / "integrations.json"
    done = subprocess.run(
        [sys.executable, "-m", "bench.integrations", "--requests", "60", "--rounds", "2",
         "--json", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads(out.read_text())
    drivers = {
        "django": ["test client", "WSGI call", "middleware alone"],
        "flask": ["test client", "WSGI call", "extension alone"],
        "fastapi": ["test client", "ASGI call", "middleware alone"],
    }
    for framework, names in drivers.items():
        assert [k for k, v in result[framework].items() if isinstance(v, dict)] == names
        logged = result[framework].get("setup_requests", 0)
        for driver in names:
            rows = result[framework][driver]
            assert list(rows) == VARIANTS, (framework, driver)
            assert all(row["best_us"] > 0 for row in rows.values())
            event_row = rows["with (+ request event)"]
            logged += event_row["warmup"] + event_row["calls"]
        assert result[framework]["delivered"] == logged, framework
    context = result["context"]
    assert set(context["logEvent"]) == {"outside", "inside"}
    assert context["delivered"] > 0
    assert "| `Amplitude.context` |" in done.stdout
