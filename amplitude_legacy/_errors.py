"""Exceptions raised by amplitude_legacy.

The hierarchy:

    AmplitudeError                 base of everything this package raises
    ├── OptionsError (ValueError)  an option has an unknown name, a wrong type or a bad value
    ├── DeliveryError              an event was not delivered (``Response.raise_for_status``)
    │   ├── InvalidEventError (ValueError)
    │   │                          it broke a validation rule, or Amplitude rejected it
    │   └── ClientClosedError      it was logged after ``shutdown``
    └── TransportError             a request could not be completed (never raised into the
        ├── RequestTimeoutError    host application: the worker turns it into a Response)
        └── ConnectionFailedError

Nothing is raised into the host application from the background worker: transport errors
become ``Response`` values with status ``Timeout`` or ``SystemError``, and an event that is
not delivered resolves its future with a ``Response`` saying why. ``raise_for_status()`` on
that response turns it into one of the ``DeliveryError`` classes, for code that prefers
exceptions.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "AmplitudeError",
    "ClientClosedError",
    "ConnectionFailedError",
    "DeliveryError",
    "InvalidEventError",
    "OptionsError",
    "RequestTimeoutError",
    "TransportError",
    "hide_api_key",
]

#: What stands in for the API key in any text this package logs or raises.
API_KEY_PLACEHOLDER = "<api key>"


def hide_api_key(text: str, api_key: str) -> str:
    """``text`` with every occurrence of ``api_key`` replaced by ``<api key>``.

    The one rule for keeping the key out of logs and messages (a server or a proxy may echo
    it back). An empty key hides nothing: replacing ``""`` would garble the text.
    """
    return text.replace(api_key, API_KEY_PLACEHOLDER) if api_key else text


class AmplitudeError(Exception):
    """Base class of every exception raised by amplitude_legacy."""


class OptionsError(AmplitudeError, ValueError):
    """An option passed to ``init`` has an unknown name, a wrong type or a bad value.

    Attributes:
        option: the legacy (camelCase) name of the offending option.

    Examples:
        >>> import amplitude_legacy as Amplitude
        >>> try:
        ...     Amplitude.init("KEY", {"maxCachedEvent": 10})
        ... except Amplitude.OptionsError as exc:
        ...     print(exc.option)
        maxCachedEvent
    """

    def __init__(self, option: str, message: str) -> None:
        super().__init__(f"option {option!r}: {message}")
        self.option = option


class DeliveryError(AmplitudeError):
    """An event was not delivered (raised by ``Response.raise_for_status()``, never by the SDK
    on its own).

    Attributes:
        response: the event's ``Response``: ``status``, ``reason``, ``error``.
    """

    def __init__(self, message: str, response: Any = None) -> None:
        super().__init__(message)
        self.response = response


class InvalidEventError(DeliveryError, ValueError):
    """An event failed validation (local rules or Amplitude's) and was not sent.

    Attributes:
        field: the event field that broke a rule (``""`` when unknown).
    """

    def __init__(self, field: str, message: str, response: Any = None) -> None:
        super().__init__(message, response)
        self.field = field


class ClientClosedError(DeliveryError):
    """The event was logged after ``shutdown()``; it resolved ``skipped``."""


class TransportError(AmplitudeError):
    """A request could not be completed. Raised by transports, caught by the worker."""


class RequestTimeoutError(TransportError):
    """The request did not complete within ``requestTimeoutMillis``."""


class ConnectionFailedError(TransportError):
    """The connection could not be opened, or was dropped before a full answer arrived."""
