"""disabled and dryRun through the integrations: the middleware runs, nothing is sent."""

from __future__ import annotations

import json
import logging
from typing import Any, Dict

import pytest
from flask import Flask, jsonify
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

import amplitude_legacy as Amplitude
from amplitude_legacy.integrations.asgi import AmplitudeMiddleware
from amplitude_legacy.integrations.flask import FlaskAmplitude
from amplitude_legacy.testing import Collector
from tests.integrations.conftest import API_KEY


def test_disabled_flask_app_runs_its_hooks_and_sends_nothing(
    options: Dict[str, Any], collector: Collector
) -> None:
    """disabled: the context is there, request events resolve skipped, none reach the wire."""
    app = Flask(__name__)
    app.config.update(
        AMPLITUDE_API_KEY=API_KEY,
        AMPLITUDE_OPTIONS={**options, "disabled": True},
        AMPLITUDE_REQUEST_EVENT="Request Handled",
    )
    amplitude = FlaskAmplitude(app)

    @app.get("/signup")
    def signup() -> Any:
        future = amplitude.client.logEvent({"event_type": "Signed Up", "user_id": "user-12345"})
        response = future.result(1)
        return jsonify(context=dict(Amplitude.current_context()), reason=response.reason)

    http = app.test_client()
    for _ in range(3):
        answer = http.get("/signup", headers={"X-Amplitude-Device-Id": "device-abcdef"})
        assert answer.get_json() == {
            "context": {"method": "GET", "path": "/signup", "route": "/signup"},
            "reason": "disabled",
        }
    client = amplitude.client
    assert client.flush(1).pending == 0
    assert client.stats().dropped == {"disabled": 6}  # 3 view events + 3 request events
    assert collector.requests == [] and amplitude.errors == 0
    client.shutdown(1)


def test_dry_run_asgi_app_logs_each_event_as_it_would_be_sent(
    options: Dict[str, Any], collector: Collector, caplog: pytest.LogCaptureFixture
) -> None:
    """dryRun: each request event is logged (amplitude_legacy.dry_run, INFO), none is sent."""
    client = Amplitude.create_instance(API_KEY, {**options, "dryRun": True})

    async def home(request: Request) -> JSONResponse:
        return JSONResponse({})

    app = Starlette(
        routes=[Route("/", home)],
        middleware=[Middleware(AmplitudeMiddleware, client=client, request_event="Page Served")],
    )
    with caplog.at_level(logging.INFO, logger="amplitude_legacy.dry_run"), TestClient(app) as http:
        http.get("/", headers={"X-Amplitude-Device-Id": "device-abcdef"})
    [record] = [r for r in caplog.records if r.name == "amplitude_legacy.dry_run"]
    logged = json.loads(record.getMessage().split(": ", 1)[1])
    assert (logged["event_type"], logged["device_id"]) == ("Page Served", "device-abcdef")
    assert client.stats().dropped == {"dry_run": 1}
    assert collector.requests == []
    client.shutdown(1)
