"""Benchmark entry point: ``python -m bench`` (or ``python bench/run.py``).

Starts the bench collector in its own process, then runs each scenario in its own child
process (``bench.child``) one after the other, so every SDK has the machine, and its own RSS,
to itself. Prints a table, ratios and the issue's targets; ``--json FILE`` writes it all.

Examples:
    python -m bench                         # 50k events: ours, floor and the three peers
    python -m bench --all --json out.json   # + gzip, stdlib json, the 1k..1M curve, cProfile
    python -m bench --events 2000 --sdks ours,floor
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import IO, Any, Dict, List, Sequence, Tuple, cast

if __package__ in (None, ""):  # python bench/run.py
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import import_times, netguard, report
from bench.scenarios import Scenario, build_plan
from bench.sdks import REQUIRES

__all__ = ["main", "parse_args"]

ROOT = Path(__file__).resolve().parent.parent
ALL_SDKS = ("ours", "floor", "amplitude", "segment", "posthog")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=50_000, help="burst size (default 50000)")
    parser.add_argument(
        "--sdks", default=",".join(ALL_SDKS), help=f"comma-separated, from {','.join(ALL_SDKS)}"
    )
    parser.add_argument("--json", metavar="FILE", help="write every measurement as JSON")
    parser.add_argument("--gzip", action="store_true", help="also run ours with gzip=True")
    parser.add_argument(
        "--json-compare", action="store_true", help="also run ours and the floor with stdlib json"
    )
    parser.add_argument("--curve", action="store_true", help="ours at 1k..1M events + 100k cached")
    parser.add_argument("--profile", action="store_true", help="cProfile ours' caller thread")
    parser.add_argument(
        "--spool", action="store_true", help="also run ours with spoolMode on_failure and always"
    )
    parser.add_argument(
        "--all", action="store_true", help="--gzip --json-compare --curve --profile --spool"
    )
    parser.add_argument(
        "--repeat", type=int, default=1, help="run each main-table SDK N times, report the median"
    )
    parser.add_argument(
        "--latency-ms",
        default="0",
        help="collector latencies for the main SDKs, e.g. 0,50,100,200 (default 0 only)",
    )
    parser.add_argument("--no-imports", action="store_true", help="skip the import-time comparison")
    parser.add_argument("--timeout", type=float, default=120.0, help="per-run delivery deadline")
    args = parser.parse_args(argv)
    if args.all:
        args.gzip = args.json_compare = args.curve = args.profile = args.spool = True
    try:
        args.latencies = [float(ms) for ms in args.latency_ms.split(",") if ms.strip()]
    except ValueError:
        parser.error(f"--latency-ms: not a list of numbers: {args.latency_ms!r}")
    unknown = set(args.sdks.split(",")) - set(ALL_SDKS)
    if unknown:
        parser.error(f"unknown sdk(s): {', '.join(sorted(unknown))}")
    return args


def machine() -> Dict[str, Any]:
    """CPU count and model, Python version, platform."""
    model = platform.processor() or "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "loadavg_1m_at_start": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
        "nproc": os.cpu_count(),
        "cpu": model,
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
    }


class CollectorProcess:
    """The bench collector in a child process; stops when its stdin closes."""

    def __init__(self, env: Dict[str, str]) -> None:
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "bench.collector"],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        line = cast(IO[str], self._proc.stdout).readline()
        if not line.startswith("PORT "):
            self._proc.kill()
            raise RuntimeError(f"bench collector did not start: {line!r}")
        self.url = f"http://127.0.0.1:{int(line.split()[1])}"

    def command(self, name: str) -> Dict[str, Any]:
        """Call a ``/_bench/`` control endpoint."""
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(self.url + "/_bench/" + name, data=b"", timeout=30) as answer:
            return json.loads(answer.read())  # type: ignore[no-any-return]

    def close(self) -> None:
        """Close stdin and wait for the process."""
        cast(IO[str], self._proc.stdin).close()
        try:
            self._proc.wait(10)
        except subprocess.TimeoutExpired:
            self._proc.kill()


def available(sdks: Sequence[str]) -> Tuple[List[str], Dict[str, str]]:
    """The SDKs whose package is importable, and why the others are skipped."""
    ok, skipped = [], {}
    for sdk in sdks:
        module = REQUIRES.get(sdk)
        try:
            found = module is None or importlib.util.find_spec(module) is not None
        except ModuleNotFoundError:
            found = False
        if found:
            ok.append(sdk)
        else:
            skipped[sdk] = f"{module} is not installed (pip install -e .[bench])"
    return ok, skipped


def run_scenario(
    scenario: Scenario, collector: CollectorProcess, env: Dict[str, str], timeout: float
) -> Dict[str, Any]:
    """Reset the collector, run one child, return its result row (or an error row)."""
    collector.command(f"reset?n={scenario.events}&latency_ms={scenario.latency_ms}")
    spec = scenario.spec(collector.url, timeout)
    started = time.monotonic()
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "bench.child", json.dumps(spec)],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout + 60,
        )
    except subprocess.TimeoutExpired:
        return {"label": scenario.label, "group": scenario.group, "error": "child timed out"}
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith("BENCH_RESULT "):
            row: Dict[str, Any] = json.loads(line[len("BENCH_RESULT ") :])
            row.update(
                label=scenario.label,
                group=scenario.group,
                latency_ms=scenario.latency_ms,
                wall_s=time.monotonic() - started,
            )
            return row
    tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
    return {
        "label": scenario.label,
        "group": scenario.group,
        "error": " | ".join(tail) or "no result",
    }


def median_run(runs: List[Dict[str, Any]]) -> Dict[str, Any]:
    """The run with the median total time; every run's key figures are kept under ``runs``."""
    good = sorted((r for r in runs if "error" not in r), key=lambda r: r["total_s"])
    if not good:
        return runs[-1]
    chosen = dict(good[(len(good) - 1) // 2])
    if len(runs) > 1:
        keys = ("call_median_us", "call_p99_us", "total_s", "drain_s", "cpu_s", "rss_over_base_mb")
        chosen["runs"] = [{k: r.get(k) for k in keys} if "error" not in r else r for r in runs]
        # Loss or duplicates in any run must show, not only in the median one.
        chosen["lost"] = max(r.get("lost", 0) for r in good)
        chosen["duplicates"] = max(r.get("duplicates", 0) for r in good)
        if len(good) < len(runs):
            chosen["failed_runs"] = len(runs) - len(good)
    return chosen


def json_lib() -> str:
    """The JSON library our client will use: orjson when importable."""
    return "orjson" if importlib.util.find_spec("orjson") is not None else "stdlib"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; returns 0, or 1 when a run lost or duplicated events or failed."""
    args = parse_args(argv)
    sdks, skipped = available([s.strip() for s in args.sdks.split(",") if s.strip()])
    lib = json_lib()
    plan = build_plan(
        sdks,
        args.events,
        lib,
        gzip=args.gzip,
        json_compare=args.json_compare,
        curve=args.curve,
        profile=args.profile,
        spool=args.spool,
        latencies=args.latencies,
    )
    env = netguard.scrub_proxy_env()
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH", "")]))
    host = machine()
    collector = CollectorProcess(env)
    rows: List[Dict[str, Any]] = []
    started = time.monotonic()
    try:
        for scenario in plan:
            repeat = max(1, args.repeat) if scenario.group == "main" else 1
            runs = []
            for i in range(repeat):
                print(
                    f"running {scenario.label} ({scenario.events:,} events, {i + 1}/{repeat})...",
                    file=sys.stderr,
                    flush=True,
                )
                runs.append(run_scenario(scenario, collector, env, args.timeout))
            rows.append(median_run(runs))
    finally:
        collector.close()
    imports = None if args.no_imports else import_times.compare(env)
    result: Dict[str, Any] = {
        "command": "python -m bench " + " ".join(sys.argv[1:] if argv is None else argv),
        "machine": host,
        "json_lib": lib,
        "events": args.events,
        "repeat": args.repeat,
        "wall_s": time.monotonic() - started,
        "skipped": skipped,
        "rows": rows,
        "imports": imports,
    }
    if hasattr(os, "getloadavg"):
        result["machine"]["loadavg_1m_at_end"] = round(os.getloadavg()[0], 2)
    result["ratios"] = report.ratios(rows)
    result["targets"] = report.check_targets(rows, imports)
    print(report.format_report(result))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    failed = any(
        "error" in r
        or r.get("lost")
        or r.get("duplicates")
        or r.get("blocked")
        or r.get("failed_runs")
        for r in rows
    )
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
