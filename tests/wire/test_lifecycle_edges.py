"""Edges of the client's lifecycle: shutdown races, callbacks on the worker, fork, bad state."""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import Any, List

import pytest

import amplitude_legacy
from amplitude_legacy import NodeClient, OfflineRetryHandler, RetryHandler, Status
from amplitude_legacy.testing import Collector, Reply
from tests.conftest import API_KEY, MakeClient, run_without_sdk_fork_hooks, wait_for_child


def event(i: int = 0) -> dict[str, Any]:
    return {"event_type": f"e{i}", "user_id": f"user-{i:04d}"}


def test_event_logged_while_shutdown_finishes_is_resolved(
    make_client: MakeClient, collector: Collector
) -> None:
    """An event appended after the worker's last drain resolves client_closed, counted."""
    client = make_client()
    client.logEvent(event()).result(5)  # the worker is running
    entered, release = threading.Event(), threading.Event()

    def slow(payload: Any, next: Any) -> None:
        entered.set()
        release.wait(5)
        next(payload)

    client.addEventMiddleware(slow)
    results: List[Any] = []
    logger = threading.Thread(target=lambda: results.append(client.logEvent(event(1))))
    logger.start()
    assert entered.wait(5)
    client.shutdown(2)  # completes while the event is still inside the middleware
    release.set()
    logger.join(5)
    response = results[0].result(timeout=2)
    assert response.reason == "client_closed"
    assert client.stats().pending == 0 and client.stats().dropped.get("client_closed") == 1


def test_flush_after_a_timed_out_shutdown_returns(
    make_client: MakeClient, collector: Collector
) -> None:
    """After shutdown gave up on a down server, flush() returns at once instead of hanging."""
    collector.set_down(True)
    client = make_client(retry_timeouts=[50] * 100)
    client.logEvent(event())
    client.shutdown(0.2)
    done = threading.Event()
    threading.Thread(target=lambda: (client.flush(), done.set()), daemon=True).start()
    assert done.wait(3)


def test_flush_inside_a_done_callback_does_not_deadlock(
    make_client: MakeClient, collector: Collector, caplog: pytest.LogCaptureFixture
) -> None:
    """A flush() from a callback that runs on the worker returns at once, with a warning."""
    client = make_client(upload_interval_in_sec=60)
    first = client.logEvent(event(1))
    first.add_done_callback(lambda _: client.flush())  # runs on the worker thread
    client.flush(5)
    assert client.logEvent(event(2)) is not None and client.flush(5).pending == 0
    assert len(collector.events) == 2
    assert "flush() called on the worker thread" in caplog.text


def test_repeated_flushes_do_not_burn_the_retry_schedule(
    make_client: MakeClient, collector: Collector
) -> None:
    """Flush per invocation against a down server: one backoff is cut short, not all of them."""
    collector.set_down(True)
    client = make_client(retry_timeouts=[5000] * 12)
    future = client.logEvent(event())
    for _ in range(10):
        client.flush(0.03)
    assert not future.done()
    assert client.stats().requests <= 3
    client.shutdown(0.1)


def test_worker_survives_an_event_that_cannot_be_encoded(
    make_client: MakeClient, collector: Collector
) -> None:
    """A caller that nests 10,000 levels after logEvent gets its event dropped; the worker lives."""
    client = make_client(upload_interval_in_sec=60)
    props: dict[str, Any] = {}
    bad = client.logEvent({**event(1), "event_properties": {"p": props}})
    node = props
    for _ in range(10_000):  # deeper than any encoder's recursion limit
        node["n"] = {}
        node = node["n"]
    client.flush(5)
    assert bad.result(2).reason == "invalid"
    good = client.logEvent(event(2))
    client.flush(5)
    assert good.result(2).status is Status.SUCCESS


def test_a_spool_that_cannot_be_written_drops_for_the_real_reason(
    collector: Collector, tmp_path: Path
) -> None:
    """A spool write that fails is a counted drop (retries_exhausted, onDrop), not 'spooled'."""
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("x")
    reasons: List[str] = []
    collector.set_down(True)
    client = NodeClient(
        API_KEY,
        server_url=collector.http_api_url,
        retry_timeouts=[5],
        spool_path=str(blocker / "spool.db"),
        on_drop=lambda events, reason: reasons.append(reason),
    )
    try:
        assert client.logEvent(event()).result(5).reason == "retries_exhausted"
        assert client.stats().spooled == 0 and reasons == ["retries_exhausted"]
    finally:
        client.shutdown(1)


def test_offline_flush_reports_held_events_as_pending(
    make_client: MakeClient, collector: Collector
) -> None:
    """OfflineRetryHandler with the server down: flush says the held event is still pending."""
    collector.script(Reply(503))
    client = make_client(retry_class=OfflineRetryHandler())
    future = client.logEvent(event())
    result = client.flush(5)
    assert not future.done() and result.pending == 1 and result.status is Status.FAILED


def test_retry_handler_with_an_empty_schedule_never_retries(
    make_client: MakeClient, collector: Collector
) -> None:
    """RetryHandler(key, {'retryTimeouts': []}) means no retries, not the default twelve."""
    collector.script(Reply(503))
    client = make_client(retry_class=RetryHandler(API_KEY, {"retryTimeouts": []}))
    assert client.logEvent(event()).result(5).reason == "retries_exhausted"
    assert len(collector.requests) == 1


def test_log_level_never_hides_drop_warnings(collector: Collector) -> None:
    """logLevel=1 (errors) keeps the package logger at WARNING: losses stay visible."""
    client = NodeClient(API_KEY, server_url=collector.http_api_url, log_level=1)
    try:
        assert logging.getLogger("amplitude_legacy").getEffectiveLevel() <= logging.WARNING
    finally:
        client.shutdown(1)
        logging.getLogger("amplitude_legacy").setLevel(logging.NOTSET)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_fork_while_the_future_lock_is_held() -> None:
    """A child forked while the futures' lock is held gets a fresh lock (no frozen child)."""
    from amplitude_legacy import _future

    with _future._LAZY:
        pid = os.fork()
        if pid == 0:
            ok = amplitude_legacy._future._LAZY.acquire(timeout=2)
            os._exit(0 if ok else 1)
    assert wait_for_child(pid) == 0


def test_stats_and_flush_while_other_threads_log(make_client: MakeClient) -> None:
    """stats() and flush() never raise while callers append (the queue is read as a copy)."""
    client = make_client(upload_interval_in_sec=60)
    threads = [
        threading.Thread(target=lambda: [client.logEvent(event(i)) for i in range(5000)])
        for _ in range(2)
    ]
    for thread in threads:
        thread.start()
    while any(thread.is_alive() for thread in threads):
        client.stats()
        client.flush(0.001)
    for thread in threads:
        thread.join()
    assert client.flush(10).pending == 0


def test_no_worker_thread_at_interpreter_exit(
    make_client: MakeClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No thread can start (3.12+ at exit): flush returns, shutdown drops the events, counted."""
    real_start = threading.Thread.start

    def refuse(self: threading.Thread) -> None:
        if self.name == "amplitude_legacy-worker":
            raise RuntimeError("can't create new thread at interpreter shutdown")
        real_start(self)

    monkeypatch.setattr(threading.Thread, "start", refuse)
    client = make_client()
    future = client.logEvent(event())
    assert client.flush(5).pending == 1
    result = client.shutdown(1)
    assert result.pending == 1 and future.result(1).reason == "shutdown_timeout"


def test_a_fork_that_runs_no_fork_hook_still_delivers(collector: Collector) -> None:
    """A fork that runs none of the SDK's fork hooks (a server that forks from C): the child's
    flush notices the new pid, starts its own worker and delivers what it logged."""
    done = run_without_sdk_fork_hooks(
        """
        import faulthandler
        from amplitude_legacy import NodeClient

        def event(i):
            return {"event_type": f"e{i}", "user_id": f"user-{i:04d}"}

        client = NodeClient(sys.argv[1], server_url=sys.argv[2])
        assert client.logEvent(event(1)).result(5).delivered  # the worker runs in the parent
        assert "amplitude_legacy._lifecycle" in SKIPPED_HOOKS, SKIPPED_HOOKS
        pid = os.fork()
        if pid == 0:  # the child: none of the SDK's fork hooks ran
            code = 1
            try:
                # A child stuck on a lock the fork copied held ends with every thread's stack
                # on stderr, before the subprocess' timeout.
                faulthandler.dump_traceback_later(20, exit=True)
                futures = [client.logEvent(event(100 + n)) for n in range(3)]
                result = client.flush(5)
                delivered = all(f.result(1).delivered for f in futures)
                code = 0 if result.pending == 0 and delivered else 2
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        print("child exit", os.waitstatus_to_exitcode(status))
        client.shutdown(2)
        """,
        API_KEY,
        collector.http_api_url,
    )
    assert done.returncode == 0 and "child exit 0" in done.stdout, done
    received = {e["event_type"] for e in collector.wait_for_events(4, timeout=5)}
    assert {"e100", "e101", "e102"} <= received
