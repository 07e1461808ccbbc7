"""The loopback HTTP server behind :class:`Collector`.

Threads: one accept thread per listening socket (woken by a socketpair, so stopping never polls)
and one daemon thread per connection, running a :class:`http.server.BaseHTTPRequestHandler` in
HTTP/1.1 keep-alive mode. Shared state (records, script, rate windows, the down flag) lives behind
one re-entrant lock with a :class:`threading.Condition` for the ``wait_*`` methods.

Memory is bounded where a client could grow it: at most ``max_connections`` connections (more are
answered 503 and closed), request bodies being read share a byte budget (past it: 503), and with
``keep=N`` the records are rings (see :mod:`._records`).

Every response is written with a single ``sendall``: with Nagle on the client and delayed ACK on
the server, a header write followed by a body write costs ~40 ms per keep-alive request.
"""

from __future__ import annotations

import contextlib
import functools
import ipaddress
import json
import logging
import os
import random
import re
import selectors
import socket
import ssl
import threading
import time
from collections import deque
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler
from types import TracebackType
from typing import (
    IO,
    Any,
    Callable,
    Deque,
    Dict,
    Iterable,
    List,
    Mapping,
    NamedTuple,
    Sequence,
    Tuple,
    Type,
)

from amplitude_legacy.testing._debugger import (
    FAVICON_PATH,
    MAX_EVENTS_SHOWN,
    STATE_PATH,
    STREAM_PATH,
    Feed,
    asset,
    mask_key,
    request_entry,
    ui_route,
)
from amplitude_legacy.testing._dedup import DEDUP_WINDOW, Deduplicator
from amplitude_legacy.testing._ratelimit import RateLimiter
from amplitude_legacy.testing._records import CapturedRequest, Records, footprint
from amplitude_legacy.testing._script import (
    AcceptThenDrop,
    Delay,
    Drop,
    Reply,
    Step,
    describe_step,
    reason_phrase,
    standard_body,
)
from amplitude_legacy.testing._validation import (
    BATCH_PATH,
    HTTP_API_PATH,
    Rules,
    check_request,
    decode_body,
    parse_json,
    route,
)

__all__ = ["CapturedRequest", "Collector"]

logger = logging.getLogger("amplitude_legacy.testing")

_SERVER_HEADER = "amplitude-legacy-collector"
#: Idle keep-alive connections are closed after this many seconds, so a long-running CLI does not
#: keep a thread per vanished client forever.
_IDLE_TIMEOUT = 300.0
#: How long stop() waits for connection threads to finish.
_JOIN_TIMEOUT = 5.0
#: Request bodies being read at once hold at most this many bytes (at least one largest body).
_INFLIGHT_BYTES = 256 * 1024 * 1024
#: With ``keep``, the deduplication memory holds at most this many keys (~100 bytes each).
_BOUNDED_DEDUP_KEYS = 100_000
#: A debugger stream whose browser takes longer than this to accept a write is dropped.
_STREAM_SEND_TIMEOUT = 5.0
#: Headers of every debugger answer: nothing but the collector's own files may run or load.
_UI_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self';"
    " connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none';"
    " frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
_JSON = "application/json"
_HTML = "text/html; charset=utf-8"

#: Stand-in step for "the server is down": read the request, close the connection, answer nothing.
_NO_ANSWER = Drop()

EventDict = Dict[str, Any]
OnAccept = Callable[[str, List[EventDict]], None]


class Collector:
    """A loopback HTTP server that behaves like Amplitude's ingestion API.

    It serves ``POST /2/httpapi`` and ``POST /batch``, validates requests like the real API
    in the real API's order, records what it accepted, and can be scripted to fail per test.

    Examples:
        >>> import json, urllib.request
        >>> with Collector() as collector:
        ...     body = {"api_key": "k", "events": [{"event_type": "e", "user_id": "user-1"}]}
        ...     request = urllib.request.Request(
        ...         collector.http_api_url,
        ...         data=json.dumps(body).encode(),
        ...         headers={"Content-Type": "application/json"},
        ...     )
        ...     json.load(urllib.request.urlopen(request))["events_ingested"]
        ...     [event["user_id"] for event in collector.wait_for_events(1)]
        1
        ['user-1']

    Args:
        host: Interface to bind; loopback by default.
        port: Port to bind; ``0`` picks a free one (read it back from :attr:`port`).
        api_keys: Accepted API keys; ``None`` accepts any key.
        min_id_length: Minimum ``user_id`` / ``device_id`` length unless the request's
            ``options.min_id_length`` says otherwise.
        max_body_bytes: Body limit of ``/2/httpapi`` (after gzip decoding).
        batch_max_body_bytes: Body limit of ``/batch`` (after gzip decoding).
        max_events: Most events per request; more is a 413.
        eps_threshold: Events per second allowed per user and per device, averaged over
            ``rate_window``; ``None`` (the default) turns rate limiting off.
        latency: Seconds added before every response.
        fail_rate: Fraction of requests answered 503 ``Service Unavailable``, chosen by a
            ``random.Random(seed)`` so a run is reproducible. Requests served by a script step
            do not draw from it.
        seed: Seed for ``fail_rate``.
        store: File to append each accepted event to, as one JSON line.
        first_index_only: List only the first offending index per field in 400 bodies.
        empty_events_ok: Answer an empty ``events`` array with 200 (``False``: 400 with
            ``missing_field: "events"``).
        rate_window: Length in seconds of the rate-limit window (30 in the real API).
        on_accept: Called with ``(path, events)`` after each accepted request's events are
            recorded, on the connection's thread; exceptions are logged and ignored.
        ssl_context: Serve HTTPS: each accepted connection is wrapped with this server-side
            context (load your certificate into it first); :attr:`url` becomes ``https://``.
            The TLS handshake runs on the connection's thread, so a slow client holds up no one.
        dedup_window: Seconds during which a stored event absorbs later copies with the same
            ``insert_id`` on the same ``device_id`` (or ``user_id`` when it has no device)
            under the same API key; 7 days, like Amplitude. ``0`` stores every copy.
        keep: Keep only the ``keep`` most recent events and requests (the requests also within
            about 16 MiB of memory) and count the rest (:meth:`counts`), so that a long-running
            collector holds flat memory; the deduplication memory then holds the 100,000 most
            recent keys. ``None`` (the default) keeps everything, as tests need.
        max_connections: Most connections open at once; a connection past it is answered 503
            ``Service Unavailable`` and closed, and counted.
        ui: Serve the live event debugger at :attr:`url` (``GET /``): a page showing what
            arrives as it arrives, pushed with Server-Sent Events. It answers only requests
            addressed to the collector's own host name when bound to loopback.

    Raises:
        ValueError: On an out-of-range setting.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        api_keys: Iterable[str] | None = None,
        min_id_length: int = 5,
        max_body_bytes: int = 1_000_000,
        batch_max_body_bytes: int = 20_000_000,
        max_events: int = 2000,
        eps_threshold: float | None = None,
        latency: float = 0.0,
        fail_rate: float = 0.0,
        seed: int = 0,
        store: str | os.PathLike[str] | None = None,
        first_index_only: bool = False,
        empty_events_ok: bool = True,
        rate_window: float = 30.0,
        on_accept: OnAccept | None = None,
        ssl_context: ssl.SSLContext | None = None,
        dedup_window: float = DEDUP_WINDOW,
        keep: int | None = None,
        max_connections: int = 256,
        ui: bool = False,
    ) -> None:
        if not 0 <= port <= 65535:
            raise ValueError(f"port must be in 0..65535, got {port}")
        if isinstance(api_keys, str):
            raise TypeError("api_keys must be an iterable of keys, not one str")
        for name, value in (
            ("min_id_length", min_id_length),
            ("max_body_bytes", max_body_bytes),
            ("batch_max_body_bytes", batch_max_body_bytes),
            ("max_events", max_events),
            ("latency", latency),
            ("dedup_window", dedup_window),
        ):
            if value < 0:
                raise ValueError(f"{name} must be >= 0, got {value}")
        if not 0.0 <= fail_rate <= 1.0:
            raise ValueError(f"fail_rate must be in [0, 1], got {fail_rate}")
        if eps_threshold is not None and eps_threshold < 0:
            raise ValueError(f"eps_threshold must be >= 0, got {eps_threshold}")
        if rate_window <= 0:
            raise ValueError(f"rate_window must be > 0, got {rate_window}")
        if keep is not None and keep < 0:
            raise ValueError(f"keep must be >= 0 or None, got {keep}")
        if max_connections < 1:
            raise ValueError(f"max_connections must be >= 1, got {max_connections}")

        self._host = host
        self._port = port
        self._rules = Rules(
            api_keys=None if api_keys is None else frozenset(api_keys),
            min_id_length=min_id_length,
            max_body_bytes=max_body_bytes,
            batch_max_body_bytes=batch_max_body_bytes,
            max_events=max_events,
            first_index_only=first_index_only,
            empty_events_ok=empty_events_ok,
        )
        # Bodies far past every limit are refused unread instead of being buffered in memory.
        self._read_cap = 2 * max(max_body_bytes, batch_max_body_bytes) + (1 << 20)
        self._inflight = _Budget(max(_INFLIGHT_BYTES, self._read_cap))
        self._max_connections = max_connections
        self._latency = latency
        self._fail_rate = fail_rate
        self._rng = random.Random(seed)
        self._limiter = None if eps_threshold is None else RateLimiter(eps_threshold, rate_window)
        self._store_path = store
        self._on_accept = on_accept
        self._ssl_context = ssl_context

        # Records, script, rate windows and the down flag. Re-entrant so that a wait_until
        # predicate may read the collector's properties while the condition holds the lock.
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._records = Records(keep)
        self._feed = Feed() if ui else None
        self._settings: Dict[str, Any] = {
            "keep": keep,
            "max_connections": max_connections,
            "min_id_length": min_id_length,
            "eps_threshold": eps_threshold,
            "latency": latency,
            "fail_rate": fail_rate,
            "dedup_window": dedup_window,
            "api_keys": "any" if api_keys is None else "a list",
        }
        self._dedup = Deduplicator(dedup_window, None if keep is None else _BOUNDED_DEDUP_KEYS)
        # insert_id -> None, in the order a copy of it was first absorbed (an ordered set).
        self._absorbed_ids: Dict[str, None] = {}
        self._absorbed_ids_cap = None if keep is None else max(keep, 1)
        self._script: Deque[Step] = deque()
        self._down = False
        self._store_file: IO[str] | None = None

        # Lifecycle (start/stop/set_down) and open connections have their own locks: they block
        # on joins and socket calls that must not hold up request handling.
        self._lifecycle = threading.Lock()
        self._state = "new"
        self._stopping = threading.Event()
        self._listener: _Listener | None = None
        self._conn_lock = threading.Lock()
        self._conns: Dict[socket.socket, threading.Thread] = {}
        self._connections_refused = 0  # under _conn_lock

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> Collector:
        """Bind the port and start serving.

        Returns:
            The collector itself, for ``collector = Collector().start()``.

        Raises:
            RuntimeError: When the collector was already started.
            OSError: When the port cannot be bound.
        """
        with self._lifecycle:
            if self._state != "new":
                raise RuntimeError(f"collector already {self._state}; create a new one")
            if self._store_path is not None:
                self._store_file = open(self._store_path, "a", encoding="utf-8")  # noqa: SIM115
            try:
                self._listener = _Listener(self._host, self._port, self._open_connection)
            except BaseException:
                self._close_store()
                raise
            self._port = self._listener.port
            self._state = "running"
        return self

    def stop(self) -> None:
        """Stop serving: close the port and every connection, and join the server's threads.

        Waits in progress (``latency``, :class:`Delay`, ...) are cut short and their requests go
        unanswered. Safe to call more than once.
        """
        with self._lifecycle:
            if self._state == "stopped":
                return
            was_running = self._state == "running"
            self._state = "stopped"
            self._stopping.set()
            if not was_running:
                return
            if self._listener is not None:
                self._listener.close()
                self._listener = None
            if self._feed is not None:
                self._feed.close()  # debugger streams return, so their threads can be joined
            threads = self._close_connections()
            deadline = time.monotonic() + _JOIN_TIMEOUT
            for thread in threads:
                thread.join(max(0.0, deadline - time.monotonic()))
            with self._lock:
                self._close_store()

    def set_down(self, down: bool = True) -> None:
        """Take the server down (``True``) or bring it back up on the same port (``False``).

        While down, the port is closed (new connections are refused), open connections are
        closed, and a request caught in flight gets no answer. Records and script are kept.

        Args:
            down: ``True`` to go down, ``False`` to come back.

        Raises:
            RuntimeError: When the collector is not running.
            OSError: When the port cannot be bound again (another process took it).
        """
        with self._lifecycle:
            if self._state != "running":
                raise RuntimeError("set_down() needs a running collector")
            with self._lock:
                if self._down == down:
                    return
                self._down = down
            if down:
                if self._listener is not None:
                    self._listener.close()
                    self._listener = None
                self._close_connections()
            else:
                # create_server sets SO_REUSEADDR, so the port rebinds despite TIME_WAIT sockets.
                self._listener = _Listener(self._host, self._port, self._open_connection)
        self._touch()

    def __enter__(self) -> Collector:
        return self.start()

    def __exit__(
        self,
        exc_type: Type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<Collector {self._state} {self._host}:{self._port}>"

    # -- addresses -----------------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The bound port (the requested one before :meth:`start`)."""
        return self._port

    @property
    def url(self) -> str:
        """Base URL, e.g. ``"http://127.0.0.1:8787"`` (``https://`` with an ``ssl_context``).

        Raises:
            RuntimeError: When the port is not known yet (port 0 before :meth:`start`).
        """
        if self._port == 0:
            raise RuntimeError("the port is chosen by start(); start the collector first")
        host = f"[{self._host}]" if ":" in self._host else self._host
        scheme = "http" if self._ssl_context is None else "https"
        return f"{scheme}://{host}:{self._port}"

    @property
    def http_api_url(self) -> str:
        """URL of the HTTP V2 endpoint (``url + "/2/httpapi"``)."""
        return self.url + HTTP_API_PATH

    @property
    def ui_url(self) -> str:
        """URL of the live event debugger (``url + "/"``); served with ``ui=True``."""
        return self.url + "/"

    @property
    def batch_url(self) -> str:
        """URL of the Batch Event Upload endpoint (``url + "/batch"``)."""
        return self.url + BATCH_PATH

    # -- records -------------------------------------------------------------------------------

    @property
    def events(self) -> List[EventDict]:
        """Stored events in arrival order, each once (a copy of the list).

        Like Amplitude, the collector stores one copy of the events that share an ``insert_id``
        on the same ``device_id`` (or ``user_id``) under the same API key within
        ``dedup_window``; later copies are answered 200 and counted in
        :attr:`duplicates_absorbed`, not stored. Events are otherwise recorded exactly as sent:
        the real server's other defaults (upload time, hashed ``device_id``, 1024-character
        truncation) are not applied, so tests see what the client put on the wire. The dicts
        are the parsed ones, not copies: do not mutate them. With ``keep=N``, only the N most
        recent.
        """
        with self._lock:
            return list(self._records.events)

    @property
    def duplicates_absorbed(self) -> int:
        """How many accepted events were copies of a stored event, answered 200 but not stored."""
        with self._lock:
            return self._records.absorbed

    @property
    def requests(self) -> List[CapturedRequest]:
        """Every request received, in arrival order (a copy of the list).

        With ``keep=N``, only the N most recent (within about 16 MiB of memory).
        """
        with self._lock:
            return list(self._records.requests)

    def duplicates(self) -> List[str]:
        """Return the ``insert_id`` values of which a copy was absorbed, in first-seen order.

        These are the ids accepted more than once (see :attr:`events`); ``[]`` means no event
        arrived twice.
        """
        with self._lock:
            absorbed = list(self._absorbed_ids)
            first_seen: Dict[Any, int] = {}
            for index, event in enumerate(self._records.events):
                first_seen.setdefault(event.get("insert_id"), index)
        return sorted(absorbed, key=lambda insert_id: first_seen.get(insert_id, len(first_seen)))

    def counts(self) -> Dict[str, Any]:
        """Return counts of everything received since the start (or :meth:`reset`).

        Unlike :attr:`events` and :attr:`requests`, the counts cover every request even with
        ``keep=N``.

        Returns:
            A JSON-ready dict: ``requests`` (answered or not), ``by_status`` (``{"200": n,
            ...}``; ``"0"`` for no answer), ``events_stored``, ``duplicates_absorbed``,
            ``events_by_type`` (stored events; past 1000 types the rest are summed under
            ``"(other event types)"``), ``rejected`` (requests that stored nothing, by reason),
            ``connections_refused`` (past ``max_connections``), ``busy`` (requests answered 503
            because too many bodies were being read), ``kept_events``, ``kept_requests`` and
            ``connections_open``.

        Examples:
            >>> with Collector() as collector:
            ...     collector.counts()["requests"]
            0
        """
        with self._lock:
            counts = self._records.counts()
        with self._conn_lock:
            counts["connections_refused"] = self._connections_refused
            counts["connections_open"] = len(self._conns)
        return counts

    def reset(self) -> None:
        """Forget recorded events and requests, counts, pending script steps, rate-limit
        windows and the deduplication memory (an event sent again is stored again)."""
        with self._lock:
            self._records.clear()
            self._dedup.clear()
            self._absorbed_ids.clear()
            self._script.clear()
            if self._limiter is not None:
                self._limiter.clear()
            self._changed.notify_all()
        with self._conn_lock:
            self._connections_refused = 0
        self._touch()

    # -- waiting -------------------------------------------------------------------------------

    def wait_for_events(self, n: int, timeout: float = 5.0) -> List[EventDict]:
        """Block until at least ``n`` events were stored.

        Args:
            n: Number of events to wait for.
            timeout: Seconds to wait at most.

        Returns:
            All accepted events so far (a copy).

        Raises:
            TimeoutError: When fewer than ``n`` events arrived in time; the message says how
                many did.
        """
        self._wait(lambda: self._records.events_total >= n, timeout, f"at least {n} events")
        return self.events

    def wait_for_requests(self, n: int, timeout: float = 5.0) -> List[CapturedRequest]:
        """Block until at least ``n`` requests were received.

        Args:
            n: Number of requests to wait for.
            timeout: Seconds to wait at most.

        Returns:
            All requests so far (a copy).

        Raises:
            TimeoutError: When fewer than ``n`` requests arrived in time.
        """
        self._wait(lambda: self._records.requests_total >= n, timeout, f"at least {n} requests")
        return self.requests

    def wait_until(self, predicate: Callable[[Collector], bool], timeout: float = 5.0) -> None:
        """Block until ``predicate(collector)`` is true.

        The predicate is evaluated under the collector's lock whenever a request is recorded; it
        may read the collector's properties but must not block.

        Args:
            predicate: Condition on the collector.
            timeout: Seconds to wait at most.

        Raises:
            TimeoutError: When the predicate is still false at the deadline.
        """
        self._wait(lambda: predicate(self), timeout, "the condition")

    def _wait(self, ready: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        with self._changed:
            while not ready():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    records = self._records
                    raise TimeoutError(
                        f"waited {timeout:g}s for {what}; {records.events_total} events arrived"
                        f" in {records.requests_total} requests"
                    )
                self._changed.wait(remaining)

    # -- fault scripting -----------------------------------------------------------------------

    def script(self, *steps: Step) -> None:
        """Queue behaviours for the next requests: each step is used by one request, in order.

        Steps are appended to any still pending; once all are used, normal behaviour resumes.
        A step is consumed by exactly one request even when several connections race for it.

        Args:
            *steps: :class:`Reply`, :class:`Drop`, :class:`AcceptThenDrop` or :class:`Delay`.

        Raises:
            TypeError: When a step is not one of those types.
        """
        for step in steps:
            if not isinstance(step, (Reply, Drop, AcceptThenDrop, Delay)):
                raise TypeError(f"not a script step: {step!r}")
        with self._lock:
            self._script.extend(steps)
        self._touch()

    def fail_next(self, n: int, status: int = 503) -> None:
        """Answer the next ``n`` requests with ``status`` and its standard body.

        Args:
            n: Number of requests to fail.
            status: HTTP status to answer with.
        """
        self.script(*[Reply(status)] * n)

    # -- request handling (connection threads) -------------------------------------------------

    def _open_connection(self, conn: socket.socket) -> None:
        with self._conn_lock:
            if self._stopping.is_set() or self._down:
                conn.close()
                return
            if len(self._conns) >= self._max_connections:
                self._refuse_connection(conn)
                return
            if self._ssl_context is not None:
                # No I/O here (the handshake waits for the connection's thread). Wrapping detaches
                # the plain socket, so the wrapped one is what stop() must be able to shut down.
                try:
                    conn = self._ssl_context.wrap_socket(
                        conn, server_side=True, do_handshake_on_connect=False
                    )
                except OSError:  # the client already left; keep the accept thread alive
                    conn.close()
                    return
            thread = threading.Thread(
                target=self._run_connection,
                args=(conn,),
                name="amplitude-collector-connection",
                daemon=True,
            )
            self._conns[conn] = thread
            # Started under the lock so stop() never sees (and joins) an unstarted thread.
            thread.start()

    def _refuse_connection(self, conn: socket.socket) -> None:
        """Answer a connection past ``max_connections`` with a 503 and close it, on the spot.

        Runs under ``_conn_lock`` (which also guards the count): never takes ``_lock``, which a
        ``wait_until`` predicate may hold while it reads :meth:`counts`.
        """
        self._connections_refused += 1
        if self._ssl_context is None:  # a TLS client could not read a plain-text answer
            body = _error_body(
                503,
                "Service Unavailable",
                f"the collector already has {self._max_connections} connections open"
                " (max_connections)",
            )
            message = _message(503, _dumps(body), _JSON, None, close=True, head=False)
            with contextlib.suppress(OSError):
                # A fresh socket's send buffer takes these few bytes at once: never blocks.
                conn.setblocking(False)
                conn.send(message)
                _discard_pending(conn)
                conn.shutdown(socket.SHUT_RDWR)
        conn.close()

    def _run_connection(self, conn: socket.socket) -> None:
        try:
            if isinstance(conn, ssl.SSLSocket):
                conn.settimeout(_IDLE_TIMEOUT)  # a client that never says hello is let go
                conn.do_handshake()  # an SSLError (a bad client hello, say) is an OSError
            _Handler(conn, self)
        except OSError:
            pass  # the client or stop()/set_down() closed the connection
        except Exception:
            logger.exception("collector connection failed")
        finally:
            with self._conn_lock:
                self._conns.pop(conn, None)
            conn.close()

    def _close_connections(self) -> List[threading.Thread]:
        """Shut down every open connection (waking its thread) and return the threads."""
        with self._conn_lock:
            conns = list(self._conns.items())
        for conn, _ in conns:
            # shutdown, not close: the owning thread still uses the descriptor; this wakes its
            # blocked read with EOF and makes pending writes fail.
            with contextlib.suppress(OSError):
                # The socket-level shutdown, also for TLS sockets: SSLSocket.shutdown would drop
                # the TLS object under the thread that is reading through it.
                socket.socket.shutdown(conn, socket.SHUT_RDWR)
        return [thread for _, thread in conns]

    def _serve(self, handler: _Handler) -> None:
        """Handle one parsed request on ``handler``'s connection; never raises."""
        try:
            raw = handler.read_body(self._read_cap, self._inflight)
            page = None if self._feed is None else ui_route(handler.path)
            if raw is not None and page is not None and handler.command in ("GET", "HEAD"):
                self._serve_ui(handler, page)
            elif raw is not None:
                self._serve_body(handler, raw)
        except Exception:
            logger.exception("collector failed on %s %s", handler.command, handler.path)
            handler.close_connection = True
            if not handler.answered:
                body = _error_body(
                    500, "Internal Server Error", "the collector failed on this request"
                )
                handler.send_message(500, _dumps(body), _JSON, None)
        finally:
            self._inflight.give(handler.reserved)
            handler.reserved = 0

    def _serve_body(self, handler: _Handler, raw: bytes) -> None:
        request = _Incoming(
            handler.command,
            handler.path,
            {name.lower(): value for name, value in handler.headers.items()},
            raw,
            time.monotonic(),
        )
        with self._lock:
            step: Step | None
            if self._down:
                step = _NO_ANSWER
            elif self._script:
                step = self._script.popleft()
            elif self._fail_rate and self._rng.random() < self._fail_rate:
                step = _FAIL_RATE_REPLY
            else:
                step = None

        if isinstance(step, Reply):
            reason = "fail_rate 503" if step is _FAIL_RATE_REPLY else f"scripted {step.status}"
            data, content_type = self._reply_body(request, step)
            self._record_unprocessed(request, step.status, reason, data, content_type)
            self._answer(handler, step.status, data, content_type, step.headers, step.delay)
        elif isinstance(step, Drop):
            reason = "server down" if step is _NO_ANSWER else "scripted drop"
            self._record_unprocessed(request, 0, reason, b"", "")
            self._pause(step.delay)
            handler.close_connection = True
        elif isinstance(step, AcceptThenDrop):
            self._process(request, answered=False)
            handler.close_connection = True
        else:
            status, body = self._process(request, answered=True)
            delay = step.seconds if isinstance(step, Delay) else 0.0
            self._answer(handler, status, _dumps(body), _JSON, None, delay)

    def _process(self, request: _Incoming, answered: bool) -> Tuple[int, Dict[str, Any]]:
        """Validate, rate-limit, ingest and record one request; return its status and body."""
        verdict = check_request(
            request.method, request.target, request.headers, request.raw, self._rules
        )
        status, body = verdict.status, verdict.body
        stored: List[EventDict] = []
        absorbed: List[EventDict] = []
        with self._changed:
            if verdict.events is not None and verdict.path is not None:
                throttled = (
                    None
                    if self._limiter is None
                    else self._limiter.admit(
                        verdict.path, verdict.api_key, verdict.events, time.monotonic()
                    )
                )
                if throttled is not None:
                    status, body = 429, throttled
                else:
                    stored, absorbed = self._dedup.admit(
                        verdict.api_key, verdict.events, request.arrived
                    )
                    self._records.add_events(stored)
                    self._absorb_locked(absorbed)
                    self._write_store(stored)
                    body = {
                        "code": 200,
                        # Absorbed copies count as ingested, as the real API acknowledges them.
                        "events_ingested": len(verdict.events),
                        "payload_size_bytes": len(request.raw),
                        "server_upload_time": int(time.time() * 1000),
                    }
            rejection = None if status == 200 else _rejection_reason(status, body)
            self._record_locked(
                request,
                verdict.payload,
                status if answered else 0,
                footprint(len(request.raw), verdict.body_size if verdict.payload else 0),
                rejection,
            )
        if rejection is not None:
            _log_rejection(request.method, request.target, status, body, verdict.api_key)
        if absorbed and logger.isEnabledFor(logging.INFO):
            ids = ", ".join(str(event.get("insert_id"))[:64] for event in absorbed[:3])
            logger.info(
                "collector absorbed %d duplicate event(s) on %s: insert_id %s%s",
                len(absorbed),
                request.target[:200],
                ids,
                ", ..." if len(absorbed) > 3 else "",
            )
        if self._feed is not None:
            self._publish(
                request,
                status if answered else 0,
                body,
                verdict.payload,
                rejection,
                verdict.api_key,
                len(stored),
                absorbed,
            )
        if stored and self._on_accept is not None and verdict.path is not None:
            try:
                self._on_accept(verdict.path, stored)
            except Exception:
                logger.exception("collector on_accept callback failed")
        return status, body

    def _refused(self, handler: _Handler, status: int, body: Dict[str, Any]) -> None:
        """Record a request refused while its body was read (bad framing, too large, busy)."""
        # http.server may refuse a request before it parsed the request line or the headers.
        headers = getattr(handler, "headers", None)
        request = _Incoming(
            getattr(handler, "command", None) or "",
            getattr(handler, "path", None) or "",
            {} if headers is None else {name.lower(): value for name, value in headers.items()},
            b"",
            time.monotonic(),
        )
        reason = "busy" if status == 503 else _rejection_reason(status, body)
        with self._changed:
            if status == 503:
                self._records.busy += 1
            self._record_locked(request, None, status, 0, reason)
        _log_rejection(request.method, request.target, status, body, "")
        if self._feed is not None:
            self._publish(request, status, body, None, reason, "")

    def _reply_body(self, request: _Incoming, step: Reply) -> Tuple[bytes, str]:
        """Return the bytes and content type a :class:`Reply` answers with."""
        if isinstance(step.body, str):
            return step.body.encode("utf-8"), _HTML
        if isinstance(step.body, bytes):
            return step.body, _HTML
        body = step.body
        if body is None:
            path = route(request.target) or HTTP_API_PATH
            eps = None if self._limiter is None else self._limiter.eps_threshold
            body = standard_body(step.status, path=path, eps_threshold=eps)
            if "payload_size_bytes" in body:
                body["payload_size_bytes"] = len(request.raw)
        return _dumps(body), _JSON

    def _answer(
        self,
        handler: _Handler,
        status: int,
        body: bytes,
        content_type: str,
        headers: Mapping[str, str] | None,
        delay: float,
    ) -> None:
        if not self._pause(self._latency + delay):
            handler.close_connection = True  # stopping: leave the request unanswered
            return
        handler.send_message(status, body, content_type, headers)

    def _pause(self, seconds: float) -> bool:
        """Wait ``seconds`` unless the collector stops first; return False when it did."""
        if seconds > 0:
            return not self._stopping.wait(seconds)
        return not self._stopping.is_set()

    def _record_unprocessed(
        self, request: _Incoming, status: int, reason: str, answer: bytes, content_type: str
    ) -> None:
        """Record a request that a script step or the down state answered instead."""
        limit = self._rules.batch_max_body_bytes
        body = decode_body(request.raw, request.headers.get("content-encoding", ""), limit)
        payload = None
        if body and len(body) <= limit:
            payload, _ = parse_json(body)
        size = footprint(len(request.raw), len(body) if body and payload is not None else 0)
        with self._changed:
            self._record_locked(request, payload, status, size, reason)
        if self._feed is not None:
            shown: Any = None
            if content_type == _JSON:
                with contextlib.suppress(ValueError):
                    shown = json.loads(answer)
            api_key = payload.get("api_key") if isinstance(payload, dict) else None
            key = api_key if isinstance(api_key, str) else ""
            answered = shown if isinstance(shown, dict) else None
            self._publish(request, status, answered, payload, reason, key)

    # -- the debugger --------------------------------------------------------------------------

    def _publish(
        self,
        request: _Incoming,
        status: int,
        answer: Mapping[str, Any] | None,
        payload: Any,
        reason: str | None,
        api_key: str,
        stored: int = 0,
        absorbed: Sequence[EventDict] = (),
    ) -> None:
        """Hand one request to the debugger (never raises into request handling).

        The entry is built later, by the feed, and only if a page is open: here it only keeps
        what it needs (the first events, not the whole body).
        """
        assert self._feed is not None
        try:
            events = payload.get("events") if isinstance(payload, dict) else None
            if not isinstance(events, list):
                events = []
            shown = events[:MAX_EVENTS_SHOWN]
            shown_ids = {id(event) for event in shown}
            copies = [event for event in absorbed if id(event) in shown_ids]
            self._feed.publish(
                functools.partial(
                    request_entry,
                    t=int(time.time() * 1000),
                    method=request.method,
                    target=request.target,
                    status=status,
                    answer=answer,
                    events=shown,
                    event_count=len(events),
                    stored=stored,
                    absorbed=len(absorbed),
                    absorbed_ids={id(event) for event in copies},
                    reason=reason,
                    api_key=api_key,
                )
            )
        except Exception:
            logger.exception("collector could not show a request in the debugger")

    def _touch(self) -> None:
        if self._feed is not None:
            self._feed.touch()

    def _debugger_state(self) -> Dict[str, Any]:
        """What the debugger page shows besides the requests: counts, script, settings."""
        counts = self.counts()
        with self._lock:
            script = [describe_step(step) for step in self._script]
            down = self._down
        return {
            "counts": counts,
            "script": script,
            "down": down,
            "settings": self._settings,
            "endpoints": {"http_api": self.http_api_url, "batch": self.batch_url},
            "time": int(time.time() * 1000),
        }

    def _serve_ui(self, handler: _Handler, page: str) -> None:
        """Answer a debugger request: the page, its files, the state, or the event stream."""
        if not self._host_allowed(handler.headers.get("Host", "")):
            # A page elsewhere can point a name of its own at 127.0.0.1 (DNS rebinding): the
            # debugger shows events, so it answers only requests addressed to this machine.
            body = _error_body(403, "Forbidden", "the debugger answers only to its own address")
            handler.send_message(403, _dumps(body), _JSON, _UI_HEADERS)
            return
        if page == STREAM_PATH and handler.command == "GET":
            self._serve_stream(handler)
        elif page == STATE_PATH:
            handler.send_message(200, _dumps(self._debugger_state()), _JSON, _UI_HEADERS)
        elif page in (FAVICON_PATH, STREAM_PATH):  # no icon; the stream is GET only
            status = 404 if page == FAVICON_PATH else 405
            body = _error_body(status, reason_phrase(status), "")
            handler.send_message(status, _dumps(body), _JSON, None)
        else:
            data, content_type = asset(page)
            handler.send_message(200, data, content_type, _UI_HEADERS)

    def _serve_stream(self, handler: _Handler) -> None:
        assert self._feed is not None
        handler.close_connection = True  # the stream ends with the connection
        head = _message(
            200,
            b"",
            "text/event-stream; charset=utf-8",
            {**_UI_HEADERS, "X-Accel-Buffering": "no"},
            close=True,
            head=True,
            length=False,
        )
        last = handler.headers.get("Last-Event-ID", "").strip()
        after = int(last) if last.isascii() and last.isdigit() and len(last) < 18 else 0
        handler.answered = True
        with contextlib.suppress(OSError):  # the browser left or stop() shut the socket
            handler.connection.settimeout(_STREAM_SEND_TIMEOUT)
            handler.wfile.write(head)
            self._feed.serve(handler.wfile.write, after, self._debugger_state)

    def _host_allowed(self, host_header: str) -> bool:
        if not _is_loopback(self._host):
            return True  # bound to a network on purpose: any name may reach it
        host = host_header.strip().lower()
        if host.startswith("["):
            name = host[1 : host.find("]")] if "]" in host else host
        else:
            name = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
        return name in ("localhost", self._host.lower()) or _is_loopback(name)

    def _absorb_locked(self, copies: List[EventDict]) -> None:
        self._records.absorbed += len(copies)
        ids = self._absorbed_ids
        for event in copies:
            ids[event["insert_id"]] = None
        if self._absorbed_ids_cap is not None:
            while len(ids) > self._absorbed_ids_cap:
                del ids[next(iter(ids))]

    def _record_locked(
        self, request: _Incoming, payload: Any, status: int, size: int, rejection: str | None
    ) -> None:
        captured = CapturedRequest(
            request.target, request.headers, request.raw, payload, status, request.arrived
        )
        self._records.add_request(captured, size, rejection)
        self._changed.notify_all()

    def _write_store(self, events: List[EventDict]) -> None:
        if self._store_file is None or not events:
            return
        try:
            text = "".join(_json_line(e, ascii_only=False) for e in events)
            text.encode("utf-8")  # a lone surrogate ("\\ud800" in the JSON) has no UTF-8 form
        except UnicodeEncodeError:
            text = "".join(_json_line(e, ascii_only=True) for e in events)
        self._store_file.write(text)
        # Flushed per request so a reader of the file sees what wait_for_events reported.
        self._store_file.flush()

    def _close_store(self) -> None:
        if self._store_file is not None:
            self._store_file.close()
            self._store_file = None


#: The Reply chosen by ``fail_rate`` (told apart from a scripted one by identity).
_FAIL_RATE_REPLY = Reply(503)


def _rejection_reason(status: int, body: Mapping[str, Any]) -> str:
    """A short reason for a request that stored nothing, for :meth:`Collector.counts`."""
    error = body.get("error")
    if isinstance(error, str) and error:
        # The key itself stays out of counts and logs.
        return "Invalid API key" if error.startswith("Invalid API key") else error
    return reason_phrase(status)


def _log_rejection(
    method: str, target: str, status: int, body: Mapping[str, Any], api_key: str
) -> None:
    """Log one line saying why a request was refused (the API key masked)."""
    if not logger.isEnabledFor(logging.WARNING):
        return
    logger.warning(
        "collector answered %d to %s %s: %s",
        status,
        method,
        target[:200],
        _describe_answer(body, api_key),
    )


def _describe_answer(body: Mapping[str, Any], api_key: str = "") -> str:
    """Say in one line what an error body reports: its error, detail and first event errors.

    Args:
        body: A JSON error body the collector answered.
        api_key: The request's API key, masked wherever it appears.

    Returns:
        The line, e.g. ``"Invalid id length for user_id or device_id (event 0 user_id: 4
        characters long, shorter than the minimum of 5)"``.
    """
    text = str(body.get("error") or reason_phrase(int(body.get("code") or 0)))
    notes: List[str] = []
    detail = body.get("detail")
    if detail:
        notes.append(str(detail))
    problems = body.get("event_errors")
    if isinstance(problems, list):
        notes += [f"event {p['event']} {p['field']}: {p['message']}" for p in problems[:3]]
        if len(problems) > 3:
            notes.append(f"{len(problems) - 3} more")
    if notes:
        text += " (" + "; ".join(notes) + ")"
    if api_key:
        text = text.replace(api_key, mask_key(api_key))
    return text


def _json_line(event: EventDict, ascii_only: bool) -> str:
    return json.dumps(event, ensure_ascii=ascii_only, separators=(",", ":")) + "\n"


def _discard_pending(conn: socket.socket) -> None:
    """Read what already arrived on a non-blocking socket, so closing it sends FIN, not RST."""
    with contextlib.suppress(OSError):
        for _ in range(16):  # a client still sending is not waited for
            if not conn.recv(65536):
                return


def _error_body(code: int, error: str, detail: str) -> Dict[str, Any]:
    body: Dict[str, Any] = {"code": code, "error": error}
    if detail:
        body["detail"] = detail
    return body


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _Budget:
    """A byte budget shared by the connections reading request bodies."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._left = limit
        self._lock = threading.Lock()

    def take(self, n: int) -> bool:
        """Take ``n`` bytes if that many are left."""
        with self._lock:
            if n > self._left:
                return False
            self._left -= n
            return True

    def give(self, n: int) -> None:
        """Return ``n`` bytes taken earlier."""
        if n:
            with self._lock:
                self._left += n


class _Incoming(NamedTuple):
    """A request as read from the connection, before any processing."""

    method: str
    target: str
    headers: Dict[str, str]  # names lower-cased
    raw: bytes
    arrived: float  # time.monotonic() once the body was read


class _Listener:
    """A listening socket and the thread accepting on it."""

    def __init__(
        self, host: str, port: int, on_connection: Callable[[socket.socket], None]
    ) -> None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.create_server((host, port), family=family, backlog=128)
        # Non-blocking so that a connection vanishing between select() and accept() cannot
        # block the loop (and with it, close()).
        self.sock.setblocking(False)
        self.port: int = self.sock.getsockname()[1]
        self._wake_r, self._wake_w = socket.socketpair()
        self._on_connection = on_connection
        self._thread = threading.Thread(
            target=self._run, name=f"amplitude-collector-accept-{self.port}", daemon=True
        )
        self._thread.start()

    def _run(self) -> None:
        with selectors.DefaultSelector() as selector:
            selector.register(self.sock, selectors.EVENT_READ)
            selector.register(self._wake_r, selectors.EVENT_READ)
            while True:
                for key, _ in selector.select():
                    if key.fileobj is self._wake_r:
                        return
                    try:
                        conn, _addr = self.sock.accept()
                    except (BlockingIOError, InterruptedError):
                        continue
                    except OSError:
                        return
                    conn.setblocking(True)
                    self._on_connection(conn)

    def close(self) -> None:
        """Stop accepting, join the accept thread and close the port."""
        self._wake_w.send(b"\0")
        self._thread.join()
        for sock in (self.sock, self._wake_r, self._wake_w):
            sock.close()


class _Handler(BaseHTTPRequestHandler):
    """Runs one connection: parses requests and hands each to :meth:`Collector._serve`."""

    protocol_version = "HTTP/1.1"  # keep-alive
    disable_nagle_algorithm = True  # TCP_NODELAY, set by StreamRequestHandler.setup()
    timeout = _IDLE_TIMEOUT
    server_version = _SERVER_HEADER

    def __init__(self, conn: socket.socket, collector: Collector) -> None:
        self.collector = collector
        self.answered = False  # whether the current request got its answer
        self.reserved = 0  # bytes of the in-flight budget the current body holds
        # Driven directly by the collector, not by a socketserver: nothing here reads `server`.
        super().__init__(conn, conn.getpeername(), None)  # type: ignore[arg-type]

    def do_POST(self) -> None:
        """Serve any method; routing and the 405 for non-POST live in the validation."""
        self.answered = False
        self.collector._serve(self)

    do_GET = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_HEAD = do_POST

    def read_body(self, cap: int, budget: _Budget) -> bytes | None:
        """Read the request body (Content-Length or chunked), taking its bytes from ``budget``.

        Returns:
            The body, or ``None`` when the request was answered (malformed framing, body over
            ``cap``, budget spent: the connection then closes) or the client is gone.
        """
        try:
            return self._read_body(cap, budget)
        except _Refused as refused:
            self.close_connection = True
            self.send_message(refused.status, _dumps(refused.body), _JSON, None)
            self.collector._refused(self, refused.status, refused.body)
        except OSError:  # the client left, or stop() shut the connection
            self.close_connection = True
        return None

    def _read_body(self, cap: int, budget: _Budget) -> bytes:
        transfer = self.headers.get_all("Transfer-Encoding") or []
        lengths = self.headers.get_all("Content-Length") or []
        if transfer:
            codings = [c.strip().lower() for value in transfer for c in value.split(",")]
            if lengths:
                # Two framings at once is how requests are smuggled past proxies: refuse.
                raise _Refused(
                    400,
                    "Invalid request framing",
                    "both Content-Length and Transfer-Encoding are set; send one of them",
                )
            if codings != ["chunked"]:
                raise _Refused(
                    400,
                    "Unsupported Transfer-Encoding",
                    f"Transfer-Encoding {', '.join(codings)[:60]!r}: only chunked is supported",
                )
            return self._read_chunked(cap, budget)
        length, text = 0, "0"
        if lengths:
            values = sorted({value.strip() for value in lengths})
            if len(values) > 1:
                raise _Refused(
                    400,
                    "Invalid Content-Length header",
                    f"several different values: {', '.join(values)[:60]}",
                )
            text = values[0]
            if not (text.isascii() and text.isdigit()):
                raise _Refused(
                    400,
                    "Invalid Content-Length header",
                    f"{text[:40]!r} is not a non-negative integer",
                )
            length = int(text) if len(text) <= 18 else cap + 1
        if length > cap:
            raise _Refused(
                413, "Payload too large", f"Content-Length {text[:40]} is far over the limit"
            )
        self._reserve(length, budget)
        data = self.rfile.read(length)
        if len(data) < length:
            raise _Refused(
                400,
                "Request body ended early",
                f"Content-Length is {length} but the body ended after {len(data)} bytes",
            )
        return data

    def _read_chunked(self, cap: int, budget: _Budget) -> bytes:
        parts: List[bytes] = []
        total = 0
        while True:
            line = self._read_line(1026, "a chunk-size line")
            size_text = line.split(b";", 1)[0].strip()
            if not _HEX.fullmatch(size_text):
                raise _Refused(
                    400,
                    "Invalid chunked body",
                    f"chunk size {size_text[:20].decode('latin-1')!r} is not a hexadecimal number",
                )
            size = int(size_text, 16) if len(size_text) <= 15 else cap + 1
            if size == 0:
                # Trailer lines up to the blank line ending the message.
                for _ in range(100):
                    if not self._read_line(8194, "a trailer line").strip():
                        return b"".join(parts)
                raise _Refused(400, "Invalid chunked body", "more than 100 trailer lines")
            total += size
            if total > cap:
                raise _Refused(413, "Payload too large", "the chunked body is far over the limit")
            self._reserve(size, budget)
            chunk = self.rfile.read(size)
            if len(chunk) < size:
                raise _Refused(400, "Request body ended early", "the body ended inside a chunk")
            parts.append(chunk)
            end = self.rfile.readline(3)
            if not end:
                raise _Refused(400, "Request body ended early", "the body ended after a chunk")
            if end not in (b"\r\n", b"\n"):
                raise _Refused(
                    400,
                    "Invalid chunked body",
                    "a chunk is not followed by CRLF (it is longer than its size says)",
                )

    def _read_line(self, limit: int, what: str) -> bytes:
        line = self.rfile.readline(limit)
        if not line.endswith(b"\n"):
            if len(line) < limit:
                raise _Refused(400, "Request body ended early", f"the body ended inside {what}")
            raise _Refused(400, "Invalid chunked body", f"{what} is longer than {limit - 2} bytes")
        return line

    def _reserve(self, n: int, budget: _Budget) -> None:
        if not budget.take(n):
            raise _Refused(
                503,
                "Service Unavailable",
                f"the collector is already reading {budget.limit // (1 << 20)} MiB of request"
                " bodies; retry later",
            )
        self.reserved += n

    def send_message(
        self, status: int, body: bytes, content_type: str, headers: Mapping[str, str] | None
    ) -> None:
        """Write one complete response (status line, headers, body) in a single ``sendall``."""
        self.answered = True
        head = getattr(self, "command", None) == "HEAD"
        message = _message(status, body, content_type, headers, self.close_connection, head)
        try:
            self.wfile.write(message)
        except OSError:
            self.close_connection = True

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Answer a request http.server could not parse with a JSON error body, and close."""
        code = int(code)  # http.server passes an HTTPStatus; before 3.11 its str() is its name
        self.close_connection = True
        body = {"code": code, "error": message or reason_phrase(code)}
        self.send_message(code, _dumps(body), _JSON, None)
        self.collector._refused(self, code, body)

    def log_message(self, format: str, *args: Any) -> None:
        """Silence http.server's per-request stderr logging."""


class _Refused(Exception):
    """A request refused while its body was read; ``body`` is the JSON answer."""

    def __init__(self, status: int, error: str, detail: str) -> None:
        super().__init__(error)
        self.status = status
        self.body = _error_body(status, error, detail)


_HEX = re.compile(rb"[0-9A-Fa-f]+")


def _message(
    status: int,
    body: bytes,
    content_type: str,
    headers: Mapping[str, str] | None,
    close: bool,
    head: bool,
    length: bool = True,
) -> bytes:
    """Build a whole HTTP/1.1 response; ``head`` leaves the body out (an answer to HEAD), and
    ``length=False`` the Content-Length (a body that ends with the connection)."""
    lines = [
        f"HTTP/1.1 {status} {reason_phrase(status)}",
        f"Server: {_SERVER_HEADER}",
        f"Date: {formatdate(usegmt=True)}",
    ]
    for name, value in (headers or {}).items():
        lowered = name.lower()
        if lowered == "content-type":
            content_type = value
        elif lowered not in ("content-length", "connection"):  # framing stays ours
            lines.append(f"{name}: {value}")
    lines.append(f"Content-Type: {content_type}")
    if length:
        lines.append(f"Content-Length: {len(body)}")
    if close:
        lines.append("Connection: close")
    message = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    return message if head else message + body


def _dumps(body: Mapping[str, Any]) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode("utf-8")
