"""What the worker does next: a pure function of the ledger's state and the clock.

No threads, no I/O, no clock of its own: ``next_step(view)`` reads a ``View`` (a snapshot the
ledger takes under its lock) and returns a ``Step`` and, for ``WAIT``, until when. The rules, in
priority order:

1. ``STOP`` once shutdown asked for it.
2. ``APPLY`` an answer that came back (it frees a request slot and resolves futures).
3. ``PROMOTE`` retries whose time has come (they join the ready batches).
4. No request starts at or after shutdown's deadline; otherwise:
5. ``SUBMIT`` a ready batch while fewer than ``max_in_flight`` requests are on the wire.
6. ``POLL_SPOOL`` or ``FILL`` when a batch may be prepared (a free slot, or ``ahead`` of them):
   new events are due when a flush waits, ``maxCachedEvents`` are queued, or the upload
   interval has passed since the first of them was seen. While requests are on the wire, new
   events go out as soon as they fill a whole request (``batch_size``), and a partial one
   waits for an answer: events that arrive meanwhile make the next request bigger instead of
   making more of them (on a fast network this keeps the cost per event down; on a slow one,
   a burst still fills every slot). Spool batches on the wire do not count here: new events
   never wait behind a backlog. The spool is read when its time has
   come and no retry waits (a server that fails would fail it too); when both are due, the
   spool and new events take turns, and a spool backlog never holds more than half of the
   request slots (at least one): new events always find one free.
7. Otherwise ``WAIT`` until the next timer (the interval, a retry, the spool), or a wake.
"""

from __future__ import annotations

from enum import Enum
from typing import NamedTuple, Tuple

__all__ = ["Step", "View", "next_step"]


class Step(Enum):
    """What the worker does next."""

    STOP = "stop"  #: drain and end
    APPLY = "apply"  #: apply the oldest answer
    PROMOTE = "promote"  #: move due retries to the ready batches
    SUBMIT = "submit"  #: put the next ready batch on the wire
    FILL = "fill"  #: take queued events into a new batch
    POLL_SPOOL = "poll_spool"  #: take spooled events into a new batch
    WAIT = "wait"  #: sleep until the time returned, or a wake


class View(NamedTuple):
    """The ledger's state as the scheduler sees it (times are monotonic seconds)."""

    now: float
    closing: bool = False  #: shutdown asked the worker to stop
    answered: int = 0  #: answers not applied yet
    in_flight: int = 0  #: requests on the wire without an answer
    max_in_flight: int = 1  #: ``maxConcurrentRequests``
    ahead: int = 1  #: batches that may be prepared beyond the free slots
    ready: int = 0  #: batches waiting for a slot
    queued: int = 0  #: events queued or staged, not in a batch yet
    window: float | None = None  #: when the queued events are due by the upload interval
    full: bool = False  #: ``maxCachedEvents`` events are queued
    flushing: bool = False  #: a flush waits
    retry_due: float | None = None  #: the earliest retry's time
    spool_due: float = float("inf")  #: when to look in the spool (inf: no spool)
    spool_turn: bool = False  #: the last batch came from the spool
    spool_batches: int = 0  #: batches from the spool that are ready or on the wire
    batch_size: int = 2000  #: the most events one request carries
    deadline: float = float("inf")  #: shutdown's deadline: no request starts after it


def next_step(view: View) -> Tuple[Step, float | None]:
    """Decide what the worker does now. Pure.

    Returns:
        ``(step, until)``: ``until`` is the monotonic time to wait until for ``WAIT`` (``None``:
        until woken), and ``None`` for every other step.
    """
    now = view.now
    if view.closing:
        return Step.STOP, None
    if view.answered:
        return Step.APPLY, None
    if view.retry_due is not None and view.retry_due <= now:
        return Step.PROMOTE, None
    if now >= view.deadline:
        return Step.WAIT, None  # answers still on the wire wake the worker; shutdown stops it
    slots = view.max_in_flight - view.in_flight
    if view.ready and slots > 0:
        return Step.SUBMIT, None
    if view.ready < slots + view.ahead:
        if view.in_flight + view.ready > view.spool_batches:  # sending already: whole requests
            timely = view.queued >= view.batch_size
        else:
            timely = view.window is not None and now >= view.window
        new_due = view.queued > 0 and (view.flushing or view.full or timely)
        spool_due = (
            view.retry_due is None
            and now >= view.spool_due
            and view.spool_batches < max(1, view.max_in_flight // 2)
        )
        if spool_due and not (new_due and view.spool_turn):
            return Step.POLL_SPOOL, None
        if new_due:
            return Step.FILL, None
    # Timers that are still ahead. One that has passed means there is no room yet: an answer
    # (which frees a slot) wakes the worker, so waiting on it again would only spin.
    timers = [view.deadline, view.retry_due if view.retry_due is not None else view.spool_due]
    if view.queued and view.window is not None:
        timers.append(view.window)
    ahead = [t for t in timers if now < t < float("inf")]
    return Step.WAIT, min(ahead) if ahead else None
