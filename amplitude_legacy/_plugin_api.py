"""``PluginApiMixin``: the plugin API and the new-style calls on ``NodeClient``.

``NodeClient`` inherits this mixin. It adds ``add``/``remove`` (plugins of type ``before``,
``enrichment``, ``destination``), and the calls of the newer SDKs on the same engine:
``track``, ``revenue``, ``setGroup`` and the new-style ``identify``/``groupIdentify`` (dispatched
from ``NodeClient``'s own methods by argument type). Results are futures of a ``Result``
(``{event, code, message}``), chained on ``logEvent``'s future; ``logEvent`` itself is unchanged.

Where plugins run: ``before`` plugins right after annotation (``time``, ``insert_id``,
``library``); ``enrichment`` plugins are wrapped in ``PluginMiddleware`` and appended to the
legacy middleware chain, so they interleave with ``addEventMiddleware`` in registration order;
``destination`` plugins get a copy of each event right after it is queued for the built-in
Amplitude upload (the first destination). A plugin that raises is logged, counted in
``stats().plugin_errors`` and skipped: the event continues.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Dict, Mapping, Sequence, Tuple, TypeVar, Union

from amplitude_legacy._event import Event
from amplitude_legacy._identify import (
    REVENUE_EVENT_TYPE,
    Identify,
    Revenue,
    SpecialEventType,
)
from amplitude_legacy._response import Response, Status

# The plugin bridge (``amplitude_legacy.plugins``) is imported when the plugin API is first used,
# not by ``import amplitude_legacy``: most legacy code never touches it.
if TYPE_CHECKING:
    import threading
    from concurrent.futures import Future

    from amplitude_legacy._future import EventFuture
    from amplitude_legacy._middleware import Middleware
    from amplitude_legacy._options import Options
    from amplitude_legacy.plugins._types import PluginType, ResultFuture

__all__ = [
    "EMPTY_EVENT_TYPE_MESSAGE",
    "OPT_OUT_MESSAGE",
    "SUCCESS_MESSAGE",
    "EventOptionsLike",
    "PluginApiMixin",
]

log = logging.getLogger("amplitude_legacy")

#: ``Result.message`` values, as in the plugin API (``types/messages.ts``).
SUCCESS_MESSAGE = "Event tracked successfully"
OPT_OUT_MESSAGE = "Event skipped due to optOut config"
EMPTY_EVENT_TYPE_MESSAGE = "Event skipped due to empty event type"

_C = TypeVar("_C", bound="PluginApiMixin")
EventOptionsLike = Union[Mapping[str, Any], Any, None]
GroupName = Union[str, Sequence[str]]
#: Official (``amplitude-analytics``) attribute names accepted in ``event_options``.
_FROM_OFFICIAL_KEYS: Mapping[str, str] = {"product_id": "productId", "revenue_type": "revenueType"}


def _options_dict(event_options: EventOptionsLike) -> Dict[str, Any]:
    """``event_options`` as a dict of wire fields (a mapping, or an official ``EventOptions``)."""
    if event_options is None:
        return {}
    if isinstance(event_options, Mapping):
        raw: Mapping[str, Any] = event_options
    elif hasattr(event_options, "get_event_body"):
        raw = event_options.get_event_body()
    else:
        raise TypeError(
            f"event_options must be a dict of event fields, got {type(event_options).__name__}"
        )
    return {_FROM_OFFICIAL_KEYS.get(k, k): v for k, v in raw.items()}


def _message(response: Response) -> str:
    if response.status is Status.SUCCESS:
        return SUCCESS_MESSAGE
    if response.error:
        return response.error
    if response.status is Status.SKIPPED and response.reason is None:
        return OPT_OUT_MESSAGE
    return response.reason or response.status.value


def _done(event: Event, code: int, message: str, response: Response | None = None) -> ResultFuture:
    from amplitude_legacy.plugins._types import Result, ResultFuture

    future = ResultFuture()
    future.set_result(Result(event, code, message, response))
    return future


def _skipped_empty(event: Dict[str, Any], kind: str) -> ResultFuture:
    """The ``Result`` of an identify with no operation: logged and not sent (official SDK)."""
    from amplitude_legacy._identify import log_empty_identify

    message = log_empty_identify(kind)
    return _done(Event(event), 0, message, Response(Status.SKIPPED, 0, None, None, message))


class _Destination:
    """A destination plugin as the client calls it: with its own shallow copy of the event."""

    __slots__ = ("name", "plugin")

    def __init__(self, plugin: Any, name: str) -> None:
        self.plugin = plugin
        self.name = name

    def execute(self, event: Event) -> None:
        self.plugin.execute(Event(event))


def _plugin_type(plugin: Any) -> PluginType:
    from amplitude_legacy.plugins._types import PluginType

    raw = getattr(plugin, "type", None)
    if raw is None:
        return PluginType.ENRICHMENT  # the plugin API's default
    try:
        return PluginType(raw)
    except ValueError:
        raise ValueError(
            f"plugin {getattr(plugin, 'name', plugin)!r} has type {raw!r}; "
            "expected 'before', 'enrichment' or 'destination'"
        ) from None


class PluginApiMixin:
    """Plugins and the new-style API (``track``, ``revenue``, ``setGroup``, ...) on ``NodeClient``.

    Examples:
        >>> from amplitude_legacy.plugins import EnrichmentPlugin
        >>> class AddEnv(EnrichmentPlugin):
        ...     def execute(self, event):
        ...         event.event_properties = {**(event.event_properties or {}), "env": "prod"}
        ...         return event
        >>> client = amplitude_legacy.init("API_KEY", {"serverUrl": collector.http_api_url})
        >>> result = client.add(AddEnv()).track("Signed Up", None, {"user_id": "user-1"})
        >>> result.result(10).code
        200
    """

    if TYPE_CHECKING:  # provided by NodeClient
        _middleware: Tuple[Middleware, ...]
        _before: Tuple[Any, ...]
        _destinations: Tuple[Any, ...]
        _plugins: Dict[str, Any]
        _lock: threading.Lock

        def logEvent(
            self, event: Mapping[str, Any], extra: Dict[str, Any] | None = None
        ) -> EventFuture: ...

        def getOptions(self) -> Options: ...

        def _set_middleware(self, middleware: Tuple[Middleware, ...]) -> None: ...

        def _plugin_failed(self, plugin: Any, method: str) -> None: ...

        def _register_destinations(self, middleware: Any) -> None: ...

    # ------------------------------------------------------------------ plugins

    def add(self: _C, plugin: Any) -> _C:
        """Register a plugin; returns the client so calls chain.

        ``plugin.setup(config, client)`` runs first (``config`` is ``getOptions()``); if it
        raises, the error is logged and counted (``stats().plugin_errors``) and the plugin is not
        added. Then, by ``plugin.type``: ``before`` plugins run before middleware;
        ``enrichment`` plugins (the default) join the middleware chain in registration order;
        ``destination`` plugins get a copy of each event queued for upload.

        Args:
            plugin: an object with a unique ``name``, a ``type`` and ``execute(event)`` (see
                ``amplitude_legacy.plugins.Plugin``).

        Returns:
            The client.

        Raises:
            TypeError: ``name`` is not a non-empty ``str``, or a destination has no ``execute``.
            ValueError: an unknown ``type``, or a plugin with this name is already added.

        Examples:
            >>> client.add(MiddlewarePlugin(add_env)).add(Mirror())  # doctest: +ELLIPSIS
            <...>
        """
        from amplitude_legacy.plugins._adapters import PluginMiddleware
        from amplitude_legacy.plugins._types import PluginType

        name = getattr(plugin, "name", None)
        if not isinstance(name, str) or not name:
            raise TypeError(f"a plugin needs a non-empty str name, got {name!r}")
        kind = _plugin_type(plugin)
        execute = getattr(plugin, "execute", None)
        if kind is PluginType.DESTINATION and not callable(execute):
            raise TypeError(f"destination plugin {name!r} has no execute(event) method")
        if name in self._plugins:
            raise ValueError(f"a plugin named {name!r} is already added; remove it first")
        setup = getattr(plugin, "setup", None)
        if callable(setup):
            try:
                setup(self.getOptions(), self)
            except Exception:
                self._plugin_failed(plugin, "setup")
                return self
        with self._lock:  # every chain is an immutable tuple: readers never see a half change
            if name in self._plugins:
                raise ValueError(f"a plugin named {name!r} is already added; remove it first")
            self._plugins = {**self._plugins, name: plugin}
            if kind is PluginType.BEFORE:
                if callable(execute):
                    self._before = (*self._before, plugin)
            elif kind is PluginType.DESTINATION:
                self._destinations = (*self._destinations, _Destination(plugin, name))
            else:
                wrapped = PluginMiddleware(plugin, on_error=self._plugin_failed)
                # MiddlewarePlugin(route(...)): its destinations join flush/shutdown/stats
                self._register_destinations(getattr(plugin, "middleware", None))
                self._set_middleware((*self._middleware, wrapped))
        return self

    def remove(self: _C, name: str) -> _C:
        """Unregister the plugin called ``name`` and call its ``teardown()``; unknown names are
        ignored. Returns the client.

        Args:
            name: the plugin's ``name``.

        Returns:
            The client.

        Examples:
            >>> client.add(Mirror()).remove("mirror")  # doctest: +ELLIPSIS
            <...>
        """
        from amplitude_legacy.plugins._adapters import PluginMiddleware

        with self._lock:
            plugin = self._plugins.get(name)
            if plugin is None:
                return self
            self._plugins = {k: v for k, v in self._plugins.items() if k != name}
            self._before = tuple(p for p in self._before if p is not plugin)
            self._destinations = tuple(
                d for d in self._destinations if getattr(d, "plugin", d) is not plugin
            )
            self._set_middleware(
                tuple(
                    m
                    for m in self._middleware
                    if not (isinstance(m, PluginMiddleware) and m.plugin is plugin)
                )
            )
        teardown = getattr(plugin, "teardown", None)
        if callable(teardown):
            try:
                teardown()
            except Exception:
                self._plugin_failed(plugin, "teardown")
        return self

    # ------------------------------------------------------------------ new-style calls

    def _submit(self, event: Dict[str, Any]) -> ResultFuture:
        """Log ``event`` through ``logEvent`` and chain its ``Response`` into a ``Result``."""
        from amplitude_legacy.plugins._types import Result, ResultFuture

        extra = event.pop("extra", None)
        built = Event(event)
        if extra is not None and not isinstance(extra, dict):
            return _done(built, 0, f"extra must be a dict, got {type(extra).__name__}")
        future: Future[Response] = self.logEvent(built, extra)
        out = ResultFuture()

        def resolve(done: Future[Response]) -> None:
            try:
                response = done.result()
            except Exception as exc:  # a legacy middleware raised: the event was not sent
                out.set_result(Result(built, 0, f"{type(exc).__name__}: {exc}"))
                return
            out.set_result(Result(built, response.status_code, _message(response), response))

        future.add_done_callback(resolve)
        return out

    def track(
        self,
        event_input: Union[str, Mapping[str, Any], Any],
        event_properties: Mapping[str, Any] | None = None,
        event_options: EventOptionsLike = None,
    ) -> ResultFuture:
        """Send an event, new-style: ``track(event_type | event, event_properties, event_options)``.

        The event is ``{**event, **event_options, "event_properties": event_properties}`` and
        goes through the same plugins, middleware, validation and queue as ``logEvent``. An
        ``extra`` key in ``event_options`` becomes the middleware's ``payload.extra`` (never
        sent). An official ``amplitude.BaseEvent`` is accepted too.

        Args:
            event_input: an event type, or an event dict (wire field names).
            event_properties: the event's ``event_properties`` (replaces the event's own).
            event_options: more fields (``user_id``, ``device_id``, ``time``, ``insert_id``, ...).

        Returns:
            A future of the ``Result``; it never raises.

        Raises:
            TypeError: ``event_options`` is neither a dict nor an official ``EventOptions``.

        Examples:
            >>> client.track("Song Played", {"genre": "jazz"}, {"user_id": "user-1"}).result(10)
            Result(event=Event({...}), code=200, message='Event tracked successfully')
        """
        if isinstance(event_input, str):
            base: Dict[str, Any] = {"event_type": event_input}
        elif isinstance(event_input, Mapping):
            base = dict(event_input)
        elif hasattr(event_input, "get_event_body"):
            base = _options_dict(event_input)
        else:
            message = f"Invalid event: expected an event type or an event, got {event_input!r}"
            return _done(Event(), 0, message)
        event = {**base, **_options_dict(event_options)}
        if event_properties is not None:
            event["event_properties"] = event_properties
        event_type = event.get("event_type")
        if not isinstance(event_type, str) or not event_type.strip():
            return _done(Event(event), 0, EMPTY_EVENT_TYPE_MESSAGE)
        return self._submit(event)

    def _identify_new_style(
        self, identify: Identify, event_options: EventOptionsLike = None
    ) -> ResultFuture:
        """``identify(Identify, event_options)``: an ``$identify`` with the builder's operations.

        ``NodeClient.identify`` dispatches here when its first argument is an ``Identify``. One
        with no operation is not sent (``Result`` code 0, message ``"Empty identify
        properties"``, logged at ERROR), as in the official SDK.

        Args:
            identify: the operations (``set``, ``add``, ``set_group``, ...).
            event_options: the ids and other fields (``{"user_id": "user-1"}``).

        Returns:
            A future of the ``Result``.
        """
        if not isinstance(identify, Identify):
            log.warning("amplitude_legacy: Invalid Identify object. Skipping operation.")
            return _done(Event(), 0, "Invalid Identify object")
        event = _options_dict(event_options)
        event["event_type"] = SpecialEventType.IDENTIFY.value
        event["user_properties"] = identify.properties
        if not event["user_properties"]:
            return _skipped_empty(event, "user")
        groups = identify.groups
        if groups:
            event["groups"] = {**(event.get("groups") or {}), **groups}
        return self._submit(event)

    def _group_identify_new_style(
        self,
        group_type: str,
        group_name: GroupName,
        identify: Identify,
        event_options: EventOptionsLike = None,
    ) -> ResultFuture:
        """``groupIdentify(type, name, Identify, event_options)``: set a group's properties.

        ``NodeClient.groupIdentify`` dispatches here when ``event_options`` is given. Every
        operation is kept (``$remove``, ``$preInsert``, ``$postInsert``, ``$clearAll`` too), as
        the official ``group_identify`` does; an ``Identify`` with none is not sent (``Result``
        code 0, message ``"Empty group identify properties"``, logged at ERROR). Without a
        ``user_id``/``device_id`` in ``event_options`` a throw-away ``device_id`` is added, as
        the legacy SDK does (the API needs one id).

        Args:
            group_type: the group type, e.g. ``"org"``.
            group_name: the group name, or a list of names.
            identify: the group-property operations (``set``, ``add``, ...).
            event_options: the ids and other fields.

        Returns:
            A future of the ``Result``.
        """
        if not isinstance(identify, Identify):
            log.warning("amplitude_legacy: Invalid Identify object. Skipping operation.")
            return _done(Event(), 0, "Invalid Identify object")
        name = group_name if isinstance(group_name, str) else list(group_name)
        legacy = identify.identify_group(group_type, name)
        event = _options_dict(event_options)
        event["event_type"] = legacy["event_type"]
        event["groups"] = legacy["groups"]
        # Every operation, as the official group_identify sends (the legacy set is smaller).
        event["group_properties"] = identify.properties
        if not event["group_properties"]:
            return _skipped_empty(event, "group")
        if event.get("user_id") is None and event.get("device_id") is None:
            event["device_id"] = legacy["device_id"]
        return self._submit(event)

    def setGroup(
        self, group_type: str, group_name: GroupName, event_options: EventOptionsLike = None
    ) -> ResultFuture:
        """Put a user in a group (or groups): an ``$identify`` that ``$set``s the group and
        carries ``groups``.

        Args:
            group_type: the group type, e.g. ``"org"``.
            group_name: the group name, or a list of names.
            event_options: the ids and other fields (``{"user_id": "user-1"}``).

        Returns:
            A future of the ``Result``.

        Examples:
            >>> client.setGroup("org", ["acme", "beta"], {"user_id": "user-1"}).result(10).code
            200
        """
        name: Any = group_name if isinstance(group_name, str) else list(group_name)
        event = _options_dict(event_options)
        event["event_type"] = SpecialEventType.IDENTIFY.value
        event["user_properties"] = {"$set": {group_type: name}}
        event["groups"] = {group_type: name}
        return self._submit(event)

    def revenue(self, revenue: Revenue, event_options: EventOptionsLike = None) -> ResultFuture:
        """Send a ``revenue_amount`` event whose ``event_properties`` are the ``Revenue``'s
        ``$price``, ``$quantity``, ``$productId``, ``$revenueType``, ``$receipt``, ... keys.

        An invalid ``Revenue`` (the Python SDK's rule: no price, or a quantity that is not a
        positive ``int``; see ``Revenue.find_problem``) is not sent: the ``Result`` has code 0,
        a message naming the field and a ``Response`` with status ``invalid``, and an error is
        logged.

        Args:
            revenue: the ``Revenue`` builder.
            event_options: the ids and other fields (``{"user_id": "user-1"}``).

        Returns:
            A future of the ``Result``.

        Examples:
            >>> rev = Revenue().set_product_id("sku-1").set_price(3.99).set_quantity(3)
            >>> client.revenue(rev, {"user_id": "user-1"}).result(10).code
            200
        """
        if not isinstance(revenue, Revenue):
            log.warning("amplitude_legacy: Invalid Revenue object. Skipping operation.")
            return _done(Event(), 0, "Invalid Revenue object")
        event = _options_dict(event_options)
        event["event_type"] = REVENUE_EVENT_TYPE
        event["event_properties"] = revenue.to_event_properties()
        problem = revenue.find_problem()
        if problem is not None:
            from amplitude_legacy._retry import DropReason

            message = f"Invalid revenue: {problem[1]}"
            log.error("amplitude_legacy: %s. Skipping operation.", message)
            response = Response(Status.INVALID, 0, None, DropReason.INVALID, message)
            return _done(Event(event), 0, message, response)
        return self._submit(event)

    set_group = setGroup
