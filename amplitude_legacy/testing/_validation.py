"""Pure request validation for the collector, in the order the real API checks a request.

No I/O and no shared state: :func:`check_request` takes the raw request and the rules and returns a
:class:`Verdict`. Rate limiting (which needs state) and recording happen in the collector.

The per-event loop runs for every event of every request, so it stays flat: exact type checks, a
handful of ``dict.get`` calls, and recursion only into nested containers.
"""

from __future__ import annotations

import json
import math
import re
import zlib
from dataclasses import dataclass
from typing import Any, Dict, FrozenSet, List, Sequence, Tuple
from urllib.parse import urlsplit

try:  # the ``speed`` extra: parses a body several times faster than the stdlib (see _accept_plain)
    import orjson as _orjson
except ImportError:  # pragma: no cover - the stdlib parser then does all the work
    _orjson = None  # type: ignore[assignment]

__all__ = [
    "BATCH_PATH",
    "HTTP_API_PATH",
    "INVALID_IDS",
    "MAX_EVENT_ERRORS",
    "MAX_NESTING_DEPTH",
    "RESERVED_EVENT_TYPES",
    "Rules",
    "Verdict",
    "check_request",
    "decode_body",
    "route",
    "validate_events",
]

HTTP_API_PATH = "/2/httpapi"
BATCH_PATH = "/batch"

#: ID values the API rejects, compared case-insensitively.
INVALID_IDS: FrozenSet[str] = frozenset(
    {
        "anonymous",
        "nil",
        "none",
        "null",
        "n/a",
        "na",
        "undefined",
        "unknown",
        '""',
        "00000000-0000-0000-0000-000000000000",
        "{}",
        "lmy47d",
        "0",
        "-1",
    }
)

#: Event types only Amplitude itself may produce.
RESERVED_EVENT_TYPES: FrozenSet[str] = frozenset(
    {
        "[Amplitude] Start Session",
        "[Amplitude] End Session",
        "[Amplitude] Revenue",
        "[Amplitude] Revenue (Verified)",
        "[Amplitude] Revenue (Unverified)",
        "[Amplitude] Merged User",
    }
)

#: Deepest nesting accepted in property objects. A flat object is depth 1 and
#: arrays count as a level, like objects.
MAX_NESTING_DEPTH = 40

#: Most entries in the ``event_errors`` list of a 400 body (the index maps list every one).
MAX_EVENT_ERRORS = 20

#: Containers nested deeper than this are cut before a second parse of a body too deep for the
#: JSON parser, so that the event holding them is reported like any other over-deep property.
_CUT_DEPTH = 100

_ID_FIELDS = ("user_id", "device_id")
_INT_FIELDS = ("time", "event_id", "session_id", "quantity")
_NUMBER_FIELDS = ("price", "revenue", "location_lat", "location_lng")
_OBJECT_FIELDS = ("event_properties", "user_properties", "groups", "group_properties")

_ERR_MISSING = "Request missing required field"
_ERR_INVALID = "Invalid field values on some events"
_ERR_ID_LENGTH = "Invalid id length for user_id or device_id"
_ERR_INVALID_JSON = "Invalid JSON request body"


@dataclass(frozen=True)
class Rules:
    """The collector's validation settings (see :class:`Collector` for their meaning)."""

    api_keys: FrozenSet[str] | None = None
    min_id_length: int = 5
    max_body_bytes: int = 1_000_000
    batch_max_body_bytes: int = 20_000_000
    max_events: int = 2000
    first_index_only: bool = False
    empty_events_ok: bool = True

    def body_limit(self, path: str) -> int:
        """Return the decompressed body-size limit of the endpoint at ``path``."""
        return self.batch_max_body_bytes if path == BATCH_PATH else self.max_body_bytes


@dataclass(frozen=True)
class Verdict:
    """The outcome of :func:`check_request`.

    Attributes:
        path: The routed path (query string removed), or ``None`` for an unknown path.
        status: 200 when the request passed validation, else the error status.
        body: The error body (empty when ``status`` is 200: the collector builds the success body
            after rate limiting).
        payload: The parsed JSON body, or ``None`` when it could not be parsed.
        events: The events to ingest when ``status`` is 200, else ``None``.
        api_key: The request's API key when it was a string, else ``""``.
        body_size: Length of the decoded body (after gzip), ``0`` when it was not read.
    """

    path: str | None
    status: int
    body: Dict[str, Any]
    payload: Any = None
    events: List[Dict[str, Any]] | None = None
    api_key: str = ""
    body_size: int = 0


def route(target: str) -> str | None:
    """Return the endpoint path for a request target, or ``None`` when it is not an endpoint.

    The query string is ignored; an absolute-form target (``http://host/batch``) is accepted.
    """
    path = urlsplit(target).path if "?" in target or "://" in target else target
    return path if path in (HTTP_API_PATH, BATCH_PATH) else None


def decode_body(raw: bytes, content_encoding: str, limit: int) -> bytes | None:
    """Undo ``Content-Encoding: gzip`` and cap the result at ``limit + 1`` bytes.

    Args:
        raw: The body as received.
        content_encoding: The ``Content-Encoding`` header value (``""`` when absent).
        limit: Size limit of the decoded body; at most ``limit + 1`` bytes are produced, so a
            caller can tell "over the limit" without inflating a gzip bomb.

    Returns:
        The decoded body, or ``None`` when the gzip stream is corrupt or truncated.
    """
    if content_encoding.strip().lower() != "gzip":
        return raw
    # wbits 16+MAX_WBITS: expect the gzip header and trailer.
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(raw, limit + 1)
    except zlib.error:
        return None
    if len(out) <= limit and not inflater.eof:
        return None
    return out


def check_request(
    method: str,
    target: str,
    headers: Dict[str, str],
    raw: bytes,
    rules: Rules,
) -> Verdict:
    """Validate one request in the order the real API checks it (rate limiting aside).

    Args:
        method: HTTP method.
        target: Request target as sent (path plus optional query string).
        headers: Request headers with lower-cased names.
        raw: Body as received (possibly gzip-encoded).
        rules: The collector's settings.

    Returns:
        A :class:`Verdict`; ``status`` 200 means "accept unless rate-limited".
    """
    path = route(target)
    if path is None:
        return Verdict(None, 400, _error(400, "Invalid request path"))
    if method != "POST":
        return Verdict(path, 405, _error(405, "Method Not Allowed"))

    limit = rules.body_limit(path)
    encoding = headers.get("content-encoding", "").strip().lower()
    if encoding not in ("", "identity", "gzip"):
        detail = f"unsupported Content-Encoding {encoding[:40]!r}: send gzip or no encoding"
        return Verdict(path, 400, _error(400, _ERR_INVALID_JSON, detail))
    body = decode_body(raw, encoding, limit)
    if body is None:
        detail = "Content-Encoding is gzip but the body does not inflate (corrupt or truncated)"
        return Verdict(path, 400, _error(400, _ERR_INVALID_JSON, detail))
    size = len(body)
    if len(body) > limit:
        return Verdict(path, 413, _error(413, "Payload too large"), body_size=size)
    if not body:
        return Verdict(path, 400, _error(400, "Missing request body"))
    # The docs require application/json; SDKs add "; charset=UTF-8": compare the media type only.
    media_type = headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type != "application/json":
        error = _error(400, "Invalid Content-Type: expected application/json")
        return Verdict(path, 400, error, body_size=size)
    accepted = _accept_plain(body, rules) if _orjson is not None else None
    if accepted is not None:
        return Verdict(path, 200, {}, *accepted, size)
    payload, problem = parse_json(body)
    if problem is not None:
        return Verdict(path, 400, _error(400, _ERR_INVALID_JSON, problem), body_size=size)
    if type(payload) is not dict:
        kind = _json_type(payload)
        detail = f"the body is a JSON {kind}; expected an object with api_key and events"
        return Verdict(path, 400, _error(400, _ERR_INVALID_JSON, detail), payload, body_size=size)

    api_key = payload.get("api_key")
    if type(api_key) is not str or not api_key:
        return Verdict(path, 400, _missing_field("api_key"), payload, body_size=size)
    events = payload.get("events")
    if type(events) is not list or (not events and not rules.empty_events_ok):
        error = _missing_field("events")
        return Verdict(path, 400, error, payload, api_key=api_key, body_size=size)
    if rules.api_keys is not None and api_key not in rules.api_keys:
        error = _error(400, f"Invalid API key: {api_key}")
        return Verdict(path, 400, error, payload, None, api_key, size)
    if len(events) > rules.max_events:
        detail = f"{len(events)} events; at most {rules.max_events}"
        error = _error(413, "Payload too large", detail)
        return Verdict(path, 413, error, payload, api_key=api_key, body_size=size)

    problems = validate_events(events, _min_id_length(payload, rules), rules.first_index_only)
    if problems is not None:
        return Verdict(path, 400, problems, payload, api_key=api_key, body_size=size)
    return Verdict(path, 200, {}, payload, events, api_key, size)


def parse_json(body: bytes) -> Tuple[Any, str | None]:
    """Parse a request body as strict UTF-8 JSON.

    ``NaN``, ``Infinity`` and numbers out of the float range are refused (they are not JSON). A
    body nested too deep for the parser is parsed again with every container deeper than 100
    levels replaced by ``0``: the event holding one is then reported as an over-deep property
    (its nesting is still over 40), like a shallower one.

    Args:
        body: The decoded request body.

    Returns:
        ``(payload, None)``, or ``(None, problem)`` where ``problem`` says what is wrong.
    """
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        return None, f"the body is not UTF-8: byte 0x{body[exc.start]:02x} at offset {exc.start}"
    problem: str | None = None
    try:
        payload: Any = _strict_loads(text)
    except RecursionError:
        problem = "too deep"
    except ValueError as exc:  # JSONDecodeError, and the hooks' errors
        problem = _clip(str(exc))
    else:
        if type(payload) is dict:
            return payload, None
    # Pythons differ in how deep their parser goes (3.12 and newer parse 5000 levels, 3.11 does
    # not), so a deep body is recognised by its depth, never by whether this parser gave up.
    if _nesting_depth(text) <= _CUT_DEPTH:
        return (None, problem) if problem is not None else (payload, None)
    cut = _cut_deep(text, _CUT_DEPTH)
    too_deep = f"nested deeper than the parser allows (more than {_CUT_DEPTH} levels)"
    if cut is None:
        return None, too_deep
    try:
        payload = _strict_loads(cut)
    except (ValueError, RecursionError):
        return None, too_deep
    # Cut containers inside an event are reported on it; a body that is itself too deep is not.
    return (payload, None) if type(payload) is dict else (None, too_deep)


def _strict_loads(text: str) -> Any:
    return json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def _finite_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise ValueError(f"the number {_clip(text, 40)} is out of range")
    return value


#: A JSON string (escapes included), or one bracket.
_TOKEN = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]')


def _nesting_depth(text: str) -> int:
    """Return how deep the brackets of ``text`` go (strings skipped; balance not checked)."""
    depth = deepest = 0
    for match in _TOKEN.finditer(text):
        token = match.group()
        if token in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif token in "]}":
            depth -= 1
    return deepest


def _cut_deep(text: str, depth_limit: int) -> str | None:
    """Replace each container nested deeper than ``depth_limit`` with ``0``.

    Returns:
        The shallower text, or ``None`` when the brackets do not balance.
    """
    parts: List[str] = []
    depth = 0
    kept_up_to = 0
    cut_from = -1
    for match in _TOKEN.finditer(text):
        token = match.group()
        if token[0] == '"':
            continue
        if token in "[{":
            depth += 1
            if depth == depth_limit + 1:
                cut_from = match.start()
        else:
            if depth == depth_limit + 1 and cut_from >= 0:
                parts += (text[kept_up_to:cut_from], "0")
                kept_up_to, cut_from = match.end(), -1
            depth -= 1
            if depth < 0:
                return None
    if depth != 0:
        return None
    parts.append(text[kept_up_to:])
    return "".join(parts)


def _json_type(value: Any) -> str:
    if type(value) is list:
        return "array"
    if type(value) is str:
        return "string"
    if value is None:
        return "null"
    if type(value) is bool:
        return "boolean"
    return "number"


def _clip(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def validate_events(
    events: Sequence[Any], min_id_length: int = 5, first_index_only: bool = False
) -> dict[str, Any] | None:
    """Validate every event and build the 400 body, if any.

    Args:
        events: The request's ``events`` array.
        min_id_length: Minimum length of ``user_id`` / ``device_id``.
        first_index_only: List only the first offending index per field (the current docs'
            wording) instead of every index (what the SDKs assume).

    Returns:
        ``None`` when every event is valid, else a 400 body with the non-empty maps among
        ``events_with_missing_fields``, ``events_with_invalid_fields`` and
        ``events_with_invalid_id_lengths``, the error string of the first of them, and
        ``event_errors``: the first :data:`MAX_EVENT_ERRORS` problems, each as ``{"event":
        index, "field": name, "message": text}`` (plus ``length`` and ``min_id_length`` for an
        id that is too short). Clients read only the maps and ``error``; the list is for people.
    """
    if _plain_events(events, min_id_length):
        return None  # the common case: every event valid, shown by one quick pass
    missing: dict[str, list[int]] = {}
    invalid: dict[str, list[int]] = {}
    short: dict[str, list[int]] = {}
    problems: list[dict[str, Any]] = []

    def flag(
        found: dict[str, list[int]], field: str, index: int, message: str, **extra: Any
    ) -> None:
        indexes = found.setdefault(field, [])
        if not (first_index_only and indexes):
            indexes.append(index)
        if len(problems) < MAX_EVENT_ERRORS:
            problems.append({"event": index, "field": field, "message": message, **extra})

    for index, event in enumerate(events):
        if type(event) is not dict:
            detail = f"event {index} is a JSON {_json_type(event)}, not an object"
            return _error(400, "Invalid event JSON", detail)
        get = event.get

        event_type = get("event_type")
        if event_type is None:
            flag(missing, "event_type", index, "missing (required)")
        elif type(event_type) is not str or not event_type or event_type in RESERVED_EVENT_TYPES:
            flag(invalid, "event_type", index, _event_type_problem(event_type))

        has_id = False
        for field in _ID_FIELDS:
            value = get(field)
            if value is None or value == "":
                continue
            has_id = True
            if type(value) is not str:
                flag(invalid, field, index, f"must be a string, not a JSON {_json_type(value)}")
            elif _is_invalid_id(value):
                flag(invalid, field, index, f"{_clip(value, 40)!r} is not a usable id")
            elif len(value) < min_id_length:
                flag(
                    short,
                    field,
                    index,
                    f"{len(value)} characters long, shorter than the minimum of {min_id_length}",
                    length=len(value),
                    min_id_length=min_id_length,
                )
        if not has_id:
            # Which key the real API uses here is undocumented; SDKs only take the union of the
            # index lists, so one key is enough.
            flag(missing, "user_id", index, "missing: an event needs a user_id or a device_id")

        for field in _INT_FIELDS:
            value = get(field)
            if value is not None and type(value) is not int:
                flag(invalid, field, index, f"must be an integer, not a JSON {_json_type(value)}")
        for field in _NUMBER_FIELDS:
            value = get(field)
            if value is not None and type(value) is not float and type(value) is not int:
                flag(invalid, field, index, f"must be a number, not a JSON {_json_type(value)}")
        for field in _OBJECT_FIELDS:
            value = get(field)
            if value is None:
                continue
            if type(value) is not dict:
                flag(invalid, field, index, f"must be an object, not a JSON {_json_type(value)}")
            elif _deeper_than(value, MAX_NESTING_DEPTH - 1):
                flag(invalid, field, index, f"nested deeper than {MAX_NESTING_DEPTH} levels")

    if not (missing or invalid or short):
        return None
    # Several categories at once: include each map and use the first category's error string.
    error = _ERR_MISSING if missing else _ERR_INVALID if invalid else _ERR_ID_LENGTH
    body: dict[str, Any] = {"code": 400, "error": error}
    if missing:
        body["events_with_missing_fields"] = missing
    if invalid:
        body["events_with_invalid_fields"] = invalid
    if short:
        body["events_with_invalid_id_lengths"] = short
    body["event_errors"] = problems
    return body


def _accept_plain(body: bytes, rules: Rules) -> Tuple[Dict[str, Any], List[Any], str] | None:
    """The common valid request, parsed with orjson: ``(payload, events, api_key)``, or ``None``.

    ``None`` means "not shown valid here": the caller then runs the full checks on the stdlib's
    parse, so every error (and its message) comes from one place. A request accepted here is
    accepted there too, with an equal payload: orjson and the stdlib parse strict UTF-8 JSON
    to the same values, except that orjson turns an integer beyond 64 bits into a float and
    takes some bodies nested 1,000 levels deep that the stdlib refuses. So every value is
    visited, and the request is left to the full checks when a float is as large as
    such an integer (2**63 or more) or containers nest deeper than the property limit.
    """
    try:
        payload = _orjson.loads(body)
    except _orjson.JSONDecodeError:
        return None
    if type(payload) is not dict:
        return None
    api_key = payload.get("api_key")
    events = payload.get("events")
    if type(api_key) is not str or not api_key or type(events) is not list:
        return None
    if not events and not rules.empty_events_ok:
        return None
    if rules.api_keys is not None and api_key not in rules.api_keys:
        return None
    if len(events) > rules.max_events:
        return None
    for key, value in payload.items():
        if key != "events" and not _plain_value(value, MAX_NESTING_DEPTH):
            return None
    if not _plain_events(events, _min_id_length(payload, rules)):
        return None
    return payload, events, api_key


#: Floats this large may be integers beyond 64 bits that orjson parsed as floats.
_BIG_FLOAT = float(2**63)

#: Per event field: 1 ``event_type``, 2 an id, 3 an integer, 4 a number, 5 a property object
#: (0, any other field: not checked, only visited).
_FIELD_KINDS: Dict[str, int] = {
    "event_type": 1,
    **dict.fromkeys(_ID_FIELDS, 2),
    **dict.fromkeys(_INT_FIELDS, 3),
    **dict.fromkeys(_NUMBER_FIELDS, 4),
    **dict.fromkeys(_OBJECT_FIELDS, 5),
}


def _plain_events(events: Sequence[Any], min_id_length: int) -> bool:
    """One quick pass over the events: True only when :func:`validate_events` finds nothing.

    False means "not shown here" (an invalid event, or one this pass does not decide, such as
    a float of 2**63 or more anywhere in it, or containers nested deeper than the property
    limit in any field); the caller then runs the full checks.
    """
    kind_of = _FIELD_KINDS.get
    reserved = RESERVED_EVENT_TYPES
    invalid_ids = INVALID_IDS
    big = _BIG_FLOAT
    budget = MAX_NESTING_DEPTH - 1
    # The checks of _is_invalid_id and _plain_value are written out inline below: this loop
    # runs for every event the collector takes in, and a call costs as much as the check.
    for event in events:
        if type(event) is not dict:
            return False
        named = identified = False
        for key, value in event.items():
            kind = kind_of(key, 0)
            value_type = type(value)
            if value_type is str:
                if not kind:
                    continue
                if kind == 2:
                    if value == "":
                        continue
                    if (
                        len(value) < min_id_length
                        or value.lower() in invalid_ids
                        or not value.strip("0-")
                    ):
                        return False
                    identified = True
                elif kind == 1:
                    if not value or value in reserved:
                        return False
                    named = True
                else:
                    return False
            elif value_type is int:
                if kind == 1 or kind == 2 or kind == 5:
                    return False
            elif value is None:
                if kind == 1:
                    return False
            elif value_type is dict:
                if not (kind == 0 or kind == 5):
                    return False
                for child in value.values():
                    child_type = type(child)
                    if child_type is dict or child_type is list:
                        if not _plain_value(child, budget - 1):
                            return False
                    elif child_type is float and not -big < child < big:
                        return False
            elif value_type is float:
                if not (kind == 0 or kind == 4) or not -big < value < big:
                    return False
            elif kind or not _plain_value(value, budget):  # a list or a boolean
                return False
        if not (named and identified):
            return False
    return True


def _plain_value(value: Any, budget: int) -> bool:
    """False when ``value`` holds a float of 2**63 or more, or containers deeper than
    ``budget`` further levels (like :func:`_deeper_than`)."""
    value_type = type(value)
    if value_type is float:
        return bool(-_BIG_FLOAT < value < _BIG_FLOAT)
    if value_type is dict:
        children: Any = value.values()
    elif value_type is list:
        children = value
    else:
        return True
    for child in children:
        child_type = type(child)
        if child_type is dict or child_type is list:
            if budget <= 0 or not _plain_value(child, budget - 1):
                return False
        elif child_type is float and not -_BIG_FLOAT < child < _BIG_FLOAT:
            return False
    return True


def _event_type_problem(value: Any) -> str:
    if type(value) is not str:
        return f"must be a string, not a JSON {_json_type(value)}"
    if not value:
        return "must not be empty"
    return f"{value!r} is reserved for Amplitude"


def _is_invalid_id(value: str) -> bool:
    # An ID of only zeros and dashes ("0", a zeroed IDFA) is as useless as the listed ones.
    return value.lower() in INVALID_IDS or not value.strip("0-")


def _deeper_than(container: Any, budget: int) -> bool:
    """Return True when ``container`` nests more than ``budget`` further levels of dicts/lists."""
    children = container.values() if type(container) is dict else container
    for child in children:
        if (type(child) is dict or type(child) is list) and (
            budget <= 0 or _deeper_than(child, budget - 1)
        ):
            return True
    return False


def _min_id_length(payload: dict[str, Any], rules: Rules) -> int:
    options = payload.get("options")
    if type(options) is dict:
        value = options.get("min_id_length")
        if type(value) is int and value >= 0:
            return value
    return rules.min_id_length


def _error(code: int, error: str, detail: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"code": code, "error": error}
    if detail is not None:
        body["detail"] = detail
    return body


def _missing_field(field: str) -> dict[str, Any]:
    return {"code": 400, "error": _ERR_MISSING, "missing_field": field}
