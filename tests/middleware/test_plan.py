"""Tracking plans: TrackingPlan compiles once, validate drops / warns / annotates."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, List, Tuple

import pytest

from amplitude_legacy.middleware import TrackingPlan, validate
from amplitude_legacy.testing import Collector
from tests.conftest import MakeClient
from tests.middleware import reason_of, run

CHECKOUT = {
    "type": "object",
    "properties": {
        "plan": {"enum": ["free", "pro"]},
        "amount": {"type": "number", "minimum": 0},
        "coupon": {"type": "string", "default": "NONE"},
    },
    "required": ["plan", "amount"],
    "additionalProperties": False,
}
PLAN = {"Checkout Completed": CHECKOUT}


def checkout(**properties: Any) -> dict[str, Any]:
    return {"event_type": "Checkout Completed", "user_id": "user-1", "event_properties": properties}


def test_a_plan_file_is_read_and_messages_name_the_property(tmp_path: Path) -> None:
    """A JSON file works like the dict; the problem names the offending property."""
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(PLAN))
    plan = TrackingPlan(path)
    assert plan.event_types == {"Checkout Completed"} and "Checkout Completed" in plan
    assert plan.check(checkout(plan="pro", amount=3)) is None
    assert plan.check(checkout(plan="gold", amount=3)) == (
        "event_properties.plan must be one of ['free', 'pro']"
    )
    assert plan.check(checkout(plan="pro", amount=3, extra=1)) == (
        "event_properties must not contain {'extra'} properties"
    )
    assert plan.check({"event_type": "Other", "user_id": "u"}) is None
    assert plan.check({"event_type": "Other"}, allow_unplanned=False) == (
        "event type 'Other' is not in the tracking plan"
    )


def test_defaults_in_a_schema_are_never_written_into_events() -> None:
    """A "default" in the schema does not change the event (nor the caller's dict)."""
    properties = {"plan": "pro", "amount": 1}
    out = run(validate(PLAN), checkout(**properties))
    assert out.event_properties == {"plan": "pro", "amount": 1}


def test_drop_counts_resolves_and_calls_on_drop(
    make_client: MakeClient, collector: Collector
) -> None:
    """Dropped: skipped with reason tracking_plan and the problem; counted; passed to onDrop."""
    dropped: List[Tuple[str, str]] = []
    client = make_client(
        on_drop=lambda events, reason: dropped.extend((e["event_type"], reason) for e in events),
        server_url=collector.http_api_url,
    )
    client.addEventMiddleware(validate(PLAN, allow_unplanned=False))
    good = client.logEvent(checkout(plan="pro", amount=3))
    bad = client.logEvent(checkout(plan="pro"))
    unplanned = client.logEvent({"event_type": "Mystery", "user_id": "user-1"})
    identify = client.logEvent({"event_type": "$identify", "user_id": "user-1",
                                "user_properties": {"$set": {"a": 1}}})  # fmt: skip
    client.flush(5)
    assert good.result(5).status == identify.result(5).status == "success"
    response = bad.result(5)
    assert (response.status, response.reason) == ("skipped", "tracking_plan")
    assert response.error == (
        "Checkout Completed: event_properties must contain ['amount'] properties"
    )
    assert unplanned.result(5).reason == "tracking_plan"
    assert client.stats().dropped == {"tracking_plan": 2}
    assert dropped == [("Checkout Completed", "tracking_plan"), ("Mystery", "tracking_plan")]
    assert len(collector.wait_for_events(2, 5)) == 2


def test_warn_logs_once_per_burst_and_sends(
    make_client: MakeClient, collector: Collector, caplog: pytest.LogCaptureFixture
) -> None:
    """warn: every event is sent; one warning per event type per burst, not per event."""
    client = make_client().addEventMiddleware(validate(PLAN, on_violation="warn"))
    caplog.set_level(logging.WARNING, logger="amplitude_legacy")
    for _ in range(5):
        client.logEvent(checkout(plan="gold", amount=1))
    client.flush(5)
    assert len(collector.wait_for_events(5, 5)) == 5
    warnings = [r for r in caplog.records if "tracking plan violation" in r.getMessage()]
    assert len(warnings) == 1
    assert "event_properties.plan must be one of" in warnings[0].getMessage()


def test_annotate_marks_the_event_and_keeps_the_callers_dict() -> None:
    """annotate adds the problem under annotate_property, on a copy of the properties."""
    properties = {"plan": "gold", "amount": 1}
    event = checkout(**properties)
    out = run(validate(PLAN, "annotate", annotate_property="plan_error"), event)
    assert out.event_properties["plan_error"].startswith("event_properties.plan must be")
    assert properties == {"plan": "gold", "amount": 1}


def test_remote_refs_are_refused_at_construction() -> None:
    """A schema with a remote $ref fails when the plan is built; nothing is fetched."""
    for ref in ("https://example.com/schema.json", "file:///etc/passwd", "other.json"):
        with pytest.raises(ValueError, match=r"plan\['E'\]: not a valid JSON Schema: remote"):
            TrackingPlan({"E": {"$ref": ref}})


def test_a_plan_event_without_properties_is_checked_as_empty() -> None:
    """No event_properties counts as {} (so required properties are missing)."""
    out = run(validate(PLAN), {"event_type": "Checkout Completed", "user_id": "user-1"})
    assert reason_of(out) == "tracking_plan"
