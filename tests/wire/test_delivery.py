"""Delivery guarantees against a collector scripted to fail (issue 4)."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap
import threading
from collections import Counter
from typing import Any, List, Tuple

import pytest

from amplitude_legacy import (
    BaseRetryHandler,
    NodeClient,
    OfflineRetryHandler,
    Response,
    Status,
)
from amplitude_legacy.testing import AcceptThenDrop, Collector, Delay, Drop, Reply
from tests.conftest import API_KEY, MakeClient, wait_for_child


def event(i: int = 0, user: str | None = None) -> dict[str, Any]:
    return {"event_type": f"e{i}", "user_id": user or f"user-{i:04d}"}


def insert_ids(collector: Collector) -> Counter[str]:
    return Counter(e["insert_id"] for e in collector.events)


def test_400_drops_exactly_the_listed_events(make_client: MakeClient, collector: Collector) -> None:
    """400 with index maps: those events resolve invalid, the rest are resent and delivered."""
    body = {
        "code": 400,
        "error": "Invalid field values on some events",
        "events_with_invalid_fields": {"time": [1]},
        "events_with_missing_fields": {"event_type": [2]},
    }
    collector.script(Reply(400, body))
    client = make_client(upload_interval_in_sec=60)
    futures = [client.logEvent(event(i)) for i in range(4)]
    client.flush(5)
    statuses = [f.result(1).status for f in futures]
    assert statuses == [Status.SUCCESS, Status.INVALID, Status.INVALID, Status.SUCCESS]
    assert futures[1].result().error == "Invalid field values on some events"
    assert sorted(e["event_type"] for e in collector.events) == ["e0", "e3"]
    assert client.stats().dropped == {"invalid": 2}


def test_real_400_for_a_short_id(make_client: MakeClient, collector: Collector) -> None:
    """The collector's own id-length 400: the short-id event is dropped, the others arrive."""
    client = make_client(upload_interval_in_sec=60)
    futures = [
        client.logEvent(event(0)),
        client.logEvent(event(1, user="abc")),
        client.logEvent(event(2)),
    ]
    client.flush(5)
    assert [f.result(1).status for f in futures] == [Status.SUCCESS, Status.INVALID, Status.SUCCESS]
    assert len(collector.events) == 2


def test_400_missing_field_drops_the_batch(make_client: MakeClient, collector: Collector) -> None:
    """400 missing_field (request level): every event is dropped, no retry."""
    collector.script(
        Reply(
            400,
            {"code": 400, "error": "Request missing required field", "missing_field": "api_key"},
        )
    )
    client = make_client(upload_interval_in_sec=60)
    futures = [client.logEvent(event(i)) for i in range(3)]
    client.flush(5)
    assert {f.result(1).reason for f in futures} == {"invalid"}
    assert len(collector.requests) == 1


def test_invalid_api_key_drops_all_and_logs_once(
    collector: Collector, caplog: pytest.LogCaptureFixture
) -> None:
    """A rejected key: every event dropped as invalid_api_key, one loud log line."""
    strict = Collector(api_keys={"good-key"}).start()
    client = NodeClient("bad-key-123", server_url=strict.http_api_url, retry_timeouts=[10])
    try:
        futures = [client.logEvent(event(i)) for i in range(3)]
        client.flush(5)
        client.logEvent(event(9)).result(5)
        assert {f.result(1).reason for f in futures} == {"invalid_api_key"}
        assert client.stats().dropped == {"invalid_api_key": 4}
        assert caplog.text.count("rejected the API key") == 1
    finally:
        client.shutdown(2)
        strict.stop()


def test_413_splits_until_accepted(collector: Collector) -> None:
    """A server that takes at most 3 events per request: 8 events are split and all arrive."""
    small = Collector(max_events=3).start()
    client = NodeClient(API_KEY, server_url=small.http_api_url, upload_interval_in_sec=60)
    try:
        futures = [client.logEvent(event(i)) for i in range(8)]
        assert client.flush(5).sent == 8
        assert all(f.result(1).status is Status.SUCCESS for f in futures)
        assert sorted(e["event_type"] for e in small.events) == sorted(f"e{i}" for i in range(8))
        assert small.requests[0].status == 413
    finally:
        client.shutdown(2)
        small.stop()


def test_single_event_too_large_is_dropped(collector: Collector) -> None:
    """An event the server finds too large on its own resolves payload_too_large."""
    small = Collector(max_body_bytes=600).start()
    client = NodeClient(API_KEY, server_url=small.http_api_url)
    try:
        big = client.logEvent({**event(), "event_properties": {"blob": "x" * 1000}}).result(5)
        assert big.status is Status.PAYLOAD_TOO_LARGE and big.reason == "payload_too_large"
        assert client.logEvent(event(1)).result(5).status is Status.SUCCESS
    finally:
        client.shutdown(2)
        small.stop()


def test_event_larger_than_the_request_limit_never_leaves(
    make_client: MakeClient, collector: Collector
) -> None:
    """An event over 1 MB on its own is dropped before sending (payload_too_large)."""
    client = make_client()
    response = client.logEvent({**event(), "event_properties": {"blob": "x" * 1_100_000}}).result(5)
    assert response.reason == "payload_too_large"
    assert collector.requests == []


def test_429_holds_throttled_users_and_sends_the_rest(
    make_client: MakeClient, collector: Collector
) -> None:
    """429: the throttled user waits and is retried, the others go at once, quota users drop."""
    body = {
        "code": 429,
        "error": "Too many requests for some devices and users",
        "eps_threshold": 30,
        "throttled_users": {"hot-user": 31},
        "exceeded_daily_quota_users": {"quota-user": 500200},
        "throttled_events": [0],
    }
    collector.script(Reply(429, body, headers={"Retry-After": "0"}))
    # The third event fills the cache and starts the upload (a flush would cut the hold short).
    client = make_client(upload_interval_in_sec=60, max_cached_events=3, retry_timeouts=[200])
    hot = client.logEvent(event(0, "hot-user"))
    cool = client.logEvent(event(1, "cool-user"))
    quota = client.logEvent(event(2, "quota-user"))
    assert quota.result(5).reason == "rate_limited_quota"
    assert cool.result(5).status is Status.SUCCESS and hot.result(5).status is Status.SUCCESS
    second, third = collector.requests[1:3]
    assert [e["user_id"] for e in second.payload["events"]] == ["cool-user"]
    assert [e["user_id"] for e in third.payload["events"]] == ["hot-user"]
    assert third.time - second.time >= 0.15  # held for the retry schedule, not resent at once


def test_5xx_backs_off_then_delivers_once(make_client: MakeClient, collector: Collector) -> None:
    """500, 502, 503 then success: delivered exactly once; onRetry sees every retry."""
    collector.script(Reply(500), Reply(502), Reply(503, b"<html>busy</html>"))
    calls: List[Tuple[str, int, bool]] = []
    client = make_client(
        retry_timeouts=[10, 10, 10, 10],
        on_retry=lambda response, attempt, last: calls.append((response.status, attempt, last)),
    )
    assert client.logEvent(event()).result(5).status is Status.SUCCESS
    assert len(collector.events) == 1
    assert calls == [("failed", 0, False), ("failed", 1, False), ("success", 2, False)]
    assert client.stats().retries == 3


def test_retries_exhausted_is_a_counted_drop(make_client: MakeClient, collector: Collector) -> None:
    """Always 503: after retryTimeouts the event resolves failed / retries_exhausted."""
    collector.script(*[Reply(503)] * 4)
    dropped: List[Tuple[int, str]] = []
    client = make_client(
        retry_timeouts=[5, 5, 5], on_drop=lambda evs, reason: dropped.append((len(evs), reason))
    )
    response = client.logEvent(event()).result(5)
    assert response.status is Status.FAILED and response.reason == "retries_exhausted"
    assert len(collector.requests) == 4
    assert dropped == [(1, "retries_exhausted")]
    assert client.stats().dropped == {"retries_exhausted": 1}


def test_timeout_is_retried_with_the_same_insert_id(
    make_client: MakeClient, collector: Collector
) -> None:
    """A slow answer past requestTimeoutMillis is retried; the duplicate keeps its insert_id."""
    collector.script(Delay(0.5))
    client = make_client(request_timeout_millis=100)
    assert client.logEvent(event()).result(5).status is Status.SUCCESS
    # The slow first attempt was ingested too: the retry's copy is absorbed by its insert_id.
    collector.wait_until(lambda c: c.duplicates_absorbed == 1, timeout=3)
    assert list(insert_ids(collector).values()) == [1]


def test_connection_dropped_after_accepting(make_client: MakeClient, collector: Collector) -> None:
    """The server ingests then drops the connection: the retry reuses the insert_id."""
    collector.script(AcceptThenDrop(), Drop())
    client = make_client()
    assert client.logEvent(event()).result(5).status is Status.SUCCESS
    assert list(insert_ids(collector).values()) == [1]
    assert collector.duplicates_absorbed == 1  # the retry's copy had the same insert_id


def test_server_down_then_back(make_client: MakeClient, collector: Collector) -> None:
    """Connection refused for a while: events wait on the schedule and arrive when it is back."""
    collector.set_down(True)
    attempts = threading.Event()
    client = make_client(retry_timeouts=[20] * 200, on_retry=lambda *a: attempts.set())
    future = client.logEvent(event())
    assert attempts.wait(5)
    collector.set_down(False)
    assert future.result(5).status is Status.SUCCESS
    assert len(collector.events) == 1


def test_flush_waits_for_retries(make_client: MakeClient, collector: Collector) -> None:
    """flush() returns only once retried events are delivered (legacy issues #87, #119)."""
    collector.script(Reply(503), Reply(503))
    client = make_client(retry_timeouts=[50, 50, 50])
    for i in range(5):
        client.logEvent(event(i))
    result = client.flush(5)
    assert (result.sent, result.dropped, result.pending, result.timed_out) == (5, 0, 0, False)
    assert len(collector.events) == 5


def test_flush_timeout_reports_pending(make_client: MakeClient, collector: Collector) -> None:
    """A flush that runs out of time says how many events are still pending."""
    collector.set_down(True)
    client = make_client(retry_timeouts=[30] * 100)
    for i in range(3):
        client.logEvent(event(i))
    result = client.flush(0.3)
    assert result.timed_out and result.pending == 3 and result.status is Status.FAILED
    collector.set_down(False)
    assert client.flush(5).pending == 0


def test_flush_cuts_a_long_backoff_short(make_client: MakeClient, collector: Collector) -> None:
    """A worker backing off for 30 s is woken by flush() and retries at once."""
    collector.script(Reply(503))
    client = make_client(retry_timeouts=[30_000])
    future = client.logEvent(event())
    collector.wait_for_requests(1, timeout=3)
    result = client.flush(3)
    assert not result.timed_out and future.result(0).status is Status.SUCCESS


def test_shutdown_timeout_drops_and_reports(make_client: MakeClient, collector: Collector) -> None:
    """shutdown with the server down: leftovers are dropped as shutdown_timeout, reported."""
    collector.set_down(True)
    dropped: List[str] = []
    client = make_client(
        retry_timeouts=[20] * 100, on_drop=lambda evs, reason: dropped.extend([reason] * len(evs))
    )
    futures = [client.logEvent(event(i)) for i in range(4)]
    result = client.shutdown(0.3)
    assert result.timed_out and result.pending == 4
    assert {f.result(2).reason for f in futures} == {"shutdown_timeout"}
    assert dropped == ["shutdown_timeout"] * 4
    assert client.stats().dropped == {"shutdown_timeout": 4}


def test_queue_bound_rejects_the_newest(make_client: MakeClient, collector: Collector) -> None:
    """maxQueueSize: events past the bound resolve failed / queue_full, the rest are kept."""
    client = make_client(upload_interval_in_sec=60, max_queue_size=5)
    futures = [client.logEvent(event(i)) for i in range(7)]
    rejected = [f.result(1) for f in futures[5:]]
    assert {r.reason for r in rejected} == {"queue_full"}
    assert client.flush(5).sent == 5


def test_raising_callbacks_are_counted_not_fatal(
    make_client: MakeClient, collector: Collector
) -> None:
    """onDrop and onRetry that raise are logged and counted; delivery goes on."""

    def boom(*args: Any) -> None:
        raise RuntimeError("user bug")

    collector.script(
        Reply(503), Reply(400, {"code": 400, "error": "x", "missing_field": "api_key"})
    )
    client = make_client(on_drop=boom, on_retry=boom)
    assert client.logEvent(event()).result(5).reason == "invalid"
    assert client.logEvent(event(1)).result(5).status is Status.SUCCESS
    assert client.stats().callback_errors == 2


def test_many_threads_against_a_flaky_server_deliver_exactly_once() -> None:
    """8 threads x 5000 events, 20% of requests answered 503: each event arrives once."""
    with Collector(fail_rate=0.2, seed=7) as flaky:
        client = NodeClient(API_KEY, server_url=flaky.http_api_url, retry_timeouts=[5] * 30)
        barrier = threading.Barrier(8)

        def produce(t: int) -> None:
            barrier.wait()
            for i in range(5000):
                client.logEvent(
                    {"event_type": "e", "user_id": f"user-{t}", "event_properties": {"i": i}}
                )

        threads = [threading.Thread(target=produce, args=(t,)) for t in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        result = client.flush(30)
        client.shutdown(5)
        assert result.pending == 0 and client.stats().dropped == {}
        counts = insert_ids(flaky)
        assert len(counts) == 40_000 and set(counts.values()) == {1}
        assert flaky.duplicates_absorbed == 0  # events holds each once; this says none was resent
        assert any(r.status == 503 for r in flaky.requests)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
# Forking while the client's threads run is the case under test (a pre-fork server), so
# Python 3.12's warning about fork in a threaded process is expected here.
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_forked_child_delivers_its_own_events(
    make_client: MakeClient, collector: Collector
) -> None:
    """After fork the child has a working client; the parent's queued events stay the parent's."""
    client = make_client(upload_interval_in_sec=60)
    client.logEvent(event(1, "parent-user"))  # queued in the parent, not yet sent
    pid = os.fork()
    if pid == 0:  # child: must deliver its own event and exit without running parent cleanup
        code = 1
        try:
            response = client.logEvent(event(2, "child-user"))
            client.flush(5)
            code = 0 if response.result(5).status is Status.SUCCESS else 1
        finally:
            os._exit(code)
    assert wait_for_child(pid) == 0
    assert [e["user_id"] for e in collector.events] == ["child-user"]
    assert client.flush(5).sent == 1
    assert sorted(e["user_id"] for e in collector.events) == ["child-user", "parent-user"]
    assert len(set(insert_ids(collector))) == 2


def test_exit_without_flush_delivers(collector: Collector) -> None:
    """A script that logs 100 events and ends without flush: the atexit hook delivers all."""
    script = textwrap.dedent(
        f"""
        import amplitude_legacy as Amplitude
        client = Amplitude.init(
            "KEY", server_url={collector.http_api_url!r}, upload_interval_in_sec=30
        )
        for i in range(100):
            client.logEvent({{"event_type": "exit-test", "user_id": "user-%03d" % i}})
        """
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=20)
    assert len(collector.events) == 100


def test_exit_with_server_down_logs_what_is_left(collector: Collector) -> None:
    """At exit with the server down, one log line gives the count left after the bound."""
    collector.set_down(True)
    script = textwrap.dedent(
        f"""
        import amplitude_legacy as Amplitude
        client = Amplitude.init(
            "KEY", server_url={collector.http_api_url!r}, exit_flush_timeout=0.3
        )
        for i in range(7):
            client.logEvent({{"event_type": "e", "user_id": "user-%03d" % i}})
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=20
    )
    assert done.returncode == 0
    assert "exiting with 7 event(s) not delivered" in done.stderr
    assert "KEY" not in done.stderr.replace("KEY)", "")


def test_offline_retry_handler_sends_failed_events_with_the_next_batch(
    make_client: MakeClient, collector: Collector
) -> None:
    """OfflineRetryHandler: a failed event waits (no timer) and goes first in the next send."""
    collector.script(Reply(500))
    client = make_client(retry_class=OfflineRetryHandler())
    first = client.logEvent(event(1))
    collector.wait_for_requests(1, timeout=3)
    assert not first.done()
    client.logEvent(event(2)).result(5)
    assert first.result(1).status is Status.SUCCESS
    assert [e["event_type"] for e in collector.requests[1].payload["events"]] == ["e1", "e2"]


def test_offline_retry_handler_drops_the_oldest_beyond_the_cache(
    make_client: MakeClient, collector: Collector
) -> None:
    """OfflineRetryHandler keeps at most maxCachedEvents failed events, dropping the oldest."""
    collector.set_down(True)
    client = make_client(retry_class=OfflineRetryHandler(), max_cached_events=2)
    futures = [client.logEvent(event(i)) for i in range(3)]
    client.flush(2)
    assert futures[0].result(2).reason == "queue_full"
    collector.set_down(False)
    client.flush(5)
    assert [f.result(1).status for f in futures[1:]] == [Status.SUCCESS, Status.SUCCESS]


def test_base_retry_handler_never_retries(make_client: MakeClient, collector: Collector) -> None:
    """BaseRetryHandler: one send; a 503 drops the event at once."""
    collector.script(Reply(503))
    client = make_client(retry_class=BaseRetryHandler())
    assert client.logEvent(event()).result(5).reason == "retries_exhausted"
    assert len(collector.requests) == 1


def test_custom_retry_class_replaces_sending(make_client: MakeClient, collector: Collector) -> None:
    """A user retryClass gets each batch; its Response decides the futures."""

    class Recorder:
        def __init__(self) -> None:
            self.batches: List[List[str]] = []

        def send_events_with_retry(self, events: List[Any]) -> Response:
            self.batches.append([e["event_type"] for e in events])
            return Response(Status.SUCCESS, 200)

    recorder = Recorder()
    client = make_client(retry_class=recorder)
    assert client.logEvent(event(1)).result(5).status is Status.SUCCESS
    assert recorder.batches == [["e1"]] and collector.requests == []


def test_legacy_transport_class(make_client: MakeClient, collector: Collector) -> None:
    """A legacy transportClass (send_payload(payload) -> Response) receives the payload."""

    class LegacyTransport:
        def __init__(self) -> None:
            self.payloads: List[dict[str, Any]] = []

        def send_payload(self, payload: dict[str, Any]) -> Response:
            self.payloads.append(payload)
            return Response(Status.SUCCESS, 200)

    transport = LegacyTransport()
    client = make_client(transport_class=transport)
    assert client.logEvent(event()).result(5).status is Status.SUCCESS
    assert transport.payloads[0]["api_key"] == API_KEY and collector.requests == []


def test_burst_of_failures_logs_one_line(
    make_client: MakeClient, collector: Collector, caplog: pytest.LogCaptureFixture
) -> None:
    """Many events dropped for one reason produce one log line with a count, not one per event."""
    caplog.set_level(logging.WARNING)
    collector.script(*[Reply(503)] * 10)
    client = make_client(retry_timeouts=[], upload_interval_in_sec=60)
    for i in range(50):
        client.logEvent(event(i))
    client.flush(5)
    lines = [r for r in caplog.records if "dropped" in r.getMessage()]
    assert len(lines) == 1 and "50 event(s)" in lines[0].getMessage()


def test_one_request_on_the_wire_at_a_time(make_client: MakeClient, collector: Collector) -> None:
    """maxConcurrentRequests 1: the next batch is encoded while a request waits, but only sent
    after its answer."""
    collector.script(Delay(0.3))
    client = make_client(max_concurrent_requests=1)
    client.logEvent(event(0))
    collector.wait_for_requests(1, timeout=3)
    for i in range(1, 11):
        client.logEvent(event(i))
    assert client.flush(5).pending == 0
    first, second = collector.requests[:2]
    assert second.time - first.time >= 0.29
    assert len(collector.events) == 11


def test_requests_overlap_up_to_the_limit(make_client: MakeClient, collector: Collector) -> None:
    """maxConcurrentRequests 2: a second full batch goes out while the first waits; a third
    waits for a free slot."""
    collector.script(Delay(1.0), Delay(1.0), Delay(1.0))
    client = make_client(max_concurrent_requests=2)
    for batch in range(3):
        for i in range(2000):  # a full batch goes out even while another request waits
            client.logEvent(event(batch * 2000 + i))
        if batch < 2:
            collector.wait_for_requests(batch + 1, timeout=5)
    assert client.flush(10).pending == 0
    first, second, third = collector.requests[:3]
    assert second.time - first.time < 0.9  # overlapped with the first
    assert third.time - first.time >= 0.95  # waited for a free slot
    assert len(collector.events) == 6000
