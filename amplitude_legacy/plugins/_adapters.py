"""Adapters both ways between legacy middleware and plugins, and event conversion.

* ``MiddlewarePlugin(middleware)``: a legacy ``(payload, next)`` middleware as an enrichment
  plugin, for our client *and* for the official ``amplitude.Amplitude`` (its ``EventPlugin``
  interface: ``plugin_type``, ``setup(client)``, ``execute(BaseEvent)``).
* ``PluginMiddleware(plugin)``: a plugin as a legacy middleware (``addEventMiddleware``).
* ``to_official_event`` / ``from_official_event``: our ``Event`` dict ↔ the official ``BaseEvent``.

The official package (``amplitude-analytics``) is optional: nothing here imports it at module
level.
"""

from __future__ import annotations

import copy
import inspect
import itertools
import logging
import threading
from types import ModuleType
from typing import Any, Callable, Dict, Mapping, Set

from amplitude_legacy._event import Event
from amplitude_legacy._middleware import (
    Middleware,
    MiddlewareNext,
    MiddlewarePayload,
    run_middleware,
)
from amplitude_legacy.plugins._types import PluginType

__all__ = [
    "INSTALL_HINT",
    "MiddlewarePlugin",
    "PluginMiddleware",
    "apply_event_changes",
    "from_official_event",
    "load_official",
    "to_official_event",
]

log = logging.getLogger("amplitude_legacy")

#: What to run when the official SDK is missing (the text of the ``ImportError``).
INSTALL_HINT = "pip install amplitude_legacy[official]"
"""What to install for the official-SDK shim."""

#: Our wire names that the official ``BaseEvent`` spells differently (its attribute names).
_TO_OFFICIAL_KEYS: Mapping[str, str] = {"productId": "product_id", "revenueType": "revenue_type"}
#: Official attributes that must be ``float`` / ``int`` (it refuses ``3`` for a price).
_FLOAT_FIELDS = frozenset(("price", "revenue", "location_lat", "location_lng"))
_INT_FIELDS = frozenset(("time", "quantity", "event_id", "session_id"))
_warned_keys: Set[str] = set()
_warned_lock = threading.Lock()
_names = itertools.count(1)


def load_official() -> ModuleType:
    """Import the official SDK (``amplitude-analytics``), or explain how to install it.

    Returns:
        The ``amplitude`` module.

    Raises:
        ImportError: the package is not installed; the message is ``INSTALL_HINT``.

    Examples:
        >>> load_official().Amplitude  # doctest: +ELLIPSIS
        <class 'amplitude.client.Amplitude'>
    """
    try:
        import amplitude  # type: ignore[import-untyped]
        import amplitude.plugin  # type: ignore[import-untyped]
        import amplitude.storage  # type: ignore[import-untyped]
    except ImportError as exc:
        raise ImportError(
            f"the official Amplitude SDK (amplitude-analytics) is required: {INSTALL_HINT}"
        ) from exc
    return amplitude  # type: ignore[no-any-return]


def _warn_once(key: str) -> None:
    with _warned_lock:
        if key in _warned_keys:
            return
        _warned_keys.add(key)
    log.warning(
        "amplitude_legacy: the event field %r has no equivalent in amplitude-analytics; "
        "it is not sent",
        key,
    )


def _official_value(official: ModuleType, key: str, value: Any) -> Any:
    """Convert one of our wire values to what the official event attribute expects."""
    if value is None:
        return None
    if key == "plan" and isinstance(value, Mapping):
        return official.Plan(
            branch=value.get("branch"),
            source=value.get("source"),
            version=value.get("version"),
            version_id=value.get("versionId", value.get("version_id")),
        )
    if key == "ingestion_metadata" and isinstance(value, Mapping):
        return official.IngestionMetadata(
            source_name=value.get("source_name", value.get("sourceName")),
            source_version=value.get("source_version", value.get("sourceVersion")),
        )
    if key in _FLOAT_FIELDS and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if key in _INT_FIELDS and isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _event_class(official: ModuleType, event_type: Any) -> Any:
    if event_type == "$identify":
        return official.IdentifyEvent
    if event_type == "$groupidentify":
        return official.GroupIdentifyEvent
    if event_type == "revenue_amount":
        return official.RevenueEvent
    return None


def _set_field(official: ModuleType, target: Any, key: str, value: Any) -> None:
    name = _TO_OFFICIAL_KEYS.get(key, key)
    if name not in official.event.EVENT_KEY_MAPPING:
        if value is not None:
            _warn_once(key)
        return
    # Item assignment is the official SDK's validated path: a wrong type is logged and refused.
    target[name] = _official_value(official, name, value)


def to_official_event(event: Mapping[str, Any], official: ModuleType | None = None) -> Any:
    """Build an official ``BaseEvent`` from one of our events (wire field names).

    ``$identify``, ``$groupidentify`` and ``revenue_amount`` become ``IdentifyEvent``,
    ``GroupIdentifyEvent`` and ``RevenueEvent``. ``productId``/``revenueType`` map to
    ``product_id``/``revenue_type``; ``plan`` and ``ingestion_metadata`` dicts become
    ``Plan``/``IngestionMetadata``; an ``int`` price becomes ``float``. Fields the official SDK
    does not know (``uuid``, ``android_app_set_id``, ...) are dropped with a one-time warning.

    Args:
        event: our event dict (not changed).
        official: the ``amplitude`` module (imported when omitted).

    Returns:
        A new ``amplitude.BaseEvent`` (or subclass).

    Examples:
        >>> e = to_official_event({"event_type": "Buy", "user_id": "user-1", "productId": "p"})
        >>> e.product_id, e.get_event_body()["productId"]
        ('p', 'p')
    """
    official = official or load_official()
    event_type = event.get("event_type")
    cls = _event_class(official, event_type)
    target = cls() if cls is not None else official.BaseEvent(event_type=event_type)
    target["event_type"] = event_type
    for key, value in event.items():
        if key != "event_type":
            _set_field(official, target, key, value)
    return target


def from_official_event(event: Any) -> Event:
    """Our ``Event`` (wire field names, plain data) from an official ``BaseEvent``.

    Args:
        event: an ``amplitude.BaseEvent`` (or anything with ``get_event_body()``).

    Returns:
        A new ``Event``, deep-copied: changing it never changes ``event``.

    Examples:
        >>> from amplitude import BaseEvent
        >>> from_official_event(BaseEvent("Buy", user_id="user-1", product_id="p"))["productId"]
        'p'
    """
    return Event(copy.deepcopy(event.get_event_body()))


def apply_event_changes(
    target: Any, before: Mapping[str, Any], after: Mapping[str, Any], official: ModuleType
) -> None:
    """Write the fields that differ between ``before`` and ``after`` onto an official event.

    Args:
        target: the official ``BaseEvent`` to update.
        before: its body (``from_official_event``) before the change.
        after: the changed body; a key missing here is cleared on ``target``.
        official: the ``amplitude`` module.
    """
    for key in {**before, **after}:
        new = after.get(key)
        if key in before and before[key] == new:
            continue
        _set_field(official, target, key, new)


def _plugin_name(obj: Any) -> str:
    base = getattr(obj, "__qualname__", None) or type(obj).__qualname__
    return f"middleware:{base}#{next(_names)}"


class MiddlewarePlugin:
    """A legacy ``(payload, next)`` middleware as an enrichment plugin, for both SDKs.

    On our client (``client.add(MiddlewarePlugin(mw))``) the middleware sees our ``Event`` and the
    ``extra`` of ``logEvent``. On the official SDK (``amplitude.Amplitude().add(...)``) it sees the
    official ``BaseEvent`` converted to our ``Event`` (wire names, ``productId``), and ``extra`` is
    the event's ``extra`` attribute when you set one (never sent). Changes are written back
    through the official SDK's validated setters.

    Not calling ``next`` drops the event (``execute`` returns ``None``). A middleware that raises
    is logged and counted in ``errors`` and the event continues unchanged: the plugin API never
    stalls. ``next`` must be called before the middleware returns (a late call has no effect).

    Args:
        middleware: the legacy middleware.
        name: the plugin's name (default: the middleware's name plus a unique number).

    Raises:
        TypeError: ``middleware`` is not callable.

    Examples:
        >>> import amplitude
        >>> def add_env(payload, next):
        ...     payload.event.event_properties = {"env": "prod"}
        ...     next(payload)
        >>> official_client = amplitude.Amplitude("API_KEY")
        >>> official_client.add(MiddlewarePlugin(add_env))  # doctest: +ELLIPSIS
        <amplitude.client.Amplitude object at ...>
    """

    type = PluginType.ENRICHMENT

    def __init__(self, middleware: Middleware, name: str | None = None) -> None:
        if not callable(middleware):
            raise TypeError(f"middleware must be callable, got {type(middleware).__name__}")
        self.middleware = middleware
        self.name = name or _plugin_name(middleware)
        self.errors = 0
        self.client: Any = None
        self._official: ModuleType | None = None

    @property
    def plugin_type(self) -> Any:
        """The official SDK's ``PluginType.ENRICHMENT`` (what its ``Timeline`` reads)."""
        if self._official is None:
            self._official = load_official()
        return self._official.PluginType.ENRICHMENT

    def setup(self, config_or_client: Any = None, client: Any = None) -> None:
        """Keep the client: ``setup(config, client)`` (ours) or ``setup(client)`` (official).

        Args:
            config_or_client: our client's options, or the official client.
            client: our client (absent on the official SDK).
        """
        self.client = client if client is not None else config_or_client

    def _failed(self) -> None:
        self.errors += 1
        log.exception(
            "amplitude_legacy: middleware plugin %r raised; the event continues unchanged",
            self.name,
        )

    def run(self, event: Event, extra: Dict[str, Any] | None = None) -> Event | None:
        """Run the middleware on one of our events, with the plugin error policy.

        Args:
            event: the event (changed in place by the middleware, as in the legacy SDK).
            extra: the ``payload.extra`` the middleware sees.

        Returns:
            The event ``next`` received, ``None`` when ``next`` was not called, or ``event``
            itself when the middleware raised.
        """
        try:
            return run_middleware((self.middleware,), event, extra)
        except Exception:
            self._failed()
            return event

    def execute(self, event: Any) -> Any:
        """Run the middleware on an event of either SDK.

        Args:
            event: our ``Event`` (or any mapping), or an official ``BaseEvent``.

        Returns:
            The (changed) event of the same kind, or ``None`` to drop it.
        """
        if isinstance(event, Mapping):
            return self.run(event if type(event) is Event else Event(event))
        if self._official is None:
            self._official = load_official()
        official = self._official
        before = event.get_event_body()
        work = Event(copy.deepcopy(before))
        try:
            out = run_middleware((self.middleware,), work, getattr(event, "extra", None))
        except Exception:
            self._failed()
            return event
        if out is None:
            return None
        apply_event_changes(event, before, out, official)
        return event

    def __repr__(self) -> str:
        return f"<MiddlewarePlugin name={self.name!r}>"


class _GuardedNext:
    """The ``next`` given to a wrapped middleware: records the call and downstream errors."""

    __slots__ = ("called", "downstream", "next")

    def __init__(self, next: MiddlewareNext) -> None:
        self.next = next
        self.called = False
        self.downstream: BaseException | None = None

    def __call__(self, payload: MiddlewarePayload) -> None:
        if self.called:
            return
        self.called = True
        try:
            self.next(payload)
        except BaseException as exc:  # raised further down the chain: not ours to swallow
            self.downstream = exc
            raise


OnError = Callable[[Any, str], None]


class PluginMiddleware:
    """A plugin as a legacy ``(payload, next)`` middleware (what ``client.add`` uses).

    ``plugin.execute(payload.event)`` runs; a returned event is passed on, ``None`` stops the
    event (its future resolves ``skipped``). If ``execute`` raises (or returns something that is
    not a mapping), the error is logged and counted and the event continues as the plugin got it
    (changes it made in place before raising stay). A plugin
    without ``execute`` passes events through. Exceptions raised further down the chain are not
    caught here. A ``MiddlewarePlugin`` is unwrapped, so its middleware still sees ``extra``.

    Args:
        plugin: the plugin (see ``Plugin``).
        on_error: called as ``on_error(plugin, "execute")`` inside the ``except`` block instead
            of the default logging and ``errors`` count (``client.add`` passes the client's
            counter).

    Examples:
        >>> client.addEventMiddleware(PluginMiddleware(AddEnv()))  # doctest: +ELLIPSIS
        <...>
    """

    __slots__ = ("_on_error", "errors", "name", "plugin")

    def __init__(self, plugin: Any, on_error: OnError | None = None) -> None:
        self.plugin = plugin
        self.name: str = getattr(plugin, "name", None) or type(plugin).__name__
        self._on_error = on_error
        self.errors = 0

    def _failed(self) -> None:
        if self._on_error is not None:
            self._on_error(self.plugin, "execute")
            return
        self.errors += 1
        log.exception("amplitude_legacy: plugin %r raised in execute (skipped)", self.name)

    def __call__(self, payload: MiddlewarePayload, next: MiddlewareNext) -> None:
        plugin = self.plugin
        if isinstance(plugin, MiddlewarePlugin):
            self._call_middleware(plugin.middleware, payload, next)
            return
        execute = getattr(plugin, "execute", None)
        if execute is None:
            next(payload)
            return
        original = payload.event
        try:
            out = execute(original)
            if out is not None and not isinstance(out, Mapping):
                if inspect.isawaitable(out):
                    close = getattr(out, "close", None)
                    if close is not None:
                        close()
                    raise TypeError("execute returned an awaitable: plugins must be synchronous")
                raise TypeError(f"execute returned {type(out).__name__}, not an event")
        except Exception:
            self._failed()
            payload.event = original
            next(payload)
            return
        if out is None:
            return
        payload.event = out if type(out) is Event else Event(out)
        next(payload)

    def _call_middleware(
        self, middleware: Middleware, payload: MiddlewarePayload, next: MiddlewareNext
    ) -> None:
        guard = _GuardedNext(next)
        try:
            middleware(payload, guard)
        except Exception as exc:
            if exc is guard.downstream:
                raise
            self._failed()
            if not guard.called:
                guard(payload)

    def __repr__(self) -> str:
        return f"<PluginMiddleware {self.name!r}>"
