"""Flask: the extension with Flask's real test client, events delivered to the collector."""

from __future__ import annotations

import logging
from typing import Any, Dict, Iterator, List

import pytest
from flask import Flask, jsonify

import amplitude_legacy as Amplitude
from amplitude_legacy.integrations import context_properties
from amplitude_legacy.integrations.flask import EXTENSION_KEY, FlaskAmplitude
from amplitude_legacy.testing import Collector
from tests.integrations.conftest import API_KEY, BrokenClient, by_type


def make_app(**config: Any) -> Flask:
    """An app with a view that logs an event, a route with a parameter and a health check."""
    app = Flask(__name__)
    app.config.update(config)

    @app.post("/signup")
    def signup() -> Any:
        app.extensions[EXTENSION_KEY].clients.get().logEvent(
            {"event_type": "Signed Up", "user_id": "user-12345"}
        )
        return jsonify(context=dict(Amplitude.current_context()))

    @app.get("/items/<int:item_id>")
    def item(item_id: int) -> Any:
        return jsonify(item=item_id)

    @app.get("/healthz")
    def healthz() -> Any:
        return jsonify(context=dict(Amplitude.current_context()))

    @app.get("/boom")
    def boom() -> Any:
        raise RuntimeError("the view failed")

    return app


@pytest.fixture
def extensions() -> Iterator[List[FlaskAmplitude]]:
    """Extensions built by the test; their apps' clients are shut down after it."""
    built: List[FlaskAmplitude] = []
    yield built
    for extension in built:
        extension.client.shutdown(2)


@pytest.fixture
def tracked(options: Dict[str, Any], extensions: List[FlaskAmplitude]) -> Any:
    """``tracked(**config)``: an app with the extension set up from ``AMPLITUDE_*`` config."""

    def build(**config: Any) -> Flask:
        config.setdefault("AMPLITUDE_API_KEY", API_KEY)
        config.setdefault("AMPLITUDE_OPTIONS", options)
        app = make_app(**config)
        extension = FlaskAmplitude(app)
        extension.client.addEventMiddleware(context_properties())
        extensions.append(extension)
        return app

    return build


def test_view_events_carry_the_request_context(tracked: Any, collector: Collector) -> None:
    """An event logged in a view gets method, path, route and request id as its context."""
    app = tracked()
    answer = app.test_client().post("/signup", headers={"X-Request-Id": "req-0001"})
    expected = {"method": "POST", "path": "/signup", "route": "/signup", "request_id": "req-0001"}
    assert answer.get_json()["context"] == expected
    [event] = collector.wait_for_events(1, timeout=5)
    assert event["event_properties"] == expected


def test_request_event_with_user_and_device_ids(tracked: Any, collector: Collector) -> None:
    """AMPLITUDE_REQUEST_EVENT logs each request once; user id from AMPLITUDE_USER_ID."""
    app = tracked(
        AMPLITUDE_REQUEST_EVENT="Request Handled",
        AMPLITUDE_USER_ID=lambda req: req.headers.get("X-User-Id"),
    )
    http = app.test_client()
    http.get("/items/42", headers={"X-User-Id": "user-12345", "X-Request-Id": "req-0002"})
    http.get("/items/43", headers={"X-Amplitude-Device-Id": "device-abcdef"})
    http.get("/items/44")  # anonymous: no request event
    extension_state = app.extensions[EXTENSION_KEY]
    extension_state.clients.get().flush(5)
    by_user, by_device = collector.events
    assert by_user["user_id"] == "user-12345"
    props = by_user["event_properties"]
    assert (props["route"], props["path"], props["status"]) == (
        "/items/<int:item_id>",
        "/items/42",
        200,
    )
    assert props["request_id"] == "req-0002"
    assert by_device["device_id"] == "device-abcdef" and "user_id" not in by_device
    assert (extension_state.anonymous, extension_state.errors) == (1, 0)


def test_health_checks_are_skipped(tracked: Any, collector: Collector) -> None:
    """AMPLITUDE_SKIP_PATHS requests get no context and no request event."""
    app = tracked(AMPLITUDE_REQUEST_EVENT="Request Handled")  # default skip paths
    http = app.test_client()
    for _ in range(3):
        answer = http.get("/healthz", headers={"X-Amplitude-Device-Id": "probe-123"})
        assert answer.get_json() == {"context": {}}
    http.get("/items/7", headers={"X-Amplitude-Device-Id": "device-abcdef"})
    app.extensions[EXTENSION_KEY].clients.get().flush(5)
    assert [e["event_properties"]["path"] for e in collector.events] == ["/items/7"]


def test_requests_are_not_flushed_one_by_one(
    tracked: Any, collector: Collector, options: Dict[str, Any]
) -> None:
    """The end of a request sends nothing by itself: the client batches in the background."""
    app = tracked(
        AMPLITUDE_REQUEST_EVENT="Request Handled",
        AMPLITUDE_OPTIONS={**options, "uploadIntervalInSec": 60},
    )
    http = app.test_client()
    for n in range(5):
        http.get(f"/items/{n}", headers={"X-Amplitude-Device-Id": "device-abcdef"})
    client = app.extensions[EXTENSION_KEY].clients.get()
    assert client.stats().pending == 5
    assert collector.requests == []
    client.flush(5)
    assert len(collector.requests) == 1 and len(collector.events) == 5


def test_a_failing_view_still_logs_a_500_request_event(tracked: Any, collector: Collector) -> None:
    """The view's exception is handled by Flask as usual; the request event says 500."""
    app = tracked(AMPLITUDE_REQUEST_EVENT="Request Handled")
    answer = app.test_client().get("/boom", headers={"X-Amplitude-Device-Id": "device-abcdef"})
    assert answer.status_code == 500
    app.extensions[EXTENSION_KEY].clients.get().flush(5)
    assert by_type(collector.events, "Request Handled")["event_properties"]["status"] == 500


def test_failures_are_counted_never_raised(
    collector: Collector, extensions: List[FlaskAmplitude], caplog: pytest.LogCaptureFixture
) -> None:
    """A user id callable that raises and a client that raises: requests succeed, counted."""

    app = make_app(AMPLITUDE_REQUEST_EVENT="Request Handled", AMPLITUDE_USER_ID=_raise)
    extension = FlaskAmplitude(
        app, client=BrokenClient(API_KEY, {"serverUrl": collector.http_api_url})
    )
    extensions.append(extension)
    http = app.test_client()
    with caplog.at_level(logging.WARNING, logger="amplitude_legacy"):
        for _ in range(3):
            answer = http.get("/items/3", headers={"X-Amplitude-Device-Id": "device-abcdef"})
            assert answer.status_code == 200
    with app.app_context():
        assert extension.errors == 6  # 3 user ids + 3 request events
    assert sum("Flask integration failed" in r.getMessage() for r in caplog.records) == 3


def test_one_extension_serves_several_apps(options: Dict[str, Any], collector: Collector) -> None:
    """init_app on two apps: each gets its own settings; ``client`` follows the current app."""
    extension = FlaskAmplitude()
    first = make_app(
        AMPLITUDE_API_KEY=API_KEY,
        AMPLITUDE_OPTIONS=options,
        AMPLITUDE_REQUEST_EVENT="First App Request",
    )
    second = make_app(
        AMPLITUDE_API_KEY=API_KEY,
        AMPLITUDE_OPTIONS=options,
        AMPLITUDE_REQUEST_EVENT="Second App Request",
    )
    extension.init_app(first)
    extension.init_app(second)
    headers = {"X-Amplitude-Device-Id": "device-abcdef"}
    first.test_client().get("/items/1", headers=headers)
    second.test_client().get("/items/2", headers=headers)
    clients = []
    for app in (first, second):
        with app.app_context():
            clients.append(extension.client)
            extension.client.shutdown(5)
    assert clients[0] is not clients[1]
    assert sorted(e["event_type"] for e in collector.events) == [
        "First App Request",
        "Second App Request",
    ]


def test_bad_configuration_is_a_value_error() -> None:
    """No API key, a bad request event or skip paths: ValueError naming the setting."""
    for config, message in [
        ({}, "AMPLITUDE_API_KEY"),
        ({"AMPLITUDE_API_KEY": API_KEY, "AMPLITUDE_REQUEST_EVENT": ""}, "AMPLITUDE_REQUEST_EVENT"),
        (
            {"AMPLITUDE_API_KEY": API_KEY, "AMPLITUDE_SKIP_PATHS": ["healthz"]},
            "AMPLITUDE_SKIP_PATHS",
        ),
        ({"AMPLITUDE_API_KEY": API_KEY, "AMPLITUDE_USER_ID": "x"}, "AMPLITUDE_USER_ID"),
    ]:
        with pytest.raises(ValueError) as info:
            FlaskAmplitude(make_app(**config))
        assert message in str(info.value)


def _raise(request: Any) -> str:
    raise RuntimeError("no user id today")


def test_default_user_id_comes_from_flask_login(
    options: Dict[str, Any], collector: Collector
) -> None:
    """With Flask-Login in use, the request event's user_id is current_user.get_id()."""
    import flask_login

    class User(flask_login.UserMixin):
        def __init__(self, user_id: str) -> None:
            self.id = user_id

    app = make_app(
        AMPLITUDE_API_KEY=API_KEY,
        AMPLITUDE_OPTIONS=options,
        AMPLITUDE_REQUEST_EVENT="Request Handled",
        SECRET_KEY="tests-only-secret",
    )
    login = flask_login.LoginManager(app)
    login.request_loader(
        lambda req: User(req.headers["X-User"]) if "X-User" in req.headers else None
    )
    FlaskAmplitude(app)
    http = app.test_client()
    http.get("/items/1", headers={"X-User": "user-alice"})
    http.get("/items/2", headers={"X-Amplitude-Device-Id": "device-abcdef"})  # anonymous
    amplitude_client = app.extensions[EXTENSION_KEY].clients.get()
    amplitude_client.flush(5)
    amplitude_client.shutdown(1)
    by_user, by_device = collector.events
    assert by_user["user_id"] == "user-alice"
    assert "user_id" not in by_device and by_device["device_id"] == "device-abcdef"
    assert app.extensions[EXTENSION_KEY].errors == 0


def test_flask_login_loaded_but_unused_is_not_a_failure(
    options: Dict[str, Any], collector: Collector, extensions: List[FlaskAmplitude]
) -> None:
    """Flask-Login imported by something else, this app without a LoginManager: no error."""
    import flask_login  # noqa: F401 - only its presence in sys.modules matters

    app = make_app(
        AMPLITUDE_API_KEY=API_KEY, AMPLITUDE_OPTIONS=options, AMPLITUDE_REQUEST_EVENT="Request"
    )
    extension = FlaskAmplitude(app)
    extensions.append(extension)
    app.test_client().get("/items/1", headers={"X-Amplitude-Device-Id": "device-abcdef"})
    with app.app_context():
        assert extension.errors == 0
        extension.client.flush(5)
    [event] = collector.events
    assert "user_id" not in event
