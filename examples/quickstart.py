"""Quickstart: log events through middleware and deliver them.

With ``AMPLITUDE_API_KEY`` set, events go to Amplitude (``AMPLITUDE_SERVER_URL`` may point
elsewhere, e.g. the EU endpoint). Without it, the bundled local collector starts on
127.0.0.1 and receives them, so the example runs anywhere, offline.

    python examples/quickstart.py
"""

from __future__ import annotations

import amplitude_legacy as Amplitude
from amplitude_legacy.testing import target_from_env


def add_route(payload: Amplitude.MiddlewarePayload, next: Amplitude.MiddlewareNext) -> None:
    """Enrich: copy the request route from ``extra`` into the event properties."""
    if payload.extra and "route" in payload.extra:
        payload.event.event_properties = {
            **(payload.event.event_properties or {}),
            "route": payload.extra["route"],
        }
    next(payload)


def drop_health_checks(
    payload: Amplitude.MiddlewarePayload, next: Amplitude.MiddlewareNext
) -> None:
    """Filter: events of type "Health Check" never leave the process."""
    if payload.event.event_type != "Health Check":
        next(payload)


def main() -> int:
    """Log a few events, identify a user, flush, and report what happened."""
    # Amplitude when AMPLITUDE_API_KEY is set, else the bundled collector on 127.0.0.1.
    target = target_from_env()
    collector = target.collector
    client = Amplitude.init(target.api_key, target.options)
    client.addEventMiddleware(add_route).addEventMiddleware(drop_health_checks)

    clicked = client.logEvent(
        {
            "event_type": "Button Clicked",
            "user_id": "user-123",
            "event_properties": {"color": "red"},
        },
        {"route": "/home"},
    )
    health = client.logEvent({"event_type": "Health Check", "device_id": "probe-0001"})
    identified = client.identify(
        "user-123", None, Amplitude.Identify().set("plan", "pro").add("logins", 1)
    )

    result = client.flush(timeout=10)
    for name, future in (
        ("Button Clicked", clicked),
        ("Health Check", health),
        ("$identify", identified),
    ):
        response = future.result(timeout=10)
        print(f"{name:>15}: {response.status} ({response.status_code})")
    print(f"flush: sent={result.sent} dropped={result.dropped} pending={result.pending}")
    client.shutdown(timeout=10)

    if collector is not None:
        for event in collector.events:
            print(f"collector received: {event['event_type']} {event.get('event_properties', {})}")
        collector.stop()
    return 0 if clicked.result().status == "success" else 1


if __name__ == "__main__":
    raise SystemExit(main())
