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

#: Every event field of the HTTP V2 API that ``Event`` exposes as an
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


#: dict's own methods: looking a method up on an ``Event`` misses 3.11's attribute cache (the
#: class defines ``__getattr__``), ~0.1 µs a time on the hot paths.
_DICT_GET = dict.get
_DICT_ITEMS = dict.items

_SCALARS = frozenset((str, int, bool, type(None)))
_MAX_DEPTH = 40  # the API's nesting limit for properties

_STRING: frozenset[type] = frozenset((str, type(None)))
_INTEGER: frozenset[type] = frozenset((int, type(None)))
_NUMBER: frozenset[type] = frozenset((int, float, type(None)))
_OBJECT: frozenset[type] = frozenset((dict, type(None)))
#: The documented type of each typed field (``None`` means absent). Checked locally so a wrong
#: type is reported at ``logEvent``, naming the field, instead of a 400 later.
FIELD_TYPES: Mapping[str, frozenset[type]] = {
    **dict.fromkeys(
        ("app_version", "platform", "os_name", "os_version", "device_brand",
         "device_manufacturer", "device_model", "carrier", "country", "region", "city", "dma",
         "language", "productId", "revenueType", "currency", "ip", "idfa", "idfv", "adid",
         "android_id", "android_app_set_id", "insert_id", "partner_id", "user_agent",
         "version_name", "library", "uuid"),
        _STRING,
    ),
    **dict.fromkeys(("time", "event_id", "session_id", "quantity"), _INTEGER),
    **dict.fromkeys(("price", "revenue", "location_lat", "location_lng"), _NUMBER),
    **dict.fromkeys(
        ("user_properties", "groups", "group_properties", "plan", "ingestion_metadata"), _OBJECT
    ),
}  # fmt: skip
#: camelCase keys that look like a field: sent as they are, with a warning once per name.
_LOOKALIKE: frozenset[type] = frozenset()
_warned_lookalikes: set[str] = set()
_TYPE_NAMES = {_STRING: "a string", _INTEGER: "an integer", _NUMBER: "a number",
               _OBJECT: "an object (dict)"}  # fmt: skip
_TIME_HINT = "milliseconds since the epoch, e.g. int(time.time() * 1000)"
#: camelCase spellings of snake_case fields, for "did you mean" hints.
_CAMEL_HINTS: Mapping[str, str] = {
    name.split("_")[0] + "".join(w.title() for w in name.split("_")[1:]): name
    for name in EVENT_FIELDS
    if "_" in name
}
FIELD_TYPES = {**dict.fromkeys(_CAMEL_HINTS, _LOOKALIKE), **FIELD_TYPES}

#: Fields where a string is wrong (or a camelCase look-alike to warn about): a str value
#: elsewhere needs no further look.
_NOT_STRING_FIELDS = frozenset(key for key, types in FIELD_TYPES.items() if str not in types)

#: Values Amplitude refuses as a user_id or device_id (a 400 for the whole event).
BLOCKED_IDS = frozenset(
    ("anonymous", "nil", "none", "null", "n/a", "na", "undefined", "unknown", '""',
     "00000000-0000-0000-0000-000000000000", "{}", "lmy47d", "0", "-1")
)  # fmt: skip


def _show(value: object) -> str:
    """``repr(value)``, or a placeholder when its ``__repr__`` raises (never the caller's error)."""
    try:
        text = repr(value)
    except Exception:
        return f"<{type(value).__name__} whose repr() raised>"
    return text if len(text) <= 80 else text[:77] + "..."


def _json_problem(value: Any, depth: int) -> str | None:
    """Why ``value`` cannot be sent as JSON, or ``None`` when it can."""
    kind = type(value)
    if kind in _SCALARS:
        return None
    if isinstance(value, float):  # float and its subclasses (a NaN subclass is still NaN)
        return None if math.isfinite(value) else f"the non-finite number {_show(value)}"
    if depth > _MAX_DEPTH:
        return f"nesting deeper than {_MAX_DEPTH} levels"
    if kind is dict or isinstance(value, Mapping):
        for key, item in value.items():
            if type(key) is not str:
                return f"the non-string key {_show(key)}"
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
    if isinstance(value, (str, int)):  # subclasses (e.g. IntEnum) encode as their base
        return None
    return f"a value of type {kind.__name__}"


def _id_problem(field: str, value: str, min_length: int) -> Tuple[str, str]:
    if len(value) < min_length:
        return field, (
            f"Invalid event: {field} {_show(value)} is {len(value)} character(s); Amplitude's "
            f"minimum is {min_length} (set the minIdLength option to change it)"
        )
    return field, f"Invalid event: Amplitude rejects {_show(value)} as a {field}"


def _warn_lookalike(key: str) -> None:
    if key in _warned_lookalikes:
        return
    _warned_lookalikes.add(key)
    import logging

    logging.getLogger("amplitude_legacy").warning(
        "amplitude_legacy: the event key %r is not an Amplitude field; did you mean %r? It is "
        "sent as is, and Amplitude ignores fields it does not know (warned once per key)",
        key,
        _CAMEL_HINTS[key],
    )


def _hinted(event: Mapping[str, Any], field: str, message: str) -> Tuple[str, str]:
    """``(field, message)``, with `` (did you mean 'event_type' instead of 'eventType'?)`` when
    the event has a camelCase look-alike of a field."""
    for key in event:
        snake = _CAMEL_HINTS.get(key) if type(key) is str else None
        if snake is not None:
            return field, f"{message} (did you mean {snake!r} instead of {key!r}?)"
    return field, message


def find_problem(event: Event, min_id_length: int | None = None) -> Tuple[str, str] | None:
    """Check an event against the legacy rules, the documented field types and JSON.

    Rules, in the legacy order: ``event_type`` is a string; at least one of
    ``user_id``/``device_id``; each id present is a string; ``event_properties`` is an object.
    Then, when ``min_id_length`` is given, each id is at least that long and is not a value
    Amplitude refuses (``"null"``, ``"unknown"``, ...). Then each documented field has its
    documented type (``time`` an integer number of milliseconds, ``price`` a number, ...), and
    every value is JSON-serializable (finite numbers, 64-bit integers, string keys, nesting
    ≤ 40). ``None`` counts as absent. A camelCase key (``eventType``) gets a "did you mean".

    Returns:
        ``None`` when valid, else ``(field, message)``.
    """
    # One function on purpose: logEvent runs it for every event (a call costs ~0.1 µs).
    get = _DICT_GET  # Event defines __getattr__: its own method lookups are slow
    if type(get(event, "event_type")) is not str:
        return _hinted(event, "event_type", "Invalid event: expected string for event_type field")
    user_id = get(event, "user_id")
    device_id = get(event, "device_id")
    if user_id is None and device_id is None:
        return _hinted(
            event, "user_id", "Invalid event: expected at least one of device_id or user_id"
        )
    if device_id is not None and type(device_id) is not str:
        return _hinted(
            event, "device_id", "Invalid event: expected device_id to be a string if present"
        )
    if user_id is not None and type(user_id) is not str:
        return _hinted(
            event, "user_id", "Invalid event: expected user_id to be a string if present"
        )
    props = get(event, "event_properties")
    if props is not None and type(props) is not dict and not isinstance(props, Mapping):
        return _hinted(
            event,
            "event_properties",
            "Invalid event properties: expected event_properties to be type object",
        )
    if min_id_length is not None:  # inline: every logEvent runs this
        if user_id is not None and (len(user_id) < min_id_length or user_id in BLOCKED_IDS):
            return _hinted(event, *_id_problem("user_id", user_id, min_id_length))
        if device_id is not None and (len(device_id) < min_id_length or device_id in BLOCKED_IDS):
            return _hinted(event, *_id_problem("device_id", device_id, min_id_length))
    scalars, typed, not_str = _SCALARS, FIELD_TYPES.get, _NOT_STRING_FIELDS
    for key, value in _DICT_ITEMS(event):
        if type(key) is not str:
            return _hinted(
                event, _show(key), f"Invalid event: field names must be strings, got {_show(key)}"
            )
        kind = type(value)
        if kind is str:  # most values: only a field documented as something else can be wrong
            if key not in not_str:
                continue
        # A float is fine when finite: ``x - x`` is 0.0 then, and NaN (truthy) for inf or NaN.
        elif kind not in scalars and (kind is not float or value - value):
            flat = kind is dict  # the common case, a flat dict of scalars, is checked inline
            if flat:
                for k, v in value.items():
                    if type(k) is not str or (
                        type(v) not in scalars and (type(v) is not float or v - v)
                    ):
                        flat = False
                        break
            detail = None if flat else _json_problem(value, 1)
            if detail is not None:
                return _hinted(
                    event, key, f"Invalid event: field {key!r} is not JSON-serializable ({detail})"
                )
        expected = typed(key)
        if expected is not None and kind not in expected:
            wrong = _type_problem(key, value, expected)
            if wrong is not None:
                return _hinted(event, key, wrong)
    return None


def _type_problem(key: str, value: Any, expected: frozenset[type]) -> str | None:
    """The message for a documented field of the wrong type (subclasses of the type pass)."""
    if expected is _LOOKALIKE:
        _warn_lookalike(key)
        return None
    if any(isinstance(value, t) for t in expected) and not isinstance(value, bool):
        return None
    if expected is _OBJECT and isinstance(value, Mapping):
        return None
    wanted = _TYPE_NAMES[expected]
    hint = f" ({_TIME_HINT})" if key == "time" else ""
    return f"Invalid event: {key} must be {wanted}{hint}, got {_show(value)}"


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
        # The first 24 characters of a random (version 4) UUID, from os.urandom: the uuid
        # module pulls in platform and datetime, and import time matters.
        r = os.urandom(10).hex()
        variant = "89ab"[int(r[16], 16) & 3]
        self._format = f"{r[:8]}-{r[8:12]}-4{r[13:16]}-{variant}{r[17:20]}-" + "%012x"
        self._counter = itertools.count()
        self._pid = os.getpid()

    def check_fork(self) -> None:
        """A new prefix if this is a child forked without Python's fork hooks (a C fork)."""
        if self._pid != os.getpid():
            self._reset()

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
    if _DICT_GET(event, "insert_id") is None:
        event["insert_id"] = new_insert_id()
    if "library" not in event:
        event["library"] = LIBRARY
    return event
