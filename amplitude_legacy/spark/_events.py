"""Rows to events, and what an outcome means. Pure Python.

Nothing here imports PySpark: this module runs on executors (inside each task) and in fast
unit tests. ``_dataframe.py`` turns each row into a JSON string in the JVM, followed by its
own id when it has one (:func:`split_line`); :func:`hashed_insert_id` gives the others theirs,
and :func:`event_from_json` turns the two into the event that is logged.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterable, Mapping, Optional, Sequence, Tuple

from amplitude_legacy._decoding import orjson_parser
from amplitude_legacy._event import EVENT_FIELDS

__all__ = [
    "EVENT_COLUMNS",
    "INSERT_ID_NAMESPACE",
    "OBJECT_FIELDS",
    "Outcome",
    "Summary",
    "event_from_json",
    "hashed_insert_id",
    "outcome_kind",
    "row_loader",
    "split_line",
]

#: The columns a DataFrame may have: the HTTP V2 event fields, plus the one documented flag
#: that is not an ``Event`` attribute.
EVENT_COLUMNS: Tuple[str, ...] = (*EVENT_FIELDS, "$skip_user_properties_sync")

#: Fields that are JSON objects on the wire. A string column of that name is parsed as JSON.
OBJECT_FIELDS: Tuple[str, ...] = (
    "event_properties",
    "user_properties",
    "groups",
    "group_properties",
    "plan",
    "ingestion_metadata",
)

#: Prefixed to the canonical JSON before hashing, so these ids never collide with ids another
#: scheme derives from the same content. Changing it changes every id (a re-run would then
#: duplicate a backfill), hence the version suffix.
INSERT_ID_NAMESPACE = "amplitude_legacy.spark/insert_id/v1\n"

_NAMESPACE = INSERT_ID_NAMESPACE.encode()
#: The variant digit for each hex digit (bits 10, then the digit's low two bits): a lookup,
#: as the JVM's ``translate`` does it, costs a third of ``int(digit, 16)`` per row.
_VARIANT = {d: "89ab"[int(d, 16) & 3] for d in "0123456789abcdef"}

#: ``(insert_id, status, reason, status_code, error)``: one row of the outcomes DataFrame.
Outcome = Tuple[Optional[str], str, Optional[str], int, Optional[str]]

#: Reasons that no retry of the same event can fix: dead-lettered by ``foreach_batch``.
_REJECTED = frozenset({"invalid", "payload_too_large", "rate_limited_quota", "middleware_error"})


def hashed_insert_id(event_json: str) -> str:
    """``SHA-256(INSERT_ID_NAMESPACE + event JSON)``, its first 128 bits laid out as a UUID.

    The same id as ``_dataframe._hashed_id`` computes in the JVM for ``insert_ids`` (UTF-8
    bytes of the same string); here, in the task, it costs the JVM nothing.

    Args:
        event_json: the row's canonical JSON, as the JVM wrote it.

    Returns:
        The id: version nibble 8 (RFC 9562 "custom"), variant bits 10.
    """
    h = hashlib.sha256(_NAMESPACE + event_json.encode()).hexdigest()
    return f"{h[:8]}-{h[8:12]}-8{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:32]}"


def split_line(line: str, hash_ids: bool) -> Tuple[str, str | None]:
    """One row as the JVM hands it over: ``event JSON``, then ``"\n" + id`` when it has one.

    The JSON has no raw line break (the JVM escapes them in strings), so the first one ends
    it; the id after it may hold anything, line breaks included.

    Args:
        line: the row.
        hash_ids: give a row without an id its content hash (else ``None``: the row's
            ``insert_id_column`` value was null).

    Returns:
        ``(event JSON, insert_id)``.
    """
    event_json, sep, insert_id = line.partition("\n")
    if sep:
        return event_json, insert_id
    return event_json, hashed_insert_id(event_json) if hash_ids else None


def row_loader(big_ints: bool) -> Callable[[str], Any]:
    """The parser for rows the JVM wrote: orjson wherever it reads what ``json.loads`` reads.

    orjson parses a row about four times faster than ``json.loads`` (see ``_decoding`` for
    where the two differ). Rows orjson does not decide go to ``json.loads``, which reads them
    or says why not. Without orjson (the ``speed`` extra), ``json.loads``.

    Args:
        big_ints: the rows may hold integers beyond 64 bits (the DataFrame has a decimal
            column wider than 18 digits); only then is each row checked for long runs of
            digits.

    Returns:
        ``loads(text)``.
    """
    fast = orjson_parser(big_ints)
    if fast is None:
        return json.loads
    slow = json.loads

    def loads(text: str) -> Any:
        try:
            return fast(text)
        except ValueError:
            return slow(text)

    return loads


_TOO_DEEP = "JSON nested too deeply to parse (the API takes 40 levels)"


def event_from_json(
    line: str,
    insert_id: str | None,
    json_fields: Sequence[str] = OBJECT_FIELDS,
    loads: Callable[[str], Any] = json.loads,
) -> Tuple[Dict[str, Any], str | None]:
    """Parse one row (as JSON) into ``(event, problem)``; the event carries ``insert_id``.

    String values of the object fields in ``json_fields`` are parsed as JSON, so a JSON-string
    column and a map or struct column are sent the same way.

    Args:
        line: the row as a JSON object, null columns left out.
        insert_id: the row's id (``None`` when its ``insert_id_column`` value is null).
        json_fields: the object fields that may hold JSON strings (the driver passes only the
            string columns among ``OBJECT_FIELDS``: usually none, which saves the lookups).
        loads: parses ``line`` (``row_loader``); the JSON-string fields, which the JVM did
            not write, always go through ``json.loads``.

    Returns:
        The event and ``None``; or, for a row that cannot be sent, what the row holds and
        the problem (the row's outcome is ``invalid``).
    """
    try:
        event: Dict[str, Any] = loads(line)
    except RecursionError:  # json.loads near Python's recursion limit: never a failed task
        return {}, f"Invalid event: {_TOO_DEEP}"
    for name in json_fields:
        value = event.get(name)
        if type(value) is str:
            try:
                event[name] = json.loads(value)
            except ValueError as exc:
                return event, f"Invalid event: column {name!r} is not valid JSON ({exc})"
            except RecursionError:
                return event, f"Invalid event: column {name!r} is {_TOO_DEEP}"
    if insert_id is None:
        return event, "Invalid event: its insert_id_column value is null"
    event["insert_id"] = insert_id
    return event, None


def outcome_kind(status: str, reason: str | None) -> str:
    """Sort an outcome into ``delivered``, ``skipped``, ``rejected`` or ``failed``.

    ``skipped``: stopped on purpose (a middleware did not call ``next`` or dropped it, opt-out).
    ``rejected``: no retry can fix it (invalid, too large, over the daily quota, a middleware
    raised). ``failed``: everything else, which a later attempt may deliver (retries
    exhausted, shutdown timeout, queue full), and an invalid API key (fix it, then re-run).

    Args:
        status: the ``Response.status`` value (``"success"``, ``"invalid"``, ...).
        reason: the ``Response.reason`` value.

    Returns:
        The kind, one of the four words above.
    """
    if status == "success":
        return "delivered"
    if status == "skipped":
        return "skipped"
    if reason in _REJECTED:
        return "rejected"
    return "failed"


@dataclass(frozen=True)
class Summary:
    """How many events ended which way: counts by ``(status, reason)``.

    Attributes:
        counts: events per ``(status, reason)``; ``reason`` is ``None`` when delivered.

    Examples:
        >>> s = Summary({("success", None): 98, ("invalid", "invalid"): 2})
        >>> s.total, s.delivered, s.rejected, str(s)
        (100, 98, 2, '100 events: 98 success, 2 invalid (invalid)')
    """

    counts: Mapping[Tuple[str, str | None], int] = field(default_factory=dict)

    @classmethod
    def of(cls, rows: Iterable[Tuple[str, str | None, int]]) -> Summary:
        """Build a summary from ``(status, reason, count)`` rows (several rows may repeat a key).

        Args:
            rows: the grouped outcomes.

        Returns:
            The summary.
        """
        counts: Dict[Tuple[str, str | None], int] = {}
        for status, reason, n in rows:
            counts[(status, reason)] = counts.get((status, reason), 0) + n
        return cls(counts)

    def _count(self, kind: str) -> int:
        return sum(n for (s, r), n in self.counts.items() if outcome_kind(s, r) == kind)

    @property
    def total(self) -> int:
        """Every event, one per input row."""
        return sum(self.counts.values())

    @property
    def delivered(self) -> int:
        """Events Amplitude accepted."""
        return self._count("delivered")

    @property
    def skipped(self) -> int:
        """Events stopped on purpose (middleware, opt-out): not a failure."""
        return self._count("skipped")

    @property
    def rejected(self) -> int:
        """Events no retry can deliver (invalid, too large, over quota, middleware raised)."""
        return self._count("rejected")

    @property
    def failed(self) -> int:
        """Events a later attempt may deliver (retries exhausted, ...) or a bad API key."""
        return self._count("failed")

    def __str__(self) -> str:
        parts = [
            f"{n:,} {status}" + (f" ({reason})" if reason else "")
            for (status, reason), n in sorted(
                self.counts.items(), key=lambda item: (-item[1], item[0][0], item[0][1] or "")
            )
        ]
        return f"{self.total:,} events" + (": " + ", ".join(parts) if parts else "")
