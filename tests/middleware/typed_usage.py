"""The cookbook's uses of ``amplitude_legacy.middleware``, as a user's strict type checker sees
them; ``test_typing.py`` runs ``mypy --strict`` here. Importable, free of side effects."""

from __future__ import annotations

from typing import Any, Dict, List

import amplitude_legacy as Amplitude
from amplitude_legacy import ClientStats, Event, FlushResult, Middleware
from amplitude_legacy.middleware import (
    AmplitudeDestination,
    Destination,
    JsonlFileDestination,
    Reason,
    RedisStreamDestination,
    TrackingPlan,
    WebhookDestination,
    allow_properties,
    drop_bots,
    drop_events,
    enrich,
    hash_value,
    keep_events,
    redact,
    rename_events,
    route,
    sample,
    sample_bucket,
    set_defaults,
    validate,
)
from amplitude_legacy.plugins import MiddlewarePlugin

EU = {"DE", "FR"}


def request_context(event: Event, extra: Dict[str, Any] | None) -> Dict[str, Any] | None:
    """An enrichment function typed the way users write it."""
    return {"request_id": extra["request_id"]} if extra else None


def build_chain(salt: bytes) -> List[Middleware]:
    """Every factory, with the argument forms the cookbook shows."""
    return [
        drop_events("Health Check", "debug.*"),
        drop_events({"Heartbeat"}, where=lambda event: event.user_id == "load-tester"),
        keep_events(["Checkout *", "$identify"], reason="not_tracked"),
        sample(0.25, by=("user_id", "device_id"), where="Search *"),
        sample(0.5, by=lambda event: (event.event_properties or {}).get("account")),
        drop_bots("event_properties.user_agent"),
        enrich({"service": "billing"}),
        enrich(request_context, into="user_properties", overwrite=True),
        rename_events({"signup": "Signed Up"}),
        set_defaults({"platform": "Web"}, app_version="2.4.1"),
        redact(["ip", "event_properties.email"]),
        redact("user_id", "hash", salt=salt),
        allow_properties({"event_properties": ["plan", "page"]}),
        validate({"Signed Up": {"type": "object"}}, on_violation="warn"),
        validate(TrackingPlan("plan.json"), allow_unplanned=False),
    ]


def destinations(client: Amplitude.NodeClient, audit_path: str) -> ClientStats:
    """Each destination, routed; stats by name; flush and shutdown results."""
    eu = AmplitudeDestination("EU_KEY", {"serverZone": "EU"}, name="eu")
    hook = WebhookDestination("https://hooks.example.com/in", headers={"A": "b"}, batch_size=50)
    stream = RedisStreamDestination("redis://127.0.0.1:6379/0", "events", maxlen=1000)
    audit = JsonlFileDestination(audit_path, rotate_bytes=10_000_000, fsync=True)
    client.addEventMiddleware(route(lambda event: event.country in EU, eu, copy=False))
    for destination in (hook, stream, audit):
        client.addEventMiddleware(route("*", destination))
    flushed: FlushResult = eu.flush(5)
    assert flushed.pending >= 0
    closed: FlushResult = audit.shutdown(5)
    assert not closed.timed_out
    mine: Destination = audit
    assert mine.name and mine.closed
    return client.stats().destinations["eu"]


def helpers() -> bool:
    """Reasons, the hash and the bucket, on the plugin side too."""
    plugin = MiddlewarePlugin(drop_events("Health Check"))
    digest: str = hash_value("jane@example.com", salt="s3cret")
    bucket: int = sample_bucket("user-123")
    plan = TrackingPlan({"E": {"type": "object"}})
    problem: str | None = plan.check({"event_type": "E"})
    return bool(plugin.name and digest and bucket >= 0 and problem is None) and (
        Reason.ROUTED == "routed"
    )
