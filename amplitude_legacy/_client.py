"""``NodeClient``: the legacy client. The caller's side of every event lives here.

``logEvent`` does, in order: opt-out check, annotation (library, plan, ingestion metadata,
time, insert_id), middleware, validation, enqueue. It never does I/O or JSON encoding; the
worker (``_worker.py``) does. Lifecycle: the worker starts on the first event, an atexit hook
flushes with a bound, and a forked child gets a fresh worker, lock and connection pool.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from typing import TYPE_CHECKING, Any, Dict, Mapping, Sequence, Tuple, Union, overload

from amplitude_legacy import _lifecycle
from amplitude_legacy._context import _VALUES as _CONTEXT
from amplitude_legacy._context import merged_extra
from amplitude_legacy._delivery import transport_for
from amplitude_legacy._encoding import encode_event
from amplitude_legacy._errors import AmplitudeError, InvalidEventError, OptionsError
from amplitude_legacy._event import (
    LIBRARY,
    Event,
    complete_annotation,
    find_problem,
    new_insert_id,
)
from amplitude_legacy._future import EventFuture, new_future, resolved
from amplitude_legacy._identify import Identify, legacy_identify_event
from amplitude_legacy._middleware import Chain, Middleware, Stop, plan_chain, run_chain
from amplitude_legacy._options import LogLevel, Options, resolve_options
from amplitude_legacy._plugin_api import EventOptionsLike, PluginApiMixin
from amplitude_legacy._response import SKIPPED_RESPONSE, Response, Status
from amplitude_legacy._retry import DropReason
from amplitude_legacy._signals import SignalFlusher, parse_signals
from amplitude_legacy._stats import ClientStats, Counters, DropLog, FlushResult
from amplitude_legacy._worker import Worker, deadline_after

if TYPE_CHECKING:
    from amplitude_legacy.plugins._types import ResultFuture

__all__ = [
    "DEFAULT_INSTANCE",
    "LIBRARY",
    "NodeClient",
    "create_instance",
    "get_instance",
    "init",
]

log = logging.getLogger("amplitude_legacy")

#: The name ``init`` registers its client under (as ``getInstance()`` returns it).
DEFAULT_INSTANCE = "$default_instance"

_now = time.time
_dict_get = dict.get  # Event defines __getattr__, which makes ev.get a slow lookup
_SKIPPED = Status.SKIPPED  # an Enum member's lookup costs ~1k instructions: once
OptionsArg = Union[Options, Mapping[str, Any], None]


def _configure_logging(options: Options) -> None:
    # Legacy: debug turns on WARN, logLevel 1..3 picks the level. Drop warnings are always
    # emitted at WARNING; these options only add detail (VERBOSE -> DEBUG).
    level = options.log_level or (LogLevel.WARN if options.debug else LogLevel.NONE)
    if level:
        # Never above WARNING: the once-per-burst warnings about lost events stay visible.
        log.setLevel({1: logging.WARNING, 2: logging.WARNING, 3: logging.DEBUG}[level])


class NodeClient(PluginApiMixin):
    """The legacy Amplitude client: ``logEvent``, ``identify``, middleware, flush.

    Build it with ``amplitude_legacy.init(api_key, options)``. Every camelCase method has a
    snake_case twin (``log_event``, ``add_event_middleware``, ...). Thread-safe.

    Args:
        api_key: your Amplitude project's API key. Never logged.
        options: a legacy camelCase dict, an ``Options``, or ``None``.
        **kwargs: options as snake_case keywords.

    Raises:
        OptionsError: a bad option (the message names it) or an API key that is not a string.

    Examples:
        >>> client = NodeClient("API_KEY", {"serverUrl": collector.http_api_url})
        >>> client.logEvent({"event_type": "Signed Up", "user_id": "user-123"}).result(10).status
        <Status.SUCCESS: 'success'>
    """

    def __init__(self, api_key: str, options: OptionsArg = None, **kwargs: Any) -> None:
        if not isinstance(api_key, str):
            raise OptionsError("apiKey", f"must be a string, got {type(api_key).__name__}")
        if not api_key:
            log.warning("amplitude_legacy: the API key is empty; Amplitude will reject events")
        self._options = resolve_options(options, **kwargs)
        _configure_logging(self._options)
        self._api_key = api_key
        # The middleware as registered, and as logEvent runs it (plan_chain; None when there is
        # none): both replaced whole, under the lock, by _set_middleware; logEvent reads only
        # _chain, once.
        self._middleware: Tuple[Middleware, ...] = ()
        self._chain: Chain | None = None
        self._routes: Dict[str, Any] = {}  # destinations of routing middleware, by name
        # Plugin API (amplitude_legacy.plugins): enrichment plugins live in ``_middleware``
        # (wrapped), so they interleave with legacy middleware in registration order.
        self._before: Tuple[Any, ...] = ()
        self._destinations: Tuple[Any, ...] = ()
        self._plugins: Dict[str, Any] = {}
        self._opt_out = self._options.opt_out
        # disabled / dryRun: events stop after validation (read on every call: keep local)
        self._not_sending = self._options.disabled or self._options.dry_run
        self._closed = False
        self._shut = threading.Event()  # set when the first shutdown() has finished
        self._warned_closed = False
        self._lock = threading.Lock()
        self._counters = Counters()
        self._drop_log = DropLog()
        self._worker = Worker(
            api_key, self._options, self._counters, self._drop_log, self._notify_drop
        )
        self._ledger = self._worker.ledger  # logEvent appends to it: keep it one lookup away
        self._min_id_length = self._worker.min_id_length
        self._check_here = True  # False: the worker checks each event (_check_on_worker)
        self._plan = dict(self._options.plan) if self._options.plan else None
        self._ingestion = (
            dict(self._options.ingestion_metadata) if self._options.ingestion_metadata else None
        )
        self._pid = os.getpid()
        self._write_ahead = self._options.spool_path is not None and (
            self._options.spool_mode == "always"
        )
        self._running = False  # the worker starts with the first event (or the spool)
        self._signals: SignalFlusher | None = None  # (read by _start)
        if self._options.spool_path is not None:
            self._start()  # send what an earlier run left in the spool, now
        ref = weakref.ref(self)
        _lifecycle.track(self)  # the exit flush and the fork reset (one hook for all clients)
        if self._options.flush_on_signals:
            self._signals = SignalFlusher(
                lambda bound: _shutdown_if_alive(ref, bound), self._options.exit_flush_timeout
            )
            self._signals.install(parse_signals(self._options.flush_on_signals))

    @property
    def closed(self) -> bool:
        """Whether ``shutdown`` was called; events logged afterwards resolve ``skipped``."""
        return self._closed

    def __repr__(self) -> str:  # the API key stays out of reprs, logs and errors
        return f"<NodeClient server_url={self._options.server_url!r} closed={self._closed}>"

    # ------------------------------------------------------------------ options

    def getOptions(self) -> Options:
        """The options in effect.

        Returns:
            The validated, frozen ``Options``; camelCase reads work too
            (``client.getOptions().maxCachedEvents``). Use ``setOptOut`` to change opt-out.

        Examples:
            >>> client.getOptions().max_cached_events
            16000
        """
        return self._options

    def setOptOut(self, opt_out: bool) -> None:
        """Turn opt-out on or off (the legacy ``getOptions().optOut = ...``).

        Args:
            opt_out: while true, every event resolves ``skipped`` at once, nothing runs and
                nothing is sent (counted as ``opt_out`` in ``stats().dropped``).

        Examples:
            >>> client.setOptOut(True)   # e.g. the user declined tracking
        """
        self._opt_out = bool(opt_out)

    # ------------------------------------------------------------------ middleware

    def addEventMiddleware(self, middleware: Middleware) -> NodeClient:
        """Append a ``(payload, next)`` middleware; returns the client so calls chain.

        Middleware runs on the caller's thread, in the order added, after annotation and
        before validation. Not calling ``next`` stops the event (its future resolves
        ``skipped``); an exception is set on the future and the event is not sent.

        Args:
            middleware: ``middleware(payload, next)``; ``payload.event`` is the ``Event``,
                ``payload.extra`` the second argument of ``logEvent``.

        Returns:
            The client, so ``addEventMiddleware(a).addEventMiddleware(b)`` chains.

        A middleware carrying a ``destinations`` attribute (``amplitude_legacy.middleware.route``
        does) registers them: ``flush`` and ``shutdown`` include them and ``stats()`` reports
        each by name.

        Raises:
            TypeError: ``middleware`` is not callable.
            ValueError: it carries a destination whose name is already registered here.

        Examples:
            >>> def drop_health_checks(payload, next):
            ...     if payload.event.event_type != "Health Check":
            ...         next(payload)
            >>> client.addEventMiddleware(drop_health_checks)
        """
        if not callable(middleware):
            raise TypeError(f"middleware must be callable, got {type(middleware).__name__}")
        with self._lock:  # the chain is an immutable tuple: readers never see a half change
            self._register_destinations(middleware)
            self._set_middleware((*self._middleware, middleware))
        return self

    def _set_middleware(self, middleware: Tuple[Middleware, ...]) -> None:
        """Replace the chain (lock held). ``logEvent`` reads only ``_chain``, one immutable
        pair, so it never sees half a change."""
        self._middleware = middleware
        self._chain = plan_chain(middleware) if middleware else None

    def _register_destinations(self, middleware: Any) -> None:
        """Register the ``destinations`` a (routing) middleware carries (lock held).

        The same destination object routed to twice counts once; two different objects
        with one name raise ``ValueError``.
        """
        destinations = tuple(getattr(middleware, "destinations", None) or ())
        fresh: Dict[str, Any] = {}
        for destination in destinations:
            name = str(getattr(destination, "name", ""))
            known = self._routes.get(name, fresh.get(name))
            if known is None:
                fresh[name] = destination
            elif known is not destination:
                raise ValueError(
                    f"a destination named {name!r} is already registered on this client: "
                    "give each destination its own name=..."
                )
        self._routes.update(fresh)

    # ------------------------------------------------------------------ events

    def logEvent(
        self, event: Mapping[str, Any], extra: Dict[str, Any] | None = None
    ) -> EventFuture:
        """Queue one event; returns a future of its ``Response``.

        The future resolves once the event is delivered (``success``) or dropped (with the
        reason in ``Response.reason``); ``skipped`` when opted out or stopped by middleware;
        ``invalid`` when it breaks a validation rule (``Response.error`` names the field).
        The caller's dict is copied, never changed. Never blocks, never does I/O.

        Args:
            event: the event, with the HTTP V2 field names (``event_type``, ``user_id``, ...).
            extra: anything for your middleware (``payload.extra``); never sent.

        Returns:
            An ``EventFuture`` (a ``concurrent.futures.Future[Response]``, also awaitable).
        """
        if self._opt_out:
            self._counters.drop(DropReason.OPT_OUT, 1)
            return resolved(SKIPPED_RESPONSE)
        if self._closed:
            return self._after_shutdown(event)
        # dict (and Event) first: isinstance against the Mapping ABC costs ~0.5 µs
        ev = Event(event) if isinstance(event, (dict, Mapping)) else None
        if ev is None:
            return self._reject(
                event,
                DropReason.INVALID,
                Status.INVALID,
                f"Invalid event: expected a dict, got {type(event).__name__}",
            )
        get = _dict_get
        chain = self._chain
        if self._before or chain is not None or self._destinations or self._write_ahead:
            # Something may look at the event before it is encoded: annotate it fully now.
            ev["library"] = LIBRARY
            if get(ev, "insert_id") is None:
                ev["insert_id"] = new_insert_id()
        elif "library" in ev:
            ev["library"] = LIBRARY  # the caller's own value never goes out (legacy)
        # else: the worker adds insert_id and library right before encoding (complete_annotation)
        if self._plan is not None:
            ev["plan"] = {**self._plan, **(get(ev, "plan") or {})}
        if self._ingestion is not None:
            ev["ingestion_metadata"] = {**self._ingestion, **(get(ev, "ingestion_metadata") or {})}
        if get(ev, "time") is None:
            ev["time"] = int(_now() * 1000)
        if self._before:
            before = self._run_before(ev)
            if before is None:
                return self._reject(
                    ev, DropReason.MIDDLEWARE_STOPPED, _SKIPPED, "A plugin dropped the event."
                )
            ev = before
        if chain is not None:
            middleware, steps = chain
            # Amplitude.context(...): its values under the caller's extra (only a chain reads
            # extra, so nothing is merged for ready-made steps or without middleware)
            if steps is None and _CONTEXT.get() is not None:
                extra = merged_extra(extra)
            try:
                # Ready-made middleware only: no payload, next or extra. The loop of a fused
                # run (_middleware._steps_middleware), inline: a call costs about a step.
                if steps is not None:
                    final: Event | Stop = ev
                    for step in steps:
                        stopped = step(ev)
                        if stopped is not None:
                            final = stopped
                            break
                else:
                    final = run_chain(middleware, ev, extra)
            except Exception as exc:
                return self._middleware_failed(ev, exc)
            if isinstance(final, Stop):
                return self._reject(ev, final.reason, _SKIPPED, final.detail or final.reason)
            ev = final
        if self._check_here:
            problem = find_problem(ev, self._min_id_length)
            if problem is not None:
                return self._reject(ev, DropReason.INVALID, Status.INVALID, problem[1])
        if self._not_sending:
            return self._not_sent(ev)
        # The hand-off (Ledger.append), inline: every event passes here.
        if not self._running:
            self._start()
        future = new_future(EventFuture)  # its __init__ does nothing: skip the call
        if self._write_ahead:
            return self._enqueue_written_ahead(ev, future)
        if not self._ledger.append(ev, future, None):
            return self._queue_full(ev)
        if self._destinations:
            self._run_destinations(ev)
        return future

    def _check_on_worker(self) -> None:
        """Leave each event's check to the worker, which runs it before encoding.

        For a destination's client: ``route`` hands it a copy of every matching event and
        never reads the copy's future, so the check (most of a ``logEvent``) need not run on
        the caller's thread. An invalid event still ends ``invalid`` with the same message,
        counted and passed to ``onDrop``, only later. Not with ``spoolMode="always"`` (an
        event is spooled before the worker sees it) nor ``disabled``/``dryRun`` (events never
        reach the worker): those keep the check in ``logEvent``.
        """
        if not (self._write_ahead or self._not_sending):
            self._worker.checks_events = True
            self._check_here = False

    def _run_before(self, event: Event) -> Event | None:
        """Run ``before`` plugins; one that raises is logged, counted and skipped."""
        for plugin in self._before:
            try:
                out = plugin.execute(event)
            except Exception:
                self._plugin_failed(plugin, "execute")
                continue
            if out is None:
                return None
            event = out if type(out) is Event else Event(out)
        return event

    def _run_destinations(self, event: Event) -> None:
        """Hand the event to each extra destination; failures never reach the caller."""
        for plugin in self._destinations:
            try:
                plugin.execute(event)
            except Exception:
                self._plugin_failed(plugin, "execute")

    def _plugin_failed(self, plugin: Any, method: str) -> None:
        name = getattr(plugin, "name", type(plugin).__name__)
        log.exception("amplitude_legacy: plugin %r raised in %s (skipped)", name, method)
        self._counters.add_plugin_error()

    def _call_plugins(self, method: str) -> None:
        """Call ``flush``/``teardown`` on every plugin that has it, guarded."""
        for plugin in list(self._plugins.values()):
            fn = getattr(plugin, method, None)
            if callable(fn):
                try:
                    fn()
                except Exception:
                    self._plugin_failed(plugin, method)

    def _enqueue_written_ahead(self, event: Event, future: EventFuture) -> EventFuture:
        """``spoolMode="always"``: the event goes to the spool before the queue."""
        spool_id = self._worker.keeper.write_ahead(event)
        if not self._ledger.append(event, future, spool_id):
            self._worker.keeper.discard(spool_id)
            return self._queue_full(event)
        if self._destinations:
            self._run_destinations(event)
        return future

    def _queue_full(self, event: Event) -> EventFuture:
        return self._reject(
            event,
            DropReason.QUEUE_FULL,
            Status.FAILED,
            f"maxQueueSize ({self._options.max_queue_size}) events are waiting",
        )

    def _start(self) -> None:
        with self._lock:
            if os.getpid() != self._pid:  # backstop for forks that ran no fork hook
                self._reinit_after_fork(late=True)
            if self._running:
                return
            # Set before the start, outside the lock: under gevent, Thread.start() switches
            # greenlets, and the next one must append, not wait on this (unpatched) lock.
            self._running = True
        self._worker.start()
        if self._signals is not None:
            self._signals.start_helper()  # a forked child's own (the parent's starts at init)

    def _after_shutdown(self, event: object) -> EventFuture:
        """An event logged after ``shutdown``: skipped, counted, and a warning the first time."""
        if not self._warned_closed:
            self._warned_closed = True
            log.warning(
                "amplitude_legacy: logEvent after shutdown(): the event is not sent (client_closed)"
                "; this client stays closed (check client.closed, or create a new client)"
            )
        return self._reject(event, DropReason.CLIENT_CLOSED, Status.SKIPPED, "client is shut down")

    def _not_sent(self, event: Event) -> EventFuture:
        """``disabled`` / ``dryRun``: the event went through everything but is not sent."""
        if self._options.dry_run:
            _log_dry_run(event)
            reason = DropReason.DRY_RUN
        else:
            reason = DropReason.DISABLED
        self._counters.drop(reason, 1)
        return resolved(Response(Status.SKIPPED, 0, None, reason, f"not sent ({reason})"))

    def _reject(self, event: object, reason: str, status: Status, message: str) -> EventFuture:
        """Resolve an event that never reaches the worker, counted under ``reason``."""
        response = Response(status, 0, None, reason, message)
        self._counters.drop(reason, 1)
        if status is not _SKIPPED:
            self._drop_log.record(reason, 1, message)
        else:  # stopped on purpose (middleware, a closed client): not a loss to warn about
            log.debug("amplitude_legacy: %s", message)
        if self._options.on_drop is not None and isinstance(event, Event):
            self._notify_drop([complete_annotation(event)], reason, response)
        return resolved(response)

    def _middleware_failed(self, event: Event, exc: Exception) -> EventFuture:
        log.exception("amplitude_legacy: a middleware raised; the event is not sent")
        self._counters.drop(DropReason.MIDDLEWARE_ERROR, 1)
        self._notify_drop([event], DropReason.MIDDLEWARE_ERROR, None)
        future = EventFuture()
        future.set_exception(exc)
        return future

    def _notify_drop(self, events: Sequence[Event], reason: str, response: Response | None) -> None:
        callback = self._options.on_drop
        if callback is None or not events:
            return
        try:
            callback(list(events), reason)
        except Exception:
            log.exception("amplitude_legacy: the onDrop callback raised (ignored)")
            self._counters.add_callback_error()

    @overload
    def identify(
        self,
        user_id: Identify,
        device_id: EventOptionsLike = None,
        identify: None = None,
        event_options: EventOptionsLike = None,
    ) -> ResultFuture: ...

    @overload
    def identify(
        self,
        user_id: str | None,
        device_id: str | None,
        identify: Identify,
        event_options: None = None,
    ) -> EventFuture: ...

    def identify(
        self,
        user_id: Any,
        device_id: Any = None,
        identify: Identify | None = None,
        event_options: EventOptionsLike = None,
    ) -> EventFuture | ResultFuture:
        """Send an ``$identify`` event built from an ``Identify``.

        Legacy: ``identify(user_id, device_id, identify)`` returns a future of a ``Response``; a
        non-``Identify`` resolves ``skipped`` with a warning, as in the legacy SDK. New style
        (plugin API): ``identify(identify, event_options)`` returns a future of a ``Result``.
        Both go through the same plugins, middleware, validation and queue as ``logEvent``.

        Args:
            user_id: the user (legacy form), or the ``Identify`` (new style).
            device_id: the device (legacy form), or the event options (new style).
            identify: the ``Identify`` (legacy form).
            event_options: event fields merged into the event (new style).

        Returns:
            An ``EventFuture`` (legacy form) or a future of a ``Result`` (new style).

        Examples:
            >>> client.identify("user-123", None, Identify().set("plan", "pro"))
        """
        if isinstance(user_id, Identify):  # new style: identify(Identify, event_options)
            options = event_options if event_options is not None else device_id
            return self._identify_new_style(user_id, options)
        return self._log_identify(legacy_identify_event("user", identify, user_id, device_id))

    @overload
    def groupIdentify(
        self, group_type: str, group_name: Union[str, Sequence[str]], identify: Identify
    ) -> EventFuture: ...

    @overload
    def groupIdentify(
        self,
        group_type: str,
        group_name: Union[str, Sequence[str]],
        identify: Identify,
        event_options: EventOptionsLike,
    ) -> ResultFuture: ...

    def groupIdentify(
        self,
        group_type: str,
        group_name: Union[str, Sequence[str]],
        identify: Identify,
        event_options: EventOptionsLike = None,
    ) -> EventFuture | ResultFuture:
        """Send a ``$groupidentify`` event: set properties on a group (``Identify`` group ops).

        Legacy (3 arguments): a future of a ``Response``, a convenience over
        ``logEvent(identify.identifyGroup(group_type, group_name))``. With ``event_options``
        (plugin API, even ``{}``): a future of a ``Result``.

        Args:
            group_type: the group type (``"org"``).
            group_name: the group's name, or a list of names.
            identify: the group operations (``$set``, ``$add``, ...).
            event_options: event fields merged into the event (plugin API form).

        Returns:
            An ``EventFuture``, or a future of a ``Result`` with ``event_options``.

        Examples:
            >>> client.groupIdentify("org", "acme", Identify().set("size", 10))
        """
        if event_options is not None:
            return self._group_identify_new_style(group_type, group_name, identify, event_options)
        return self._log_identify(legacy_identify_event("group", identify, group_type, group_name))

    def _log_identify(self, event: Dict[str, Any] | str) -> EventFuture:
        """Log a legacy identify's event; with nothing to send (``event`` is why, already
        logged) resolve ``skipped``, counted as ``invalid`` input."""
        if isinstance(event, str):
            return self._reject(None, DropReason.INVALID, Status.SKIPPED, event)
        return self.logEvent(event)

    # ------------------------------------------------------------------ delivery

    def flush(self, timeout: float | None = None) -> FlushResult:
        """Send everything queued now and wait until each event logged before this call is
        delivered or dropped (retries included), or until ``timeout`` seconds pass.

        Costs microseconds when nothing is pending (safe to call at the end of every
        serverless invocation). Called from a callback that runs on the worker thread, it
        returns at once instead of waiting on itself.

        Args:
            timeout: seconds to wait at most; ``None`` waits until done.

        Returns:
            ``FlushResult(sent, dropped, pending, timed_out)``: events delivered and dropped
            while it waited, and events logged before the call that are still pending.

        Examples:
            >>> result = client.flush(timeout=10)
            >>> result.pending == 0 or result.timed_out
            True
        """
        self._check_fork()
        if self._plugins:
            self._call_plugins("flush")
        if not self._routes:
            return self._worker.flush(timeout)
        deadline = deadline_after(timeout)
        result = self._worker.flush(timeout)
        return _combined(result, self._routes.values(), "flush", deadline)

    async def flush_async(self, timeout: float | None = None) -> FlushResult:
        """``flush`` for asyncio code: awaits without blocking the event loop.

        The worker thread does the work; the wait happens on the loop's default executor (and
        not at all when nothing is pending).

        Examples:
            >>> result = await client.flush_async(timeout=5)
        """
        if self._ledger.settled:
            return FlushResult()
        import asyncio

        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, self.flush, timeout)

    def shutdown(self, timeout: float | None = None) -> FlushResult:
        """Flush, stop the worker and close the connection pool. Idempotent.

        Events still queued when ``timeout`` passes are dropped as ``shutdown_timeout``
        (counted, logged, passed to ``onDrop``), or kept in the spool when ``spoolPath`` is
        set. Events logged afterwards resolve ``skipped`` (reason ``client_closed``).

        Args:
            timeout: seconds for the final flush; ``None`` waits until done.

        Returns:
            The ``FlushResult`` of the final flush. A second call does nothing more: it
            waits for the first one to finish (another thread, a signal handler), within its
            own ``timeout``, and returns ``FlushResult()`` (or what is still pending).

        Examples:
            >>> client.shutdown(timeout=10)
        """
        deadline = deadline_after(timeout)
        self._check_fork()
        with self._lock:
            first = not self._closed
            self._closed = True
        if not first:
            left = None if deadline == float("inf") else max(0.0, deadline - time.monotonic())
            if self._shut.wait(left):
                return FlushResult()  # nothing more was done by this call
            return FlushResult(pending=self._ledger.outstanding(), timed_out=True)
        try:
            if self._signals is not None:
                self._signals.uninstall()
            result = self._worker.shutdown(timeout)
            if self._routes:
                result = _combined(result, self._routes.values(), "shutdown", deadline)
            if self._plugins:
                self._call_plugins("teardown")
        finally:
            _lifecycle.forget(self)  # now: until here the exit hook may still be waiting on it
            self._shut.set()
        return result

    def stats(self) -> ClientStats:
        """The client's counters.

        Returns:
            ``ClientStats``: delivered, dropped by reason, pending, requests, retries,
            callback and plugin errors, spooled.

        Examples:
            >>> client.stats().dropped.get("invalid", 0)
            0
        """
        destinations = {name: _guarded_stats(d) for name, d in self._routes.items()}
        return self._counters.snapshot(self._ledger.outstanding(), destinations)

    # ------------------------------------------------------------------ fork

    def _shutdown_at_exit(self) -> None:
        """The exit hook's part for this client: shut down within ``exitFlushTimeout`` (or
        wait that long for a shutdown already under way, e.g. ``init`` replacing it)."""
        bound = self._options.exit_flush_timeout
        result = self.shutdown(bound)
        if result.pending:
            log.warning(
                "amplitude_legacy: exiting with %d event(s) not delivered after %.1f s "
                "(raise exitFlushTimeout, or call flush() before exit)",
                result.pending,
                bound,
            )

    def _reinit_after_fork(self, *, late: bool = False) -> None:
        """In a forked child: fresh lock, counters, worker and pool; the parent's events stay
        the parent's. ``late``: the fork ran no Python fork hook (a C-level fork, as some
        servers do): what was logged in the child is kept."""
        if self._closed:
            return
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self._counters.reset()
        self._drop_log.reset()
        self._running = False
        new_insert_id.check_fork()
        if self._signals is not None:
            self._signals.after_fork_in_child()
        self._worker.after_fork_in_child(transport_for(self._options), late=late)
        self._ledger = self._worker.ledger

    def _check_fork(self) -> None:
        """A backstop for forks that ran no Python fork hook: checked where it is cheap to
        (flush, shutdown, exit; a pid check per event would cost a system call)."""
        if os.getpid() != self._pid:
            self._reinit_after_fork(late=True)
            if self._ledger.intake:
                self._start()  # what the child logged goes out now

    # snake_case aliases
    get_options = getOptions
    set_opt_out = setOptOut
    add_event_middleware = addEventMiddleware
    log_event = logEvent
    group_identify = groupIdentify
    flushAsync = flush_async


def _combined(result: FlushResult, destinations: Any, method: str, deadline: float) -> FlushResult:
    """``result`` plus the ``flush``/``shutdown`` of each destination, within one deadline."""
    sent, dropped, pending, timed_out = (
        result.sent,
        result.dropped,
        result.pending,
        result.timed_out,
    )
    for destination in list(destinations):
        left = None if deadline == float("inf") else max(0.0, deadline - time.monotonic())
        try:
            part = getattr(destination, method)(left)
        except Exception:
            log.exception("amplitude_legacy: destination %r raised in %s", destination, method)
            continue
        sent, dropped = sent + part.sent, dropped + part.dropped
        pending, timed_out = pending + part.pending, timed_out or part.timed_out
    return FlushResult(sent, dropped, pending, timed_out)


def _guarded_stats(destination: Any) -> ClientStats:
    try:
        return destination.stats()  # type: ignore[no-any-return]
    except Exception:
        log.exception("amplitude_legacy: destination %r raised in stats", destination)
        return ClientStats()


_dry_run_log = logging.getLogger("amplitude_legacy.dry_run")


def _log_dry_run(event: Event) -> None:
    """Log ``event`` as it would be sent; to stderr when logging is not configured."""
    if not _dry_run_log.hasHandlers():
        _dry_run_log.addHandler(logging.StreamHandler())
    if _dry_run_log.level == logging.NOTSET:
        _dry_run_log.setLevel(logging.INFO)
    try:
        text = encode_event(complete_annotation(event)).decode()
    except InvalidEventError as exc:  # validation passed: only a value changed since can fail
        text = f"<{exc}>"
    _dry_run_log.info("amplitude_legacy dry run: %s", text)


def _shutdown_if_alive(ref: weakref.ReferenceType[NodeClient], bound: float) -> None:
    client = ref()
    if client is not None:
        client.shutdown(bound)


_instances: Dict[str, NodeClient] = {}
_instances_lock = threading.Lock()


def init(
    api_key: str, options: OptionsArg = None, *, instance_name: str | None = None, **kwargs: Any
) -> NodeClient:
    """Create a client and register it as the default (or a named) instance.

    Args:
        api_key: your Amplitude project's API key.
        options: a legacy camelCase dict (``{"maxCachedEvents": 20000}``), an ``Options``, or
            ``None``.
        instance_name: register under this name (``getInstance(name)``) instead of the default.
        **kwargs: options as snake_case keywords (``max_cached_events=20000``).

    Returns:
        The new ``NodeClient``. A client previously registered under the same name is shut
        down in the background (flushed, bounded by its ``exitFlushTimeout``): ``init``
        returns at once even when that client's server is unreachable.

    Raises:
        OptionsError: a bad option; the message names it.

    Examples:
        >>> import amplitude_legacy as Amplitude
        >>> client = Amplitude.init("API_KEY", {"uploadIntervalInSec": 10})
    """
    client = NodeClient(api_key, options, **kwargs)
    name = DEFAULT_INSTANCE if instance_name is None else instance_name
    with _instances_lock:
        previous = _instances.get(name)
        _instances[name] = client
    if previous is not None and previous is not client:
        # In the background: the new client is usable at once, even if the old one's server
        # is gone (its events still get up to exitFlushTimeout, and the exit hook waits).
        _lifecycle.shutdown_in_background(previous, previous.getOptions().exit_flush_timeout)
    return client


def create_instance(api_key: str, options: OptionsArg = None, **kwargs: Any) -> NodeClient:
    """A new, independent client that ``getInstance`` does not know about (plugin API style).

    The plugin API's ``createInstance()`` gives a second client with its own queue, plugins
    and options; this is the same, with the key and options given at once.

    Args:
        api_key: the Amplitude project's API key.
        options: a camelCase dict, an ``Options`` or ``None``.
        **kwargs: options as snake_case keywords.

    Returns:
        A new ``NodeClient``.

    Examples:
        >>> backfill = Amplitude.createInstance("API_KEY", use_batch=True)
    """
    return NodeClient(api_key, options, **kwargs)


def get_instance(name: str | None = None) -> NodeClient:
    """The client that ``init`` registered under ``name`` (the default instance when ``None``).

    Raises:
        AmplitudeError: no client was registered under that name.
    """
    key = DEFAULT_INSTANCE if name is None else name
    with _instances_lock:
        client = _instances.get(key)
    if client is None:
        hint = "init(api_key)" if name is None else f"init(api_key, instance_name={name!r})"
        raise AmplitudeError(f"no Amplitude instance named {key!r}: call {hint} first")
    return client
