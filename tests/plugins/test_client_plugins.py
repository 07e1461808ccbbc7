"""Plugins on our client: add/remove, each plugin type, ordering, and plugins that raise."""

from __future__ import annotations

import logging
from typing import Any, Iterator, List

import pytest

from amplitude_legacy import Event, MiddlewarePayload, Status
from amplitude_legacy.plugins import (
    BeforePlugin,
    DestinationPlugin,
    EnrichmentPlugin,
    MiddlewarePlugin,
    Plugin,
    PluginMiddleware,
    PluginType,
)
from amplitude_legacy.testing import Collector
from tests.plugins import MakeClient, client_factory


@pytest.fixture
def make(amplitude_collector: Collector) -> Iterator[MakeClient]:
    yield from client_factory(amplitude_collector)


def event(i: int = 0, **fields: Any) -> dict[str, Any]:
    return {"event_type": "Button Clicked", "user_id": f"user-{i:04d}", **fields}


class Recorder(EnrichmentPlugin):
    """Appends its name to a shared list, then passes the event on."""

    def __init__(self, name: str, log: List[str], kind: PluginType = PluginType.ENRICHMENT):
        super().__init__(name)
        self.type = kind
        self.log = log

    def execute(self, event: Event) -> Event | None:
        self.log.append(self.name)
        return event


class Mirror(DestinationPlugin):
    """Keeps every event it is given; counts flush and teardown calls."""

    def __init__(self, name: str = "mirror") -> None:
        super().__init__(name)
        self.events: List[Event] = []
        self.flushes = 0
        self.teardowns = 0

    def execute(self, event: Event) -> None:
        self.events.append(event)

    def flush(self) -> None:
        self.flushes += 1

    def teardown(self) -> None:
        self.teardowns += 1


def test_plugin_of_each_type_runs_in_order(
    make: MakeClient, amplitude_collector: Collector
) -> None:
    """before → enrichment/middleware (registration order) → destination; the upload is intact."""
    order: List[str] = []
    client = make()

    def middleware(name: str) -> Any:
        def run(payload: MiddlewarePayload, next: Any) -> None:
            order.append(name)
            payload.event.event_properties = {**(payload.event.event_properties or {}), name: 1}
            next(payload)

        return run

    mirror = Mirror()
    client.addEventMiddleware(middleware("mw-a"))
    client.add(Recorder("enrich", order))
    client.addEventMiddleware(middleware("mw-b"))
    client.add(Recorder("before", order, PluginType.BEFORE))
    client.add(mirror)
    response = client.logEvent(event()).result(2)
    assert response.status is Status.SUCCESS
    assert order == ["before", "mw-a", "enrich", "mw-b"]
    [copy] = mirror.events
    assert copy["event_properties"] == {"mw-a": 1, "mw-b": 1}
    assert copy["insert_id"] and copy["library"].startswith("amplitude-legacy")
    [sent] = amplitude_collector.wait_for_events(1, 2)
    assert sent["event_properties"] == {"mw-a": 1, "mw-b": 1}
    assert sent["insert_id"] == copy["insert_id"]


def test_before_plugin_sees_annotated_event_and_can_drop(
    make: MakeClient, amplitude_collector: Collector
) -> None:
    """A before plugin gets time/insert_id/library already set; returning None drops the event."""
    seen: List[Event] = []

    class DropBots(BeforePlugin):
        def execute(self, event: Event) -> Event | None:
            seen.append(Event(event))
            return None if (event.user_id or "").startswith("bot") else event

    client = make().add(DropBots())
    dropped = client.track("Crawl", None, {"user_id": "bot-00001"}).result(2)
    kept = client.track("Visit", None, {"user_id": "user-0001"}).result(2)
    assert (dropped.code, dropped.response and dropped.response.status) == (0, Status.SKIPPED)
    assert kept.code == 200
    assert all(e.time and e.insert_id and e.library for e in seen)
    assert [e["event_type"] for e in amplitude_collector.wait_for_events(1, 2)] == ["Visit"]


def test_enrichment_plugin_changes_the_sent_event(
    make: MakeClient, amplitude_collector: Collector
) -> None:
    """An enrichment plugin's change reaches the collector; returning a new dict works too."""

    class Version(EnrichmentPlugin):
        def execute(self, event: Event) -> Any:
            return {**event, "app_version": "2.0.0"}  # a plain dict: wrapped into an Event

    make().add(Version()).logEvent(event()).result(2)
    [sent] = amplitude_collector.wait_for_events(1, 2)
    assert sent["app_version"] == "2.0.0"


def test_destination_gets_a_copy_and_flush_teardown_are_called(
    make: MakeClient, amplitude_collector: Collector
) -> None:
    """A destination's copy is its own: changing it does not change what is uploaded."""

    class Vandal(Mirror):
        def execute(self, event: Event) -> None:
            event["user_id"] = "changed!"
            super().execute(event)

    vandal = Vandal("vandal")
    client = make().add(vandal)
    client.logEvent(event(3)).result(2)
    client.flush(2)
    assert vandal.flushes == 1
    assert amplitude_collector.wait_for_events(1, 2)[0]["user_id"] == "user-0003"
    client.shutdown(2)
    assert vandal.teardowns == 1 and vandal.events[0]["user_id"] == "changed!"


def test_raising_plugins_are_counted_and_never_stall(
    make: MakeClient, amplitude_collector: Collector, caplog: pytest.LogCaptureFixture
) -> None:
    """Before, enrichment and destination plugins that raise are logged, counted and skipped."""

    class Boom(EnrichmentPlugin):
        def execute(self, event: Event) -> Event | None:
            event["event_properties"] = {"partial": True}
            raise RuntimeError("plugin failed")

    class BoomBefore(BeforePlugin):
        def execute(self, event: Event) -> Event | None:
            raise RuntimeError("before failed")

    class BoomDestination(Mirror):
        def execute(self, event: Event) -> None:
            raise RuntimeError("destination failed")

    after = Mirror("after")
    client = make()
    client.add(BoomBefore("b")).add(Boom("e")).add(BoomDestination("d")).add(after)
    order: List[str] = []
    client.add(Recorder("next-enrichment", order))
    caplog.set_level(logging.ERROR, logger="amplitude_legacy")
    results = [client.track("Checkout", None, {"user_id": f"user-{i:04d}"}) for i in range(3)]
    assert [r.result(2).code for r in results] == [200, 200, 200]
    assert client.stats().plugin_errors == 9
    assert order == ["next-enrichment"] * 3 and len(after.events) == 3
    sent = amplitude_collector.wait_for_events(3, 2)
    assert [e["event_properties"] for e in sent] == [{"partial": True}] * 3
    assert "plugin failed" in caplog.text and "destination failed" in caplog.text


def test_setup_is_called_and_a_failing_setup_skips_the_plugin(make: MakeClient) -> None:
    """setup(config, client) gets the options and the client; if it raises, nothing is added."""
    client = make()
    recorder = Recorder("r", [])
    client.add(recorder)
    assert recorder.client is client and recorder.config is client.getOptions()

    class BadSetup(Recorder):
        def setup(self, config: Any, client: Any) -> None:
            raise ValueError("no setup")

    client.add(BadSetup("bad", []))
    assert client.stats().plugin_errors == 1
    client.add(BadSetup("bad", []))  # the name was never taken
    assert client.stats().plugin_errors == 2


def test_add_validates_name_type_and_duplicates(make: MakeClient) -> None:
    """add() refuses no name, an unknown type, a taken name, a destination without execute."""
    client = make()

    class NoName:
        def execute(self, event: Event) -> Event:
            return event

    with pytest.raises(TypeError, match="name"):
        client.add(NoName())
    bad = Recorder("weird", [])
    bad.type = "observe"  # type: ignore[assignment]
    with pytest.raises(ValueError, match="observe"):
        client.add(bad)
    client.add(Recorder("same", []))
    with pytest.raises(ValueError, match="already added"):
        client.add(Recorder("same", []))

    class Dest:
        name = "dest"
        type = "destination"

    with pytest.raises(TypeError, match="execute"):
        client.add(Dest())


def test_remove_unregisters_everywhere_and_tears_down(
    make: MakeClient, amplitude_collector: Collector
) -> None:
    """remove(name) stops a plugin of each type, calls teardown, and frees the name."""
    log: List[str] = []
    mirror = Mirror()
    client = make()
    client.add(Recorder("b", log, PluginType.BEFORE)).add(Recorder("e", log)).add(mirror)
    client.logEvent(event(1)).result(2)
    assert log == ["b", "e"] and len(mirror.events) == 1
    client.remove("b").remove("e").remove("mirror").remove("never-added")
    assert mirror.teardowns == 1
    client.logEvent(event(2)).result(2)
    assert log == ["b", "e"] and len(mirror.events) == 1
    client.add(Recorder("e", log))  # the name can be used again
    client.logEvent(event(3)).result(2)
    assert log == ["b", "e", "e"]
    assert len(amplitude_collector.wait_for_events(3, 2)) == 3


def test_enrichment_plugin_returning_none_drops(
    make: MakeClient, amplitude_collector: Collector
) -> None:
    """An enrichment plugin returning None stops the event; later middleware never sees it."""

    class Filter(EnrichmentPlugin):
        def execute(self, event: Event) -> Event | None:
            return None if event.event_type == "noise" else event

    seen: List[str] = []
    client = make().add(Filter())

    def record(payload: MiddlewarePayload, next: Any) -> None:
        seen.append(payload.event.event_type)
        next(payload)

    client.addEventMiddleware(record)
    noise = client.logEvent(event(event_type="noise")).result(2)
    signal = client.logEvent(event(event_type="signal")).result(2)
    assert noise.status is Status.SKIPPED and signal.status is Status.SUCCESS
    assert seen == ["signal"]
    assert [e["event_type"] for e in amplitude_collector.wait_for_events(1, 2)] == ["signal"]


def test_middleware_plugin_on_our_client_keeps_extra(
    make: MakeClient, amplitude_collector: Collector
) -> None:
    """MiddlewarePlugin added with add() still sees logEvent's extra; a raise is counted."""

    def route(payload: MiddlewarePayload, next: Any) -> None:
        payload.event.event_properties = {"route": (payload.extra or {}).get("route")}
        next(payload)

    def broken(payload: MiddlewarePayload, next: Any) -> None:
        raise KeyError("oops")

    client = make().add(MiddlewarePlugin(route)).add(MiddlewarePlugin(broken))
    assert client.logEvent(event(), {"route": "/home"}).result(2).status is Status.SUCCESS
    assert client.track("T", None, {"user_id": "user-0002", "extra": {"route": "/x"}}).result(2)
    assert client.stats().plugin_errors == 2
    sent = amplitude_collector.wait_for_events(2, 2)
    assert [e["event_properties"] for e in sent] == [{"route": "/home"}, {"route": "/x"}]


def test_plugin_middleware_works_with_add_event_middleware(
    make: MakeClient, amplitude_collector: Collector, caplog: pytest.LogCaptureFixture
) -> None:
    """PluginMiddleware(plugin) is legacy middleware: None stops, a raise is logged and skipped."""

    class Tag(EnrichmentPlugin):
        def execute(self, event: Event) -> Event | None:
            if event.event_type == "drop":
                return None
            if event.event_type == "boom":
                raise RuntimeError("tag failed")
            event.platform = "server"
            return event

    wrapped = PluginMiddleware(Tag())
    client = make().addEventMiddleware(wrapped)
    caplog.set_level(logging.ERROR, logger="amplitude_legacy")
    statuses = [
        client.logEvent(event(event_type=t)).result(2).status for t in ("ok", "drop", "boom")
    ]
    assert statuses == [Status.SUCCESS, Status.SKIPPED, Status.SUCCESS]
    assert wrapped.errors == 1 and "tag failed" in caplog.text
    sent = amplitude_collector.wait_for_events(2, 2)
    assert [(e["event_type"], e.get("platform")) for e in sent] == [
        ("ok", "server"),
        ("boom", None),
    ]


def test_plugin_middleware_does_not_swallow_downstream_errors(make: MakeClient) -> None:
    """An exception raised by legacy middleware after a wrapped plugin still fails that event."""

    def legacy_raises(payload: MiddlewarePayload, next: Any) -> None:
        raise ValueError("legacy middleware failed")

    passthrough = MiddlewarePlugin(lambda payload, next: next(payload))
    client = make().addEventMiddleware(PluginMiddleware(passthrough))
    client.addEventMiddleware(legacy_raises)
    with pytest.raises(ValueError, match="legacy middleware failed"):
        client.logEvent(event()).result(2)


def test_plugin_protocol_and_type_enum() -> None:
    """The base classes satisfy the Plugin protocol; PluginType compares equal to its strings."""
    assert isinstance(Recorder("r", []), Plugin) and isinstance(Mirror(), Plugin)
    before: str = "before"
    assert before == PluginType.BEFORE and PluginType("destination") is PluginType.DESTINATION
    assert str(PluginType.ENRICHMENT) == "enrichment"
    with pytest.raises(NotImplementedError):
        DestinationPlugin("abstract").execute(Event(event_type="e"))
