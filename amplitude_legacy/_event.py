"""The event model: ``Event`` (a dict with attribute access), validation, insert ids.

An ``Event`` is a ``dict`` whose keys are the HTTP V2 API field names, exactly (including the
camelCase ``productId`` and ``revenueType``). Being a dict keeps it cheap to build from the
caller's dict, lets the JSON encoder serialize it directly, and lets middleware use either
``payload.event.user_id`` or ``payload.event["user_id"]``.
"""

from __future__ import annotations

import itertools
import math
import os
import uuid
from typing import Any, Mapping, Tuple

from amplitude_legacy._version import __version__

__all__ = [
    "EVENT_FIELDS",
    "LIBRARY",
    "Event",
    "InsertIdGenerator",
    "coerce_event",
    "complete_annotation",
    "find_problem",
    "new_insert_id",
]

LIBRARY = f"amplitude-legacy-python/{__version__}"
"""The ``library`` field of every event: this SDK's own name and version."""

#: Every event field of the HTTP V2 API (``http-api.md`` §1.4) that ``Event`` exposes as an
#: attribute. Reading an absent one gives ``None``; other keys are still sent as they are.
EVENT_FIELDS: Tuple[str, ...] = (
    "event_type", "user_id", "device_id", "time", "event_properties", "user_properties",
    "groups", "group_properties", "app_version", "platform", "os_name", "os_version",
    "device_brand", "device_manufacturer", "device_model", "carrier", "country", "region",
    "city", "dma", "language", "price", "quantity", "revenue", "productId", "revenueType",
    "currency", "location_lat", "location_lng", "ip", "idfa", "idfv", "adid", "android_id",
    "android_app_set_id", "event_id", "session_id", "insert_id", "plan", "ingestion_metadata",
    "partner_id", "user_agent", "version_name", "library", "uuid",
)  # fmt: skip
_FIELD_SET = frozenset(EVENT_FIELDS)


class Event(dict):  # type: ignore[type-arg]
    """One Amplitude event: a ``dict`` of wire fields with attribute access.

    ``event.user_id`` reads ``event["user_id"]`` (``None`` when absent) and
    ``event.user_id = "u"`` writes it. Unknown attribute names raise ``AttributeError``
    so typos are caught; use item access for keys outside ``EVENT_FIELDS``.

    Examples:
        >>> e = Event(event_type="Button Clicked", user_id="user-123")
        >>> e.event_properties = {"color": "red"}
        >>> e.device_id is None, e["event_properties"]["color"]
        (True, 'red')
    """

    __slots__ = ()

    event_type: str
    user_id: str | None
    device_id: str | None
    time: int | None
    event_properties: dict[str, Any] | None
    user_properties: dict[str, Any] | None
    groups: dict[str, Any] | None
    group_properties: dict[str, Any] | None
    app_version: str | None
    platform: str | None
    os_name: str | None
    os_version: str | None
    device_brand: str | None
    device_manufacturer: str | None
    device_model: str | None
    carrier: str | None
    country: str | None
    region: str | None
    city: str | None
    dma: str | None
    language: str | None
    price: float | None
    quantity: int | None
    revenue: float | None
    productId: str | None
    revenueType: str | None
    currency: str | None
    location_lat: float | None
    location_lng: float | None
    ip: str | None
    idfa: str | None
    idfv: str | None
    adid: str | None
    android_id: str | None
    android_app_set_id: str | None
    event_id: int | None
    session_id: int | None
    insert_id: str | None
    plan: dict[str, Any] | None
    ingestion_metadata: dict[str, Any] | None
    partner_id: str | None
    user_agent: str | None
    version_name: str | None
    library: str | None
    uuid: str | None

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            if name in _FIELD_SET:
                return None
            raise AttributeError(f"Event has no field {name!r}") from None

    def __setattr__(self, name: str, value: Any) -> None:
        self[name] = value

    def __delattr__(self, name: str) -> None:
        self.pop(name, None)

    def __repr__(self) -> str:
        return f"Event({dict.__repr__(self)})"


def coerce_event(obj: object) -> Event | None:
    """A fresh ``Event`` copied from a mapping (the caller's object is never changed)."""
    if isinstance(obj, Mapping):
        return Event(obj)
    return None


_SCALARS = frozenset((str, int, bool, type(None)))
_MAX_DEPTH = 40  # the API's nesting limit (http-api.md §1.4)


def _json_problem(value: Any, depth: int) -> str | None:
    """Why ``value`` cannot be sent as JSON, or ``None`` when it can."""
    kind = type(value)
    if kind in _SCALARS:
        return None
    if kind is float:
        return None if math.isfinite(value) else f"the non-finite number {value!r}"
    if depth > _MAX_DEPTH:
        return f"nesting deeper than {_MAX_DEPTH} levels"
    if kind is dict or isinstance(value, Mapping):
        for key, item in value.items():
            if type(key) is not str:
                return f"the non-string key {key!r}"
            if type(item) not in _SCALARS:
                problem = _json_problem(item, depth + 1)
                if problem is not None:
                    return problem
        return None
    if kind is list or kind is tuple or isinstance(value, (list, tuple)):
        for item in value:
            if type(item) not in _SCALARS:
                problem = _json_problem(item, depth + 1)
                if problem is not None:
                    return problem
        return None
    if isinstance(value, (str, int, float)):  # subclasses (e.g. IntEnum) encode as their base
        return None
    return f"a value of type {kind.__name__}"


def find_problem(event: Event) -> Tuple[str, str] | None:
    """Check an event against the legacy rules plus JSON-serializability.

    Rules, in the legacy order (``amplitude-node.md`` §4.2): ``event_type`` is a string; at
    least one of ``user_id``/``device_id``; each id present is a string; ``event_properties``
    is an object. Then every value must be JSON-serializable (finite numbers, string keys,
    nesting ≤ 40). A ``None`` id counts as absent (Python code passes ``user_id=None``).

    Returns:
        ``None`` when valid, else ``(field, message)``.
    """
    get = event.get
    if type(get("event_type")) is not str:
        return "event_type", "Invalid event: expected string for event_type field"
    user_id = get("user_id")
    device_id = get("device_id")
    if user_id is None and device_id is None:
        return "user_id", "Invalid event: expected at least one of device_id or user_id"
    if device_id is not None and type(device_id) is not str:
        return "device_id", "Invalid event: expected device_id to be a string if present"
    if user_id is not None and type(user_id) is not str:
        return "user_id", "Invalid event: expected user_id to be a string if present"
    props = get("event_properties")
    if props is not None and type(props) is not dict and not isinstance(props, Mapping):
        return (
            "event_properties",
            "Invalid event properties: expected event_properties to be type object",
        )
    scalars = _SCALARS
    for key, value in event.items():
        if type(key) is not str:
            return str(key), f"Invalid event: field names must be strings, got {key!r}"
        if type(value) in scalars:
            continue
        if type(value) is dict:
            # The common case, a flat dict of scalars, is checked inline (no call per value).
            for k, v in value.items():
                if type(k) is not str or type(v) not in scalars:
                    break
            else:
                continue
        problem = _json_problem(value, 1)
        if problem is not None:
            return key, f"Invalid event: field {key!r} is not JSON-serializable ({problem})"
    return None


class InsertIdGenerator:
    """Unique, UUID-shaped ``insert_id`` values, ~15x cheaper than ``uuid.uuid4()``.

    A random 20-hex-digit prefix (from ``uuid4``) is fixed per process and a counter fills the
    last 12 digits. After ``os.fork()`` the child draws a new prefix: otherwise parent and
    child would mint the same ids and Amplitude would deduplicate real events away.
    """

    def __init__(self) -> None:
        self._reset()
        if hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=self._reset)

    def _reset(self) -> None:
        self._format = str(uuid.uuid4())[:24] + "%012x"
        self._counter = itertools.count()

    def __call__(self) -> str:
        """Return the next id."""
        return self._format % next(self._counter)


#: The process-wide ``insert_id`` source (the client and the worker share it).
new_insert_id = InsertIdGenerator()


def complete_annotation(event: Event) -> Event:
    """Add ``insert_id`` and ``library`` if the client left them for later.

    When no middleware or plugin can observe an event before it is encoded, ``logEvent``
    leaves these two out: two fewer keys keep a typical event's dict in a smaller size class
    (about 200 bytes less per queued event) and save ~1 µs on the caller's thread. The worker
    adds them right before encoding, so the wire, retries and ``onDrop`` see them as before.
    """
    if event.get("insert_id") is None:
        event["insert_id"] = new_insert_id()
    if "library" not in event:
        event["library"] = LIBRARY
    return event
