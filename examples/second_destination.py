"""Route a copy of each event to a second destination (a JSONL archive) and pass it on.

The middleware takes a copy of the event as it leaves the chain, puts it on a queue and calls
``next(payload)`` at once; a thread of its own appends the copies to a JSON-lines file, the
kind of file a warehouse loader or ``amplitude-legacy send`` can replay later. The caller's
thread never touches the disk.

Run it::

    python examples/second_destination.py [ARCHIVE.jsonl]

Without ``AMPLITUDE_API_KEY`` the events go to the bundled collector on 127.0.0.1; with it, to
Amplitude (or to ``AMPLITUDE_SERVER_URL``). The archive goes to ``ARCHIVE.jsonl``, or to a
temporary file. The script checks that the archive holds exactly what was delivered.
"""

from __future__ import annotations

import json
import queue
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any, List

import amplitude_legacy as Amplitude
from amplitude_legacy.testing import target_from_env

_STOP = object()


class JsonlArchive:
    """A second destination: appends a copy of every event to a JSON-lines file.

    ``archive.middleware`` is the legacy ``(payload, next)`` middleware. Add it *last*, so the
    archive gets the event as it is sent (after your filters and scrubbers).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.written = 0
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._write, name="jsonl-archive", daemon=True)
        self._thread.start()

    def middleware(
        self, payload: Amplitude.MiddlewarePayload, next: Amplitude.MiddlewareNext
    ) -> None:
        """Queue a copy of the event for the archive, then pass the event on."""
        self._queue.put(dict(payload.event))  # a copy: later changes do not reach the archive
        next(payload)

    def _write(self) -> None:
        with self.path.open("a", encoding="utf-8") as out:
            while True:
                event = self._queue.get()
                if event is _STOP:
                    return
                try:
                    out.write(json.dumps(event, separators=(",", ":")) + "\n")
                    out.flush()
                    self.written += 1
                except (TypeError, ValueError) as exc:  # validation runs after middleware
                    print(f"archive: skipped an event that is not JSON: {exc}", file=sys.stderr)

    def close(self, timeout: float = 10) -> None:
        """Write what is queued and stop the writer thread."""
        self._queue.put(_STOP)
        self._thread.join(timeout)


def drop_health_checks(
    payload: Amplitude.MiddlewarePayload, next: Amplitude.MiddlewareNext
) -> None:
    """Filter: health checks go nowhere, neither to Amplitude nor to the archive."""
    if payload.event.event_type != "Health Check":
        next(payload)


def main(argv: List[str]) -> int:
    """Log a few events through the archive middleware and compare both destinations."""
    # Amplitude when AMPLITUDE_API_KEY is set, else the bundled collector on 127.0.0.1.
    target = target_from_env()
    collector = target.collector

    if len(argv) > 1:
        path = Path(argv[1])
    else:
        path = Path(tempfile.mkdtemp(prefix="amplitude-archive-")) / "events.jsonl"
    archive = JsonlArchive(path)

    client = Amplitude.init(target.api_key, target.options)
    client.addEventMiddleware(drop_health_checks).addEventMiddleware(archive.middleware)
    futures = [
        client.logEvent({"event_type": "Signed Up", "user_id": "user-123"}),
        client.logEvent({"event_type": "Health Check", "device_id": "probe-0001"}),
        client.logEvent(
            {
                "event_type": "Plan Upgraded",
                "user_id": "user-123",
                "event_properties": {"to": "pro"},
            }
        ),
    ]
    client.flush(timeout=10)
    client.shutdown(timeout=10)
    archive.close()

    statuses = [f.result(timeout=10).status for f in futures]
    print(f"statuses: {', '.join(statuses)}")
    archived = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    print(f"archived {len(archived)} event(s) to {path}")
    for event in archived:
        print(f"archive has: {event['event_type']} insert_id={event['insert_id']}")

    ok = statuses == ["success", "skipped", "success"]
    if collector is not None:
        delivered = {e["insert_id"] for e in collector.events}
        same = delivered == {e["insert_id"] for e in archived}
        print(f"collector received {len(collector.events)} event(s); same as the archive: {same}")
        ok = ok and same
        collector.stop()
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
