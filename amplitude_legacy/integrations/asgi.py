"""ASGI (FastAPI, Starlette, any ASGI app): a middleware that gives each request its context.

::

    from fastapi import FastAPI
    from amplitude_legacy.integrations.asgi import AmplitudeMiddleware

    app = FastAPI()
    app.add_middleware(AmplitudeMiddleware, api_key=os.environ["AMPLITUDE_API_KEY"],
                       request_event="Request Handled")

A pure ASGI middleware: it imports no framework and never blocks the event loop
(``logEvent`` only queues; the lifespan shutdown waits with ``flush_async``). Every
``logEvent``/``identify`` made while a request is served (in ``async def`` endpoints and in
sync ones, which run in a thread with a copy of the context) gets ``method``, ``path`` and
``request_id`` in ``extra``. Nothing it does can raise into a request: failures are logged and
counted (``AmplitudeMiddleware.errors``).
"""

from __future__ import annotations

import time
from typing import Any, Awaitable, Callable, Dict, Iterable, MutableMapping

from amplitude_legacy._client import NodeClient, OptionsArg
from amplitude_legacy.integrations._common import (
    DEFAULT_DEVICE_ID_HEADER,
    DEFAULT_REQUEST_ID_HEADER,
    DEFAULT_SKIP_PATHS,
    ClientSource,
    ProcessClient,
    RequestTracker,
    UserId,
    event_name,
    path_set,
)

__all__ = ["AmplitudeMiddleware", "scope_user_id"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def scope_user_id(scope: Scope) -> str | None:
    """The default ``user_id``: the authenticated ``scope["user"]``, if any.

    Starlette's ``AuthenticationMiddleware`` puts the user there; its ``identity`` is used, or
    its ``display_name`` when ``identity`` is not implemented (``SimpleUser``).

    Args:
        scope: the ASGI connection scope.

    Returns:
        The user's id, or ``None`` for an anonymous request.
    """
    user = scope.get("user")
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    try:
        identity = user.identity
    except NotImplementedError:
        identity = getattr(user, "display_name", None)
    return None if identity is None else str(identity)


def _header(scope: Scope, name: bytes | None) -> str | None:
    if name is None:
        return None
    for key, value in scope.get("headers") or ():
        if key == name:
            return value.decode("latin-1")  # type: ignore[no-any-return]
    return None


class AmplitudeMiddleware:
    """The ASGI middleware: request context and, optionally, a request event per request.

    Args:
        app: the ASGI app it wraps (Starlette's ``add_middleware`` passes it).
        api_key: build a client with ``Amplitude.create_instance(api_key, options)`` (once
            per process; independent of ``Amplitude.init``'s default instance).
        options: options of that client.
        client: a ready client (or a function returning one, called once per process)
            instead of ``api_key``/``options``.
        request_event: the name of an event logged for each HTTP request (``method``,
            ``path``, ``route``, ``status``, ``duration_ms``), or ``None`` for none.
        skip_paths: paths passed straight through (health checks).
        request_id_header: the header whose value becomes ``request_id``.
        device_id_header: the header the request event's ``device_id`` is read from.
        user_id: ``user_id(scope)``, the request event's ``user_id`` (``scope_user_id``).
        flush_on_shutdown: at the lifespan shutdown, wait (without blocking the loop) until
            the events are sent, for at most ``shutdown_timeout`` seconds.
        shutdown_timeout: that bound, in seconds.

    Raises:
        ValueError: neither or both of ``api_key`` and ``client``, or a bad setting.

    Counters: ``errors`` (failures caught) and ``anonymous`` (request events not logged for
    want of an id).
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        api_key: str | None = None,
        options: OptionsArg = None,
        client: ClientSource | None = None,
        request_event: str | None = None,
        skip_paths: Iterable[str] = DEFAULT_SKIP_PATHS,
        request_id_header: str | None = DEFAULT_REQUEST_ID_HEADER,
        device_id_header: str | None = DEFAULT_DEVICE_ID_HEADER,
        user_id: UserId | None = None,
        flush_on_shutdown: bool = True,
        shutdown_timeout: float = 5.0,
    ) -> None:
        if user_id is not None and not callable(user_id):
            raise ValueError(f"user_id must be a callable, got {type(user_id).__name__}")
        self.app = app
        self.tracker = RequestTracker(
            "ASGI",
            ProcessClient.of(client, api_key, options, "AmplitudeMiddleware"),
            request_event=event_name(request_event, "request_event"),
            skip_paths=path_set(skip_paths, "skip_paths"),
            user_id=user_id or scope_user_id,
        )
        self._request_id = (
            request_id_header.lower().encode("latin-1") if request_id_header else None
        )
        self._device_id = device_id_header.lower().encode("latin-1") if device_id_header else None
        self.flush_on_shutdown = flush_on_shutdown
        self.shutdown_timeout = shutdown_timeout
        self.tracker.clients.get()  # build the client when the app is built

    @property
    def errors(self) -> int:
        """Failures caught (logged, never raised into a request) by this middleware."""
        return self.tracker.errors

    @property
    def anonymous(self) -> int:
        """Request events not logged because the request had no user id and no device id."""
        return self.tracker.anonymous

    @property
    def client(self) -> NodeClient:
        """This process's client."""
        return self.tracker.clients.get()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "lifespan":
            await self.app(scope, receive, self._lifespan_send(send))
            return
        tracker = self.tracker
        path = scope.get("path", "")
        if kind not in ("http", "websocket") or path in tracker.skip_paths:
            await self.app(scope, receive, send)
            return
        values: Dict[str, Any] = {"method": scope.get("method", "GET"), "path": path}
        request_id = _header(scope, self._request_id)
        if request_id:
            values["request_id"] = request_id
        context = tracker.enter(values)
        try:
            if tracker.request_event is None or kind != "http":
                await self.app(scope, receive, send)
                return
            await self._track(scope, receive, send, values)
        finally:
            tracker.leave(context)

    async def _track(
        self, scope: Scope, receive: Receive, send: Send, values: Dict[str, Any]
    ) -> None:
        """Serve the request, then log the request event with its status."""
        status = 500  # what the server answers when the app raises before it starts a response
        started = time.perf_counter()

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            self._log(scope, values, status, started)

    def _log(self, scope: Scope, values: Dict[str, Any], status: int, started: float) -> None:
        tracker = self.tracker
        try:
            route = getattr(scope.get("route"), "path", None)  # set by the router
            device_id = _header(scope, self._device_id)
        except Exception:
            tracker.failed("describe the request")
            return
        tracker.log_request(
            values,
            status,
            started,
            route=route if isinstance(route, str) else None,
            user_id=tracker.find_user_id(scope),
            device_id=device_id,
        )

    def _lifespan_send(self, send: Send) -> Send:
        """``send`` for the lifespan scope: flush before the server hears shutdown is done."""

        async def lifespan_send(message: Message) -> None:
            if message["type"] == "lifespan.shutdown.complete" and self.flush_on_shutdown:
                await self._flush()
            await send(message)

        return lifespan_send

    async def _flush(self) -> None:
        if not self.tracker.clients.built:
            return
        try:
            await self.tracker.clients.get().flush_async(self.shutdown_timeout)
        except Exception:
            self.tracker.failed("flush at shutdown")
