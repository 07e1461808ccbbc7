"""Several requests in flight against a slow, failing collector: every event exactly once."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any, Dict, List, Mapping

import pytest

from amplitude_legacy import HttpResponse, NodeClient, Status
from amplitude_legacy._transport import Urllib3Transport
from amplitude_legacy.testing import AcceptThenDrop, Collector, Reply
from tests.conftest import API_KEY

THREADS = 8
PER_THREAD = 400


class CountingTransport:
    """The real urllib3 transport, counting how many requests are on the wire at once."""

    def __init__(self) -> None:
        self._inner = Urllib3Transport()
        self._lock = threading.Lock()
        self.now = 0
        self.most = 0

    def send(
        self, url: str, body: bytes, headers: Mapping[str, str], timeout: float | None
    ) -> HttpResponse:
        with self._lock:
            self.now += 1
            self.most = max(self.most, self.now)
        try:
            return self._inner.send(url, body, headers, timeout)
        finally:
            with self._lock:
                self.now -= 1

    def close(self) -> None:
        self._inner.close()


def log_from_threads(client: NodeClient, make: Any) -> Dict[str, Any]:
    """Log THREADS x PER_THREAD events from as many threads; returns futures by insert_id."""
    futures: Dict[str, Any] = {}
    lock = threading.Lock()

    def run(thread: int) -> None:
        for i in range(PER_THREAD):
            event = make(thread, i)
            future = client.logEvent(event)
            with lock:
                futures[event["insert_id"]] = future

    threads = [threading.Thread(target=run, args=(t,)) for t in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return futures


def plain(thread: int, i: int) -> Dict[str, Any]:
    return {"event_type": "Tick", "user_id": f"user-{thread:04d}", "insert_id": f"id-{thread}-{i}"}


def padded(thread: int, i: int) -> Dict[str, Any]:
    """~2 KB events: the 1 MB body limit cuts 3,200 of them into many batches, whatever the
    timing, so there is always more than one batch to put on the wire."""
    return {**plain(thread, i), "event_properties": {"padding": "x" * 2000}}


@pytest.mark.parametrize("limit", [1, 4])
def test_every_event_once_with_requests_in_flight(limit: int) -> None:
    """Latency, 503s and lost answers with several requests in flight: each event resolves
    once, delivered; it reaches the server at least once and again only after a lost answer;
    the requests really overlap, up to the limit and no further."""
    transport = CountingTransport()
    dropped: List[str] = []
    with Collector(latency=0.03, fail_rate=0.2, seed=11) as collector:
        collector.script(AcceptThenDrop(), AcceptThenDrop())  # two answers lost
        client = NodeClient(
            API_KEY,
            server_url=collector.http_api_url,
            transport_class=transport,
            max_concurrent_requests=limit,
            retry_timeouts=[5, 5, 10, 10, 20, 40, 80, 160, 320],
            on_drop=lambda events, reason: dropped.extend(e["insert_id"] for e in events),
        )
        try:
            futures = log_from_threads(client, padded)
            assert client.flush(60).pending == 0
            outcomes = {key: future.result(0) for key, future in futures.items()}
        finally:
            client.shutdown(5)
        arrived = Counter(event["insert_id"] for event in collector.events)
    assert len(outcomes) == THREADS * PER_THREAD and dropped == []
    assert {r.status for r in outcomes.values()} == {Status.SUCCESS}
    assert set(arrived) == set(outcomes)  # every event reached the server...
    assert max(arrived.values()) <= 3  # ...again only after one of the two lost answers
    stats = client.stats()
    assert stats.delivered == THREADS * PER_THREAD and stats.dropped == {}
    assert stats.retries >= 2 and transport.most == limit


def test_counters_are_exact_under_eight_threads(make_client: Any, collector: Collector) -> None:
    """8 threads logging a mix of outcomes: delivered + dropped == logged, exactly."""
    collector.script(*[Reply(503)] * 6)  # some batches exhaust a short schedule
    client = make_client(retry_timeouts=[1], max_cached_events=50)
    client.addEventMiddleware(
        lambda payload, next: None if payload.event["event_type"] == "Stop" else next(payload)
    )

    def mixed(thread: int, i: int) -> Dict[str, Any]:
        kinds = ["Tick", "Tick", "Stop", "Bad"]
        event = plain(thread, i)
        event["event_type"] = kinds[i % len(kinds)]
        if event["event_type"] == "Bad":
            del event["user_id"]  # invalid: no user_id or device_id
        return event

    futures = log_from_threads(client, mixed)
    assert client.flush(30).pending == 0
    by_reason = Counter(f.result(0).reason or "delivered" for f in futures.values())
    stats = client.stats()
    assert stats.delivered + sum(stats.dropped.values()) == THREADS * PER_THREAD
    assert dict(stats.dropped) == {k: v for k, v in by_reason.items() if k != "delivered"}
    assert stats.delivered == by_reason["delivered"] and stats.pending == 0
    assert by_reason["middleware_stopped"] == by_reason["invalid"] == THREADS * PER_THREAD // 4
