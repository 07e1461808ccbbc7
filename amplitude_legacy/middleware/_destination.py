"""``Destination``: where ``route`` sends events, with the main path's guarantees.

A destination is a ``NodeClient`` of its own, never a second worker design: the same bounded
queue, batching, retry, spool, counted drops, ``flush`` and ``shutdown``. Non-Amplitude
destinations plug a ``Transport`` of their own into it (``transport_class``): the engine hands
it the Amplitude body (``{"api_key": ..., "events": [...]}``), the transport delivers the
events in the destination's form and answers with an HTTP-like status the engine's classifier
already understands:

* delivered -> 200;
* throttled -> 429 with ``retry-after``;
* unavailable (5xx, connection refused, timeout) -> 503, or ``ConnectionFailedError`` /
  ``RequestTimeoutError``: the engine backs off on ``retryTimeouts``;
* refused for good (another 4xx, a type error) -> 400 with ``{"code": 400, "error": ...}``:
  the batch is dropped as ``invalid``, counted.
"""

from __future__ import annotations

import gzip
import json
from typing import Any, Dict, List, Mapping, Union

from amplitude_legacy._client import NodeClient
from amplitude_legacy._errors import OptionsError
from amplitude_legacy._future import EventFuture
from amplitude_legacy._options import Options, resolve_options
from amplitude_legacy._stats import ClientStats, FlushResult
from amplitude_legacy._transport import HttpResponse, Transport

__all__ = [
    "DELIVERED",
    "NO_URL",
    "Destination",
    "DestinationOptions",
    "events_of",
    "rejected",
    "throttled",
    "unavailable",
]

DestinationOptions = Union[Options, Mapping[str, Any], None]
"""Client options for a destination's own queue: a camelCase or snake_case dict, an
``Options``, or ``None`` (``retryTimeouts``, ``maxQueueSize``, ``onDrop``, ``spoolPath``...)."""

#: The engine needs an http(s) URL; a destination with its own transport never uses it.
#: ``.invalid`` is reserved (RFC 2606): it can never resolve to a real host.
NO_URL = "http://destination.invalid/"
#: Sent as ``api_key`` in the bodies a destination's own transport receives (and drops).
_NO_KEY = "unused"

DELIVERED = HttpResponse(200, {"code": 200})
"""The answer a destination's transport gives when the whole batch was delivered."""

_DEFAULT_OPTIONS = Options()
_SET_BY_DESTINATION = ("server_url", "transport_class")


def rejected(error: str) -> HttpResponse:
    """The answer for a batch the destination refused for good: dropped as ``invalid``."""
    return HttpResponse(400, {"code": 400, "error": error})


def unavailable(error: str, retry_after: str | None = None) -> HttpResponse:
    """The answer for a transient failure: the engine retries on its schedule."""
    headers = {"retry-after": retry_after} if retry_after else {}
    return HttpResponse(503, {"code": 503, "error": error}, headers)


def throttled(error: str, retry_after: str | None) -> HttpResponse:
    """The answer for "too many requests": held and retried, at least ``retry_after`` later."""
    headers = {"retry-after": retry_after} if retry_after else {}
    return HttpResponse(429, {"code": 429, "error": error}, headers)


def events_of(body: bytes, headers: Mapping[str, str]) -> List[Dict[str, Any]]:
    """The events of an Amplitude request body (gunzipped when ``Content-Encoding: gzip``)."""
    if headers.get("Content-Encoding") == "gzip":
        body = gzip.decompress(body)
    events: List[Dict[str, Any]] = json.loads(body)["events"]
    return events


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _given(options: DestinationOptions, name: str) -> bool:
    """Whether the user set option ``name`` (an ``Options`` counts when off its default)."""
    if options is None:
        return False
    if isinstance(options, Options):
        return bool(getattr(options, name) != getattr(_DEFAULT_OPTIONS, name))
    return name in options or _camel(name) in options


class Destination:
    """A destination for ``route``: events queued, batched, retried and counted by a client of
    its own (a ``NodeClient``), independent of the main client's queue.

    The ready-made ones are ``AmplitudeDestination``, ``WebhookDestination``,
    ``RedisStreamDestination`` and ``JsonlFileDestination``. Build your own by giving a
    ``Transport`` (``send(url, body, headers, timeout) -> HttpResponse``, ``close()``): it
    receives Amplitude request bodies and answers 200 (delivered), 429 (throttled), 503 or a
    ``TransportError`` (retried), or 400 (dropped as ``invalid``).

    Args:
        name: how ``client.stats().destinations`` and logs call it (unique per client).
        api_key: the Amplitude API key (Amplitude destinations only).
        options: options of the destination's own client (``retryTimeouts``,
            ``maxQueueSize``, ``onDrop``, ``spoolPath``, ``uploadIntervalInSec``...).
            ``serverUrl`` and ``transportClass`` are the destination's to set.
        transport: the transport, for a destination that is not Amplitude.
        url: the URL the engine hands to ``transport.send`` (default: one that is never
            used; a webhook passes its own).
        defaults: options this kind of destination prefers when the user did not set them
            (``WebhookDestination`` sets ``maxCachedEvents`` from its ``batch_size``).

    Raises:
        ValueError: an empty ``name``; neither ``transport`` nor ``api_key``.
        OptionsError: a bad option (the message names it), or ``serverUrl`` /
            ``transportClass`` given to a destination with its own transport.

    Examples:
        >>> audit = Destination("audit", transport=MyTransport())
        >>> client.addEventMiddleware(route("*", audit))
    """

    def __init__(
        self,
        name: str,
        *,
        api_key: str | None = None,
        options: DestinationOptions = None,
        transport: Transport | None = None,
        url: str | None = None,
        defaults: Mapping[str, Any] | None = None,
    ) -> None:
        if not isinstance(name, str) or not name:
            raise ValueError(f"name must be a non-empty string, got {name!r}")
        if options is not None and not isinstance(options, (Options, Mapping)):
            raise OptionsError(
                "options", f"must be a dict or Options, got {type(options).__name__}"
            )
        if api_key is None and transport is None and not self._makes_transport:
            raise ValueError("a Destination needs transport= (or use AmplitudeDestination)")
        self.name = name
        overrides: Dict[str, Any] = {
            key: value for key, value in (defaults or {}).items() if not _given(options, key)
        }
        if transport is not None or url is not None or self._makes_transport:
            for key in _SET_BY_DESTINATION:
                if isinstance(options, Mapping) and _given(options, key):
                    raise OptionsError(_camel(key), f"is set by {type(self).__name__}")
            overrides["server_url"] = url or NO_URL
        resolved = resolve_options(options, **overrides)
        transport = transport or self._make_transport(resolved)
        if transport is not None:
            resolved = resolve_options(resolved, transport_class=transport)
        self._client = NodeClient(_NO_KEY if api_key is None else api_key, resolved)
        # Nobody reads the futures of routed copies: check them on the destination's worker,
        # off the caller's thread (invalid ones still end counted as ``invalid``).
        self._client._check_on_worker()

    #: Subclasses that build their transport in ``_make_transport`` set this.
    _makes_transport = False

    def _make_transport(self, options: Options) -> Transport | None:
        """Subclasses build their transport here, from the resolved options."""
        return None

    @property
    def client(self) -> NodeClient:
        """The destination's own client (its options, ``stats()``, ``flush``)."""
        return self._client

    @property
    def closed(self) -> bool:
        """Whether ``shutdown`` was called (by you, or by the main client's)."""
        return self._client.closed

    def send(self, event: Mapping[str, Any]) -> EventFuture:
        """Queue one event for this destination (a copy); never blocks, never raises.

        Args:
            event: the event, as ``route`` hands it over.

        Returns:
            The future of the event's delivery to this destination.
        """
        return self._client.logEvent(event)

    def flush(self, timeout: float | None = None) -> FlushResult:
        """Send what is queued and wait for it (see ``NodeClient.flush``).

        Args:
            timeout: seconds to wait at most; ``None`` waits until done.

        Returns:
            The ``FlushResult``.
        """
        return self._client.flush(timeout)

    def shutdown(self, timeout: float | None = None) -> FlushResult:
        """Flush, then stop (see ``NodeClient.shutdown``). Idempotent.

        Args:
            timeout: seconds for the final flush; ``None`` waits until done.

        Returns:
            The ``FlushResult`` of the final flush.
        """
        return self._client.shutdown(timeout)

    def stats(self) -> ClientStats:
        """The destination's counters: delivered, dropped by reason, pending, requests...

        Returns:
            A ``ClientStats``.
        """
        return self._client.stats()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name!r} closed={self.closed}>"
