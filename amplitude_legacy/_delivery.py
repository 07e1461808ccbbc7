"""How a client's batches are sent, and what a transient failure leads to: decided once.

``retry_strategy`` turns the ``retryClass`` option (nothing, ``RetryHandler``,
``BaseRetryHandler``, ``OfflineRetryHandler`` or a user's object) into one ``Strategy``;
``transport_for`` turns ``transportClass`` (nothing, a ``Transport``, or a legacy object with
``send_payload``) into one ``Transport``. Option validation calls the same two functions, so
what ``init`` accepts is exactly what the engine can run. ``Delivery`` puts them together
with the request frame; the worker never looks at the options again.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, List, Mapping, NamedTuple, Sequence

from amplitude_legacy._errors import OptionsError, TransportError, hide_api_key
from amplitude_legacy._response import Response, Status
from amplitude_legacy._retry import (
    Action,
    Decision,
    DropReason,
    RetryPolicy,
    classify,
    classify_error,
)

if TYPE_CHECKING:
    from amplitude_legacy._encoding import Wire
    from amplitude_legacy._event import Event
    from amplitude_legacy._options import Options
    from amplitude_legacy._transport import Transport

__all__ = ["NOT_STARTED", "Answer", "Delivery", "Strategy", "retry_strategy", "transport_for"]


class Strategy(NamedTuple):
    """What happens after a transient failure, and how batches may overlap.

    Attributes:
        policy: the retry schedule (empty: no retries).
        hold: keep failed events for the next send instead of timers (``OfflineRetryHandler``).
        custom: a user ``retryClass`` object that replaces sending and retrying altogether.
    """

    policy: RetryPolicy
    hold: bool = False
    custom: Any = None

    @property
    def sequential(self) -> bool:
        """One request at a time, each answer applied before the next batch is filled."""
        return self.hold


def retry_strategy(retry_class: Any, retry_timeouts: Sequence[float]) -> Strategy:
    """The strategy for a ``retryClass`` option value.

    Raises:
        OptionsError: ``retry_class`` is neither a built-in handler nor an object with
            ``send_events_with_retry(events)`` (or ``sendEventsWithRetry``).
    """
    mode = getattr(retry_class, "mode", None)
    if retry_class is None or isinstance(mode, str):  # RetryHandler and its legacy siblings
        own = getattr(retry_class, "retry_timeouts", None)
        timeouts = tuple(own if own is not None else retry_timeouts)
        return Strategy(RetryPolicy(() if mode == "none" else timeouts), hold=mode == "offline")
    if hasattr(retry_class, "send_events_with_retry") or hasattr(
        retry_class, "sendEventsWithRetry"
    ):
        return Strategy(RetryPolicy(()), custom=retry_class)
    raise OptionsError("retryClass", "must have a send_events_with_retry(events) method")


def check_transport(transport_class: Any) -> None:
    """Raise ``OptionsError`` unless ``transport_class`` is usable as ``transportClass``."""
    if transport_class is None or hasattr(transport_class, "send"):
        return
    if hasattr(transport_class, "send_payload") or hasattr(transport_class, "sendPayload"):
        return
    raise OptionsError(
        "transportClass",
        "must have send(...) (a Transport) or send_payload(payload) (a legacy transport)",
    )


def transport_for(options: Options) -> Transport:
    """The transport for the client's options (urllib3 unless ``transportClass`` is given)."""
    from amplitude_legacy._transport import (
        LegacyTransportAdapter,
        Urllib3Transport,
        pool_manager_for,
    )

    custom = options.transport_class
    check_transport(custom)
    if custom is None:
        return Urllib3Transport(
            pool_manager_for(
                options.server_url,
                proxy=options.proxy,
                trust_env=options.trust_env,
                ca_certs=options.ca_certs,
                cert_file=options.cert_file,
                key_file=options.key_file,
                connections=options.max_concurrent_requests,
            )
        )
    if hasattr(custom, "send"):
        return custom  # type: ignore[no-any-return]
    return LegacyTransportAdapter(custom)


class Answer(NamedTuple):
    """What became of one request (built on an I/O thread, applied by the worker)."""

    decision: Decision
    response: Response
    started: bool = True  #: False: the request never started (shutdown's deadline)


#: The answer for a batch whose request never began (shutdown's deadline had passed).
NOT_STARTED = Answer(Decision(Action.BACKOFF, Status.UNKNOWN), Response(Status.UNKNOWN), False)


def _redacted(decision: Decision, api_key: str) -> Decision:
    """``decision`` with the API key replaced in its error text and body (never logged)."""
    import dataclasses

    def hide(value: Any) -> Any:
        if isinstance(value, str):
            return hide_api_key(value, api_key)
        if isinstance(value, Mapping):
            return {hide(k): hide(v) for k, v in value.items()}
        if isinstance(value, list):
            return [hide(v) for v in value]
        return value

    return dataclasses.replace(decision, error=hide(decision.error), body=hide(decision.body))


class Delivery:
    """Sends one batch and classifies the answer; everything a client's I/O threads need.

    Args:
        options: the client's validated options.
        wire: the request frame.
        transport: where bodies go (replaced after ``fork``).
    """

    def __init__(self, api_key: str, options: Options, wire: Wire, transport: Transport) -> None:
        self._api_key = api_key
        self.strategy = retry_strategy(options.retry_class, options.retry_timeouts)
        self.transport = transport
        self.wire = wire
        self.url = options.server_url.split("?", 1)[0]  # the legacy SDK drops the query
        self._timeout = options.request_timeout_millis / 1000.0
        sequential = self.strategy.sequential
        self.max_in_flight = 1 if sequential else options.max_concurrent_requests
        self.ahead = 0 if sequential else 1  # prepare one batch while the slots are busy

    def send(self, events: List[Event], encoded: List[bytes], not_after: float) -> Answer:
        """Put one batch on the wire and classify what came back (on an I/O thread).

        Never raises: whatever the transport or a ``retryClass`` raises becomes the answer.

        Args:
            events: the batch's events (the answer's indices refer to them).
            encoded: each event's bytes.
            not_after: shutdown's deadline: the request lasts no longer than it.
        """
        now = time.monotonic()
        custom = self.strategy.custom
        if custom is not None:
            return self._send_with_retry_class(custom, events)
        timeout: float | None = self._timeout if self._timeout > 0 else None
        if not_after != float("inf"):
            timeout = min(timeout or not_after - now, not_after - now)
        try:
            answer = self.transport.send(
                self.url, self.wire.body(encoded), self.wire.headers, timeout
            )
            decision = classify(
                answer.status, answer.body, events, retry_after=answer.headers.get("retry-after")
            )
        except BaseException as exc:  # a TransportError, or anything a user transport raised
            decision = classify_error(
                exc if isinstance(exc, Exception) else TransportError(repr(exc))
            )
        if self._api_key and self._api_key in repr((decision.error, decision.body)):
            decision = _redacted(decision, self._api_key)  # a server echoing the key back
        response = Response(
            decision.status, decision.status_code, decision.body, decision.reason, decision.error
        )
        return Answer(decision, response)

    def transient_delay(self, retries: int, retry_after: float | None) -> float | None:
        """Seconds before the next retry of a batch that failed ``retries`` times; ``None``:
        the schedule is spent."""
        return self.strategy.policy.delay(retries, retry_after)

    @staticmethod
    def _send_with_retry_class(custom: Any, events: List[Event]) -> Answer:
        """A user ``retryClass`` replaces everything: one call per batch, its answer is final."""
        send = getattr(custom, "send_events_with_retry", None) or custom.sendEventsWithRetry
        try:
            answer = send(events)
            status = getattr(answer, "status", None)
            if status is None and isinstance(answer, Mapping):
                status = answer.get("status")
            code = getattr(answer, "status_code", None) or getattr(answer, "statusCode", 0) or 0
            known = {s.value for s in Status}
            status = Status(str(status)) if status is not None and str(status) in known else None
            response = Response(status or Status.UNKNOWN, int(code))
        except BaseException as exc:  # even SystemExit or a gevent Timeout: a failed batch
            import logging

            logging.getLogger("amplitude_legacy").exception(
                "amplitude_legacy: retryClass.send_events_with_retry raised"
            )
            response = Response(Status.SYSTEM_ERROR, 0, None, None, repr(exc))
        if response.status is Status.SUCCESS:
            return Answer(
                Decision(Action.DELIVERED, Status.SUCCESS, response.status_code), response
            )
        failed = DropReason.RETRY_CLASS_FAILED
        return Answer(Decision(Action.DROP_ALL, response.status, reason=failed), response)
