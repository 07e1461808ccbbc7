"""Instructions per event, counted by callgrind: a figure this shared, noisy machine cannot move.

``python -m bench.instructions`` runs each scenario under ``valgrind --tool=callgrind`` twice,
with a small and a large number of events, and reports the difference divided by the
difference in events: the instructions one more event costs, without the interpreter's start,
the imports or the client's set-up. ``--against REV`` runs the same scenarios on another commit
(checked out in a temporary git worktree) in the same run, for an A/B of a change.

Scenarios (stdlib ``json`` in every one, as a plain ``pip install`` gives):

- ``call``: ``logEvent`` of the benchmark's event on a client that does not send during the loop.
- ``call +1 middleware`` / ``call +2 middleware``: the same with no-op middleware.
- ``delivered``: every instruction of the client's process per event delivered to the bench
  collector (served from this process): call site, worker, encoding, HTTP, futures.
- ``import + init``: the whole process, ``import amplitude_legacy`` and ``init``, minus an empty
  interpreter (modules byte-compiled first).
- ``--chain``: ``logEvent`` of the middleware benchmark's event (10 properties) through
  ``drop_events`` + ``redact(hash)`` + ``validate`` + ``route``, one step at a time.

Needs valgrind (``apt-get install valgrind``). About 10 minutes for both commits.
"""

from __future__ import annotations

import argparse
import compileall
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

from bench.collector import BenchCollector

ROOT = Path(__file__).resolve().parent.parent

_PRELUDE = """
import os, sys
root, n, url = sys.argv[1], int(sys.argv[2]), sys.argv[3]
sys.modules["orjson"] = None  # the default install's encoder
sys.path.insert(0, root)
import amplitude_legacy
"""

_QUIET_CLIENT = """
client = amplitude_legacy.init(
    "bench-api-key", server_url="http://127.0.0.1:9/2/httpapi", upload_interval_in_sec=3600,
    max_cached_events=10**7, max_queue_size=10**7)
"""

_CALLS = """
for _ in range(MIDDLEWARE):
    client.addEventMiddleware(lambda payload, next: next(payload))
log = client.logEvent
props = {"seq": 1, "page": "/home", "plan": "pro"}
for i in range(n):
    log({"event_type": "bench_event", "user_id": "user-0001", "event_properties": props})
os._exit(0)
"""

_DELIVERED = """
import urllib.request
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
opener.open(url + f"/_bench/reset?n={n}", data=b"").read()
client = amplitude_legacy.init("bench-api-key", server_url=url + "/2/httpapi", max_queue_size=10**6)
log = client.logEvent
for i in range(n):
    log({"event_type": "bench_event", "user_id": f"user-{i % 100:04d}",
         "event_properties": {"seq": i, "page": "/home", "plan": "pro"}})
client.flush(600)
opener.open(url + f"/_bench/wait?n={n}&timeout=600").read()
client.shutdown(10)  # close the keep-alive connections: no reset at the collector
os._exit(0)
"""


_CHAIN = """
from bench.middleware import _chain, _event
chain, _ = _chain("STEP", "http://127.0.0.1:9/2/httpapi")  # a destination that never sends
for middleware in chain:
    client.addEventMiddleware(middleware)
events = [_event(i) for i in range(LARGE)]  # as many in every run: building them cancels out
log = client.logEvent
for event in events[:n]:
    log(event)
os._exit(0)
"""


def _calls(middleware: int) -> str:
    return _PRELUDE + _QUIET_CLIENT + _CALLS.replace("MIDDLEWARE", str(middleware))


def _chain_step(step: str) -> Tuple[str, int, int]:
    script = _CHAIN.replace("STEP", step).replace("LARGE", "6000")
    return _PRELUDE + _QUIET_CLIENT + script, 1000, 6000


#: name -> (script, small n, large n); a large n of 0 means "one run, minus an empty interpreter".
SCENARIOS: Dict[str, Tuple[str, int, int]] = {
    "call": (_calls(0), 2000, 12000),
    "call +1 middleware": (_calls(1), 2000, 12000),
    "call +2 middleware": (_calls(2), 2000, 12000),
    "delivered": (_PRELUDE + _DELIVERED, 2000, 22000),
    "import + init": (_PRELUDE + _QUIET_CLIENT + "os._exit(0)\n", 0, 0),
}
#: ``--chain``: the middleware benchmark's event (``bench/middleware.py``) through its chain,
#: built up one step at a time, as ``python -m bench.middleware --chain-steps`` times it.
CHAIN_STEPS: Dict[str, Tuple[str, int, int]] = {
    "chain: bare client": _chain_step("bare"),
    "chain: one no-op middleware": _chain_step("noop"),
    "chain: one no-op ready-made step": _chain_step("noop_step"),
    "chain: + drop_events": _chain_step("chain:1"),
    "chain: + redact(hash)": _chain_step("chain:2"),
    "chain: + validate": _chain_step("chain:3"),
    "chain: + route": _chain_step("chain:4"),
}
SCENARIOS.update(CHAIN_STEPS)

_SUMMARY = re.compile(rb"^summary:\s*(\d+)", re.MULTILINE)


def count(script: str, root: Path, n: int, url: str) -> int:
    """Instructions (callgrind's ``Ir``) of one run of ``script`` in a fresh interpreter."""
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "callgrind.out"
        subprocess.run(
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", sys.executable,
             "-c", script, str(root), str(n), url],
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        found = _SUMMARY.search(out.read_bytes())
    if found is None:
        raise RuntimeError(f"no summary line in callgrind's output for {root}")
    return int(found.group(1))


def measure(root: Path, url: str, names: Sequence[str]) -> Dict[str, float]:
    """Per-event instructions of each scenario (``import + init``: per process) for ``root``."""
    compileall.compile_dir(str(root / "amplitude_legacy"), quiet=1)  # imports, not compiles
    results: Dict[str, float] = {}
    for name in names:
        script, small, large = SCENARIOS[name]
        if large == 0:
            results[name] = count(script, root, 0, url) - count("pass", root, 0, url)
        else:
            delta = count(script, root, large, url) - count(script, root, small, url)
            results[name] = delta / (large - small)
    return results


def _worktree(rev: str) -> Path:
    path = Path(tempfile.mkdtemp(prefix="bench-instructions-")) / "tree"
    subprocess.run(
        ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(path), rev],
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    return path


def _table(columns: List[Tuple[str, Dict[str, float]]], names: Sequence[str]) -> str:
    heads = ["scenario", *(label for label, _ in columns)]
    if len(columns) == 2:
        heads.append("change")
    lines = ["| " + " | ".join(heads) + " |", "|" + "---|" * len(heads)]
    for name in names:
        cells = [name]
        for _, results in columns:
            value = results[name]
            cells.append(f"{value / 1e6:,.0f}M" if name == "import + init" else f"{value:,.0f}")
        if len(columns) == 2:
            before, after = columns[1][1][name], columns[0][1][name]
            cells.append(f"{(after - before) / before:+.1%}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: List[str] | None = None) -> int:
    """Run the scenarios on this tree (and ``--against``'s commit) and print the table."""
    parser = argparse.ArgumentParser(prog="python -m bench.instructions", description=__doc__)
    parser.add_argument("--against", metavar="REV", help="also measure this commit (A/B)")
    parser.add_argument("--only", help="comma-separated scenario names")
    parser.add_argument(
        "--chain", action="store_true", help="the middleware chain, step by step (~6 min a tree)"
    )
    args = parser.parse_args(argv)
    default = [name for name in SCENARIOS if name not in CHAIN_STEPS]
    names = args.only.split(",") if args.only else list(CHAIN_STEPS) if args.chain else default
    unknown = set(names) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenario(s): {', '.join(sorted(unknown))}")
    collector = BenchCollector().start()
    url = f"http://127.0.0.1:{collector.port}"
    columns = [("this tree", measure(ROOT, url, names))]
    if args.against:
        other = _worktree(args.against)
        try:
            columns.append((args.against, measure(other, url, names)))
        finally:
            subprocess.run(
                ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(other)], check=False
            )
    collector.stop()
    print("Instructions per event (callgrind Ir; import + init: per process)")
    print(_table(columns, names))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
