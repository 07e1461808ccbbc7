"""Counters of what happened to events, and the once-per-burst drop log."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Dict, Mapping, Tuple

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
        unknown: events whose request was on the wire when ``shutdown`` ran out of time: the
            server may or may not have them (their futures say ``Status.UNKNOWN``). Neither
            delivered nor dropped; a resend would be deduplicated by ``insert_id``.
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
    unknown: int = 0
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
    """A client's counters. Every change takes the lock: the callers' threads (drops before
    the queue) and the worker (everything after) write them, and ``delivered + dropped``
    must add up exactly."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Zero, with a new lock (a forked child starts its own counts)."""
        self._lock = threading.Lock()
        self.delivered = 0
        self.requests = 0
        self.retries = 0
        self.callback_errors = 0
        self.plugin_errors = 0
        self.spooled = 0
        self.unknown = 0
        self.dropped: Dict[str, int] = {}

    def drop(self, reason: str, count: int) -> None:
        """Count ``count`` events dropped for ``reason``."""
        with self._lock:
            self.dropped[reason] = self.dropped.get(reason, 0) + count

    def add_delivered(self, count: int) -> None:
        """Count ``count`` events Amplitude accepted."""
        with self._lock:
            self.delivered += count

    def add_request(self, *, retry: bool) -> None:
        """Count one request (and one retry, when it was one)."""
        with self._lock:
            self.requests += 1
            self.retries += retry

    def add_spooled(self, count: int) -> None:
        """Count ``count`` events kept in the spool."""
        with self._lock:
            self.spooled += count

    def add_unknown(self, count: int) -> None:
        """Count ``count`` events whose request got no answer before shutdown's deadline."""
        with self._lock:
            self.unknown += count

    def add_callback_error(self) -> None:
        """Count one exception raised by ``onDrop``/``onRetry``."""
        with self._lock:
            self.callback_errors += 1

    def add_plugin_error(self) -> None:
        """Count one exception raised by a plugin."""
        with self._lock:
            self.plugin_errors += 1

    def totals(self) -> Tuple[int, int]:
        """``(delivered, dropped)`` so far, read together."""
        with self._lock:
            return self.delivered, sum(self.dropped.values())

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
                self.unknown,
                dict(destinations or {}),
            )


class DropLog:
    """Logs dropped events once per burst, never once per event.

    The first drop of a reason is logged at once; later drops of that reason within
    ``interval`` seconds are counted, and their total is logged when the interval ends (a
    daemon timer), at the next drop after it, or at ``flush`` (shutdown), whichever is first.
    """

    def __init__(self, interval: float = 10.0) -> None:
        self._interval = interval
        self.reset()

    def reset(self) -> None:
        """Forget every burst, with a new lock (a forked child logs its own)."""
        self._lock = threading.Lock()
        self._last: Dict[str, float] = {}
        self._suppressed: Dict[str, Tuple[int, str | None]] = {}
        self._timer: threading.Timer | None = None

    def record(self, reason: str, count: int, detail: str | None = None) -> None:
        """Note ``count`` events dropped for ``reason``; log if this burst was not logged yet."""
        now = time.monotonic()
        with self._lock:
            last = self._last.get(reason)
            if last is not None and now - last < self._interval:
                held, seen = self._suppressed.get(reason, (0, None))
                self._suppressed[reason] = (held + count, detail or seen)
                self._arm(last + self._interval - now)
                return
            self._last[reason] = now
            held, _ = self._suppressed.pop(reason, (0, None))
        _warn(count + held, reason, detail, more=False)

    def _arm(self, delay: float) -> None:
        """Make sure the held counts are logged after ``delay`` seconds (lock held)."""
        if self._timer is not None:
            return
        timer = threading.Timer(max(0.0, delay), self.flush)
        timer.daemon = True
        try:
            timer.start()
        except RuntimeError:  # no new threads (interpreter exiting): shutdown flushes
            return
        self._timer = timer

    def flush(self) -> None:
        """Log the counts held back so far (the timer, and shutdown)."""
        now = time.monotonic()
        with self._lock:
            held, self._suppressed = self._suppressed, {}
            for reason in held:
                self._last[reason] = now
            if self._timer is not None and self._timer is not threading.current_thread():
                self._timer.cancel()
            self._timer = None
        for reason, (count, detail) in held.items():
            _warn(count, reason, detail, more=True)


def _warn(count: int, reason: str, detail: str | None, *, more: bool) -> None:
    log.warning(
        "amplitude_legacy dropped %d %sevent(s): %s%s",
        count,
        "more " if more else "",
        reason,
        f" ({detail})" if detail else "",
    )
