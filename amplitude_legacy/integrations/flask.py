"""Flask: an extension that gives every request its Amplitude context, from ``app.config``.

::

    from amplitude_legacy.integrations.flask import FlaskAmplitude

    amplitude = FlaskAmplitude()

    def create_app():
        app = Flask(__name__)
        app.config["AMPLITUDE_API_KEY"] = os.environ["AMPLITUDE_API_KEY"]
        app.config["AMPLITUDE_REQUEST_EVENT"] = "Request Handled"
        amplitude.init_app(app)
        return app

Every ``logEvent``/``identify`` made while a request is served gets ``method``, ``path``,
``route`` and ``request_id`` (from ``X-Request-Id``, when there is one) in ``extra``. Requests
are never flushed one by one: the client sends in the background. Nothing the extension does
can raise into a request: failures are logged and counted (``FlaskAmplitude.errors``). Needs
``pip install "amplitude_legacy[flask]"``.
"""

from __future__ import annotations

import sys
import time
from typing import Any, Dict, Mapping

from amplitude_legacy._client import NodeClient
from amplitude_legacy.integrations._common import (
    DEFAULT_DEVICE_ID_HEADER,
    DEFAULT_REQUEST_ID_HEADER,
    DEFAULT_SKIP_PATHS,
    ClientSource,
    ProcessClient,
    RequestTracker,
    event_name,
    header_key,
    missing_framework,
    path_set,
)

try:
    from flask import Flask, Request, current_app, request
    from flask.wrappers import Response
except ImportError as exc:  # pragma: no cover - exercised in a subprocess without Flask
    raise missing_framework("flask", "Flask", "flask") from exc

__all__ = ["CONFIG_DEFAULTS", "EXTENSION_KEY", "FlaskAmplitude", "flask_login_user_id"]

#: The ``app.extensions`` key the per-app state is stored under.
EXTENSION_KEY = "amplitude_legacy"

#: The ``app.config`` keys the extension reads, with their defaults.
CONFIG_DEFAULTS: Mapping[str, Any] = {
    "AMPLITUDE_API_KEY": None,
    "AMPLITUDE_OPTIONS": None,
    "AMPLITUDE_REQUEST_EVENT": False,
    "AMPLITUDE_SKIP_PATHS": DEFAULT_SKIP_PATHS,
    "AMPLITUDE_REQUEST_ID_HEADER": DEFAULT_REQUEST_ID_HEADER,
    "AMPLITUDE_DEVICE_ID_HEADER": DEFAULT_DEVICE_ID_HEADER,
    "AMPLITUDE_USER_ID": None,
}

_ENVIRON_KEY = "amplitude_legacy.request"


def flask_login_user_id(request: Request) -> str | None:
    """The default ``AMPLITUDE_USER_ID``: Flask-Login's ``current_user``, when it is in use.

    Args:
        request: the current request (unused: Flask-Login reads its own context).

    Returns:
        ``current_user.get_id()`` when the app uses Flask-Login (it has a ``LoginManager``)
        and the user is authenticated, else ``None``. Flask-Login is never imported by this
        function.
    """
    flask_login = sys.modules.get("flask_login")
    if flask_login is None or getattr(current_app, "login_manager", None) is None:
        return None
    user = flask_login.current_user
    if not user or not user.is_authenticated:
        return None
    user_id = user.get_id()
    return None if user_id is None else str(user_id)


class _AppState(RequestTracker):
    """One app's settings and hooks."""

    def __init__(self, app: Flask, client: ClientSource | None) -> None:
        config = {key: app.config.get(key, default) for key, default in CONFIG_DEFAULTS.items()}
        user_id = config["AMPLITUDE_USER_ID"]
        if user_id is not None and not callable(user_id):
            raise ValueError(f"AMPLITUDE_USER_ID must be a callable, got {type(user_id).__name__}")
        clients = ProcessClient.of(
            client,
            config["AMPLITUDE_API_KEY"] if client is None else None,
            config["AMPLITUDE_OPTIONS"],
            "FlaskAmplitude: app.config['AMPLITUDE_API_KEY'] or client=",
        )
        super().__init__(
            "Flask",
            clients,
            request_event=event_name(config["AMPLITUDE_REQUEST_EVENT"], "AMPLITUDE_REQUEST_EVENT"),
            skip_paths=path_set(config["AMPLITUDE_SKIP_PATHS"], "AMPLITUDE_SKIP_PATHS"),
            user_id=user_id or flask_login_user_id,
        )
        self.request_id_key = header_key(config["AMPLITUDE_REQUEST_ID_HEADER"])
        self.device_id_key = header_key(config["AMPLITUDE_DEVICE_ID_HEADER"])
        clients.get()  # build the client with the app, not on the first request

    # Each hook resolves Flask's ``request`` proxy once and keeps its state in the WSGI
    # environ: proxy lookups are most of a hook's cost.

    def before(self) -> None:
        req = _current(request)
        path = req.path
        if path in self.skip_paths:
            return
        environ = req.environ
        values: Dict[str, Any] = {"method": req.method, "path": path}
        rule = req.url_rule
        if rule is not None:
            values["route"] = rule.rule
        if self.request_id_key is not None:
            request_id = environ.get(self.request_id_key)
            if request_id:
                values["request_id"] = request_id
        environ[_ENVIRON_KEY] = (self.enter(values), time.perf_counter(), values)

    def after(self, response: Response) -> Response:
        """Registered only when the request event is on."""
        req = _current(request)
        entered = req.environ.get(_ENVIRON_KEY)
        if entered is None:
            return response
        _context, started, values = entered
        try:
            status = response.status_code
            device_id = req.environ.get(self.device_id_key) if self.device_id_key else None
        except Exception:
            self.failed("describe the request")
            return response
        self.log_request(
            values,
            status,
            started,
            route=None,  # already in values
            user_id=self.find_user_id(req),
            device_id=device_id,
        )
        return response

    def teardown(self, _exc: BaseException | None) -> None:
        entered = _current(request).environ.pop(_ENVIRON_KEY, None)
        if entered is not None:
            self.leave(entered[0])


def _current(proxy: Any) -> Request:
    """The object behind one of Flask's context proxies (one lookup instead of one per use)."""
    return proxy._get_current_object()  # type: ignore[no-any-return]


class FlaskAmplitude:
    """The Flask extension: request context and, optionally, a request event per request.

    Configure it with ``app.config`` (``CONFIG_DEFAULTS`` lists the keys), or give it a ready
    client. One extension object may serve several apps (``init_app`` each).

    Args:
        app: the app to set up now (or call ``init_app`` later).
        client: a ready ``NodeClient`` (or a function returning one, called once per
            process) instead of building one from ``AMPLITUDE_API_KEY``/``AMPLITUDE_OPTIONS``.
            A built client is independent of ``Amplitude.init``'s default instance.

    Raises:
        ValueError: ``init_app`` found neither an API key nor a client, or a bad setting.

    Examples:
        >>> amplitude = FlaskAmplitude(app)
        >>> amplitude.client.logEvent({"event_type": "Signed Up", "user_id": "user-123"})
    """

    def __init__(self, app: Flask | None = None, *, client: ClientSource | None = None) -> None:
        self._client = client
        self._app = app
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        """Read ``app.config``, build the client (once per process) and register the hooks.

        Args:
            app: the Flask app.

        Raises:
            ValueError: no API key and no client, or a bad ``AMPLITUDE_*`` setting.
        """
        state = _AppState(app, self._client)
        app.extensions[EXTENSION_KEY] = state
        # Plain functions, not bound methods: Flask checks each hook with
        # inspect.iscoroutinefunction on every request, which unwraps a method first.
        before, after, teardown = state.before, state.after, state.teardown

        def amplitude_before_request() -> None:
            before()

        def amplitude_after_request(response: Response) -> Response:
            return after(response)

        def amplitude_teardown_request(exc: BaseException | None) -> None:
            teardown(exc)

        app.before_request(amplitude_before_request)
        if state.request_event is not None:
            app.after_request(amplitude_after_request)
        app.teardown_request(amplitude_teardown_request)

    def _state(self) -> _AppState:
        app = self._app if self._app is not None else current_app
        state: _AppState = app.extensions[EXTENSION_KEY]
        return state

    @property
    def client(self) -> NodeClient:
        """The client of the app (the current app when the extension serves several)."""
        return self._state().clients.get()

    @property
    def errors(self) -> int:
        """Failures caught (logged, never raised into a request) for the app."""
        return self._state().errors

    @property
    def anonymous(self) -> int:
        """Request events not logged because the request had no user id and no device id."""
        return self._state().anonymous
