"""Unit tests for the newer-API ``Revenue`` builder (as in ``amplitude-analytics``)."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from amplitude_legacy._identify import REVENUE_EVENT_TYPE, Revenue

LOGGER = "amplitude_legacy"


@pytest.fixture
def warnings(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.WARNING, logger=LOGGER)
    return caplog


def test_event_type_constant() -> None:
    """The revenue event type is the newer SDKs' 'revenue_amount'."""
    assert REVENUE_EVENT_TYPE == "revenue_amount"


def test_defaults() -> None:
    """A new Revenue has quantity 1 and nothing else, and is not valid."""
    rev = Revenue()
    assert rev.to_event_properties() == {"$quantity": 1}
    assert not rev.is_valid()


def test_all_fields_in_sdk_order() -> None:
    """Every setter maps to its $ key, in the TS getEventProperties order."""
    rev = (
        Revenue()
        .set_receipt("r1", "s1")
        .set_revenue(7.0)
        .set_currency("USD")
        .set_revenue_type("purchase")
        .set_price(3.5)
        .set_quantity(2)
        .set_product_id("sku-1")
    )
    assert json.dumps(rev.to_event_properties(), separators=(",", ":")) == (
        '{"$productId":"sku-1","$quantity":2,"$price":3.5,"$revenueType":"purchase",'
        '"$currency":"USD","$revenue":7.0,"$receipt":"r1","$receiptSig":"s1"}'
    )


def test_to_event_with_ids() -> None:
    """to_event builds a revenue_amount event and adds non-empty ids."""
    event = Revenue().set_price(3.99).set_quantity(3).to_event("user-1", "dev-1")
    assert event == {
        "event_type": "revenue_amount",
        "event_properties": {"$quantity": 3, "$price": 3.99},
        "user_id": "user-1",
        "device_id": "dev-1",
    }
    assert list(Revenue().set_price(1.0).to_event(device_id="")) == [
        "event_type",
        "event_properties",
    ]


def test_validity_needs_price(warnings: pytest.LogCaptureFixture) -> None:
    """Only a set price makes a Revenue valid; revenue alone does not."""
    assert not Revenue().set_revenue(9.99).is_valid()
    assert Revenue().set_price(0.0).is_valid()
    assert Revenue().set_price(-1.5).is_valid()
    event = Revenue().set_revenue(9.99).to_event("u")
    assert event["event_properties"] == {"$quantity": 1, "$revenue": 9.99}
    assert "price is required" in warnings.text


def test_int_price_and_revenue_become_float() -> None:
    """An int price or revenue is accepted and stored as float."""
    props = Revenue().set_price(3).set_revenue(6).to_event_properties()
    assert props["$price"] == 3.0 and isinstance(props["$price"], float)
    assert isinstance(props["$revenue"], float)


@pytest.mark.parametrize(
    ("setter", "bad"),
    [
        ("set_price", "x"),
        ("set_price", True),
        ("set_price", None),
        ("set_revenue", "1"),
        ("set_product_id", 5),
        ("set_revenue_type", None),
        ("set_currency", 840),
        ("set_event_properties", "x"),
        ("set_event_properties", {"a": [[1]]}),
        ("set_event_properties", {"a": None}),
    ],
)
def test_bad_types_ignored_with_warning(
    setter: str, bad: Any, warnings: pytest.LogCaptureFixture
) -> None:
    """A setter given a wrong type logs a warning, keeps the old value, and returns self
    (price and quantity: see test_invalid_quantity_or_price_makes_the_revenue_invalid)."""
    rev = Revenue()
    assert getattr(rev, setter)(bad) is rev
    assert rev.to_event_properties() == {"$quantity": 1}
    assert "Invalid revenue" in warnings.text


def test_bad_receipt_ignored(warnings: pytest.LogCaptureFixture) -> None:
    """set_receipt needs both strings and sets neither otherwise."""
    rev = Revenue().set_receipt("r", None)  # type: ignore[arg-type]
    assert rev.to_event_properties() == {"$quantity": 1}
    assert "Invalid revenue receipt" in warnings.text


def test_event_properties_merged_and_overridden() -> None:
    """User event properties come first; $ keys win on clashes."""
    rev = Revenue().set_event_properties({"color": "red", "$price": "bogus"}).set_price(2.0)
    assert rev.to_event_properties() == {"color": "red", "$price": 2.0, "$quantity": 1}
    assert list(rev.to_event_properties()) == ["color", "$price", "$quantity"]


def test_event_properties_copied() -> None:
    """Neither the caller's dict nor a built event shares state with the builder."""
    source = {"tags": ["a"]}
    rev = Revenue().set_price(1.0).set_event_properties(source)
    source["tags"].append("b")
    event = rev.to_event("u")
    event["event_properties"]["tags"].append("c")
    assert rev.to_event_properties()["tags"] == ["a"]


def test_repr() -> None:
    """repr shows the event properties."""
    assert repr(Revenue().set_price(1.0)) == "Revenue({'$quantity': 1, '$price': 1.0})"


def test_camel_case_aliases() -> None:
    """The camelCase setters are the same functions as the snake_case ones."""
    for camel in [
        "setProductId",
        "setQuantity",
        "setPrice",
        "setRevenueType",
        "setRevenue",
        "setReceipt",
        "setCurrency",
        "setEventProperties",
    ]:
        snake = "".join(f"_{c.lower()}" if c.isupper() else c for c in camel)
        assert getattr(Revenue, camel) is getattr(Revenue, snake)


def test_invalid_quantity_or_price_makes_the_revenue_invalid(
    warnings: pytest.LogCaptureFixture,
) -> None:
    """quantity 0, -2, 1.5 or True, or a price that is not a finite number, make the Revenue
    invalid (the official SDK's rule), naming the field; the default quantity 1 is never sent
    in place of the caller's value; a later valid value repairs it."""
    for bad in (0, -2, 1.5, True):
        rev = Revenue().set_price(3.5).set_quantity(bad)
        assert not rev.is_valid()
        field, message = rev.find_problem() or ("", "")
        assert field == "quantity" and repr(bad) in message
        assert "$quantity" not in rev.to_event_properties()
        assert rev.set_quantity(2).is_valid() and rev.to_event_properties()["$quantity"] == 2
    for bad_price in ("3.5", None, True, float("nan"), float("-inf")):
        rev = Revenue().set_price(3.5).set_price(bad_price)
        assert not rev.is_valid() and "$price" not in rev.to_event_properties()
        assert (rev.find_problem() or ("",))[0] == "price"
    assert Revenue().find_problem() == ("price", "price is required (set_price)")
    assert Revenue().set_price(1.0).find_problem() is None
    assert "Invalid revenue quantity" in warnings.text


def test_to_event_of_an_invalid_revenue_warns_naming_the_field(
    warnings: pytest.LogCaptureFixture,
) -> None:
    """to_event still builds, but warns with the field that makes the revenue invalid."""
    event = Revenue().set_price(2.0).set_quantity(0).to_event("user-0001")
    assert event["event_properties"] == {"$price": 2.0}
    assert "quantity" in warnings.text


def deep(levels: int) -> dict[str, Any]:
    value: dict[str, Any] = {"leaf": 1}
    for _ in range(levels - 1):
        value = {"n": value}
    return value


@pytest.mark.parametrize(
    "build",
    [
        lambda: deep(5000),
        lambda: deep(40),  # event_properties itself is the first of the API's 40 levels
        lambda: [float("nan")],
        lambda: {"x": object()},
    ],
)
def test_event_properties_the_api_cannot_take_are_ignored(
    build: Any, warnings: pytest.LogCaptureFixture
) -> None:
    """set_event_properties never raises on too deep, self-referencing or non-JSON values:
    a warning names the property and the properties are left unchanged."""
    rev = Revenue().set_event_properties({"keep": 1})
    assert rev.set_event_properties({"bad": build()}) is rev
    assert rev.to_event_properties() == {"keep": 1, "$quantity": 1}
    assert "'bad'" in warnings.text
    loop: dict[str, Any] = {}
    loop["loop"] = loop
    assert rev.set_event_properties(loop).to_event_properties() == {"keep": 1, "$quantity": 1}
    assert "'loop'" in warnings.text
    assert rev.set_event_properties({"ok": deep(39)}).to_event_properties()["ok"] == deep(39)


def test_revenue_numbers_must_be_finite(warnings: pytest.LogCaptureFixture) -> None:
    """set_revenue(nan/inf) is ignored with a warning (JSON has no such numbers)."""
    assert "$revenue" not in Revenue().set_revenue(float("inf")).to_event_properties()
    assert "Invalid revenue revenue" in warnings.text
