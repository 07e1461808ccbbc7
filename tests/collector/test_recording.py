"""Recording, waiting, the JSONL store, rate limiting and the public surface."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Dict, List

import pytest

import amplitude_legacy.testing as testing
from amplitude_legacy.testing import CapturedRequest, Collector, Reply
from amplitude_legacy.testing._dedup import Deduplicator
from amplitude_legacy.testing._ratelimit import RateLimiter

from ._http import JSON_HEADERS, body, event, send, send_json


def test_captured_request_fields(amplitude_collector: Collector) -> None:
    """Each request is recorded with its target, lower-cased headers, raw body, payload, status."""
    data = body(event(0))
    before = time.monotonic()
    send(amplitude_collector, data, path="/batch?v=1", headers={**JSON_HEADERS, "X-Test": "a"})
    send(amplitude_collector, data, compress=True)
    send(amplitude_collector, b"{", path="/2/httpapi")
    first, second, third = amplitude_collector.requests
    assert first.path == "/batch?v=1"
    assert first.headers["x-test"] == "a"
    assert first.headers["content-type"] == "application/json"
    assert first.body == data
    assert first.payload == json.loads(data)
    assert first.status == 200
    assert before <= first.time <= second.time <= third.time <= time.monotonic()
    assert second.body[:2] == b"\x1f\x8b"  # the raw body, still gzip (its header holds a
    assert gzip.decompress(second.body) == data  # time in seconds: compare what it holds)
    assert second.payload == json.loads(data)
    assert (third.payload, third.status) == (None, 400)
    with pytest.raises(AttributeError):
        first.status = 500  # type: ignore[misc]


def test_events_hold_each_event_once(amplitude_collector: Collector) -> None:
    """Copies of a stored insert_id are answered 200, absorbed and counted, not stored twice."""
    send(amplitude_collector, body(event(0), event(1)))
    answer = send_json(amplitude_collector, body(event(1), event(2), event(0)))
    assert answer["events_ingested"] == 3  # absorbed copies are acknowledged like the real API
    send(amplitude_collector, body(event(0), event(3, insert_id=None), event(4, insert_id=None)))
    ids = [e.get("insert_id") for e in amplitude_collector.events]
    assert ids == ["insert-0000", "insert-0001", "insert-0002", None, None]
    assert amplitude_collector.duplicates_absorbed == 3
    assert amplitude_collector.duplicates() == ["insert-0000", "insert-0001"]


def test_dedup_key_is_project_device_or_user_and_insert_id(amplitude_collector: Collector) -> None:
    """The same insert_id on another device, user or API key, or inside one request, is exact."""
    same = "insert-same"
    send(amplitude_collector, body(event(0, insert_id=same, device_id="device-a")))
    send(amplitude_collector, body(event(1, insert_id=same, device_id="device-b")))
    send(amplitude_collector, body(event(2, insert_id=same, device_id="device-a"), api_key="k2"))
    send(amplitude_collector, body(event(3, insert_id=same), event(3, insert_id=same)))
    # The device decides when there is one: another user on device-a is still a copy.
    send(amplitude_collector, body(event(4, insert_id=same, device_id="device-a")))
    assert [e["user_id"] for e in amplitude_collector.events] == [
        "user-0000",
        "user-0001",
        "user-0002",
        "user-0003",
    ]
    assert amplitude_collector.duplicates_absorbed == 2
    assert amplitude_collector.duplicates() == [same]


def test_store_and_on_accept_get_stored_events_only(tmp_path: Path) -> None:
    """The JSONL store and on_accept see each event once, like events."""
    seen: List[str] = []
    store = tmp_path / "events.jsonl"
    with Collector(
        store=store, on_accept=lambda path, es: seen.extend(e["insert_id"] for e in es)
    ) as c:
        send(c, body(event(0), event(1)))
        send(c, body(event(1), event(2)))
    assert seen == ["insert-0000", "insert-0001", "insert-0002"]
    assert len(store.read_text("utf-8").splitlines()) == 3


def test_dedup_window_zero_stores_every_copy() -> None:
    """dedup_window=0 turns deduplication off: every accepted copy is stored."""
    with Collector(dedup_window=0) as collector:
        send(collector, body(event(0), event(0)))
        assert len(collector.events) == 2
        assert (collector.duplicates_absorbed, collector.duplicates()) == (0, [])


def test_reset_forgets_what_was_stored(amplitude_collector: Collector) -> None:
    """After reset() an event sent again is stored again and the absorbed count restarts."""
    send(amplitude_collector, body(event(0), event(0)))
    assert amplitude_collector.duplicates_absorbed == 1
    amplitude_collector.reset()
    send(amplitude_collector, body(event(0)))
    assert (len(amplitude_collector.events), amplitude_collector.duplicates_absorbed) == (1, 0)


def test_deduplicator_window_and_capacity() -> None:
    """Copies are absorbed within the window only, and capacity forgets the oldest keys."""
    dedup = Deduplicator(window=10.0)
    first = [event(0), event(1)]
    assert dedup.admit("k", first, now=100.0) == (first, [])
    assert dedup.admit("k", [event(0)], now=109.9) == ([], [event(0)])
    # The absorbed copy did not extend the window: at 110 the key is forgotten.
    assert dedup.admit("k", [event(0)], now=110.0) == ([event(0)], [])
    assert dedup.admit("other", [event(1)], now=110.0) == ([event(1)], [])
    bounded = Deduplicator(window=10.0, capacity=2)
    bounded.admit("k", [event(0), event(1), event(2)], now=0.0)
    assert len(bounded) == 2
    assert bounded.admit("k", [event(0), event(2)], now=1.0) == ([event(0)], [event(2)])
    bounded.clear()
    assert len(bounded) == 0


def test_records_are_copies(amplitude_collector: Collector) -> None:
    """events and requests return snapshots that later requests do not change."""
    send(amplitude_collector, body(event(0)))
    events, requests = amplitude_collector.events, amplitude_collector.requests
    send(amplitude_collector, body(event(1)))
    assert (len(events), len(requests)) == (1, 1)
    assert isinstance(requests[0], CapturedRequest)


def test_wait_for_events_returns_once_enough_arrived(amplitude_collector: Collector) -> None:
    """wait_for_events blocks until events sent from another thread arrive."""

    def later() -> None:
        for i in range(3):
            send(amplitude_collector, body(event(i)))

    thread = threading.Thread(target=later)
    thread.start()
    events = amplitude_collector.wait_for_events(3, timeout=5)
    thread.join(5)
    assert len(events) == 3


def test_wait_for_events_timeout_says_how_many_arrived(amplitude_collector: Collector) -> None:
    """On timeout, wait_for_events raises TimeoutError saying how many events did arrive."""
    send(amplitude_collector, body(event(0)))
    start = time.perf_counter()
    with pytest.raises(TimeoutError, match=r"at least 3 events; 1 events arrived in 1 requests"):
        amplitude_collector.wait_for_events(3, timeout=0.05)
    assert time.perf_counter() - start < 1


def test_wait_for_requests(amplitude_collector: Collector) -> None:
    """wait_for_requests counts every request, rejected ones included, and times out cleanly."""
    send(amplitude_collector, b"{")
    assert [r.status for r in amplitude_collector.wait_for_requests(1)] == [400]
    with pytest.raises(TimeoutError, match="at least 2 requests"):
        amplitude_collector.wait_for_requests(2, timeout=0.05)


def test_wait_until(amplitude_collector: Collector) -> None:
    """wait_until waits for a predicate over the collector, which may read its properties."""
    amplitude_collector.script(Reply(500))
    for i in range(2):
        send(amplitude_collector, body(event(i)))
    amplitude_collector.wait_until(
        lambda c: [r.status for r in c.requests] == [500, 200] and len(c.events) == 1, timeout=1
    )
    with pytest.raises(TimeoutError, match="the condition"):
        amplitude_collector.wait_until(lambda c: len(c.events) > 1, timeout=0.05)


def test_store_appends_accepted_events_as_json_lines(tmp_path: Path) -> None:
    """store= appends accepted events (not rejected ones) as JSON lines, across runs."""
    store = tmp_path / "events.jsonl"
    with Collector(store=store) as collector:
        send(collector, body(event(0), event(1, event_properties={"name": "zoë"})))
        send(collector, body(event(2, event_type=None)))
        assert [json.loads(line) for line in store.read_text("utf-8").splitlines()] == [
            event(0),
            event(1, event_properties={"name": "zoë"}),
        ]
    with Collector(store=str(store)) as collector:
        send(collector, body(event(3)))
    lines = store.read_text("utf-8").splitlines()
    assert [json.loads(line)["insert_id"] for line in lines] == [
        "insert-0000",
        "insert-0001",
        "insert-0003",
    ]


def test_on_accept_callback(tmp_path: Path) -> None:
    """on_accept gets (path, events) for each accepted request; its errors are contained."""
    seen: List[Any] = []

    def on_accept(path: str, events: List[Dict[str, Any]]) -> None:
        seen.append((path, [e["insert_id"] for e in events]))
        raise RuntimeError("callback bug")

    with Collector(on_accept=on_accept) as collector:
        assert send(collector, body(event(0)), path="/batch").status == 200
        send(collector, b"{")
        assert send(collector, body(event(1))).status == 200
    assert seen == [("/batch", ["insert-0000"]), ("/2/httpapi", ["insert-0001"])]


def user_event(n: int, user: str = "user-a", device: str = "device-a") -> Dict[str, Any]:
    """An event of ``user`` on ``device``."""
    return event(n, user_id=user, device_id=device)


def test_rate_limit_throttles_users_and_devices() -> None:
    """Over eps_threshold (30 s average) a 429 names throttled users, devices and events."""
    with Collector(eps_threshold=1) as collector:
        # 30 events in 30 s is exactly 1 per second: still allowed.
        assert send(collector, body(*(user_event(i) for i in range(30)))).status == 200
        data = body(user_event(30, "user-b"), user_event(31, "user-c", "device-c"))
        answer = send_json(collector, data)
        assert answer == {
            "code": 429,
            "error": "Too many requests for some devices and users",
            "eps_threshold": 1,
            "throttled_devices": {"device-a": 1},
            "throttled_users": {},
            "throttled_events": [0],
        }
        assert len(collector.events) == 30  # a 429 ingests nothing
        # Rejected events were not counted: other ids still get through.
        assert send(collector, body(user_event(32, "user-c", "device-c"))).status == 200
        answer = send_json(collector, body(user_event(33)), path="/batch")
        assert answer["exceeded_daily_quota_devices"] == {}
        assert answer["throttled_users"] == {"user-a": 1}


def test_rate_limit_is_per_api_key() -> None:
    """Windows are kept per project (API key)."""
    with Collector(eps_threshold=0.1) as collector:  # 3 events per 30 s
        assert send(collector, body(*(user_event(i) for i in range(3)))).status == 200
        assert send(collector, body(user_event(3))).status == 429
        assert send(collector, body(user_event(3), api_key="other-key")).status == 200


def test_rate_limit_window_slides() -> None:
    """Hits older than the window stop counting (pure limiter, injected clock)."""
    limiter = RateLimiter(eps_threshold=2, window=1.0)
    events = [user_event(0), user_event(1)]
    assert limiter.admit("/2/httpapi", "k", events, now=100.0) is None
    refused = limiter.admit("/2/httpapi", "k", [user_event(2)], now=100.9)
    assert refused is not None and refused["throttled_events"] == [0]
    assert limiter.admit("/2/httpapi", "k", [user_event(2)], now=101.0) is None
    limiter.clear()
    assert limiter.admit("/2/httpapi", "k", events, now=101.0) is None


def test_rate_limiting_is_off_by_default(amplitude_collector: Collector) -> None:
    """Without eps_threshold nobody is throttled."""
    for _ in range(3):
        assert send(amplitude_collector, body(*[user_event(0)] * 2000)).status == 200


def test_public_surface() -> None:
    """The package exports exactly the documented names, each with a docstring."""
    assert testing.__all__ == sorted(testing.__all__)
    assert set(testing.__all__) == {
        "AcceptThenDrop",
        "CapturedRequest",
        "Collector",
        "Delay",
        "Drop",
        "Reply",
        "Step",
        "Target",
        "target_from_env",
    }
    for name in testing.__all__:
        assert getattr(testing, name) is not None
    with pytest.raises(AttributeError):
        _ = testing.Nope


def test_plugin_import_is_light() -> None:
    """Importing the pytest plugin does not import the server module (or http.server)."""
    code = (
        "import sys, amplitude_legacy.testing.pytest_plugin;"
        "print(sorted(m for m in ('amplitude_legacy.testing._collector', 'http.server')"
        " if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=True
    )
    assert out.stdout.strip() == "[]"


def test_fixture_yields_a_running_collector(amplitude_collector: Collector) -> None:
    """The amplitude_collector fixture gives a started collector accepting any key."""
    assert send_json(amplitude_collector, body(event(0), api_key="any"))["code"] == 200
