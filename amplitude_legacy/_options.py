"""Client options: the legacy names and defaults, strict validation, three ways to pass them.

Options come as a legacy camelCase dict (``{"maxCachedEvents": 20000}``), as snake_case
keywords (``max_cached_events=20000``) or as an ``Options`` instance. Every value is checked
once, at ``init``: a bad option raises ``OptionsError`` (a ``ValueError``) naming it.
"""

from __future__ import annotations

import functools
import logging
import warnings
from dataclasses import dataclass, fields, replace
from typing import Any, Callable, Mapping, Optional, Sequence, Tuple
from urllib.parse import urlsplit

from amplitude_legacy._delivery import check_transport, retry_strategy
from amplitude_legacy._errors import OptionsError
from amplitude_legacy._retry import DEFAULT_RETRY_TIMEOUTS
from amplitude_legacy._signals import parse_signals

__all__ = ["DEFAULT_RETRY_TIMEOUTS", "LogLevel", "Options", "resolve_options"]

log = logging.getLogger("amplitude_legacy")

US_HTTP_API_URL = "https://api2.amplitude.com/2/httpapi"
US_BATCH_URL = "https://api2.amplitude.com/batch"
EU_HTTP_API_URL = "https://api.eu.amplitude.com/2/httpapi"
EU_BATCH_URL = "https://api.eu.amplitude.com/batch"

#: ``maxRetries`` (deprecated) becomes ``[100, 200, 400, ...]`` ms, as in the legacy SDK.
_DEPRECATED_BASE_RETRY_MS = 100
MAX_RETRIES_DEPRECATION = (
    "maxRetries is deprecated: use retryTimeouts. "
    "maxRetries=N is converted to retryTimeouts=[100, 200, 400, ...] (N entries)."
)


class LogLevel:
    """Legacy log levels: ``NONE=0``, ``ERROR=1``, ``WARN=2``, ``VERBOSE=3``."""

    NONE = 0
    ERROR = 1
    WARN = 2
    VERBOSE = 3


@dataclass(frozen=True, repr=False)
class Options:
    """Everything ``init`` accepts, with the legacy defaults.

    Legacy options (``@amplitude/node`` names in camelCase, Python names in snake_case):

    Attributes:
        server_url: ``serverUrl``; where events are POSTed. Default: the US HTTP V2 URL, or the
            URL that ``server_zone``/``use_batch`` select. Must be ``http(s)://``.
        debug: ``debug``; log at WARN when ``log_level`` is 0.
        log_level: ``logLevel``; 0 none, 1 error, 2 warn, 3 verbose (the package logger level).
        max_cached_events: ``maxCachedEvents`` (16000); upload as soon as this many events wait.
        opt_out: ``optOut``; when true every event resolves ``skipped`` and nothing is sent.
        retry_timeouts: ``retryTimeouts`` (ms); one retry per entry, the wait before it.
        max_retries: ``maxRetries``; deprecated, converted to ``retry_timeouts`` with a warning.
        retry_class: ``retryClass``; an object with ``send_events_with_retry(events)`` (or the
            camelCase spelling) that replaces the built-in retry, or ``OfflineRetryHandler()``.
        transport_class: ``transportClass``; an object that replaces the HTTP transport
            (see ``Transport``), or a legacy object with ``send_payload(payload) -> Response``.
        upload_interval_in_sec: ``uploadIntervalInSec`` (0); the longest an event waits before
            its upload starts. 0 uploads as soon as the worker wakes.
        min_id_length: ``minIdLength``; sent as ``options.min_id_length`` when set.
        request_timeout_millis: ``requestTimeoutMillis`` (10000); per request, 0 = no timeout.
        on_retry: ``onRetry(response, attempt, is_last_retry)``; called after every retry.
        plan: ``plan``; merged into every event's ``plan`` (the event's keys win).
        ingestion_metadata: ``ingestionMetadata``; merged into ``ingestion_metadata``.

    Options of this SDK (no legacy equivalent):

    Attributes:
        max_queue_size: ``maxQueueSize`` (250000); bound on events waiting for their first send
            (events waiting for a retry are bounded by the retry schedule instead).
            When it is full a new event resolves ``failed`` with reason ``queue_full``.
        on_drop: ``onDrop(events, reason)``; called on the worker with every event that is not
            delivered. Exceptions it raises are logged and counted.
        exit_flush_timeout: ``exitFlushTimeout`` (5.0 s); how long the atexit hook may flush.
        server_zone: ``serverZone``; ``"US"`` or ``"EU"``; picks the default ``server_url``.
        use_batch: ``useBatch``; send to the Batch API (20 MB bodies) instead of HTTP V2.
        gzip: ``gzip``; compress request bodies (``Content-Encoding: gzip``).
        proxy: ``proxy``; an ``http://`` or ``https://`` proxy URL, credentials allowed
            (``http://user:pass@proxy:3128``). HTTPS targets go through ``CONNECT``.
        trust_env: ``trustEnv``; when no ``proxy`` is given, use ``HTTPS_PROXY``/``HTTP_PROXY``
            and honour ``NO_PROXY`` from the environment (off by default: explicit is safer).
        ca_certs: ``caCerts``; a CA bundle file to verify the server (and HTTPS proxy) with.
        cert_file: ``certFile``; a client certificate (PEM) for mutual TLS.
        key_file: ``keyFile``; the client certificate's private key.
        spool_path: ``spoolPath``; opt-in durable spool (SQLite, WAL). Events that outlast the
            retry schedule on transient failures (5xx, timeouts, connection errors) or that are
            still queued when ``shutdown`` runs out of time are kept there instead of dropped,
            and sent first by the next client on the same path, or when the server is back.
        spool_mode: ``spoolMode``; ``"on_failure"`` (default) spools only what failed;
            ``"always"`` writes each event ahead of sending (survives ``kill -9``; costs
            call-site time: the event is encoded and written on the caller's thread).
        spool_max_events: ``spoolMaxEvents`` (1,000,000); past it the oldest spooled events
            are dropped and counted as ``spool_full``.
        max_concurrent_requests: ``maxConcurrentRequests`` (4, from 1 to 64); requests on
            the wire at once (the connection pool keeps as many connections). 1 sends one
            request at a time. ``OfflineRetryHandler`` always sends one at a time.
        disabled: ``disabled``; a development switch: middleware and validation still run,
            nothing is queued or sent, and every event resolves ``skipped`` with reason
            ``disabled`` (counted in ``stats().dropped``).
        dry_run: ``dryRun``; like ``disabled``, but each event is first logged as it would be
            sent (JSON, on the ``amplitude_legacy.dry_run`` logger at INFO, which prints to
            stderr when logging is not configured); reason ``dry_run``.
        flush_on_signals: ``flushOnSignals``; signal names or numbers (``["SIGTERM"]``). On
            one of them the client shuts down within ``exit_flush_timeout``, then the signal
            goes on to the handler installed before (or ends the process with the signal's
            status when that was the default). Installed by ``init`` on the main thread only.
    """

    server_url: str = ""
    debug: bool = False
    log_level: int = LogLevel.NONE
    max_cached_events: int = 16000
    opt_out: bool = False
    retry_timeouts: Tuple[int, ...] = DEFAULT_RETRY_TIMEOUTS
    max_retries: Optional[int] = None
    retry_class: Any = None
    transport_class: Any = None
    upload_interval_in_sec: float = 0
    min_id_length: Optional[int] = None
    request_timeout_millis: int = 10000
    on_retry: Optional[Callable[..., Any]] = None
    plan: Optional[Mapping[str, Any]] = None
    ingestion_metadata: Optional[Mapping[str, Any]] = None
    max_queue_size: int = 250_000
    on_drop: Optional[Callable[..., Any]] = None
    exit_flush_timeout: float = 5.0
    server_zone: str = "US"
    use_batch: bool = False
    gzip: bool = False
    proxy: Optional[str] = None
    trust_env: bool = False
    ca_certs: Optional[str] = None
    cert_file: Optional[str] = None
    key_file: Optional[str] = None
    spool_path: Optional[str] = None
    spool_mode: str = "on_failure"
    spool_max_events: int = 1_000_000
    max_concurrent_requests: int = 4
    disabled: bool = False
    dry_run: bool = False
    flush_on_signals: Tuple[Any, ...] = ()

    def __getattr__(self, name: str) -> Any:
        # Legacy code reads ``client.getOptions().maxCachedEvents``: map camelCase reads.
        snake = _CAMEL_TO_FIELD.get(name)
        if snake is None:
            raise AttributeError(name)
        return getattr(self, snake)

    def __repr__(self) -> str:
        # A proxy URL may carry a password: mask it (logs and tracebacks show reprs).
        shown = []
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "proxy" and value:
                value = _mask_password(value)
            shown.append(f"{f.name}={value!r}")
        return f"Options({', '.join(shown)})"

    def to_legacy_dict(self) -> dict[str, Any]:
        """The options under their legacy camelCase names (objects are not copied).

        A password in ``proxy`` is masked (``http://user:***@host:3128``), as in ``repr``: these
        dicts end up in logs. Read ``options.proxy`` for the real value.
        """
        out = {_FIELD_TO_CAMEL[f.name]: getattr(self, f.name) for f in fields(self)}
        out["proxy"] = self.proxy and _mask_password(self.proxy)
        return out

    # dataclasses-json's camelCase mapping, loaded on first use (it costs ~75 ms to import, and
    # most programs never call these).

    @classmethod
    def from_dict(cls, kvs: Mapping[str, Any], *, infer_missing: bool = False) -> Options:
        """Build ``Options`` from a camelCase dict (dataclasses-json), without validation.

        ``init`` and ``resolve_options`` accept the same dict and also validate it.
        """
        mixin: Any = _json_api()
        return mixin.from_dict.__func__(cls, kvs, infer_missing=infer_missing)  # type: ignore[no-any-return]

    def to_dict(self, encode_json: bool = False) -> dict[str, Any]:
        """The options as a camelCase dict (dataclasses-json); a proxy password is masked."""
        data: dict[str, Any] = _json_api().to_dict(self, encode_json=encode_json)
        if data.get("proxy"):
            data["proxy"] = _mask_password(data["proxy"])
        return data

    @classmethod
    def from_json(cls, text: str | bytes, *, infer_missing: bool = False) -> Options:
        """``from_dict`` of a JSON document."""
        mixin: Any = _json_api()
        return mixin.from_json.__func__(cls, text, infer_missing=infer_missing)  # type: ignore[no-any-return]

    def to_json(self, **kwargs: Any) -> str:
        """``to_dict`` as a JSON document (``json.dumps`` keywords accepted)."""
        return str(_json_api().to_json(self, **kwargs))

    @classmethod
    def schema(cls, **kwargs: Any) -> Any:
        """The dataclasses-json (marshmallow) schema of ``Options``."""
        mixin: Any = _json_api()
        return mixin.schema.__func__(cls, **kwargs)


def _json_api() -> Any:
    """dataclasses-json's mixin, with ``Options`` configured for camelCase (first call only)."""
    from dataclasses_json import DataClassJsonMixin, LetterCase, config

    if "dataclass_json_config" not in Options.__dict__:
        camel = config(letter_case=LetterCase.CAMEL)["dataclasses_json"]
        type.__setattr__(Options, "dataclass_json_config", camel)
        DataClassJsonMixin.register(Options)
    return DataClassJsonMixin


def camel_case(name: str) -> str:
    """``max_cached_events`` -> ``maxCachedEvents`` (dataclasses-json's rule, checked by a test)."""
    head, *rest = name.split("_")
    return head + "".join(word[:1].upper() + word[1:] for word in rest)


# The camelCase names, as ``Options.from_dict``/``to_dict`` spell them.
_FIELD_TO_CAMEL: dict[str, str] = {f.name: camel_case(f.name) for f in fields(Options)}
_CAMEL_TO_FIELD = {camel: name for name, camel in _FIELD_TO_CAMEL.items()}
_ANY_NAME_TO_FIELD = {**_CAMEL_TO_FIELD, **{name: name for name in _FIELD_TO_CAMEL}}
_generated_init = Options.__init__


@functools.wraps(_generated_init)
def _init_any_spelling(self: Options, *args: Any, **kwargs: Any) -> None:
    # Options(maxCachedEvents=...) works like Options(max_cached_events=...); an unknown name
    # is an OptionsError with a suggestion, not a bare TypeError from the dataclass.
    _generated_init(self, *args, **_normalize_names(kwargs))


Options.__init__ = _init_any_spelling  # type: ignore[method-assign]


def _mask_password(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    return parts._replace(netloc=f"{parts.username}:***@{host}").geturl()


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


#: Bounds on time options: beyond a day, a value is a mistake (a unit confusion, a sentinel),
#: and the waits it would cause overflow the platform's timers.
DAY_SECONDS = 86_400
DAY_MS = DAY_SECONDS * 1000
#: Bound on retries: each is a request; a million of them is a hung client, not a schedule.
MAX_RETRIES = 1000


def _in_range(value: object, low: float, high: float) -> bool:
    """A real number (not a bool, not NaN) within ``[low, high]``."""
    return _is_number(value) and low <= value <= high  # type: ignore[operator]


def _json_problem(name: str, value: Mapping[str, Any]) -> None:
    """``plan`` / ``ingestion_metadata`` are merged into every event: they must encode."""
    import json

    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError, RecursionError) as exc:
        _check(name, False, f"must be JSON-serializable ({exc})")


def _check(name: str, ok: bool, message: str) -> None:
    if not ok:
        raise OptionsError(_FIELD_TO_CAMEL.get(name, name), message)


def _check_url(name: str, url: object, *, secret: bool = False) -> None:
    _check(name, isinstance(url, str), f"must be a string, got {type(url).__name__}")
    parts = urlsplit(str(url))
    shown = "" if secret else f", got {url!r}"  # a proxy URL may carry a password
    _check(
        name,
        parts.scheme in ("http", "https") and bool(parts.hostname),
        f"must be an http:// or https:// URL{shown}",
    )


def _check_callable_or_none(name: str, value: object) -> None:
    _check(name, value is None or callable(value), "must be callable or None")


def _validate(opts: Options) -> None:
    """Raise ``OptionsError`` for the first option with a wrong type or value."""
    _check_url("server_url", opts.server_url)
    for name in ("debug", "opt_out", "use_batch", "gzip", "trust_env", "disabled", "dry_run"):
        _check(name, isinstance(getattr(opts, name), bool), "must be a bool")
    _check(
        "log_level", _is_int(opts.log_level) and 0 <= opts.log_level <= 3, "must be 0, 1, 2 or 3"
    )
    _check(
        "spool_mode",
        opts.spool_mode in ("on_failure", "always"),
        "must be 'on_failure' or 'always'",
    )
    _check(
        "spool_path", opts.spool_path is None or isinstance(opts.spool_path, str), "must be a path"
    )
    _check(
        "max_concurrent_requests",
        _is_int(opts.max_concurrent_requests) and 1 <= opts.max_concurrent_requests <= 64,
        f"must be an int from 1 to 64, got {opts.max_concurrent_requests!r}",
    )
    for name in ("max_cached_events", "max_queue_size", "spool_max_events"):
        value = getattr(opts, name)
        _check(name, _is_int(value) and value >= 1, f"must be a positive int, got {value!r}")
    _check(
        "retry_timeouts",
        isinstance(opts.retry_timeouts, tuple)
        and len(opts.retry_timeouts) <= MAX_RETRIES
        and all(_in_range(t, 0, DAY_MS) for t in opts.retry_timeouts),
        f"must be a list of at most {MAX_RETRIES} waits, each from 0 to {DAY_MS:,} "
        "milliseconds (a day)",
    )
    _check(
        "max_retries",
        opts.max_retries is None
        or (_is_int(opts.max_retries) and 0 <= opts.max_retries <= MAX_RETRIES),
        f"must be an int from 0 to {MAX_RETRIES}",
    )
    for name in ("upload_interval_in_sec", "exit_flush_timeout"):
        value = getattr(opts, name)
        _check(
            name,
            _in_range(value, 0, DAY_SECONDS),
            f"must be a number of seconds from 0 to {DAY_SECONDS:,} (a day), got {value!r}",
        )
    _check(
        "min_id_length",
        opts.min_id_length is None
        or (_is_int(opts.min_id_length) and 0 <= opts.min_id_length <= 1024),
        "must be an int from 0 to 1024, or None",
    )
    _check(
        "request_timeout_millis",
        _in_range(opts.request_timeout_millis, float("-inf"), DAY_MS),
        f"must be a number of milliseconds up to {DAY_MS:,} (a day); 0 or less: no timeout",
    )
    _check_callable_or_none("on_retry", opts.on_retry)
    _check_callable_or_none("on_drop", opts.on_drop)
    for name in ("plan", "ingestion_metadata"):
        value = getattr(opts, name)
        _check(name, value is None or isinstance(value, Mapping), "must be a dict or None")
        if value:
            _json_problem(name, value)
    _check("server_zone", opts.server_zone in ("US", "EU"), "must be 'US' or 'EU' (any case)")
    if opts.proxy is not None:
        _check_url("proxy", opts.proxy, secret=True)
    for name in ("ca_certs", "cert_file", "key_file"):
        value = getattr(opts, name)
        _check(name, value is None or isinstance(value, str), "must be a file path or None")
    _check(
        "flush_on_signals",
        isinstance(opts.flush_on_signals, tuple),
        'must be a list of signal names or numbers, e.g. ["SIGTERM"]',
    )
    try:
        parse_signals(opts.flush_on_signals)
    except (TypeError, ValueError) as exc:
        _check("flush_on_signals", False, f"must be a list of signal names or numbers: {exc}")
    # The same functions the engine builds its strategy and transport with.
    retry_strategy(opts.retry_class, opts.retry_timeouts)
    check_transport(opts.transport_class)


def _normalize_names(raw: Mapping[str, Any]) -> dict[str, Any]:
    """Map camelCase or snake_case keys to field names; unknown names raise."""
    out: dict[str, Any] = {}
    for key, value in raw.items():
        name = _ANY_NAME_TO_FIELD.get(key) if isinstance(key, str) else None
        if name is None:
            import difflib

            close = difflib.get_close_matches(str(key), list(_ANY_NAME_TO_FIELD), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise OptionsError(str(key), f"unknown option{hint}")
        out[name] = value
    return out


def resolve_options(options: Options | Mapping[str, Any] | None = None, **kwargs: Any) -> Options:
    """Build the ``Options`` in effect from any of the accepted forms, validated.

    Args:
        options: a legacy camelCase dict (snake_case keys are accepted too), an ``Options``,
            or ``None``.
        **kwargs: snake_case (or camelCase) options; they override ``options``.

    Returns:
        A frozen, validated ``Options`` with ``server_url`` resolved and ``max_retries``
        converted into ``retry_timeouts``.

    Raises:
        OptionsError: an unknown option name, a wrong type or a bad value; the message
            names the option.
    """
    if options is None:
        base = Options()
    elif isinstance(options, Options):
        base = options
    elif isinstance(options, Mapping):
        base = Options()
        kwargs = {**options, **kwargs}
    else:
        raise OptionsError("options", f"must be a dict or Options, got {type(options).__name__}")
    values = _normalize_names(kwargs)
    if "server_url" in values and not values["server_url"]:
        # The legacy SDK throws for {serverUrl: undefined}; an empty URL is a mistake too.
        raise OptionsError("serverUrl", "must be an http:// or https:// URL, got an empty value")
    for name in ("retry_timeouts", "flush_on_signals"):
        if isinstance(values.get(name), Sequence) and not isinstance(values[name], str):
            values[name] = tuple(values[name])
    # A URL that is just the default of the base's zone was filled in by an earlier resolve:
    # it is not explicit, so a new serverZone/useBatch still picks the endpoint.
    inherited = base.server_url and base.server_url != _default_url(
        base.server_zone, base.use_batch
    )
    explicit_url = bool(values.get("server_url") or inherited)
    opts = replace(base, **values)
    zone = opts.server_zone
    if isinstance(zone, str) and zone.upper() in ("US", "EU") and zone != zone.upper():
        opts = replace(opts, server_zone=zone.upper())  # "eu" means EU
    if not explicit_url:
        opts = replace(opts, server_url=_default_url(opts.server_zone, opts.use_batch))
    _validate(opts)
    if opts.max_retries is not None:
        # The legacy RetryHandler warns and replaces retryTimeouts with 100 * 2**i ms.
        warnings.warn(MAX_RETRIES_DEPRECATION, DeprecationWarning, stacklevel=3)
        log.warning(MAX_RETRIES_DEPRECATION)
        timeouts, wait = [], _DEPRECATED_BASE_RETRY_MS
        for _ in range(opts.max_retries):  # doubling, capped at a day (no huge integers)
            timeouts.append(wait)
            wait = min(wait * 2, DAY_MS)
        opts = replace(opts, retry_timeouts=tuple(timeouts), max_retries=None)
    return opts


def _default_url(zone: str, use_batch: bool) -> str:
    if str(zone).upper() == "EU":
        return EU_BATCH_URL if use_batch else EU_HTTP_API_URL
    return US_BATCH_URL if use_batch else US_HTTP_API_URL
