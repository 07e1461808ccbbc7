"""Transports: put request bytes on the wire, return the answer as a value.

A transport knows nothing about Amplitude: it POSTs bytes and returns ``HttpResponse`` or
raises a ``TransportError``. Retry lives above it, where the answer's body is understood, so
urllib3's own retries and redirects are off.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Mapping, Protocol, runtime_checkable
from urllib.parse import unquote, urlsplit

from amplitude_legacy._errors import ConnectionFailedError, RequestTimeoutError, TransportError

if TYPE_CHECKING:  # urllib3 is imported when the first transport is built, not at import time
    import requests
    import urllib3

__all__ = [
    "HttpResponse",
    "LegacyTransportAdapter",
    "RequestsTransport",
    "Transport",
    "Urllib3Transport",
    "pool_manager_for",
    "proxy_from_environment",
]


@dataclass(frozen=True)
class HttpResponse:
    """An HTTP answer: status, raw body and headers (names lower-cased)."""

    status: int
    body: bytes | Mapping[str, Any] = b""
    headers: Mapping[str, str] = field(default_factory=dict)


@runtime_checkable
class Transport(Protocol):
    """What the worker needs from a transport. Implement it to replace the HTTP layer.

    ``send`` is called from the client's I/O threads: up to ``maxConcurrentRequests`` calls
    may run at once, so a transport must be thread-safe (or the client configured with
    ``maxConcurrentRequests: 1``). It returns the answer, whatever its status, or raises
    ``RequestTimeoutError`` / ``ConnectionFailedError`` when no complete answer came.
    """

    def send(
        self, url: str, body: bytes, headers: Mapping[str, str], timeout: float | None
    ) -> HttpResponse:
        """POST ``body`` to ``url`` and return the answer."""
        ...

    def close(self) -> None:
        """Release connections. Called once, at shutdown."""
        ...


def proxy_from_environment(url: str) -> str | None:
    """The proxy ``HTTPS_PROXY``/``HTTP_PROXY`` name for ``url``, unless ``NO_PROXY`` exempts it."""
    import urllib.request

    proxies = urllib.request.getproxies_environment()
    parts = urlsplit(url)
    # proxy_bypass_environment is public in CPython but missing from typeshed.
    bypass = urllib.request.proxy_bypass_environment  # type: ignore[attr-defined]
    if bypass(parts.hostname or "", proxies):
        return None
    return proxies.get(parts.scheme)


def pool_manager_for(
    url: str,
    *,
    proxy: str | None = None,
    trust_env: bool = False,
    ca_certs: str | None = None,
    cert_file: str | None = None,
    key_file: str | None = None,
    connections: int = 1,
) -> urllib3.PoolManager:
    """A ``PoolManager`` (or ``ProxyManager``) for the client's options.

    ``connections`` connections per host are kept alive: one per request the client may have
    on the wire at once (``maxConcurrentRequests``). Credentials in the proxy URL become a
    ``Proxy-Authorization`` header.
    """
    import urllib3

    tls: dict[str, Any] = {}
    if ca_certs:
        tls["ca_certs"] = ca_certs
    if cert_file:
        tls["cert_file"] = cert_file
        if key_file:
            tls["key_file"] = key_file
    if proxy is None and trust_env:
        proxy = proxy_from_environment(url)
    if not proxy:
        return urllib3.PoolManager(num_pools=4, maxsize=connections, block=False, **tls)
    parts = urlsplit(proxy)
    headers = None
    if parts.username is not None:
        credentials = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
        headers = urllib3.make_headers(proxy_basic_auth=credentials)
    netloc = parts.hostname or ""
    if parts.port:
        netloc = f"{netloc}:{parts.port}"
    return urllib3.ProxyManager(
        f"{parts.scheme}://{netloc}",
        proxy_headers=headers,
        num_pools=4,
        maxsize=connections,
        **tls,
    )


class Urllib3Transport:
    """The default transport: one ``urllib3.PoolManager`` with keep-alive connections.

    Args:
        pool_manager: a configured ``PoolManager`` or ``ProxyManager`` to use instead of a
            new one (for proxies, CA bundles, client certificates).
    """

    def __init__(self, pool_manager: urllib3.PoolManager | None = None) -> None:
        import urllib3

        self._urllib3 = urllib3
        self._pool = pool_manager or urllib3.PoolManager(num_pools=4, maxsize=4, block=False)

    def send(
        self, url: str, body: bytes, headers: Mapping[str, str], timeout: float | None
    ) -> HttpResponse:
        """POST through the pool; see ``Transport.send``."""
        urllib3 = self._urllib3
        errors = urllib3.exceptions
        try:
            response = self._pool.request(
                "POST",
                url,
                body=body,
                headers=dict(headers),
                timeout=urllib3.Timeout(total=timeout) if timeout else None,
                retries=False,
                redirect=False,
            )
        except errors.NewConnectionError as exc:
            # Before TimeoutError: urllib3 (1.26 and 2.x) derives NewConnectionError and
            # NameResolutionError from ConnectTimeoutError, although a refused connection or
            # an unknown host is not a timeout.
            raise ConnectionFailedError(f"could not connect: {_cause(exc)}") from exc
        except errors.TimeoutError as exc:
            raise RequestTimeoutError(f"no answer within {timeout} s") from exc
        except (errors.HTTPError, OSError) as exc:
            raise ConnectionFailedError(f"connection failed: {_cause(exc)}") from exc
        return HttpResponse(
            response.status, response.data, {k.lower(): v for k, v in response.headers.items()}
        )

    def close(self) -> None:
        """Close every pooled connection."""
        self._pool.clear()


def _cause(exc: BaseException) -> str:
    """The root cause of a connection error, as one readable line (no URL: it may hold a key)."""
    root: BaseException = exc
    while root.__context__ is not None and root.__context__ is not root:
        root = root.__context__
    for candidate in (root, exc):
        if isinstance(candidate, OSError) and candidate.strerror:
            return f"{type(candidate).__name__}: {candidate.strerror}"
    reason = getattr(exc, "reason", None)
    return f"{type(exc).__name__}: {reason or str(exc).split(': ')[-1]}"


class RequestsTransport:
    """A transport over a ``requests.Session``, for apps that already configure one.

    Args:
        session: the session to use (its proxies, certificates and adapters apply).
            Default: a new ``requests.Session()``.
    """

    def __init__(self, session: requests.Session | None = None) -> None:
        import requests  # imported lazily: most users never need it

        self._requests = requests
        self._session = session or requests.Session()

    def send(
        self, url: str, body: bytes, headers: Mapping[str, str], timeout: float | None
    ) -> HttpResponse:
        """POST through the session; see ``Transport.send``."""
        requests = self._requests
        try:
            response = self._session.post(
                url, data=body, headers=dict(headers), timeout=timeout, allow_redirects=False
            )
        except requests.Timeout as exc:
            raise RequestTimeoutError(f"no answer within {timeout} s") from exc
        except (requests.RequestException, OSError) as exc:
            raise ConnectionFailedError(type(exc).__name__) from exc
        return HttpResponse(
            response.status_code,
            response.content,
            {k.lower(): v for k, v in response.headers.items()},
        )

    def close(self) -> None:
        """Close the session."""
        self._session.close()


def _snake_keys() -> Mapping[str, str]:
    from amplitude_legacy._response import _CAMEL_KEYS

    return {camel: snake for snake, camel in _CAMEL_KEYS.items()}


_SNAKE_KEYS = _snake_keys()


class LegacyTransportAdapter:
    """Wraps a legacy ``transportClass`` (``send_payload(payload) -> Response``).

    The legacy contract hands the transport the payload object, so the body is decoded back
    into a dict for it. The answer may be a ``Response`` or a dict with ``statusCode``/``body``.
    """

    def __init__(self, legacy: Any) -> None:
        self._send = getattr(legacy, "send_payload", None) or legacy.sendPayload
        self._legacy = legacy

    def send(
        self, url: str, body: bytes, headers: Mapping[str, str], timeout: float | None
    ) -> HttpResponse:
        """Call the legacy ``send_payload``; see ``Transport.send``."""
        if headers.get("Content-Encoding") == "gzip":  # the legacy contract hands over a dict
            import gzip

            body = gzip.decompress(body)
        try:
            answer = self._send(json.loads(body))
        except TransportError:
            raise
        except Exception as exc:
            raise ConnectionFailedError(f"transportClass raised {type(exc).__name__}") from exc
        if isinstance(answer, Mapping):
            code, answer_body = (
                answer.get("statusCode", answer.get("status_code", 0)),
                answer.get("body"),
            )
        else:
            code, answer_body = getattr(answer, "status_code", 0), getattr(answer, "body", None)
        if not isinstance(answer_body, Mapping):
            answer_body = {}
        # A legacy Response carries the legacy camelCase keys (eventsWithInvalidFields,
        # throttledUsers, ...): read both spellings, so a 400 still drops only the listed events.
        snake = {_SNAKE_KEYS.get(key, key): value for key, value in answer_body.items()}
        return HttpResponse(int(code or 0), {"code": int(code or 0), **snake})

    def close(self) -> None:
        """Close the wrapped transport if it can be closed."""
        close = getattr(self._legacy, "close", None)
        if callable(close):
            close()
