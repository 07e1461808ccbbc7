"""Per-user / per-device throttling for the collector (the API's 429 answers).

A sliding window per (api_key, "user"/"device", id) holding the accepted event counts with their
arrival times. Only accepted events are counted, so a client that backs off recovers. Not
thread-safe on its own: the collector calls :meth:`RateLimiter.admit` under its lock so the check
and the recording are one step.
"""

from __future__ import annotations

from collections import deque
from typing import Any, Deque, Dict, List, Sequence, Tuple

from amplitude_legacy.testing._script import rate_limit_body

__all__ = ["RateLimiter"]

_Key = Tuple[str, str, str]  # (api_key, "user" | "device", id)


class RateLimiter:
    """Sliding-window events-per-second limiter keyed by user and by device.

    Args:
        eps_threshold: Events per second allowed per user or device, averaged over the window.
        window: Window length in seconds (30 in the real API).
    """

    def __init__(self, eps_threshold: float, window: float = 30.0) -> None:
        self.eps_threshold = eps_threshold
        self.window = window
        self._hits: Dict[_Key, Deque[Tuple[float, int]]] = {}
        self._totals: Dict[_Key, int] = {}

    def admit(
        self, path: str, api_key: str, events: Sequence[Dict[str, Any]], now: float
    ) -> dict[str, Any] | None:
        """Count ``events`` if no user or device goes over the threshold, else refuse them all.

        Args:
            path: Endpoint path (shapes the 429 body).
            api_key: The request's API key (windows are per project).
            events: The validated events of one request.
            now: Current ``time.monotonic()``.

        Returns:
            ``None`` when the events were admitted (and counted), else the 429 body; a refused
            request is not counted.
        """
        wanted: Dict[_Key, int] = {}
        for event in events:
            for kind, field in (("user", "user_id"), ("device", "device_id")):
                value = event.get(field)
                if value:
                    key = (api_key, kind, value)
                    wanted[key] = wanted.get(key, 0) + 1

        throttled: Dict[str, Dict[str, int]] = {"user": {}, "device": {}}
        for key, count in wanted.items():
            rate = (self._total(key, now) + count) / self.window
            if rate > self.eps_threshold:
                throttled[key[1]][key[2]] = int(rate)

        users, devices = throttled["user"], throttled["device"]
        if not users and not devices:
            for key, count in wanted.items():
                self._hits.setdefault(key, deque()).append((now, count))
                self._totals[key] = self._totals.get(key, 0) + count
            return None
        indexes: List[int] = [
            i
            for i, event in enumerate(events)
            if event.get("user_id") in users or event.get("device_id") in devices
        ]
        return rate_limit_body(path, self.eps_threshold, devices, users, indexes)

    def clear(self) -> None:
        """Forget every window."""
        self._hits.clear()
        self._totals.clear()

    def _total(self, key: _Key, now: float) -> int:
        hits = self._hits.get(key)
        if hits is None:
            return 0
        horizon = now - self.window
        total = self._totals[key]
        while hits and hits[0][0] <= horizon:
            total -= hits.popleft()[1]
        if not hits:
            # Drop empty windows so a long run with many ids does not grow without bound.
            del self._hits[key], self._totals[key]
            return 0
        self._totals[key] = total
        return total
