"""LegacyClient: the legacy API delivering through the official SDK, to the bundled collector."""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
from typing import Any, Callable, Iterator, List

import pytest

from amplitude_legacy import DropReason, Identify, MiddlewarePayload, Options, Status
from amplitude_legacy.plugins import INSTALL_HINT, LegacyClient
from amplitude_legacy.testing import Collector
from tests.plugins import API_KEY

MakeShim = Callable[..., LegacyClient]


@pytest.fixture
def make_shim(amplitude_collector: Collector) -> Iterator[MakeShim]:
    clients: List[LegacyClient] = []

    def make(options: Any = None, **kwargs: Any) -> LegacyClient:
        opts = {
            "serverUrl": amplitude_collector.http_api_url,
            "uploadIntervalInSec": 0.02,
            **(options or {}),
        }
        client = LegacyClient(API_KEY, opts, **kwargs)
        clients.append(client)
        return client

    try:
        yield make
    finally:
        for client in clients:
            client.shutdown(2)


def test_log_event_delivers_through_the_official_sdk(
    make_shim: MakeShim, amplitude_collector: Collector
) -> None:
    """logEvent's future resolves success/200 once the official SDK reports the delivery."""
    client = make_shim()
    future = client.logEvent(
        {"event_type": "Button Clicked", "user_id": "user-0001", "event_properties": {"c": "red"}}
    )
    response = future.result(2)
    assert response.status is Status.SUCCESS and response.status_code == 200
    [sent] = amplitude_collector.wait_for_events(1, 2)
    assert sent["event_properties"] == {"c": "red"}
    assert sent["library"].startswith("amplitude-python/")
    request = amplitude_collector.requests[0]
    assert "Python-urllib" in request.headers.get("user-agent", "")


def test_legacy_middleware_enriches_and_filters_with_extra(
    make_shim: MakeShim, amplitude_collector: Collector
) -> None:
    """addEventMiddleware runs in the official timeline; extra reaches it; a filter skips."""

    def route(payload: MiddlewarePayload, next: Any) -> None:
        payload.event.event_properties = {"route": (payload.extra or {}).get("route")}
        next(payload)

    def no_health_checks(payload: MiddlewarePayload, next: Any) -> None:
        if payload.event.event_type != "Health Check":
            next(payload)

    client = make_shim().addEventMiddleware(route).add_event_middleware(no_health_checks)
    kept = client.logEvent({"event_type": "Page", "user_id": "user-0001"}, {"route": "/home"})
    skipped = client.log_event({"event_type": "Health Check", "user_id": "user-0001"})
    assert skipped.result(1).status is Status.SKIPPED
    assert skipped.result(1).reason == DropReason.MIDDLEWARE_STOPPED
    assert kept.result(2).status is Status.SUCCESS
    client.flush(2)
    [sent] = amplitude_collector.wait_for_events(1, 2)
    assert sent["event_type"] == "Page" and sent["event_properties"] == {"route": "/home"}


def test_middleware_added_later_and_official_call_sites(
    make_shim: MakeShim, amplitude_collector: Collector
) -> None:
    """Middleware added after init applies to logEvent and to client.amplitude.track alike."""
    import amplitude  # type: ignore[import-untyped]

    client = make_shim()

    def server(payload: MiddlewarePayload, next: Any) -> None:
        payload.event.platform = "server"
        next(payload)

    client.addEventMiddleware(server)
    client.logEvent({"event_type": "Legacy", "user_id": "user-0001"}).result(2)
    client.amplitude.track(amplitude.BaseEvent("Migrated", user_id="user-0001"))
    assert client.flush(2).pending == 0
    sent = amplitude_collector.wait_for_events(2, 2)
    assert sorted((e["event_type"], e["platform"]) for e in sent) == [
        ("Legacy", "server"),
        ("Migrated", "server"),
    ]


def test_invalid_and_raising_cases_keep_legacy_semantics(
    make_shim: MakeShim, amplitude_collector: Collector
) -> None:
    """Invalid events resolve invalid; a raising middleware fails the future; nothing is sent."""
    client = make_shim()
    no_id = client.logEvent({"event_type": "No Id"}).result(1)
    assert no_id.status is Status.INVALID and "user_id" in (no_id.error or "")
    not_a_dict = client.logEvent(["event"]).result(1)  # type: ignore[arg-type]
    assert not_a_dict.status is Status.INVALID

    def broken(payload: MiddlewarePayload, next: Any) -> None:
        raise RuntimeError("middleware broke")

    client.addEventMiddleware(broken)
    with pytest.raises(RuntimeError, match="middleware broke"):
        client.logEvent({"event_type": "E", "user_id": "user-0001"}).result(1)
    assert client.flush(1).pending == 0
    assert amplitude_collector.events == []


def test_identify_and_group_identify(make_shim: MakeShim, amplitude_collector: Collector) -> None:
    """The legacy identify/groupIdentify signatures deliver $identify/$groupidentify."""
    client = make_shim()
    ident = client.identify("user-0001", None, Identify().set("plan", "pro").add("logins", 1))
    group = client.groupIdentify("org", "acme", Identify().set("tier", "gold"))
    assert ident.result(2).status is Status.SUCCESS and group.result(2).status is Status.SUCCESS
    assert client.identify("user-0001", None, "nope").result(1) is not None  # type: ignore[arg-type]
    sent = sorted(amplitude_collector.wait_for_events(2, 2), key=lambda e: e["event_type"])
    assert sent[0]["event_type"] == "$groupidentify" and sent[0]["groups"] == {"org": "acme"}
    assert sent[0]["group_properties"] == {"$set": {"tier": "gold"}}
    assert sent[1]["user_properties"] == {"$set": {"plan": "pro"}, "$add": {"logins": 1}}


def test_failures_map_to_legacy_status(make_shim: MakeShim, amplitude_collector: Collector) -> None:
    """A 400 from the server resolves invalid with the legacy reason and the server's message."""
    client = make_shim()
    response = client.logEvent({"event_type": "E", "user_id": "ab"}).result(2)  # id too short
    assert (response.status, response.status_code) == (Status.INVALID, 400)
    assert response.reason == DropReason.INVALID and response.error


def test_flush_opt_out_and_shutdown(make_shim: MakeShim, amplitude_collector: Collector) -> None:
    """flush reports what it waited for; opt-out skips; after shutdown events are skipped."""
    client = make_shim({"uploadIntervalInSec": 5})
    futures = [client.logEvent({"event_type": "E", "user_id": f"user-000{i}"}) for i in range(3)]
    result = client.flush(2)
    assert (result.sent, result.dropped, result.pending, result.timed_out) == (3, 0, 0, False)
    assert all(f.result(0).status is Status.SUCCESS for f in futures)
    client.setOptOut(True)
    assert (
        client.logEvent({"event_type": "E", "user_id": "user-0001"}).result(0).status == "skipped"
    )
    client.set_opt_out(False)
    assert (
        isinstance(client.getOptions(), Options)
        and client.get_options().upload_interval_in_sec == 5
    )
    client.shutdown(2)
    assert client.shutdown(2).sent == 0  # idempotent
    closed = client.logEvent({"event_type": "E", "user_id": "user-0001"}).result(0)
    assert (closed.status, closed.reason) == (Status.SKIPPED, DropReason.CLIENT_CLOSED)
    assert len(amplitude_collector.wait_for_events(3, 2)) == 3


def test_shutdown_ends_the_official_consumer_thread(amplitude_collector: Collector) -> None:
    """shutdown() wakes the official SDK's sleeping non-daemon thread, so exit is not delayed."""
    before = set(threading.enumerate())
    opts = {"serverUrl": amplitude_collector.http_api_url, "uploadIntervalInSec": 60}
    client = LegacyClient(API_KEY, opts)
    client.logEvent({"event_type": "E", "user_id": "user-0001"})
    started = [t for t in threading.enumerate() if t not in before and not t.daemon]
    assert started, "the official SDK started no consumer thread"
    client.shutdown(2)
    for thread in started:
        thread.join(1)
        assert not thread.is_alive(), thread.name


def test_context_manager_shuts_down(amplitude_collector: Collector) -> None:
    """``with LegacyClient(...)`` flushes and shuts the official client down on exit."""
    opts = {"serverUrl": amplitude_collector.http_api_url, "uploadIntervalInSec": 5}
    with LegacyClient(API_KEY, opts) as client:
        future = client.logEvent({"event_type": "E", "user_id": "user-0001"})
    assert future.result(0).status is Status.SUCCESS
    assert client.amplitude.configuration.opt_out is True  # the official shutdown ran
    assert "API" not in repr(client)


def test_unsupported_options_are_logged(
    make_shim: MakeShim, caplog: pytest.LogCaptureFixture
) -> None:
    """Options without an official equivalent are named in a warning, not silently ignored."""
    caplog.set_level(logging.WARNING, logger="amplitude_legacy")
    make_shim({"requestTimeoutMillis": 500, "gzip": True})
    assert "requestTimeoutMillis" in caplog.text and "gzip" in caplog.text


def test_missing_official_package_gives_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without amplitude-analytics, building a LegacyClient raises ImportError with the hint."""
    monkeypatch.setitem(sys.modules, "amplitude", None)
    with pytest.raises(ImportError, match=r"pip install amplitude_legacy\[official\]"):
        LegacyClient(API_KEY)
    assert INSTALL_HINT == "pip install amplitude_legacy[official]"


def test_plugins_package_imports_without_the_official_package() -> None:
    """``import amplitude_legacy.plugins`` works when amplitude-analytics cannot be imported."""
    code = (
        "import sys; sys.modules['amplitude'] = None\n"
        "import amplitude_legacy, amplitude_legacy.plugins as p\n"
        "try:\n    p.LegacyClient('k')\nexcept ImportError as e:\n    print(e)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=20, check=True
    )
    assert "pip install amplitude_legacy[official]" in out.stdout
