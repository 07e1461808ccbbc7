"""``WebhookDestination``: JSON batches to any HTTP endpoint, over urllib3."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from typing import Any, Dict, List, Mapping
from urllib.parse import urlsplit

from amplitude_legacy._delivery import transport_for
from amplitude_legacy._encoding import MAX_EVENTS_PER_REQUEST, encode_json
from amplitude_legacy._options import Options
from amplitude_legacy._transport import HttpResponse, Transport
from amplitude_legacy.middleware._amplitude import host_of
from amplitude_legacy.middleware._destination import (
    DELIVERED,
    Destination,
    DestinationOptions,
    events_of,
    rejected,
    throttled,
    unavailable,
)

__all__ = ["WebhookDestination", "WebhookTransport"]

#: How many posted events a webhook remembers from batches that failed part-way (see send).
_REMEMBERED = 100_000


def _check_url(url: object) -> str:
    if not isinstance(url, str):
        raise TypeError(f"url must be a string, got {type(url).__name__}")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        shown = parts._replace(netloc=host_of(url)).geturl()  # never echo a password
        raise ValueError(f"url must be an http:// or https:// URL, got {shown!r}")
    return url


class WebhookTransport:
    """POSTs ``{"events": [...]}`` in chunks of ``batch_size``; a ``Transport``.

    The engine hands over up to 2000 events per request; they go out as consecutive POSTs of
    at most ``batch_size`` events. When a chunk fails, the events of the chunks already posted
    are remembered (by ``insert_id``) and skipped when the engine retries the batch, so a
    partial failure does not post them twice. Thread-safe.

    Args:
        headers: sent with every POST (``Content-Type: application/json`` is added).
        batch_size: the most events per POST.
        http: the HTTP transport the client would use for this URL (its proxy and TLS
            options apply; urllib3 by default).
    """

    def __init__(self, headers: Mapping[str, str], batch_size: int, http: Transport) -> None:
        self._headers = {"Content-Type": "application/json", **headers}
        self._batch_size = batch_size
        self._http = http
        self._lock = threading.Lock()
        self._posted: OrderedDict[str, None] = OrderedDict()

    def _not_posted(self, events: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
        with self._lock:
            posted = self._posted
            if not posted:
                return events
            left = []
            for event in events:
                insert_id: str = event.get("insert_id") or ""
                if insert_id in posted:
                    del posted[insert_id]  # this retry counts it delivered: forget it
                else:
                    left.append(event)
            return left

    def _remember(self, events: List[Dict[str, Any]]) -> None:
        with self._lock:
            for event in events:
                self._posted[event.get("insert_id")] = None  # type: ignore[index]
            while len(self._posted) > _REMEMBERED:
                self._posted.popitem(last=False)

    def send(
        self, url: str, body: bytes, headers: Mapping[str, str], timeout: float | None
    ) -> HttpResponse:
        """POST the events of an Amplitude body; see ``Transport.send``."""
        events = self._not_posted(events_of(body, headers))
        deadline = None if timeout is None else time.monotonic() + timeout
        size = self._batch_size
        for start in range(0, len(events), size):
            try:
                answer = self._post(url, events[start : start + size], deadline)
            except BaseException:
                self._remember(events[:start])
                raise
            if answer is not DELIVERED:
                self._remember(events[:start])
                return answer
        return DELIVERED

    def _post(self, url: str, chunk: List[Dict[str, Any]], deadline: float | None) -> HttpResponse:
        left = None if deadline is None else max(0.001, deadline - time.monotonic())
        # Timeouts and connection errors raise the engine's TransportError kinds: retried.
        response = self._http.send(url, encode_json({"events": chunk}), self._headers, left)
        status = response.status
        if 200 <= status < 300:
            return DELIVERED
        retry_after = response.headers.get("retry-after")
        error = f"the webhook answered {status}"
        if status == 429:
            return throttled(error, retry_after)
        if status == 413:
            return HttpResponse(413, {"code": 413, "error": error})  # the engine splits
        if status == 408 or status >= 500:
            return unavailable(error, retry_after)
        return rejected(error)  # 3xx (redirects are not followed) and other 4xx

    def close(self) -> None:
        """Close the pooled connections."""
        self._http.close()


class WebhookDestination(Destination):
    """Events as JSON batches to any HTTP endpoint: ``POST url`` with ``{"events": [...]}``.

    Each event is the one Amplitude would get (``insert_id`` included: use it to
    de-duplicate). Answers: 2xx delivered; 429 and 5xx/408, timeouts and connection errors
    retried on ``retryTimeouts`` (``Retry-After`` honoured); 413 splits the batch; other 4xx and
    3xx drop the batch as ``invalid`` (counted). Redirects are not followed.

    Order: up to ``maxConcurrentRequests`` (4) POSTs are in flight at once, so batches can
    arrive out of order; use each event's ``time`` and ``insert_id``, or pass
    ``options={"maxConcurrentRequests": 1}``.

    Batching: ``batch_size`` is the most events per POST. The destination's client uploads
    when ``batch_size`` events wait (``maxCachedEvents``) or after ``uploadIntervalInSec``
    (default 1 s here), whichever comes first; a larger backlog goes out as consecutive POSTs.

    Args:
        url: the endpoint (``http://`` or ``https://``).
        headers: extra headers (``Authorization``...); never logged.
        batch_size: the most events per POST (1 to 2000; default 100).
        options: the destination client's options (``retryTimeouts``,
            ``requestTimeoutMillis``, ``maxQueueSize``, ``proxy``, ``caCerts``, ``onDrop``...).
        name: the name in ``client.stats().destinations`` (default ``"webhook:<host><path>"``).

    Raises:
        ValueError: a URL that is not http(s); a ``batch_size`` out of range; an empty name.
        TypeError: headers that are not a dict of strings.
        OptionsError: a bad option.

    Examples:
        >>> hook = WebhookDestination("https://hooks.example.com/events",
        ...                           headers={"Authorization": "Bearer ..."})
        >>> client.addEventMiddleware(route("Order *", hook))
    """

    _makes_transport = True

    def __init__(
        self,
        url: str,
        headers: Mapping[str, str] | None = None,
        batch_size: int = 100,
        *,
        options: DestinationOptions = None,
        name: str | None = None,
    ) -> None:
        url = _check_url(url)
        headers = dict(headers or {})
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in headers.items()):
            raise TypeError("headers must map header names to string values")
        if (
            not isinstance(batch_size, int)
            or isinstance(batch_size, bool)
            or not 1 <= batch_size <= MAX_EVENTS_PER_REQUEST
        ):
            raise ValueError(f"batch_size must be an int from 1 to 2000, got {batch_size!r}")
        self._headers = headers
        self._batch_size = batch_size
        parts = urlsplit(url)
        super().__init__(
            name or f"webhook:{host_of(url)}{parts.path}",
            options=options,
            url=url,
            defaults={"max_cached_events": batch_size, "upload_interval_in_sec": 1.0},
        )

    def _make_transport(self, options: Options) -> WebhookTransport:
        # The transport the main client would build for this URL: proxy and TLS options apply.
        return WebhookTransport(self._headers, self._batch_size, transport_for(options))
