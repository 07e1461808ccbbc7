"""Exceptions raised by amplitude_legacy.

The hierarchy:

    AmplitudeError                 base of everything this package raises
    ├── OptionsError (ValueError)  an option has an unknown name, a wrong type or a bad value
    ├── InvalidEventError (ValueError)
    │                              an event broke a validation rule; set on its future
    ├── ClientClosedError          the client was shut down
    └── TransportError             a request could not be completed (never raised into the
        ├── RequestTimeoutError    host application: the worker turns it into a Response)
        └── ConnectionFailedError

Nothing is raised into the host application from the background worker: transport errors
become ``Response`` values with status ``Timeout`` or ``SystemError``.
"""

from __future__ import annotations

__all__ = [
    "AmplitudeError",
    "ClientClosedError",
    "ConnectionFailedError",
    "InvalidEventError",
    "OptionsError",
    "RequestTimeoutError",
    "TransportError",
]


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


class InvalidEventError(AmplitudeError, ValueError):
    """An event failed validation (legacy rules plus JSON-serializability).

    Attributes:
        field: the event field that broke a rule (``""`` when the event is not a mapping).
    """

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class ClientClosedError(AmplitudeError):
    """The client was shut down; events logged afterwards resolve ``skipped``."""


class TransportError(AmplitudeError):
    """A request could not be completed. Raised by transports, caught by the worker."""


class RequestTimeoutError(TransportError):
    """The request did not complete within ``requestTimeoutMillis``."""


class ConnectionFailedError(TransportError):
    """The connection could not be opened, or was dropped before a full answer arrived."""
