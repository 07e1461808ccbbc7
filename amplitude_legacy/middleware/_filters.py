"""Filtering: ``drop_events``, ``keep_events``, ``sample``, ``drop_bots``."""

from __future__ import annotations

import hashlib
import re
from typing import Any, Callable, Iterable, Mapping, Sequence, Tuple, Union

from amplitude_legacy._event import Event
from amplitude_legacy._middleware import Middleware, Stop, ready_made
from amplitude_legacy.middleware._common import (
    EventPredicate,
    Reason,
    Where,
    compile_where,
    event_type_test,
    get_field,
)
from amplitude_legacy.middleware._paths import parse_path, read_path

__all__ = ["BOT_PATTERN", "drop_bots", "drop_events", "keep_events", "sample", "sample_bucket"]

SampleKey = Union[str, Sequence[str], Callable[[Event], Any]]
"""What ``sample`` buckets by: a field, fields tried in order, or a function of the event."""

#: How many sampling decisions ``sample`` remembers (ids repeat: most calls skip the hash).
_SAMPLE_MEMO = 65536

BOT_PATTERN = (
    r"bot\b|bot[/;)_-]|crawl|spider|slurp|headless|lighthouse|pingdom|uptimerobot|statuscake"
    r"|facebookexternalhit|python-requests|python-urllib|aiohttp|curl/|wget/|go-http-client"
    r"|okhttp|apache-httpclient|node-fetch|axios/|httpx/"
)
"""What ``drop_bots`` looks for in a user agent (case-insensitive): crawlers, monitors,
headless browsers and HTTP libraries. A heuristic: pass ``pattern=`` to use your own."""


def _flatten(event_types: Tuple[Any, ...]) -> Tuple[Any, ...]:
    # drop_events(IGNORED) with a set or list works like drop_events(*IGNORED).
    out: list[Any] = []
    for item in event_types:
        if isinstance(item, Iterable) and not isinstance(item, (str, Mapping)):
            out.extend(item)
        else:
            out.append(item)
    return tuple(out)


def _event_test(
    event_types: Tuple[Any, ...], where: Where | None, factory: str
) -> Tuple[EventPredicate, str]:
    """One predicate for ``event_types`` and ``where`` (both must hold), and a description."""
    types = _flatten(event_types)
    if not types and where is None:
        raise ValueError(f"{factory}() needs event types, glob patterns or where=")
    predicate = compile_where(where) if where is not None else None
    described = ", ".join(repr(t) for t in types[:3]) + (", ..." if len(types) > 3 else "")
    if not types:
        assert predicate is not None
        return predicate, f"{factory}(where=...)"
    by_type = event_type_test(types, "event_types")
    if predicate is None:
        return by_type, f"{factory}({described})"

    def by_type_and_where(event: Event) -> bool:
        return by_type(event) and bool(predicate(event))

    return by_type_and_where, f"{factory}({described}, where=...)"


def _check_reason(reason: object) -> str:
    if not isinstance(reason, str) or not reason:
        raise ValueError(f"reason must be a non-empty string, got {reason!r}")
    return reason


def drop_events(
    *event_types: str | Iterable[str], where: Where | None = None, reason: str = Reason.FILTERED
) -> Middleware:
    """Drop the events that match; pass the others on.

    An event matches when its ``event_type`` is one of ``event_types`` (exact names, or glob
    patterns with ``*``, ``?``, ``[...]``; case-sensitive) **and** ``where`` holds, when given.
    A dropped event's future resolves ``skipped`` with reason ``reason``, counted in
    ``client.stats().dropped[reason]`` and passed to ``onDrop``.

    Args:
        *event_types: names or patterns (a list or set of them works too).
        where: a predicate over the event (``lambda event: event.user_id in TEST_USERS``), or
            more names/patterns.
        reason: the drop reason (default ``"filtered"``); e.g. ``"health_check"``.

    Returns:
        The ``(payload, next)`` middleware.

    Raises:
        ValueError: neither event types nor ``where``; an empty ``reason``.
        TypeError: an event type that is not a string; a ``where`` of another kind.

    Examples:
        >>> client.addEventMiddleware(drop_events("Health Check", "debug.*"))
        >>> client.addEventMiddleware(drop_events(where=lambda e: e.user_id == "load-tester"))
    """
    reason = _check_reason(reason)
    match, detail = _event_test(event_types, where, "drop_events")
    stopped = Stop(reason, detail)

    def drop_events_step(event: Event) -> Stop | None:
        return stopped if match(event) else None

    return ready_made(drop_events_step, "drop_events_middleware")


def keep_events(
    *event_types: str | Iterable[str], where: Where | None = None, reason: str = Reason.FILTERED
) -> Middleware:
    """Keep only the events that match; drop the others (reason ``"filtered"``).

    The same matching as ``drop_events``, inverted. List ``"$identify"`` (and
    ``"$groupidentify"``) too if you call ``identify``: they are events like any other here.

    Args:
        *event_types: names or patterns to keep (a list or set of them works too).
        where: a predicate the kept events must also satisfy, or more names/patterns.
        reason: the drop reason for the others (default ``"filtered"``).

    Returns:
        The ``(payload, next)`` middleware.

    Raises:
        ValueError: neither event types nor ``where``; an empty ``reason``.
        TypeError: an event type that is not a string; a ``where`` of another kind.

    Examples:
        >>> client.addEventMiddleware(keep_events("Checkout *", "$identify"))
    """
    reason = _check_reason(reason)
    match, detail = _event_test(event_types, where, "keep_events")
    stopped = Stop(reason, "not in " + detail)

    def keep_events_step(event: Event) -> Stop | None:
        return None if match(event) else stopped

    return ready_made(keep_events_step, "keep_events_middleware")


def sample_bucket(key: str) -> int:
    """The bucket ``sample`` puts an id in: 0 <= bucket < 2**64, the same in every process.

    The first 8 bytes of SHA-256 of the UTF-8 id, read as an unsigned big-endian integer. An
    event is kept when ``bucket < round(rate * 2**64)``, so the users kept at rate 0.1 are also
    kept at 0.2, and any other language can reproduce the choice.

    Args:
        key: the id (``user_id``, ``device_id``...).

    Returns:
        The bucket.

    Examples:
        >>> sample_bucket("user-123") < round(0.5 * 2**64)
        True
    """
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big")


def _sample_key(by: SampleKey) -> Callable[[Event], Any]:
    if callable(by):
        return by
    if isinstance(by, str):
        if not by:
            raise ValueError("by must name an event field, got ''")
        field = by

        def one_field(event: Event) -> Any:
            return get_field(event, field)

        return one_field
    if isinstance(by, Sequence) and by and all(isinstance(f, str) and f for f in by):
        fields = tuple(by)

        def first_present(event: Event) -> Any:
            for name in fields:
                value = get_field(event, name)
                if value is not None:
                    return value
            return None

        return first_present
    raise TypeError(
        f"by must be a field name, a list of field names or a function of the event, got {by!r}"
    )


def sample(
    rate: float,
    by: SampleKey = "user_id",
    *,
    where: Where | None = None,
    reason: str = Reason.SAMPLED_OUT,
) -> Middleware:
    """Keep a fixed share of users (or devices): all of a user's events, or none of them.

    The decision is a stable hash of the id (``sample_bucket``), not Python's ``hash()`` (which
    changes from process to process): every process, host and run keeps the same users. Events
    without the id (or with one that is not a string) are kept: they cannot be bucketed.
    Dropped events resolve ``skipped`` with reason ``"sampled_out"``.

    Args:
        rate: the share to keep, from 0.0 (none) to 1.0 (all).
        by: the field to bucket by (``"user_id"``), several tried in order
            (``("user_id", "device_id")``), or a function of the event returning the id.
        where: sample only these events (names, glob patterns or a predicate, as in
            ``drop_events``); the others pass untouched.
        reason: the drop reason (default ``"sampled_out"``).

    Returns:
        The ``(payload, next)`` middleware.

    Raises:
        TypeError: ``rate`` is not a number; ``by`` or ``where`` of an unknown kind.
        ValueError: ``rate`` outside [0, 1]; an empty ``reason``.

    Examples:
        >>> client.addEventMiddleware(sample(0.1, by=("user_id", "device_id")))
        >>> client.addEventMiddleware(sample(0.05, where="Search Result *"))
    """
    if not isinstance(rate, (int, float)) or isinstance(rate, bool):
        raise TypeError(f"rate must be a number from 0 to 1, got {rate!r}")
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"rate must be from 0 to 1, got {rate!r}")
    reason = _check_reason(reason)
    key_of = _sample_key(by)
    field = by if isinstance(by, str) else None  # the common case, read inline
    only = compile_where(where) if where is not None else None
    threshold = round(rate * 2**64)
    stopped = Stop(reason, f"sample({rate})")
    memo: dict[str, bool] = {}
    sha256 = hashlib.sha256

    def sample_step(event: Event) -> Stop | None:
        if only is not None and not only(event):
            return None
        key = get_field(event, field) if field is not None else key_of(event)
        if type(key) is not str:
            return None
        keep = memo.get(key)
        if keep is None:
            keep = int.from_bytes(sha256(key.encode()).digest()[:8], "big") < threshold
            if len(memo) >= _SAMPLE_MEMO:
                memo.clear()  # cheaper than an LRU, and ids that repeat come back at once
            memo[key] = keep
        return None if keep else stopped

    return ready_made(sample_step, "sample_middleware")


def drop_bots(
    user_agent_field: str = "user_agent",
    *,
    pattern: str | re.Pattern[str] | None = None,
    reason: str = Reason.BOT,
) -> Middleware:
    """Drop events whose user agent looks like a crawler, a monitor or an HTTP library.

    Events without a user agent are kept.

    Args:
        user_agent_field: where the user agent is: a top-level field (``"user_agent"``) or a
            dotted path (``"event_properties.user_agent"``).
        pattern: a regular expression (searched, case-insensitive when given as a string)
            instead of ``BOT_PATTERN``.
        reason: the drop reason (default ``"bot"``).

    Returns:
        The ``(payload, next)`` middleware.

    Raises:
        ValueError: an empty field path or ``reason``; a pattern that does not compile.
        TypeError: ``pattern`` is neither a string nor a compiled pattern.

    Examples:
        >>> client.addEventMiddleware(drop_bots("event_properties.user_agent"))
    """
    path = parse_path(user_agent_field, "user_agent_field")
    reason = _check_reason(reason)
    lower = pattern is None
    if pattern is None:
        # Searching lower-cased text is ~10x faster than re.IGNORECASE on a long alternation.
        compiled = re.compile(BOT_PATTERN)
    elif isinstance(pattern, str):
        try:
            compiled = re.compile(pattern, re.IGNORECASE)
        except re.error as exc:
            raise ValueError(f"pattern does not compile: {exc}") from None
    elif isinstance(pattern, re.Pattern):
        compiled = pattern
    else:
        raise TypeError(f"pattern must be a string or re.Pattern, got {type(pattern).__name__}")
    search = compiled.search
    stopped = Stop(reason, f"drop_bots({user_agent_field!r})")

    def drop_bots_step(event: Event) -> Stop | None:
        agent = read_path(event, path)
        if type(agent) is str and search(agent.lower() if lower else agent) is not None:
            return stopped
        return None

    return ready_made(drop_bots_step, "drop_bots_middleware")
