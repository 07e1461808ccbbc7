"""What the framework integrations share: the per-process client, guarded calls, request events.

Nothing here imports a web framework. Each integration module turns its framework's request
(or task) into plain values and hands them to a ``RequestTracker`` (Celery uses its base,
``Guard``, directly).
"""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from contextvars import Token
from typing import Any, Callable, Dict, Iterable, Optional, Union

import amplitude_legacy as Amplitude
from amplitude_legacy._client import NodeClient, OptionsArg
from amplitude_legacy._context import enter_values, leave_values
from amplitude_legacy._stats import FlushResult

__all__ = [
    "DEFAULT_DEVICE_ID_HEADER",
    "DEFAULT_REQUEST_ID_HEADER",
    "DEFAULT_SKIP_PATHS",
    "Guard",
    "ProcessClient",
    "RequestTracker",
    "missing_framework",
]

log = logging.getLogger("amplitude_legacy")

#: Paths the web integrations leave alone by default (the Kubernetes probe conventions).
DEFAULT_SKIP_PATHS = ("/healthz", "/livez", "/readyz")
#: The header a reverse proxy or load balancer puts the request id in.
DEFAULT_REQUEST_ID_HEADER = "X-Request-Id"
#: The header a front end sends the Amplitude device id in (anonymous visitors).
DEFAULT_DEVICE_ID_HEADER = "X-Amplitude-Device-Id"


def missing_framework(module: str, framework: str, extra: str) -> ImportError:
    """The ``ImportError`` an integration raises when its framework is not installed.

    Args:
        module: the integration module (``"django"``).
        framework: the framework's name as users know it (``"Django"``).
        extra: the ``amplitude_legacy`` extra that installs it.

    Returns:
        An ``ImportError`` whose message says what to install.
    """
    return ImportError(
        f"amplitude_legacy.integrations.{module} needs {framework}, which is not installed: "
        f'pip install "amplitude_legacy[{extra}]"'
    )


class Guard:
    """Counts and logs the failures of an integration; never lets them reach the host.

    A failure is logged on the ``amplitude_legacy`` logger with its traceback the 1st, 2nd,
    4th, 8th... time (so a failure on every request cannot flood the logs) and always counted.

    Attributes:
        name: the integration's name, used in log messages.
        errors: how many failures were caught so far.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self.errors = 0

    def failed(self, what: str) -> None:
        """Count the exception being handled and log it (call it from an ``except`` block)."""
        self.errors += 1
        count = self.errors
        if count & (count - 1) == 0:  # 1, 2, 4, 8, ...: a steady failure stays visible, quietly
            log.warning(
                "amplitude_legacy: the %s integration failed to %s (%d failure(s) so far; "
                "the request or task goes on)",
                self.name,
                what,
                count,
                exc_info=True,
            )

    def enter(self, values: Dict[str, Any]) -> Token[Any] | None:
        """Enter the request context; ``None`` (counted) if that failed."""
        try:
            return enter_values(values)
        except Exception:
            self.failed("enter the request context")
            return None

    def leave(self, token: Token[Any] | None) -> None:
        """Leave a context entered by ``enter``."""
        if token is None:
            return
        try:
            leave_values(token)
        except Exception:
            self.failed("leave the request context")


ClientSource = Union[NodeClient, Callable[[], NodeClient]]
"""A ready client, or a function that makes one (called once per process)."""

_holders: weakref.WeakSet[ProcessClient] = weakref.WeakSet()


def _reset_locks_in_child() -> None:
    # A lock another thread held at fork time would stay locked forever in the child.
    for holder in list(_holders):
        holder._lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_locks_in_child)


class ProcessClient:
    """The client of the current process: built on first use, and again in a forked child.

    ``NodeClient`` itself survives ``fork()`` (fresh worker and pool in the child), but a
    prefork server wants one client of its own per worker process, built after the fork, with
    its own ``atexit`` and signal handling. With a ready client (``client=``) there is nothing to
    build: the same object is returned in every process.

    Args:
        build: makes the client; called at most once per process.
    """

    def __init__(self, build: Callable[[], NodeClient]) -> None:
        self._build = build
        self._client: NodeClient | None = None
        self._pid = 0
        self._lock = threading.Lock()
        _holders.add(self)

    @classmethod
    def of(
        cls, client: ClientSource | None, api_key: str | None, options: OptionsArg, where: str
    ) -> ProcessClient:
        """A holder for ``client``, or one that builds ``create_instance(api_key, options)``.

        Args:
            client: a ready client (used as is in every process), or a function that makes
                one (called once per process).
            api_key: the API key to build a client with when ``client`` is ``None``.
            options: the options of that client (camelCase dict, ``Options`` or ``None``).
            where: how the user passes these (named in the error).

        Raises:
            ValueError: neither or both of ``client`` and ``api_key`` were given, or a value
                of the wrong type.
        """
        if (client is None) == (api_key is None):
            raise ValueError(f"{where}: give either an API key or a client (exactly one)")
        if client is not None:
            if options is not None:
                raise ValueError(f"{where}: options go with an API key, not with a client")
            if isinstance(client, NodeClient):
                ready = client
                return cls(lambda: ready)
            if not callable(client):
                raise ValueError(
                    f"{where}: the client must be a NodeClient or a function returning one, "
                    f"got {type(client).__name__}"
                )
            return cls(client)
        key = api_key
        if not isinstance(key, str):
            raise ValueError(f"{where}: the API key must be a string, got {type(key).__name__}")
        # An independent client: several integrations (or apps) in one process never replace
        # each other's client, nor the one the application made with ``Amplitude.init``.
        return cls(lambda: Amplitude.create_instance(key, options))

    @property
    def built(self) -> bool:
        """Whether this process has its client already."""
        return self._client is not None and self._pid == os.getpid()

    def get(self) -> NodeClient:
        """This process's client, built now if this process has none yet."""
        client = self._client
        if client is not None and self._pid == os.getpid():
            return client
        with self._lock:
            pid = os.getpid()
            if self._client is None or self._pid != pid:
                self._client = self._build()
                self._pid = pid
            return self._client

    def close(self, timeout: float | None) -> FlushResult | None:
        """Shut this process's client down (flush within ``timeout``); ``None`` if it has none.

        The next ``get()`` builds a new one.
        """
        with self._lock:
            client, mine = self._client, self._pid == os.getpid()
            self._client = None
        if client is None or not mine:
            return None
        return client.shutdown(timeout)


def header_key(name: str | None) -> str | None:
    """The WSGI ``environ`` key of an HTTP header (``X-Request-Id`` -> ``HTTP_X_REQUEST_ID``)."""
    return None if not name else "HTTP_" + name.upper().replace("-", "_")


def path_set(paths: Iterable[str] | None, where: str) -> frozenset[str]:
    """Check a list of skip paths: strings that start with ``/``."""
    if paths is None:
        return frozenset()
    if isinstance(paths, str):
        raise ValueError(f"{where}: expected a list of paths, got the string {paths!r}")
    out = frozenset(paths)
    for path in out:
        if not isinstance(path, str) or not path.startswith("/"):
            raise ValueError(f"{where}: each path must be a string starting with '/', got {path!r}")
    return out


def event_name(value: object, where: str) -> str | None:
    """Check a request-event setting: ``False``/``None`` (off) or a non-empty event name."""
    if value is None or value is False:
        return None
    if not isinstance(value, str) or not value:
        raise ValueError(f"{where}: expected False or an event name, got {value!r}")
    return value


UserId = Callable[[Any], Optional[str]]


class RequestTracker(Guard):
    """The framework-free half of the web integrations.

    Per request: the request context (``Amplitude.context``), and optionally one request
    event logged when the response is ready. Every step is guarded.

    Args:
        name: the integration's name (for log messages).
        clients: where the client comes from.
        request_event: the request event's name, or ``None`` for no request event.
        skip_paths: paths left alone: no context, no request event (health checks).
        user_id: ``user_id(request)`` returns the user id of a request, or ``None``.

    Attributes:
        anonymous: request events not logged because the request had neither a user id nor
            a device id (Amplitude needs one of them).
    """

    def __init__(
        self,
        name: str,
        clients: ProcessClient,
        *,
        request_event: str | None,
        skip_paths: frozenset[str],
        user_id: UserId,
    ) -> None:
        super().__init__(name)
        self.clients = clients
        self.request_event = request_event
        self.skip_paths = skip_paths
        self.user_id = user_id
        self.anonymous = 0

    def find_user_id(self, request: Any) -> str | None:
        """``user_id(request)``, guarded: a failure counts and gives ``None``."""
        try:
            return self.user_id(request)
        except Exception:
            self.failed("read the user id")
            return None

    def log_request(
        self,
        values: Dict[str, Any],
        status: int,
        started: float,
        *,
        route: str | None,
        user_id: str | None,
        device_id: str | None,
    ) -> None:
        """Log the request event: the request's context values, its status, duration and route.

        A no-op when the request event is off; counted in ``anonymous`` when the request has
        neither a user id nor a device id.
        """
        name = self.request_event
        if name is None:
            return
        if not user_id and not device_id:
            self.anonymous += 1
            return
        properties = {
            **values,
            "status": status,
            "duration_ms": round((time.perf_counter() - started) * 1000, 3),
        }
        if route:
            properties["route"] = route
        event: Dict[str, Any] = {"event_type": name, "event_properties": properties}
        if user_id:
            event["user_id"] = user_id
        if device_id:
            event["device_id"] = device_id
        try:
            self.clients.get().logEvent(event)
        except Exception:
            self.failed("log the request event")
