"""ASGI: the middleware under Starlette's and FastAPI's real TestClient, and on a bare loop."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Dict, Iterator, List

import pytest
from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.authentication import AuthCredentials, AuthenticationBackend, SimpleUser
from starlette.middleware import Middleware
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.testclient import TestClient
from starlette.websockets import WebSocket

import amplitude_legacy as Amplitude
from amplitude_legacy import NodeClient
from amplitude_legacy.integrations import context_properties
from amplitude_legacy.integrations.asgi import AmplitudeMiddleware
from amplitude_legacy.testing import Collector
from tests.integrations.conftest import API_KEY, BrokenClient, by_type


@pytest.fixture
def clients() -> Iterator[List[NodeClient]]:
    """Clients built by the test, shut down after it."""
    built: List[NodeClient] = []
    yield built
    for client in built:
        client.shutdown(2)


def _client(options: Dict[str, Any], clients: List[NodeClient], **extra: Any) -> NodeClient:
    client = Amplitude.create_instance(API_KEY, {**options, **extra})
    client.addEventMiddleware(context_properties())
    clients.append(client)
    return client


def starlette_app(client: NodeClient, **settings: Any) -> Starlette:
    """Async and sync endpoints that log an event, a health check, a failing endpoint."""

    async def signup(request: Request) -> JSONResponse:
        client.logEvent({"event_type": "Signed Up", "user_id": "user-12345"})
        return JSONResponse({"context": dict(Amplitude.current_context())})

    def sync_signup(request: Request) -> JSONResponse:  # Starlette runs it in a thread
        client.logEvent({"event_type": "Signed Up Sync", "user_id": "user-12345"})
        return JSONResponse({"context": dict(Amplitude.current_context())})

    async def healthz(request: Request) -> JSONResponse:
        return JSONResponse({"context": dict(Amplitude.current_context())})

    async def boom(request: Request) -> JSONResponse:
        raise RuntimeError("the endpoint failed")

    async def socket(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_json({"context": dict(Amplitude.current_context())})
        await websocket.close()

    return Starlette(
        routes=[
            Route("/signup", signup, methods=["POST"]),
            Route("/sync/signup", sync_signup, methods=["POST"]),
            Route("/healthz", healthz),
            Route("/boom", boom),
            WebSocketRoute("/ws", socket),
        ],
        middleware=[Middleware(AmplitudeMiddleware, client=client, **settings)],
    )


def test_async_and_sync_endpoints_get_the_request_context(
    options: Dict[str, Any], clients: List[NodeClient], collector: Collector
) -> None:
    """Events logged in async endpoints and in sync ones (thread pool) carry the context."""
    app = starlette_app(_client(options, clients))
    with TestClient(app) as http:
        for path in ("/signup", "/sync/signup"):
            answer = http.post(path, headers={"X-Request-Id": "req-0001"})
            assert answer.json()["context"] == {
                "method": "POST",
                "path": path,
                "request_id": "req-0001",
            }
        with http.websocket_connect("/ws") as ws:
            assert ws.receive_json()["context"]["path"] == "/ws"
    events = collector.wait_for_events(2, timeout=5)
    assert by_type(events, "Signed Up Sync")["event_properties"]["path"] == "/sync/signup"
    assert by_type(events, "Signed Up")["event_properties"]["request_id"] == "req-0001"


class HeaderAuth(AuthenticationBackend):
    """Authenticates ``X-User`` as a SimpleUser (a stand-in for the app's real backend)."""

    async def authenticate(self, conn: HTTPConnection) -> Any:
        name = conn.headers.get("X-User")
        return None if name is None else (AuthCredentials(["authenticated"]), SimpleUser(name))


def fastapi_app(client: NodeClient, **settings: Any) -> FastAPI:
    """A FastAPI app with a path parameter, behind Starlette's AuthenticationMiddleware."""
    app = FastAPI()

    @app.get("/items/{item_id}")
    async def item(item_id: int) -> Dict[str, Any]:
        return {"item": item_id}

    @app.get("/boom")
    async def boom() -> Dict[str, Any]:
        raise RuntimeError("the endpoint failed")

    app.add_middleware(AuthenticationMiddleware, backend=HeaderAuth())
    app.add_middleware(AmplitudeMiddleware, client=client, **settings)  # outermost
    return app


def test_fastapi_request_event(
    options: Dict[str, Any], clients: List[NodeClient], collector: Collector
) -> None:
    """request_event: route template, status, user from scope["user"], device id header."""
    client = _client(options, clients)
    app = fastapi_app(client, request_event="Request Handled")
    with TestClient(app) as http:
        http.get("/items/42", headers={"X-User": "user-alice", "X-Request-Id": "req-0002"})
        http.get("/items/43", headers={"X-Amplitude-Device-Id": "device-abcdef"})
        http.get("/items/44")  # anonymous: counted, not logged
        http.get("/healthz", headers={"X-User": "user-alice"})  # skipped (404 here anyway)
    client.flush(5)
    by_user, by_device = collector.events
    assert by_user["user_id"] == "user-alice"
    props = by_user["event_properties"]
    assert (props["route"], props["path"], props["status"]) == (
        "/items/{item_id}",
        "/items/42",
        200,
    )
    assert props["request_id"] == "req-0002" and props["duration_ms"] >= 0
    assert by_device["device_id"] == "device-abcdef"
    middleware = _middleware(app)
    assert (middleware.anonymous, middleware.errors) == (1, 0)


def test_a_failing_endpoint_logs_500_and_the_exception_goes_on(
    options: Dict[str, Any], clients: List[NodeClient], collector: Collector
) -> None:
    """The endpoint's exception reaches the server unchanged; the request event says 500."""
    client = _client(options, clients)
    app = fastapi_app(client, request_event="Request Handled")
    with TestClient(app, raise_server_exceptions=True) as http, pytest.raises(RuntimeError):
        http.get("/boom", headers={"X-User": "user-alice"})
    client.flush(5)
    assert by_type(collector.events, "Request Handled")["event_properties"]["status"] == 500


def test_lifespan_shutdown_delivers_what_is_queued(
    options: Dict[str, Any], clients: List[NodeClient], collector: Collector
) -> None:
    """Events waiting for their upload interval are sent before the lifespan shutdown ends."""
    client = _client(options, clients, uploadIntervalInSec=60)
    app = fastapi_app(client, request_event="Request Handled")
    with TestClient(app) as http:
        for n in range(5):
            http.get(f"/items/{n}", headers={"X-User": "user-alice"})
        assert collector.events == [] and client.stats().pending == 5
    assert len(collector.events) == 5  # already there: the shutdown waited for them


def test_failures_are_counted_never_raised(
    collector: Collector, clients: List[NodeClient], caplog: pytest.LogCaptureFixture
) -> None:
    """A user_id that raises and a client that raises: requests succeed, failures counted."""

    broken = BrokenClient(API_KEY, {"serverUrl": collector.http_api_url})
    clients.append(broken)
    app = fastapi_app(broken, request_event="Request Handled", user_id=_raise)
    with caplog.at_level(logging.WARNING, logger="amplitude_legacy"), TestClient(app) as http:
        for _ in range(3):
            assert http.get("/items/1", headers={"X-Amplitude-Device-Id": "device-1"}).is_success
    assert _middleware(app).errors == 6
    assert sum("ASGI integration failed" in r.getMessage() for r in caplog.records) == 3


def test_the_event_loop_never_waits_for_the_network(
    clients: List[NodeClient],
) -> None:
    """With a collector that answers after 1 s, requests stay fast and the shutdown flush
    leaves the loop free (a ticker keeps ticking while it waits)."""
    with Collector(latency=1.0) as slow:
        client = Amplitude.create_instance(API_KEY, {"serverUrl": slow.http_api_url})
        clients.append(client)
        app = fastapi_app(client, request_event="Request Handled")
        timings, ticks = asyncio.run(_serve_then_shut_down(app, requests=20))
        assert max(timings) < 0.5, timings  # each request is far faster than one upload
        assert ticks >= 5, ticks  # the loop ran while flush_async waited (>= 1 s)
        assert len(slow.events) == 20


async def _serve_then_shut_down(app: Any, requests: int) -> Any:
    """Drive ``app`` as an ASGI server would: lifespan start, requests, lifespan shutdown."""
    lifespan: asyncio.Queue[Dict[str, Any]] = asyncio.Queue()
    await lifespan.put({"type": "lifespan.startup"})
    sent: List[str] = []

    async def lifespan_send(message: Dict[str, Any]) -> None:
        sent.append(message["type"])

    server = asyncio.create_task(
        app({"type": "lifespan", "asgi": {"version": "3.0"}}, lifespan.get, lifespan_send)
    )
    while "lifespan.startup.complete" not in sent:
        await asyncio.sleep(0.01)

    async def one(n: int) -> float:
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": f"/items/{n}",
            "raw_path": f"/items/{n}".encode(),
            "query_string": b"",
            "root_path": "",
            "headers": [(b"x-user", b"user-alice")],
            "client": ("127.0.0.1", 1234),
            "server": ("testserver", 80),
        }
        started = time.perf_counter()

        async def receive() -> Dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: Dict[str, Any]) -> None:
            pass

        await app(scope, receive, send)
        return time.perf_counter() - started

    timings = await asyncio.gather(*(one(n) for n in range(requests)))
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.05)
            ticks += 1

    ticking = asyncio.create_task(ticker())
    await lifespan.put({"type": "lifespan.shutdown"})
    await server
    ticking.cancel()
    assert sent == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    return timings, ticks


def test_bad_settings_are_value_errors(collector: Collector, clients: List[NodeClient]) -> None:
    """Neither or both of api_key and client, or bad values: ValueError naming them."""
    client = _client({"serverUrl": collector.http_api_url}, clients)
    for kwargs, message in [
        ({}, "give either an API key or a client"),
        ({"api_key": API_KEY, "client": client}, "give either an API key or a client"),
        ({"client": client, "request_event": 1}, "request_event"),
        ({"client": client, "skip_paths": ["healthz"]}, "skip_paths"),
        ({"client": client, "user_id": "x"}, "user_id"),
        ({"client": "x"}, "must be a NodeClient or a function"),
    ]:
        with pytest.raises(ValueError, match=message):
            AmplitudeMiddleware(starlette_app(client), **kwargs)


def _raise(scope: Any) -> str:
    raise RuntimeError("no user id today")


def _middleware(app: Any) -> AmplitudeMiddleware:
    """The AmplitudeMiddleware instance in a built Starlette/FastAPI middleware stack."""
    layer = app.middleware_stack
    while not isinstance(layer, AmplitudeMiddleware):
        layer = layer.app
    return layer
