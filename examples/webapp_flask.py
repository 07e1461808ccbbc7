"""A Flask app that logs Amplitude events with request context, and never logs health checks.

One client per process, created with the app. A request hook logs a "Request Handled" event
for every request and passes the route, method and request id in ``extra``; one middleware
copies that context into the event, another drops the events of health-check routes. Views log
their own events (``Signed Up``) through the same client and get the same context.

Run it (needs Flask: ``pip install flask``)::

    python examples/webapp_flask.py

It starts the app in-process with Flask's test client (no port is opened for the app), sends a
few requests, flushes and prints what arrived. Without ``AMPLITUDE_API_KEY`` the events go to
the bundled collector on 127.0.0.1; with it, to Amplitude (or to ``AMPLITUDE_SERVER_URL``).
In production, serve ``create_app()`` with your WSGI server and call ``client.shutdown()``
from its shutdown hook.
"""

from __future__ import annotations

import uuid
from typing import Any, Dict

from flask import Flask, Response, g, jsonify, request

import amplitude_legacy as Amplitude
from amplitude_legacy.testing import target_from_env

HEALTH_ROUTES = frozenset({"/healthz", "/readyz"})


def add_request_context(
    payload: Amplitude.MiddlewarePayload, next: Amplitude.MiddlewareNext
) -> None:
    """Enrich: copy the request context the app passed in ``extra`` into the event."""
    extra = payload.extra or {}
    context = {key: extra[key] for key in ("route", "method", "request_id") if key in extra}
    if context:
        payload.event.event_properties = {**(payload.event.event_properties or {}), **context}
    next(payload)


def drop_health_checks(
    payload: Amplitude.MiddlewarePayload, next: Amplitude.MiddlewareNext
) -> None:
    """Filter: events logged while serving a health-check route never leave the process."""
    if (payload.extra or {}).get("route") in HEALTH_ROUTES:
        return  # not calling next() stops the event: it resolves "skipped"
    next(payload)


def create_app(client: Amplitude.NodeClient) -> Flask:
    """The web app; every request is tracked through ``client``."""
    app = Flask(__name__)

    def request_context() -> Dict[str, Any]:
        rule = request.url_rule.rule if request.url_rule is not None else request.path
        return {"route": rule, "method": request.method, "request_id": g.request_id}

    def track(event_type: str, user_id: str | None, **properties: Any) -> None:
        event: Dict[str, Any] = {"event_type": event_type, "event_properties": properties}
        if user_id:
            event["user_id"] = user_id
        else:
            event["device_id"] = request.headers.get("X-Device-Id", "anonymous-web")
        client.logEvent(event, request_context())  # never blocks: no I/O on this thread

    @app.before_request
    def assign_request_id() -> None:
        g.request_id = request.headers.get("X-Request-Id") or uuid.uuid4().hex

    @app.after_request
    def track_request(response: Response) -> Response:
        track("Request Handled", request.headers.get("X-User-Id"), status=response.status_code)
        return response

    @app.get("/")
    def home() -> Response:
        return jsonify(page="home")

    @app.post("/signup")
    def signup() -> Response:
        user_id = (request.get_json(silent=True) or {}).get("user_id", "")
        track("Signed Up", user_id, plan="free")
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
    client.addEventMiddleware(add_request_context).addEventMiddleware(drop_health_checks)
    app = create_app(client)

    with app.test_client() as http:
        http.get("/", headers={"X-Request-Id": "req-0001", "X-User-Id": "user-123"})
        http.post("/signup", json={"user_id": "user-456"}, headers={"X-Request-Id": "req-0002"})
        for _ in range(3):
            http.get("/healthz")  # a load balancer probing the app

    result = client.flush(timeout=10)  # everything logged so far is delivered or dropped
    stats = client.stats()
    print(f"delivered: {stats.delivered}, pending: {result.pending}")
    print(f"health-check events filtered: {stats.dropped.get('middleware_stopped', 0)}")
    client.shutdown(timeout=10)

    ok = stats.delivered == 3 and result.pending == 0
    if collector is not None:
        for event in collector.events:
            props = event.get("event_properties", {})
            print(
                f"collector received: {event['event_type']} route={props.get('route')} "
                f"request_id={props.get('request_id')}"
            )
        routes = [e.get("event_properties", {}).get("route") for e in collector.events]
        ok = ok and len(collector.events) == 3 and not HEALTH_ROUTES.intersection(routes)
        collector.stop()
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
