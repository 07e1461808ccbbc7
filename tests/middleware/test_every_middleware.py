"""Every ready-made middleware three ways: alone, in a chain with user middleware on the legacy
client (real collector), and through ``MiddlewarePlugin`` on the official SDK (real collector).

Each case lists input events and, for each, either the fields the delivered event must have or
the drop reason. ``routing`` has its own file (it needs a second destination).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Union

import pytest

from amplitude_legacy import Event, MiddlewareNext, MiddlewarePayload, NodeClient
from amplitude_legacy.middleware import (
    allow_properties,
    drop_bots,
    drop_events,
    enrich,
    hash_value,
    keep_events,
    redact,
    rename_events,
    sample,
    sample_bucket,
    set_defaults,
    validate,
)
from amplitude_legacy.plugins import MiddlewarePlugin, to_official_event
from amplitude_legacy.testing import Collector
from tests.conftest import MakeClient
from tests.middleware import SALT, reason_of, run
from tests.plugins import flush_official

ABSENT = object()
Expected = Union[str, Dict[str, Any]]  # a drop reason, or fields of the delivered event


def _user(kept: bool) -> str:
    """A user id that ``sample(0.5)`` keeps (or drops)."""
    for i in range(1000):
        user = f"user-{i:04d}"
        if (sample_bucket(user) < 2**63) is kept:
            return user
    raise AssertionError("unreachable")


PLAN = {
    "Order Paid": {
        "type": "object",
        "properties": {"amount": {"type": "number"}, "currency": {"pattern": "^[A-Z]{3}$"}},
        "required": ["amount", "currency"],
    }
}
BOT_UA = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
BROWSER_UA = "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0"


@dataclass
class Case:
    id: str
    make: Callable[[], Any]
    events: List[Dict[str, Any]]
    expected: List[Expected]


def ev(event_type: str, user_id: str = "user-0001", **fields: Any) -> Dict[str, Any]:
    return {"event_type": event_type, "user_id": user_id, **fields}


CASES = [
    Case(
        "drop_events",
        lambda: drop_events("Health Check", "debug.*"),
        [ev("Health Check"), ev("debug.ping"), ev("Signed Up")],
        ["filtered", "filtered", {"event_type": "Signed Up"}],
    ),
    Case(
        "keep_events",
        lambda: keep_events("Signed Up", "Order *"),
        [ev("Signed Up"), ev("Order Paid"), ev("Page Viewed")],
        [{"event_type": "Signed Up"}, {"event_type": "Order Paid"}, "filtered"],
    ),
    Case(
        "sample",
        lambda: sample(0.5),
        [ev("Search", _user(True)), ev("Search", _user(False)), ev("Search", _user(True))],
        [{"user_id": _user(True)}, "sampled_out", {"user_id": _user(True)}],
    ),
    Case(
        "drop_bots",
        lambda: drop_bots(),
        [ev("Page Viewed", user_agent=BOT_UA), ev("Page Viewed", user_agent=BROWSER_UA)],
        ["bot", {"user_agent": BROWSER_UA}],
    ),
    Case(
        "enrich",
        lambda: enrich({"service": "billing", "region": "eu"}),
        [ev("Paid", event_properties={"amount": 3, "region": "us"}), ev("Paid")],
        [
            {"event_properties": {"service": "billing", "region": "us", "amount": 3}},
            {"event_properties": {"service": "billing", "region": "eu"}},
        ],
    ),
    Case(
        "enrich_user_properties_computed",
        lambda: enrich(lambda event, extra: {"tier": "gold"}, into="user_properties"),
        [ev("Paid", user_properties={"age": 30})],
        [{"user_properties": {"tier": "gold", "age": 30}}],
    ),
    Case(
        "rename_events",
        lambda: rename_events({"signup": "Signed Up"}),
        [ev("signup"), ev("Login")],
        [{"event_type": "Signed Up"}, {"event_type": "Login"}],
    ),
    Case(
        "set_defaults",
        lambda: set_defaults(app_version="2.0.0", platform="Web"),
        [ev("Login", app_version="1.9.0"), ev("Login")],
        [
            {"app_version": "1.9.0", "platform": "Web"},
            {"app_version": "2.0.0", "platform": "Web"},
        ],
    ),
    Case(
        "redact_remove",
        lambda: redact(["ip", "event_properties.email"]),
        [ev("Login", ip="203.0.113.7", event_properties={"email": "a@b.example", "n": 1})],
        [{"ip": ABSENT, "event_properties": {"n": 1}}],
    ),
    Case(
        "redact_hash",
        lambda: redact(["event_properties.email"], "hash", salt=SALT),
        [ev("Login", event_properties={"email": "jane@example.com"})],
        [{"event_properties": {"email": hash_value("jane@example.com", SALT)}}],
    ),
    Case(
        "allow_properties",
        lambda: allow_properties({"event_properties": ["plan"]}),
        [ev("Login", event_properties={"plan": "pro", "password": "hunter2"})],
        [{"event_properties": {"plan": "pro"}}],
    ),
    Case(
        "validate_drop",
        lambda: validate(PLAN),
        [
            ev("Order Paid", event_properties={"amount": 9.5, "currency": "EUR"}),
            ev("Order Paid", event_properties={"amount": 9.5, "currency": "euro"}),
            ev("Unplanned"),
        ],
        [{"event_type": "Order Paid"}, "tracking_plan", {"event_type": "Unplanned"}],
    ),
    Case(
        "validate_annotate",
        lambda: validate(PLAN, on_violation="annotate"),
        [ev("Order Paid", event_properties={"amount": 9.5})],
        [
            {
                "event_properties": {
                    "amount": 9.5,
                    "tracking_plan_violation": "event_properties must contain "
                    "['currency'] properties",
                }
            }
        ],
    ),
]
IDS = [case.id for case in CASES]


def _matches(event: Dict[str, Any], expected: Dict[str, Any]) -> None:
    for key, value in expected.items():
        if value is ABSENT:
            assert key not in event, (key, event)
        else:
            assert event.get(key) == value, (key, event)


def _delivered(case: Case) -> List[Dict[str, Any]]:
    return [e for e in case.expected if isinstance(e, dict)]


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_alone(case: Case) -> None:
    """Run alone, each event comes out transformed as expected, or stopped with its reason."""
    middleware = case.make()
    for event, expected in zip(case.events, case.expected):
        outcome = run(middleware, event)
        if isinstance(expected, str):
            assert reason_of(outcome) == expected, outcome
        else:
            assert isinstance(outcome, Event), reason_of(outcome)
            _matches(outcome, expected)


def _check_delivery(client: NodeClient, collector: Collector, case: Case) -> None:
    """Log the case's events: the collector gets what is expected (with ``version_name``
    ``"chain"``), dropped events resolve skipped with their reason, counted in stats()."""
    futures = [client.logEvent(event) for event in case.events]
    assert client.flush(10).pending == 0
    delivered = _delivered(case)
    got = collector.wait_for_events(len(delivered), 5)
    assert len(got) == len(delivered)
    for event, expected in zip(got, delivered):
        _matches(event, {**expected, "version_name": "chain"})
    drops: Dict[str, int] = {}
    for future, outcome in zip(futures, case.expected):
        response = future.result(5)
        if isinstance(outcome, str):
            assert (response.status, response.reason) == ("skipped", outcome)
            drops[outcome] = drops.get(outcome, 0) + 1
        else:
            assert response.status == "success"
    assert dict(client.stats().dropped) == drops


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_in_a_chain_on_the_legacy_client(
    case: Case, make_client: MakeClient, collector: Collector
) -> None:
    """Between two user middleware on the legacy client, each event is seen, changed, dropped
    and delivered as expected."""
    seen_before: List[str] = []
    seen_after: List[str] = []

    def before(payload: MiddlewarePayload, next: MiddlewareNext) -> None:
        seen_before.append(payload.event.event_type)
        next(payload)

    def after(payload: MiddlewarePayload, next: MiddlewareNext) -> None:
        seen_after.append(payload.event.event_type)
        payload.event.version_name = "chain"
        next(payload)

    client = make_client()
    client.addEventMiddleware(before).addEventMiddleware(case.make()).addEventMiddleware(after)
    _check_delivery(client, collector, case)
    assert seen_before == [e["event_type"] for e in case.events]
    assert len(seen_after) == len(_delivered(case))


@pytest.mark.parametrize("user_first", [False, True], ids=["steps only", "fused after user"])
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_with_ready_made_only_on_the_legacy_client(
    case: Case, user_first: bool, make_client: MakeClient, collector: Collector
) -> None:
    """Followed by another ready-made middleware: alone on the client (the client runs their
    steps without the chain) and after a user middleware (the two run as one fused
    middleware). Both deliver and drop exactly as the chain does."""
    client = make_client()
    if user_first:
        client.addEventMiddleware(lambda payload, next: next(payload))
    client.addEventMiddleware(case.make()).addEventMiddleware(set_defaults(version_name="chain"))
    assert client._chain is not None
    _, steps = client._chain
    assert (steps is not None) is (not user_first and case.id != "enrich_user_properties_computed")
    _check_delivery(client, collector, case)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_through_middleware_plugin_on_the_official_sdk(
    case: Case, make_official: Callable[..., Any], collector: Collector
) -> None:
    """Through MiddlewarePlugin in amplitude-analytics, with a user middleware after it: the
    collector gets exactly the expected events; a dropped event is simply not sent."""

    def after(payload: MiddlewarePayload, next: MiddlewareNext) -> None:
        payload.event.version_name = "chain"
        next(payload)

    official = make_official()
    official.add(MiddlewarePlugin(case.make())).add(MiddlewarePlugin(after))
    for event in case.events:
        official.track(to_official_event(event))
    flush_official(official)
    delivered = _delivered(case)
    got = collector.wait_for_events(len(delivered), 5)
    assert len(got) == len(delivered)
    for event, expected in zip(got, delivered):
        _matches(event, {**expected, "version_name": "chain"})
