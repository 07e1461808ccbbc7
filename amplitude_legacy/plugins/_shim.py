"""``LegacyClient``: the legacy API on top of the official ``amplitude.Amplitude`` engine.

Call sites keep ``logEvent``/``identify``/``addEventMiddleware``/``flush`` and legacy
``Response``/``Status``; events are translated to the official ``BaseEvent``, the legacy middleware
chain runs inside the official SDK's timeline (one ``MiddlewarePlugin``), and the official
per-event callback resolves the legacy futures. Options are translated by
``options_to_plugin_config``.

The official package is optional: it is imported when a ``LegacyClient`` is built (or when
``plan``/``ingestionMetadata`` are translated), never when this module is imported.
"""

from __future__ import annotations

import copy
import logging
import threading
import time
from concurrent.futures import TimeoutError as FutureTimeoutError
from concurrent.futures import wait
from dataclasses import fields
from types import ModuleType, TracebackType
from typing import Any, Dict, List, Mapping, Sequence, Set, Tuple, Type, Union

from amplitude_legacy._errors import OptionsError
from amplitude_legacy._event import Event, find_problem
from amplitude_legacy._future import EventFuture, resolved
from amplitude_legacy._identify import Identify, legacy_identify_event
from amplitude_legacy._middleware import Middleware, MiddlewarePayload, run_middleware
from amplitude_legacy._options import (
    Options,
    _default_url,
    _normalize_names,
    resolve_options,
)
from amplitude_legacy._response import SKIPPED_RESPONSE, Response, Status, status_for_code
from amplitude_legacy._retry import DropReason
from amplitude_legacy._stats import FlushResult
from amplitude_legacy.plugins._adapters import (
    MiddlewarePlugin,
    apply_event_changes,
    load_official,
    to_official_event,
)

__all__ = [
    "DEFAULT_FLUSH_TIMEOUT",
    "UNSUPPORTED_OPTIONS",
    "LegacyClient",
    "official_config",
    "options_to_plugin_config",
]

log = logging.getLogger("amplitude_legacy")

#: Legacy options with no ``amplitude-analytics`` equivalent, and what to do instead.
UNSUPPORTED_OPTIONS: Mapping[str, str] = {
    "debug": "set the level of logging.getLogger('amplitude') instead",
    "logLevel": "set the level of logging.getLogger('amplitude') instead",
    "retryClass": "retry logic is the official SDK's own (flush_max_retries, backoff)",
    "transportClass": "the official SDK has no transport hook; add a destination plugin",
    "onRetry": "the official SDK has no retry hook",
    "requestTimeoutMillis": "the official SDK's HTTP timeout is fixed at 10 s",
    "maxQueueSize": "the official SDK's buffer has no bound for new events",
    "onDrop": "use the futures of logEvent, or Config(callback=...)",
    "exitFlushTimeout": "the official SDK flushes at exit without a bound",
    "gzip": "the official SDK never compresses request bodies",
}
"""Legacy options with no equivalent in the official SDK, and what to do instead."""
_UNSUPPORTED_FIELDS = {
    "debug": "debug",
    "log_level": "logLevel",
    "retry_class": "retryClass",
    "transport_class": "transportClass",
    "on_retry": "onRetry",
    "request_timeout_millis": "requestTimeoutMillis",
    "max_queue_size": "maxQueueSize",
    "on_drop": "onDrop",
    "exit_flush_timeout": "exitFlushTimeout",
    "gzip": "gzip",
}
_DEFAULTS = Options()
#: How long ``flush()``/``shutdown()`` wait when given no timeout: the official SDK reports no
#: outcome for some events (invalid API key, a 2xx body without ``code``), so waiting must end.
DEFAULT_FLUSH_TIMEOUT = 30.0
"""How long ``LegacyClient.flush(None)`` waits at most (seconds)."""
#: The attribute of an official event that links it to its legacy future (never sent).
_LINK = "_amplitude_legacy"
_STOPPED = "stopped"
_PASSED = "passed"

OptionsLike = Union[Options, Mapping[str, Any], None]


def _given_options(options: OptionsLike, overrides: Mapping[str, Any]) -> Dict[str, Any]:
    """The options the caller set explicitly, by field name (defaults are left out)."""
    if isinstance(options, Options):
        default = Options()
        given = {
            f.name: getattr(options, f.name)
            for f in fields(Options)
            if getattr(options, f.name) != getattr(default, f.name)
        }
        if given.get("server_url") == _default_url(options.server_zone, options.use_batch):
            del given["server_url"]
    elif isinstance(options, Mapping):
        given = _normalize_names(options)
    elif options is None:
        given = {}
    else:
        raise OptionsError("options", f"must be a dict or Options, got {type(options).__name__}")
    given.update(_normalize_names(overrides))
    return given


def _plan(official: ModuleType, plan: Mapping[str, Any]) -> Any:
    return official.Plan(
        branch=plan.get("branch"),
        source=plan.get("source"),
        version=plan.get("version"),
        version_id=plan.get("versionId", plan.get("version_id")),
    )


def _ingestion(official: ModuleType, meta: Mapping[str, Any]) -> Any:
    return official.IngestionMetadata(
        source_name=meta.get("source_name", meta.get("sourceName")),
        source_version=meta.get("source_version", meta.get("sourceVersion")),
    )


def options_to_plugin_config(
    options: OptionsLike = None,
) -> Tuple[Dict[str, Any], List[str]]:
    """Translate legacy options into ``amplitude.Config`` settings, and list the leftovers.

    Only options set explicitly are translated (the official defaults apply otherwise):

    ======================  ==========================================================
    legacy                  ``amplitude.Config``
    ======================  ==========================================================
    ``maxCachedEvents``     ``flush_queue_size`` (there also the upload trigger)
    ``uploadIntervalInSec`` ``flush_interval_millis`` (x 1000; 0 becomes 1 ms)
    ``retryTimeouts``       ``flush_max_retries`` = ``len + 1`` (it counts attempts)
    ``maxRetries``          ``flush_max_retries`` = ``maxRetries + 1``
    ``serverUrl``           ``server_url``
    ``serverZone``          ``server_zone``
    ``useBatch``            ``use_batch``
    ``minIdLength``         ``min_id_length``
    ``optOut``              ``opt_out`` (an attribute: set it after construction)
    ``plan``                ``plan`` (an ``amplitude.Plan``)
    ``ingestionMetadata``   ``ingestion_metadata`` (an ``amplitude.IngestionMetadata``)
    ======================  ==========================================================

    Args:
        options: a legacy camelCase dict (snake_case keys work too), an ``Options``, or ``None``.

    Returns:
        ``(config, unsupported)``: the settings by ``Config`` attribute name, and the legacy
        names of the options set (to a value other than the legacy default) that have no
        equivalent (see ``UNSUPPORTED_OPTIONS``).

    Raises:
        OptionsError: an unknown option or a bad value (the legacy validation).
        ImportError: ``plan``/``ingestionMetadata`` are set and ``amplitude-analytics`` is not
            installed.

    Examples:
        >>> options_to_plugin_config({"uploadIntervalInSec": 2, "retryClass": MyRetry()})
        ({'flush_interval_millis': 2000}, ['retryClass'])
    """
    if isinstance(options, Mapping):
        resolve_options(options)  # the legacy validation: bad values raise OptionsError
    return _translate(_given_options(options, {}))


def _translate(given: Mapping[str, Any]) -> Tuple[Dict[str, Any], List[str]]:
    """``options_to_plugin_config`` for options already validated, by field name."""
    config: Dict[str, Any] = {}
    unsupported: List[str] = []
    for name, value in given.items():
        if name == "max_cached_events":
            config["flush_queue_size"] = value
        elif name == "upload_interval_in_sec":
            # 0 would make the official consumer thread exit between pushes and strand events.
            config["flush_interval_millis"] = max(1, round(value * 1000))
        elif name == "retry_timeouts":
            config["flush_max_retries"] = len(value) + 1
        elif name == "max_retries":
            if value is not None and "retry_timeouts" not in given:
                config["flush_max_retries"] = value + 1
        elif name in ("server_url", "server_zone", "use_batch", "min_id_length", "opt_out"):
            config[name] = value
        elif name == "plan":
            if value is not None:
                config["plan"] = _plan(load_official(), value)
        elif name == "ingestion_metadata":
            if value is not None:
                config["ingestion_metadata"] = _ingestion(load_official(), value)
        elif name in _UNSUPPORTED_FIELDS and value != getattr(_DEFAULTS, name):
            unsupported.append(_UNSUPPORTED_FIELDS[name])
    return config, unsupported


def official_config(options: OptionsLike = None, **config: Any) -> Any:
    """Build an ``amplitude.Config`` from legacy options (unsupported ones are logged).

    Args:
        options: legacy options, as for ``options_to_plugin_config``.
        **config: ``amplitude.Config`` arguments that override the translation
            (``callback=...``, ``flush_interval_millis=...``).

    Returns:
        A new ``amplitude.Config`` (``opt_out`` set as an attribute).

    Raises:
        ImportError: ``amplitude-analytics`` is not installed.
        OptionsError: a bad legacy option.

    Examples:
        >>> import amplitude
        >>> client = amplitude.Amplitude("API_KEY", official_config({"uploadIntervalInSec": 1}))
    """
    if isinstance(options, Mapping):
        resolve_options(options)
    return _build_config(load_official(), _given_options(options, {}), config)


def _build_config(official: ModuleType, given: Mapping[str, Any], config: Mapping[str, Any]) -> Any:
    translated, unsupported = _translate(given)
    for name in unsupported:
        log.warning(
            "amplitude_legacy: the option %s has no equivalent in amplitude-analytics and is "
            "ignored (%s)",
            name,
            UNSUPPORTED_OPTIONS[name],
        )
    merged = {**translated, **config}
    opt_out = bool(merged.pop("opt_out", False))
    result = official.Config(**merged)
    result.opt_out = opt_out
    return result


def _response_for(code: int, message: str | None) -> Response:
    """The legacy ``Response`` for the official callback's ``(code, message)``."""
    status = status_for_code(code)
    if status is Status.SUCCESS:
        return Response(Status.SUCCESS, code)
    text = message or ""
    if "max retry" in text or "buffer full" in text:
        reason = DropReason.RETRIES_EXHAUSTED
    elif status is Status.INVALID:
        reason = DropReason.INVALID
    elif status is Status.PAYLOAD_TOO_LARGE:
        reason = DropReason.PAYLOAD_TOO_LARGE
    elif status is Status.RATE_LIMIT:
        reason = DropReason.RATE_LIMITED_QUOTA
    else:
        reason = DropReason.RETRIES_EXHAUSTED
    return Response(status, code, None, reason, message)


class _Pending:
    """One logged event in flight: its future, ``extra`` and what the pipeline did with it.

    Copies of the official event share it (``__deepcopy__`` returns ``self``), so the official
    SDK's per-destination deep copies and retries all point back to the same future.
    """

    __slots__ = ("client", "extra", "future", "outcome", "reached", "settled")

    def __init__(self, client: LegacyClient, extra: Any) -> None:
        self.client = client
        self.extra = extra
        self.future = EventFuture()
        self.outcome: Any = None
        self.reached = False
        self.settled = False

    def __deepcopy__(self, memo: Dict[int, Any]) -> _Pending:
        return self

    def __copy__(self) -> _Pending:
        return self

    def on_callback(self, event: Any, code: int, message: str | None) -> None:
        """The official per-event callback: resolve the legacy future."""
        self.client._settle(self, _response_for(code, message))


class _LegacyChain(MiddlewarePlugin):
    """The shim's middleware chain as one enrichment plugin inside the official timeline.

    For events logged through ``LegacyClient.logEvent`` it keeps the legacy semantics: the
    middleware sees the caller's ``extra``; one that raises fails the event's future; the event
    is validated (legacy rules) after the chain. Events tracked directly on
    ``client.amplitude`` run through the same chain with ``MiddlewarePlugin``'s rules.
    """

    def __init__(self, client: LegacyClient, official: ModuleType) -> None:
        super().__init__(self._run_chain, name="amplitude_legacy:middleware")
        self._owner = client
        self._official = official

    def _run_chain(self, payload: MiddlewarePayload, next: Any) -> None:
        final = run_middleware(self._owner._middleware, payload.event, payload.extra)
        if final is not None:
            payload.event = final
            next(payload)

    def execute(self, event: Any) -> Any:
        pending = getattr(event, _LINK, None)
        if pending is None:
            return super().execute(event) if self._owner._middleware else event
        official = self._official
        assert official is not None
        before = event.get_event_body()
        chain = self._owner._middleware
        if chain:
            try:
                final = run_middleware(chain, Event(copy.deepcopy(before)), pending.extra)
            except Exception as exc:
                log.exception("amplitude_legacy: a middleware raised; the event is not sent")
                pending.outcome = exc
                return None
            if final is None:
                pending.outcome = _STOPPED
                return None
        else:
            final = Event(before)
        problem = find_problem(final)
        if problem is not None:
            pending.outcome = problem
            return None
        if chain:
            apply_event_changes(event, before, final, official)
        pending.outcome = _PASSED
        return event


class _Outcome:
    """A last destination on the official client: notes that an event got past every plugin."""

    name = "amplitude_legacy:outcome"

    def __init__(self, client: LegacyClient, official: ModuleType) -> None:
        self._owner = client
        self._verify = official.plugin.verify_event
        self.plugin_type = official.PluginType.DESTINATION

    def setup(self, client: Any) -> None:
        """Nothing to set up (the official ``Amplitude.add`` calls this)."""

    def execute(self, event: Any) -> None:
        pending = getattr(event, _LINK, None)
        if pending is None:
            return
        pending.reached = True
        if not self._verify(event):  # the official destination refused it: no callback comes
            message = "Invalid event: amplitude-analytics needs event_type and user_id or device_id"
            self._owner._settle(
                pending, Response(Status.INVALID, 0, None, DropReason.INVALID, message)
            )

    def flush(self) -> None:
        """Nothing buffered here."""

    def shutdown(self) -> None:
        """Nothing to stop."""


class _WakeableStorage:
    """The official in-memory storage provider, remembering what it built.

    The official consumer thread is not a daemon and sleeps ``flush_interval_millis`` on the
    storage's condition; ``wake()`` after the official ``shutdown()`` lets it see the empty
    buffer and end, so the process exit is not delayed by up to one interval.
    """

    def __init__(self, official: ModuleType) -> None:
        self._provider = official.storage.InMemoryStorageProvider()
        self._storages: List[Any] = []

    def get_storage(self) -> Any:
        storage = self._provider.get_storage()
        self._storages.append(storage)
        return storage

    def wake(self) -> None:
        for storage in self._storages:
            with storage.lock:
                storage.lock.notify_all()


class LegacyClient:
    """The legacy client API running on the official SDK (``amplitude-analytics``).

    ``logEvent(event, extra)`` returns a future of the legacy ``Response``; middleware added
    with ``addEventMiddleware`` runs inside the official timeline; options are translated by
    ``options_to_plugin_config`` (the ones without an equivalent are logged and ignored). The
    official client is ``client.amplitude``: add official plugins to it, or move call sites to
    ``client.amplitude.track(BaseEvent(...))`` one at a time; those events go through the same
    middleware.

    Args:
        api_key: your Amplitude project's API key.
        options: a legacy camelCase dict, an ``Options``, or ``None``.
        **kwargs: legacy options as snake_case keywords.

    Raises:
        ImportError: ``amplitude-analytics`` is not installed
            (``pip install amplitude_legacy[official]``).
        OptionsError: a bad option, or an API key that is not a string.

    Examples:
        >>> client = LegacyClient("API_KEY", {"serverUrl": url, "uploadIntervalInSec": 0.05})
        >>> client.logEvent({"event_type": "Signed Up", "user_id": "user-123"}).result(10).status
        <Status.SUCCESS: 'success'>
        >>> client.shutdown()  # doctest: +ELLIPSIS
        FlushResult(...)
    """

    def __init__(self, api_key: str, options: OptionsLike = None, **kwargs: Any) -> None:
        official = load_official()
        if not isinstance(api_key, str):
            raise OptionsError("apiKey", f"must be a string, got {type(api_key).__name__}")
        self._options = resolve_options(options, **kwargs)
        merged = _given_options(options, kwargs)
        self._official = official
        self._middleware: Tuple[Middleware, ...] = ()
        self._lock = threading.Lock()
        self._in_flight: Set[_Pending] = set()
        self._closed = False
        self._storage = _WakeableStorage(official)
        config = _build_config(official, merged, {"storage_provider": self._storage})
        self._amplitude: Any = official.Amplitude(api_key, config)
        self._amplitude.add(_LegacyChain(self, official))
        self._amplitude.add(_Outcome(self, official))

    def __repr__(self) -> str:  # the API key stays out of reprs
        return f"<LegacyClient server_url={self._amplitude.configuration.server_url!r}>"

    def __enter__(self) -> LegacyClient:
        return self

    def __exit__(
        self,
        exc_type: Type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.shutdown()

    @property
    def amplitude(self) -> Any:
        """The official ``amplitude.Amplitude`` client underneath."""
        return self._amplitude

    def getOptions(self) -> Options:
        """The legacy options as given (validated)."""
        return self._options

    def setOptOut(self, opt_out: bool) -> None:
        """Turn opt-out on or off (the official ``config.opt_out``)."""
        self._amplitude.configuration.opt_out = bool(opt_out)

    def addEventMiddleware(self, middleware: Middleware) -> LegacyClient:
        """Append a legacy ``(payload, next)`` middleware; returns the client.

        It runs inside the official timeline after the official ``before`` plugins (so
        ``time``, ``insert_id`` and ``library`` are already set), in the order added.

        Raises:
            TypeError: ``middleware`` is not callable.
        """
        if not callable(middleware):
            raise TypeError(f"middleware must be callable, got {type(middleware).__name__}")
        with self._lock:
            self._middleware = (*self._middleware, middleware)
        return self

    def _settle(self, pending: _Pending, response: Response | BaseException) -> None:
        with self._lock:
            if pending.settled:
                return
            pending.settled = True
            self._in_flight.discard(pending)
        if isinstance(response, BaseException):
            pending.future.set_exception(response)
        else:
            pending.future._resolve(response)

    def logEvent(
        self, event: Mapping[str, Any], extra: Dict[str, Any] | None = None
    ) -> EventFuture:
        """Send an event through the official SDK; returns a future of its legacy ``Response``.

        The future resolves ``success`` when the official SDK reports delivery, with the legacy
        status for its failure codes, ``skipped`` when opted out or stopped by middleware,
        ``invalid`` when the event breaks a legacy validation rule after middleware; it fails
        with the exception when a middleware raises.

        Args:
            event: the event, with the HTTP V2 field names (``productId``, not ``product_id``).
            extra: anything for your middleware (``payload.extra``); never sent.

        Returns:
            An ``EventFuture`` of the ``Response``.
        """
        if self._closed:
            return resolved(
                Response(Status.SKIPPED, 0, None, DropReason.CLIENT_CLOSED, "client is shut down")
            )
        if self._amplitude.configuration.opt_out:
            return resolved(SKIPPED_RESPONSE)
        if not isinstance(event, Mapping):
            message = f"Invalid event: expected a dict, got {type(event).__name__}"
            return resolved(Response(Status.INVALID, 0, None, DropReason.INVALID, message))
        target = to_official_event(event, self._official)
        pending = _Pending(self, extra)
        setattr(target, _LINK, pending)
        target.event_callback = pending.on_callback
        with self._lock:
            self._in_flight.add(pending)
        try:
            self._amplitude.track(target)
        except Exception as exc:  # the official track does not raise; be safe anyway
            self._settle(pending, exc)
        if not pending.reached:
            self._settle(pending, self._not_reached(pending))
        return pending.future

    def _not_reached(self, pending: _Pending) -> Response | BaseException:
        """Why an event never reached the official destinations."""
        outcome = pending.outcome
        if isinstance(outcome, BaseException):
            return outcome
        if isinstance(outcome, tuple):  # (field, message) from the legacy validation
            return Response(Status.INVALID, 0, None, DropReason.INVALID, outcome[1])
        if outcome is None and self._amplitude.configuration.opt_out:
            return SKIPPED_RESPONSE
        message = (
            "Middleware chain skipped logEvent action."
            if outcome == _STOPPED
            else "A plugin of the official client dropped the event."
        )
        return Response(Status.SKIPPED, 0, None, DropReason.MIDDLEWARE_STOPPED, message)

    def identify(
        self, user_id: str | None, device_id: str | None, identify: Identify
    ) -> EventFuture:
        """Send an ``$identify`` built from a legacy ``Identify`` (legacy signature)."""
        return self._log_identify(legacy_identify_event("user", identify, user_id, device_id))

    def groupIdentify(
        self, group_type: str, group_name: Union[str, Sequence[str]], identify: Identify
    ) -> EventFuture:
        """Send a ``$groupidentify`` event (legacy: a throw-away ``device_id``)."""
        return self._log_identify(legacy_identify_event("group", identify, group_type, group_name))

    def _log_identify(self, event: Dict[str, Any] | str) -> EventFuture:
        """Log a legacy identify's event; ``skipped`` with the reason when ``event`` is the
        message of why there is nothing to send (already logged)."""
        if isinstance(event, str):
            return resolved(Response(Status.SKIPPED, 0, None, DropReason.INVALID, event))
        return self.logEvent(event)

    def flush(self, timeout: float | None = None) -> FlushResult:
        """Send everything buffered now and wait for the outcome of each event logged before.

        Events the official SDK schedules for retry are waited for too, until ``timeout``.

        Args:
            timeout: seconds to wait at most; ``None`` waits ``DEFAULT_FLUSH_TIMEOUT``.

        Returns:
            ``FlushResult(sent, dropped, pending, timed_out)`` for the events logged before.
        """
        limit = DEFAULT_FLUSH_TIMEOUT if timeout is None else max(0.0, timeout)
        deadline = time.monotonic() + limit
        with self._lock:
            waiting = [p.future for p in self._in_flight]
        for sent in self._amplitude.flush() or ():
            if sent is None:
                continue
            try:
                sent.result(max(0.0, deadline - time.monotonic()))
            except FutureTimeoutError:
                break
            except Exception:
                log.exception("amplitude_legacy: an upload of the official SDK failed")
        done, not_done = wait(waiting, max(0.0, deadline - time.monotonic()))
        delivered = sum(1 for f in done if f.exception() is None and f.result().delivered)
        return FlushResult(delivered, len(done) - delivered, len(not_done), bool(not_done))

    def shutdown(self, timeout: float | None = None) -> FlushResult:
        """Flush, then shut the official client down. Idempotent.

        Events still without an outcome afterwards resolve ``failed`` with reason
        ``shutdown_timeout``; events logged afterwards resolve ``skipped``.

        Args:
            timeout: as for ``flush``.

        Returns:
            What the final flush achieved.
        """
        with self._lock:
            if self._closed:
                return FlushResult()
            self._closed = True
        result = self.flush(timeout)
        self._amplitude.shutdown()
        self._storage.wake()
        with self._lock:
            left = list(self._in_flight)
        for pending in left:
            message = "amplitude-analytics reported no outcome before shutdown"
            self._settle(
                pending,
                Response(Status.FAILED, 0, None, DropReason.SHUTDOWN_TIMEOUT, message),
            )
        return result

    # snake_case aliases
    log_event = logEvent
    add_event_middleware = addEventMiddleware
    get_options = getOptions
    set_opt_out = setOptOut
    group_identify = groupIdentify
