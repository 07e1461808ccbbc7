"""The Spark row: ``send_dataframe`` on ``local[1]``/``local[2]`` beside ``amplitude-legacy send``.

    pip install -e '.[spark]'
    python -m bench.spark                          # 1M events, 0 and 100 ms latency (~10 min)
    python -m bench.spark --events 100000 --latency-ms 0 --json spark.json

One events file (JSON lines: ``bench_event``, 1,000 users, ``time``, ``seq``/``page``/``plan``
properties) and the same events as Parquet (8 files, written by Spark). For each collector
latency, three runs against the bench collector (``bench/collector.py`` with a delay before
each answer, served from this otherwise idle parent process): the CLI on the JSON-lines file,
then ``send_dataframe`` on the Parquet files with ``local[1]`` and ``local[2]``, each in a
fresh process. Spark runs time the ``send_dataframe`` call only (session start and one small
warm-up send are reported apart: a Spark user has a running session); the CLI run is timed
from process start to exit. Every run must deliver each ``seq`` once. Results:
``docs/performance.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any, Dict, List, Sequence, Tuple

if __package__ in (None, ""):  # python bench/spark.py
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import netguard
from bench.collector import BenchCollector, freeze_heap

__all__ = ["main"]

ROOT = Path(__file__).resolve().parent.parent
API_KEY = "bench-api-key"
PARQUET_FILES = 8
PAGES = ("/", "/pricing", "/docs", "/signup")
OUTCOME_STATS = ("distinct", "duplicates", "lost", "requests")
#: Printed by a Spark child around its timed send (for ``--cpu``).
SEND_BEGIN, SEND_END = "BENCH_SEND_BEGIN", "BENCH_SEND_END"
SCHEMA = (
    "event_type string, user_id string, time long, "
    "event_properties struct<seq: long, page: string, plan: string>"
)


class SlowCollector(BenchCollector):
    """The bench collector, answering each Amplitude request after ``latency`` seconds.

    The delay runs on the connection's own thread (the server has one per connection), so
    concurrent clients wait in parallel, as they would on a real network.
    """

    def __init__(self, latency: float) -> None:
        super().__init__()
        self.latency = latency

    def ingest(self, path: str, headers: Dict[str, str], raw: bytes) -> Tuple[int, bytes]:
        """Count the request, then wait before the answer goes out."""
        answer = super().ingest(path, headers, raw)
        if self.latency:
            time.sleep(self.latency)
        return answer


def control(base_url: str, command: str) -> Dict[str, Any]:
    """Call a ``/_bench/`` endpoint of the collector."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(f"{base_url}/_bench/{command}", data=b"", timeout=600) as answer:
        return json.loads(answer.read())  # type: ignore[no-any-return]


# ---------------------------------------------------------------------------- data


def write_events(path: Path, n: int) -> None:
    """The JSON-lines file the CLI reads (and Spark converts to Parquet)."""
    with path.open("w", encoding="utf-8") as out:
        for i in range(n):
            event = {
                "event_type": "bench_event",
                "user_id": f"user-{i % 1000:04d}",
                "time": 1_700_000_000_000 + i,
                "event_properties": {"seq": i, "page": PAGES[i & 3], "plan": "pro"},
            }
            out.write(json.dumps(event, separators=(",", ":")) + "\n")


def session(master: str, app: str) -> Any:
    """A loopback-only Spark session, quiet, with the Python workers on this interpreter."""
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    from pyspark.sql import SparkSession

    spark = (
        SparkSession.builder.master(master)
        .appName(app)
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.sql.files.openCostInBytes", "0")  # one partition per Parquet file
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def prepare(jsonl: str, parquet: str) -> int:
    """Write the events file as ``PARQUET_FILES`` Parquet files."""
    spark = session("local[2]", "bench-spark-prepare")
    df = spark.read.schema(SCHEMA).json(jsonl)
    df.repartition(PARQUET_FILES).write.mode("overwrite").parquet(parquet)
    spark.stop()
    return 0


# ---------------------------------------------------------------------------- runs


def child(spec: Dict[str, Any]) -> int:
    """One ``send_dataframe`` run in a fresh process; prints ``BENCH_RESULT {json}``."""
    started = time.monotonic()
    spark = session(spec["master"], "bench-spark")
    from amplitude_legacy.spark import send_dataframe

    largest = max(f.stat().st_size for f in Path(spec["parquet"]).glob("*.parquet"))
    spark.conf.set("spark.sql.files.maxPartitionBytes", str(largest))
    df = spark.read.parquet(spec["parquet"])
    options = {"serverUrl": spec["url"] + "/2/httpapi"}
    session_s = time.monotonic() - started
    warm = time.monotonic()
    send_dataframe(df.limit(2000), API_KEY, options)  # JIT, Python workers, imports
    warm_s = time.monotonic() - warm
    control(spec["url"], f"reset?n={spec['events']}")
    print(SEND_BEGIN, flush=True)  # the parent's CPU sampler marks the timed send
    begin = time.monotonic()
    result = send_dataframe(df, API_KEY, options)
    send_s = time.monotonic() - begin
    print(SEND_END, flush=True)
    stats = control(spec["url"], f"wait?n={spec['events']}&timeout=30")
    row = {
        "partitions": df.rdd.getNumPartitions(),
        "session_s": round(session_s, 2),
        "warmup_s": round(warm_s, 2),
        "send_s": round(send_s, 2),
        "delivered": result.summary.delivered,
        "summary": str(result.summary),
        **{k: stats[k] for k in OUTCOME_STATS},
    }
    spark.stop()
    print("BENCH_RESULT " + json.dumps(row), flush=True)
    return 0


#: JVM thread names (``/proc``'s ``comm``: the first 15 characters) by prefix, and their kind.
JVM_THREAD_KINDS = (
    ("C2 Compiler", "JIT compiler C2"),
    ("C1 Compiler", "JIT compiler C1"),
    ("Executor task", "task threads"),
    ("GC Thread", "garbage collector"),
    ("G1 ", "garbage collector"),
    ("VM Thread", "VM thread (safepoints)"),
)


def jvm_thread_kind(comm: str) -> str:
    """The kind of a JVM thread, from its name; other names with their digits as ``#``."""
    for prefix, kind in JVM_THREAD_KINDS:
        if comm.startswith(prefix):
            return kind
    return "other: " + re.sub(r"\d+", "#", comm)


class CpuSampler:
    """CPU-seconds of a run's process tree by kind, and of this process, between two marks.

    Every ``period`` seconds it reads ``cpu_times`` of the run's process and its descendants
    (psutil): the JVM (``java``), the Python workers (other Python processes), the run's own
    process (the CLI, or the Spark driver) and any other (``spark-submit``'s shell). This
    process serves the collector, so its own CPU time is the collector's (plus this sampler's,
    which is small). A process that exits counts with its last sample, at most ``period`` old.
    The tree itself is listed again every ``rescan`` seconds and at each mark (listing it reads
    every process's ``/proc`` entry: at every sample that was a tenth of this process's CPU);
    a process found late still counts in full, as ``cpu_times`` counts from its start.

    The JVM's threads are read too (``/proc/<pid>/task/*/stat``), at each rescan and mark,
    and summed by ``jvm_thread_kind``: the JIT compilers, the collector, the task threads.
    A thread that ends between two reads loses what it ran since the last one.
    """

    def __init__(self, pid: int, period: float = 0.2, rescan: float = 1.0) -> None:
        try:
            import psutil
        except ImportError as exc:
            raise SystemExit("--cpu needs psutil: pip install -e '.[bench]'") from exc
        self._psutil = psutil
        self._root = psutil.Process(pid)
        self._period = period
        self._rescan_every = max(1, round(rescan / period))
        self._procs: Dict[int, Tuple[Any, str]] = {}  # pid -> (Process, kind)
        self._latest: Dict[int, Tuple[str, float]] = {}  # pid -> (kind, CPU-seconds)
        self._lock = threading.Lock()  # the sampler thread and mark() both sample
        self._marks: List[Dict[str, float]] = []
        self._threads: Dict[Tuple[int, int], Tuple[str, float]] = {}  # (pid, tid) -> kind, CPU
        self._thread_marks: List[Dict[Tuple[int, int], Tuple[str, float]]] = []
        self._ticks = os.sysconf("SC_CLK_TCK")
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="cpu-sampler", daemon=True)
        self._thread.start()

    def _kind(self, proc: Any) -> str:
        if proc.pid == self._root.pid:
            return "run process"
        name = proc.name()
        return "JVM" if name == "java" else "Python workers" if "python" in name else "other"

    def _list(self) -> None:
        """Find the run's processes (new ones join; known ones keep their ``Process``)."""
        try:
            found = [self._root, *self._root.children(recursive=True)]
        except self._psutil.Error:
            return  # the run's process has exited: keep the last samples
        for proc in found:
            if proc.pid not in self._procs:
                try:
                    self._procs[proc.pid] = (proc, self._kind(proc))
                except self._psutil.Error:
                    continue

    def _sample(self, rescan: bool) -> None:
        with self._lock:
            if rescan:
                self._list()
            for pid, (proc, kind) in list(self._procs.items()):
                try:
                    times = proc.cpu_times()
                except self._psutil.Error:
                    del self._procs[pid]  # exited: its last sample stays in _latest
                    continue
                self._latest[pid] = (kind, times.user + times.system)
                if rescan and kind == "JVM":
                    self._read_threads(pid)

    def _read_threads(self, pid: int) -> None:
        """CPU-seconds of each of the JVM's threads so far (``utime + stime`` in ``stat``)."""
        base = f"/proc/{pid}/task"
        try:
            tids = os.listdir(base)
        except OSError:
            return
        for tid in tids:
            try:
                with open(f"{base}/{tid}/stat") as stat:
                    text = stat.read()
            except OSError:
                continue  # ended since the listing
            comm = text[text.index("(") + 1 : text.rindex(")")]
            fields = text[text.rindex(")") + 2 :].split()
            cpu = (int(fields[11]) + int(fields[12])) / self._ticks
            self._threads[(pid, int(tid))] = (jvm_thread_kind(comm), cpu)

    def _loop(self) -> None:
        count = 0
        while not self._done.wait(self._period):
            count += 1
            self._sample(rescan=count % self._rescan_every == 0)

    def mark(self) -> None:
        """Take the totals by kind now (the first and last marks bound the window)."""
        self._sample(rescan=True)
        totals: Dict[str, float] = {"collector (this process)": time.process_time()}
        with self._lock:
            for kind, cpu in self._latest.values():
                totals[kind] = totals.get(kind, 0.0) + cpu
            self._thread_marks.append(dict(self._threads))
        self._marks.append(totals)

    def stop(self) -> Dict[str, float]:
        """Stop sampling; CPU-seconds by kind between the first and the last mark."""
        self._done.set()
        self._thread.join()
        if len(self._marks) < 2:
            return {}
        first, last = self._marks[0], self._marks[-1]
        return {kind: round(last[kind] - first.get(kind, 0.0), 1) for kind in last}

    def jvm_threads(self) -> Dict[str, float]:
        """The JVM's CPU-seconds by thread kind between the first and the last mark (a
        thread started after the first counts in full), largest first."""
        if len(self._thread_marks) < 2:
            return {}
        first, last = self._thread_marks[0], self._thread_marks[-1]
        totals: Dict[str, float] = {}
        for key, (kind, cpu) in last.items():
            before = first[key][1] if key in first else 0.0
            totals[kind] = totals.get(kind, 0.0) + cpu - before
        ranked = sorted(totals.items(), key=lambda item: -item[1])
        return {kind: round(cpu, 2) for kind, cpu in ranked if cpu >= 0.005}


def _run(cmd: List[str], env: Dict[str, str], cpu: bool, whole: bool) -> Tuple[int, str, str, Any]:
    """Run ``cmd``; with ``cpu``, sample its CPU over the whole run (``whole``) or between the
    ``SEND_BEGIN`` and ``SEND_END`` lines it prints. Returns code, stdout, stderr, and the CPU
    (``{"cpu_s": by process kind, "jvm_threads_s": the JVM's by thread kind}``, or ``{}``)."""
    with tempfile.TemporaryFile("w+") as err:  # a file: a full stderr pipe cannot stall it
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=err,
                                text=True)  # fmt: skip
        sampler = CpuSampler(proc.pid) if cpu else None
        if sampler and whole:
            sampler.mark()
        out = []
        assert proc.stdout is not None
        for line in proc.stdout:
            out.append(line)
            if sampler and not whole and line.strip() in (SEND_BEGIN, SEND_END):
                sampler.mark()
        if sampler and whole:
            sampler.mark()  # before wait(): the process may still be sampled
        code = proc.wait()
        err.seek(0)
        stdout, stderr = "".join(out), err.read()
        if sampler is None or not (by_process := sampler.stop()):
            return code, stdout, stderr, {}
        threads = sampler.jvm_threads()
        usage = {"cpu_s": by_process, **({"jvm_threads_s": threads} if threads else {})}
        return code, stdout, stderr, usage


def run_cli(
    events: Path, collector: SlowCollector, n: int, env: Dict[str, str], cpu: bool = False
) -> Dict[str, Any]:
    """``amplitude-legacy send`` on the JSON-lines file, timed from start to exit."""
    collector.reset(n)
    url = f"http://127.0.0.1:{collector.port}/2/httpapi"
    begin = time.monotonic()
    code, out, err, usage = _run(
        [sys.executable, "-m", "amplitude_legacy", "send", str(events), "--api-key", API_KEY,
         "--server-url", url, "--progress", "none"],
        env, cpu, whole=True,
    )  # fmt: skip
    send_s = time.monotonic() - begin
    stats = collector.wait(n, 30)
    if code != 0:
        return {"error": (err or out).strip().splitlines()[-3:]}
    return {"send_s": round(send_s, 2), **{k: stats[k] for k in OUTCOME_STATS}, **usage}


def run_spark(
    master: str, parquet: Path, url: str, n: int, env: Dict[str, str], cpu: bool = False
) -> Dict[str, Any]:
    """One ``child`` process."""
    spec = {"master": master, "parquet": str(parquet), "url": url, "events": n}
    code, out, err, usage = _run(
        [sys.executable, "-m", "bench.spark", "child", json.dumps(spec)], env, cpu, whole=False
    )
    for line in reversed(out.splitlines()):
        if line.startswith("BENCH_RESULT "):
            row: Dict[str, Any] = json.loads(line[len("BENCH_RESULT ") :])
            return {**row, **usage}
    return {"error": (err or out).strip().splitlines()[-3:] or [f"exit {code}"]}


def cpu_report(rows: List[Dict[str, Any]]) -> str:
    """CPU-seconds by process kind during each timed run (``--cpu``)."""
    kinds = sorted({kind for r in rows for kind in r.get("cpu_s", {})})
    lines = ["| run | latency | " + " | ".join(kinds) + " | total |",
             "|---|---:|" + "---:|" * (len(kinds) + 1)]  # fmt: skip
    for r in rows:
        cpu = r.get("cpu_s")
        if cpu:
            cells = [f"{cpu.get(kind, 0.0):.1f}" for kind in kinds]
            total = f"{sum(cpu.values()):.1f}"
            lines.append(f"| {r['run']} | {r['latency_ms']:g} ms | {' | '.join(cells)} | {total} |")
    return "\n".join(lines)


def jvm_thread_report(rows: List[Dict[str, Any]]) -> str:
    """The JVM's CPU-seconds by thread kind during each timed Spark run (``--cpu``); the
    other threads under 0.05 s in every run share one line."""
    runs = [r for r in rows if r.get("jvm_threads_s")]
    small = "other: the rest (each under 0.05)"
    totals: Dict[str, float] = {}
    for r in runs:
        for kind, cpu in r["jvm_threads_s"].items():
            totals[kind] = totals.get(kind, 0.0) + cpu
    minor = {k for k in totals if k.startswith("other")
             and all(r["jvm_threads_s"].get(k, 0.0) < 0.05 for r in runs)}  # fmt: skip
    if len(minor) > 1:
        runs = [{**r, "jvm_threads_s": _fold(r["jvm_threads_s"], minor, small)} for r in runs]
        totals = {k: v for k, v in totals.items() if k not in minor}
        totals[small] = 0.0  # last of the others
    kinds = sorted(totals, key=lambda k: (k.startswith("other"), k == small, -totals[k]))
    lines = ["| JVM thread kind | " + " | ".join(
                 f"{r['run']} {r['latency_ms']:g} ms" for r in runs) + " |",
             "|---|" + "---:|" * len(runs)]  # fmt: skip
    for kind in kinds:
        cells = [f"{r['jvm_threads_s'].get(kind, 0.0):.2f}" for r in runs]
        lines.append(f"| {kind} | {' | '.join(cells)} |")
    sums = [f"{sum(r['jvm_threads_s'].values()):.2f}" for r in runs]
    lines.append(f"| **all threads** | {' | '.join(sums)} |")
    return "\n".join(lines)


def _fold(threads: Dict[str, float], minor: Any, name: str) -> Dict[str, float]:
    folded = {k: v for k, v in threads.items() if k not in minor}
    folded[name] = sum(v for k, v in threads.items() if k in minor)
    return folded


def report(rows: List[Dict[str, Any]], n: int) -> str:
    """The Markdown table of ``docs/performance.md``."""
    lines = [
        f"| {n:,} events | latency | time (s) | events/s | vs CLI | partitions | delivered once |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    cli = {r["latency_ms"]: r for r in rows if r["run"] == "CLI"}
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['run']} | {r['latency_ms']:g} ms | error: {r['error']} |||||")
            continue
        rate = n / r["send_s"]
        base = cli.get(r["latency_ms"])
        ratio = f"{base['send_s'] / r['send_s']:.2f}x" if base and "send_s" in base else "?"
        once = r["distinct"] == n and not r["duplicates"]
        lines.append(
            f"| {r['run']} | {r['latency_ms']:g} ms | {r['send_s']:.1f} | {rate:,.0f} | {ratio} "
            f"| {r.get('partitions', '')} | {'yes' if once else 'NO'} |"
        )
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Command-line options (and the internal ``prepare`` and ``child`` commands)."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.spark", description=__doc__.split("\n")[0]
    )
    parser.add_argument("command", nargs="?", default="run", choices=("run", "prepare", "child"))
    parser.add_argument("args", nargs="*", help=argparse.SUPPRESS)
    parser.add_argument("--events", type=int, default=1_000_000, help="events (default 1000000)")
    parser.add_argument("--latency-ms", default="0,100", help="collector latencies (default 0,100)")
    parser.add_argument("--masters", default="local[1],local[2]", help="Spark masters to run")
    parser.add_argument("--json", metavar="FILE", help="write the rows as JSON")
    parser.add_argument(
        "--cpu",
        action="store_true",
        help="also report CPU-seconds by process (JVM, workers, collector), and the JVM's "
        "by thread (JIT compilers, garbage collector, task threads, others)",
    )
    return parser.parse_args(argv)  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    """Run the comparison (or one of the internal commands); 1 if a run lost or duplicated."""
    args = parse_args(argv)
    if args.command == "prepare":
        return prepare(*args.args)
    if args.command == "child":
        return child(json.loads(args.args[0]))
    env = netguard.scrub_proxy_env()
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH", "")]))
    env.setdefault("PYSPARK_PYTHON", sys.executable)
    rows: List[Dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-spark-") as tmp:
        events, parquet = Path(tmp, "events.jsonl"), Path(tmp, "events.parquet")
        print(f"writing {args.events:,} events...", file=sys.stderr, flush=True)
        write_events(events, args.events)
        subprocess.run([sys.executable, "-m", "bench.spark", "prepare", str(events), str(parquet)],
                       cwd=ROOT, env=env, check=True, capture_output=True)  # fmt: skip
        freeze_heap()  # this process serves the collector
        for latency in (float(x) for x in args.latency_ms.split(",")):
            # In this process: it only waits for the runs, so the collector has its GIL.
            collector = SlowCollector(latency / 1000.0).start()
            url = f"http://127.0.0.1:{collector.port}"
            try:
                for name in ["CLI", *args.masters.split(",")]:
                    print(f"running {name} at {latency:g} ms...", file=sys.stderr, flush=True)
                    if name == "CLI":
                        result = run_cli(events, collector, args.events, env, args.cpu)
                    else:
                        result = run_spark(name, parquet, url, args.events, env, args.cpu)
                    load = round(os.getloadavg()[0], 2)  # this box is shared: keep the context
                    row = {"run": name, "latency_ms": latency, "load_1m_after": load, **result}
                    print(json.dumps(row), file=sys.stderr, flush=True)
                    rows.append(row)
            finally:
                collector.stop()
    print(report(rows, args.events))
    if args.cpu:
        print("\nCPU-seconds during each timed run\n\n" + cpu_report(rows))
        if any(r.get("jvm_threads_s") for r in rows):
            print("\nThe JVM's CPU-seconds by thread during each timed run\n\n"
                  + jvm_thread_report(rows))  # fmt: skip
    if args.json:
        Path(args.json).write_text(
            json.dumps({"events": args.events, "rows": rows}, indent=2) + "\n"
        )
    bad = [r for r in rows if "error" in r or r["distinct"] != args.events or r["duplicates"]]
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
