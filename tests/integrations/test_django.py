"""Django: the middleware with Django's real test clients, events delivered to the collector."""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Dict, Iterator

import pytest

from amplitude_legacy import NodeClient
from amplitude_legacy.integrations import context_properties
from amplitude_legacy.integrations import django as amplitude_django
from amplitude_legacy.testing import Collector
from tests.integrations import _django_project
from tests.integrations.conftest import API_KEY, BrokenClient, by_type

# Django's settings can be configured once per process: do it while pytest collects, so that
# pages of the docs (tests/docs) that run Django later find it configured and only override.
_django_project.configure()


@pytest.fixture
def amplitude(options: Dict[str, Any]) -> Iterator[Any]:
    """``amplitude(**settings)`` sets ``settings.AMPLITUDE`` for the test; clients are shut down."""
    from django.test import override_settings

    from amplitude_legacy.integrations.django import get_client

    overrides = []

    def configure(**values: Any) -> NodeClient:
        values.setdefault("API_KEY", API_KEY)
        if "CLIENT" not in values:
            values.setdefault("OPTIONS", options)
        else:
            values.pop("API_KEY")
        override = override_settings(AMPLITUDE=values)
        override.enable()
        overrides.append(override)
        client = get_client()
        client.addEventMiddleware(context_properties())
        return client

    yield configure
    for override in reversed(overrides):
        get_client().shutdown(2)
        override.disable()


def test_view_events_carry_the_request_context(amplitude: Any, collector: Collector) -> None:
    """An event logged in a view gets method, path and request id as its context."""
    from django.test import Client

    amplitude()
    answer = Client().get("/signup", HTTP_X_REQUEST_ID="req-0001")
    assert answer.status_code == 200
    assert answer.json()["context"] == {
        "method": "GET",
        "path": "/signup",
        "request_id": "req-0001",
    }
    [event] = collector.wait_for_events(1, timeout=5)
    assert event["event_type"] == "Signed Up"
    assert event["event_properties"] == {
        "method": "GET",
        "path": "/signup",
        "request_id": "req-0001",
    }


def test_request_event_has_the_authenticated_user(amplitude: Any, collector: Collector) -> None:
    """REQUEST_EVENT logs one event per request, with user_id from request.user."""
    from django.contrib.auth.models import User
    from django.test import Client

    client = amplitude(
        REQUEST_EVENT="Request Handled",
        OPTIONS={
            "serverUrl": collector.http_api_url,
            "minIdLength": 1,
        },
    )
    user = User.objects.create_user("alice", password="secret")
    http = Client()
    http.force_login(user)
    assert http.get("/items/42", HTTP_X_REQUEST_ID="req-0002").status_code == 200
    client.flush(5)
    event = by_type(collector.events, "Request Handled")
    assert event["user_id"] == str(user.pk)
    props = event["event_properties"]
    assert props["route"] == "/items/<int:item_id>"
    assert (props["method"], props["path"], props["status"]) == ("GET", "/items/42", 200)
    assert props["request_id"] == "req-0002"
    assert props["duration_ms"] >= 0
    user.delete()


def test_anonymous_request_uses_the_device_header_or_logs_nothing(
    amplitude: Any, collector: Collector
) -> None:
    """An anonymous request is tracked by its device id header; without one it is counted."""
    from django.test import Client

    client = amplitude(REQUEST_EVENT="Request Handled")
    http = Client()
    http.get("/items/1", HTTP_X_AMPLITUDE_DEVICE_ID="device-abcdef")
    http.get("/items/2")
    client.flush(5)
    [event] = collector.events
    assert event["device_id"] == "device-abcdef"
    assert "user_id" not in event
    assert (amplitude_django.anonymous(), amplitude_django.errors()) == (1, 0)


def test_health_checks_are_skipped(amplitude: Any, collector: Collector) -> None:
    """SKIP_PATHS requests get no context and no request event."""
    from django.test import Client

    client = amplitude(REQUEST_EVENT="Request Handled", SKIP_PATHS=["/healthz"])
    http = Client()
    for _ in range(3):
        assert http.get("/healthz", HTTP_X_AMPLITUDE_DEVICE_ID="probe-123").json() == {
            "context": {}
        }
    http.get("/items/7", HTTP_X_AMPLITUDE_DEVICE_ID="device-abcdef")
    client.flush(5)
    assert [e["event_properties"]["path"] for e in collector.events] == ["/items/7"]


def test_a_failing_view_still_logs_a_500_request_event(
    amplitude: Any, collector: Collector
) -> None:
    """The view's exception reaches Django unchanged; the request event says 500."""
    from django.test import Client

    client = amplitude(REQUEST_EVENT="Request Handled")
    answer = Client(raise_request_exception=False).get(
        "/boom", HTTP_X_AMPLITUDE_DEVICE_ID="device-abcdef"
    )
    assert answer.status_code == 500
    client.flush(5)
    [event] = collector.events
    assert event["event_properties"]["status"] == 500


def test_failures_are_counted_never_raised(
    amplitude: Any, collector: Collector, caplog: pytest.LogCaptureFixture
) -> None:
    """A USER_ID that raises and a client that raises: requests succeed, errors are counted."""
    from django.test import Client

    broken = BrokenClient(API_KEY, {"serverUrl": collector.http_api_url})
    try:
        amplitude(CLIENT=broken, REQUEST_EVENT="Request Handled", USER_ID=_raise)
        http = Client()
        with caplog.at_level(logging.WARNING, logger="amplitude_legacy"):
            for _ in range(3):
                assert (
                    http.get("/items/3", HTTP_X_AMPLITUDE_DEVICE_ID="device-abcdef").status_code
                    == 200
                )
        assert amplitude_django.errors() == 6  # 3 user ids + 3 request events
        logged = [r for r in caplog.records if "Django integration failed" in r.getMessage()]
        assert len(logged) == 3  # the 1st, 2nd and 4th failure
    finally:
        broken.shutdown(1)


def test_async_views_get_the_context_without_a_thread_switch(
    amplitude: Any, collector: Collector
) -> None:
    """Under ASGI (AsyncClient) the middleware runs async; context and request event work."""
    from django.contrib.auth.models import User
    from django.test import AsyncClient

    client = amplitude(
        REQUEST_EVENT="Request Handled",
        OPTIONS={
            "serverUrl": collector.http_api_url,
            "minIdLength": 1,
        },
    )
    user = User.objects.create_user("bob", password="secret")
    http = AsyncClient()
    http.force_login(user)  # the sync form: aforce_login is Django 5's, the extra allows 4.2

    async def run() -> Any:
        return await http.get("/async/signup", headers={"X-Request-Id": "req-0003"})

    answer = asyncio.run(run())
    assert _loaded(http).async_mode
    assert answer.json()["context"] == {
        "method": "GET",
        "path": "/async/signup",
        "request_id": "req-0003",
    }
    client.flush(5)
    assert by_type(collector.events, "Signed Up Async")["event_properties"]["request_id"] == (
        "req-0003"
    )
    assert by_type(collector.events, "Request Handled")["user_id"] == str(user.pk)
    user.delete()


def test_missing_or_wrong_settings_are_improperly_configured() -> None:
    """No AMPLITUDE setting, an unknown key or a bad value: ImproperlyConfigured naming it."""
    from django.core.exceptions import ImproperlyConfigured
    from django.test import override_settings

    from amplitude_legacy.integrations.django import AmplitudeMiddleware

    for value, message in [
        (None, "settings.AMPLITUDE must be a dict"),
        ({"API_KEY": API_KEY, "REQUEST_EVNT": "x"}, "unknown key(s) ['REQUEST_EVNT']"),
        ({"API_KEY": API_KEY, "SKIP_PATHS": "/healthz"}, "SKIP_PATHS: expected a list"),
        ({}, "give either an API key or a client"),
        ({"API_KEY": API_KEY, "OPTIONS": {"maxCachedEvent": 1}}, "maxCachedEvent"),
    ]:
        with override_settings(AMPLITUDE=value), pytest.raises(ImproperlyConfigured) as info:
            AmplitudeMiddleware(lambda request: None)
        assert message in str(info.value)
        assert API_KEY not in str(info.value)


def _raise(request: Any) -> str:
    raise RuntimeError("no user id today")


def _loaded(http: Any) -> Any:
    """The attributes of the AmplitudeMiddleware that Django's test client loaded."""
    layer = http.handler._middleware_chain
    # Django wraps each middleware with functools.wraps, which copies its attributes.
    while not hasattr(layer, "tracker"):
        layer = layer.get_response
    return layer
