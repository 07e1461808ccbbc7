"""What the collector remembers: the recorded requests and events, and counts of everything.

By default everything is kept (tests read it back). With ``keep=N`` only the N most recent events
and requests are kept (the requests also within a byte budget) while the counts cover every
request, so a long-running collector holds flat memory. Pure and not thread-safe on its own: the
collector calls it under its lock.
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass
from typing import Any, Deque, Dict, List

__all__ = ["CapturedRequest", "Records", "footprint"]

EventDict = Dict[str, Any]

#: With ``keep=N``, the kept requests hold at most about this many bytes (see ``footprint``).
KEEP_BYTES = 16 * 1024 * 1024
#: Parsed JSON takes about this many times the memory of its text (dicts, small strings).
PARSED_FACTOR = 5
#: Distinct event types counted one by one; later new types are counted under OTHER_TYPES.
MAX_COUNTED_TYPES = 1000
OTHER_TYPES = "(other event types)"


def footprint(raw_bytes: int, json_bytes: int) -> int:
    """Estimate the memory a recorded request holds: its raw body and its parsed JSON.

    Args:
        raw_bytes: Length of the body as received.
        json_bytes: Length of the decoded JSON text that was parsed (0 when none was).

    Returns:
        The estimate in bytes.
    """
    return raw_bytes + PARSED_FACTOR * json_bytes


@dataclass(frozen=True)
class CapturedRequest:
    """One request the collector received.

    Attributes:
        path: The request target as sent (path plus any query string).
        headers: Request headers, names lower-cased.
        body: The body bytes as received (still gzip-encoded when the client compressed it).
        payload: The parsed JSON body, or ``None`` when it is empty or not JSON.
        status: The HTTP status answered, or ``0`` when the connection was closed without an
            answer (:class:`Drop`, :class:`AcceptThenDrop`, server down).
        time: ``time.monotonic()`` when the request was fully read.
    """

    path: str
    headers: Dict[str, str]
    body: bytes
    payload: Any
    status: int
    time: float


class Records:
    """Recorded requests and events plus counts.

    Args:
        keep: Most events and most requests kept (the most recent ones); ``None`` keeps all.
        keep_bytes: With ``keep``, the most bytes the kept requests may hold (their
            :func:`footprint`).
    """

    def __init__(self, keep: int | None = None, keep_bytes: int = KEEP_BYTES) -> None:
        self.keep = keep
        self.keep_bytes = keep_bytes
        self.events: Deque[EventDict] = deque(maxlen=keep)
        self.requests: Deque[CapturedRequest] = deque()
        self._sizes: Deque[int] = deque()  # footprint of each kept request
        self._kept_bytes = 0
        self.clear()

    def clear(self) -> None:
        """Forget every record and reset every count."""
        self.events.clear()
        self.requests.clear()
        self._sizes.clear()
        self._kept_bytes = 0
        self.events_total = 0  # stored events, kept or not
        self.requests_total = 0
        self.absorbed = 0
        self.by_status: Counter[int] = Counter()
        self.by_type: Counter[str] = Counter()
        self.rejected: Counter[str] = Counter()
        self.busy = 0

    def add_request(self, request: CapturedRequest, size: int, rejection: str | None) -> None:
        """Record a request that holds ``size`` bytes; count ``rejection`` if it was one.

        Args:
            request: The request as recorded.
            size: Its :func:`footprint`.
            rejection: Why nothing of it was stored (a short reason), or ``None``.
        """
        self.requests_total += 1
        self.by_status[request.status] += 1
        if rejection is not None:
            self.rejected[rejection] += 1
        self.requests.append(request)
        if self.keep is None:
            return
        self._sizes.append(size)
        self._kept_bytes += size
        while self.requests and (
            len(self.requests) > self.keep
            or (self._kept_bytes > self.keep_bytes and len(self.requests) > 1)
        ):
            self.requests.popleft()
            self._kept_bytes -= self._sizes.popleft()

    def add_events(self, events: List[EventDict]) -> None:
        """Record stored events (the oldest kept ones make room with ``keep``)."""
        by_type = self.by_type
        for event in events:
            name = event.get("event_type")
            key = name if type(name) is str else str(name)
            if key not in by_type and len(by_type) >= MAX_COUNTED_TYPES:
                key = OTHER_TYPES
            by_type[key] += 1
        self.events_total += len(events)
        self.events.extend(events)  # a deque bounded by keep drops the oldest itself

    def counts(self) -> Dict[str, Any]:
        """Return the counts as a JSON-ready dict (see :meth:`Collector.counts`)."""
        return {
            "requests": self.requests_total,
            "by_status": {str(status): n for status, n in sorted(self.by_status.items())},
            "events_stored": self.events_total,
            "duplicates_absorbed": self.absorbed,
            "events_by_type": dict(self.by_type.most_common()),
            "rejected": dict(self.rejected.most_common()),
            "busy": self.busy,
            "kept_events": len(self.events),
            "kept_requests": len(self.requests),
        }
