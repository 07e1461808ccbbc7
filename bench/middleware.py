"""Per-event cost of the ready-made middleware: ``python -m bench.middleware``.

Each scenario runs in a fresh process of its own (``--child``): a client aimed at a bundled
``Collector`` whose worker never sends while the timing loop runs (``uploadIntervalInSec``
an hour, ``maxCachedEvents`` above the burst), so the loop measures the caller's thread only.
Every event is built before its call (untimed); ``logEvent`` alone is timed with
``perf_counter_ns``. Afterwards the client flushes and the counts are checked (nothing lost,
only the expected drop reasons), so a scenario that silently dropped everything cannot look
fast. Each row is the median, over ``--repeat`` processes, of the median per call.

The event: ``Checkout Completed``, a user from a pool of 100, ``ip``, ``user_agent`` and ten
event properties (one of them a per-event e-mail, one a per-event order id), validated
against a 10-property JSON Schema.

Examples:
    python -m bench.middleware                          # every scenario, 20k events, 3 runs
    python -m bench.middleware --only bare,noop,chain --events 2000 --repeat 1
    python -m bench.middleware --json middleware.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Sequence, Tuple

if __package__ in (None, ""):  # python bench/middleware.py
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

__all__ = ["SCENARIOS", "main"]

ROOT = Path(__file__).resolve().parent.parent
USERS = [f"user-{i:05d}" for i in range(100)]
SALT = b"bench-salt"
PLAN = {
    "Checkout Completed": {
        "type": "object",
        "properties": {
            "plan": {"type": "string", "enum": ["free", "pro", "team"]},
            "amount": {"type": "number", "minimum": 0},
            "currency": {"type": "string", "pattern": "^[A-Z]{3}$"},
            "items": {"type": "integer", "minimum": 1},
            "coupon": {"type": ["string", "null"]},
            "page": {"type": "string"},
            "referrer": {"type": "string"},
            "first_purchase": {"type": "boolean"},
            "email": {"type": "string"},
            "order_id": {"type": "string", "minLength": 1},
        },
        "required": ["plan", "amount", "currency", "order_id"],
        "additionalProperties": False,
    }
}
PROPERTY_NAMES = list(PLAN["Checkout Completed"]["properties"])  # type: ignore[index]

#: name -> (what it adds, the drop reasons it may cause, the goal in µs over the no-op chain)
SCENARIOS: Dict[str, Tuple[str, Tuple[str, ...], float | None]] = {
    "bare": ("no middleware", (), None),
    "noop": ("one user middleware that only calls next (the chain's own cost)", (), None),
    "drop_events": ('drop_events("Health Check", "debug.*"), event passes', (), 1.0),
    "keep_events": ('keep_events("Checkout *"), event kept', (), 1.0),
    "sample": ("sample(0.5) by user_id (about half dropped)", ("sampled_out",), 1.0),
    "drop_bots": ("drop_bots(), a browser user agent", (), None),
    "enrich": ('enrich({"service": ..., "region": ...})', (), 1.0),
    "rename_events": ('rename_events({"Checkout Completed": "Order Completed"})', (), 1.0),
    "set_defaults": ("set_defaults(app_version=..., platform=...)", (), None),
    "redact_remove": ('redact(["ip", "event_properties.email"])', (), None),
    "redact_hash": ('redact("event_properties.email", "hash"): a new e-mail per event', (), 3.0),
    "redact_hash_ids": ('redact("user_id", "hash"): 100 users, repeating', (), 3.0),
    "allow_properties": ("allow_properties: 10 listed, 1 extra removed", (), None),
    "validate": ("validate(plan): a 10-property JSON Schema, valid event", (), 5.0),
    "route": ('route("*", AmplitudeDestination(...)): every event copied', (), None),
    "chain": ("drop_events + redact(hash) + validate + route (every event)", (), None),
}
CHAIN_GOAL_US = 15.0


def _event(i: int) -> Dict[str, Any]:
    return {
        "event_type": "Checkout Completed",
        "user_id": USERS[i % 100],
        "ip": "203.0.113.7",
        "user_agent": "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0",
        "event_properties": {
            "plan": "pro",
            "amount": 49.5,
            "currency": "EUR",
            "items": 2,
            "coupon": None,
            "page": "/checkout",
            "referrer": "/cart",
            "first_purchase": i % 2 == 0,
            "email": f"buyer{i}@example.com",
            "order_id": f"o-{i}",
        },
    }


def _chain(scenario: str, second_url: str) -> Tuple[List[Any], List[Any]]:
    """The middleware of ``scenario`` and the destinations to close after."""
    from amplitude_legacy import middleware as m

    def destination() -> Any:
        return m.AmplitudeDestination(
            "SECOND_PROJECT_KEY",
            {"serverUrl": second_url, "uploadIntervalInSec": 3600, "maxCachedEvents": 10**9},
        )

    if scenario == "route":
        dest = destination()
        return [m.route("*", dest)], [dest]
    if scenario == "chain":
        dest = destination()
        return [
            m.drop_events("Health Check", "debug.*"),
            m.redact(["ip", "event_properties.email"], "hash", salt=SALT),
            m.validate(PLAN),
            m.route("*", dest),
        ], [dest]
    single: Dict[str, Callable[[], Any]] = {
        "noop": lambda: lambda payload, next: next(payload),
        "drop_events": lambda: m.drop_events("Health Check", "debug.*"),
        "keep_events": lambda: m.keep_events("Checkout *"),
        "sample": lambda: m.sample(0.5),
        "drop_bots": lambda: m.drop_bots(),
        "enrich": lambda: m.enrich({"service": "billing", "region": "eu-west-1"}),
        "rename_events": lambda: m.rename_events({"Checkout Completed": "Order Completed"}),
        "set_defaults": lambda: m.set_defaults(app_version="2.4.1", platform="Web"),
        "redact_remove": lambda: m.redact(["ip", "event_properties.email"]),
        "redact_hash": lambda: m.redact("event_properties.email", "hash", salt=SALT),
        "redact_hash_ids": lambda: m.redact("user_id", "hash", salt=SALT),
        "allow_properties": lambda: m.allow_properties({"event_properties": PROPERTY_NAMES[:-1]}),
        "validate": lambda: m.validate(PLAN),
    }
    return ([single[scenario]()] if scenario in single else []), []


def child(scenario: str, events: int) -> Dict[str, Any]:
    """Run one scenario in this process; return its figures (one JSON line on stdout)."""
    import amplitude_legacy
    from amplitude_legacy.testing import Collector

    with Collector() as main, Collector() as second:
        client = amplitude_legacy.NodeClient(
            "BENCH_KEY",
            server_url=main.http_api_url,
            upload_interval_in_sec=3600,
            max_cached_events=10**9,
            max_queue_size=events + 1,
        )
        chain, destinations = _chain(scenario, second.http_api_url)
        for middleware in chain:
            client.addEventMiddleware(middleware)
        prepared = [_event(i) for i in range(events)]
        timings = [0] * events
        log, clock = client.logEvent, time.perf_counter_ns
        for i, event in enumerate(prepared):
            started = clock()
            log(event)
            timings[i] = clock() - started
        flushed = client.flush(60)
        stats = client.stats()
        client.shutdown(10)
        for destination in destinations:
            destination.shutdown(10)
    allowed = set(SCENARIOS[scenario][1])
    lost = events - stats.delivered - sum(stats.dropped.values())
    unexpected = {k: v for k, v in stats.dropped.items() if k not in allowed}
    if lost or unexpected or flushed.pending:
        raise SystemExit(f"{scenario}: lost {lost}, unexpected drops {unexpected}, {flushed}")
    timings.sort()
    return {
        "scenario": scenario,
        "events": events,
        "median_us": timings[len(timings) // 2] / 1000,
        "p99_us": timings[int(len(timings) * 0.99)] / 1000,
        "delivered": stats.delivered,
        "dropped": dict(stats.dropped),
    }


def _run_child(scenario: str, events: int) -> Dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "bench.middleware", "--child", scenario, "--events", str(events)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if done.returncode != 0:
        raise SystemExit(f"{scenario} failed:\n{done.stdout}\n{done.stderr}")
    result: Dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def table(rows: List[Dict[str, Any]]) -> str:
    """The Markdown table of ``rows`` (one per scenario, medians over the repeats)."""
    by_name = {row["scenario"]: row for row in rows}
    bare = by_name.get("bare", {}).get("median_us")
    noop = by_name.get("noop", {}).get("median_us")
    lines = [
        "| scenario | µs/call median | p99 | vs bare | vs no-op | goal | met |",
        "|---|---:|---:|---:|---:|---|---|",
    ]
    for row in rows:
        name, median = row["scenario"], row["median_us"]
        goal = SCENARIOS[name][2]
        over_bare = f"+{median - bare:.2f}" if bare is not None and name != "bare" else ""
        over_noop = (
            f"{median - noop:+.2f}" if noop is not None and name not in ("bare", "noop") else ""
        )
        goal_text, met = "", ""
        if goal is not None and noop is not None:
            goal_text, met = f"≤ {goal:g} µs over no-op", "yes" if median - noop <= goal else "no"
        if name == "chain":
            goal_text = f"< {CHAIN_GOAL_US:g} µs median"
            met = "yes" if median < CHAIN_GOAL_US else "no"
        lines.append(
            f"| {name} | {median:.2f} | {row['p99_us']:.2f} | {over_bare} | {over_noop} "
            f"| {goal_text} | {met} |"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the scenarios (each ``--repeat`` times, in its own process) and print the table."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.middleware", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--events", type=int, default=20_000, help="calls per run (default 20000)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per scenario (default 3)")
    parser.add_argument("--only", help=f"comma-separated, from {','.join(SCENARIOS)}")
    parser.add_argument("--json", metavar="FILE", help="write the figures as JSON")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child, args.events)))
        return 0
    names = args.only.split(",") if args.only else list(SCENARIOS)
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenario(s): {', '.join(unknown)}")
    started = time.monotonic()
    rows = []
    for name in names:
        runs = [_run_child(name, args.events) for _ in range(args.repeat)]
        row = dict(runs[0])
        row["median_us"] = statistics.median(r["median_us"] for r in runs)
        row["p99_us"] = statistics.median(r["p99_us"] for r in runs)
        row["runs"] = [r["median_us"] for r in runs]
        rows.append(row)
        print(f"{name:18s} {row['median_us']:6.2f} µs  (runs: {row['runs']})", file=sys.stderr)
    print(table(rows))
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    print(
        f"\n{args.events} events x {args.repeat} runs per scenario, "
        f"Python {platform.python_version()}, load {load}, {time.monotonic() - started:.0f} s"
    )
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": rows, "events": args.events,
                                               "repeat": args.repeat, "load": load}, indent=2))  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
