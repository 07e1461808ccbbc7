"""The new-style calls on our client (track, identify, groupIdentify, setGroup, revenue)."""

from __future__ import annotations

import asyncio
from typing import Any, Iterator

import pytest

from amplitude_legacy import Event, Identify, Revenue, Status
from amplitude_legacy.plugins import Result, ResultFuture
from amplitude_legacy.testing import Collector
from tests.plugins import MakeClient, client_factory


@pytest.fixture
def make(amplitude_collector: Collector) -> Iterator[MakeClient]:
    yield from client_factory(amplitude_collector)


def only_event(collector: Collector) -> dict[str, Any]:
    [sent] = collector.wait_for_events(1, 2)
    return sent


def test_track_with_type_properties_and_options(
    make: MakeClient, amplitude_collector: Collector
) -> None:
    """track(type, props, options) sends {type, props, **options}; the Result has code/message."""
    future = make().track(
        "Song Played",
        {"genre": "jazz"},
        {"user_id": "user-0001", "device_id": "device-01", "time": 1_700_000_000_000},
    )
    assert isinstance(future, ResultFuture)
    result = future.result(2)
    assert (result.code, result.message, result.delivered) == (
        200,
        "Event tracked successfully",
        True,
    )
    assert result.event["event_type"] == "Song Played" and result.event.user_id == "user-0001"
    assert result.response is not None and result.response.status is Status.SUCCESS
    sent = only_event(amplitude_collector)
    assert sent["event_properties"] == {"genre": "jazz"}
    assert (sent["user_id"], sent["device_id"], sent["time"]) == (
        "user-0001",
        "device-01",
        1_700_000_000_000,
    )


def test_track_with_an_event_dict_and_official_names(
    make: MakeClient, amplitude_collector: Collector
) -> None:
    """track(event) works; options override the event; product_id/revenue_type are renamed."""
    make().track(
        {"event_type": "Buy", "user_id": "user-0001", "event_properties": {"a": 1}},
        None,
        {"user_id": "user-0002", "product_id": "sku-1", "revenue_type": "income"},
    ).result(2)
    sent = only_event(amplitude_collector)
    assert sent["user_id"] == "user-0002" and sent["event_properties"] == {"a": 1}
    assert (sent["productId"], sent["revenueType"]) == ("sku-1", "income")


def test_track_accepts_official_base_event(
    make: MakeClient, amplitude_collector: Collector
) -> None:
    """An official amplitude.BaseEvent can be tracked on our client unchanged."""
    import amplitude  # type: ignore[import-untyped]

    BaseEvent, EventOptions = amplitude.BaseEvent, amplitude.EventOptions
    event = BaseEvent("Checkout", user_id="user-0003", event_properties={"n": 2}, price=9.5)
    make().track(event, None, EventOptions(app_version="3.1.0")).result(2)
    sent = only_event(amplitude_collector)
    assert (sent["event_type"], sent["price"], sent["app_version"]) == ("Checkout", 9.5, "3.1.0")


def test_track_rejections_resolve_code_zero(
    make: MakeClient, amplitude_collector: Collector
) -> None:
    """Blank type, bad input, invalid event and opt-out resolve with code 0 and say why."""
    client = make()
    assert client.track("  ", None, {"user_id": "user-0001"}).result(1).message == (
        "Event skipped due to empty event type"
    )
    assert "Invalid event" in client.track(42).result(1).message
    missing_id = client.track("No Id").result(1)
    assert missing_id.code == 0 and "user_id" in missing_id.message
    bad_extra = client.track("E", None, {"user_id": "user-0001", "extra": "nope"}).result(1)
    assert bad_extra.code == 0 and "extra" in bad_extra.message
    client.setOptOut(True)
    opted = client.track("E", None, {"user_id": "user-0001"}).result(1)
    assert (opted.code, opted.message) == (0, "Event skipped due to optOut config")
    with pytest.raises(TypeError, match="event_options"):
        client.track("E", None, ["user_id"])
    assert amplitude_collector.events == []


def test_track_middleware_error_resolves_result(make: MakeClient) -> None:
    """A legacy middleware that raises gives a Result with code 0 and the error, never raises."""

    def broken(payload: Any, next: Any) -> None:
        raise RuntimeError("middleware broke")

    result = make().addEventMiddleware(broken).track("E", None, {"user_id": "user-0001"}).result(2)
    assert result.code == 0 and "middleware broke" in result.message


def test_new_style_identify(make: MakeClient, amplitude_collector: Collector) -> None:
    """identify(Identify, event_options) sends $identify with the operations and the ids."""
    client = make()
    identify = Identify().set("plan", "pro").add("logins", 1).set_group("org", "acme")
    result = client.identify(identify, {"user_id": "user-0001", "device_id": "device-01"})
    assert isinstance(result.result(2), Result) and result.result(2).code == 200
    sent = only_event(amplitude_collector)
    assert sent["event_type"] == "$identify"
    assert sent["user_properties"] == {
        "$set": {"plan": "pro", "org": "acme"},
        "$add": {"logins": 1},
    }
    assert sent["groups"] == {"org": "acme"} and sent["device_id"] == "device-01"


def test_new_style_identify_keyword_and_legacy_still_work(
    make: MakeClient, amplitude_collector: Collector
) -> None:
    """identify(Identify, event_options=...) is new style; identify(uid, did, Identify) legacy."""
    client = make()
    new = client.identify(Identify().set("a", 1), event_options={"user_id": "user-0001"})
    legacy = client.identify("user-0002", None, Identify().set("b", 2))
    assert new.result(2).code == 200
    assert legacy.result(2).status is Status.SUCCESS
    sent = amplitude_collector.wait_for_events(2, 2)
    assert [e["user_properties"] for e in sent] == [{"$set": {"a": 1}}, {"$set": {"b": 2}}]


def test_new_style_group_identify(make: MakeClient, amplitude_collector: Collector) -> None:
    """groupIdentify(type, name, Identify, event_options) sends group_properties and groups."""
    client = make()
    identify = Identify().set("tier", "gold").append("tags", "vip")
    result = client.groupIdentify("org", "acme", identify, {"user_id": "user-0001"}).result(2)
    assert result.code == 200
    anonymous = client.group_identify("org", ["a", "b"], Identify().set("x", 1), {}).result(2)
    assert anonymous.code == 200
    first, second = amplitude_collector.wait_for_events(2, 2)
    assert first["event_type"] == "$groupidentify" and first["user_id"] == "user-0001"
    assert first["group_properties"] == {"$set": {"tier": "gold"}, "$append": {"tags": "vip"}}
    assert first["groups"] == {"org": "acme"} and "device_id" not in first
    assert second["groups"] == {"org": ["a", "b"]} and len(second["device_id"]) == 25


def test_set_group(make: MakeClient, amplitude_collector: Collector) -> None:
    """setGroup(type, name | names, event_options) sets the group as a user property and groups."""
    client = make()
    assert client.setGroup("org", "acme", {"user_id": "user-0001"}).result(2).code == 200
    assert client.set_group("sport", ["soccer", "tennis"], {"user_id": "user-0001"}).result(2)
    first, second = amplitude_collector.wait_for_events(2, 2)
    assert first["event_type"] == "$identify"
    assert first["user_properties"] == {"$set": {"org": "acme"}} and first["groups"] == {
        "org": "acme"
    }
    assert second["groups"] == {"sport": ["soccer", "tennis"]}


def test_revenue(make: MakeClient, amplitude_collector: Collector) -> None:
    """revenue(Revenue, event_options) sends revenue_amount with every $ key set."""
    revenue = (
        Revenue()
        .set_product_id("sku-1")
        .set_price(3.5)
        .set_quantity(2)
        .set_revenue_type("purchase")
        .set_receipt("r-1", "sig-1")
        .set_currency("USD")
        .set_event_properties({"coupon": "spring"})
    )
    result = make().revenue(revenue, {"user_id": "user-0001"}).result(2)
    assert result.code == 200
    sent = only_event(amplitude_collector)
    assert sent["event_type"] == "revenue_amount"
    assert sent["event_properties"] == {
        "coupon": "spring",
        "$productId": "sku-1",
        "$quantity": 2,
        "$price": 3.5,
        "$revenueType": "purchase",
        "$currency": "USD",
        "$receipt": "r-1",
        "$receiptSig": "sig-1",
    }


def test_invalid_builders_are_not_sent(make: MakeClient, amplitude_collector: Collector) -> None:
    """A Revenue without price, or a non-Identify/non-Revenue, resolves code 0 and sends nothing."""
    client = make()
    no_price = client.revenue(Revenue().set_product_id("sku"), {"user_id": "user-0001"}).result(1)
    assert no_price.code == 0 and "price" in no_price.message
    assert client.revenue("3.99", {"user_id": "user-0001"}).result(1).code == 0  # type: ignore[arg-type]
    assert client.groupIdentify("org", "acme", "nope", {}).result(1).code == 0  # type: ignore[call-overload]
    client.flush(1)
    assert amplitude_collector.events == []


def test_result_future_is_awaitable(make: MakeClient) -> None:
    """A ResultFuture can be awaited from asyncio code."""
    client = make()

    async def main() -> Result:
        return await client.track("Async", None, {"user_id": "user-0001"})

    result = asyncio.run(main())
    assert result.code == 200 and result.event == Event(event_type="Async", user_id="user-0001")
