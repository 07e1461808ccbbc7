"""The background worker: one thread per client that batches, encodes, sends and retries.

Callers append ``(seq, event, future)`` to a deque without taking a lock and wake the worker
only when it is idle or the cache is full. The worker alone does I/O and JSON encoding (each
event is encoded once; retries reuse the bytes), applies the ``Decision`` that ``classify``
returns for each answer, and resolves every future exactly once. Every wait is a
``Condition.wait`` with a deadline, so ``flush`` and ``shutdown`` can interrupt a backoff.
"""

from __future__ import annotations

import gzip
import heapq
import itertools
import json
import logging
import threading
import time
from collections import deque
from typing import Any, Callable, Deque, List, Sequence, Tuple

from amplitude_legacy._errors import TransportError
from amplitude_legacy._event import Event, complete_annotation
from amplitude_legacy._future import EventFuture
from amplitude_legacy._options import Options
from amplitude_legacy._response import Response, Status
from amplitude_legacy._retry import (
    Action,
    Decision,
    DropReason,
    RetryPolicy,
    classify,
    classify_error,
)
from amplitude_legacy._sender import Exchange, Sender
from amplitude_legacy._spool import Spool
from amplitude_legacy._stats import Counters, DropLog, FlushResult
from amplitude_legacy._transport import Transport

__all__ = ["MAX_EVENTS_PER_REQUEST", "Worker"]

log = logging.getLogger("amplitude_legacy")

#: The API's event limit per request (http-api.md §2).
MAX_EVENTS_PER_REQUEST = 2000
#: Body limits: HTTP V2 answers 413 over 1 MB, the Batch API over 20 MB (decimal, to be safe).
MAX_BODY_BYTES = 1_000_000
MAX_BATCH_BODY_BYTES = 20_000_000

#: How long ``shutdown`` waits past its timeout for the worker to account for leftovers.
SHUTDOWN_GRACE = 0.5
#: With a spool: how long to wait before looking again after it was empty / after a failure.
SPOOL_IDLE_POLL = 60.0
#: How long a claim on spooled events holds (see ``Worker.__init__``).
SPOOL_LEASE = 3600.0
SPOOL_RETRY_INTERVAL = 30.0
#: Transient reasons: with a spool, these events are kept there instead of dropped.
_SPOOLABLE = frozenset({DropReason.RETRIES_EXHAUSTED, DropReason.SHUTDOWN_TIMEOUT})

# What callers put in the queue, and what the worker sends: encoded once, on the worker.
Entry = Tuple[int, Event, EventFuture]  # (seq, event, future)
Item = Tuple[int, Event, EventFuture, bytes]  # (seq, event, future, encoded event)

_INFINITY = float("inf")


def _load_encoder() -> Callable[[Any], bytes]:
    """orjson when installed (the ``speed`` extra), else the standard library."""
    try:
        import orjson  # type: ignore[import-not-found, unused-ignore]

        return orjson.dumps  # type: ignore[no-any-return, unused-ignore]
    except ImportError:
        dumps = json.JSONEncoder(separators=(",", ":"), allow_nan=False).encode

        def encode(value: Any) -> bytes:
            return dumps(value).encode()

        return encode


encode_json = _load_encoder()


def _spool_id(item: Item) -> int | None:
    """The spool row behind an event (written ahead, or taken back from the spool), if any."""
    return item[2].__dict__.get("_spool_id")


class _Batch:
    """Events that travel together: a first send, a resend, or a scheduled retry."""

    __slots__ = ("due", "expedited", "from_spool", "items", "low", "retries")

    def __init__(
        self, items: List[Item], retries: int = 0, due: float = 0.0, expedited: int = -1
    ) -> None:
        self.from_spool = False  # an empty batch to fill from the spool, not from the queue
        self.items = items
        self.retries = retries  # retries already made for these events
        self.due = due
        self.expedited = expedited  # the newest flush that already cut this backoff short
        self.settle()

    def settle(self) -> None:
        """Note the smallest seq once the items are final (flush checks read it often)."""
        self.low: float = min((item[0] for item in self.items), default=_INFINITY)

    def __lt__(self, other: _Batch) -> bool:  # heap order: soonest first, then oldest events
        return (self.due, self.low) < (other.due, other.low)


#: What ``_next_batch`` returns when the request on the wire has its answer.
_COLLECT = _Batch([])


class _FlushRequest:
    __slots__ = ("done", "target")

    def __init__(self, target: int) -> None:
        self.target = target  # every event with a smaller seq must be resolved
        self.done = threading.Event()


class Worker:
    """Owns the cache, the worker thread and the transport of one client.

    Args:
        api_key: sent in every body; never logged.
        options: the client's validated options.
        transport: where bodies go.
        counters: shared with the client, which counts caller-side drops.
        on_drop: called with every event that is dropped here and its reason.
    """

    def __init__(
        self,
        api_key: str,
        options: Options,
        transport: Transport,
        counters: Counters,
        on_drop: Callable[[Sequence[Event], str, Response | None], None],
    ) -> None:
        self._options = options
        self._transport = transport
        self._counters = counters
        self._on_drop = on_drop
        retry_class = options.retry_class
        mode = getattr(retry_class, "mode", None)
        builtin = isinstance(mode, str)  # RetryHandler, BaseRetryHandler, OfflineRetryHandler
        own = getattr(retry_class, "retry_timeouts", None) if builtin else None
        timeouts = own if own is not None else options.retry_timeouts
        self._policy = RetryPolicy(() if mode == "none" else tuple(timeouts))
        self._offline = mode == "offline"
        # Any other object is a user retryClass: it replaces the whole send-and-retry step.
        self._custom_retry = retry_class if retry_class is not None and not builtin else None
        self._url = options.server_url.split("?", 1)[0]  # the legacy SDK drops the query
        self._max_events = MAX_EVENTS_PER_REQUEST
        self._max_bytes = MAX_BATCH_BODY_BYTES if "/batch" in self._url else MAX_BODY_BYTES
        self._headers = {"Content-Type": "application/json"}
        if options.gzip:
            self._headers["Content-Encoding"] = "gzip"
        self._prefix = b'{"api_key":' + encode_json(api_key) + b',"events":['
        suffix = b"]"
        if options.min_id_length is not None:
            suffix += b',"options":{"min_id_length":' + str(options.min_id_length).encode() + b"}"
        self._suffix = suffix + b"}"
        self._overhead = len(self._prefix) + len(self._suffix)
        self._timeout = options.request_timeout_millis / 1000.0
        self._warned_bad_key = False
        self.spool: Spool | None = None
        if options.spool_path:
            # A long lease: a claim must outlive any in-memory retry of its event (the owner's
            # death frees it at once on this host; the lease only matters across hosts).
            self.spool = Spool(
                options.spool_path,
                mode=options.spool_mode,
                max_events=options.spool_max_events,
                lease_seconds=SPOOL_LEASE,
            )
        self._reset()

    def _reset(self) -> None:
        """Fresh state: at start, and in a forked child (the parent keeps its own events)."""
        self._cond = threading.Condition(threading.Lock())
        self._drop_log = DropLog()  # its lock too: a fork may happen while it is held
        self.pending: Deque[Entry] = deque()
        self._urgent: Deque[_Batch] = deque()
        self._retries: List[_Batch] = []  # heap by due time
        self._held: List[Item] = []  # OfflineRetryHandler: failed events wait for the next send
        self._carry: Item | None = None  # encoded, did not fit the last batch
        self._in_flight: _Batch | None = None  # taken from the queue, being encoded
        self._sending: Exchange | None = None  # on the wire (at most one request at a time)
        self._sender: Sender | None = None
        self._flushes: List[_FlushRequest] = []
        self._window_deadline: float | None = None
        self._deadline = _INFINITY  # shutdown's deadline bounds every request
        self._closing = False
        self.stopped = False  # the worker drained for the last time: callers reap late events
        self.no_thread = False  # the worker thread could not start (interpreter shutdown)
        self._thread: threading.Thread | None = None
        self.seq = itertools.count()
        # When to look in the spool next (monotonic); 0 = at once. Rows may be there from an
        # earlier run, from another process, or from our own transient failures.
        self._spool_poll_at = 0.0 if self.spool is not None else _INFINITY
        self._spool_maybe_rows = self.spool is not None
        self._spool_turn = False  # the last batch came from the spool
        # Lock-free hints for callers (see wake_if_needed): read without the lock on purpose.
        self.wake_on_next = True
        self.full_signalled = False
        self.idle = True

    # ------------------------------------------------------------------ caller side

    def start(self) -> None:
        """Start the worker and I/O threads (lazily, on the first event)."""
        with self._cond:
            if self._thread is not None:
                return
            self._thread = thread = threading.Thread(
                target=self._run, name="amplitude_legacy-worker", daemon=True
            )
        # Started outside the lock: under gevent, Thread.start() switches greenlets, and a
        # lock created before monkey-patching (gunicorn --preload -k gevent) would deadlock.
        # Both threads start now: Python 3.12+ refuses new threads at interpreter shutdown,
        # when the atexit flush may be the first send.
        try:
            self._sender = Sender(self._send_exchange, self._request_done)
        except RuntimeError:  # no new threads (interpreter shutdown): the worker sends inline
            self._sender = None
        try:
            thread.start()
        except RuntimeError:
            # No thread at all (a first event logged during interpreter shutdown): events stay
            # queued, flush returns at once, and shutdown drops or spools them, counted.
            log.warning("amplitude_legacy: cannot start the worker thread (interpreter exiting)")
            with self._cond:
                self._thread = None
            if self._sender is not None:
                self._sender.stop()
            self.no_thread = True

    @property
    def started(self) -> bool:
        """Whether the worker thread was started."""
        return self._thread is not None

    def wake(self, full: bool) -> None:
        """Wake the worker: it was idle, or the cache reached ``maxCachedEvents``."""
        with self._cond:
            self.wake_on_next = False
            if full:
                self.full_signalled = True
            self._cond.notify()

    @property
    def settled(self) -> bool:
        """Nothing queued, in flight or waiting for a retry: a flush has nothing to wait for.

        Lock-free. ``pending`` is read first: the worker marks itself busy before it takes
        events out of it.
        """
        return not self.pending and self.idle

    def flush(self, timeout: float | None) -> FlushResult:
        """Block until every event logged before the call is delivered or dropped."""
        if self.settled:
            return FlushResult()
        if self.stopped or self.no_thread or threading.current_thread() is self._thread:
            if threading.current_thread() is self._thread:  # a callback would wait on itself
                log.warning("amplitude_legacy: flush() called on the worker thread; not waiting")
            with self._cond:
                return FlushResult(pending=self._count_before(_INFINITY), timed_out=True)
        deadline = _INFINITY if timeout is None else time.monotonic() + timeout
        before_sent, before_dropped = self._counters.delivered, self._counters.dropped_total()
        request = _FlushRequest(next(self.seq))
        with self._cond:
            if self.stopped:  # the worker stopped since the check above: nobody would answer
                return FlushResult(pending=self._count_before(request.target), timed_out=True)
            self._flushes.append(request)
            self._expedite_retries()
            self._cond.notify()
        done = request.done.wait(None if timeout is None else max(0.0, deadline - time.monotonic()))
        with self._cond:
            if not done and request in self._flushes:
                self._flushes.remove(request)
            # Non-zero on timeout, and for OfflineRetryHandler events held for a later send.
            pending = self._count_before(request.target)
        return FlushResult(
            self._counters.delivered - before_sent,
            self._counters.dropped_total() - before_dropped,
            pending,
            not done,
        )

    def shutdown(self, timeout: float | None) -> FlushResult:
        """Flush, then stop the worker; whatever is left is dropped as ``shutdown_timeout``."""
        deadline = _INFINITY if timeout is None else time.monotonic() + timeout
        with self._cond:
            self._deadline = deadline
        result = self.flush(timeout)
        with self._cond:
            self._closing = True
            self._cond.notify()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            # A short grace past the deadline lets the worker spool or drop (and count) what
            # is left: local work, unless a request is in flight (bounded by the deadline too).
            grace = SHUTDOWN_GRACE + max(0.0, deadline - time.monotonic())
            thread.join(None if timeout is None else grace)
        if thread is None:
            with self._cond:
                self.stopped = True
                self._drop_everything(DropReason.SHUTDOWN_TIMEOUT)
        try:
            self._transport.close()
        except Exception:
            log.exception("amplitude_legacy: closing the transport failed")
        if self.spool is not None:
            self.spool.close()
        self._drop_log.flush()
        return result

    def reap(self) -> None:
        """Drop events a caller appended after the worker's last drain (a race with shutdown).

        The caller checks ``stopped`` after its append: either the worker's final drain saw
        the event, or the caller sees ``stopped`` and drains it here. Both hold the lock.
        """
        with self._cond:
            left: List[Item] = [(seq, event, future, b"") for seq, event, future in self.pending]
            self.pending.clear()
        closed = Response(Status.SKIPPED, 0, None, DropReason.CLIENT_CLOSED, "client is shut down")
        self._drop(left, DropReason.CLIENT_CLOSED, closed)

    def outstanding(self) -> int:
        """Events accepted and not yet resolved."""
        with self._cond:
            return self._count_before(_INFINITY)

    def after_fork_in_child(self) -> None:
        """Forget the parent's thread, lock and events; a new transport comes from the client."""
        self._reset()

    def replace_transport(self, transport: Transport) -> None:
        """Use a new transport (after fork the inherited sockets belong to the parent)."""
        self._transport = transport

    # ------------------------------------------------------------------ worker side

    def _run(self) -> None:
        while True:
            batch = self._next_batch()
            if batch is None:
                self._collect_before_deadline()
                with self._cond:  # whatever is left cannot wait any more
                    self.stopped = True
                    self._drop_everything(DropReason.SHUTDOWN_TIMEOUT)
                if self._sender is not None:
                    self._sender.stop()
                return
            try:
                if batch is _COLLECT:
                    self._collect()
                else:
                    self._fill_batch(batch)
                    if batch.items and self._custom_retry is not None:
                        self._send_with_retry_class(batch.items)
                    elif batch.items:
                        exchange = self._prepare(batch)  # encoded while the last request waits
                        self._collect()
                        self._submit(exchange)
            except BaseException as exc:  # never let the worker die: count and go on
                log.exception("amplitude_legacy: unexpected error in the worker")
                self._drop(batch.items, DropReason.RETRIES_EXHAUSTED, None, repr(exc))
            finally:
                with self._cond:
                    self._in_flight = None
                    self._complete_flushes()

    def _submit(self, exchange: Exchange) -> None:
        """Put ``exchange`` on the wire: through the I/O thread, or here if there is none."""
        timeout: float | None = self._timeout if self._timeout > 0 else None
        if self._deadline != _INFINITY:  # computed now: the previous request may have been slow
            remaining = max(0.001, self._deadline - time.monotonic())
            timeout = remaining if timeout is None else min(timeout, remaining)
        exchange.timeout = timeout
        with self._cond:  # the batch moves from "being encoded" to "on the wire": count it once
            self._sending = exchange
            self._in_flight = None
        if self._sender is not None:
            self._sender.submit(exchange)
        else:  # no I/O thread could be started (interpreter shutdown): send inline
            self._send_exchange(exchange)
            self._collect()

    def _collect_before_deadline(self) -> None:
        """At shutdown: the answer on the wire counts if it comes before the deadline.

        Otherwise its events are accounted for now (dropped as ``shutdown_timeout``, or kept in
        the spool); if the answer comes later, a resend is deduplicated by ``insert_id``.
        """
        exchange = self._sending
        if exchange is None:
            return
        wait = None if self._deadline == _INFINITY else self._deadline - time.monotonic()
        if exchange.done.wait(None if wait is None else max(0.0, wait)):
            self._collect()
            return
        with self._cond:
            self._sending = None
        self._drop(exchange.batch.items, DropReason.SHUTDOWN_TIMEOUT, None, "no answer in time")

    def _send_exchange(self, exchange: Exchange) -> None:
        """The I/O itself (on the I/O thread, or inline); reads the current transport."""
        exchange.send(self._transport, self._url, self._headers)

    def _request_done(self) -> None:
        """Called by the I/O thread: wake the worker to apply the answer."""
        with self._cond:
            self._cond.notify()

    def _collect(self) -> None:
        """Wait for the request on the wire, if any, and apply its answer."""
        exchange = self._sending
        if exchange is None:
            return
        exchange.done.wait()
        try:
            self._complete(exchange)
        except BaseException as exc:  # never let the worker die: count and go on
            log.exception("amplitude_legacy: unexpected error in the worker")
            self._drop(exchange.batch.items, DropReason.RETRIES_EXHAUSTED, None, repr(exc))
        finally:
            with self._cond:
                self._sending = None
                self._complete_flushes()

    def _next_batch(self) -> _Batch | None:
        """Wait until something is due and return it; ``None`` once the worker must stop."""
        cond = self._cond
        with cond:
            while True:
                # Reset the callers' hints before looking at the queue: a caller that appends
                # after the look sees them set and wakes us (see Client.logEvent).
                self.wake_on_next = True
                self.full_signalled = False
                self._complete_flushes()
                if self._closing:
                    self._drop_everything(DropReason.SHUTDOWN_TIMEOUT)
                    return None
                if self._sending is not None and self._sending.done.is_set():
                    return _COLLECT
                now = time.monotonic()
                if self._urgent:
                    batch = self._urgent.popleft()
                    break
                if self._retries and self._retries[0].due <= now:
                    batch = heapq.heappop(self._retries)
                    break
                has_new = bool(self.pending) or self._carry is not None
                new_due = False
                if has_new:
                    if self._window_deadline is None:
                        self._window_deadline = now + self._options.upload_interval_in_sec
                    new_due = bool(
                        self._flushes
                        or now >= self._window_deadline
                        or len(self.pending) >= self._options.max_cached_events
                    )
                spool_due = now >= self._spool_poll_at and not self._retries
                # A spool backlog and new events take turns: neither starves the other.
                if spool_due and not (new_due and self._spool_turn):
                    batch = _Batch([])
                    batch.from_spool = True  # filled below, outside the lock
                    self._spool_turn = True
                    break
                if new_due:
                    batch = _Batch([])  # filled below, outside the lock
                    self._spool_turn = False
                    break
                wake_at = _INFINITY if self._window_deadline is None else self._window_deadline
                if self._retries:  # the spool waits for retries to finish (see spool_due)
                    wake_at = min(wake_at, self._retries[0].due)
                else:
                    wake_at = min(wake_at, self._spool_poll_at)
                self.idle = (
                    not has_new and not self._retries and not self._held and self._sending is None
                )
                self.wake_on_next = not has_new
                cond.wait(None if wake_at == _INFINITY else max(0.0, wake_at - now))
            self.idle = False
            self.wake_on_next = False
            self._in_flight = batch
        return batch

    def _fill_batch(self, batch: _Batch) -> None:
        """Fill a batch ``_next_batch`` chose (from the spool or the queue) outside the lock."""
        if self._offline:
            # OfflineRetryHandler: failed events ride with the very next send, so the answer to
            # the request on the wire must be in before that send is filled (no pipelining).
            self._collect()
        if batch.from_spool:
            self._fill_from_spool(batch)
        elif not batch.items:
            self._fill(batch)

    def _fill_from_spool(self, batch: _Batch) -> None:
        """Claim the oldest spooled events; their futures exist only to carry the row id."""
        assert self.spool is not None
        rows = self.spool.take(self._max_events)
        if not rows:
            self._spool_maybe_rows = False
            self._spool_poll_at = time.monotonic() + SPOOL_IDLE_POLL
            return
        for row_id, data in rows:
            try:
                parsed = json.loads(data)
            except ValueError:
                parsed = None
            if not isinstance(parsed, dict):
                self.spool.ack([row_id])  # unreadable row: nothing to send
                self._counters.drop(DropReason.INVALID, 1)
                continue
            future = EventFuture()
            future._spool_id = row_id  # type: ignore[attr-defined]
            future._from_spool = True  # type: ignore[attr-defined]
            batch.items.append((next(self.seq), Event(parsed), future, data))
        batch.settle()

    def _fill(self, batch: _Batch) -> None:
        """Take held, then new events into ``batch``: ≤ 2000 events and ≤ the body limit."""
        items = batch.items
        size = self._overhead
        limit, max_events = self._max_bytes, self._max_events
        if self._held:
            items.extend(self._held[:max_events])
            del self._held[:max_events]
            size += sum(len(item[3]) + 1 for item in items)
        if self._carry is not None:
            items.append(self._carry)
            size += len(self._carry[3]) + 1
            self._carry = None
        pending, popleft, append = self.pending, self.pending.popleft, items.append
        one_event_limit = limit - self._overhead  # per-event work below is the worker's hot loop
        count = len(items)
        while pending and count < max_events:
            seq, event, future = popleft()
            try:
                data = encode_json(complete_annotation(event))
            except Exception as exc:  # TypeError, ValueError, RecursionError, ...
                # Only reachable if the caller changed a nested value after logEvent.
                self._drop([(seq, event, future, b"")], DropReason.INVALID, None, str(exc))
                continue
            grown = len(data) + 1  # the event and its comma
            if grown > one_event_limit:
                self._drop(
                    [(seq, event, future, data)],
                    DropReason.PAYLOAD_TOO_LARGE,
                    None,
                    f"one event encodes to {len(data)} bytes",
                )
                continue
            if size + grown > limit:
                self._carry = (seq, event, future, data)
                break
            append((seq, event, future, data))
            size += grown
            count += 1
        batch.settle()  # before any flush check: the events left ``pending`` for ``items``
        with self._cond:
            self._window_deadline = (
                None if not pending and self._carry is None else self._window_deadline
            )
            self._complete_flushes()

    def _body(self, items: Sequence[Item]) -> bytes:
        body = self._prefix + b",".join([item[3] for item in items]) + self._suffix
        return gzip.compress(body, compresslevel=6) if self._options.gzip else body

    def _prepare(self, batch: _Batch) -> Exchange:
        """The request for ``batch`` (the timeout is set when it is submitted)."""
        return Exchange(batch, self._body(batch.items), None)

    def _complete(self, exchange: Exchange) -> None:
        """Classify the answer to ``exchange`` and apply the decision to its batch."""
        batch = exchange.batch
        events = [item[1] for item in batch.items]
        answer, error = exchange.answer, exchange.error
        if answer is not None:
            decision = classify(
                answer.status, answer.body, events, retry_after=answer.headers.get("retry-after")
            )
        else:  # a TransportError, or anything a user transport raised
            decision = classify_error(error or TransportError("no answer"))
        counters = self._counters
        counters.requests += 1
        response = Response(
            decision.status, decision.status_code, decision.body, decision.reason, decision.error
        )
        if batch.retries:
            counters.retries += 1
            self._call_on_retry(response, batch.retries - 1)
        self._apply(decision, batch, response)

    def _apply(self, decision: Decision, batch: _Batch, response: Response) -> None:
        items = batch.items
        action = decision.action
        if action is Action.DELIVERED:
            self._counters.delivered += len(items)
            EventFuture.resolve_all([item[2] for item in items], response)
            if self.spool is not None:
                self._settle_spool(items, ack=True)
                if self._spool_maybe_rows:
                    self._spool_poll_at = 0.0  # the server answers: send what the spool holds
            return
        if action is Action.DROP_ALL:
            if decision.reason == DropReason.INVALID_API_KEY and not self._warned_bad_key:
                self._warned_bad_key = True
                log.error(
                    "amplitude_legacy: Amplitude rejected the API key (400 Invalid API key); "
                    "every event sent with it is dropped. Check the key passed to init()."
                )
            self._drop(items, decision.reason or DropReason.INVALID, response)
            return
        if action is Action.DROP_LISTED:
            self._drop(
                [items[i] for i in sorted(decision.drop_indices)], DropReason.INVALID, response
            )
            self._resend_now(
                [it for i, it in enumerate(items) if i not in decision.drop_indices], batch
            )
            return
        if action is Action.SPLIT:
            half = len(items) // 2
            with self._cond:  # front of the queue, in order
                self._urgent.appendleft(_Batch(items[half:], batch.retries, 0, batch.expedited))
                self._urgent.appendleft(_Batch(items[:half], batch.retries, 0, batch.expedited))
            return
        if action is Action.THROTTLE:
            drop, hold = decision.drop_indices, decision.hold_indices
            if drop:
                self._drop(
                    [items[i] for i in sorted(drop)], DropReason.RATE_LIMITED_QUOTA, response
                )
            self._back_off([items[i] for i in sorted(hold)], batch, decision, response)
            self._resend_now(
                [it for i, it in enumerate(items) if i not in drop and i not in hold], batch
            )
            return
        self._back_off(items, batch, decision, response)

    def _resend_now(self, items: List[Item], batch: _Batch) -> None:
        if items:
            with self._cond:
                self._urgent.appendleft(_Batch(items, batch.retries, 0, batch.expedited))

    def _back_off(
        self, items: List[Item], batch: _Batch, decision: Decision, response: Response
    ) -> None:
        if not items:
            return
        if self._offline:
            with self._cond:
                self._held.extend(items)
                self._held.sort(key=lambda item: item[0])
                excess = len(self._held) - self._options.max_cached_events
                oldest = self._held[:excess] if excess > 0 else []
                del self._held[: max(excess, 0)]
            if oldest:
                self._drop(
                    oldest, DropReason.QUEUE_FULL, response, "OfflineRetryHandler buffer full"
                )
            return
        delay = self._policy.delay(batch.retries, decision.retry_after)
        if delay is None:
            self._drop(
                items,
                DropReason.RETRIES_EXHAUSTED,
                response,
                decision.error or str(decision.status),
            )
            return
        due, expedited = time.monotonic() + delay, batch.expedited
        with self._cond:
            # A flush that is waiting for these events cuts one backoff short (not every one:
            # a flush must not burn the whole schedule against a server that is down).
            newest = max((r.target for r in self._flushes), default=-1)
            if expedited < 0 and newest > items[0][0]:
                due, expedited = time.monotonic(), newest
            heapq.heappush(self._retries, _Batch(items, batch.retries + 1, due, expedited))

    def _send_with_retry_class(self, items: List[Item]) -> None:
        """A user ``retryClass`` replaces everything: one call per batch, its answer is final."""
        retry: Any = self._custom_retry
        send = getattr(retry, "send_events_with_retry", None) or retry.sendEventsWithRetry
        events = [item[1] for item in items]
        try:
            answer = send(events)
            status = getattr(answer, "status", None)
            if status is None and isinstance(answer, dict):
                status = answer.get("status")
            code = getattr(answer, "status_code", None) or getattr(answer, "statusCode", 0) or 0
            response = Response(Status(str(status)) if status else Status.UNKNOWN, int(code))
        except Exception as exc:
            log.exception("amplitude_legacy: retryClass.send_events_with_retry raised")
            response = Response(Status.SYSTEM_ERROR, 0, None, None, repr(exc))
        self._counters.requests += 1
        if response.status is Status.SUCCESS:
            self._counters.delivered += len(items)
            EventFuture.resolve_all([item[2] for item in items], response)
            if self.spool is not None:
                self._settle_spool(items, ack=True)
        else:
            self._drop(items, DropReason.RETRY_CLASS_FAILED, response)

    # ------------------------------------------------------------------ bookkeeping

    def _call_on_retry(self, response: Response, attempt: int) -> None:
        on_retry = self._options.on_retry
        if on_retry is None:
            return
        try:
            on_retry(response, attempt, self._policy.is_last(attempt))
        except Exception:
            log.exception("amplitude_legacy: the onRetry callback raised (ignored)")
            self._counters.callback_errors += 1

    def _drop(
        self,
        items: Sequence[Item],
        reason: str,
        response: Response | None,
        detail: str | None = None,
    ) -> None:
        """Resolve ``items`` as not delivered, count them, log once per burst, tell ``on_drop``."""
        if not items:
            return
        if self.spool is not None:
            if reason in _SPOOLABLE:
                items = self._keep_in_spool(items, response)
                if not items:
                    return
            else:
                self._settle_spool(items, ack=True)  # a permanent failure leaves the spool too
        if response is None or response.reason != reason:
            base = response or Response(Status.FAILED, 0)
            response = Response(
                base.status, base.status_code, base.body, reason, detail or base.error
            )
        # Count and notify first: whoever sees the future resolve also sees the counters.
        self._counters.drop(reason, len(items))
        self._drop_log.record(reason, len(items), detail or response.error)
        self._on_drop([complete_annotation(item[1]) for item in items], reason, response)
        EventFuture.resolve_all([item[2] for item in items], response)

    def _settle_spool(self, items: Sequence[Item], *, ack: bool) -> None:
        """Ack (delivered, or failed for good) or release the spool rows behind ``items``."""
        assert self.spool is not None
        ids = [i for i in map(_spool_id, items) if i is not None]
        if ids:
            (self.spool.ack if ack else self.spool.release)(ids)

    def _keep_in_spool(self, items: Sequence[Item], response: Response | None) -> List[Item]:
        """Transient failure with a spool: keep the events there instead of dropping them.

        Returns:
            The events that could not be kept (the write failed): they are dropped as usual.
        """
        spool = self.spool
        assert spool is not None
        backed = [item for item in items if _spool_id(item) is not None]
        self._settle_spool(backed, ack=False)  # already in the spool: just let go of the claim
        stored: List[Item] = []
        unstored: List[Item] = []
        datas: List[bytes] = []
        for item in items:
            if _spool_id(item) is not None:
                continue
            try:
                datas.append(item[3] or encode_json(complete_annotation(item[1])))
                stored.append(item)
            except Exception:
                unstored.append(item)
        refused: List[Item] = []
        if datas:
            refused_at = set(spool.refused(datas))
            failures = spool.write_failures
            lost = spool.put(datas)
            if spool.write_failures > failures:  # nothing of this write is on disk
                unstored.extend(stored)
                stored = []
            else:
                refused = [item for i, item in enumerate(stored) if i in refused_at]
                stored = [item for i, item in enumerate(stored) if i not in refused_at]
                evicted = lost - len(refused_at)
                if evicted > 0:  # older spooled events evicted to make room
                    self._counters.drop(DropReason.SPOOL_FULL, evicted)
                    self._drop_log.record(DropReason.SPOOL_FULL, evicted, spool.path)
        # Events written ahead (spoolMode="always") count as spooled now; rows taken back from
        # the spool were counted when they first went in.
        written_ahead = [item for item in backed if not item[2].__dict__.get("_from_spool")]
        self._counters.spooled += len(stored) + len(written_ahead)
        # Try the spool again later; a delivery (the server is back) brings this forward.
        self._spool_maybe_rows = True
        self._spool_poll_at = time.monotonic() + SPOOL_RETRY_INTERVAL
        base = response or Response(Status.FAILED, 0)
        kept = Response(
            base.status, base.status_code, base.body, DropReason.SPOOLED,
            "kept in the spool; sent when the server is back or by the next client",
        )  # fmt: skip
        EventFuture.resolve_all([item[2] for item in backed + stored], kept)
        if refused:
            self._drop(refused, DropReason.SPOOL_FULL, response, "the spool refused them (full)")
        return unstored

    def _drop_everything(self, reason: str) -> None:
        """Drop every event still queued (shutdown ran out of time). Called with the lock held."""
        left: List[Item] = list(self._held)
        self._held.clear()
        if self._carry is not None:
            left.append(self._carry)
            self._carry = None
        for batch in itertools.chain(self._urgent, self._retries):
            left.extend(batch.items)
        self._urgent.clear()
        self._retries.clear()
        while self.pending:
            seq, event, future = self.pending.popleft()
            left.append((seq, event, future, b""))
        if left:
            left.sort(key=lambda item: item[0])
            self._cond.release()  # user callbacks must not run under our lock
            try:
                self._drop(left, reason, None, "shutdown ran out of time")
            finally:
                self._cond.acquire()
        for request in self._flushes:
            request.done.set()
        self._flushes.clear()

    def _expedite_retries(self) -> None:
        """A flush cuts the current backoff short, once (called with the lock held)."""
        now = time.monotonic()
        newest = max((r.target for r in self._flushes), default=-1)
        for batch in self._retries:
            if batch.expedited < 0:  # once per batch: flushes must not burn the schedule
                batch.due, batch.expedited = min(batch.due, now), newest
        heapq.heapify(self._retries)
        if self._held:
            self._urgent.append(_Batch(self._held[:]))
            self._held.clear()

    def _low_watermark(self) -> float:
        """The smallest seq not yet resolved (lock held); inf when nothing is outstanding."""
        low = _INFINITY
        if self.pending:
            low = self.pending[0][0]
        if self._carry is not None:
            low = min(low, self._carry[0])
        for batch in itertools.chain(self._urgent, self._retries):
            low = min(low, batch.low)
        for active in (self._in_flight, self._sending.batch if self._sending else None):
            if active is not None:
                low = min(low, active.low)
        return low

    def _complete_flushes(self) -> None:
        if not self._flushes:
            return
        low = self._low_watermark()
        still = []
        for request in self._flushes:
            if request.target <= low:
                request.done.set()
            else:
                still.append(request)
        self._flushes = still

    def _count_before(self, target: float) -> int:
        """Events with seq < target still outstanding (lock held)."""
        # list() copies in C, under the GIL: callers append to ``pending`` without the lock.
        count = sum(1 for entry in list(self.pending) if entry[0] < target)
        batches: List[Sequence[Item]] = [
            b.items for b in itertools.chain(self._urgent, self._retries)
        ]
        if self._in_flight is not None:
            batches.append(self._in_flight.items)
        if self._sending is not None:
            batches.append(self._sending.batch.items)
        if self._carry is not None:
            batches.append([self._carry])
        batches.append(self._held)
        return count + sum(1 for items in batches for item in items if item[0] < target)
