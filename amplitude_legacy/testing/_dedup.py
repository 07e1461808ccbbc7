"""``insert_id`` deduplication for the collector, the way Amplitude does it.

Amplitude keeps one copy of the events that share an ``insert_id`` on the same ``device_id`` (or,
for an event without one, the same ``user_id``) in the same project (API key) within 7 days; the
later copies are acknowledged with 200 but not stored. :class:`Deduplicator` holds that rule. It
is pure (the caller passes the clock) and not thread-safe on its own: the collector calls it
under its lock.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Dict, List, Sequence, Tuple

__all__ = ["DEDUP_WINDOW", "Deduplicator", "dedup_key"]

#: Amplitude's deduplication window: 7 days, in seconds.
DEDUP_WINDOW = 7 * 24 * 3600.0

EventDict = Dict[str, Any]


def dedup_key(api_key: str, event: EventDict) -> Tuple[str, str, str, str] | None:
    """Return the key two copies of an event share, or ``None`` when the event has none.

    Args:
        api_key: The request's API key (deduplication is per project).
        event: A validated event (it has a ``user_id`` or a ``device_id``).

    Returns:
        ``(api_key, "device" | "user", id, insert_id)``, or ``None`` without a string
        ``insert_id``.

    Examples:
        >>> dedup_key("k", {"user_id": "u-1", "device_id": "d-1", "insert_id": "i"})
        ('k', 'device', 'd-1', 'i')
        >>> dedup_key("k", {"user_id": "u-1", "insert_id": "i"})
        ('k', 'user', 'u-1', 'i')
        >>> dedup_key("k", {"user_id": "u-1"}) is None
        True
    """
    insert_id = event.get("insert_id")
    if type(insert_id) is not str or not insert_id:
        return None
    device_id = event.get("device_id")
    if type(device_id) is str and device_id:
        return (api_key, "device", device_id, insert_id)
    # Amplitude derives a missing device_id from the user_id, so the user_id stands in for it.
    return (api_key, "user", str(event.get("user_id")), insert_id)


class Deduplicator:
    """Remembers which events were stored, to absorb later copies within ``window`` seconds.

    Args:
        window: Seconds a stored event absorbs its copies; ``0`` turns deduplication off.
        capacity: Most keys remembered (the oldest are forgotten first); ``None`` for no bound.
    """

    def __init__(self, window: float = DEDUP_WINDOW, capacity: int | None = None) -> None:
        self.window = window
        self.capacity = capacity
        # hash(key) -> arrival time, oldest first. Hashes, not keys: 64-bit SipHash over the
        # key, so two different keys collide with odds of ~1e-19 per pair, and a remembered key
        # costs ~100 bytes whatever the id lengths.
        self._seen: OrderedDict[int, float] = OrderedDict()

    def admit(
        self, api_key: str, events: Sequence[EventDict], now: float
    ) -> Tuple[List[EventDict], List[EventDict]]:
        """Split ``events`` into the ones to store and the copies to absorb; remember the former.

        A copy is absorbed when its key was stored less than ``window`` seconds before ``now``,
        earlier in this request included. An absorbed copy does not extend the window.

        Args:
            api_key: The request's API key.
            events: The validated events of one accepted request.
            now: The current ``time.monotonic()`` (never decreasing between calls).

        Returns:
            ``(stored, absorbed)``, each in request order.
        """
        if self.window <= 0:
            return list(events), []
        seen = self._seen
        horizon = now - self.window
        while seen:
            oldest = next(iter(seen.values()))
            if oldest > horizon:
                break
            seen.popitem(last=False)
        stored: List[EventDict] = []
        absorbed: List[EventDict] = []
        for event in events:
            key = dedup_key(api_key, event)
            if key is None:
                stored.append(event)
                continue
            digest = hash(key)
            if digest in seen:
                absorbed.append(event)
                continue
            seen[digest] = now
            stored.append(event)
        if self.capacity is not None:
            while len(seen) > self.capacity:
                seen.popitem(last=False)
        return stored, absorbed

    def clear(self) -> None:
        """Forget every stored key."""
        self._seen.clear()

    def __len__(self) -> int:
        return len(self._seen)
