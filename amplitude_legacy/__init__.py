"""amplitude_legacy: the legacy Amplitude Node SDK (``@amplitude/node``) model for Python.

    import amplitude_legacy as Amplitude

    client = Amplitude.init("API_KEY", {"uploadIntervalInSec": 10})
    client.addEventMiddleware(lambda payload, next: next(payload))
    client.logEvent({"event_type": "Button Clicked", "user_id": "user-123"})
    client.flush(timeout=10)

The public surface is ``__all__``; everything in ``_``-prefixed modules is private.
"""

from amplitude_legacy._client import LIBRARY, NodeClient, create_instance, get_instance, init
from amplitude_legacy._context import context, current_context
from amplitude_legacy._errors import (
    AmplitudeError,
    ClientClosedError,
    ConnectionFailedError,
    DeliveryError,
    InvalidEventError,
    OptionsError,
    RequestTimeoutError,
    TransportError,
)
from amplitude_legacy._event import Event
from amplitude_legacy._future import EventFuture
from amplitude_legacy._identify import (
    Identify,
    IdentifyOperation,
    Revenue,
    SpecialEventType,
)
from amplitude_legacy._middleware import Middleware, MiddlewareNext, MiddlewarePayload
from amplitude_legacy._options import DEFAULT_RETRY_TIMEOUTS, LogLevel, Options
from amplitude_legacy._response import Response, Status
from amplitude_legacy._retry import (
    BaseRetryHandler,
    DefaultRetryHandler,
    DropReason,
    OfflineRetryHandler,
    RetryHandler,
    RetryPolicy,
    classify,
)
from amplitude_legacy._serverless import flushing
from amplitude_legacy._stats import ClientStats, FlushResult
from amplitude_legacy._transport import (
    HttpResponse,
    RequestsTransport,
    Transport,
    Urllib3Transport,
)
from amplitude_legacy._version import __version__

getInstance = get_instance
"""Legacy spelling of ``get_instance``: ``Amplitude.getInstance()`` or ``getInstance("name")``."""
createInstance = create_instance
"""The plugin API's spelling of ``create_instance``."""

__all__ = [
    "DEFAULT_RETRY_TIMEOUTS",
    "LIBRARY",
    "AmplitudeError",
    "BaseRetryHandler",
    "ClientClosedError",
    "ClientStats",
    "ConnectionFailedError",
    "DefaultRetryHandler",
    "DeliveryError",
    "DropReason",
    "Event",
    "EventFuture",
    "FlushResult",
    "HttpResponse",
    "Identify",
    "IdentifyOperation",
    "InvalidEventError",
    "LogLevel",
    "Middleware",
    "MiddlewareNext",
    "MiddlewarePayload",
    "NodeClient",
    "OfflineRetryHandler",
    "Options",
    "OptionsError",
    "RequestTimeoutError",
    "RequestsTransport",
    "Response",
    "RetryHandler",
    "RetryPolicy",
    "Revenue",
    "SpecialEventType",
    "Status",
    "Transport",
    "TransportError",
    "Urllib3Transport",
    "__version__",
    "classify",
    "context",
    "createInstance",
    "create_instance",
    "current_context",
    "flushing",
    "getInstance",
    "get_instance",
    "init",
]
