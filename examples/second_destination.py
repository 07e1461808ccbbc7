"""Route some events to a second Amplitude project, and keep an audit log of everything sent.

EU users go to a second Amplitude project (``route(..., copy=False)`` with an
``AmplitudeDestination``) and only there; health checks go nowhere; every other event goes to
the main project; and a JSON-lines audit log (``JsonlFileDestination``) gets a copy of each
event that survives the filter. Each destination is a client of its own: bounded queue,
batching, retry, counted drops; ``client.flush()`` and ``client.shutdown()`` include them and
``client.stats().destinations`` reports them.

Run it::

    python examples/second_destination.py [AUDIT.jsonl]

Without ``AMPLITUDE_API_KEY`` the main project is the bundled collector on 127.0.0.1; without
``AMPLITUDE_SECOND_API_KEY`` (and ``AMPLITUDE_SECOND_SERVER_URL``, e.g. the EU endpoint) the
second project is another one. The audit log goes to ``AUDIT.jsonl``, or to a temporary
directory that is removed at the end: nothing is left behind.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Dict, List

import amplitude_legacy as Amplitude
from amplitude_legacy.middleware import (
    AmplitudeDestination,
    JsonlFileDestination,
    drop_events,
    route,
)
from amplitude_legacy.testing import target_from_env

EU = {"AT", "BE", "DE", "ES", "FR", "IE", "IT", "NL", "PL", "PT", "SE"}
EVENTS: List[Dict[str, object]] = [
    {"event_type": "Signed Up", "user_id": "user-123", "country": "US"},
    {"event_type": "Health Check", "device_id": "probe-0001"},
    {"event_type": "Plan Upgraded", "user_id": "user-456", "country": "FR",
     "event_properties": {"to": "pro"}},
]  # fmt: skip


def send(audit_path: Path) -> bool:
    """Log the events through the chain, then compare what each destination received."""
    # The main project: Amplitude when AMPLITUDE_API_KEY is set, else the bundled collector.
    main = target_from_env()
    # The second project, the same way from AMPLITUDE_SECOND_API_KEY / _SERVER_URL.
    second = target_from_env(
        {
            "AMPLITUDE_API_KEY": os.environ.get("AMPLITUDE_SECOND_API_KEY", ""),
            "AMPLITUDE_SERVER_URL": os.environ.get("AMPLITUDE_SECOND_SERVER_URL", ""),
        },
        quiet=True,
    )
    second_project = AmplitudeDestination(second.api_key, second.options, name="second-project")
    audit = JsonlFileDestination(audit_path, rotate_bytes=100_000_000, name="audit")

    client = Amplitude.init(main.api_key, main.options)
    client.addEventMiddleware(drop_events("Health Check"))  # goes nowhere
    client.addEventMiddleware(route("*", audit))  # a copy of what survives the filter
    client.addEventMiddleware(route(lambda e: e.country in EU, second_project, copy=False))

    futures = [client.logEvent(event) for event in EVENTS]
    client.shutdown(timeout=10)  # flushes and closes the destinations too

    outcomes = []
    for event, future in zip(EVENTS, futures):
        response = future.result(timeout=10)
        reason = f" ({response.reason})" if response.reason else ""
        outcomes.append(f"{event['event_type']}={response.status}{reason}")
    print(f"statuses: {', '.join(outcomes)}")
    stats = client.stats()
    delivered = {name: s.delivered for name, s in stats.destinations.items()}
    print(f"main: delivered={stats.delivered} dropped={dict(stats.dropped)}")
    print(f"destinations delivered: {delivered}")

    logged = [json.loads(line) for line in audit_path.read_text(encoding="utf-8").splitlines()]
    print(f"audit log: {len(logged)} event(s) in {audit_path.name}")
    ok = outcomes == [
        "Signed Up=success",
        "Health Check=skipped (filtered)",
        "Plan Upgraded=skipped (routed)",
    ] and delivered == {"audit": 2, "second-project": 1}
    for name, target in (("main", main), ("second", second)):
        if target.collector is not None:
            types = [e["event_type"] for e in target.collector.events]
            print(f"{name} project received: {', '.join(types)}")
            ok = ok and all(e in logged for e in target.collector.events)
        target.close()
    print(f"the audit log holds what both projects received: {ok}")
    return ok


def main(argv: List[str]) -> int:
    """Use the given audit path, or a temporary directory removed on the way out."""
    if len(argv) > 1:
        return 0 if send(Path(argv[1])) else 1
    with tempfile.TemporaryDirectory(prefix="amplitude-audit-") as folder:
        return 0 if send(Path(folder) / "audit.jsonl") else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
