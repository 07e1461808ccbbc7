"""Keep a benchmark child on loopback: refuse any connection or name lookup elsewhere.

Installed before any SDK is imported, so a peer's telemetry, feature-flag poller or default
host cannot reach the internet even if an option was missed. Refusals are recorded in
``BLOCKED`` and reported with the run's results (a non-empty list is a bench bug).
"""

from __future__ import annotations

import ipaddress
import os
import socket
from typing import Any, Dict, List

__all__ = ["BLOCKED", "install", "scrub_proxy_env"]

BLOCKED: List[str] = []
_LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1", "ip6-localhost"})


def _is_loopback(host: Any) -> bool:
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    if not isinstance(host, str):
        return False
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


def _check(address: Any) -> None:
    if isinstance(address, (str, bytes)):  # AF_UNIX: local by definition
        return
    host = address[0] if isinstance(address, tuple) and address else address
    if not _is_loopback(host):
        BLOCKED.append(repr(address))
        raise ConnectionRefusedError(f"bench netguard: non-loopback address {address!r} blocked")


def install() -> None:
    """Patch ``socket`` so that only loopback connections and lookups succeed."""
    original_connect = socket.socket.connect
    original_connect_ex = socket.socket.connect_ex
    original_getaddrinfo = socket.getaddrinfo

    def connect(self: socket.socket, address: Any) -> None:
        _check(address)
        original_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        _check(address)
        return original_connect_ex(self, address)

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host is not None and not _is_loopback(host):
            BLOCKED.append(f"getaddrinfo({host!r})")
            raise socket.gaierror(f"bench netguard: lookup of {host!r} blocked")
        return original_getaddrinfo(host, *args, **kwargs)

    socket.socket.connect = connect  # type: ignore[method-assign, assignment]
    socket.socket.connect_ex = connect_ex  # type: ignore[method-assign, assignment]
    socket.getaddrinfo = getaddrinfo


def scrub_proxy_env(env: Dict[str, str] | None = None) -> Dict[str, str]:
    """A copy of the environment with proxies removed and loopback exempted."""
    out = dict(os.environ if env is None else env)
    for name in list(out):
        if name.lower() in ("http_proxy", "https_proxy", "all_proxy"):
            del out[name]
    out["NO_PROXY"] = out["no_proxy"] = "127.0.0.1,localhost,::1"
    return out
