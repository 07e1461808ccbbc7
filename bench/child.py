"""One SDK, one burst, in its own process: ``python -m bench.child '<spec json>'``.

The parent (``bench.run``) resets the collector, starts this process and reads one JSON line
from its stdout. Order of work here:

1. Guard the network (loopback only), pick the JSON library, import and build the SDK.
2. Preallocate the per-call timings (``array('q')``), then take the baseline RSS and CPU.
3. The burst: build each event's properties (untimed), time the SDK call with
   ``perf_counter_ns`` (timed), store the duration.
4. The user's flush, then wait at the collector for all N events (its clock is the same
   ``CLOCK_MONOTONIC``, so "first call -> last event accepted" crosses processes).
5. CPU, peak RSS; only then sort the timings (sorting allocates) and shut the SDK down.

Modes: ``burst`` (the table), ``cached`` (hold N events in memory, measure RSS, then flush),
``profile`` (cProfile of the caller's thread during the burst).
"""

from __future__ import annotations

import json
import resource
import sys
import time
import urllib.request
from array import array
from typing import Any, Callable, Dict, List

__all__ = ["main", "run"]

USERS = [f"user-{i:05d}" for i in range(100)]
PAGES = ("/home", "/pricing", "/docs", "/signup")


def current_rss() -> int:
    """Resident set size now, in bytes (Linux ``/proc``; else the peak so far)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * resource.getpagesize()
    except OSError:
        return peak_rss()


def peak_rss() -> int:
    """Peak resident set size of this process, in bytes."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def cpu_seconds() -> float:
    """User + system CPU of this process (all threads)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def collector(base_url: str, command: str, timeout: float = 10.0) -> Dict[str, Any]:
    """Call a ``/_bench/...`` control endpoint and return its JSON."""
    with urllib.request.urlopen(base_url + "/_bench/" + command, timeout=timeout) as answer:
        return json.loads(answer.read())  # type: ignore[no-any-return]


def wait_for_delivery(base_url: str, n: int, deadline: float, stall: float = 3.0) -> Dict[str, Any]:
    """Wait at the collector until ``n`` events arrived, the deadline passed, or delivery
    stalled (no new event for ``stall`` seconds after the SDK's flush returned: a loss)."""
    last = -1
    while True:
        remaining = deadline - time.monotonic()
        stats = collector(
            base_url, f"wait?n={n}&timeout={max(0.0, min(stall, remaining))}", stall + 10
        )
        if stats["distinct"] >= n or remaining <= stall or stats["distinct"] == last:
            return stats
        last = stats["distinct"]


def burst(call: Callable[[str, Dict[str, Any]], Any], n: int, times: array[int]) -> None:
    """Make ``n`` calls; ``times[i]`` gets call ``i``'s duration in ns."""
    clock = time.perf_counter_ns
    users, pages = USERS, PAGES
    for i in range(n):
        props = {"seq": i, "page": pages[i & 3], "plan": "pro"}
        user = users[i % 100]
        start = clock()
        call(user, props)
        times[i] = clock() - start


def harness_overhead(samples: int = 20_000) -> float:
    """Median ns of the timing loop around a no-op call (what every figure includes)."""
    times = array("q", [0]) * samples
    burst(lambda user, props: None, samples, times)
    return float(sorted(times)[samples // 2])


def percentiles(times: array[int]) -> Dict[str, float]:
    """Median, p99, p99.9 and mean of the per-call durations, in µs."""
    ordered = sorted(times)
    n = len(ordered)
    if not n:
        return {"call_median_us": 0.0, "call_p99_us": 0.0, "call_p999_us": 0.0, "call_mean_us": 0.0}
    return {
        "call_median_us": ordered[n // 2] / 1000,
        "call_p99_us": ordered[min(n - 1, int(n * 0.99))] / 1000,
        "call_p999_us": ordered[min(n - 1, int(n * 0.999))] / 1000,
        "call_mean_us": sum(ordered) / n / 1000,
    }


def _select_json(lib: str) -> None:
    if lib == "stdlib":
        sys.modules["orjson"] = None  # type: ignore[assignment]  # import orjson -> ImportError


def run(spec: Dict[str, Any]) -> Dict[str, Any]:
    """Run one scenario and return its measurements."""
    from bench import netguard

    netguard.install()
    _select_json(str(spec.get("params", {}).get("json", "orjson")))
    from bench.sdks import make_adapter

    n = int(spec["events"])
    base_url = str(spec["base_url"])
    timeout = float(spec.get("timeout", 120))
    mode = spec.get("mode", "burst")
    harness_ns = harness_overhead()
    adapter = make_adapter(spec["sdk"], base_url, n, dict(spec.get("params", {})))
    times = array("q", [0]) * n  # no temporary: the baseline RSS below includes it
    rss_base, cpu_start = current_rss(), cpu_seconds()
    result: Dict[str, Any] = {"label": spec.get("label", spec["sdk"]), "sdk": spec["sdk"]}
    result["mode"] = mode
    result["events"] = n

    profiler = None
    if mode == "profile":
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    t_first = time.monotonic()
    burst(adapter.call, n, times)
    t_burst_end = time.monotonic()
    if profiler is not None:
        profiler.disable()
    result.update(adapter.after_burst())
    if mode == "cached":
        result["rss_cached_mb"] = (current_rss() - rss_base) / 2**20
    adapter.finish(timeout)
    t_flushed = time.monotonic()
    stats = wait_for_delivery(base_url, n, t_flushed + timeout)
    cpu_s = cpu_seconds() - cpu_start
    rss_peak = peak_rss()

    result.update(percentiles(times))
    result.update(_timing(stats, t_first, t_burst_end, t_flushed, n))
    result.update(
        cpu_s=cpu_s,
        rss_base_mb=rss_base / 2**20,
        rss_peak_mb=rss_peak / 2**20,
        rss_over_base_mb=(rss_peak - rss_base) / 2**20,
        requests=stats["requests"],
        wire_bytes=stats["body_bytes"],
        decoded_bytes=stats["decoded_bytes"],
        bytes_per_event=stats["body_bytes"] / n if n else 0.0,
        lost=stats["lost"],
        duplicates=stats["duplicates"],
        stray=stats["stray"],
        rejected=stats["rejected"],
        collector_cpu_s=stats["collector_cpu_s"],
        harness_ns=harness_ns,
        blocked=list(netguard.BLOCKED),
    )
    if profiler is not None:
        result["profile"] = _profile_text(profiler)
    adapter.close(timeout)
    result.update(adapter.info())
    return result


def _timing(
    stats: Dict[str, Any], t_first: float, t_burst_end: float, t_flushed: float, n: int
) -> Dict[str, Any]:
    last = stats.get("complete_at") or stats.get("last_accept") or t_flushed
    total = last - t_first
    return {
        "burst_s": t_burst_end - t_first,
        "flush_call_s": t_flushed - t_burst_end,
        "total_s": total,
        "drain_s": max(0.0, last - t_burst_end),
        "total_us_per_event": total / n * 1e6 if n else 0.0,
    }


def _profile_text(profiler: Any, top: int = 15) -> str:
    import io
    import pstats

    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("tottime").print_stats(top)
    lines: List[str] = out.getvalue().splitlines()
    # Keep the summary line and the table; drop pstats' blank and "Ordered by" preamble.
    return "\n".join(line.rstrip() for line in lines if line.strip())


def main(argv: List[str] | None = None) -> int:
    """Entry point: the spec is the first argument; the result is printed as one JSON line."""
    args = sys.argv[1:] if argv is None else argv
    spec = json.loads(args[0])
    result = run(spec)
    sys.stdout.write("BENCH_RESULT " + json.dumps(result) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
