"""What to do with a server's answer: a pure ``classify`` and an immutable ``RetryPolicy``.

No I/O here. The worker sends a batch, hands the answer to ``classify`` and applies the
returned ``Decision``. The rules (the HTTP V2 API's documented answers, the legacy SDK's retry)
keep the legacy SDK's semantics and fix its faults: a 2xx is delivered even without a JSON
``code``; a 400 drops exactly the listed events and resends the rest; a 413 splits the batch; a
429 holds the throttled users and devices and resends the others at once; 5xx, timeouts, connection
errors and unreadable answers back off on ``retryTimeouts``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, FrozenSet, Mapping, Sequence, Tuple

from amplitude_legacy._response import Status, status_for_code

__all__ = [
    "DEFAULT_RETRY_TIMEOUTS",
    "Action",
    "BaseRetryHandler",
    "Decision",
    "DefaultRetryHandler",
    "DropReason",
    "OfflineRetryHandler",
    "RetryHandler",
    "RetryPolicy",
    "classify",
    "classify_error",
]

DEFAULT_RETRY_TIMEOUTS: Tuple[int, ...] = (
    100,
    100,
    200,
    200,
    400,
    400,
    800,
    800,
    1600,
    1600,
    3200,
    3200,
)
"""Legacy default: one retry per entry, the wait (ms) before that retry. Sum 12.6 s."""

#: ``Retry-After`` is honoured as a floor on a hold, up to this many seconds.
RETRY_AFTER_CAP = 60.0


class DropReason:
    """The reasons an event is not delivered; the keys of ``client.stats().dropped``."""

    INVALID = "invalid"  #: the server (or local validation) rejected the event
    INVALID_API_KEY = "invalid_api_key"  #: 400 ``Invalid API key``; every event of the batch
    MIDDLEWARE_STOPPED = "middleware_stopped"  #: a middleware did not call ``next``
    MIDDLEWARE_ERROR = "middleware_error"  #: a middleware or plugin raised
    OPT_OUT = "opt_out"  #: ``optOut`` was set (counted, not an error)
    QUEUE_FULL = "queue_full"  #: ``maxQueueSize`` events were already waiting
    RETRIES_EXHAUSTED = "retries_exhausted"  #: transient failures outlasted ``retryTimeouts``
    RATE_LIMITED_QUOTA = "rate_limited_quota"  #: the user/device exceeded its daily quota
    PAYLOAD_TOO_LARGE = "payload_too_large"  #: a single event larger than the request limit
    SHUTDOWN_TIMEOUT = "shutdown_timeout"  #: still queued when ``shutdown`` ran out of time
    CLIENT_CLOSED = "client_closed"  #: logged after ``shutdown``
    RETRY_CLASS_FAILED = "retry_class_failed"  #: a custom ``retryClass`` reported a failure
    SPOOL_FULL = "spool_full"  #: the spool was full (oldest spooled events evicted)
    INTERNAL_ERROR = "internal_error"  #: an unexpected error in the worker (logged; a bug)
    #: Not a drop: the request was on the wire when shutdown's time ran out (``Status.UNKNOWN``,
    #: counted in ``stats().unknown``).
    UNKNOWN_OUTCOME = "unknown_outcome"
    DISABLED = "disabled"  #: the ``disabled`` option was on (not a loss: nothing is sent)
    DRY_RUN = "dry_run"  #: the ``dryRun`` option was on: logged, not sent
    #: Not a loss: kept in the spool (``spoolPath``), sent later. Counted in ``stats().spooled``.
    SPOOLED = "spooled"


class Action(Enum):
    """What the worker does with a batch after an answer."""

    DELIVERED = "delivered"  #: every event reached Amplitude
    DROP_ALL = "drop_all"  #: drop every event (permanent failure)
    DROP_LISTED = "drop_listed"  #: drop ``drop_indices``, resend the rest at once
    SPLIT = "split"  #: resend the batch as two halves at once
    THROTTLE = "throttle"  #: drop quota users, hold throttled ones, resend the rest at once
    BACKOFF = "backoff"  #: transient failure: retry the whole batch after the next delay


@dataclass(frozen=True)
class Decision:
    """The outcome of one request, as data.

    Attributes:
        action: what to do with the batch.
        status: the legacy ``Status`` of the answer.
        status_code: the body's ``code``, else the HTTP status, else 0.
        reason: the drop reason for dropped events.
        drop_indices: for ``DROP_LISTED``/``THROTTLE``: indices (in the batch) to drop.
        hold_indices: for ``THROTTLE``: indices to hold and retry later.
        retry_after: seconds the server asked to wait (``Retry-After``), if any.
        body: the parsed JSON body, if it was a JSON object.
        error: the server's ``error`` text or the local failure.
    """

    action: Action
    status: Status
    status_code: int = 0
    reason: str | None = None
    drop_indices: FrozenSet[int] = frozenset()
    hold_indices: FrozenSet[int] = frozenset()
    retry_after: float | None = None
    body: Mapping[str, Any] | None = None
    error: str | None = None


def _parse_body(raw: bytes | str | Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    if raw is None or isinstance(raw, Mapping):
        return raw
    try:
        parsed = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None
    return parsed if isinstance(parsed, dict) else None


def _describe(http_status: int, raw: Any) -> str:
    """A one-line account of an answer that carries no JSON ``error`` (HTML, text, empty)."""
    import re
    from http import HTTPStatus

    try:
        phrase = HTTPStatus(http_status).phrase
    except ValueError:
        phrase = "unknown status"
    if isinstance(raw, (bytes, bytearray)):
        raw = bytes(raw[:2000]).decode("utf-8", "replace")
    text = raw if isinstance(raw, str) else ""
    title = re.search(r"<title[^>]*>(.*?)</title>", text, re.I | re.S)
    snippet = title.group(1) if title else re.sub(r"<[^>]+>", " ", text)
    snippet = " ".join(snippet.split())[:120]
    kind = "an HTML page" if "<html" in text[:500].lower() else "not JSON" if text else "no body"
    return f"HTTP {http_status} {phrase} ({kind}{': ' + snippet if snippet else ''})"


def _indices(body: Mapping[str, Any], *keys: str) -> set[int]:
    """Union of every index listed under ``keys`` (maps of field -> [index], or lists)."""
    found: set[int] = set()
    for key in keys:
        value = body.get(key)
        groups: Sequence[Any] = (
            list(value.values()) if isinstance(value, Mapping) else [value] if value else []
        )
        for group in groups:
            if isinstance(group, list):
                found.update(i for i in group if isinstance(i, int) and not isinstance(i, bool))
    return found


def _keys(body: Mapping[str, Any], key: str) -> FrozenSet[str]:
    value = body.get(key)
    if isinstance(value, Mapping):
        return frozenset(str(k) for k in value)
    if isinstance(value, list):  # tolerate lists although the API sends maps
        return frozenset(str(k) for k in value)
    return frozenset()


def _parse_retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        from urllib3.util.retry import Retry

        seconds = Retry().parse_retry_after(value)
    except Exception:  # a malformed header is ignored, not fatal
        return None
    return min(max(seconds, 0.0), RETRY_AFTER_CAP)


def classify(
    http_status: int,
    body: bytes | str | Mapping[str, Any] | None,
    batch: Sequence[Mapping[str, Any]],
    *,
    retry_after: str | None = None,
) -> Decision:
    """Decide what to do with a batch from the server's answer. Pure: no I/O.

    Args:
        http_status: the HTTP status line's code.
        body: the raw (or parsed) response body.
        batch: the events that were sent, in order (indices in the body refer to them).
        retry_after: the ``Retry-After`` header, if any.

    Returns:
        A ``Decision``.
    """
    parsed = _parse_body(body)
    code = parsed.get("code") if parsed is not None else None
    # The legacy SDK and the API agree: the body's ``code`` wins over the status line.
    if not isinstance(code, int) or isinstance(code, bool):
        code = http_status
    status = status_for_code(code)
    error = str(parsed.get("error")) if parsed is not None and parsed.get("error") else None
    if error is None and status is not Status.SUCCESS:
        error = _describe(http_status, body)  # a proxy's HTML page, a WAF, an empty body
    common: dict[str, Any] = {"status": status, "status_code": code, "body": parsed, "error": error}
    size = len(batch)

    if status is Status.SUCCESS:
        return Decision(Action.DELIVERED, **common)
    if status is Status.INVALID:
        if error is not None and error.startswith("Invalid API key"):
            # The body echoes the key back: keep it out of logs, futures and callbacks.
            common["error"] = "Invalid API key"
            common["body"] = {**(parsed or {}), "error": "Invalid API key"}
            return Decision(Action.DROP_ALL, reason=DropReason.INVALID_API_KEY, **common)
        if parsed is not None and isinstance(parsed.get("missing_field"), str):
            return Decision(Action.DROP_ALL, reason=DropReason.INVALID, **common)
        listed = (
            _indices(
                parsed,
                "events_with_invalid_fields",
                "events_with_missing_fields",
                "events_with_invalid_id_lengths",
                "silenced_events",
            )
            if parsed is not None
            else set()
        )
        listed = {i for i in listed if 0 <= i < size}
        if size <= 1 or not listed:
            # One event, or a 4xx that names nothing (403 WAF, an HTML 400): resending the
            # same bytes cannot succeed, so unlike the legacy SDK we do not retry it 12 times.
            return Decision(Action.DROP_ALL, reason=DropReason.INVALID, **common)
        return Decision(
            Action.DROP_LISTED, reason=DropReason.INVALID, drop_indices=frozenset(listed), **common
        )
    if status is Status.PAYLOAD_TOO_LARGE:
        if size <= 1:
            return Decision(Action.DROP_ALL, reason=DropReason.PAYLOAD_TOO_LARGE, **common)
        return Decision(Action.SPLIT, **common)
    if status is Status.RATE_LIMIT:
        return _throttle(parsed, batch, _parse_retry_after(retry_after), common)
    # 5xx, 408, 1xx/3xx: transient as far as we can tell.
    return Decision(Action.BACKOFF, retry_after=_parse_retry_after(retry_after), **common)


def _throttle(
    body: Mapping[str, Any] | None,
    batch: Sequence[Mapping[str, Any]],
    retry_after: float | None,
    common: dict[str, Any],
) -> Decision:
    if body is None:
        return Decision(Action.BACKOFF, retry_after=retry_after, **common)
    quota_users = _keys(body, "exceeded_daily_quota_users")
    quota_devices = _keys(body, "exceeded_daily_quota_devices")
    users = _keys(body, "throttled_users")
    devices = _keys(body, "throttled_devices")
    listed = _indices(body, "throttled_events")
    # Any other event of a user or device that was throttled waits too, as the API asks.
    for index in listed:
        if 0 <= index < len(batch):
            user, device = batch[index].get("user_id"), batch[index].get("device_id")
            users = users | {user} if isinstance(user, str) else users
            devices = devices | {device} if isinstance(device, str) else devices
    drop: set[int] = set()
    hold: set[int] = set()
    for index, event in enumerate(batch):
        user, device = event.get("user_id"), event.get("device_id")
        if user in quota_users or device in quota_devices:
            drop.add(index)
        elif index in listed or user in users or device in devices:
            hold.add(index)
    if not hold and not drop:
        # A 429 that names nobody (project-level throttling): hold everything.
        return Decision(Action.BACKOFF, retry_after=retry_after, **common)
    return Decision(
        Action.THROTTLE,
        reason=DropReason.RATE_LIMITED_QUOTA,
        drop_indices=frozenset(drop),
        hold_indices=frozenset(hold),
        retry_after=retry_after,
        **common,
    )


def classify_error(exc: BaseException) -> Decision:
    """Decide for a request that got no answer: always ``BACKOFF``.

    Timeouts give ``Status.TIMEOUT``; connection errors and anything else ``SYSTEM_ERROR``.
    Unlike the legacy SDK (one retry, then drop), connection errors follow the whole schedule:
    a server that is down for a few seconds must not lose events.
    """
    from amplitude_legacy._errors import RequestTimeoutError

    status = Status.TIMEOUT if isinstance(exc, RequestTimeoutError) else Status.SYSTEM_ERROR
    return Decision(Action.BACKOFF, status, 0, error=f"{type(exc).__name__}: {exc}")


@dataclass(frozen=True)
class RetryPolicy:
    """The retry schedule as a value: one retry per entry of ``timeouts`` (milliseconds).

    Immutable, so one instance serves every batch and thread. ``attempt`` counts the retries
    already made for a batch; ``delay(attempt)`` is the wait before the next one, or ``None``
    when the schedule is spent and the batch is dropped as ``retries_exhausted``.

    Examples:
        >>> policy = RetryPolicy((100, 200))
        >>> policy.delay(0), policy.delay(1), policy.delay(2)
        (0.1, 0.2, None)
    """

    timeouts: Tuple[float, ...] = field(default=DEFAULT_RETRY_TIMEOUTS)

    @property
    def max_retries(self) -> int:
        """How many retries a batch gets after its first send."""
        return len(self.timeouts)

    def delay(self, attempt: int, retry_after: float | None = None) -> float | None:
        """Seconds to wait before retry number ``attempt`` (0-based), or ``None`` if spent.

        A ``Retry-After`` from the server raises the delay to at least that value.
        """
        if attempt >= len(self.timeouts):
            return None
        seconds = self.timeouts[attempt] / 1000.0
        return max(seconds, retry_after) if retry_after is not None else seconds

    def is_last(self, attempt: int) -> bool:
        """Whether retry number ``attempt`` is the last of the schedule (legacy ``isLastRetry``)."""
        return attempt == len(self.timeouts) - 1


class _BuiltinRetryHandler:
    """Base of the legacy retry handler names; the worker runs the behaviour they select."""

    mode = "schedule"

    def __init__(
        self, api_key: str | None = None, options: Mapping[str, Any] | None = None
    ) -> None:
        # The legacy constructors take (apiKey, options). The client's key and transport are
        # used (a deliberate fix: the legacy OfflineRetryHandler ignored the client's serverUrl);
        # only a retryTimeouts given here overrides the client's schedule.
        timeouts = (options or {}).get("retryTimeouts", (options or {}).get("retry_timeouts"))
        self.retry_timeouts: tuple[float, ...] | None = (
            tuple(timeouts) if timeouts is not None else None
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class RetryHandler(_BuiltinRetryHandler):
    """The default retry behaviour, by its legacy name (``DefaultRetryHandler`` is an alias).

    Failed batches are retried on ``retryTimeouts`` as ``classify`` decides. Passing it as
    ``retryClass`` is the same as passing nothing, except that ``retryTimeouts`` in its own
    options override the client's.
    """


class BaseRetryHandler(_BuiltinRetryHandler):
    """Send once, never retry (legacy ``BaseRetryHandler``). Failures drop at once, counted
    as ``retries_exhausted``; 400 partial rejections and 413 splits still resend."""

    mode = "none"


class OfflineRetryHandler(_BuiltinRetryHandler):
    """Legacy ``OfflineRetryHandler``: no timers. Events that fail transiently are kept and
    sent, oldest first, with the next upload (or the next ``flush``). Beyond
    ``maxCachedEvents`` kept events, the oldest are dropped (counted as ``queue_full``).

    Examples:
        >>> client = init("API_KEY", {"retryClass": OfflineRetryHandler()})
    """

    mode = "offline"


DefaultRetryHandler = RetryHandler
"""The legacy SDK's other name for ``RetryHandler``."""
