"""The Spark benchmark's table (``bench/spark.py``): ratios against the CLI, exactly-once flag."""

from __future__ import annotations

from typing import Any

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


def _announce_marks(monkeypatch: Any, tmp_path: Any) -> str:
    """Make the sampler's n-th mark create ``mark-<n>`` in ``tmp_path``, and return the Python
    lines that define ``wait_for_mark(n)`` for the run's script.

    The test's process takes a mark when it reads ``SEND_BEGIN`` or ``SEND_END`` from the run,
    which on a busy machine can be late. So the run waits for the first mark before its work
    (work done before it would not count), and for the last before it lets its child end (a
    JVM whose threads end during the mark's read loses what they ran: CI saw both).
    """
    from bench.spark import CpuSampler

    real_mark = CpuSampler.mark
    taken = []

    def mark(self: CpuSampler) -> None:
        real_mark(self)
        taken.append(None)
        (tmp_path / f"mark-{len(taken)}").touch()

    monkeypatch.setattr(CpuSampler, "mark", mark)
    return "\n".join(
        [
            "import os, time",
            "def wait_for_mark(n):",
            "    deadline = time.monotonic() + 60",
            f"    while not os.path.exists(os.path.join({str(tmp_path)!r}, f'mark-{{n}}')):",
            "        assert time.monotonic() < deadline, f'mark {n} was never taken'",
            "        time.sleep(0.005)",
        ]
    )


def test_cpu_sampler_splits_a_runs_cpu_by_process_between_its_marks(
    monkeypatch: Any, tmp_path: Any
) -> None:
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
            _announce_marks(monkeypatch, tmp_path),
            f"print({SEND_BEGIN!r}, flush=True)",
            "wait_for_mark(1)",
            "kid = subprocess.Popen([sys.executable, '-c', sys.argv[1]], stdin=subprocess.PIPE,"
            " stdout=subprocess.PIPE, text=True)",
            burn,
            "kid.stdout.readline()  # the child has burnt its share and waits: alive at the mark",
            f"print({SEND_END!r}, flush=True)",
            "wait_for_mark(2)",
            "kid.stdin.close(); kid.wait()",
        ]
    )
    code, out, err, usage = _run(
        [sys.executable, "-c", script, child], dict(os.environ), cpu=True, whole=False
    )
    assert code == 0, err
    assert set(usage) == {"cpu_s"}  # no JVM: no thread breakdown
    cpu = usage["cpu_s"]
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


BURN_JAVA = """
public class Burn {
    public static void main(String[] args) throws Exception {
        var bean = java.lang.management.ManagementFactory.getThreadMXBean();
        long end = bean.getCurrentThreadCpuTime() + 400_000_000L;
        long spins = 0;
        while (bean.getCurrentThreadCpuTime() < end) spins++;
        System.out.println("burnt " + spins);
        System.in.read();
    }
}
"""


def test_cpu_sampler_splits_the_jvms_cpu_by_thread(monkeypatch: Any, tmp_path: Any) -> None:
    """``--cpu``: a JVM's CPU-seconds by thread kind, between the marks; they add up to the
    JVM's own at most. A real ``java`` (Java 17 runs a source file): its main thread burns 0.4 s."""
    import os
    import sys

    from bench.spark import SEND_BEGIN, SEND_END, _run
    from tests.spark.conftest import java_executable

    java = java_executable()
    assert java is not None, "Java 17 is needed (as for every Spark test)"
    source = tmp_path / "Burn.java"
    source.write_text(BURN_JAVA)
    script = "\n".join(
        [
            "import subprocess, sys",
            _announce_marks(monkeypatch, tmp_path),
            f"print({SEND_BEGIN!r}, flush=True)",
            "wait_for_mark(1)",
            "kid = subprocess.Popen([sys.argv[1], sys.argv[2]], stdin=subprocess.PIPE,"
            " stdout=subprocess.PIPE, text=True)",
            "assert kid.stdout.readline().startswith('burnt')  # alive at the mark",
            f"print({SEND_END!r}, flush=True)",
            "wait_for_mark(2)",
            "kid.stdin.close(); kid.wait()",
        ]
    )
    code, out, err, usage = _run(
        [sys.executable, "-c", script, java, str(source)], dict(os.environ), cpu=True, whole=False
    )
    assert code == 0, err
    assert SEND_END in out
    threads, jvm = usage["jvm_threads_s"], usage["cpu_s"]["JVM"]
    assert 0.35 <= threads["other: java"] < 5, threads  # the main thread (the launcher's name)
    # Never more than the JVM's own; less by what threads that ended between two reads ran
    # (on a busy machine, JIT compiler threads come and go: up to 0.45 s seen here).
    assert 0.35 <= sum(threads.values()) <= jvm + 0.1, (threads, jvm)
    assert list(threads.values()) == sorted(threads.values(), reverse=True)


def test_jvm_thread_kinds_and_their_table() -> None:
    from bench.spark import jvm_thread_kind, jvm_thread_report

    assert jvm_thread_kind("C2 CompilerThre") == "JIT compiler C2"
    assert jvm_thread_kind("C1 CompilerThre") == "JIT compiler C1"
    assert jvm_thread_kind("Executor task l") == "task threads"
    assert jvm_thread_kind("GC Thread#1") == jvm_thread_kind("G1 Conc#0") == "garbage collector"
    assert jvm_thread_kind("Thread-17") == "other: Thread-#"
    rows = [
        {"run": "CLI", "latency_ms": 0.0, "cpu_s": {"run process": 40.0}},
        {"run": "local[2]", "latency_ms": 0.0, "jvm_threads_s": {
            "task threads": 3.0, "other: main": 0.5, "other: a": 0.04, "other: b": 0.01}},
        {"run": "local[1]", "latency_ms": 0.0, "jvm_threads_s": {
            "JIT compiler C2": 4.0, "other: b": 0.02}},
    ]  # fmt: skip
    table = jvm_thread_report(rows).splitlines()
    assert table[0] == "| JVM thread kind | local[2] 0 ms | local[1] 0 ms |"
    assert table[2:] == [
        "| JIT compiler C2 | 0.00 | 4.00 |",
        "| task threads | 3.00 | 0.00 |",
        "| other: main | 0.50 | 0.00 |",
        "| other: the rest (each under 0.05) | 0.05 | 0.02 |",
        "| **all threads** | 3.55 | 4.02 |",
    ]
