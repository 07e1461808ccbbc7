"""Client hooks the layers above the engine build on: drop reasons, destinations, context,
``disabled``/``dryRun`` and ``flushOnSignals``."""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from typing import Any, Dict, List

import pytest

import amplitude_legacy as Amplitude
from amplitude_legacy import FlushResult, MiddlewarePayload, OptionsError, Status
from amplitude_legacy._stats import ClientStats
from amplitude_legacy.testing import Collector
from tests.conftest import MakeClient

EVENT = {"event_type": "Signed Up", "user_id": "user-123"}


def test_payload_drop_counts_under_its_own_reason(make_client: MakeClient) -> None:
    """payload.drop(reason) resolves skipped with that reason, counted and passed to onDrop."""
    seen: List[Any] = []
    client = make_client(on_drop=lambda events, reason: seen.append((len(events), reason)))
    client.addEventMiddleware(lambda payload, next: payload.drop("tracking_plan", "no email"))
    response = client.logEvent(dict(EVENT)).result(5)
    assert (response.status, response.reason, response.error) == (
        Status.SKIPPED,
        "tracking_plan",
        "no email",
    )
    assert client.stats().dropped == {"tracking_plan": 1}
    assert seen == [(1, "tracking_plan")]


def test_drop_wins_over_a_later_next(make_client: MakeClient) -> None:
    """A payload marked with drop() stays dropped even if next() is called afterwards."""
    client = make_client()

    def mark_then_next(payload: MiddlewarePayload, next: Any) -> None:
        payload.drop("sampled_out")
        next(payload)

    client.addEventMiddleware(mark_then_next)
    assert client.logEvent(dict(EVENT)).result(5).reason == "sampled_out"


def test_drop_needs_a_reason() -> None:
    """drop() with an empty or non-string reason raises ValueError at once."""
    payload = MiddlewarePayload(Amplitude.Event(EVENT))
    with pytest.raises(ValueError, match="reason"):
        payload.drop("")


def test_not_calling_next_is_still_middleware_stopped(make_client: MakeClient) -> None:
    """Without drop(), a middleware that does not call next stops the event as before."""
    client = make_client()
    client.addEventMiddleware(lambda payload, next: None)
    response = client.logEvent(dict(EVENT)).result(5)
    assert (response.status, response.reason) == (Status.SKIPPED, "middleware_stopped")


class _Destination:
    """A minimal destination: records what the client asks of it."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.calls: List[str] = []

    def flush(self, timeout: float | None) -> FlushResult:
        self.calls.append("flush")
        return FlushResult(sent=2)

    def shutdown(self, timeout: float | None) -> FlushResult:
        self.calls.append("shutdown")
        return FlushResult(sent=1, pending=1, timed_out=True)

    def stats(self) -> ClientStats:
        return ClientStats(delivered=7)


def _routing(*destinations: _Destination) -> Any:
    def route(payload: MiddlewarePayload, next: Any) -> None:
        next(payload)

    route.destinations = destinations  # type: ignore[attr-defined]
    return route


def test_destinations_join_flush_shutdown_and_stats(make_client: MakeClient) -> None:
    """A middleware's destinations are flushed, shut down and reported by name."""
    client = make_client()
    eu = _Destination("eu")
    client.addEventMiddleware(_routing(eu))
    client.logEvent(dict(EVENT))
    assert client.flush(5).sent == 1 + 2
    assert client.stats().destinations == {"eu": ClientStats(delivered=7)}
    result = client.shutdown(5)
    assert eu.calls == ["flush", "shutdown"]
    assert (result.pending, result.timed_out) == (1, True)


def test_duplicate_destination_names_are_refused(make_client: MakeClient) -> None:
    """Two destinations with one name on a client raise ValueError naming it."""
    client = make_client()
    client.addEventMiddleware(_routing(_Destination("eu")))
    with pytest.raises(ValueError, match="'eu'"):
        client.addEventMiddleware(_routing(_Destination("eu")))


def test_context_becomes_extra_and_explicit_extra_wins(make_client: MakeClient) -> None:
    """Inside context(), extra is the context's values, merged under the explicit extra."""
    client = make_client()
    extras: List[Any] = []
    client.addEventMiddleware(lambda payload, next: (extras.append(payload.extra), next(payload)))
    with Amplitude.context(route="/signup", request_id="r-1"):
        client.logEvent(dict(EVENT))
        with Amplitude.context(request_id="r-2"):
            client.logEvent(dict(EVENT), {"route": "/explicit"})
        client.identify("user-123", None, Amplitude.Identify().set("plan", "pro"))
    client.logEvent(dict(EVENT))
    assert extras == [
        {"route": "/signup", "request_id": "r-1"},
        {"route": "/explicit", "request_id": "r-2"},
        {"route": "/signup", "request_id": "r-1"},
        None,
    ]
    assert dict(Amplitude.current_context()) == {}


def test_a_non_dict_extra_inside_a_context_is_a_clear_type_error(make_client: MakeClient) -> None:
    """Inside context(), an extra that is not a mapping raises TypeError to the caller, naming
    the type; outside one, it reaches middleware as given (legacy: extra is passed through)."""
    client = make_client()
    extras: List[Any] = []
    client.addEventMiddleware(lambda payload, next: (extras.append(payload.extra), next(payload)))
    with Amplitude.context(route="/signup"), pytest.raises(TypeError, match=r"a dict .*got list"):
        client.logEvent(dict(EVENT), ["not", "a", "dict"])  # type: ignore[arg-type]
    client.logEvent(dict(EVENT), ["not", "a", "dict"])  # type: ignore[arg-type]
    assert extras == [["not", "a", "dict"]]


def test_context_decorates_sync_and_async_functions() -> None:
    """context() as a decorator sets the values for each call, for def and async def."""

    @Amplitude.context(job="export")
    def sync_job() -> Dict[str, Any]:
        return dict(Amplitude.current_context())

    @Amplitude.context(job="async-export")
    async def async_job() -> Dict[str, Any]:
        await asyncio.sleep(0)
        return dict(Amplitude.current_context())

    assert sync_job() == {"job": "export"}
    assert asyncio.run(async_job()) == {"job": "async-export"}
    assert dict(Amplitude.current_context()) == {}


def test_context_does_not_leak_into_other_threads() -> None:
    """A plain thread started inside a context does not see it (contextvars semantics)."""
    seen: List[Any] = []
    with Amplitude.context(route="/a"):
        thread = threading.Thread(target=lambda: seen.append(dict(Amplitude.current_context())))
        thread.start()
        thread.join(5)
    assert seen == [{}]


@pytest.mark.parametrize("option, reason", [("disabled", "disabled"), ("dry_run", "dry_run")])
def test_disabled_and_dry_run_send_nothing(
    collector: Collector, make_client: MakeClient, option: str, reason: str
) -> None:
    """disabled/dryRun: middleware runs, nothing is sent, futures resolve skipped, counted."""
    client = make_client(**{option: True})
    ran: List[str] = []
    client.addEventMiddleware(lambda payload, next: (ran.append("mw"), next(payload)))
    response = client.logEvent(dict(EVENT)).result(5)
    assert (response.status, response.reason) == (Status.SKIPPED, reason)
    assert ran == ["mw"]
    assert client.flush(5).pending == 0
    assert client.stats().dropped == {reason: 1}
    assert collector.requests == []


def test_dry_run_logs_the_event_as_it_would_be_sent(
    make_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    """dryRun logs each event's wire JSON on amplitude_legacy.dry_run at INFO."""
    client = make_client(dry_run=True)
    with caplog.at_level(logging.INFO, logger="amplitude_legacy.dry_run"):
        client.logEvent(dict(EVENT)).result(5)
    [record] = [r for r in caplog.records if r.name == "amplitude_legacy.dry_run"]
    assert '"event_type":"Signed Up"' in record.getMessage()
    assert '"insert_id":' in record.getMessage()


@pytest.mark.parametrize("value", [["SIGKILL"], ["NOPE"], "SIGTERM", [1.5]])
def test_flush_on_signals_is_validated(value: object) -> None:
    """A bad flushOnSignals raises OptionsError naming it."""
    with pytest.raises(OptionsError) as info:
        Amplitude.NodeClient("KEY", flush_on_signals=value)
    assert info.value.option == "flushOnSignals"


def test_flush_on_signals_installs_and_restores_handlers(make_client: MakeClient) -> None:
    """The handler chains to the previous one and is removed again at shutdown."""
    calls: List[int] = []
    previous = signal.signal(signal.SIGUSR1, lambda signum, frame: calls.append(signum))
    try:
        client = make_client(flush_on_signals=["SIGUSR1"])
        client.logEvent(dict(EVENT))
        assert signal.getsignal(signal.SIGUSR1) != previous
        signal.raise_signal(signal.SIGUSR1)
        assert calls == [signal.SIGUSR1]
        assert client.closed
        assert client.stats().delivered == 1
    finally:
        signal.signal(signal.SIGUSR1, previous)


def test_shutdown_puts_the_previous_handler_back(make_client: MakeClient) -> None:
    """A client shut down normally leaves no handler of its own behind."""
    previous = signal.getsignal(signal.SIGUSR2)
    client = make_client(flush_on_signals=["SIGUSR2"])
    assert signal.getsignal(signal.SIGUSR2) != previous
    client.shutdown(5)
    assert signal.getsignal(signal.SIGUSR2) == previous


def test_the_signal_helper_thread_ends_with_the_client(make_client: MakeClient) -> None:
    """The thread that waits to flush on a signal starts with the handlers and ends when the
    client shuts down without one: no thread is left behind."""
    previous = signal.getsignal(signal.SIGUSR2)
    client = make_client(flush_on_signals=["SIGUSR2"])
    helper = client._signals._helper  # type: ignore[union-attr]
    assert helper is not None and helper.is_alive() and helper.daemon
    client.shutdown(5)
    assert not helper.is_alive()
    assert signal.getsignal(signal.SIGUSR2) == previous


def test_a_handler_without_a_live_helper_shuts_down_on_a_thread_of_its_own(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """After a fork that ran no fork hook the helper is gone: the handler starts one."""
    from amplitude_legacy._signals import SignalFlusher

    shut: List[float] = []
    flusher = SignalFlusher(shut.append, 0.1)
    previous = signal.signal(signal.SIGUSR1, signal.SIG_DFL)
    try:
        flusher.install([signal.SIGUSR1])
        helper, wake = flusher._helper, flusher._wake
        flusher.after_fork_in_child()  # what the child of such a fork looks like
        monkeypatch.setattr("os.kill", lambda pid, signum: None)
        with pytest.raises(SystemExit):
            flusher._handle(signal.SIGUSR1, None)
        assert shut == [0.1]
    finally:
        signal.signal(signal.SIGUSR1, previous)
    wake.set()  # in a real child the parent's helper does not exist: end this one
    assert helper is not None
    helper.join(5)
    assert not helper.is_alive() and shut == [0.1]


def test_a_default_action_signal_that_does_not_end_the_process_exits_with_its_status(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """As PID 1 (a container without an init) the kernel ignores a re-raised default-action
    SIGTERM: the handler then exits with 128 + the signal number, as a shell would report."""
    from amplitude_legacy._signals import SignalFlusher

    shut: List[float] = []
    flusher = SignalFlusher(shut.append, 0.1)
    previous = signal.signal(signal.SIGUSR1, signal.SIG_DFL)
    try:
        flusher.install([signal.SIGUSR1])
        monkeypatch.setattr("os.kill", lambda pid, signum: None)  # what PID 1 experiences
        with pytest.raises(SystemExit) as info:
            flusher._handle(signal.SIGUSR1, None)
        assert info.value.code == 128 + signal.SIGUSR1 and shut == [0.1]
    finally:
        signal.signal(signal.SIGUSR1, previous)


def test_the_same_destination_routed_twice_counts_once(make_client: MakeClient) -> None:
    """One destination object in two routes is one registration (flushed once)."""
    client = make_client()
    eu = _Destination("eu")
    client.addEventMiddleware(_routing(eu)).addEventMiddleware(_routing(eu))
    client.flush(5)
    assert eu.calls == ["flush"] and list(client.stats().destinations) == ["eu"]


def test_a_routing_middleware_added_as_a_plugin_registers_its_destinations(
    make_client: MakeClient,
) -> None:
    """client.add(MiddlewarePlugin(route)) registers the destinations like addEventMiddleware."""
    from amplitude_legacy.plugins import MiddlewarePlugin

    client = make_client()
    eu = _Destination("eu")
    client.add(MiddlewarePlugin(_routing(eu)))
    client.shutdown(5)
    assert eu.calls == ["shutdown"] and list(client.stats().destinations) == ["eu"]
