"""Shutdown's deadline: what starts, what is unknown, what is dropped, and nothing lingers."""

from __future__ import annotations

import atexit
import time
from pathlib import Path
from typing import List

import pytest

import amplitude_legacy as Amplitude
from amplitude_legacy import NodeClient, Status, _lifecycle
from amplitude_legacy.testing import Collector, Delay
from tests.conftest import API_KEY


def events(n: int, start: int = 0) -> List[dict]:
    return [{"event_type": "Tick", "user_id": "user-0001", "insert_id": f"id-{i}"}
            for i in range(start, start + n)]  # fmt: skip


def test_no_request_starts_after_the_deadline(collector: Collector) -> None:
    """One slow request on the wire at the deadline: the next batch never goes out."""
    collector.script(Delay(0.8))
    client = NodeClient(API_KEY, server_url=collector.http_api_url, max_concurrent_requests=1)
    first = [client.logEvent(e) for e in events(1)]
    collector.wait_for_requests(1, timeout=5)
    later = [client.logEvent(e) for e in events(2000, start=1)]  # a whole batch, prepared
    result = client.shutdown(0.3)
    assert result.timed_out
    assert {f.result(2).reason for f in later} == {"shutdown_timeout"}
    with pytest.raises(TimeoutError):
        collector.wait_for_requests(2, timeout=1.2)  # the first answer came; nothing followed
    assert first[0].done()


def test_a_request_on_the_wire_at_the_deadline_is_unknown_not_dropped(
    collector: Collector,
) -> None:
    """Its events may be in Amplitude: Status.UNKNOWN, counted apart, never passed to onDrop."""
    collector.script(Delay(1.5))
    dropped: List[str] = []
    client = NodeClient(
        API_KEY,
        server_url=collector.http_api_url,
        on_drop=lambda events, reason: dropped.append(reason),
    )
    future = client.logEvent(events(1)[0])
    collector.wait_for_requests(1, timeout=5)
    client.shutdown(0.2)
    response = future.result(2)
    assert (response.status, response.reason) == (Status.UNKNOWN, "unknown_outcome")
    stats = client.stats()
    assert stats.unknown == 1 and stats.dropped == {} and dropped == []
    assert [e["insert_id"] for e in collector.wait_for_events(1, timeout=3)] == ["id-0"]


def test_with_a_spool_an_unknown_outcome_is_kept_for_a_resend(
    collector: Collector, tmp_path: Path
) -> None:
    """With spoolPath the maybe-delivered events are spooled (a resend is deduplicated)."""
    collector.script(Delay(1.5))
    client = NodeClient(API_KEY, server_url=collector.http_api_url, spool_path=str(tmp_path / "s"))
    future = client.logEvent(events(1)[0])
    collector.wait_for_requests(1, timeout=5)
    client.shutdown(0.2)
    assert future.result(2).reason == "spooled"
    assert client.stats().unknown == 0 and client.stats().spooled == 1


def test_clients_leave_no_hooks_behind() -> None:
    """Creating and shutting down many clients adds no atexit callback and no live client."""
    before = atexit._ncallbacks()  # type: ignore[attr-defined]
    for _ in range(2000):
        NodeClient(API_KEY, server_url="http://127.0.0.1:9/2/httpapi").shutdown(0)
    assert atexit._ncallbacks() <= before + 1  # type: ignore[attr-defined]
    assert not any(c.getOptions().server_url.endswith(":9/2/httpapi")
                   for c in _lifecycle.live_clients())  # fmt: skip


def test_init_does_not_wait_for_the_client_it_replaces() -> None:
    """A previous default instance whose server is gone is shut down in the background."""
    with Collector() as gone:
        url = gone.http_api_url
    old = Amplitude.init(API_KEY, server_url=url, exit_flush_timeout=0.5)
    pending = old.logEvent(events(1)[0])
    started = time.monotonic()
    new = Amplitude.init(API_KEY, server_url=url)
    assert time.monotonic() - started < 1.0
    assert Amplitude.getInstance() is new
    assert pending.result(10).reason in ("retries_exhausted", "shutdown_timeout")
    new.shutdown(0)


def test_a_nan_timeout_is_a_clear_error() -> None:
    """flush/shutdown with a NaN timeout raise ValueError; inf means no bound."""
    client = NodeClient(API_KEY, server_url="http://127.0.0.1:9/2/httpapi")
    with pytest.raises(ValueError, match="timeout"):
        client.flush(float("nan"))
    assert client.flush(float("inf")).pending == 0
    assert client.shutdown(float("inf")).pending == 0
