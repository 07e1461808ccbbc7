"""Smoke test of the benchmark harness: its smallest run works end to end and is lossless.

Runs ``python -m bench --events 2000 --sdks ours,floor`` in a subprocess (the collector and each
SDK in their own processes, as in a real run). Peers are not needed: only our client and the
floor run. The figures themselves are not asserted; they belong to ``docs/performance.md``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ROW_FIELDS = (
    "call_median_us",
    "call_p99_us",
    "total_s",
    "drain_s",
    "cpu_s",
    "rss_over_base_mb",
    "requests",
    "wire_bytes",
    "lost",
    "duplicates",
)


def test_smallest_benchmark_run_is_complete_and_lossless(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench",
            "--events",
            "2000",
            "--sdks",
            "ours,floor",
            "--json",
            str(out),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=50,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.loads(out.read_text())
    assert [row["label"] for row in result["rows"]] == ["ours", "ours +2 middleware", "floor"]
    for row in result["rows"]:
        assert "error" not in row, row
        missing = [field for field in ROW_FIELDS if field not in row]
        assert not missing, (row["label"], missing)
        assert (row["lost"], row["duplicates"], row["blocked"]) == (0, 0, []), row["label"]
        assert row["requests"] >= 1 and row["wire_bytes"] > 0
    assert "floor" in result["ratios"]
    assert {t["target"] for t in result["targets"]} >= {"no loss, no duplicates"}
    assert "| ours " in proc.stdout


def test_instruction_scenarios_run_on_this_tree() -> None:
    """Each ``bench.instructions`` scenario runs as plain Python (callgrind only counts it).

    The ``delivered`` scenario returns only once the bench collector has every event, so a
    scenario that stopped delivering would hang here, not pass.
    """
    from bench.collector import BenchCollector
    from bench.instructions import SCENARIOS, _table

    collector = BenchCollector().start()
    try:
        url = f"http://127.0.0.1:{collector.port}"
        for name, (script, small, _) in SCENARIOS.items():
            done = subprocess.run(
                [sys.executable, "-c", script, str(ROOT), str(min(small, 50)), url],
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert done.returncode == 0, (name, done.stderr)
        assert collector.wait(50, timeout=5)["distinct"] == 50
    finally:
        collector.stop()
    names = ["call", "import + init"]
    table = _table(
        [
            ("new", {"call": 90.0, "import + init": 2e6}),
            ("old", {"call": 100.0, "import + init": 4e6}),
        ],
        names,
    )
    assert "| call | 90 | 100 | -10.0% |" in table
    assert "| import + init | 2M | 4M | -50.0% |" in table
