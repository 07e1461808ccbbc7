"""The worker: one thread per client that does what the scheduler says, step after step.

``Ledger.next_step`` waits until there is something to do and names it (the rules are in
``_scheduler.py``); the worker carries it out: encode queued events into a batch (``FILL``),
hand a batch to an I/O thread (``SUBMIT``), apply an answer (``APPLY``), move due retries
along (``PROMOTE``), read the spool (``POLL_SPOOL``), or drain and end (``STOP``). The worker
alone encodes events and applies answers; the ledger alone moves events between states; the
I/O threads (``_sender.py``) only put requests on the wire. A step that fails unexpectedly
drops (or spools) the events it held, logged and counted: the thread never dies.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING, Any, Callable, List, Sequence

from amplitude_legacy._delivery import NOT_STARTED, Answer, Delivery, transport_for
from amplitude_legacy._encoding import Wire, encode_event, encoder
from amplitude_legacy._errors import InvalidEventError, TransportError
from amplitude_legacy._event import LIBRARY, Event, find_problem, new_insert_id
from amplitude_legacy._keeper import SPOOL_LEASE, NoSpool, SpoolKeeper
from amplitude_legacy._ledger import MAX_WAIT, Batch, Ledger, Report
from amplitude_legacy._options import Options
from amplitude_legacy._outcomes import Reporter
from amplitude_legacy._response import Response
from amplitude_legacy._retry import DropReason, classify_error
from amplitude_legacy._scheduler import Step
from amplitude_legacy._sender import Sender
from amplitude_legacy._stats import Counters, DropLog, FlushResult

if TYPE_CHECKING:
    from amplitude_legacy._transport import Transport

__all__ = ["Worker"]

log = logging.getLogger("amplitude_legacy")

#: How long ``shutdown`` waits past its timeout for the worker to account for leftovers.
SHUTDOWN_GRACE = 0.5
_INF = float("inf")


def deadline_after(timeout: float | None) -> float:
    """The monotonic deadline ``timeout`` seconds from now (``None`` or ``inf``: never).

    Raises:
        ValueError: ``timeout`` is NaN or not a number.
    """
    if timeout is None:
        return _INF
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout != timeout:
        raise ValueError(f"timeout must be a number of seconds or None, got {timeout!r}")
    return time.monotonic() + max(0.0, timeout)


class Worker:
    """Owns the ledger, the worker thread and the I/O threads of one client.

    Args:
        api_key: sent in every body; never logged.
        options: the client's validated options.
        counters: shared with the client, which counts caller-side drops.
        drop_log: shared with the client: one burst log for both sides.
        on_drop: called with every event that is not delivered and its reason.
    """

    def __init__(
        self,
        api_key: str,
        options: Options,
        counters: Counters,
        drop_log: DropLog,
        on_drop: Callable[[Sequence[Event], str, Response | None], None],
    ) -> None:
        self._options = options
        self._counters = counters
        self.wire = Wire(api_key, options.server_url, options.min_id_length, options.gzip)
        self.delivery = Delivery(api_key, options, self.wire, transport_for(options))
        self.keeper: Any = NoSpool()
        if options.spool_path:
            from amplitude_legacy._spool import Spool

            spool = Spool(
                options.spool_path,
                mode=options.spool_mode,
                max_events=options.spool_max_events,
                lease_seconds=SPOOL_LEASE,
            )
            self.keeper = SpoolKeeper(spool, counters)
        self.reporter = Reporter(counters, drop_log, on_drop, self.keeper)
        if isinstance(self.keeper, SpoolKeeper):
            self.keeper.report_lost = self.reporter.lost_in_spool
        self.ledger = Ledger(
            self.reporter,
            max_cached=options.max_cached_events,
            max_queue=options.max_queue_size,
            interval=options.upload_interval_in_sec,
            max_in_flight=self.delivery.max_in_flight,
            ahead=self.delivery.ahead,
            max_held=options.max_cached_events,
            batch_size=self.wire.max_events,
        )
        self._drop_log = drop_log
        self._warned_bad_key = False
        #: ``logEvent`` leaves each event's check to ``_fill`` (see ``NodeClient._check_on_worker``)
        self.checks_events = False
        # Checked locally, so a short id is reported with its length and the minimum, not as
        # a 400 later (Amplitude's default minimum is 5).
        self.min_id_length = 5 if options.min_id_length is None else options.min_id_length
        self._reset_threads()

    def _reset_threads(self) -> None:
        self._thread: threading.Thread | None = None
        self._sender: Sender[Batch] = Sender(self._exchange, self.delivery.max_in_flight)
        self.stopped = False  # the thread drained for the last time

    # ------------------------------------------------------------------ the client's side

    def start(self) -> None:
        """Start the worker and the first I/O thread (lazily, on the first event)."""
        with self.ledger.cond:
            if self._thread is not None:
                return
            self._thread = thread = threading.Thread(
                target=self._run, name="amplitude_legacy-worker", daemon=True
            )
        # Started outside the lock: under gevent, Thread.start() switches greenlets, and a
        # lock created before monkey-patching (gunicorn --preload -k gevent) would deadlock.
        self._sender.start()
        try:
            thread.start()
        except RuntimeError:
            # No thread at all (a first event logged during interpreter shutdown): events stay
            # queued, flush returns at once, and shutdown drops or spools them, counted.
            log.warning("amplitude_legacy: cannot start the worker thread (interpreter exiting)")
            self._thread = None
            self._sender.stop()

    def flush(self, timeout: float | None) -> FlushResult:
        """Block until every event accepted before the call is resolved, or ``timeout``."""
        ledger = self.ledger
        deadline = deadline_after(timeout)
        if ledger.settled:
            return FlushResult()
        on_worker = threading.current_thread() is self._thread
        if self.stopped or on_worker or self._thread is None:  # nobody would answer a flush
            if on_worker:  # a callback would wait on itself
                log.warning("amplitude_legacy: flush() called on the worker thread; not waiting")
            return FlushResult(pending=ledger.outstanding(), timed_out=True)
        delivered, dropped = self._counters.totals()
        request = ledger.request_flush()
        if request is None:
            return FlushResult()
        done = False
        while not done:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            done = request.done.wait(min(left, MAX_WAIT))
        pending = ledger.forget_flush(request)
        after_delivered, after_dropped = self._counters.totals()
        return FlushResult(after_delivered - delivered, after_dropped - dropped, pending, not done)

    def shutdown(self, timeout: float | None) -> FlushResult:
        """Flush, then stop: no request starts after the deadline; the rest is accounted for."""
        ledger = self.ledger
        deadline = deadline_after(timeout)
        ledger.set_deadline(deadline)
        result = self.flush(None if deadline == _INF else max(0.0, deadline - time.monotonic()))
        ledger.close(deadline)
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            # A short grace past the deadline lets the worker apply the last answers and
            # account for what is left (local work only: no request starts after the deadline).
            grace = SHUTDOWN_GRACE + max(0.0, deadline - time.monotonic())
            thread.join(min(grace, MAX_WAIT))
        if thread is None:  # never started, or could not start: account for the events here
            self._stop()
        try:
            self.delivery.transport.close()
        except Exception:
            log.exception("amplitude_legacy: closing the transport failed")
        self.keeper.close()
        self._drop_log.flush()
        return result

    def after_fork_in_child(self, transport: Transport, *, late: bool = False) -> None:
        """Forget the parent's threads, lock and events; use a transport of our own.

        ``late``: noticed after the child logged (a fork that ran no Python fork hook): what
        the intake holds is kept.
        """
        self.ledger.reset(keep_intake=late)
        self.delivery.transport = transport
        self._reset_threads()

    # ------------------------------------------------------------------ the worker thread

    def _run(self) -> None:
        ledger = self.ledger
        while True:
            step = ledger.next_step()
            if step is Step.STOP:
                self._stop()
                return
            try:
                if step is Step.APPLY:
                    answered = ledger.next_answer()
                    if answered is not None:
                        self._apply(*answered)
                elif step is Step.SUBMIT:
                    self._submit(ledger.submit())
                elif step is Step.FILL:
                    self._fill()
                elif step is Step.PROMOTE:
                    ledger.promote_due()
                elif step is Step.POLL_SPOOL:
                    ledger.add_from_spool(self.keeper.take(self.wire.max_events))
            except BaseException as exc:  # never let the worker die: log, count, go on
                log.exception("amplitude_legacy: unexpected error in the worker (%s)", step)
                if step is Step.FILL:  # whatever it was would fail again: let those events go
                    ledger.abandon(ledger.staged(), DropReason.INTERNAL_ERROR, repr(exc))

    def _stop(self) -> None:
        """Apply the answers that came in time, resolve everything else, end the I/O threads.

        The drain and the flags run whatever a callback raised: the caller of ``shutdown``
        and every future depend on them.
        """
        ledger = self.ledger
        try:
            while True:
                answered = ledger.next_answer()
                if answered is None:
                    break
                self._apply(*answered)
        finally:
            try:
                ledger.drain()
            finally:
                self.stopped = True
                self._sender.stop()

    def _fill(self) -> None:
        """Encode newly staged events, then cut the next batch from the front."""
        wire = self.wire
        limit = wire.max_bytes - wire.overhead  # one event alone must fit a request
        bad: List[Report] = []
        encode, get, new_id = encoder(), dict.get, new_insert_id
        checks, min_id_length = self.checks_events, self.min_id_length
        for item in self.ledger.stage(wire.max_events):
            event = item.event
            if checks:
                problem = find_problem(event, min_id_length)
                if problem is not None:
                    bad.append(("dropped", [item], DropReason.INVALID, None, problem[1]))
                    continue
            # complete_annotation, inline: this loop is most of the worker's CPU per event
            if get(event, "insert_id") is None:
                event["insert_id"] = new_id()
            if "library" not in event:
                event["library"] = LIBRARY
            try:
                data = encode(event)
            except Exception:  # a value changed after logEvent, an int beyond orjson's 64 bits
                try:
                    data = encode_event(event)  # encodes it, or says which field cannot be
                except InvalidEventError as exc:
                    bad.append(("dropped", [item], DropReason.INVALID, None, str(exc)))
                    continue
            if len(data) + 1 > limit:
                detail = f"one event encodes to {len(data)} bytes"
                bad.append(("dropped", [item], DropReason.PAYLOAD_TOO_LARGE, None, detail))
                continue
            item.data = data
        self.ledger.cut(wire.max_events, wire.max_bytes, wire.overhead, bad)

    def _submit(self, batch: Batch) -> None:
        try:
            if self._sender.submit(batch):
                return
        except BaseException:
            log.exception("amplitude_legacy: could not hand a request to an I/O thread")
        self._exchange(batch)  # no I/O thread (interpreter shutdown): send it from here

    def _exchange(self, batch: Batch) -> None:
        """One request (on an I/O thread): send, classify, hand the answer to the ledger.

        Whatever happens, the ledger gets an answer: a batch never stays on the wire.
        """
        ledger = self.ledger
        answer = NOT_STARTED
        try:
            if ledger.begin(batch):
                items = batch.items
                events = [item.event for item in items]
                answer = self.delivery.send(events, [item.data for item in items], ledger.deadline)
        except BaseException as exc:  # Delivery.send does not raise; this is the last resort
            decision = classify_error(TransportError(repr(exc)))
            answer = Answer(decision, Response(decision.status, 0, None, None, decision.error))
        ledger.answered(batch, answer)

    def _apply(self, batch: Batch, answer: Answer) -> None:
        """Count the request, tell ``onRetry``, and let the ledger move the batch's events."""
        try:
            if not answer.started:
                self.ledger.not_sent(batch)
                return
            retry = batch.retries > 0
            self._counters.add_request(retry=retry)
            if retry:
                self._call_on_retry(answer.response, batch.retries - 1)
            decision = answer.decision
            if decision.reason == DropReason.INVALID_API_KEY and not self._warned_bad_key:
                self._warned_bad_key = True
                log.error(
                    "amplitude_legacy: Amplitude rejected the API key (400 Invalid API key); "
                    "every event sent with it is dropped. Check the key passed to init()."
                )
            delivery = self.delivery
            self.ledger.apply(
                batch, decision, answer.response, delivery.transient_delay, delivery.strategy.hold
            )
        except BaseException as exc:
            log.exception("amplitude_legacy: unexpected error applying an answer")
            self.ledger.abandon(batch.items, DropReason.INTERNAL_ERROR, repr(exc))

    def _call_on_retry(self, response: Response, attempt: int) -> None:
        on_retry = self._options.on_retry
        if on_retry is None:
            return
        try:
            on_retry(response, attempt, self.delivery.strategy.policy.is_last(attempt))
        except Exception:
            log.exception("amplitude_legacy: the onRetry callback raised (ignored)")
            self._counters.add_callback_error()
