"""Smoke test of bench/middleware.py: its smallest run works and checks its own counts."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_smallest_middleware_benchmark_run(tmp_path: Path) -> None:
    """The baselines, sample and chain run in their own processes; figures and table come out."""
    out = tmp_path / "middleware.json"
    done = subprocess.run(
        [sys.executable, "-m", "bench.middleware", "--only", "bare,noop,noop_step,sample,chain",
         "--events", "500", "--repeat", "1", "--json", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    rows = {row["scenario"]: row for row in json.loads(out.read_text())["rows"]}
    assert list(rows) == ["bare", "noop", "noop_step", "sample", "chain"]
    assert rows["chain"]["delivered"] == 500 and rows["chain"]["dropped"] == {}
    assert 0 < rows["sample"]["dropped"]["sampled_out"] < 500
    assert all(row["median_us"] > 0 for row in rows.values())
    assert "over_noop_us" in rows["chain"] and "over_bare_us" in rows["noop"]
    assert "over_noop_step_us" in rows["sample"] and "over_bare_us" in rows["noop_step"]
    assert "quietest_over_noop_step_us" in rows["chain"] and "quietest_us" in rows["noop"]
    assert "| chain |" in done.stdout and "< 15 µs median" in done.stdout
    assert "≤ 1 µs over no-op step" in done.stdout


def test_chain_steps_run() -> None:
    """--chain-steps times the baselines and the chain's four steps in one process."""
    done = subprocess.run(
        [sys.executable, "-m", "bench.middleware", "--chain-steps", "--repeat", "1",
         "--events", "300"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    for label in ("bare client", "one no-op user middleware", "+ redact(hash)", "+ route"):
        assert f"| {label} |" in done.stdout
    assert "| + drop_events |" in done.stdout and "| one no-op ready-made step |" in done.stdout


def test_the_quietest_run_is_picked_by_its_bare_client_not_by_the_scenario() -> None:
    """A run slowed by the machine shows in its bare client: that run is not the quietest,
    even where the scenario's own figure happens to be lowest."""
    from bench.middleware import summarize, table

    def run(bare: float, noop: float, step: float, chain: float) -> dict:
        figures = (("bare", bare), ("noop", noop), ("noop_step", step), ("chain", chain))
        return {name: {"median_us": value, "p99_us": value * 3, "delivered": 10, "dropped": {}}
                for name, value in figures}  # fmt: skip

    runs = [run(6.0, 9.5, 7.0, 12.0), run(3.3, 5.0, 4.0, 14.0), run(6.2, 9.9, 7.2, 25.0)]
    row = summarize("chain", runs)
    assert row["quietest_us"] == 14.0 and row["quietest_over_noop_us"] == 9.0
    assert row["quietest_over_noop_step_us"] == 10.0
    assert row["median_us"] == 14.0 and row["over_noop_us"] == 9.0
    runs[1]["chain"]["median_us"] = 16.0  # the median (14.5) meets the goal, the quietest not
    runs[2]["chain"]["median_us"] = 14.5
    assert "| yes / no |" in table([summarize("chain", runs)])
