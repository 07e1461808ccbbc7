"""Django: a middleware that gives every request its Amplitude context, from settings.

Add the middleware after Django's own (after ``AuthenticationMiddleware`` when the request
event should carry the user) and configure it in ``settings.AMPLITUDE``::

    MIDDLEWARE = [
        ...,
        "django.contrib.auth.middleware.AuthenticationMiddleware",
        "amplitude_legacy.integrations.django.AmplitudeMiddleware",
    ]
    AMPLITUDE = {
        "API_KEY": os.environ["AMPLITUDE_API_KEY"],
        "OPTIONS": {"minIdLength": 1},
        "REQUEST_EVENT": "Request Handled",     # False (default): no request event
    }

Every ``logEvent``/``identify`` made while a request is served gets ``method``, ``path`` and
``request_id`` (from the ``X-Request-Id`` header, when there is one) in ``extra``. The client
is built once per process (again after a fork); ``get_client()`` returns it. Nothing the
integration does can raise into a request: failures are logged and counted
(``errors()``). Needs ``pip install "amplitude_legacy[django]"``.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Awaitable, Callable, Dict, Mapping, Tuple, Union

from amplitude_legacy._client import NodeClient
from amplitude_legacy.integrations._common import (
    DEFAULT_DEVICE_ID_HEADER,
    DEFAULT_REQUEST_ID_HEADER,
    DEFAULT_SKIP_PATHS,
    ProcessClient,
    RequestTracker,
    event_name,
    header_key,
    missing_framework,
    path_set,
)

try:
    from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
    from django.conf import settings  # type: ignore[import-untyped]
    from django.core.exceptions import ImproperlyConfigured  # type: ignore[import-untyped]
    from django.utils.module_loading import import_string  # type: ignore[import-untyped]
except ImportError as exc:  # pragma: no cover - exercised in a subprocess without Django
    raise missing_framework("django", "Django", "django") from exc

__all__ = [
    "SETTINGS_KEYS",
    "AmplitudeMiddleware",
    "anonymous",
    "django_user_id",
    "errors",
    "get_client",
]

#: The keys ``settings.AMPLITUDE`` accepts, with their defaults.
SETTINGS_KEYS: Mapping[str, Any] = {
    "API_KEY": None,
    "OPTIONS": None,
    "CLIENT": None,  # a NodeClient, a function returning one, or the dotted path of either
    "REQUEST_EVENT": False,
    "SKIP_PATHS": DEFAULT_SKIP_PATHS,
    "REQUEST_ID_HEADER": DEFAULT_REQUEST_ID_HEADER,
    "DEVICE_ID_HEADER": DEFAULT_DEVICE_ID_HEADER,
    "USER_ID": None,
}

Response = Any  # django.http.HttpResponse (Django ships no type hints)
GetResponse = Callable[[Any], Union[Response, Awaitable[Response]]]


def django_user_id(request: Any) -> str | None:
    """The default ``USER_ID``: the primary key of ``request.user`` when authenticated.

    Args:
        request: the ``HttpRequest``; ``request.user`` is set by Django's
            ``AuthenticationMiddleware`` (no user id without it).

    Returns:
        ``str(request.user.pk)``, or ``None`` for an anonymous request.
    """
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return None
    return str(user.pk)


class _Settings:
    """``settings.AMPLITUDE`` checked once; what the middleware and ``get_client`` need."""

    def __init__(self, raw: object) -> None:
        if not isinstance(raw, Mapping):
            raise ImproperlyConfigured(
                "settings.AMPLITUDE must be a dict with at least 'API_KEY' (see "
                "amplitude_legacy.integrations.django), got "
                f"{'nothing' if raw is None else type(raw).__name__}"
            )
        unknown = sorted(set(raw) - set(SETTINGS_KEYS))
        if unknown:
            raise ImproperlyConfigured(
                f"settings.AMPLITUDE: unknown key(s) {unknown}; expected some of "
                f"{sorted(SETTINGS_KEYS)}"
            )
        get: Callable[[str], Any] = lambda key: raw.get(key, SETTINGS_KEYS[key])  # noqa: E731
        try:
            client = get("CLIENT")
            if isinstance(client, str):
                client = import_string(client)
            self.clients = ProcessClient.of(
                client, get("API_KEY"), get("OPTIONS"), "settings.AMPLITUDE"
            )
            self.request_event = event_name(get("REQUEST_EVENT"), "REQUEST_EVENT")
            self.skip_paths = path_set(get("SKIP_PATHS"), "SKIP_PATHS")
            self.request_id_key = header_key(get("REQUEST_ID_HEADER"))
            self.device_id_key = header_key(get("DEVICE_ID_HEADER"))
            user_id = get("USER_ID")
            if isinstance(user_id, str):
                user_id = import_string(user_id)
            if user_id is not None and not callable(user_id):
                raise ValueError(f"USER_ID must be a callable, got {type(user_id).__name__}")
            self.clients.get()  # bad OPTIONS fail here, at start-up
        except (ValueError, ImportError) as exc:
            raise ImproperlyConfigured(f"settings.AMPLITUDE: {exc}") from exc
        self.custom_user_id = user_id is not None
        # One tracker per process and settings: every middleware instance shares its counters.
        self.tracker = RequestTracker(
            "Django",
            self.clients,
            request_event=self.request_event,
            skip_paths=self.skip_paths,
            user_id=user_id or django_user_id,
        )


_current: Tuple[object, _Settings] | None = None
_current_lock = threading.Lock()


def _settings() -> _Settings:
    """The checked ``settings.AMPLITUDE``, rebuilt when the setting object changes (tests)."""
    global _current
    raw = getattr(settings, "AMPLITUDE", None)
    current = _current
    if current is not None and current[0] is raw:
        return current[1]
    with _current_lock:
        if _current is None or _current[0] is not raw:
            _current = (raw, _Settings(raw))
        return _current[1]


def get_client() -> NodeClient:
    """The client that ``settings.AMPLITUDE`` configures, for this process.

    Built on first use, once per process (a forked worker builds its own), from ``API_KEY``
    and ``OPTIONS``, or from ``CLIENT``. It is independent of ``Amplitude.init``'s default
    instance.

    Returns:
        The process's ``NodeClient``.

    Raises:
        ImproperlyConfigured: ``settings.AMPLITUDE`` is missing or invalid.

    Examples:
        >>> from amplitude_legacy.integrations.django import get_client
        >>> get_client().logEvent({"event_type": "Signed Up", "user_id": "user-123"})
    """
    return _settings().clients.get()


def errors() -> int:
    """Failures the middleware caught in this process (logged, never raised into a request).

    Examples:
        >>> from amplitude_legacy.integrations import django as amplitude_django
        >>> amplitude_django.errors()
        0
    """
    return _settings().tracker.errors


def anonymous() -> int:
    """Request events not logged in this process: the request had no user id and no device id.

    Examples:
        >>> amplitude_django.anonymous()
        0
    """
    return _settings().tracker.anonymous


class AmplitudeMiddleware:
    """The Django middleware: request context and, optionally, a request event.

    Sync and async capable: under ASGI with async views it runs without a thread switch.
    Requests to ``SKIP_PATHS`` (health checks) pass straight through. Settings are read when
    Django loads the middleware; the client is built then (once per process).

    Args:
        get_response: the next layer, as Django passes it.

    Raises:
        ImproperlyConfigured: ``settings.AMPLITUDE`` is missing or invalid (at load time).

    The counters of caught failures and of anonymous requests are per process: ``errors()``
    and ``anonymous()``.
    """

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: GetResponse) -> None:
        self.get_response = get_response
        self.async_mode = iscoroutinefunction(get_response)
        if self.async_mode:
            markcoroutinefunction(self)
        config = _settings()
        self.tracker = config.tracker
        self._config = config
        self._skip = config.skip_paths
        self._request_id_key = config.request_id_key
        self._device_id_key = config.device_id_key

    def _values(self, request: Any) -> Dict[str, Any]:
        values = {"method": request.method, "path": request.path}
        if self._request_id_key is not None:
            request_id = request.META.get(self._request_id_key)
            if request_id:
                values["request_id"] = request_id
        return values

    def __call__(self, request: Any) -> Any:
        if self.async_mode:
            return self._acall(request)
        if request.path_info in self._skip:
            return self.get_response(request)
        tracker = self.tracker
        values = self._values(request)
        context = tracker.enter(values)
        try:
            if tracker.request_event is None:
                return self.get_response(request)
            started = time.perf_counter()
            response = self.get_response(request)
            self._log(request, values, response, started, tracker.find_user_id(request))
            return response
        finally:
            tracker.leave(context)

    async def _acall(self, request: Any) -> Any:
        if request.path_info in self._skip:
            return await self.get_response(request)
        tracker = self.tracker
        values = self._values(request)
        context = tracker.enter(values)
        try:
            if tracker.request_event is None:
                return await self.get_response(request)
            started = time.perf_counter()
            response = await self.get_response(request)
            self._log(request, values, response, started, await self._auser_id(request))
            return response
        finally:
            tracker.leave(context)

    async def _auser_id(self, request: Any) -> str | None:
        """The user id without touching the database on the event loop."""
        auser = getattr(request, "auser", None)  # Django >= 5.0 AuthenticationMiddleware
        if auser is not None and not self._config.custom_user_id:
            try:
                user = await auser()
            except Exception:
                self.tracker.failed("read the user id")
                return None
            return str(user.pk) if user.is_authenticated else None
        find: Callable[[Any], str | None] = self.tracker.find_user_id
        return await sync_to_async(find)(request)

    def _log(
        self,
        request: Any,
        values: Dict[str, Any],
        response: Any,
        started: float,
        user_id: str | None,
    ) -> None:
        try:
            status = response.status_code
            pattern = getattr(getattr(request, "resolver_match", None), "route", None)
            route = "/" + pattern.lstrip("/") if pattern else None
            device_id = request.META.get(self._device_id_key) if self._device_id_key else None
        except Exception:
            self.tracker.failed("describe the request")
            return
        self.tracker.log_request(
            values, status, started, route=route, user_id=user_id, device_id=device_id
        )
