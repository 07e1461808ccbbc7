"""The new-style facade against the official SDK: empty identifies, group operations, revenue rules.

Each test runs the same call on the official ``amplitude.Amplitude`` and on our clients, against
the bundled collector, and compares what reaches the server and what is logged.
"""

from __future__ import annotations

import logging
from typing import Any, Callable, Iterator, List

import amplitude  # type: ignore[import-untyped]
import pytest

from amplitude_legacy import Identify, Revenue, Status
from amplitude_legacy.plugins import LegacyClient
from amplitude_legacy.testing import Collector
from tests.plugins import API_KEY, MakeClient, client_factory, flush_official, official_factory

MakeOfficial = Callable[..., Any]


@pytest.fixture
def make(amplitude_collector: Collector) -> Iterator[MakeClient]:
    yield from client_factory(amplitude_collector)


@pytest.fixture
def make_official(amplitude_collector: Collector) -> Iterator[MakeOfficial]:
    yield from official_factory(amplitude_collector)


@pytest.fixture
def shim(amplitude_collector: Collector) -> Iterator[LegacyClient]:
    client = LegacyClient(
        API_KEY, {"serverUrl": amplitude_collector.http_api_url, "uploadIntervalInSec": 0.02}
    )
    yield client
    client.shutdown(2)


def official_errors(caplog: pytest.LogCaptureFixture) -> List[str]:
    return [r.getMessage() for r in caplog.records if r.name == "amplitude"]


def our_errors(caplog: pytest.LogCaptureFixture) -> List[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "amplitude_legacy" and r.levelno == logging.ERROR
    ]


def every_operation(builder: Any) -> Any:
    """The same ten operations on our Identify or the official one (values valid for both)."""
    return (
        builder.set("s", 1)
        .set_once("so", "x")
        .add("ad", 2)
        .append("ap", "a")
        .prepend("pp", "p")
        .pre_insert("pi", "i")
        .post_insert("po", "o")
        .remove("r", "gone")
        .unset("u")
    )


def test_empty_identify_is_skipped_and_logged_like_the_official_sdk(
    make: MakeClient,
    make_official: MakeOfficial,
    shim: LegacyClient,
    amplitude_collector: Collector,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """identify/groupIdentify with no operation send nothing and log the official SDK's error,
    in the new-style and the legacy forms, on NodeClient and on the LegacyClient shim."""
    caplog.set_level(logging.ERROR)
    official = make_official()
    options = amplitude.EventOptions(user_id="user-0001")
    official.identify(amplitude.Identify(), options)
    official.group_identify("org", "acme", amplitude.Identify(), options)
    flush_official(official)
    expected = official_errors(caplog)
    assert expected == ["Empty identify properties", "Empty group identify properties"]

    client = make()
    caplog.clear()
    new_user = client.identify(Identify(), {"user_id": "user-0001"}).result(1)
    new_group = client.groupIdentify("org", "acme", Identify(), {"user_id": "user-0001"}).result(1)
    for result, message in [(new_user, expected[0]), (new_group, expected[1])]:
        assert (result.code, result.message) == (0, message)
        assert result.response is not None and result.response.status is Status.SKIPPED
    legacy = [
        client.identify("user-0001", None, Identify()).result(1),
        client.groupIdentify("org", "acme", Identify()).result(1),
        shim.identify("user-0001", None, Identify()).result(1),
        shim.groupIdentify("org", "acme", Identify()).result(1),
    ]
    assert [r.status for r in legacy] == [Status.SKIPPED] * 4
    # ... and, unlike the legacy SDK's bare skip, say why, counted as invalid input
    assert [(r.reason, r.error) for r in legacy] == [("invalid", m) for m in expected * 2]
    assert client.stats().dropped == {"invalid": 2}
    errors = our_errors(caplog)
    assert len(errors) == 6
    assert [expected[0] in e for e in errors] == [True, False, True, False, True, False]
    assert [expected[1] in e for e in errors] == [False, True, False, True, False, True]
    client.flush(2)
    shim.flush(2)
    assert amplitude_collector.events == []


def test_legacy_group_identify_with_only_unsupported_operations_is_skipped(
    make: MakeClient, amplitude_collector: Collector, caplog: pytest.LogCaptureFixture
) -> None:
    """Legacy groupIdentify keeps the legacy group operations; when none is left the event
    would be empty, so it is skipped and logged instead of sent."""
    caplog.set_level(logging.ERROR)
    client = make()
    only_unsupported = Identify().post_insert("tags", "x").remove("old", "y")
    assert client.groupIdentify("org", "acme", only_unsupported).result(1).status is Status.SKIPPED
    assert any("Empty group identify properties" in e for e in our_errors(caplog))
    client.flush(2)
    assert amplitude_collector.events == []


def test_new_style_group_identify_keeps_what_the_official_sdk_keeps(
    make: MakeClient, make_official: MakeOfficial, amplitude_collector: Collector
) -> None:
    """groupIdentify(type, name, Identify, options) sends every operation the official
    group_identify sends ($preInsert, $postInsert, $remove included), and $clearAll too."""
    official = make_official()
    options = amplitude.EventOptions(user_id="user-0001")
    official.group_identify("org", "acme", every_operation(amplitude.Identify()), options)
    official.group_identify("org", "beta", amplitude.Identify().clear_all(), options)
    flush_official(official)
    theirs = amplitude_collector.wait_for_events(2, 2)
    amplitude_collector.reset()

    client = make()
    ours = [
        client.groupIdentify("org", "acme", every_operation(Identify()), {"user_id": "user-0001"}),
        client.groupIdentify("org", "beta", Identify().clear_all(), {"user_id": "user-0001"}),
    ]
    assert [future.result(2).code for future in ours] == [200, 200]
    sent = amplitude_collector.wait_for_events(2, 2)
    for mine, official_event in zip(sent, theirs):
        assert mine["group_properties"] == official_event["group_properties"]
        assert mine["groups"] == official_event["groups"]
    assert set(sent[0]["group_properties"]) == {
        "$set", "$setOnce", "$add", "$append", "$prepend",
        "$preInsert", "$postInsert", "$remove", "$unset",
    }  # fmt: skip
    assert sent[1]["group_properties"] == {"$clearAll": "-"}


@pytest.mark.parametrize(
    ("build", "field", "official_kwargs"),
    [
        (lambda: Revenue().set_price(3.5).set_quantity(0), "quantity", {"quantity": 0}),
        (lambda: Revenue().set_price(3.5).set_quantity(-2), "quantity", {"quantity": -2}),
        (lambda: Revenue().set_price(3.5).set_quantity(1.5), "quantity", {"quantity": 1.5}),
        (lambda: Revenue().set_quantity(2), "price", {"price": None}),
        (lambda: Revenue().set_price("3.5"), "price", {"price": "3.5"}),
        (lambda: Revenue().set_price(float("nan")), "price", None),
    ],
)
def test_invalid_revenue_is_not_sent_and_says_why(
    build: Callable[[], Revenue],
    field: str,
    official_kwargs: Any,
    make: MakeClient,
    make_official: MakeOfficial,
    amplitude_collector: Collector,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A Revenue the official SDK refuses (no price, quantity not a positive int) is not sent:
    the Result has code 0, an INVALID response and a message naming the field; an error is
    logged. It is never sent with a quantity the caller did not give."""
    caplog.set_level(logging.ERROR)
    if official_kwargs is not None:
        official = make_official()
        kwargs = {"price": 3.5, **official_kwargs}
        official.revenue(amplitude.Revenue(**kwargs), amplitude.EventOptions(user_id="user-0001"))
        flush_official(official)
        assert official_errors(caplog) == ["Invalid price for revenue event"]
    revenue = build()
    assert not revenue.is_valid()
    problem = revenue.find_problem()
    assert problem is not None and problem[0] == field and field in problem[1]
    result = make().revenue(revenue, {"user_id": "user-0001"}).result(1)
    assert result.code == 0 and field in result.message
    assert result.response is not None and result.response.status is Status.INVALID
    assert result.response.reason == "invalid" and field in (result.response.error or "")
    assert any(field in e for e in our_errors(caplog))
    assert amplitude_collector.events == []


def test_valid_revenue_matches_the_official_event_properties(
    make: MakeClient, make_official: MakeOfficial, amplitude_collector: Collector
) -> None:
    """A valid Revenue sends the same $ keys as the official SDK's."""
    official = make_official()
    official.revenue(
        amplitude.Revenue(price=3.5, quantity=2, product_id="sku-1", currency="USD"),
        amplitude.EventOptions(user_id="user-0001"),
    )
    flush_official(official)
    [theirs] = amplitude_collector.wait_for_events(1, 2)
    amplitude_collector.reset()
    revenue = Revenue().set_price(3.5).set_quantity(2).set_product_id("sku-1").set_currency("USD")
    assert make().revenue(revenue, {"user_id": "user-0001"}).result(2).code == 200
    [mine] = amplitude_collector.wait_for_events(1, 2)
    assert mine["event_properties"] == theirs["event_properties"]
