"""Edges of the engine found by review: each test failed before its fix."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any, Dict, List

import pytest

from amplitude_legacy import NodeClient, Status
from amplitude_legacy._spool import Spool
from amplitude_legacy.testing import Collector, Delay
from tests.conftest import API_KEY

ROOT = Path(__file__).resolve().parents[2]


def event(name: str, **fields: Any) -> Dict[str, Any]:
    return {"event_type": name, "user_id": "user-0001", **fields}


@pytest.mark.parametrize("limit", [1, 4])
def test_a_flush_waits_for_an_event_queued_behind_a_spool_backlog(
    collector: Collector, tmp_path: Path, limit: int
) -> None:
    """Spooled rows read at start never take the place of an event logged before a flush."""
    path = tmp_path / "s.spool"
    backlog = Spool(str(path))
    backlog.put([b'{"event_type":"old","user_id":"user-0002","insert_id":"o%d"}' % i
                 for i in range(3)])  # fmt: skip
    backlog.close()
    collector.script(Delay(0.3))
    client = NodeClient(API_KEY, server_url=collector.http_api_url, spool_path=str(path),
                        max_concurrent_requests=limit)  # fmt: skip
    try:
        future = client.logEvent(event("new"))
        result = client.flush(10)
        assert result.pending == 0 and future.done() and future.result(0).delivered
    finally:
        client.shutdown(5)


def test_one_failed_encode_does_not_poison_later_events(make_client: Any) -> None:
    """A shared nested dict that once failed to encode encodes fine afterwards."""
    common: Dict[str, Any] = {"region": "eu"}
    client = make_client(upload_interval_in_sec=60)
    first = client.logEvent(event("one", user_properties=common))
    common["tmp"] = object()  # after validation: the worker cannot encode it
    client.flush(5)
    assert first.result(1).status is Status.INVALID
    del common["tmp"]
    later = [client.logEvent(event("later", user_properties=common)) for _ in range(5)]
    client.flush(5)
    assert all(f.result(1).delivered for f in later)


@pytest.mark.parametrize("limit", [1, 4])
def test_an_event_accepted_while_shutdown_flushes_is_still_sent(
    collector: Collector, limit: int
) -> None:
    """Shutdown is a flush until its deadline: a racer accepted meanwhile is delivered."""
    gate = threading.Event()
    collector.script(Delay(0.5), Delay(0.5))
    client = NodeClient(API_KEY, server_url=collector.http_api_url,
                        max_concurrent_requests=limit)  # fmt: skip

    def hold_the_racer(payload: Any, next: Any) -> None:
        if payload.event["event_type"] == "racer":
            gate.wait(5)
        next(payload)

    client.addEventMiddleware(hold_the_racer)
    client.logEvent(event("first"))
    collector.wait_for_requests(1, timeout=5)
    futures: List[Any] = []
    racer = threading.Thread(target=lambda: futures.append(client.logEvent(event("racer"))))
    racer.start()
    stopper = threading.Thread(target=client.shutdown, args=(10,))
    stopper.start()
    time.sleep(0.05)  # let shutdown begin (the racer is past the closed check already)
    gate.set()
    racer.join(5)
    stopper.join(15)
    assert futures[0].result(5).delivered
    assert {e["event_type"] for e in collector.events} == {"first", "racer"}


def test_a_second_shutdown_waits_for_the_first(collector: Collector) -> None:
    """shutdown() from another thread (a signal handler) returns once the first is done."""
    collector.script(Delay(1.0))
    client = NodeClient(API_KEY, server_url=collector.http_api_url)
    future = client.logEvent(event("slow"))
    collector.wait_for_requests(1, timeout=5)
    first = threading.Thread(target=client.shutdown, args=(5,))
    first.start()
    time.sleep(0.05)
    client.shutdown(5)
    assert future.done() and future.result(0).delivered
    first.join(5)


def test_an_instance_replaced_by_init_is_delivered_at_exit(collector: Collector) -> None:
    """init() replacing a client shuts the old one down in the background; the exit waits."""
    script = textwrap.dedent(
        f"""
        import amplitude_legacy as Amplitude
        url = {collector.http_api_url!r}
        a = Amplitude.init("KEY", {{"serverUrl": url, "uploadIntervalInSec": 60}})
        for i in range(3):
            a.logEvent({{"event_type": f"old-{{i}}", "user_id": "user-0001"}})
        b = Amplitude.init("KEY", {{"serverUrl": url}})
        """
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=30, cwd=ROOT)
    assert sorted(e["event_type"] for e in collector.events) == ["old-0", "old-1", "old-2"]


class ExitsOnce:
    """A retryClass that raises SystemExit the first time (a gevent Timeout would do the same)."""

    def __init__(self) -> None:
        self.calls = 0

    def send_events_with_retry(self, events: List[Any]) -> Dict[str, Any]:
        self.calls += 1
        if self.calls == 1:
            raise SystemExit("boom")
        return {"status": "success", "statusCode": 200}


def test_a_base_exception_on_an_io_thread_never_strands_a_batch(make_client: Any) -> None:
    """The batch whose send raised SystemExit resolves; the next one still goes out."""
    client = make_client(retry_class=ExitsOnce(), max_concurrent_requests=1)
    a = client.logEvent(event("a"))
    assert client.flush(5).pending == 0
    assert a.result(0).reason == "retry_class_failed"
    assert client.logEvent(event("b")).result(5).delivered


def test_a_flaky_encoder_does_not_send_an_empty_slot(make_client: Any, monkeypatch: Any) -> None:
    """If the second try encodes the event, its bytes are sent (no `},,{` body)."""
    from amplitude_legacy import _encoding

    real = _encoding.encoder()
    failed: List[bool] = []

    def flaky(value: Any) -> bytes:
        if isinstance(value, dict) and value.get("event_type") == "flaky" and not failed:
            failed.append(True)
            raise ValueError("once")
        return real(value)

    monkeypatch.setattr(_encoding, "_encoder", flaky)
    client = make_client(upload_interval_in_sec=60)
    futures = [client.logEvent(event(name)) for name in ("a", "flaky", "c")]
    client.flush(5)
    assert [f.result(0).status for f in futures] == [Status.SUCCESS] * 3


def test_on_drop_raising_system_exit_still_resolves_the_future(collector: Collector) -> None:
    """onDrop that raises a BaseException: the future resolves anyway, the flush is exact."""

    def on_drop(events: Any, reason: str) -> None:
        raise SystemExit("from onDrop")

    collector.set_down(True)
    client = NodeClient(API_KEY, server_url=collector.http_api_url, retry_timeouts=[],
                        on_drop=on_drop)  # fmt: skip
    try:
        future = client.logEvent(event("doomed"))
        client.flush(3)
        assert future.done() and future.result(0).reason == "retries_exhausted"
    finally:
        client.shutdown(1)


def test_a_burst_that_overflows_one_request_goes_out_without_a_new_interval(
    collector: Collector,
) -> None:
    """maxCachedEvents reached: what did not fit the 1 MB body follows at once."""
    client = NodeClient(API_KEY, server_url=collector.http_api_url, max_cached_events=1000,
                        upload_interval_in_sec=5)  # fmt: skip
    try:
        started = time.monotonic()
        for i in range(1000):
            client.logEvent(event("big", event_properties={"pad": "x" * 1500, "i": i}))
        collector.wait_for_events(1000, timeout=4)
        assert time.monotonic() - started < 4
        assert len(collector.requests) >= 2
    finally:
        client.shutdown(5)
