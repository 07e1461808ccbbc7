"""What an event's future resolves with: ``Response`` and ``Status`` (the legacy values)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any, Mapping

__all__ = ["Response", "Status", "status_for_code"]


class Status(str, Enum):
    """Outcome of an event or a request. The values are the legacy SDK's, exactly.

    ``Status`` is a ``str`` enum, so ``Status.SUCCESS == "success"`` holds.
    """

    UNKNOWN = "unknown"
    SKIPPED = "skipped"
    SUCCESS = "success"
    RATE_LIMIT = "rate_limit"
    PAYLOAD_TOO_LARGE = "payload_too_large"
    INVALID = "invalid"
    FAILED = "failed"
    TIMEOUT = "Timeout"
    SYSTEM_ERROR = "SystemError"

    def __str__(self) -> str:
        return self.value


def status_for_code(code: int) -> Status:
    """Map an HTTP status (or a body's ``code``) to a ``Status``, in the legacy order.

    200-299 success; 429 rate_limit; 413 payload_too_large; 408 Timeout; other 4xx invalid;
    5xx failed; anything else unknown.
    """
    if 200 <= code < 300:
        return Status.SUCCESS
    if code == 429:
        return Status.RATE_LIMIT
    if code == 413:
        return Status.PAYLOAD_TOO_LARGE
    if code == 408:
        return Status.TIMEOUT
    if 400 <= code < 500:
        return Status.INVALID
    if code >= 500:
        return Status.FAILED
    return Status.UNKNOWN


# snake_case server keys -> the legacy SDK's camelCase ``Response.body`` keys.
_CAMEL_KEYS: Mapping[str, str] = {
    "events_ingested": "eventsIngested",
    "payload_size_bytes": "payloadSizeBytes",
    "server_upload_time": "serverUploadTime",
    "missing_field": "missingField",
    "events_with_invalid_fields": "eventsWithInvalidFields",
    "events_with_missing_fields": "eventsWithMissingFields",
    "events_with_invalid_id_lengths": "eventsWithInvalidIdLengths",
    "eps_threshold": "epsThreshold",
    "throttled_devices": "throttledDevices",
    "throttled_users": "throttledUsers",
    "throttled_events": "throttledEvents",
    "exceeded_daily_quota_devices": "exceededDailyQuotaDevices",
    "exceeded_daily_quota_users": "exceededDailyQuotaUsers",
    "silenced_devices": "silencedDevices",
    "silenced_events": "silencedEvents",
}


@dataclass(frozen=True, init=False)
class Response:
    """The outcome of one event (or of one request).

    Attributes:
        status: the legacy status (``Status.SUCCESS`` when delivered).
        status_code: the HTTP status, or the body's ``code``; ``0`` when no answer came.
        body: the server's parsed JSON body (snake_case, as sent), if any.
        reason: why the event was not delivered (``"retries_exhausted"``, ``"invalid"``, ...),
            ``None`` when delivered. The reasons are the keys of ``client.stats().dropped``.
        error: a human-readable detail (the server's ``error`` or the local failure).

    Examples:
        >>> r = Response(Status.SUCCESS, 200, {"code": 200, "events_ingested": 1})
        >>> r.status == "success", r.camel_body["eventsIngested"]
        (True, 1)
    """

    status: Status
    status_code: int = 0
    body: Mapping[str, Any] | None = None
    reason: str | None = None
    error: str | None = None

    def __init__(
        self,
        status: Status,
        status_code: int = 0,
        body: Mapping[str, Any] | None = None,
        reason: str | None = None,
        error: str | None = None,
    ) -> None:
        # Written straight into __dict__: a frozen dataclass's own __init__ makes one
        # object.__setattr__ call per field, twice the cost, and every dropped or skipped
        # event builds a Response on the caller's thread.
        fields = self.__dict__
        fields["status"] = status
        fields["status_code"] = status_code
        fields["body"] = body
        fields["reason"] = reason
        fields["error"] = error

    @property
    def statusCode(self) -> int:
        """Legacy alias of ``status_code``."""
        return self.status_code

    @property
    def camel_body(self) -> dict[str, Any] | None:
        """The body with the legacy SDK's camelCase keys (``eventsIngested``, ...)."""
        if self.body is None:
            return None
        return {_CAMEL_KEYS.get(k, k): v for k, v in self.body.items() if k != "code"}

    @property
    def delivered(self) -> bool:
        """True when the event reached Amplitude."""
        return self.status is Status.SUCCESS

    def raise_for_status(self) -> Response:
        """Return this response when the event was delivered; otherwise raise why not.

        For code (and tests) that prefer exceptions to checking ``status``. The SDK itself
        never raises these: a future always resolves with its ``Response``.

        Returns:
            This response (delivered).

        Raises:
            InvalidEventError: ``status`` is ``invalid`` (local validation or Amplitude's 400).
            ClientClosedError: the event was logged after ``shutdown``.
            DeliveryError: any other outcome that is not a delivery (dropped, skipped by
                opt-out or middleware, spooled for later, unknown). ``.response`` is this one.

        Examples:
            >>> future = client.logEvent({"event_type": "e", "user_id": "user-1"})
            >>> future.result(10).raise_for_status().status
            <Status.SUCCESS: 'success'>
        """
        if self.status is Status.SUCCESS:
            return self
        from amplitude_legacy._errors import ClientClosedError, DeliveryError, InvalidEventError

        detail = f" ({self.reason}{': ' + self.error if self.error else ''})" if self.reason else ""
        message = f"event not delivered: {self.status.value}{detail}"
        if self.status is Status.INVALID:
            raise InvalidEventError("", message, self)
        if self.reason == "client_closed":
            raise ClientClosedError(message, self)
        raise DeliveryError(message, self)


SKIPPED_RESPONSE = Response(Status.SKIPPED, 0)
