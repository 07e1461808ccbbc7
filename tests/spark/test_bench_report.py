"""The Spark benchmark's table (``bench/spark.py``): ratios against the CLI, exactly-once flag."""

from __future__ import annotations

from bench.spark import report


def test_report_compares_each_run_with_the_cli_at_the_same_latency() -> None:
    """Each row's ratio is against the CLI at its latency; a duplicate or a loss shows NO."""
    common = {"duplicates": 0, "requests": 1}
    rows = [
        {"run": "CLI", "latency_ms": 0.0, "send_s": 10.0, "distinct": 1000, **common},
        {"run": "local[2]", "latency_ms": 0.0, "send_s": 5.0, "distinct": 1000, **common},
        {"run": "CLI", "latency_ms": 100.0, "send_s": 20.0, "distinct": 1000, **common},
        {"run": "local[2]", "latency_ms": 100.0, "send_s": 8.0, "distinct": 999, **common},
        {"run": "local[1]", "latency_ms": 100.0, "error": ["boom"]},
    ]
    table = report(rows, 1000).splitlines()
    assert table[2] == "| CLI | 0 ms | 10.0 | 100 | 1.00x |  | yes |"
    assert table[3] == "| local[2] | 0 ms | 5.0 | 200 | 2.00x |  | yes |"
    assert table[5] == "| local[2] | 100 ms | 8.0 | 125 | 2.50x |  | NO |"
    assert table[6].startswith("| local[1] | 100 ms | error: ['boom']")
