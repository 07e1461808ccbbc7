"""The durable spool wired into the client: outages, restarts, kill -9, corruption (issue 7)."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import textwrap
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from amplitude_legacy import NodeClient, Status
from amplitude_legacy.testing import Collector, Reply
from tests.conftest import API_KEY


def make(collector: Collector, spool: Path, **options: Any) -> NodeClient:
    options.setdefault("retry_timeouts", [5, 5])
    return NodeClient(API_KEY, server_url=collector.http_api_url, spool_path=str(spool), **options)


def event(i: int) -> dict[str, Any]:
    return {"event_type": "spooled", "user_id": f"user-{i:04d}", "event_properties": {"i": i}}


def assert_exactly_once(collector: Collector, n: int) -> None:
    ids = Counter(e["insert_id"] for e in collector.events)
    assert len(ids) == n and set(ids.values()) == {1}
    assert collector.duplicates_absorbed == 0  # sent once, not merely stored once
    assert sorted(e["event_properties"]["i"] for e in collector.events) == list(range(n))


def test_outage_longer_than_retries_then_restart_delivers_once(
    collector: Collector, tmp_path: Path
) -> None:
    """Server down past the schedule: events go to the spool; the next client sends each once."""
    spool = tmp_path / "events.spool"
    collector.set_down(True)
    first = make(collector, spool)
    futures = [first.logEvent(event(i)) for i in range(50)]
    responses = [f.result(5) for f in futures]
    assert {r.reason for r in responses} == {"spooled"}
    assert first.stats().spooled == 50 and first.stats().dropped == {}
    first.shutdown(2)

    collector.set_down(False)
    second = make(collector, spool)
    try:
        collector.wait_for_events(50, timeout=5)
        assert second.flush(5).pending == 0
    finally:
        second.shutdown(2)
    assert_exactly_once(collector, 50)


def test_server_back_drains_the_spool_in_the_same_process(
    collector: Collector, tmp_path: Path
) -> None:
    """After spooling, the first successful delivery brings the spooled events along."""
    collector.script(*[Reply(503)] * 3)
    client = make(collector, tmp_path / "s.spool")
    try:
        assert client.logEvent(event(0)).result(5).reason == "spooled"
        assert client.logEvent(event(1)).result(5).status is Status.SUCCESS
        collector.wait_for_events(2, timeout=5)
    finally:
        client.shutdown(2)
    assert_exactly_once(collector, 2)


def test_shutdown_timeout_spools_instead_of_dropping(collector: Collector, tmp_path: Path) -> None:
    """shutdown running out of time keeps the leftovers in the spool."""
    spool = tmp_path / "s.spool"
    collector.set_down(True)
    client = make(collector, spool, retry_timeouts=[20] * 100)
    for i in range(5):
        client.logEvent(event(i))
    client.shutdown(0.2)
    assert client.stats().spooled == 5 and client.stats().dropped == {}
    collector.set_down(False)
    again = make(collector, spool)
    try:
        collector.wait_for_events(5, timeout=5)
    finally:
        again.shutdown(2)
    assert_exactly_once(collector, 5)


def test_permanent_failures_are_never_spooled(collector: Collector, tmp_path: Path) -> None:
    """A 400 for the event is a drop, not a spool entry."""
    collector.script(Reply(400, {"code": 400, "error": "x", "missing_field": "api_key"}))
    client = make(collector, tmp_path / "s.spool")
    try:
        assert client.logEvent(event(0)).result(5).reason == "invalid"
        assert client.stats().spooled == 0
        assert client.getOptions().spool_path is not None
        assert client._worker.keeper.spool.count() == 0
    finally:
        client.shutdown(2)


def test_always_mode_survives_sigkill(collector: Collector, tmp_path: Path) -> None:
    """spoolMode=always: a process killed with SIGKILL loses nothing; the next one sends all."""
    spool = tmp_path / "always.spool"
    collector.set_down(True)
    script = textwrap.dedent(
        f"""
        import sys
        import amplitude_legacy as Amplitude
        client = Amplitude.init("KEY", server_url={collector.http_api_url!r},
                                spool_path={str(spool)!r}, spool_mode="always",
                                retry_timeouts=[1000] * 50)
        for i in range(300):
            client.logEvent({{"event_type": "spooled", "user_id": "user-%04d" % i,
                              "event_properties": {{"i": i}}}})
        print("logged", flush=True)
        sys.stdin.read()
        """
    )
    child = subprocess.Popen(
        [sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "logged"
        os.kill(child.pid, signal.SIGKILL)
        child.wait(10)
    finally:
        if child.poll() is None:
            child.kill()
    collector.set_down(False)
    survivor = make(collector, spool)
    try:
        collector.wait_for_events(300, timeout=10)
        assert survivor.flush(5).pending == 0
    finally:
        survivor.shutdown(2)
    assert_exactly_once(collector, 300)


def test_always_mode_acks_delivered_events(collector: Collector, tmp_path: Path) -> None:
    """spoolMode=always: delivered events leave the spool."""
    client = make(collector, tmp_path / "a.spool", spool_mode="always")
    try:
        futures = [client.logEvent(event(i)) for i in range(20)]
        assert all(f.result(5).status is Status.SUCCESS for f in futures)
        assert client._worker.keeper.spool.count() == 0
    finally:
        client.shutdown(2)


def test_corrupt_spool_is_moved_aside(
    collector: Collector, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A garbage spool file is reported and moved aside; the client keeps delivering."""
    caplog.set_level(logging.WARNING)
    spool = tmp_path / "bad.spool"
    spool.write_bytes(b"this is not a database" * 100)
    client = make(collector, spool)
    try:
        assert client.logEvent(event(0)).result(5).status is Status.SUCCESS
        collector.set_down(True)
        assert client.logEvent(event(1)).result(5).reason == "spooled"
    finally:
        client.shutdown(2)
    assert list(tmp_path.glob("bad.spool.corrupt-*"))
    assert "corrupt" in caplog.text.lower() or "moved" in caplog.text.lower()


def test_request_in_flight_at_shutdown_is_spooled(collector: Collector, tmp_path: Path) -> None:
    """An answer that has not come by shutdown's deadline: its events go to the spool."""
    from amplitude_legacy.testing import Drop

    spool = tmp_path / "s.spool"
    collector.script(Drop(delay=3))
    client = make(collector, spool)
    futures = [client.logEvent(event(i)) for i in range(5)]
    collector.wait_for_requests(1, timeout=3)
    client.shutdown(0.3)
    assert {f.result(2).reason for f in futures} == {"spooled"}
    survivor = make(collector, spool)
    try:
        collector.wait_for_events(5, timeout=5)
    finally:
        survivor.shutdown(2)
    assert_exactly_once(collector, 5)


def test_retry_class_deliveries_leave_the_spool(collector: Collector, tmp_path: Path) -> None:
    """With a custom retryClass and spoolMode=always, delivered events are acked."""
    from amplitude_legacy import Response

    class Accept:
        def send_events_with_retry(self, events: Any) -> Response:
            return Response(Status.SUCCESS, 200)

    client = make(collector, tmp_path / "r.spool", spool_mode="always", retry_class=Accept())
    try:
        futures = [client.logEvent(event(i)) for i in range(5)]
        assert all(f.result(5).status is Status.SUCCESS for f in futures)
        assert client._worker.keeper.spool.count() == 0
    finally:
        client.shutdown(2)


def test_a_full_spool_reports_what_it_refused(collector: Collector, tmp_path: Path) -> None:
    """spoolMaxEvents=3: three events are spooled, the other seven resolve spool_full."""
    collector.set_down(True)
    client = make(collector, tmp_path / "f.spool", spool_max_events=3, retry_timeouts=[])
    try:
        futures = [client.logEvent(event(i)) for i in range(10)]
        reasons = Counter(f.result(5).reason for f in futures)
        assert reasons == {"spooled": 3, "spool_full": 7}
        stats = client.stats()
        assert stats.spooled == 3 and stats.dropped == {"spool_full": 7}
    finally:
        client.shutdown(1)


def test_a_spool_backlog_does_not_starve_new_events(collector: Collector, tmp_path: Path) -> None:
    """New events take turns with a spool backlog instead of waiting for all of it."""
    from amplitude_legacy._spool import Spool

    path = tmp_path / "b.spool"
    backlog = Spool(str(path))
    old = b'{"event_type":"old","user_id":"user-0001","insert_id":"%d"}'
    backlog.put([old % i for i in range(20_000)])
    backlog.close()
    # At most max(1, maxConcurrentRequests // 2) = 2 spooled batches are on the wire at once,
    # and a new event goes before the next one. Counted in the collector's arrival order (it
    # records a request before its latency): old batches sent after the new one, while its
    # answer is on its way, do not count. The latency is long enough that no old batch
    # completes (and is replaced) between the client's start and the logEvent below.
    slow = Collector(latency=0.3).start()
    client = NodeClient(API_KEY, server_url=slow.http_api_url, spool_path=str(path))
    try:
        assert client.logEvent(event(1)).result(5).status is Status.SUCCESS
        kinds = [r.payload["events"][0]["event_type"] for r in slow.requests]
        assert kinds.index(event(1)["event_type"]) <= 2, kinds
    finally:
        client.shutdown(5)
        slow.stop()


def test_no_busy_wait_while_a_retry_is_scheduled(collector: Collector, tmp_path: Path) -> None:
    """A spooled batch backing off: the worker sleeps until the retry (no spinning)."""
    import time

    from amplitude_legacy._spool import Spool

    path = tmp_path / "w.spool"
    backlog = Spool(str(path))
    # Two batches: the first is answered 503 and backs off, the second is delivered.
    backlog.put([b'{"event_type":"old","user_id":"user-0001","insert_id":"w-%d"}' % i
                 for i in range(4000)])  # fmt: skip
    backlog.close()
    collector.script(Reply(503))
    client = make(collector, path, retry_timeouts=[400])
    try:
        # From the 503 on (start-up and the first batch's work left out, so a machine that
        # runs slow does not tip the ratio): backing off must cost next to no CPU.
        collector.wait_for_requests(1, timeout=5)
        cpu_before, wall_before = time.process_time(), time.monotonic()
        collector.wait_for_events(4000, timeout=5)
        spent = time.process_time() - cpu_before
        assert spent < 0.5 * (time.monotonic() - wall_before)
    finally:
        client.shutdown(2)


def test_write_ahead_into_a_full_spool_reports_what_it_evicted(tmp_path: Path) -> None:
    """spoolMode=always, spool full: the older events it evicts are counted and go to onDrop."""
    from amplitude_legacy._event import Event
    from amplitude_legacy._keeper import SpoolKeeper
    from amplitude_legacy._outcomes import Reporter
    from amplitude_legacy._spool import Spool
    from amplitude_legacy._stats import Counters, DropLog

    spool = Spool(str(tmp_path / "full.spool"), mode="always", max_events=5)
    spool.put(
        [b'{"event_type":"old","user_id":"user-0001","insert_id":"%d"}' % i for i in range(5)]
    )
    counters, dropped = Counters(), []
    keeper = SpoolKeeper(spool, counters)
    reporter = Reporter(counters, DropLog(), lambda events, reason, r: dropped.append(
        ([e["insert_id"] for e in events], reason)), keeper)  # fmt: skip
    keeper.report_lost = reporter.lost_in_spool
    for n in range(3):
        assert keeper.write_ahead(Event(event_type="new", user_id="user-0002", insert_id=f"n{n}"))
    assert counters.dropped == {"spool_full": 3}
    assert dropped == [(["0"], "spool_full"), (["1"], "spool_full"), (["2"], "spool_full")]
    spool.close()
