"""A loopback collector for the benchmark: one server for every SDK, run in its own process.

Why not the bundled ``amplitude_legacy.testing.Collector`` as is: it serves only Amplitude's
paths and keeps every event dict and request body, which a 1M-event run cannot afford. This
server keeps counters only, accepts each SDK's own path and body format, and validates
Amplitude requests with the bundled collector's own ``check_request`` (the http-api.md §7
rules), so our client and the official SDK are held to the real API's checks.

Paths:
    ``POST /2/httpapi``, ``POST /batch``   Amplitude (ours, the floor, amplitude-analytics)
    ``POST /v1/batch``                      Segment (``{"batch": [...]}``)
    ``POST /batch/``                        PostHog (``{"api_key", "batch": [...]}``)
    ``POST /_bench/reset?n=N&latency_ms=L`` start a run that expects events ``seq`` 0..N-1,
                                            answering each SDK request after L ms
    ``GET  /_bench/wait?n=N&timeout=T``     block until N distinct events arrived; stats
    ``GET  /_bench/stats``                  stats now

Loss and duplicates are counted by ``seq``, a per-event unique property every SDK sends
(``event_properties.seq`` or ``properties.seq``), in a bitmap of N bytes. Responses go out in a
single write with ``TCP_NODELAY`` (two writes plus Nagle cost ~40 ms per keep-alive request).
Latency stands in for the network to a real endpoint (Amplitude is 50-150 ms away): each
connection's thread sleeps before it answers, so requests on different connections overlap as
they would. Run it as ``python -m bench.collector [--latency-ms L]``: it prints ``PORT <n>``
and serves until stdin closes.
"""

from __future__ import annotations

import gc
import json
import resource
import sys
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Dict, List, Tuple
from urllib.parse import parse_qs, urlsplit

from amplitude_legacy.testing._validation import Rules, check_request

__all__ = ["BenchCollector", "RunState", "freeze_heap", "main"]

Events = List[Dict[str, Any]]
#: Per path: how to find the events of a parsed body, and the success answer.
PEER_PATHS: Dict[str, Tuple[str, str, bytes]] = {
    "/v1/batch": ("batch", "properties", b'{"success":true}'),  # Segment
    "/batch/": ("batch", "properties", b'{"status":"Ok"}'),  # PostHog
}
AMPLITUDE_PATHS = ("/2/httpapi", "/batch")


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class RunState:
    """Counters of one run: events by ``seq``, requests, bytes, timestamps (``time.monotonic``).

    Args:
        expected: the run sends events with ``seq`` 0..expected-1.
    """

    def __init__(self, expected: int, latency_ms: float = 0.0) -> None:
        self.latency = latency_ms / 1000.0
        self.expected = expected
        self.seen = bytearray(expected)
        self.received = 0  # events accepted, duplicates included
        self.distinct = 0
        self.duplicates = 0
        self.stray = 0  # events without a usable seq
        self.requests = 0
        self.rejected = 0  # requests answered with a non-2xx status
        self.body_bytes = 0  # request bodies as received (compressed when gzip)
        self.decoded_bytes = 0  # request bodies after gzip decoding
        self.paths: Dict[str, int] = {}
        self.first_request: float | None = None
        self.last_accept: float | None = None
        self.complete_at: float | None = None
        self.cpu_start = _cpu()

    def count(self, seqs: List[Any]) -> None:
        """Record the ``seq`` of each accepted event (call with the lock held)."""
        seen, expected = self.seen, self.expected
        for seq in seqs:
            if type(seq) is not int or not 0 <= seq < expected:
                self.stray += 1
            elif seen[seq]:
                self.duplicates += 1
            else:
                seen[seq] = 1
                self.distinct += 1
        self.received += len(seqs)
        now = time.monotonic()
        self.last_accept = now
        if self.complete_at is None and self.distinct >= expected:
            self.complete_at = now

    def snapshot(self) -> Dict[str, Any]:
        """The counters as a JSON-ready dict."""
        return {
            "expected": self.expected,
            "received": self.received,
            "distinct": self.distinct,
            "lost": self.expected - self.distinct,
            "duplicates": self.duplicates,
            "stray": self.stray,
            "requests": self.requests,
            "rejected": self.rejected,
            "body_bytes": self.body_bytes,
            "decoded_bytes": self.decoded_bytes,
            "paths": dict(self.paths),
            "first_request": self.first_request,
            "last_accept": self.last_accept,
            "complete_at": self.complete_at,
            "collector_cpu_s": round(_cpu() - self.cpu_start, 3),
        }


class BenchCollector:
    """The counting server. ``start()`` binds 127.0.0.1 on ``port`` (0: a free one)."""

    def __init__(self, port: int = 0, latency_ms: float = 0.0) -> None:
        self.default_latency_ms = latency_ms
        self._rules = Rules()
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self.state = RunState(0)
        self._server = _Server(("127.0.0.1", port), _Handler)
        self._server.collector = self
        self.port: int = self._server.server_address[1]
        self._thread: threading.Thread | None = None

    def start(self) -> BenchCollector:
        """Serve on a daemon thread."""
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the port."""
        self._server.shutdown()
        self._server.server_close()

    # ------------------------------------------------------------------ control

    def reset(self, expected: int, latency_ms: float | None = None) -> Dict[str, Any]:
        """Start a new run expecting ``expected`` events (answering after ``latency_ms``)."""
        with self._changed:
            latency = self.default_latency_ms if latency_ms is None else latency_ms
            self.state = RunState(expected, latency)
            self._changed.notify_all()
            return self.state.snapshot()

    def wait(self, n: int, timeout: float) -> Dict[str, Any]:
        """Block until ``n`` distinct events arrived or ``timeout`` passed; return the stats."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while self.state.distinct < n:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._changed.wait(remaining)
            return self.state.snapshot()

    def stats(self) -> Dict[str, Any]:
        """The current run's counters."""
        with self._lock:
            return self.state.snapshot()

    # ------------------------------------------------------------------ ingestion

    def ingest(self, path: str, headers: Dict[str, str], raw: bytes) -> Tuple[int, bytes]:
        """Count one SDK request; return the status and body to answer."""
        latency = self.state.latency
        if latency:
            time.sleep(latency)  # the network's round trip, before the server answers
        now = time.monotonic()
        if path in AMPLITUDE_PATHS:
            status, body, seqs, decoded = self._amplitude(path, headers, raw)
        elif path in PEER_PATHS:
            status, body, seqs, decoded = self._peer(path, headers, raw)
        else:
            status, body, seqs, decoded = 404, b'{"error":"unknown path"}', [], 0
        with self._changed:
            state = self.state
            state.requests += 1
            state.body_bytes += len(raw)
            state.decoded_bytes += decoded
            state.paths[path] = state.paths.get(path, 0) + 1
            if state.first_request is None:
                state.first_request = now
            if status == 200:
                state.count(seqs)
                self._changed.notify_all()
            else:
                state.rejected += 1
        return status, body

    def _amplitude(
        self, path: str, headers: Dict[str, str], raw: bytes
    ) -> Tuple[int, bytes, List[Any], int]:
        verdict = check_request("POST", path, headers, raw, self._rules)
        if verdict.status != 200 or verdict.events is None:
            return verdict.status, json.dumps(verdict.body).encode(), [], 0
        events = verdict.events
        seqs = [(e.get("event_properties") or {}).get("seq") for e in events]
        body = {
            "code": 200,
            "events_ingested": len(events),
            "payload_size_bytes": len(raw),
            "server_upload_time": int(time.time() * 1000),
        }
        return 200, json.dumps(body).encode(), seqs, _decoded_size(headers, raw)

    def _peer(
        self, path: str, headers: Dict[str, str], raw: bytes
    ) -> Tuple[int, bytes, List[Any], int]:
        key, props, answer = PEER_PATHS[path]
        try:
            data = _decode(headers, raw)
            events = json.loads(data)[key]
            seqs = [(e.get(props) or {}).get("seq") for e in events]
        except (ValueError, KeyError, TypeError, AttributeError, zlib.error):
            return 400, b'{"error":"bad body"}', [], 0
        return 200, answer, seqs, len(data)


def freeze_heap() -> None:
    """Keep the process's heap as it stands out of the cycle collector's passes (``gc.freeze``).

    Each Amplitude body parses into thousands of dicts: acyclic, freed by reference counting
    when the request ends, but counted as allocations, so they set off full collections, and
    each of those walked every module, class and function of the process again (about 20,000
    objects): 15-20% of this server's CPU per event. Call once, after the imports, in a process
    that serves the benchmark (objects frozen are never collected as cycles).
    """
    gc.freeze()


def _decode(headers: Dict[str, str], raw: bytes) -> bytes:
    if headers.get("content-encoding", "").lower() == "gzip":
        return zlib.decompress(raw, 16 + zlib.MAX_WBITS)
    return raw


def _decoded_size(headers: Dict[str, str], raw: bytes) -> int:
    return len(_decode(headers, raw)) if headers.get("content-encoding") else len(raw)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128
    collector: BenchCollector


class _Handler(BaseHTTPRequestHandler):
    """HTTP/1.1 keep-alive, ``TCP_NODELAY``, one write per response."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: _Server

    def do_POST(self) -> None:
        """Ingest an SDK request, or run a control command."""
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        split = urlsplit(self.path)
        if split.path.startswith("/_bench/"):
            self._control(split.path, parse_qs(split.query))
            return
        headers = {k.lower(): v for k, v in self.headers.items()}
        status, body = self.server.collector.ingest(split.path, headers, raw)
        self._send(status, body)

    do_GET = do_POST

    def _control(self, path: str, query: Dict[str, List[str]]) -> None:
        collector = self.server.collector
        arg: Callable[[str, str], str] = lambda name, default: query.get(name, [default])[0]  # noqa: E731
        if path == "/_bench/reset":
            latency = query.get("latency_ms")
            result = collector.reset(int(arg("n", "0")), float(latency[0]) if latency else None)
        elif path == "/_bench/wait":
            result = collector.wait(int(arg("n", "0")), float(arg("timeout", "60")))
        elif path == "/_bench/stats":
            result = collector.stats()
        else:
            self._send(404, b"{}")
            return
        self._send(200, json.dumps(result).encode())

    def _send(self, status: int, body: bytes) -> None:
        head = (
            f"HTTP/1.1 {status} {'OK' if status == 200 else 'Error'}\r\n"
            "Content-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode("latin-1")
        self.wfile.write(head + body)  # wbufsize 0: one sendall

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet."""


def main(argv: List[str] | None = None) -> int:
    """Serve until stdin closes (the parent exits or closes the pipe)."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m bench.collector")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="answer after L ms")
    args = parser.parse_args(argv)
    freeze_heap()
    collector = BenchCollector(latency_ms=args.latency_ms).start()
    print(f"PORT {collector.port}", flush=True)
    sys.stdin.read()
    collector.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
