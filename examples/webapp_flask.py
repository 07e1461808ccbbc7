"""A Flask app tracked with the FlaskAmplitude extension: request context, request events,
health checks left alone.

One client per process, given to the extension with the app. For every request the extension
enters ``Amplitude.context(method=..., path=..., route=..., request_id=...)``, so every event
logged while the request is served gets those values as its ``extra``; the client's
``context_properties`` middleware copies some of them into the events. The extension also logs
a "Request Handled" event per request, and skips the health-check routes entirely. Views log
their own events (``Signed Up``) through the same client and get the same context.

Run it (needs Flask: ``pip install "amplitude_legacy[flask]"``)::

    python examples/webapp_flask.py

It starts the app in-process with Flask's test client (no port is opened for the app), sends a
few requests, flushes and prints what arrived. Without ``AMPLITUDE_API_KEY`` the events go to
the bundled collector on 127.0.0.1; with it, to Amplitude (or to ``AMPLITUDE_SERVER_URL``).
In production, serve ``create_app(client)`` with your WSGI server; the client flushes at exit
(see the "Containers and servers" page for gunicorn, uWSGI and Kubernetes).
"""

from __future__ import annotations

from typing import Any

from flask import Flask, Request, jsonify, request
from flask.wrappers import Response

import amplitude_legacy as Amplitude
from amplitude_legacy.integrations import context_properties
from amplitude_legacy.integrations.flask import FlaskAmplitude
from amplitude_legacy.testing import target_from_env

HEALTH_ROUTES = ["/healthz", "/readyz"]


def user_id_from_header(req: Request) -> str | None:
    """The request event's user id; a real app would read its session or auth token."""
    return req.headers.get("X-User-Id")


def create_app(client: Amplitude.NodeClient) -> Flask:
    """The web app; every request is tracked through ``client``."""
    app = Flask(__name__)
    app.config.update(
        AMPLITUDE_REQUEST_EVENT="Request Handled",
        AMPLITUDE_SKIP_PATHS=HEALTH_ROUTES,
        AMPLITUDE_USER_ID=user_id_from_header,
    )
    amplitude = FlaskAmplitude(app, client=client)

    @app.get("/")
    def home() -> Response:
        return jsonify(page="home")

    @app.post("/signup")
    def signup() -> Response:
        user_id = (request.get_json(silent=True) or {}).get("user_id", "")
        # Never blocks, no I/O here; the route and request id come from the context.
        amplitude.client.logEvent(
            {"event_type": "Signed Up", "user_id": user_id, "event_properties": {"plan": "free"}}
        )
        return jsonify(ok=True, user_id=user_id)

    @app.get("/healthz")
    def healthz() -> Response:
        return jsonify(status="ok")

    return app


def main() -> int:
    """Serve a few requests in-process, flush, and report what reached the collector."""
    # Amplitude when AMPLITUDE_API_KEY is set, else the bundled collector on 127.0.0.1.
    target = target_from_env()
    collector = target.collector

    client = Amplitude.init(target.api_key, target.options)
    client.addEventMiddleware(context_properties("route", "method", "request_id"))
    app = create_app(client)

    with app.test_client() as http:
        http.get("/", headers={"X-Request-Id": "req-0001", "X-User-Id": "user-123"})
        http.post(
            "/signup",
            json={"user_id": "user-456"},
            headers={"X-Request-Id": "req-0002", "X-Amplitude-Device-Id": "device-web-0001"},
        )
        for _ in range(3):
            http.get("/healthz")  # a load balancer probing the app

    result = client.flush(timeout=10)  # everything logged so far is delivered or dropped
    stats = client.stats()
    print(f"delivered: {stats.delivered}, pending: {result.pending}")
    client.shutdown(timeout=10)

    ok = stats.delivered == 3 and result.pending == 0
    if collector is not None:
        events: Any = collector.events
        for event in events:
            props = event.get("event_properties", {})
            print(
                f"collector received: {event['event_type']} route={props.get('route')} "
                f"request_id={props.get('request_id')}"
            )
        health = [e for e in events if e.get("event_properties", {}).get("path") in HEALTH_ROUTES]
        print(f"health-check events: {len(health)}")
        ok = ok and len(events) == 3 and not health
        collector.stop()
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
