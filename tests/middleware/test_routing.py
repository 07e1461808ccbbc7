"""route(...) to another Amplitude project: moved or copied events, the destinations registry
(flush, shutdown, stats by name), a destination that is down, and the official SDK."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable, Mapping

import pytest

from amplitude_legacy.middleware import (
    AmplitudeDestination,
    Destination,
    drop_events,
    redact,
    route,
)
from amplitude_legacy.plugins import MiddlewarePlugin, to_official_event
from amplitude_legacy.testing import Collector
from tests.conftest import MakeClient
from tests.middleware import SALT
from tests.middleware.conftest import free_port
from tests.plugins import flush_official
from tests.typing.api import AcceptEverything

EU = {"FR", "DE", "IE"}


def eu_user(event: Any) -> bool:
    return event.country in EU


@pytest.fixture
def eu_project(second_collector: Collector) -> Any:
    """The EU project: a destination aimed at the second collector."""
    destination = AmplitudeDestination(
        "EU_PROJECT_KEY", {"serverUrl": second_collector.http_api_url}, name="eu"
    )
    yield destination
    destination.shutdown(2)


def test_eu_users_go_to_the_eu_project_only(
    make_client: MakeClient, collector: Collector, second_collector: Collector, eu_project: Any
) -> None:
    """copy=False: EU events reach only the EU project, resolve skipped/"routed", counted; the
    destination's deliveries are in client.stats().destinations["eu"]."""
    client = make_client().addEventMiddleware(route(eu_user, eu_project, copy=False))
    futures = [
        client.logEvent({"event_type": "Login", "user_id": f"user-{country}", "country": country})
        for country in ("FR", "US", "DE", "BR")
    ]
    client.flush(5)
    assert [e["country"] for e in collector.wait_for_events(2, 5)] == ["US", "BR"]
    assert [e["country"] for e in second_collector.wait_for_events(2, 5)] == ["FR", "DE"]
    assert {r.payload["api_key"] for r in second_collector.requests} == {"EU_PROJECT_KEY"}
    reasons = [f.result(5).reason for f in futures]
    assert reasons == ["routed", None, "routed", None]
    stats = client.stats()
    assert stats.dropped == {"routed": 2} and stats.delivered == 2
    assert stats.destinations["eu"].delivered == 2


def test_copy_mirrors_what_survives_earlier_middleware(
    make_client: MakeClient, collector: Collector, second_collector: Collector, eu_project: Any
) -> None:
    """copy=True after filters and scrubbers: both projects get the same scrubbed events."""
    client = make_client()
    client.addEventMiddleware(drop_events("Health Check"))
    client.addEventMiddleware(redact("ip", "hash", salt=SALT))
    client.addEventMiddleware(route(["Order *", "Signed Up"], eu_project))
    client.logEvent({"event_type": "Order Paid", "user_id": "user-1", "ip": "198.51.100.1"})
    client.logEvent({"event_type": "Health Check", "device_id": "probe-01"})
    client.logEvent({"event_type": "Page Viewed", "user_id": "user-1"})
    client.flush(5)
    main = collector.wait_for_events(2, 5)
    [copy] = second_collector.wait_for_events(1, 5)
    assert copy == main[0] and copy["ip"] != "198.51.100.1"


def test_client_flush_and_shutdown_include_the_destinations(
    make_client: MakeClient, second_collector: Collector
) -> None:
    """A destination that batches for a minute is flushed by client.flush(), and shut down by
    client.shutdown()."""
    slow = AmplitudeDestination(
        "KEY", {"serverUrl": second_collector.http_api_url, "uploadIntervalInSec": 60}
    )
    client = make_client().addEventMiddleware(route("*", slow))
    client.logEvent({"event_type": "e", "user_id": "user-1"})
    assert second_collector.events == []
    result = client.flush(5)
    assert result.pending == 0 and len(second_collector.events) == 1
    client.shutdown(5)
    assert slow.closed and slow.send({"event_type": "e", "user_id": "u"}).result(1).reason == (
        "client_closed"
    )


def test_routed_copies_are_checked_on_the_destinations_worker(
    make_client: MakeClient, second_collector: Collector
) -> None:
    """A destination checks copies off the caller's thread, with logEvent's rules and message:
    an invalid copy ends invalid there (counted, onDrop), the valid ones in its batch go out."""
    dropped: list[tuple[str, str, bool]] = []

    def on_drop(events: Any, reason: str) -> None:
        here = threading.current_thread() is threading.main_thread()
        dropped.extend((e["user_id"], reason, here) for e in events)

    project = AmplitudeDestination(
        "KEY", {"serverUrl": second_collector.http_api_url, "onDrop": on_drop}
    )
    client = make_client().addEventMiddleware(route("*", project, copy=False))
    assert client.logEvent({"event_type": "e", "user_id": "abc"}).result(5).reason == "routed"
    client.logEvent({"event_type": "e", "user_id": "user-1"})
    short = project.send({"event_type": "e", "user_id": "xy"})
    project.flush(5)
    assert short.result(5).status == "invalid"
    assert short.result(5).error.startswith("Invalid event: user_id 'xy' is 2 character(s)")
    assert [e["user_id"] for e in second_collector.wait_for_events(1, 5)] == ["user-1"]
    assert project.stats().dropped == {"invalid": 2} and project.stats().delivered == 1
    assert dropped == [("abc", "invalid", False), ("xy", "invalid", False)]  # not the caller
    project.shutdown(1)


def test_a_destination_that_spools_first_checks_at_the_call(
    second_collector: Collector, tmp_path: Any
) -> None:
    """spoolMode="always" writes each event to disk before the worker sees it: the check stays
    in send(), so an invalid event never reaches the spool."""
    project = AmplitudeDestination(
        "KEY",
        {"serverUrl": second_collector.http_api_url, "spoolPath": str(tmp_path / "spool"),
         "spoolMode": "always"},
    )  # fmt: skip
    try:
        short = project.send({"event_type": "e", "user_id": "xy"})
        assert short.done() and short.result(0).status == "invalid"
    finally:
        project.shutdown(1)


def test_two_destinations_with_one_name_are_refused(make_client: MakeClient) -> None:
    """The default name is amplitude:<host>: a second one on the same host needs name=."""
    first = AmplitudeDestination("KEY_A")
    second = AmplitudeDestination("KEY_B")
    try:
        client = make_client().addEventMiddleware(route("a", first))
        with pytest.raises(ValueError, match=r"amplitude:api2\.amplitude\.com"):
            client.addEventMiddleware(route("b", second))
    finally:
        first.shutdown(0)
        second.shutdown(0)


def test_a_destination_that_is_down_never_blocks_nor_raises(
    make_client: MakeClient, collector: Collector
) -> None:
    """Nothing listens at the destination: logEvent stays fast, the main path delivers, flush
    and shutdown return within their timeouts, and the losses are counted there."""
    down = AmplitudeDestination(
        "KEY",
        {"serverUrl": f"http://127.0.0.1:{free_port()}/2/httpapi", "retryTimeouts": [20] * 500},
    )
    client = make_client().addEventMiddleware(route("*", down))
    started = time.monotonic()
    futures = [client.logEvent({"event_type": "e", "user_id": f"user-{i}"}) for i in range(200)]
    assert time.monotonic() - started < 2.0  # 200 calls; nothing waited on the network
    assert all(f.result(5).status == "success" for f in futures)
    assert len(collector.wait_for_events(200, 5)) == 200
    started = time.monotonic()
    result = client.flush(0.5)
    assert time.monotonic() - started < 3.0
    stats = client.stats().destinations[down.name]
    assert (result.timed_out, result.pending, stats.pending) == (True, 200, 200), (result, stats)
    started = time.monotonic()
    client.shutdown(0.5)
    assert time.monotonic() - started < 3.0
    stats = down.stats()  # every event accounted for: dropped, or unknown if on the wire
    assert set(stats.dropped) <= {"shutdown_timeout"}, stats
    assert stats.dropped.get("shutdown_timeout", 0) + stats.unknown == 200, stats


def test_route_inside_the_official_sdk(
    make_official: Callable[..., Any],
    collector: Collector,
    second_collector: Collector,
    eu_project: Any,
) -> None:
    """Through MiddlewarePlugin in amplitude-analytics, EU events go to the EU project only."""
    official = make_official().add(MiddlewarePlugin(route(eu_user, eu_project, copy=False)))
    for country in ("FR", "US"):
        official.track(to_official_event({"event_type": "Login", "user_id": "user-1",
                                          "country": country}))  # fmt: skip
    flush_official(official)
    eu_project.flush(5)
    assert [e["country"] for e in collector.wait_for_events(1, 5)] == ["US"]
    assert [e["country"] for e in second_collector.wait_for_events(1, 5)] == ["FR"]


def test_a_destination_of_your_own(make_client: MakeClient) -> None:
    """Destination(name, transport=...) gets the engine's batching and counting for free."""
    recorder = AcceptEverything()
    mine = Destination("mine", transport=recorder)
    client = make_client().addEventMiddleware(route("*", mine))
    client.logEvent({"event_type": "e", "user_id": "user-1"})
    client.flush(5)
    assert b'"event_type":"e"' in recorder.bodies[0]
    assert client.stats().destinations["mine"].delivered == 1
    client.shutdown(1)


def test_a_custom_destination_that_raises_does_not_cost_the_main_path(
    make_client: MakeClient, collector: Collector, caplog: pytest.LogCaptureFixture
) -> None:
    """copy=True: a send() that raises is logged once per burst; the event still goes out."""

    class Broken(Destination):
        def send(self, event: Mapping[str, Any]) -> Any:
            raise RuntimeError("broken")

    broken = Broken("broken", transport=AcceptEverything())
    client = make_client().addEventMiddleware(route("*", broken))
    caplog.set_level(logging.WARNING, logger="amplitude_legacy")
    for _ in range(3):
        assert client.logEvent({"event_type": "e", "user_id": "user-1"}).result(5).delivered
    assert len([r for r in caplog.records if "raised in send" in r.getMessage()]) == 1
    assert len(collector.events) == 3
