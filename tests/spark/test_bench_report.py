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


def test_cpu_sampler_splits_a_runs_cpu_by_process_between_its_marks() -> None:
    """``--cpu``: CPU-seconds of the run's process and of a Python child, between the marks.

    The run burns about 0.4 s of CPU after ``SEND_BEGIN`` and so does its child; the child is
    still alive at ``SEND_END``, so both are read at the mark itself.
    """
    import os
    import sys

    from bench.spark import SEND_BEGIN, SEND_END, _run

    burn = "import time\nend = time.process_time() + 0.4\nwhile time.process_time() < end: pass\n"
    child = burn + "print('burnt', flush=True)\nimport sys\nsys.stdin.read()\n"
    script = "\n".join(
        [
            "import subprocess, sys",
            f"print({SEND_BEGIN!r}, flush=True)",
            "kid = subprocess.Popen([sys.executable, '-c', sys.argv[1]], stdin=subprocess.PIPE,"
            " stdout=subprocess.PIPE, text=True)",
            burn,
            "kid.stdout.readline()  # the child has burnt its share and waits: alive at the mark",
            f"print({SEND_END!r}, flush=True)",
            "kid.stdin.close(); kid.wait()",
        ]
    )
    code, out, err, cpu = _run(
        [sys.executable, "-c", script, child], dict(os.environ), cpu=True, whole=False
    )
    assert code == 0, err
    assert SEND_END in out
    assert 0.3 <= cpu["run process"] < 5, cpu
    assert 0.3 <= cpu["Python workers"] < 5, cpu
    assert "collector (this process)" in cpu


def test_cpu_report_lists_each_kind_and_the_total() -> None:
    from bench.spark import cpu_report

    rows = [
        {"run": "CLI", "latency_ms": 0.0, "cpu_s": {"run process": 48.5, "collector": 11.8}},
        {"run": "local[2]", "latency_ms": 0.0, "cpu_s": {"JVM": 11.0, "collector": 11.5}},
        {"run": "local[1]", "latency_ms": 0.0, "error": ["boom"]},
    ]
    table = cpu_report(rows).splitlines()
    assert table[0] == "| run | latency | JVM | collector | run process | total |"
    assert table[2] == "| CLI | 0 ms | 0.0 | 11.8 | 48.5 | 60.3 |"
    assert table[3] == "| local[2] | 0 ms | 11.0 | 11.5 | 0.0 | 22.5 |"
    assert len(table) == 4
