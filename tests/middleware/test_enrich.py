"""Enrichment: enrich, rename_events, set_defaults; the caller's dicts never change."""

from __future__ import annotations

import copy
from typing import Any, Dict

from amplitude_legacy import Event, Identify
from amplitude_legacy.middleware import enrich, rename_events, set_defaults
from amplitude_legacy.testing import Collector
from tests.conftest import MakeClient
from tests.middleware import run


def test_the_callers_nested_dicts_are_never_changed(make_client: MakeClient) -> None:
    """enrich copies the property dict it changes: the caller's dict stays as it was."""
    client = make_client().addEventMiddleware(enrich({"service": "billing"}))
    properties = {"amount": 3}
    event = {"event_type": "Paid", "user_id": "user-1", "event_properties": properties}
    before = copy.deepcopy(event)
    assert client.logEvent(event).result(5).status == "success"
    assert event == before and properties == {"amount": 3}


def test_overwrite_lets_the_enrichment_win() -> None:
    """By default the event's own keys win; overwrite=True reverses it."""
    event = {"event_type": "e", "user_id": "u", "event_properties": {"region": "us"}}
    assert run(enrich({"region": "eu"}), event).event_properties == {"region": "us"}
    assert run(enrich({"region": "eu"}, overwrite=True), event).event_properties == {"region": "eu"}


def test_a_function_sees_the_event_and_extra(make_client: MakeClient, collector: Collector) -> None:
    """fn(event, extra) is called per event; None adds nothing."""
    seen: Dict[str, Any] = {}

    def context(event: Event, extra: Dict[str, Any] | None) -> Dict[str, Any] | None:
        seen[event.event_type] = extra
        return {"request_id": extra["request_id"]} if extra else None

    client = make_client().addEventMiddleware(enrich(context))
    client.logEvent({"event_type": "a", "user_id": "user-1"}, {"request_id": "req-7"})
    client.logEvent({"event_type": "b", "user_id": "user-1"})
    client.flush(5)
    a, b = collector.wait_for_events(2, 5)
    assert a["event_properties"] == {"request_id": "req-7"} and "event_properties" not in b
    assert seen == {"a": {"request_id": "req-7"}, "b": None}


def test_a_function_returning_something_else_fails_that_event(make_client: MakeClient) -> None:
    """A function that returns a list stops that event as middleware_error (on its future)."""
    client = make_client().addEventMiddleware(enrich(lambda e, x: ["nope"]))  # type: ignore[arg-type,return-value]
    future = client.logEvent({"event_type": "e", "user_id": "user-1"})
    assert isinstance(future.exception(5), TypeError)
    assert client.stats().dropped == {"middleware_error": 1}


def test_user_properties_of_identify_go_under_set(
    make_client: MakeClient, collector: Collector
) -> None:
    """For $identify (operations), enrich(into="user_properties") adds under $set."""
    client = make_client().addEventMiddleware(enrich({"tier": "gold"}, into="user_properties"))
    client.identify("user-1", None, Identify().set("plan", "pro").add("logins", 1))
    client.logEvent({"event_type": "e", "user_id": "user-1", "user_properties": {"age": 3}})
    client.flush(5)
    identify, plain = collector.wait_for_events(2, 5)
    assert identify["user_properties"] == {
        "$set": {"tier": "gold", "plan": "pro"},
        "$add": {"logins": 1},
    }
    assert plain["user_properties"] == {"tier": "gold", "age": 3}


def test_rename_leaves_other_events_alone() -> None:
    """Only listed names change; non-string types pass untouched."""
    mw = rename_events({"signup": "Signed Up"})
    assert run(mw, {"event_type": "signup", "user_id": "u"}).event_type == "Signed Up"
    assert run(mw, {"event_type": "Signed Up", "user_id": "u"}).event_type == "Signed Up"
    assert run(mw, {"event_type": ["signup"], "user_id": "u"}).event_type == ["signup"]


def test_set_defaults_fills_absent_or_none_and_copies_dicts() -> None:
    """Absent and None fields get the default; a dict default is a fresh copy per event."""
    default = {"env": "prod"}
    mw = set_defaults({"platform": "Web"}, event_properties=default)
    one = run(mw, {"event_type": "e", "user_id": "u", "platform": None})
    two = run(mw, {"event_type": "e", "user_id": "u", "platform": "iOS", "event_properties": {}})
    assert (one.platform, one.event_properties) == ("Web", {"env": "prod"})
    assert (two.platform, two.event_properties) == ("iOS", {})
    one.event_properties["x"] = 1
    assert default == {"env": "prod"}
