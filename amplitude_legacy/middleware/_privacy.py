"""Privacy: ``redact`` (remove or hash fields and properties) and ``allow_properties``."""

from __future__ import annotations

import hashlib
import json
from typing import Any, Callable, Dict, Iterable, Mapping, Union

from amplitude_legacy._event import Event
from amplitude_legacy._middleware import Middleware, ready_made
from amplitude_legacy.middleware._common import get_field
from amplitude_legacy.middleware._paths import PROPERTY_GROUPS, Leaf, build_tree, compile_rewrite

__all__ = ["REDACT_MODES", "allow_properties", "hash_value", "redact"]

REDACT_MODES = ("remove", "hash")
"""What ``redact`` does at each path: remove the key, or replace its value by a salted hash."""

_SHA256_BLOCK = 64
#: How many hashed strings ``redact`` remembers (ids repeat: most calls skip the HMAC).
_HASH_MEMO = 4096
_canonical = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
).encode

Salt = Union[str, bytes]


def _salt_bytes(salt: object) -> bytes:
    if isinstance(salt, str):
        salt = salt.encode()
    if not isinstance(salt, (bytes, bytearray)):
        raise TypeError(f"salt must be bytes or str, got {type(salt).__name__}")
    if not salt:
        raise ValueError("salt must not be empty: an unsalted hash of an e-mail is easy to reverse")
    return bytes(salt)


def _hmac_sha256(key: bytes) -> Callable[[bytes], str]:
    """HMAC-SHA256 (RFC 2104) with the key's pads hashed once: about half the cost per value
    of ``hmac.new(key, value, "sha256")``, with the same digest."""
    if len(key) > _SHA256_BLOCK:
        key = hashlib.sha256(key).digest()
    key = key.ljust(_SHA256_BLOCK, b"\0")
    inner = hashlib.sha256(bytes(b ^ 0x36 for b in key))
    outer = hashlib.sha256(bytes(b ^ 0x5C for b in key))

    def digest(message: bytes) -> str:
        h = inner.copy()
        h.update(message)
        o = outer.copy()
        o.update(h.digest())
        return o.hexdigest()

    return digest


def _message(value: Any) -> bytes:
    if type(value) is str:
        return value.encode()
    return _canonical(value).encode()


def hash_value(value: Any, salt: Salt) -> str:
    """The value ``redact(..., mode="hash", salt=salt)`` puts in place of ``value``.

    Lower-case hex of HMAC-SHA256 with ``salt`` as the key (a ``str`` salt is UTF-8 encoded)
    and, as the message, the UTF-8 string, or for any other value its canonical JSON (sorted
    keys, no spaces, ``ensure_ascii=False``: ``42`` -> ``"42"``, ``True`` -> ``"true"``). The
    same as ``hmac.new(salt, value.encode(), "sha256").hexdigest()``; in PostgreSQL,
    ``encode(hmac(value, salt, 'sha256'), 'hex')`` (pgcrypto).

    Args:
        value: what to hash.
        salt: the secret key (bytes or str, not empty).

    Returns:
        64 hex digits.

    Raises:
        TypeError: a salt that is not bytes/str; a value that is not JSON.
        ValueError: an empty salt.

    Examples:
        >>> hash_value("jane@example.com", salt="s3cret")[:16]
        'c56360d283a3038e'
    """
    return _hmac_sha256(_salt_bytes(salt))(_message(value))


def redact(
    paths: str | Iterable[str], mode: str = "remove", *, salt: Salt | None = None
) -> Middleware:
    """Remove or hash personal data before it leaves the process.

    Paths are dotted: a top-level field (``"ip"``, ``"idfa"``, ``"user_id"``) or a property
    (``"event_properties.email"``, ``"user_properties.address.street"``). A path into
    ``user_properties`` or ``group_properties`` also reaches inside identify operations
    (``user_properties.email`` covers ``user_properties.$set.email``). A path that is absent
    is a no-op. Nested dicts are copied, never changed in place.

    With ``mode="hash"`` each value becomes ``hash_value(value, salt)``: a stable salted
    HMAC-SHA256, so a hashed id still joins across events, projects and your warehouse. ``None``
    stays ``None``.

    Args:
        paths: one dotted path or several.
        mode: ``"remove"`` (default) or ``"hash"``.
        salt: the HMAC key for ``mode="hash"`` (bytes or str; keep it secret and stable).

    Returns:
        The ``(payload, next)`` middleware.

    Raises:
        ValueError: an unknown ``mode``; no path or an empty segment; ``mode="hash"`` without
            a salt, an empty salt, or a salt with ``mode="remove"``.
        TypeError: a salt that is not bytes/str; a path that is not a string.

    Examples:
        >>> client.addEventMiddleware(redact(["ip", "idfa", "event_properties.phone"]))
        >>> client.addEventMiddleware(
        ...     redact(["user_id", "event_properties.email"], mode="hash", salt=SALT)
        ... )
    """
    if mode not in REDACT_MODES:
        raise ValueError(f"mode must be 'remove' or 'hash', got {mode!r}")
    if isinstance(paths, str):
        paths = (paths,)
    tree = build_tree(paths, "paths")
    if not tree:
        raise ValueError("paths is empty: give at least one dotted path such as 'ip'")

    if mode == "remove":
        if salt is not None:
            raise ValueError("salt is only used with mode='hash'")

        leaf: Leaf = dict.__delitem__  # a C call: cheaper than a function of ours
    else:
        if salt is None:
            raise ValueError("mode='hash' needs salt= (bytes or str): a secret, stable key")
        digest = _hmac_sha256(_salt_bytes(salt))
        memo: Dict[str, str] = {}

        def hash_in_place(container: Dict[str, Any], key: str) -> None:
            value = container[key]
            if value is None:
                return
            if type(value) is str:
                hashed = memo.get(value)
                if hashed is None:
                    hashed = digest(value.encode())
                    if len(memo) >= _HASH_MEMO:
                        memo.clear()
                    memo[value] = hashed
                container[key] = hashed
            else:
                container[key] = digest(_message(value))

        leaf = hash_in_place

    return ready_made(compile_rewrite(tree, leaf), "redact_middleware")


def _allowed(value: Mapping[str, Any], names: frozenset[str], group: bool) -> Any:
    if value.keys() <= names:
        return value
    if not group:
        kept = dict(value)  # a C-level copy, then the few extra keys out: faster than a filter
        for key in value.keys() - names:
            del kept[key]
        return kept
    out: Dict[str, Any] = {}
    for key, item in value.items():
        if key in names:
            out[key] = item
        elif type(key) is str and key.startswith("$") and isinstance(item, Mapping):
            out[key] = {k: v for k, v in item.items() if k in names}  # identify operations
    return out


def allow_properties(schema: Mapping[str, Iterable[str]]) -> Middleware:
    """Keep only the listed properties; drop every other key (an allowlist).

    Each group named in ``schema`` keeps only the listed top-level keys; a group not named is
    left alone. In ``user_properties`` / ``group_properties``, identify operations
    (``$set``, ``$setOnce``, ...) are kept and filtered inside. Nested dicts are copied, never
    changed in place. For per-event-type rules, use ``validate`` with
    ``"additionalProperties": false``.

    Args:
        schema: group -> allowed keys, e.g.
            ``{"event_properties": ["plan", "page"], "user_properties": ["plan"]}``.

    Returns:
        The ``(payload, next)`` middleware.

    Raises:
        ValueError: a group other than ``event_properties``, ``user_properties``,
            ``group_properties``, or an empty schema.
        TypeError: ``schema`` is not a dict, or allowed keys that are not strings.

    Examples:
        >>> client.addEventMiddleware(allow_properties({"event_properties": ["plan", "page"]}))
    """
    if not isinstance(schema, Mapping):
        raise TypeError(f"schema must be a dict of group -> allowed keys, got {schema!r}")
    if not schema:
        raise ValueError("schema is empty: name at least one group, e.g. 'event_properties'")
    groups = []
    for group, names in schema.items():
        if group not in ("event_properties", *PROPERTY_GROUPS):
            raise ValueError(
                f"schema: {group!r} is not a property group "
                "(event_properties, user_properties or group_properties)"
            )
        if isinstance(names, str) or not isinstance(names, Iterable):
            raise TypeError(f"schema[{group!r}] must be a list of keys, got {names!r}")
        allowed = frozenset(names)
        if not all(isinstance(n, str) for n in allowed):
            raise TypeError(
                f"schema[{group!r}] must hold strings, got {sorted(map(repr, allowed))}"
            )
        groups.append((group, allowed, group in PROPERTY_GROUPS))
    plan = tuple(groups)

    def allow_properties_step(event: Event) -> None:
        for group, allowed, operations in plan:
            value = get_field(event, group)
            if isinstance(value, Mapping):
                kept = _allowed(value, allowed, operations)
                if kept is not value:
                    event[group] = kept

    return ready_made(allow_properties_step, "allow_properties_middleware")
