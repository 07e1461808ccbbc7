"""Fault injection: script steps, fail_next, fail_rate, latency and set_down."""

from __future__ import annotations

import http.client
import json
import random
import socket
import threading
import time
from typing import Any, List

import pytest

from amplitude_legacy.testing import AcceptThenDrop, Collector, Delay, Drop, Reply

from ._http import body, event, send, send_json, statuses

NO_ANSWER = (ConnectionError, http.client.HTTPException)


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (500, {"code": 500, "error": "Internal Server Error"}),
        (502, {"code": 502, "error": "Bad Gateway"}),
        (503, {"code": 503, "error": "Service Unavailable"}),
        (504, {"code": 504, "error": "Gateway Timeout"}),
        (403, {"code": 403, "error": "Forbidden"}),
        (413, {"code": 413, "error": "Payload too large"}),
        (
            429,
            {
                "code": 429,
                "error": "Too many requests for some devices and users",
                "eps_threshold": 30,
                "throttled_devices": {},
                "throttled_users": {},
                "throttled_events": [],
            },
        ),
    ],
)
def test_reply_standard_bodies(amplitude_collector: Collector, status: int, expected: Any) -> None:
    """Reply(status) answers the standard body for that status and ingests nothing."""
    amplitude_collector.script(Reply(status))
    assert send_json(amplitude_collector, body(event(0))) == expected
    assert amplitude_collector.events == []
    assert statuses(amplitude_collector) == [status]


def test_reply_429_on_batch_has_daily_quota_maps(amplitude_collector: Collector) -> None:
    """A standard 429 on /batch reports eps_threshold 1000 and the daily-quota maps."""
    amplitude_collector.script(Reply(429))
    answer = send_json(amplitude_collector, body(event(0)), path="/batch")
    assert answer["eps_threshold"] == 1000
    assert answer["exceeded_daily_quota_users"] == {}
    assert answer["exceeded_daily_quota_devices"] == {}


def test_reply_200_without_body_has_full_success_shape(amplitude_collector: Collector) -> None:
    """Reply(200) answers a complete success body (0 ingested) without recording events."""
    data = body(event(0))
    amplitude_collector.script(Reply(200))
    answer = send_json(amplitude_collector, data)
    assert answer["events_ingested"] == 0
    assert answer["payload_size_bytes"] == len(data)
    assert isinstance(answer["server_upload_time"], int)
    assert amplitude_collector.events == []


def test_reply_dict_body_and_headers(amplitude_collector: Collector) -> None:
    """A dict body is sent as JSON as given, with the extra headers."""
    amplitude_collector.script(
        Reply(429, {"code": 429, "error": "Rate limit exceeded"}, headers={"Retry-After": "1"})
    )
    answer = send(amplitude_collector, body(event(0)))
    assert answer.status == 429
    assert answer.json == {"code": 429, "error": "Rate limit exceeded"}
    assert answer.headers["retry-after"] == "1"
    assert answer.headers["content-type"] == "application/json"


@pytest.mark.parametrize(
    "page", ["<html><head><title>400 Bad Request</title></head></html>", b"<html/>"]
)
def test_reply_raw_body_is_html(amplitude_collector: Collector, page: Any) -> None:
    """A str or bytes body is sent raw as text/html, like an nginx error page."""
    amplitude_collector.script(Reply(400, page))
    answer = send(amplitude_collector, body(event(0)))
    assert answer.status == 400
    assert answer.headers["content-type"].startswith("text/html")
    assert answer.raw == (page.encode() if isinstance(page, str) else page)


def test_reply_content_type_can_be_overridden(amplitude_collector: Collector) -> None:
    """A Content-Type in Reply.headers replaces the default one."""
    amplitude_collector.script(Reply(502, "bad gateway", headers={"content-type": "text/plain"}))
    answer = send(amplitude_collector, body(event(0)))
    assert answer.headers["content-type"] == "text/plain"


def test_reply_delay(amplitude_collector: Collector) -> None:
    """Reply(delay=...) answers no sooner than the delay."""
    amplitude_collector.script(Reply(500, delay=0.15))
    start = time.perf_counter()
    assert send(amplitude_collector, body(event(0))).status == 500
    assert time.perf_counter() - start >= 0.15


def test_steps_apply_in_order_then_normal_behaviour_resumes(amplitude_collector: Collector) -> None:
    """Each step serves one request in order; after the script, requests succeed again."""
    amplitude_collector.script(Reply(500), Reply(503))
    amplitude_collector.script(Reply(502))  # appended
    codes = [send(amplitude_collector, body(event(i))).status for i in range(5)]
    assert codes == [500, 503, 502, 200, 200]
    assert [e["insert_id"] for e in amplitude_collector.events] == ["insert-0003", "insert-0004"]


def test_fail_next(amplitude_collector: Collector) -> None:
    """fail_next(n, status) fails exactly the next n requests."""
    amplitude_collector.fail_next(2)
    amplitude_collector.fail_next(1, status=500)
    codes = [send(amplitude_collector, body(event(i))).status for i in range(4)]
    assert codes == [503, 503, 500, 200]


def test_drop_closes_without_answer(amplitude_collector: Collector) -> None:
    """Drop reads the request and closes the connection: no answer, nothing ingested."""
    amplitude_collector.script(Drop())
    with pytest.raises(NO_ANSWER):
        send(amplitude_collector, body(event(0)))
    (request,) = amplitude_collector.requests
    assert request.status == 0
    assert request.payload["events"] == [event(0)]
    assert amplitude_collector.events == []
    assert send(amplitude_collector, body(event(0))).status == 200


def test_drop_delay(amplitude_collector: Collector) -> None:
    """Drop(delay) holds the connection open for the delay before closing it."""
    amplitude_collector.script(Drop(delay=0.15))
    start = time.perf_counter()
    with pytest.raises(NO_ANSWER):
        send(amplitude_collector, body(event(0)))
    assert time.perf_counter() - start >= 0.15


def test_accept_then_drop_ingests_and_a_retry_duplicates(amplitude_collector: Collector) -> None:
    """AcceptThenDrop ingests the events but never answers; a retry is absorbed as duplicates."""
    amplitude_collector.script(AcceptThenDrop())
    data = body(event(0), event(1))
    with pytest.raises(NO_ANSWER):
        send(amplitude_collector, data)
    assert len(amplitude_collector.events) == 2
    assert send_json(amplitude_collector, data)["events_ingested"] == 2
    assert len(amplitude_collector.events) == 2
    assert amplitude_collector.duplicates_absorbed == 2
    assert amplitude_collector.duplicates() == ["insert-0000", "insert-0001"]
    assert statuses(amplitude_collector) == [0, 200]


def test_accept_then_drop_still_validates(amplitude_collector: Collector) -> None:
    """AcceptThenDrop on an invalid request ingests nothing (and still does not answer)."""
    amplitude_collector.script(AcceptThenDrop())
    with pytest.raises(NO_ANSWER):
        send(amplitude_collector, body(event(0, event_type=None)))
    assert amplitude_collector.events == []


def test_delay_past_the_client_timeout(amplitude_collector: Collector) -> None:
    """Delay answers late; a client timing out meanwhile finds the events already ingested."""
    amplitude_collector.script(Delay(1.0))
    with pytest.raises(socket.timeout):
        send(amplitude_collector, body(event(0)), timeout=0.1)
    assert amplitude_collector.wait_for_events(1) == [event(0)]
    assert send(amplitude_collector, body(event(1))).status == 200


def test_delay_answers_normally(amplitude_collector: Collector) -> None:
    """Delay(seconds) gives the normal answer after the delay."""
    amplitude_collector.script(Delay(0.15))
    start = time.perf_counter()
    assert send_json(amplitude_collector, body(event(0)))["events_ingested"] == 1
    assert time.perf_counter() - start >= 0.15


def test_latency_applies_to_every_response() -> None:
    """latency delays successes and errors alike."""
    with Collector(latency=0.1) as collector:
        for data in (body(event(0)), b"{"):
            start = time.perf_counter()
            send(collector, data)
            assert time.perf_counter() - start >= 0.1


def test_each_step_is_used_exactly_once_under_concurrency(amplitude_collector: Collector) -> None:
    """Steps raced for by many connections are each applied to exactly one request."""
    amplitude_collector.script(*[Reply(500)] * 5)
    results: List[int] = []
    lock = threading.Lock()
    barrier = threading.Barrier(20)

    def client(n: int) -> None:
        barrier.wait(5)
        status = send(amplitude_collector, body(event(n))).status
        with lock:
            results.append(status)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5)
    assert sorted(results) == [200] * 15 + [500] * 5
    assert len(amplitude_collector.events) == 15


def test_fail_rate_is_reproducible_from_the_seed() -> None:
    """fail_rate answers 503 to the requests a random.Random(seed) picks, in order."""
    rng = random.Random(7)
    expected = [503 if rng.random() < 0.5 else 200 for _ in range(20)]
    assert 503 in expected and 200 in expected
    with Collector(fail_rate=0.5, seed=7) as collector:
        codes = [send(collector, body(event(i))).status for i in range(20)]
        failed = [r for r in collector.requests if r.status == 503]
        assert send_json(collector, body(event(99)))  # body invariants hold for 503 too
    assert codes == expected
    assert all(r.payload["events"][0]["event_type"] == "test_event" for r in failed)


def test_fail_rate_503_body() -> None:
    """A fail_rate failure carries the documented 503 body."""
    with Collector(fail_rate=1.0) as collector:
        assert send_json(collector, body(event(0))) == {
            "code": 503,
            "error": "Service Unavailable",
        }
        assert collector.events == []


def test_set_down_then_up(amplitude_collector: Collector) -> None:
    """Down: open connections die and new ones are refused; up: same port, records kept."""
    port = amplitude_collector.port
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    send_json(conn, body(event(0)))
    amplitude_collector.set_down(True)
    with pytest.raises((ConnectionError, http.client.HTTPException, OSError)):
        send_json(conn, body(event(1)))
    conn.close()
    with pytest.raises(ConnectionRefusedError):
        send(amplitude_collector, body(event(2)))
    amplitude_collector.set_down(True)  # already down: no-op
    amplitude_collector.set_down(False)
    assert amplitude_collector.port == port
    assert send_json(amplitude_collector, body(event(3)))["code"] == 200
    assert [e["insert_id"] for e in amplitude_collector.events] == ["insert-0000", "insert-0003"]


def test_set_down_repeatedly() -> None:
    """The collector can go down and come back several times on the same port."""
    with Collector() as collector:
        for i in range(3):
            collector.set_down(True)
            collector.set_down(False)
            assert send(collector, body(event(i))).status == 200
        assert len(collector.events) == 3


def test_set_down_needs_a_running_collector() -> None:
    """set_down() before start() raises RuntimeError."""
    with pytest.raises(RuntimeError):
        Collector().set_down(True)


def test_script_rejects_other_values(amplitude_collector: Collector) -> None:
    """script() accepts only step objects."""
    with pytest.raises(TypeError):
        amplitude_collector.script(500)  # type: ignore[arg-type]


def test_reset_clears_records_and_script(amplitude_collector: Collector) -> None:
    """reset() forgets events, requests and pending steps."""
    send(amplitude_collector, body(event(0)))
    amplitude_collector.script(Reply(500))
    amplitude_collector.reset()
    assert amplitude_collector.events == []
    assert amplitude_collector.requests == []
    assert send(amplitude_collector, body(event(0))).status == 200
    assert json.loads(amplitude_collector.requests[0].body)["events"] == [event(0)]
