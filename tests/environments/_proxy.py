"""A small loopback HTTP proxy for the proxy tests (stdlib sockets and threads only).

It forwards absolute-form requests (``POST http://127.0.0.1:PORT/2/httpapi HTTP/1.1``) and
tunnels ``CONNECT host:port``, optionally speaking TLS itself (an HTTPS proxy). It records every
request it is asked to proxy (with its ``Proxy-Authorization`` header) and can require basic
auth (``407`` otherwise). It only connects to loopback addresses: the tests never leave
``127.0.0.1``.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import selectors
import socket
import socketserver
import ssl
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from types import TracebackType
from typing import Dict, List, Set, Tuple, Type
from urllib.parse import urlsplit

__all__ = ["LoopbackProxy", "ProxiedRequest"]

_LOOPBACK = frozenset({"127.0.0.1", "localhost"})
# Hop-by-hop headers (RFC 9110 §7.6.1) and the proxy's own: never forwarded.
_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)


@dataclass(frozen=True)
class ProxiedRequest:
    """One request the proxy was asked to handle.

    Attributes:
        method: ``CONNECT``, ``POST``, ...
        target: the request target as sent (``host:port`` or an absolute URL).
        headers: the request headers, names lower-cased.
        authorized: whether it passed the proxy's auth check (always true without auth).
    """

    method: str
    target: str
    headers: Dict[str, str]
    authorized: bool


class LoopbackProxy:
    """A forwarding and ``CONNECT`` proxy on ``127.0.0.1`` (a free port), for tests.

    Args:
        credentials: ``(user, password)`` to require as ``Proxy-Authorization: Basic``;
            ``None`` lets everyone through.
        ssl_context: a server-side context: clients talk TLS to the proxy (``https://``).
    """

    def __init__(
        self,
        credentials: Tuple[str, str] | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self._expected = (
            None
            if credentials is None
            else "Basic " + base64.b64encode(":".join(credentials).encode()).decode()
        )
        self._lock = threading.Condition()
        self._requests: List[ProxiedRequest] = []
        self._sockets: Set[socket.socket] = set()
        self._threads: Set[threading.Thread] = set()
        self._scheme = "http" if ssl_context is None else "https"
        self._server = _Server(self, ssl_context)
        self._serve_thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def port(self) -> int:
        """The bound port."""
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` (``https://`` for a TLS proxy)."""
        return f"{self._scheme}://127.0.0.1:{self.port}"

    def url_with(self, user: str, password: str) -> str:
        """``http://user:password@127.0.0.1:PORT`` (no escaping: pass URL-safe strings)."""
        return f"{self._scheme}://{user}:{password}@127.0.0.1:{self.port}"

    @property
    def requests(self) -> List[ProxiedRequest]:
        """Every request received, in arrival order (a copy)."""
        with self._lock:
            return list(self._requests)

    def wait_for_requests(self, n: int, timeout: float = 2.0) -> List[ProxiedRequest]:
        """Block until at least ``n`` requests arrived; ``TimeoutError`` at the deadline."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while len(self._requests) < n:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"proxy saw {len(self._requests)} of {n} requests")
                self._lock.wait(remaining)
            return list(self._requests)

    def start(self) -> LoopbackProxy:
        """Start serving; returns the proxy."""
        self._serve_thread.start()
        return self

    def stop(self) -> None:
        """Stop accepting, close every connection (waking its thread) and join the threads."""
        self._server.shutdown()
        self._server.server_close()
        with self._lock:
            sockets, threads = list(self._sockets), list(self._threads)
        for sock in sockets:
            with contextlib.suppress(OSError):
                socket.socket.shutdown(sock, socket.SHUT_RDWR)  # the TCP socket under any TLS
        deadline = time.monotonic() + 2.0
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def __enter__(self) -> LoopbackProxy:
        return self.start()

    def __exit__(
        self,
        exc_type: Type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- used by the handler -------------------------------------------------------------------

    def _admit(self, method: str, target: str, headers: Dict[str, str]) -> bool:
        authorized = self._expected is None or headers.get("proxy-authorization") == self._expected
        with self._lock:
            self._requests.append(ProxiedRequest(method, target, headers, authorized))
            self._lock.notify_all()
        return authorized

    def _track(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.add(sock)
            self._threads.add(threading.current_thread())

    def _untrack(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.discard(sock)
            self._threads.discard(threading.current_thread())


class _Server(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    block_on_close = False  # LoopbackProxy.stop joins the threads with a deadline
    allow_reuse_address = True

    def __init__(self, proxy: LoopbackProxy, ssl_context: ssl.SSLContext | None) -> None:
        self.proxy = proxy
        self.ssl_context = ssl_context
        super().__init__(("127.0.0.1", 0), _Handler)

    def get_request(self) -> Tuple[socket.socket, Tuple[str, int]]:
        sock, address = self.socket.accept()
        if self.ssl_context is not None:  # the handshake runs on the connection's thread
            sock = self.ssl_context.wrap_socket(
                sock, server_side=True, do_handshake_on_connect=False
            )
        return sock, address


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as a real proxy
    disable_nagle_algorithm = True
    timeout = 10
    server: _Server

    def setup(self) -> None:
        self.server.proxy._track(self.request)
        super().setup()  # no I/O: the TLS handshake, if any, is the first thing handle() does

    def handle(self) -> None:
        with contextlib.suppress(OSError):  # a failed handshake, or stop() closing the socket
            if isinstance(self.request, ssl.SSLSocket):
                self.request.do_handshake()
            super().handle()

    def finish(self) -> None:
        self.server.proxy._untrack(self.request)
        with contextlib.suppress(OSError):
            super().finish()

    def _headers(self) -> Dict[str, str]:
        return {name.lower(): value for name, value in self.headers.items()}

    def _reply(self, status: int, reason: str, headers: Dict[str, str], body: bytes) -> None:
        """Write a whole response in one write (no Nagle/delayed-ACK stall)."""
        lines = [f"HTTP/1.1 {status} {reason}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        lines.append(f"Content-Length: {len(body)}")
        if self.close_connection:
            lines.append("Connection: close")
        self.wfile.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)

    def _refuse(self, status: int, reason: str, headers: Dict[str, str] | None = None) -> None:
        self.close_connection = True  # any body stays unread
        self._reply(status, reason, headers or {}, b"")

    def _admitted(self) -> bool:
        if self.server.proxy._admit(self.command, self.path, self._headers()):
            return True
        self._refuse(
            407, "Proxy Authentication Required", {"Proxy-Authenticate": 'Basic realm="test"'}
        )
        return False

    def do_CONNECT(self) -> None:
        """Tunnel to a loopback ``host:port``."""
        if not self._admitted():
            return
        host, _, port = self.path.rpartition(":")
        if host not in _LOOPBACK or not port.isdigit():
            self._refuse(403, "Forbidden")
            return
        try:
            upstream = socket.create_connection((host, int(port)), timeout=5)
        except OSError:
            self._refuse(502, "Bad Gateway")
            return
        self.server.proxy._track(upstream)
        try:
            self.close_connection = True  # after the tunnel, the connection is done
            self.wfile.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            self._pipe(upstream)
        finally:
            self.server.proxy._untrack(upstream)
            upstream.close()

    def _pipe(self, upstream: socket.socket) -> None:
        """Copy bytes both ways until either side closes."""
        client = self.connection
        upstream.settimeout(None)
        client.settimeout(None)
        peers = {client: upstream, upstream: client}
        with selectors.DefaultSelector() as selector:
            for sock in peers:
                selector.register(sock, selectors.EVENT_READ)
            # A TLS client may have sent bytes that the TLS layer already decrypted and holds.
            if isinstance(client, ssl.SSLSocket) and client.pending():
                upstream.sendall(client.recv(client.pending()))
            while True:
                for key, _ in selector.select():
                    sock = key.fileobj
                    assert isinstance(sock, socket.socket)
                    try:
                        data = sock.recv(65536)
                        if not data:
                            return
                        # TLS hands out one record per recv; the rest waits decrypted, and
                        # the selector cannot see it.
                        while isinstance(sock, ssl.SSLSocket) and sock.pending():
                            data += sock.recv(sock.pending())
                        peers[sock].sendall(data)
                    except OSError:
                        return

    def do_POST(self) -> None:
        """Forward an absolute-form request to a loopback ``http://`` server."""
        if not self._admitted():
            return
        parts = urlsplit(self.path)
        if parts.scheme != "http" or parts.hostname not in _LOOPBACK or parts.port is None:
            self._refuse(400, "Bad Request")
            return
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        headers = {
            name: value
            for name, value in self.headers.items()
            if name.lower() not in _HOP_BY_HOP and name.lower() != "host"
        }
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        upstream = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
        try:
            upstream.request(self.command, target, body, headers)
            answer = upstream.getresponse()
            data = answer.read()
        except OSError:
            self._refuse(502, "Bad Gateway")
            return
        finally:
            upstream.close()
        kept = {
            name: value
            for name, value in answer.getheaders()
            if name.lower() not in _HOP_BY_HOP and name.lower() != "content-length"
        }
        self._reply(answer.status, answer.reason, kept, data)

    do_GET = do_PUT = do_PATCH = do_DELETE = do_POST

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the tests read ``LoopbackProxy.requests`` instead."""
