"""Legacy middleware inside the official SDK (``amplitude.Amplitude``) through MiddlewarePlugin."""

from __future__ import annotations

import logging
import threading
from typing import Any, Callable, Dict, Iterator, List, Tuple

import amplitude  # type: ignore[import-untyped]
import pytest

from amplitude_legacy import Event, MiddlewarePayload
from amplitude_legacy.plugins import (
    MiddlewarePlugin,
    from_official_event,
    to_official_event,
)
from amplitude_legacy.testing import Collector
from tests.plugins import flush_official, official_factory

MakeOfficial = Callable[..., Any]


@pytest.fixture
def make_official(amplitude_collector: Collector) -> Iterator[MakeOfficial]:
    yield from official_factory(amplitude_collector)


class Callbacks:
    """The official client-level callback, recorded; ``wait(n)`` blocks until n arrived."""

    def __init__(self) -> None:
        self.calls: List[Tuple[str, int, str]] = []
        self._cond = threading.Condition()

    def __call__(self, event: Any, code: int, message: str) -> None:
        with self._cond:
            self.calls.append((event.event_type, code, message))
            self._cond.notify_all()

    def wait(self, n: int, timeout: float = 2.0) -> List[Tuple[str, int, str]]:
        with self._cond:
            assert self._cond.wait_for(lambda: len(self.calls) >= n, timeout), self.calls
            return list(self.calls)


def enrich(payload: MiddlewarePayload, next: Any) -> None:
    """Legacy middleware: adds a property and an app version."""
    payload.event.event_properties = {**(payload.event.event_properties or {}), "enriched": True}
    payload.event.app_version = "9.9.9"
    next(payload)


def drop_internal(payload: MiddlewarePayload, next: Any) -> None:
    """Legacy middleware: filters events of internal users by not calling next."""
    if not (payload.event.user_id or "").startswith("internal"):
        next(payload)


def test_enriching_and_filtering_middleware_inside_the_official_sdk(
    make_official: MakeOfficial, amplitude_collector: Collector
) -> None:
    """Enrich + filter legacy middleware run in the official timeline; the collector agrees."""
    callbacks = Callbacks()
    client = make_official(callback=callbacks)
    client.add(MiddlewarePlugin(enrich)).add(MiddlewarePlugin(drop_internal))
    client.track(amplitude.BaseEvent("Signed Up", user_id="user-0001", event_properties={"a": 1}))
    client.track(amplitude.BaseEvent("Signed Up", user_id="internal-01"))
    client.track(amplitude.BaseEvent("Purchased", user_id="user-0002", product_id="sku-1"))
    flush_official(client)
    sent = amplitude_collector.wait_for_events(2, 2)
    assert [(e["event_type"], e["user_id"]) for e in sent] == [
        ("Signed Up", "user-0001"),
        ("Purchased", "user-0002"),
    ]
    assert sent[0]["event_properties"] == {"a": 1, "enriched": True}
    assert sent[1]["event_properties"] == {"enriched": True} and sent[1]["productId"] == "sku-1"
    assert all(e["app_version"] == "9.9.9" for e in sent)
    assert all(e["library"].startswith("amplitude-python/") for e in sent)
    assert sorted(c[:2] for c in callbacks.wait(2)) == [("Purchased", 200), ("Signed Up", 200)]


def test_middleware_sees_wire_names_and_extra_attribute(
    make_official: MakeOfficial, amplitude_collector: Collector
) -> None:
    """The middleware sees wire names (productId, plan dict) and event.extra as payload.extra."""
    seen: List[Dict[str, Any]] = []

    def inspect(payload: MiddlewarePayload, next: Any) -> None:
        seen.append({"event": dict(payload.event), "extra": payload.extra})
        payload.event["productId"] = "sku-2"
        payload.event.price = 4  # an int: converted to the float the official SDK wants
        payload.event.plan = {"branch": "main", "versionId": "v7"}
        next(payload)

    client = make_official().add(MiddlewarePlugin(inspect))
    event = amplitude.BaseEvent("Buy", user_id="user-0001", product_id="sku-1")
    event.extra = {"request_id": "r-1"}
    client.track(event)
    flush_official(client)
    [sent] = amplitude_collector.wait_for_events(1, 2)
    assert seen[0]["extra"] == {"request_id": "r-1"} and seen[0]["event"]["productId"] == "sku-1"
    assert isinstance(seen[0]["event"]["time"], int) and seen[0]["event"]["insert_id"]
    assert (sent["productId"], sent["price"]) == ("sku-2", 4.0)
    assert sent["plan"] == {"branch": "main", "versionId": "v7"} and "extra" not in sent


def test_middleware_can_remove_fields(
    make_official: MakeOfficial, amplitude_collector: Collector
) -> None:
    """A field deleted by the middleware is cleared on the official event."""

    def scrub(payload: MiddlewarePayload, next: Any) -> None:
        del payload.event["ip"]
        payload.event.user_properties = None
        next(payload)

    client = make_official().add(MiddlewarePlugin(scrub))
    client.track(
        amplitude.BaseEvent("E", user_id="user-0001", ip="10.0.0.1", user_properties={"a": 1})
    )
    flush_official(client)
    [sent] = amplitude_collector.wait_for_events(1, 2)
    assert "ip" not in sent and "user_properties" not in sent


def test_raising_middleware_is_logged_and_the_event_continues(
    make_official: MakeOfficial, amplitude_collector: Collector, caplog: pytest.LogCaptureFixture
) -> None:
    """A raising middleware never stalls the official timeline; the event goes out unchanged."""

    def broken(payload: MiddlewarePayload, next: Any) -> None:
        payload.event.app_version = "half-done"
        raise RuntimeError("middleware broke")

    plugin = MiddlewarePlugin(broken)
    client = make_official().add(plugin).add(MiddlewarePlugin(enrich))
    caplog.set_level(logging.ERROR, logger="amplitude_legacy")
    for i in range(2):
        client.track(amplitude.BaseEvent("E", user_id=f"user-000{i}"))
    flush_official(client)
    sent = amplitude_collector.wait_for_events(2, 2)
    assert plugin.errors == 2 and "middleware broke" in caplog.text
    assert [e["app_version"] for e in sent] == ["9.9.9", "9.9.9"]


def test_special_events_keep_their_official_class(
    make_official: MakeOfficial, amplitude_collector: Collector
) -> None:
    """Identify, group identify and revenue events go through the middleware and keep working."""
    types: List[str] = []

    def record(payload: MiddlewarePayload, next: Any) -> None:
        types.append(payload.event.event_type)
        next(payload)

    client = make_official().add(MiddlewarePlugin(record))
    options = amplitude.EventOptions(user_id="user-0001")
    client.identify(amplitude.Identify().set("plan", "pro"), options)
    client.group_identify("org", "acme", amplitude.Identify().set("tier", "gold"), options)
    client.revenue(amplitude.Revenue(price=3.5, quantity=2, product_id="sku-1"), options)
    flush_official(client)
    sent = amplitude_collector.wait_for_events(3, 2)
    assert types == ["$identify", "$groupidentify", "revenue_amount"]
    assert sent[0]["user_properties"] == {"$set": {"plan": "pro"}}
    assert sent[1]["groups"] == {"org": "acme"}
    assert sent[2]["event_properties"]["$price"] == 3.5


def test_setup_receives_the_official_client(make_official: MakeOfficial) -> None:
    """The official SDK calls setup(client) with itself; plugin_type is its ENRICHMENT."""
    plugin = MiddlewarePlugin(enrich, name="enrich")
    client = make_official().add(plugin)
    assert plugin.client is client and plugin.name == "enrich"
    assert plugin.plugin_type is amplitude.PluginType.ENRICHMENT


def test_event_conversion_round_trip() -> None:
    """to_official_event / from_official_event map names, classes and value types."""
    ours = {
        "event_type": "revenue_amount",
        "user_id": "user-0001",
        "productId": "sku-1",
        "revenueType": "income",
        "price": 3,
        "time": 1_700_000_000_000.0,
        "plan": {"branch": "main", "source": "web", "version": "1", "versionId": "v1"},
        "ingestion_metadata": {"source_name": "etl", "source_version": "2"},
        "event_properties": {"$price": 3.0},
    }
    official = to_official_event(ours)
    assert isinstance(official, amplitude.RevenueEvent)
    assert (official.product_id, official.revenue_type, official.price) == ("sku-1", "income", 3.0)
    back = from_official_event(official)
    assert isinstance(back, Event) and back == {**ours, "price": 3.0, "time": 1_700_000_000_000}
    assert isinstance(to_official_event({"event_type": "$identify"}), amplitude.IdentifyEvent)
    assert isinstance(
        to_official_event({"event_type": "$groupidentify"}), amplitude.GroupIdentifyEvent
    )


def test_unknown_fields_are_dropped_with_one_warning(caplog: pytest.LogCaptureFixture) -> None:
    """A field the official SDK does not know is not set, and warned about once."""
    caplog.set_level(logging.WARNING, logger="amplitude_legacy")
    for _ in range(2):
        body = to_official_event(
            {"event_type": "E", "user_id": "user-0001", "android_app_set_id_x": "z"}
        ).get_event_body()
        assert "android_app_set_id_x" not in body
    assert caplog.text.count("android_app_set_id_x") == 1
