"""The ledger: the one owner of every event a client accepted and has not resolved yet.

Each such event is in exactly one state, and only the ledger moves it (``docs/architecture.md``
draws the diagram)::

    QUEUED ──> BATCHED ──> ON_WIRE ──> RESOLVING ──> delivered | dropped | spooled | unknown
                  ^           │
                  │           ├──> BATCHED     (400 partial, 413 split, 429 others: resend now)
                  │           ├──> RETRY_WAIT  (5xx, timeout, 429 throttled: back off)
                  │           └──> HELD        (OfflineRetryHandler: ride with the next send)
                  └──────── RETRY_WAIT, HELD   (due / next upload or flush)

``QUEUED`` events sit in ``intake``, a deque the callers append to without a lock. Everything
else is guarded by ``cond`` (one lock): the worker, the I/O threads (answers) and ``flush``,
``stats`` and ``shutdown`` on the callers' threads all go through the methods below, which take
it. Outcomes are reported (futures, counters, ``onDrop``, the spool) by the ``Outcomes`` object
the ledger was given, outside the lock, while the events are counted as ``RESOLVING``: a flush
completes only once the futures it waits for are resolved.

**The hand-off rule** (callers and worker; written here once). A caller appends, then checks
``closed``, then the two hints: it wakes the worker if ``wake_on_next`` is set (the worker is
asleep with nothing queued), or once when the intake reaches ``wake_at`` (``maxCachedEvents``,
or a whole request while requests are on the wire). The worker
resets both hints *before* it looks at the intake, under the lock, and sleeps only under that
same lock hold. So an event appended after the look sees a hint set and wakes it, and the wake
cannot slip in between the look and the sleep. ``closed`` is set under the lock before the final
drain: an event appended later is either seen by that drain or sees ``closed`` and is reaped by
its own caller.
"""

from __future__ import annotations

import heapq
import threading
import time
from bisect import bisect_right
from collections import deque
from enum import Enum
from itertools import accumulate
from operator import attrgetter
from typing import TYPE_CHECKING, Any, Callable, Deque, Dict, List, Protocol, Sequence, Tuple

from amplitude_legacy._scheduler import Step, View, next_step

if TYPE_CHECKING:
    from amplitude_legacy._event import Event
    from amplitude_legacy._future import EventFuture
    from amplitude_legacy._response import Response
    from amplitude_legacy._retry import Decision

__all__ = ["Batch", "FlushRequest", "Item", "Ledger", "Outcomes", "State"]

_INF = float("inf")
_DATA = attrgetter("data")
_PLUS_ONE = (1).__add__
#: The longest single wait; every deadline is re-checked after it (and huge timeouts overflow).
MAX_WAIT = 3600.0


class State(str, Enum):
    """Where an accepted event is. Terminal outcomes are not states: the event leaves."""

    QUEUED = "queued"  #: logged; in the intake, not yet taken by the worker
    BATCHED = "batched"  #: taken and encoded into a batch that waits for a request slot
    ON_WIRE = "on_wire"  #: its request is being sent, or its answer is not applied yet
    RETRY_WAIT = "retry_wait"  #: failed transiently; waits for its retry time
    HELD = "held"  #: failed transiently (``OfflineRetryHandler``); rides with the next send
    RESOLVING = "resolving"  #: its outcome is known and is being reported


class Item:
    """One accepted event, from the worker's first look at it until its outcome."""

    __slots__ = ("data", "event", "from_spool", "future", "seq", "spool_id")

    def __init__(self, seq: int, event: Event, future: EventFuture) -> None:
        self.seq = seq  # order of acceptance: flush watermarks compare it
        self.event = event
        self.future = future
        self.data = b""  # the encoded event, once encoded (retries reuse it)
        self.spool_id: int | None = None  # its row in the spool, when it has one
        self.from_spool = False  # taken back from the spool (counted as spooled before)


class Batch:
    """Events that travel together: a first send, a resend, or a scheduled retry."""

    __slots__ = ("due", "expedited", "items", "low", "retries", "spool")

    def __init__(self, items: List[Item], retries: int = 0, expedited: int = -1) -> None:
        self.items = items
        self.retries = retries  # retries already made for these events
        self.expedited = expedited  # the newest flush target that cut this backoff short
        self.due = 0.0
        self.low: float = min(item.seq for item in items)  # flush checks read it often
        self.spool = False  # taken back from the spool (a backlog shares the request slots)

    def keep(self, wanted: Callable[[Item], bool]) -> None:
        """Keep only the items ``wanted`` accepts (the low watermark follows)."""
        self.items = [item for item in self.items if wanted(item)]
        self.low = min((item.seq for item in self.items), default=_INF)

    def __lt__(self, other: Batch) -> bool:  # heap order: soonest first, then oldest events
        return (self.due, self.low) < (other.due, other.low)


class FlushRequest:
    """A caller waiting until every event with a smaller ``seq`` than ``target`` is resolved."""

    __slots__ = ("done", "target")

    def __init__(self, target: int) -> None:
        self.target = target
        self.done = threading.Event()


class Outcomes(Protocol):
    """Reports final outcomes (futures, counters, ``onDrop``, spool). Never called locked."""

    @property
    def spool_due(self) -> float:
        """When the spool should be read next (``inf`` without a spool)."""

    def delivered(self, items: Sequence[Item], response: Response) -> None:
        """Amplitude accepted these events."""

    def dropped(
        self, items: Sequence[Item], reason: str, response: Response | None, detail: str | None
    ) -> None:
        """These events are not delivered, for ``reason`` (the spool may keep some)."""

    def unknown(self, items: Sequence[Item], detail: str) -> None:
        """Their request was on the wire when time ran out: maybe delivered, maybe not."""


#: One terminal report: (kind, items, reason, response, detail).
Report = Tuple[str, List[Item], str, Any, Any]


class Ledger:
    """Owns the accepted events of one client and every move between their states.

    Args:
        outcomes: reports final outcomes.
        max_cached: ``maxCachedEvents``: the intake size that wakes the worker at once.
        max_queue: ``maxQueueSize``: the intake size past which ``append`` refuses events.
        interval: ``uploadIntervalInSec``: how long new events may wait for company.
        max_in_flight: requests on the wire at once.
        ahead: batches that may be prepared beyond the free request slots (0 or 1).
        batch_size: the most events one request carries.
        max_held: bound on ``HELD`` events (the oldest beyond it are dropped).
        clock: monotonic seconds (tests pass a fake one).
    """

    def __init__(
        self,
        outcomes: Outcomes,
        *,
        max_cached: int,
        max_queue: int,
        interval: float,
        max_in_flight: int,
        ahead: int,
        max_held: int,
        batch_size: int = 2000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.batch_size = batch_size
        self._outcomes = outcomes
        self.max_cached = max_cached
        self.max_queue = max_queue
        self._interval = interval
        self._max_in_flight = max_in_flight
        self._ahead = ahead
        self._max_held = max_held
        self.clock = clock
        self.reset()

    def reset(self, keep_intake: bool = False) -> None:
        """Fresh state: at start, and in a forked child (the parent keeps its own events).

        ``keep_intake``: a fork noticed late (a C-level fork ran no fork hook), so the intake
        also holds what the child logged since; it is kept (what the parent had queued is
        sent twice, and Amplitude deduplicates it by ``insert_id``).
        """
        self.cond = threading.Condition(threading.Lock())
        kept = getattr(self, "intake", None) if keep_intake else None
        # (event, future, spool row id or None): what callers append
        self.intake: Deque[Tuple[Event, EventFuture, int | None]] = deque(kept or ())
        # Caller hints, read without the lock on purpose (the hand-off rule above).
        self.wake_on_next = True
        self.full_signalled = False
        self.wake_at = self.max_cached  # the intake size that wakes a sleeping worker
        self.closed = False  # the final drain ran: callers reap what they append
        self.closing = False  # shutdown asked the worker to stop
        self.deadline = _INF  # shutdown's deadline: no request starts after it
        self._taken = 0  # events taken from the intake or the spool so far: the next seq
        self._staged: List[Item] = []  # BATCHED, not yet cut into a batch (by seq)
        self._ready: Deque[Batch] = deque()  # BATCHED, waiting for a request slot
        self._wire: List[Batch] = []  # ON_WIRE, no answer yet
        self._answered: Deque[Tuple[Batch, Any]] = deque()  # ON_WIRE, answer not applied
        self._waiting: List[Batch] = []  # RETRY_WAIT (a heap by due time)
        self._held: List[Item] = []  # HELD, by seq
        self._resolving = 0  # RESOLVING: outcome known, being reported
        self._flushes: List[FlushRequest] = []
        self._expedite = False  # a new flush wants backoffs cut short (done by the worker)
        self._window: float | None = None  # when the queued events are due by interval
        self._spool_turn = False  # the last fill came from the spool (they alternate)

    # ------------------------------------------------------------------ callers

    def append(self, event: Event, future: EventFuture, spool_id: int | None = None) -> bool:
        """Accept one event (any thread, no lock). ``False``: the intake is full, not accepted.

        If the ledger closed meanwhile, the event is reaped at once (resolved ``client_closed``).
        """
        intake = self.intake
        if len(intake) >= self.max_queue:
            return False
        intake.append((event, future, spool_id))
        if self.closed:
            self.reap()
        elif self.wake_on_next:
            self._wake(full=False)
        elif len(intake) >= self.wake_at and not self.full_signalled:
            self._wake(full=True)
        return True

    def _wake(self, *, full: bool) -> None:
        with self.cond:
            self.wake_on_next = False
            if full:
                self.full_signalled = True
            self.cond.notify()

    def reap(self) -> None:
        """Resolve what callers appended after the final drain (a race with shutdown)."""
        from amplitude_legacy._response import Response, Status

        with self.cond:
            left = self._take_intake(len(self.intake))
            self._resolving += len(left)
        closed = Response(Status.SKIPPED, 0, None, "client_closed", "client is shut down")
        self._report([("dropped", left, "client_closed", closed, "client is shut down")])

    @property
    def settled(self) -> bool:
        """Nothing accepted is unresolved: a flush's fast path (one short lock, no wait)."""
        return not self.intake and self.outstanding() == 0

    def outstanding(self, before: float = _INF) -> int:
        """Events accepted and not resolved yet (with a ``seq`` below ``before``)."""
        with self.cond:
            return self._count(before)

    def request_flush(self) -> FlushRequest | None:
        """Register a flush of everything accepted so far; ``None`` when there is nothing.

        Held events go out with it, once: if they fail again they are held again, and the
        flush does not wait for them (``FlushResult.pending`` counts them).
        """
        with self.cond:
            request = FlushRequest(self._taken + len(self.intake))
            if self._held:
                self._staged[:0] = self._held
                self._held = []
            if self._low() >= request.target:
                return None
            self._flushes.append(request)
            self._expedite = True
            self.cond.notify()
        return request

    def forget_flush(self, request: FlushRequest) -> int:
        """A flush gives up (timeout): stop tracking it; returns the events it still waits for."""
        with self.cond:
            if request in self._flushes:
                self._flushes.remove(request)
            return self._count(request.target)

    def close(self, deadline: float) -> None:
        """Shutdown: no request starts after ``deadline``; the worker stops at its next look."""
        with self.cond:
            self.deadline = min(self.deadline, deadline)
            self.closing = True
            self.cond.notify()

    def set_deadline(self, deadline: float) -> None:
        """Shutdown's deadline, set before its final flush."""
        with self.cond:
            self.deadline = min(self.deadline, deadline)

    # ------------------------------------------------------------------ the worker's loop

    def next_step(self) -> Step:
        """Wait until there is something to do, and say what (the worker's only wait)."""
        cond = self.cond
        with cond:
            while True:
                # Hints first, then the look (the hand-off rule).
                self.wake_on_next = True
                self.full_signalled = False
                self._complete_flushes()
                now = self.clock()
                if self._expedite:
                    self._cut_backoffs(now)
                view = self._view(now)
                step, until = next_step(view)
                if step is not Step.WAIT:
                    return step
                self.wake_on_next = view.queued == 0
                busy = view.in_flight + view.ready > view.spool_batches
                self.wake_at = min(self.batch_size, self.max_cached) if busy else self.max_cached
                timeout = None if until is None else min(MAX_WAIT, max(0.0, until - now))
                cond.wait(timeout if timeout is not None else MAX_WAIT)

    def view(self) -> View:
        """The state as the scheduler sees it now (what ``next_step`` decides on)."""
        with self.cond:
            return self._view(self.clock())

    def _view(self, now: float) -> View:
        queued = len(self.intake) + len(self._staged)
        if queued and self._window is None:
            self._window = now + self._interval
        elif not queued:
            self._window = None
        return View(
            now=now,
            closing=self.closing,
            answered=len(self._answered),
            in_flight=len(self._wire),
            max_in_flight=self._max_in_flight,
            ahead=self._ahead,
            ready=len(self._ready),
            queued=queued,
            window=self._window,
            full=queued >= self.max_cached,
            flushing=bool(self._flushes),
            retry_due=self._waiting[0].due if self._waiting else None,
            spool_due=self._outcomes.spool_due,
            spool_turn=self._spool_turn,
            spool_batches=sum(b.spool for b in (*self._ready, *self._wire)),
            batch_size=self.batch_size,
            deadline=self.deadline,
        )

    def stage(self, max_events: int) -> List[Item]:
        """FILL: take queued events (with their seq) toward a batch; returns the ones to encode.

        Held events go first: they ride with the next send.
        """
        with self.cond:
            self._spool_turn = False
            if self._held:
                self._staged[:0] = self._held
                self._held = []
            taken = self._take_intake(max(0, max_events - len(self._staged)))
            self._staged.extend(taken)
            if not self.intake:
                self._window = None
        return taken

    def add_from_spool(self, items: List[Item]) -> None:
        """POLL_SPOOL: events taken back from the spool become a batch of their own."""
        with self.cond:
            self._spool_turn = True
            for item in items:
                item.seq = self._taken
                self._taken += 1
            if items:
                batch = Batch(items)
                batch.spool = True
                self._ready.append(batch)

    def cut(self, max_events: int, max_bytes: int, overhead: int, bad: List[Report]) -> None:
        """FILL, after encoding: the encoded front of the staged events becomes a ready batch.

        ``bad`` lists staged events that could not be encoded or are too large on their own:
        they leave as dropped. What does not fit stays staged, first in the next batch.
        """
        with self.cond:
            if bad:
                gone = {id(item) for _, items, _, _, _ in bad for item in items}
                self._staged = [i for i in self._staged if id(i) not in gone]
                self._resolving += len(gone)
            staged = self._staged
            # Running body size of the first k events (each with its comma), all in C: the
            # batch is the longest front that fits.
            sizes = accumulate(map(_PLUS_ONE, map(len, map(_DATA, staged[:max_events]))))
            count = bisect_right(list(sizes), max_bytes - overhead)
            if count:
                self._ready.append(Batch(staged[:count]))
                del staged[:count]
        self._report(bad)

    def staged(self) -> List[Item]:
        """The events taken toward the next batch (for the worker's last resort)."""
        with self.cond:
            return list(self._staged)

    def submit(self) -> Batch:
        """SUBMIT: the next ready batch goes on the wire."""
        with self.cond:
            batch = self._ready.popleft()
            self._wire.append(batch)
            return batch

    def answered(self, batch: Batch, answer: Any) -> None:
        """An I/O thread is done with ``batch`` (the worker applies the answer, in ``APPLY``)."""
        with self.cond:
            if batch not in self._wire:  # drained at shutdown meanwhile: reported as unknown
                return
            self._wire.remove(batch)
            self._answered.append((batch, answer))
            self.cond.notify()

    def next_answer(self) -> Tuple[Batch, Any]:
        """APPLY: the oldest answer not applied yet.

        Its batch stays ``ON_WIRE`` (counted, and holding flushes back) until ``apply``,
        ``not_sent`` or ``abandon`` moves its events on.

        Raises:
            IndexError: there is no answer to apply.
        """
        with self.cond:
            return self._answered[0]

    def _applied(self, batch: Batch) -> None:
        """The answer for ``batch`` is being applied: it leaves ``ON_WIRE`` (lock held)."""
        for index, (answered, _) in enumerate(self._answered):
            if answered is batch:
                del self._answered[index]
                return

    def promote_due(self) -> None:
        """PROMOTE: retries whose time has come become ready batches."""
        with self.cond:
            now = self.clock()
            while self._waiting and self._waiting[0].due <= now:
                batch = heapq.heappop(self._waiting)
                self._ready.append(batch)

    # ------------------------------------------------------------------ applying answers

    def apply(
        self,
        batch: Batch,
        decision: Decision,
        response: Response,
        transient: Callable[[int, float | None], float | None],
        hold: bool,
    ) -> None:
        """Move ``batch``'s events according to the decision for its answer.

        Args:
            transient: ``(retries, retry_after) -> delay`` of the retry strategy; ``None``
                means the schedule is spent (the events are dropped as retries_exhausted).
            hold: transient failures hold the events for the next send instead.
        """
        from amplitude_legacy._retry import Action, DropReason

        items = batch.items
        action = decision.action
        reports: List[Report] = []
        with self.cond:
            self._applied(batch)
            if action is Action.DELIVERED:
                reports.append(("delivered", items, "", response, None))
            elif action is Action.DROP_ALL:
                reason = decision.reason or DropReason.INVALID
                reports.append(("dropped", items, reason, response, None))
            elif action is Action.DROP_LISTED:
                drop = decision.drop_indices
                reports.append(("dropped", _pick(items, drop), DropReason.INVALID, response, None))
                self._resend([it for i, it in enumerate(items) if i not in drop], batch)
            elif action is Action.SPLIT:
                half = len(items) // 2
                self._resend(items[half:], batch)
                self._resend(items[:half], batch)
            elif action is Action.THROTTLE:
                drop, held = decision.drop_indices, decision.hold_indices
                if drop:
                    quota = DropReason.RATE_LIMITED_QUOTA
                    reports.append(("dropped", _pick(items, drop), quota, response, None))
                self._back_off(_pick(items, held), batch, decision, response, transient, hold,
                               reports)  # fmt: skip
                rest = [it for i, it in enumerate(items) if i not in drop and i not in held]
                self._resend(rest, batch)
            else:
                self._back_off(items, batch, decision, response, transient, hold, reports)
            self._resolving += sum(len(r[1]) for r in reports)
            self._complete_flushes()  # HELD events do not hold a flush back
        self._report(reports)

    def _resend(self, items: List[Item], batch: Batch) -> None:
        """Back to the front of the ready queue, keeping the batch's retry count (lock held)."""
        if items:
            self._ready.appendleft(Batch(items, batch.retries, batch.expedited))

    def _back_off(
        self,
        items: List[Item],
        batch: Batch,
        decision: Decision,
        response: Response,
        transient: Callable[[int, float | None], float | None],
        hold: bool,
        reports: List[Report],
    ) -> None:
        if not items:
            return
        if hold:
            self._held = sorted(self._held + items, key=lambda item: item.seq)
            excess = len(self._held) - self._max_held
            if excess > 0:
                oldest, self._held = self._held[:excess], self._held[excess:]
                full = "OfflineRetryHandler buffer full"
                reports.append(("dropped", oldest, "queue_full", response, full))
            return
        delay = transient(batch.retries, decision.retry_after)
        if delay is None:
            detail = decision.error or str(decision.status)
            reports.append(("dropped", items, "retries_exhausted", response, detail))
            return
        retry = Batch(items, batch.retries + 1, batch.expedited)
        retry.due = self.clock() + delay
        # A flush that waits for these events cuts one backoff short (not every one: a flush
        # must not burn the whole schedule against a server that is down).
        newest = max((r.target for r in self._flushes), default=-1)
        if retry.expedited < 0 and newest > retry.low:
            retry.due, retry.expedited = self.clock(), newest
        heapq.heappush(self._waiting, retry)

    def _cut_backoffs(self, now: float) -> None:
        """A new flush: each waiting retry is cut short once, held events go out (lock held)."""
        self._expedite = False
        newest = max((r.target for r in self._flushes), default=-1)
        for batch in self._waiting:
            if batch.expedited < 0:
                batch.due, batch.expedited = min(batch.due, now), newest
        heapq.heapify(self._waiting)

    # ------------------------------------------------------------------ the end

    def drain(self, detail: str) -> None:
        """The worker stops: resolve everything left. Requests still on the wire whose answer
        did not come are ``unknown``; the rest is ``shutdown_timeout`` (the spool may keep it).
        """
        from amplitude_legacy._retry import DropReason

        with self.cond:
            self.closed = True
            left: List[Item] = list(self._staged) + list(self._held)
            for batch in [*self._ready, *self._waiting]:
                left.extend(batch.items)
            on_wire = [item for batch in self._wire for item in batch.items]
            left.extend(self._take_intake(len(self.intake)))
            self._staged.clear()
            self._held = []
            self._ready.clear()
            self._waiting = []
            self._wire = []
            left.sort(key=lambda item: item.seq)
            self._resolving += len(left) + len(on_wire)
        reports: List[Report] = []
        if on_wire:
            reports.append(("unknown", on_wire, "", None, "no answer before the deadline"))
        if left:
            reports.append(("dropped", left, DropReason.SHUTDOWN_TIMEOUT, None, detail))
        self._report(reports)
        with self.cond:
            for request in self._flushes:
                request.done.set()
            self._flushes = []

    def not_sent(self, batch: Batch) -> None:
        """APPLY: the I/O thread did not start ``batch``'s request (shutdown's deadline)."""
        detail = "shutdown deadline passed before the request could start"
        self.abandon(batch.items, "shutdown_timeout", detail)

    def abandon(self, items: List[Item], reason: str, detail: str) -> None:
        """Drop ``items`` from wherever they are (the worker's last resort: never lose one)."""
        gone = {id(item) for item in items}
        with self.cond:
            self._staged = [i for i in self._staged if id(i) not in gone]
            self._held = [i for i in self._held if id(i) not in gone]
            answered = [batch for batch, _ in self._answered]
            for batch in [*self._ready, *self._wire, *self._waiting, *answered]:
                batch.keep(lambda item: id(item) not in gone)
            self._ready = deque(b for b in self._ready if b.items)
            self._wire = [b for b in self._wire if b.items]
            self._waiting = [b for b in self._waiting if b.items]
            heapq.heapify(self._waiting)
            self._answered = deque(pair for pair in self._answered if pair[0].items)
            self._resolving += len(items)
        self._report([("dropped", list(items), reason, None, detail)])

    # ------------------------------------------------------------------ internals (lock held)

    def _take_intake(self, n: int) -> List[Item]:
        popleft = self.intake.popleft
        taken: List[Item] = []
        append = taken.append
        seq = self._taken
        for _ in range(min(n, len(self.intake))):
            event, future, spool_id = popleft()
            item = Item(seq, event, future)
            if spool_id is not None:
                item.spool_id = spool_id
            append(item)
            seq += 1
        self._taken = seq
        return taken

    def _report(self, reports: Sequence[Report]) -> None:
        """Report outcomes outside the lock, then complete the flushes that were waiting."""
        if not reports:
            return
        outcomes = self._outcomes
        try:
            for kind, items, reason, response, detail in reports:
                if not items:
                    continue
                if kind == "delivered":
                    outcomes.delivered(items, response)
                elif kind == "unknown":
                    outcomes.unknown(items, detail)
                else:
                    outcomes.dropped(items, reason, response, detail)
        finally:
            with self.cond:
                self._resolving -= sum(len(r[1]) for r in reports)
                self._complete_flushes()

    def _low(self) -> float:
        """The smallest seq not resolved yet, held events aside; inf when nothing is left.

        ``HELD`` events wait for a later send by design: a flush sends them once (see
        ``request_flush``) and does not wait for them after that.
        """
        if self._resolving:
            return -1  # outcomes being reported: no flush completes until they are
        low: float = self._taken if self.intake else _INF
        if self._staged:
            low = min(low, self._staged[0].seq)
        for batch in (*self._ready, *self._wire, *self._waiting):
            low = min(low, batch.low)
        for batch, _ in self._answered:
            low = min(low, batch.low)
        return low

    def _complete_flushes(self) -> None:
        if not self._flushes:
            return
        low = self._low()
        still = []
        for request in self._flushes:
            if request.target <= low:
                request.done.set()
            else:
                still.append(request)
        self._flushes = still

    def _count(self, before: float) -> int:
        # len() of the intake is read under the GIL: callers append without the lock.
        count = min(len(self.intake), max(0, int(min(before, 2**62)) - self._taken))
        groups: List[Sequence[Item]] = [self._staged, self._held]
        groups.extend(b.items for b in (*self._ready, *self._wire, *self._waiting))
        groups.extend(b.items for b, _ in self._answered)
        if before == _INF:
            return count + sum(map(len, groups)) + self._resolving
        return count + sum(1 for items in groups for item in items if item.seq < before)

    def counts(self) -> Dict[State, int]:
        """How many events are in each state now (for tests and ``docs/architecture.md``)."""
        with self.cond:
            return {
                State.QUEUED: len(self.intake),
                State.BATCHED: len(self._staged) + sum(len(b.items) for b in self._ready),
                State.ON_WIRE: sum(len(b.items) for b in self._wire)
                + sum(len(b.items) for b, _ in self._answered),
                State.RETRY_WAIT: sum(len(b.items) for b in self._waiting),
                State.HELD: len(self._held),
                State.RESOLVING: self._resolving,
            }


def _pick(items: List[Item], indices: Any) -> List[Item]:
    return [items[i] for i in sorted(indices)]
