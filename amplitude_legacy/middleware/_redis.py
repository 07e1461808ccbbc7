"""``RedisStreamDestination``: ``XADD`` each event to a Redis stream (the ``redis`` extra)."""

from __future__ import annotations

from typing import Any, Mapping
from urllib.parse import urlsplit

from amplitude_legacy._encoding import encode_json
from amplitude_legacy._errors import ConnectionFailedError, RequestTimeoutError
from amplitude_legacy._options import Options
from amplitude_legacy._transport import HttpResponse
from amplitude_legacy.middleware._amplitude import host_of
from amplitude_legacy.middleware._destination import (
    DELIVERED,
    Destination,
    DestinationOptions,
    events_of,
    rejected,
    unavailable,
)

__all__ = ["RedisStreamDestination", "RedisStreamTransport"]

EXTRA_HINT = 'pip install "amplitude_legacy[redis]"'
#: Error replies that say "not now" rather than "never": the batch is retried.
_TRANSIENT_REPLIES = ("OOM", "BUSY", "LOADING", "TRYAGAIN", "MASTERDOWN", "READONLY", "CLUSTERDOWN")
_SCHEMES = ("redis", "rediss", "unix")


def _load_redis() -> Any:
    try:
        import redis
    except ImportError as exc:
        raise ImportError(f"RedisStreamDestination needs the redis client: {EXTRA_HINT}") from exc
    return redis


class RedisStreamTransport:
    """One ``XADD`` per event, all of a batch in one ``MULTI``/``EXEC`` pipeline; a
    ``Transport``. Each stream entry has one field, ``event``: the event's JSON. Thread-safe
    (redis-py's connection pool).

    Args:
        client: a ``redis.Redis``.
        stream: the stream key.
        maxlen: trim the stream to about this many entries (``MAXLEN ~``), or ``None``.
    """

    def __init__(self, client: Any, stream: str, maxlen: int | None) -> None:
        self._redis = client
        self._errors = _load_redis().exceptions
        self._stream = stream
        self._maxlen = maxlen

    def send(
        self, url: str, body: bytes, headers: Mapping[str, str], timeout: float | None
    ) -> HttpResponse:
        """Add the events of an Amplitude body to the stream; see ``Transport.send``."""
        errors = self._errors
        pipe = self._redis.pipeline(transaction=True)
        for event in events_of(body, headers):
            pipe.xadd(self._stream, {"event": encode_json(event)}, maxlen=self._maxlen)
        try:
            pipe.execute()
        except errors.TimeoutError as exc:
            raise RequestTimeoutError("Redis did not answer in time") from exc
        except (errors.AuthenticationError, errors.NoPermissionError) as exc:
            return rejected(f"Redis refused the credentials: {type(exc).__name__}")
        except errors.ConnectionError as exc:
            raise ConnectionFailedError(f"Redis: {type(exc).__name__}") from exc
        except errors.ResponseError as exc:
            text = str(exc)
            if text.startswith(_TRANSIENT_REPLIES) or "EXECABORT" in text:
                return unavailable(f"Redis: {text}")
            return rejected(f"Redis: {text}")  # WRONGTYPE and friends: retrying cannot help
        except errors.RedisError as exc:
            return unavailable(f"Redis: {type(exc).__name__}: {exc}")
        return DELIVERED

    def close(self) -> None:
        """Close the client's connections."""
        self._redis.close()


class RedisStreamDestination(Destination):
    """Events into a Redis stream, for teams that fan events into their own pipeline.

    Each event becomes one stream entry ``{"event": "<the event's JSON>"}`` (``XADD``; a batch
    is one ``MULTI``/``EXEC`` round trip, so it is added whole or not at all). Connection
    errors, timeouts and "try again" replies (``OOM``, ``LOADING``, ``BUSY``, ``READONLY``...)
    are retried on ``retryTimeouts``; refused credentials and other error replies
    (``WRONGTYPE``) drop the batch as ``invalid``, counted. One batch is in flight at a time
    (``maxConcurrentRequests`` 1 unless you set it), so the stream keeps the order of
    ``logEvent`` except across a retry. Needs ``pip install "amplitude_legacy[redis]"``.

    Args:
        url: ``redis://[:password@]host:port/db``, ``rediss://`` (TLS) or ``unix://``.
        stream: the stream key.
        maxlen: keep the stream to about this many entries (``XADD MAXLEN ~``); ``None``
            (default) never trims.
        options: the destination client's options (``retryTimeouts``,
            ``requestTimeoutMillis``: the socket timeout, ``maxQueueSize``, ``onDrop``...).
        name: the name in ``client.stats().destinations`` (default
            ``"redis:<host:port>/<stream>"``).

    Raises:
        ValueError: a URL that is not redis/rediss/unix; an empty stream; a bad ``maxlen``.
        ImportError: the ``redis`` package is missing.
        OptionsError: a bad option.

    Examples:
        >>> events = RedisStreamDestination("redis://127.0.0.1:6379/0", "amplitude-events",
        ...                                 maxlen=1_000_000)
        >>> client.addEventMiddleware(route("*", events))
    """

    _makes_transport = True

    def __init__(
        self,
        url: str,
        stream: str,
        maxlen: int | None = None,
        *,
        options: DestinationOptions = None,
        name: str | None = None,
    ) -> None:
        if not isinstance(url, str) or urlsplit(url).scheme not in _SCHEMES:
            shown = host_of(url) if isinstance(url, str) else type(url).__name__
            raise ValueError(f"url must be a redis://, rediss:// or unix:// URL, got {shown!r}")
        if not isinstance(stream, str) or not stream:
            raise ValueError(f"stream must be a non-empty string, got {stream!r}")
        if maxlen is not None and (
            not isinstance(maxlen, int) or isinstance(maxlen, bool) or maxlen < 1
        ):
            raise ValueError(f"maxlen must be a positive int or None, got {maxlen!r}")
        self._url = url
        self._stream = stream
        self._maxlen = maxlen
        location = host_of(url) or urlsplit(url).path
        # One request at a time by default: the stream keeps the order of logEvent.
        super().__init__(
            name or f"redis:{location}/{stream}",
            options=options,
            defaults={"max_concurrent_requests": 1},
        )

    def _make_transport(self, options: Options) -> RedisStreamTransport:
        redis = _load_redis()
        seconds = (
            options.request_timeout_millis / 1000 if options.request_timeout_millis > 0 else None
        )
        try:
            client = redis.Redis.from_url(
                self._url, socket_timeout=seconds, socket_connect_timeout=seconds
            )
        except ValueError as exc:
            raise ValueError(f"url is not a usable Redis URL: {exc}") from None
        return RedisStreamTransport(client, self._stream, self._maxlen)
