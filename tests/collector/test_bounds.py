"""Bounded memory: the connection cap, the in-flight body budget, and keep=N rings with counts."""

from __future__ import annotations

import gc
import http.client
import socket
import time
import tracemalloc
from typing import Any, Callable, Dict

import pytest

import amplitude_legacy.testing._collector as collector_module
from amplitude_legacy.testing import CapturedRequest, Collector
from amplitude_legacy.testing._records import OTHER_TYPES, Records

from ._http import body, event, send, send_json
from .test_malformed import read_response


def poll(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    """Wait for ``condition`` with a deadline (for state the collector has no wait_* method for)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition still false at the deadline"
        time.sleep(0.01)


def test_connections_past_the_cap_get_503_and_are_counted() -> None:
    """Past max_connections a new connection gets a JSON 503 and is closed; others still work."""
    with Collector(max_connections=2) as collector:
        held = [http.client.HTTPConnection("127.0.0.1", collector.port, timeout=5) for _ in "ab"]
        for conn in held:
            send_json(conn, body(event(0)))  # each is accepted and open (keep-alive)
        with socket.create_connection(("127.0.0.1", collector.port), timeout=5) as extra:
            status, headers, answer = read_response(extra)
            assert extra.recv(1) == b""
        assert (status, headers["connection"]) == (503, "close")
        assert answer == {
            "code": 503,
            "error": "Service Unavailable",
            "detail": "the collector already has 2 connections open (max_connections)",
        }
        assert collector.counts()["connections_refused"] == 1
        held[0].close()
        poll(lambda: collector.counts()["connections_open"] == 1)
        assert send_json(collector, body(event(1)))["code"] == 200
        held[1].close()


def test_bodies_past_the_in_flight_budget_get_503(monkeypatch: pytest.MonkeyPatch) -> None:
    """While one large body is being read, another that does not fit the budget gets 503."""
    monkeypatch.setattr(collector_module, "_INFLIGHT_BYTES", 0)  # the budget: one largest body
    with Collector(max_body_bytes=1000, batch_max_body_bytes=1000) as collector:
        budget = 2 * 1000 + (1 << 20)
        with socket.create_connection(("127.0.0.1", collector.port), timeout=5) as slow:
            slow.sendall(
                b"POST /batch HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b"Content-Length: %d\r\n\r\n{" % budget
            )
            poll(lambda: collector_module_budget_left(collector) == 0)
            answer = send(collector, body(event(0)))
            assert (answer.status, answer.json["error"]) == (503, "Service Unavailable")
            assert "request bodies; retry later" in answer.json["detail"]
        poll(lambda: collector_module_budget_left(collector) == budget)
        assert send_json(collector, body(event(0)))["code"] == 200
        counts = collector.counts()
        assert (counts["busy"], counts["rejected"]) == (
            1,
            {"busy": 1, "Request body ended early": 1},  # the slow client left mid-body
        )


def collector_module_budget_left(collector: Collector) -> int:
    """Bytes left in the collector's in-flight budget."""
    return int(collector._inflight._left)


def test_keep_rings_events_and_requests_and_counts_everything() -> None:
    """keep=3 keeps the 3 most recent events and requests; counts and waits cover them all."""
    with Collector(keep=3) as collector:
        for i in range(0, 10, 2):
            send(collector, body(event(i), event(i + 1)))
        send(collector, b"{")
        assert [e["insert_id"] for e in collector.events] == [
            "insert-0007",
            "insert-0008",
            "insert-0009",
        ]
        assert [r.status for r in collector.requests] == [200, 200, 400]
        assert len(collector.wait_for_events(10, timeout=0)) == 3
        assert len(collector.wait_for_requests(6, timeout=0)) == 3
        # A copy of an event no longer kept is still absorbed: dedup memory is separate.
        assert send_json(collector, body(event(0)))["events_ingested"] == 1
        counts = collector.counts()
        assert counts == {
            "requests": 7,
            "by_status": {"200": 6, "400": 1},
            "events_stored": 10,
            "duplicates_absorbed": 1,
            "events_by_type": {"test_event": 10},
            "rejected": {"Invalid JSON request body": 1},
            "connections_refused": 0,
            "busy": 0,
            "kept_events": 3,
            "kept_requests": 3,
            "connections_open": counts["connections_open"],
        }
        collector.reset()
        assert collector.counts()["requests"] == 0


def test_keep_zero_keeps_only_counts() -> None:
    """keep=0 records nothing but still counts, waits and deduplicates."""
    with Collector(keep=0) as collector:
        send(collector, body(event(0), event(0)))
        assert (collector.events, collector.requests) == ([], [])
        assert collector.wait_for_events(1, timeout=0) == []
        assert collector.duplicates_absorbed == 1


def captured(n: int) -> CapturedRequest:
    """A recorded request numbered ``n``."""
    return CapturedRequest(f"/{n}", {}, b"", None, 200, float(n))


def test_records_bound_requests_by_count_and_bytes() -> None:
    """Kept requests stay within keep and within the body budget (the newest is always kept)."""
    records = Records(keep=10, keep_bytes=100)
    for n in range(5):
        records.add_request(captured(n), 40, None)
    assert [r.path for r in records.requests] == ["/3", "/4"]
    records.add_request(captured(5), 500, "too big")
    assert [r.path for r in records.requests] == ["/5"]
    assert (records.requests_total, dict(records.rejected)) == (6, {"too big": 1})
    bounded = Records(keep=2)
    for n in range(4):
        bounded.add_request(captured(n), 1, None)
    assert [r.path for r in bounded.requests] == ["/2", "/3"]


def test_records_count_event_types_up_to_a_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    """Past MAX_COUNTED_TYPES distinct types, new ones are summed under one key."""
    monkeypatch.setattr("amplitude_legacy.testing._records.MAX_COUNTED_TYPES", 2)
    records = Records()
    records.add_events([{"event_type": t} for t in ("a", "b", "a", "c", "d", 5)])
    assert records.counts()["events_by_type"] == {"a": 2, OTHER_TYPES: 3, "b": 1}


def test_memory_is_flat_with_keep(monkeypatch: pytest.MonkeyPatch) -> None:
    """With keep=10, 2,400 more events grow the collector's memory by almost nothing."""
    monkeypatch.setattr(collector_module, "_BOUNDED_DEDUP_KEYS", 300)
    props: Dict[str, Any] = {"text": "x" * 200, "n": 1}
    with Collector(keep=10) as collector:
        conn = http.client.HTTPConnection("127.0.0.1", collector.port, timeout=5)

        def burst(start: int, requests: int) -> None:
            for r in range(requests):
                events = [event(start + r * 20 + i, event_properties=props) for i in range(20)]
                send_json(conn, body(*events))

        tracemalloc.start()  # before the rings fill, so that what they drop is traced too
        try:
            burst(0, 20)  # fill the rings and the dedup memory
            gc.collect()
            before = tracemalloc.get_traced_memory()[0]
            burst(10_000, 120)
            gc.collect()
            grown = tracemalloc.get_traced_memory()[0] - before
        finally:
            tracemalloc.stop()
        conn.close()
        assert collector.counts()["events_stored"] == 2_800
    assert grown < 128 * 1024, f"grew {grown} bytes"


@pytest.mark.parametrize("kwargs", [{"keep": -1}, {"max_connections": 0}])
def test_bad_bounds_raise(kwargs: Dict[str, Any]) -> None:
    """keep < 0 and max_connections < 1 are refused when the collector is built."""
    with pytest.raises(ValueError):
        Collector(**kwargs)
