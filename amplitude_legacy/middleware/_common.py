"""What every ready-made middleware shares: drop reasons, event matching, burst logging.

Everything that can be decided once is decided when the factory runs (``drop_events(...)``,
``route(...)``), never per event: names go into a ``frozenset``, glob patterns into one compiled
regular expression, and the step of each middleware (``ready_made``) is a closure over those.
"""

from __future__ import annotations

import fnmatch
import logging
import re
import threading
import time
from typing import Any, Callable, Dict, Iterable, Mapping, Union

from amplitude_legacy._event import Event

__all__ = [
    "BurstLog",
    "EventPredicate",
    "Reason",
    "Where",
    "compile_where",
    "event_type_test",
    "get_field",
]

log = logging.getLogger("amplitude_legacy")

EventPredicate = Callable[[Event], bool]
"""A test over one event (an ``Event``: a dict with attribute access)."""

Where = Union[str, Iterable[str], EventPredicate]
"""Which events: an event type or glob pattern (``"Health Check"``, ``"debug.*"``), several of
them, or a predicate over the event (``lambda event: event.country == "FR"``)."""

_GLOB_CHARS = frozenset("*?[")

get_field: Callable[[Any, str], Any] = dict.get
"""``get_field(event, key)``: ``event.get(key)`` for the hot paths. ``Event`` defines
``__getattr__``, which keeps CPython 3.11 from caching method lookups on it: ``event.get`` costs
~0.3 µs more than this call of ``dict.get`` itself. Events are dicts (an ``Event``, or a plain
dict a middleware assigned)."""


class Reason:
    """The drop reasons the ready-made middleware use: keys of ``client.stats().dropped``.

    A dropped event's future resolves ``skipped`` with ``Response.reason`` set to one of
    these, and ``onDrop(events, reason)`` receives it. None of them is a delivery failure.
    """

    FILTERED = "filtered"  #: ``drop_events`` / ``keep_events`` (unless given ``reason=``)
    SAMPLED_OUT = "sampled_out"  #: ``sample``: the user's bucket is outside the rate
    BOT = "bot"  #: ``drop_bots``: the user agent looks like a crawler or a probe
    TRACKING_PLAN = "tracking_plan"  #: ``validate(on_violation="drop")``
    #: ``route(..., copy=False)``: the event went to another destination instead (not lost:
    #: see that destination's counts in ``client.stats().destinations``).
    ROUTED = "routed"


class _TypeSets:
    """Event types sorted by the cheapest test that decides them: exact names (a frozenset),
    ``prefix*`` and ``*suffix`` globs (``str.startswith`` / ``endswith`` with a tuple, a C call
    each) and every other glob in one compiled regular expression (a ``re`` call costs several
    times more, so it is the last resort)."""

    def __init__(self, types: Iterable[str], arg: str) -> None:
        names, prefixes, suffixes, patterns = set(), [], [], []
        for item in types:
            if not isinstance(item, str) or not item:
                raise TypeError(f"{arg} must hold non-empty event type strings, got {item!r}")
            if _GLOB_CHARS.isdisjoint(item):
                names.add(item)
            elif item.endswith("*") and _GLOB_CHARS.isdisjoint(item[:-1]):
                prefixes.append(item[:-1])
            elif item.startswith("*") and _GLOB_CHARS.isdisjoint(item[1:]):
                suffixes.append(item[1:])
            else:
                patterns.append(fnmatch.translate(item))
        self.names = frozenset(names)
        self.prefixes = tuple(prefixes)
        self.suffixes = tuple(suffixes)
        self.regex = re.compile("|".join(f"(?:{p})" for p in patterns)) if patterns else None


def event_type_test(types: Iterable[str], arg: str) -> EventPredicate:
    """A test over an event's ``event_type``: exact names and glob patterns (case-sensitive).

    Args:
        types: names (``"Health Check"``) and ``fnmatch`` patterns (``"debug.*"``, ``"[AB]*"``).
        arg: the argument's name, for error messages.

    Returns:
        ``match(event) -> bool``; an ``event_type`` that is not a string never matches
        (validation rejects that event later, with its own message).

    Raises:
        TypeError: an item is not a non-empty string.
    """
    sets = _TypeSets(types, arg)
    names, prefixes, suffixes = sets.names, sets.prefixes, sets.suffixes
    if sets.regex is None and not suffixes:
        if not prefixes:

            def by_name(event: Event) -> bool:
                event_type = get_field(event, "event_type")
                return type(event_type) is str and event_type in names

            return by_name

        def by_name_or_prefix(event: Event) -> bool:
            event_type = get_field(event, "event_type")
            return type(event_type) is str and (
                event_type in names or event_type.startswith(prefixes)
            )

        return by_name_or_prefix
    search = sets.regex.match if sets.regex is not None else None

    def by_any(event: Event) -> bool:
        event_type = get_field(event, "event_type")
        return type(event_type) is str and (
            event_type in names
            or (bool(prefixes) and event_type.startswith(prefixes))
            or (bool(suffixes) and event_type.endswith(suffixes))
            or (search is not None and search(event_type) is not None)
        )

    return by_any


def compile_where(where: Where, arg: str = "where") -> EventPredicate:
    """Turn any ``Where`` form into one predicate over the event.

    Args:
        where: an event type or pattern, an iterable of them, or a predicate.
        arg: the argument's name, for error messages.

    Returns:
        ``predicate(event) -> bool``.

    Raises:
        TypeError: ``where`` is none of the accepted forms.
        ValueError: an empty iterable (it would match nothing: surely a mistake).
    """
    if callable(where):
        return where
    if isinstance(where, str):
        where = (where,)
    elif not isinstance(where, Iterable) or isinstance(where, Mapping):
        raise TypeError(
            f"{arg} must be an event type, a glob pattern, a list of them or a predicate, "
            f"got {type(where).__name__}"
        )
    types = tuple(where)
    if not types:
        raise ValueError(f"{arg} is empty: give at least one event type or pattern")
    return event_type_test(types, arg)


class BurstLog:
    """Log a warning once per burst per key: the first at once, then at most one line per
    ``interval`` seconds with the count since (never one line per event)."""

    def __init__(self, interval: float = 10.0) -> None:
        self._interval = interval
        self._lock = threading.Lock()
        self._last: Dict[str, float] = {}
        self._held: Dict[str, int] = {}

    def warn(self, key: str, message: str, *args: Any) -> None:
        """Log ``message % args`` for ``key`` unless this burst was logged already."""
        now = time.monotonic()
        with self._lock:
            last = self._last.get(key)
            if last is not None and now - last < self._interval:
                self._held[key] = self._held.get(key, 0) + 1
                return
            self._last[key] = now
            held = self._held.pop(key, 0)
        suffix = f" (and {held} more since the last warning)" if held else ""
        log.warning(message + suffix, *args)
