"""Per-event cost of the ready-made middleware: ``python -m bench.middleware``.

Each scenario runs in a fresh process of its own (``--child``): a client aimed at a bundled
``Collector`` whose worker never sends while the timing loop runs (``uploadIntervalInSec``
an hour, ``maxCachedEvents`` above the burst), so the loop measures the caller's thread only.
Every event is built before its call (untimed); ``logEvent`` alone is timed with
``perf_counter_ns``. Afterwards the client flushes and the counts are checked (nothing lost,
only the expected drop reasons), so a scenario that silently dropped everything cannot look
fast. Each process also times three baselines: the bare client, a client with one no-op user
middleware and one with a ready-made step that does nothing, alternating blocks of 500 calls
between the four, so each difference ("over bare", "over no-op", "over no-op step") is taken
within one process under the same load. A ready-made middleware's own cost is its "over no-op
step": the client runs ready-made middleware as steps, without the chain a user middleware
needs, and the no-op step's "over bare" is what having any of them costs once (the event's
``insert_id`` and ``library`` made on the caller's thread, the loop over the steps). Each row
is the median over ``--repeat`` processes (run round-robin) of the median per call; "best
run" is the lowest of those medians. "Quietest run" is the process whose bare client was
quickest, the one the rest of the machine slowed least (a shared VM's CPU can run far slower
for a while): its figures are, like ``timeit``'s minimum, the closest to what the code itself
costs.

The event: ``Checkout Completed``, a user from a pool of 100, ``ip``, ``user_agent`` and ten
event properties (one of them a per-event e-mail, one a per-event order id), validated
against a 10-property JSON Schema.

Examples:
    python -m bench.middleware                          # every scenario, 20k events, 3 runs
    python -m bench.middleware --only bare,noop,chain --events 2000 --repeat 1
    python -m bench.middleware --json middleware.json
    python -m bench.middleware --schema-libraries       # fastjsonschema vs jsonschema
    python -m bench.middleware --chain-steps --repeat 5 # what each step of the chain adds
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
    "noop_step": ("one ready-made step that does nothing (their fixed cost)", (), None),
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
#: The baselines each scenario is paired with, in its own process (see ``child``).
BASELINES = ("bare", "noop", "noop_step")
#: The child that times the chain step by step: the baselines, then its first 1..4 middleware.
CHAIN_STEPS = "chain_steps"
STEP_LABELS = {
    "chain:1": "+ drop_events",
    "chain:2": "+ redact(hash)",
    "chain:3": "+ validate",
    "chain:4": "+ route",
}


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
    from amplitude_legacy._middleware import ready_made

    def destination() -> Any:
        return m.AmplitudeDestination(
            "SECOND_PROJECT_KEY",
            {"serverUrl": second_url, "uploadIntervalInSec": 3600, "maxCachedEvents": 10**9},
        )

    if scenario == "route":
        dest = destination()
        return [m.route("*", dest)], [dest]
    if scenario.startswith("chain"):  # "chain", or "chain:N" for its first N steps
        dest = destination()
        steps = [
            m.drop_events("Health Check", "debug.*"),
            m.redact(["ip", "event_properties.email"], "hash", salt=SALT),
            m.validate(PLAN),
            m.route("*", dest),
        ]
        count = int(scenario.split(":")[1]) if ":" in scenario else len(steps)
        return steps[:count], [dest]
    single: Dict[str, Callable[[], Any]] = {
        "noop": lambda: lambda payload, next: next(payload),
        "noop_step": lambda: ready_made(lambda event: None, "noop_step"),
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


#: Calls per client before the loop moves to the next client (see ``child``).
BLOCK = 500


def _client(url: str, events: int) -> Any:
    import amplitude_legacy

    return amplitude_legacy.NodeClient(
        "BENCH_KEY",
        server_url=url,
        upload_interval_in_sec=3600,  # the worker never sends while the loop runs
        max_cached_events=10**9,
        max_queue_size=events + 1,
    )


def child(scenario: str, events: int) -> Dict[str, Any]:
    """Run one scenario in this process; return its figures (one JSON line on stdout).

    Paired with its baselines (``BASELINES``: the bare client, a client with one no-op user
    middleware, one with a ready-made step that does nothing), which run in the same process,
    in alternating blocks of ``BLOCK`` calls, so a change of machine load hits them all alike
    and the differences stay meaningful on a busy machine.
    """
    from amplitude_legacy.testing import Collector

    if scenario == CHAIN_STEPS:
        names = [*BASELINES, *(f"chain:{n}" for n in range(1, 5))]
    else:
        names = [*BASELINES, scenario]
        names = names[: names.index(scenario) + 1]  # a baseline with the ones before it
    with Collector() as main, Collector() as second:
        clients, destinations = {}, []
        for name in names:
            clients[name] = _client(main.http_api_url, events)
            chain, made = _chain(name, second.http_api_url)
            destinations += made
            for middleware in chain:
                clients[name].addEventMiddleware(middleware)
        prepared = [_event(i) for i in range(events)]
        timings: Dict[str, List[int]] = {name: [0] * events for name in names}
        clock = time.perf_counter_ns
        for start in range(0, events, BLOCK):
            for name in names:
                log, out = clients[name].logEvent, timings[name]
                for i in range(start, min(start + BLOCK, events)):
                    event = dict(prepared[i])  # a fresh dict per client (untimed)
                    begun = clock()
                    log(event)
                    out[i] = clock() - begun
        figures: Dict[str, Any] = {"scenario": scenario, "events": events}
        for name in names:
            flushed = clients[name].flush(60)
            stats = clients[name].stats()
            clients[name].shutdown(10)
            allowed = set(SCENARIOS[name.split(":")[0]][1])
            lost = events - stats.delivered - sum(stats.dropped.values())
            unexpected = {k: v for k, v in stats.dropped.items() if k not in allowed}
            if lost or unexpected or flushed.pending:
                raise SystemExit(f"{name}: lost {lost}, unexpected drops {unexpected}, {flushed}")
            ordered = sorted(timings[name])
            figures[name] = {
                "median_us": ordered[events // 2] / 1000,
                "p99_us": ordered[int(events * 0.99)] / 1000,
                "delivered": stats.delivered,
                "dropped": dict(stats.dropped),
            }
        for destination in destinations:
            destination.shutdown(10)
    return figures


def compare_schema_libraries(number: int = 20_000) -> Dict[str, float]:
    """µs per check of the benchmark event against the 10-property schema: fastjsonschema
    (compiled to Python, what ``validate`` uses) and jsonschema (when installed)."""
    import functools
    import timeit

    import fastjsonschema

    schema = PLAN["Checkout Completed"]
    valid = _event(1)["event_properties"]
    invalid = {**valid, "currency": "euro"}
    compiled = fastjsonschema.compile(schema, use_default=False)

    def fast(instance: Dict[str, Any]) -> bool:
        try:
            compiled(instance)
        except fastjsonschema.JsonSchemaValueException:
            return False
        return True

    checks: Dict[str, Callable[[Dict[str, Any]], bool]] = {"fastjsonschema": fast}
    try:
        import jsonschema

        checks["jsonschema"] = jsonschema.Draft7Validator(schema).is_valid
    except ImportError:
        print("jsonschema is not installed: only fastjsonschema is measured", file=sys.stderr)
    figures = {}
    for name, check in checks.items():
        for label, instance in (("valid", valid), ("invalid", invalid)):
            call = functools.partial(check, instance)
            best = min(timeit.repeat(call, number=number, repeat=5))
            figures[f"{name} ({label})"] = best / number * 1e6
    return figures


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


def summarize(name: str, runs: List[Dict[str, Any]]) -> Dict[str, Any]:
    """One row from the runs of a scenario: medians over the runs, and the paired differences
    (scenario minus bare, minus no-op, each taken within one run)."""
    mine = [run[name] for run in runs]
    row: Dict[str, Any] = {
        "scenario": name,
        "median_us": statistics.median(m["median_us"] for m in mine),
        "p99_us": statistics.median(m["p99_us"] for m in mine),
        "runs_us": [m["median_us"] for m in mine],
        # per run: this scenario's median beside the baselines of the same process
        "paired_runs_us": [
            {base: run[base]["median_us"] for base in (*BASELINES, name) if base in run}
            for run in runs
        ],
        "delivered": mine[0]["delivered"],
        "dropped": mine[0]["dropped"],
    }
    for base in BASELINES:
        if name != base and all(base in run for run in runs):
            row[f"over_{base}_us"] = statistics.median(
                run[name]["median_us"] - run[base]["median_us"] for run in runs
            )
    # The quietest run: the process whose bare client was quickest, i.e. the one least slowed
    # by the rest of the machine (picked by its bare client, not by this scenario's figure).
    if all("bare" in run for run in runs):
        quiet = min(runs, key=lambda run: run["bare"]["median_us"])
        row["quietest_us"] = quiet[name]["median_us"]
        for base in BASELINES[1:]:
            if name != base and base in quiet:
                row[f"quietest_over_{base}_us"] = (
                    quiet[name]["median_us"] - quiet[base]["median_us"]
                )
    return row


def chain_steps_table(runs: List[Dict[str, Any]]) -> str:
    """Medians of the chain built up step by step, and what each step adds (paired)."""
    labels = {
        "bare": "bare client",
        "noop": "one no-op user middleware",
        "noop_step": "one no-op ready-made step",
        **STEP_LABELS,
    }
    # what each client adds to: the baselines to the bare client, the first step to the
    # ready-made no-op (both are one step), each later step to the client before it
    over = {"noop": "bare", "noop_step": "bare", "chain:1": "noop_step"}
    steps = list(STEP_LABELS)
    over.update(zip(steps[1:], steps))
    lines = ["| client | µs/call median | adds | over |", "|---|---:|---:|---|"]
    for name in labels:
        median = statistics.median(run[name]["median_us"] for run in runs)
        base = over.get(name)
        adds = ""
        if base is not None:
            step = statistics.median(r[name]["median_us"] - r[base]["median_us"] for r in runs)
            adds = f"{step:+.2f}"
        lines.append(f"| {labels[name]} | {median:.2f} | {adds} | {labels.get(base or '', '')} |")
    return "\n".join(lines)


def table(rows: List[Dict[str, Any]]) -> str:
    """The Markdown table of ``rows`` (one per scenario)."""
    lines = [
        "| scenario | µs/call median | best run | p99 | over bare | over no-op | over no-op step "
        "| quietest run: µs/call | over no-op step | goal | met: median / quietest |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for row in rows:
        name = row["scenario"]
        goal = SCENARIOS[name][2]
        # a ready-made middleware's own cost: over the no-op step (the fixed cost of having
        # ready-made middleware at all is the no-op step's row, over bare)
        own, quiet_own = row.get("over_noop_step_us"), row.get("quietest_over_noop_step_us")
        quietest = row.get("quietest_us")
        goal_text, met = "", ""
        if goal is not None and own is not None:
            goal_text = f"≤ {goal:g} µs over no-op step"
            met = _verdicts(own <= goal, quiet_own is not None and quiet_own <= goal)
        if name == "chain":
            goal_text = f"< {CHAIN_GOAL_US:g} µs median"
            met = _verdicts(
                row["median_us"] < CHAIN_GOAL_US,
                quietest is not None and quietest < CHAIN_GOAL_US,
            )
        lines.append(
            f"| {name} | {row['median_us']:.2f} | {min(row['runs_us']):.2f} | {row['p99_us']:.2f} "
            f"| {_signed(row.get('over_bare_us'))} | {_signed(row.get('over_noop_us'))} "
            f"| {_signed(own)} | {'' if quietest is None else f'{quietest:.2f}'} "
            f"| {_signed(quiet_own)} "
            f"| {goal_text} | {met} |"
        )
    return "\n".join(lines)


def _signed(value: float | None) -> str:
    return "" if value is None else f"{value:+.2f}"


def _verdicts(by_median: bool, by_quietest: bool) -> str:
    return f"{'yes' if by_median else 'no'} / {'yes' if by_quietest else 'no'}"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the scenarios (each ``--repeat`` times, in its own process) and print the table."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.middleware", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--events", type=int, default=20_000, help="calls per run (default 20000)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per scenario (default 3)")
    parser.add_argument("--only", help=f"comma-separated, from {','.join(SCENARIOS)}")
    parser.add_argument("--json", metavar="FILE", help="write the figures as JSON")
    parser.add_argument(
        "--schema-libraries",
        action="store_true",
        help="only compare fastjsonschema and jsonschema on the 10-property schema",
    )
    parser.add_argument(
        "--chain-steps",
        action="store_true",
        help="only time the chain step by step in one process (what each step adds)",
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.chain_steps:
        print(chain_steps_table([_run_child(CHAIN_STEPS, args.events) for _ in range(args.repeat)]))
        return 0
    if args.schema_libraries:
        for name, micros in compare_schema_libraries().items():
            print(f"{name:28s} {micros:8.2f} µs per check")
        return 0
    if args.child:
        print(json.dumps(child(args.child, args.events)))
        return 0
    names = args.only.split(",") if args.only else list(SCENARIOS)
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenario(s): {', '.join(unknown)}")
    started = time.monotonic()
    # Round-robin (every scenario once, then again): a change of load hits all of them alike.
    runs: Dict[str, List[Dict[str, Any]]] = {name: [] for name in names}
    for round_ in range(args.repeat):
        for name in names:
            run = _run_child(name, args.events)
            runs[name].append(run)
            print(f"run {round_ + 1}: {name:18s} {run[name]['median_us']:6.2f} µs",
                  file=sys.stderr)  # fmt: skip
    rows = [summarize(name, runs[name]) for name in names]
    print(table(rows))
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    print(
        f"\n{args.events} events x {args.repeat} runs per scenario, "
        f"Python {platform.python_version()}, load {load}, {time.monotonic() - started:.0f} s"
    )
    if args.json:
        figures = {"rows": rows, "events": args.events, "repeat": args.repeat, "load": load}
        Path(args.json).write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
