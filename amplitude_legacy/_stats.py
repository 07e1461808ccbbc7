"""Counters of what happened to events, and the once-per-burst drop log."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Dict, Mapping

from amplitude_legacy._response import Response, Status

__all__ = ["ClientStats", "DropLog", "FlushResult"]

log = logging.getLogger("amplitude_legacy")


@dataclass(frozen=True)
class ClientStats:
    """A snapshot of a client's counters (``client.stats()``).

    Attributes:
        delivered: events Amplitude accepted.
        dropped: events not delivered, by reason (``DropReason`` values).
        pending: events accepted by ``logEvent`` and not yet delivered or dropped.
        requests: HTTP requests made.
        retries: requests that were retries of an earlier failure.
        callback_errors: exceptions raised by ``onDrop``/``onRetry`` (logged and ignored).
        plugin_errors: exceptions raised by plugins (logged; the plugin is skipped).
        spooled: events written to the spool (``spoolPath``) after a transient failure.
        destinations: the stats of each destination registered through a routing middleware
            (``amplitude_legacy.middleware.route``), by destination name.
    """

    delivered: int = 0
    dropped: Mapping[str, int] = field(default_factory=dict)
    pending: int = 0
    requests: int = 0
    retries: int = 0
    callback_errors: int = 0
    plugin_errors: int = 0
    spooled: int = 0
    destinations: Mapping[str, ClientStats] = field(default_factory=dict)

    @property
    def dropped_total(self) -> int:
        """All dropped events, whatever the reason."""
        return sum(self.dropped.values())


@dataclass(frozen=True)
class FlushResult:
    """What ``flush(timeout)`` (or ``shutdown``) achieved.

    Attributes:
        sent: events delivered while the call waited.
        dropped: events dropped while the call waited.
        pending: events logged before the call that were neither delivered nor dropped when
            it returned (non-zero only on timeout).
        timed_out: whether the timeout passed first.
    """

    sent: int = 0
    dropped: int = 0
    pending: int = 0
    timed_out: bool = False

    @property
    def status(self) -> Status:
        """A legacy-style summary: ``success``, ``skipped`` (nothing to do) or ``failed``."""
        if self.pending or self.timed_out or self.dropped:
            return Status.FAILED
        return Status.SUCCESS if self.sent else Status.SKIPPED

    @property
    def response(self) -> Response:
        """The summary as a legacy ``Response`` (what the legacy ``flush()`` resolved with)."""
        return Response(self.status, 200 if self.status is Status.SUCCESS else 0)


class Counters:
    """Thread-safe counters; the worker and caller threads both write drops."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.delivered = 0
        self.requests = 0
        self.retries = 0
        self.callback_errors = 0
        self.plugin_errors = 0
        self.spooled = 0
        self.dropped: Dict[str, int] = {}

    def drop(self, reason: str, count: int) -> None:
        """Count ``count`` events dropped for ``reason``."""
        with self._lock:
            self.dropped[reason] = self.dropped.get(reason, 0) + count

    def dropped_total(self) -> int:
        """All drops so far."""
        with self._lock:
            return sum(self.dropped.values())

    def snapshot(
        self, pending: int, destinations: Mapping[str, ClientStats] | None = None
    ) -> ClientStats:
        """Freeze the counters into a ``ClientStats``."""
        with self._lock:
            return ClientStats(
                self.delivered,
                dict(self.dropped),
                pending,
                self.requests,
                self.retries,
                self.callback_errors,
                self.plugin_errors,
                self.spooled,
                dict(destinations or {}),
            )


class DropLog:
    """Logs dropped events once per burst: the first drop of a reason at once, then at most one
    line per ``interval`` seconds with the count since (never one line per event)."""

    def __init__(self, interval: float = 10.0) -> None:
        self._interval = interval
        self._lock = threading.Lock()
        self._last: Dict[str, float] = {}
        self._suppressed: Dict[str, int] = {}

    def record(self, reason: str, count: int, detail: str | None = None) -> None:
        """Note ``count`` events dropped for ``reason``; log if this burst was not logged yet."""
        now = time.monotonic()
        with self._lock:
            last = self._last.get(reason)
            if last is not None and now - last < self._interval:
                self._suppressed[reason] = self._suppressed.get(reason, 0) + count
                return
            self._last[reason] = now
            total = count + self._suppressed.pop(reason, 0)
        log.warning(
            "amplitude_legacy dropped %d event(s): %s%s",
            total,
            reason,
            f" ({detail})" if detail else "",
        )

    def flush(self) -> None:
        """Log the counts still held back (at shutdown)."""
        with self._lock:
            held, self._suppressed = self._suppressed, {}
        for reason, count in held.items():
            log.warning("amplitude_legacy dropped %d more event(s): %s", count, reason)
