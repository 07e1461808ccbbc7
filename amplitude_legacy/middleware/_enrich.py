"""Enrichment and transformation: ``enrich``, ``rename_events``, ``set_defaults``."""

from __future__ import annotations

import difflib
from typing import Any, Callable, Dict, Mapping, Optional, Union

from amplitude_legacy._event import EVENT_FIELDS, Event
from amplitude_legacy._middleware import Middleware, MiddlewareNext, MiddlewarePayload, ready_made
from amplitude_legacy.middleware._common import get_field

__all__ = ["Enrichment", "enrich", "rename_events", "set_defaults"]

Enrichment = Union[
    Mapping[str, Any],
    Callable[[Event, Optional[Dict[str, Any]]], Optional[Mapping[str, Any]]],
]
"""Properties to add: a dict (the same for every event), or ``fn(event, extra)`` returning a
dict (or ``None`` for nothing) for each event; ``extra`` is the second argument of
``logEvent``."""

_TARGETS = ("event_properties", "user_properties")
_IDENTIFY = "$identify"


def _merge(current: Any, added: Mapping[str, Any], overwrite: bool) -> Any:
    if current is None:
        return dict(added)
    if not isinstance(current, Mapping):
        return current  # not a dict: validation rejects the event with its own message
    return {**current, **added} if overwrite else {**added, **current}


def _merge_user(event: Mapping[str, Any], current: Any, added: Mapping[str, Any], ow: bool) -> Any:
    """User properties: into ``$set`` when they are identify operations, else as plain keys."""
    operations = get_field(event, "event_type") == _IDENTIFY or (
        isinstance(current, Mapping) and any(str(k).startswith("$") for k in current)
    )
    if not operations:
        return _merge(current, added, ow)
    current = dict(current or {})
    current["$set"] = _merge(current.get("$set"), added, ow)
    return current


def enrich(
    properties: Enrichment, *, into: str = "event_properties", overwrite: bool = False
) -> Middleware:
    """Add properties to every event: service name, build, region, what ``extra`` carries.

    The event's own properties win unless ``overwrite=True``. Nested dicts are copied, never
    changed in place (the caller's dicts stay as they were). For ``into="user_properties"``,
    an ``$identify`` event (or user properties written as operations) gets the properties
    under ``$set``.

    Args:
        properties: a dict, or ``fn(event, extra) -> dict | None`` called per event.
        into: ``"event_properties"`` (default) or ``"user_properties"``.
        overwrite: let the added properties replace the event's own keys.

    Returns:
        The ``(payload, next)`` middleware.

    Raises:
        TypeError: ``properties`` is neither a dict nor callable; the function returns
            something else than a dict or ``None`` (raised in the middleware: the event's
            future holds the error, counted as ``middleware_error``).
        ValueError: an unknown ``into``.

    Examples:
        >>> client.addEventMiddleware(enrich({"service": "billing", "region": "eu-west-1"}))
        >>> client.addEventMiddleware(
        ...     enrich(lambda event, extra: {"request_id": (extra or {}).get("request_id")})
        ... )
    """
    if into not in _TARGETS:
        raise ValueError(f"into must be one of {_TARGETS}, got {into!r}")
    user = into == "user_properties"
    payload_type = MiddlewarePayload
    if isinstance(properties, Mapping):
        static = dict(properties)
        static_items = tuple(static.items())

        def enrich_static(event: Event) -> None:
            current = get_field(event, into)
            if user:
                event[into] = _merge_user(event, current, static, overwrite)
            elif current is None:
                event[into] = static.copy()
            elif type(current) is dict:
                # a C-level clone, then the few keys: cheaper than {**a, **b}
                merged = current.copy()
                if overwrite:
                    merged.update(static)
                else:
                    for key, value in static_items:
                        merged.setdefault(key, value)
                event[into] = merged
            else:
                event[into] = _merge(current, static, overwrite)

        return ready_made(enrich_static, "enrich_static")
    if not callable(properties):
        raise TypeError(
            f"properties must be a dict or a function (event, extra) -> dict, "
            f"got {type(properties).__name__}"
        )
    compute = properties

    def enrich_computed(payload: MiddlewarePayload, next: MiddlewareNext) -> None:
        if type(payload) is payload_type:
            event, extra = payload.event, payload.extra
        else:
            event, extra = payload["event"], payload.get("extra")  # type: ignore[attr-defined]
        added = compute(event, extra)
        if added:
            if not isinstance(added, Mapping):
                raise TypeError(f"enrich: the function returned {type(added).__name__}, not a dict")
            current = get_field(event, into)
            if user:
                event[into] = _merge_user(event, current, added, overwrite)
            else:
                event[into] = _merge(current, added, overwrite)
        next(payload)

    return enrich_computed


def rename_events(mapping: Mapping[str, str]) -> Middleware:
    """Rename event types: ``{"signup": "Signed Up"}``. Other events pass unchanged.

    Args:
        mapping: old name -> new name (exact, case-sensitive).

    Returns:
        The ``(payload, next)`` middleware.

    Raises:
        TypeError: ``mapping`` is not a dict of strings to non-empty strings.

    Examples:
        >>> client.addEventMiddleware(rename_events({"signup": "Signed Up"}))
    """
    if not isinstance(mapping, Mapping):
        raise TypeError(f"mapping must be a dict of old -> new names, got {type(mapping).__name__}")
    for old, new in mapping.items():
        if not isinstance(old, str) or not isinstance(new, str) or not new:
            raise TypeError(f"mapping must map names to non-empty names, got {old!r}: {new!r}")
    renamed = dict(mapping).get

    def rename_events_step(event: Event) -> None:
        event_type = get_field(event, "event_type")
        if type(event_type) is str:
            new = renamed(event_type)
            if new is not None:
                event["event_type"] = new

    return ready_made(rename_events_step, "rename_events_middleware")


def set_defaults(fields: Mapping[str, Any] | None = None, /, **more: Any) -> Middleware:
    """Fill event fields the call site left out (absent or ``None``): ``app_version``,
    ``platform``, ``country``...

    A dict value (``event_properties={"env": "prod"}``) is copied into each event that has
    none; to add keys to existing properties, use ``enrich``.

    Args:
        fields: field -> default value (HTTP V2 field names).
        **more: the same, as keywords.

    Returns:
        The ``(payload, next)`` middleware.

    Raises:
        ValueError: no field, or a name that is not an event field (a typo: the message
            suggests the closest name).

    Examples:
        >>> client.addEventMiddleware(set_defaults(app_version="2.4.1", platform="Web"))
    """
    defaults = {**(fields or {}), **more}
    if not defaults:
        raise ValueError("set_defaults() needs at least one field")
    for name in defaults:
        if name not in EVENT_FIELDS:
            close = difflib.get_close_matches(str(name), EVENT_FIELDS, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ValueError(f"set_defaults: {name!r} is not an event field{hint}")
    plain = tuple((k, v) for k, v in defaults.items() if not isinstance(v, Mapping))
    nested = tuple((k, v) for k, v in defaults.items() if isinstance(v, Mapping))

    def set_defaults_step(event: Event) -> None:
        for name, value in plain:
            if get_field(event, name) is None:
                event[name] = value
        for name, value in nested:
            if get_field(event, name) is None:
                event[name] = dict(value)

    return ready_made(set_defaults_step, "set_defaults_middleware")
