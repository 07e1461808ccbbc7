"""The loopback HTTP server behind :class:`Collector`.

Threads: one accept thread per listening socket (woken by a socketpair, so stopping never polls)
and one daemon thread per connection, running a :class:`http.server.BaseHTTPRequestHandler` in
HTTP/1.1 keep-alive mode. Shared state (records, script, rate windows, the down flag) lives behind
one re-entrant lock with a :class:`threading.Condition` for the ``wait_*`` methods.

Every response is written with a single ``sendall``: with Nagle on the client and delayed ACK on
the server, a header write followed by a body write costs ~40 ms per keep-alive request.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import random
import selectors
import socket
import ssl
import threading
import time
from collections import deque
from dataclasses import dataclass
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
    Tuple,
    Type,
)

from amplitude_legacy.testing._dedup import DEDUP_WINDOW, Deduplicator
from amplitude_legacy.testing._ratelimit import RateLimiter
from amplitude_legacy.testing._script import (
    AcceptThenDrop,
    Delay,
    Drop,
    Reply,
    Step,
    reason_phrase,
    standard_body,
)
from amplitude_legacy.testing._validation import (
    BATCH_PATH,
    HTTP_API_PATH,
    Rules,
    check_request,
    decode_body,
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
_JSON = "application/json"
_HTML = "text/html; charset=utf-8"

#: Stand-in step for "the server is down": read the request, close the connection, answer nothing.
_NO_ANSWER = Drop()

EventDict = Dict[str, Any]
OnAccept = Callable[[str, List[EventDict]], None]


@dataclass(frozen=True)
class CapturedRequest:
    """One request the collector received.

    Attributes:
        path: The request target as sent (path plus any query string).
        headers: Request headers, names lower-cased.
        body: The body bytes as received (still gzip-encoded when the client compressed it).
        payload: The parsed JSON body, or ``None`` when it is empty or not JSON.
        status: The HTTP status answered, or ``0`` when the connection was closed without an
            answer (:class:`Drop`, :class:`AcceptThenDrop`, server down).
        time: ``time.monotonic()`` when the request was fully read.
    """

    path: str
    headers: Dict[str, str]
    body: bytes
    payload: Any
    status: int
    time: float


class Collector:
    """A loopback HTTP server that behaves like Amplitude's ingestion API.

    It serves ``POST /2/httpapi`` and ``POST /batch``, validates requests like the real API
    (http-api.md §7), records what it accepted, and can be scripted to fail per test.

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
        self._events: List[EventDict] = []
        self._dedup = Deduplicator(dedup_window)
        self._absorbed = 0
        # insert_id -> None, in the order a copy of it was first absorbed (an ordered set).
        self._absorbed_ids: Dict[str, None] = {}
        self._requests: List[CapturedRequest] = []
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
        are the parsed ones, not copies: do not mutate them.
        """
        with self._lock:
            return list(self._events)

    @property
    def duplicates_absorbed(self) -> int:
        """How many accepted events were copies of a stored event, answered 200 but not stored."""
        with self._lock:
            return self._absorbed

    @property
    def requests(self) -> List[CapturedRequest]:
        """Every request received, in arrival order (a copy of the list)."""
        with self._lock:
            return list(self._requests)

    def duplicates(self) -> List[str]:
        """Return the ``insert_id`` values of which a copy was absorbed, in first-seen order.

        These are the ids accepted more than once (see :attr:`events`); ``[]`` means no event
        arrived twice.
        """
        with self._lock:
            absorbed = list(self._absorbed_ids)
            first_seen: Dict[Any, int] = {}
            for index, event in enumerate(self._events):
                first_seen.setdefault(event.get("insert_id"), index)
        return sorted(absorbed, key=lambda insert_id: first_seen.get(insert_id, len(first_seen)))

    def reset(self) -> None:
        """Forget recorded events and requests, pending script steps, rate-limit windows and
        the deduplication memory (an event sent again after a reset is stored again)."""
        with self._lock:
            self._events.clear()
            self._dedup.clear()
            self._absorbed = 0
            self._absorbed_ids.clear()
            self._requests.clear()
            self._script.clear()
            if self._limiter is not None:
                self._limiter.clear()
            self._changed.notify_all()

    # -- waiting -------------------------------------------------------------------------------

    def wait_for_events(self, n: int, timeout: float = 5.0) -> List[EventDict]:
        """Block until at least ``n`` events were accepted.

        Args:
            n: Number of events to wait for.
            timeout: Seconds to wait at most.

        Returns:
            All accepted events so far (a copy).

        Raises:
            TimeoutError: When fewer than ``n`` events arrived in time; the message says how
                many did.
        """
        self._wait(lambda: len(self._events) >= n, timeout, f"at least {n} events")
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
        self._wait(lambda: len(self._requests) >= n, timeout, f"at least {n} requests")
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
                    raise TimeoutError(
                        f"waited {timeout:g}s for {what}; {len(self._events)} events arrived"
                        f" in {len(self._requests)} requests"
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
        """Handle one parsed request on ``handler``'s connection."""
        raw = handler.read_body(self._read_cap)
        if raw is None:
            return
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
                step = Reply(503)
            else:
                step = None

        if isinstance(step, Reply):
            self._record(request, self._peek_payload(request), step.status)
            status, data, content_type = step.status, *self._reply_body(request, step)
            self._answer(handler, status, data, content_type, step.headers, step.delay)
        elif isinstance(step, Drop):
            self._record(request, self._peek_payload(request), 0)
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
        accepted: List[EventDict] | None = None
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
                    accepted, absorbed = self._dedup.admit(
                        verdict.api_key, verdict.events, request.arrived
                    )
                    self._events.extend(accepted)
                    self._absorb_locked(absorbed)
                    self._write_store(accepted)
                    body = {
                        "code": 200,
                        # Absorbed copies count as ingested, as the real API acknowledges them.
                        "events_ingested": len(verdict.events),
                        "payload_size_bytes": len(request.raw),
                        "server_upload_time": int(time.time() * 1000),
                    }
            self._record_locked(request, verdict.payload, status if answered else 0)
        if accepted and self._on_accept is not None and verdict.path is not None:
            try:
                self._on_accept(verdict.path, accepted)
            except Exception:
                logger.exception("collector on_accept callback failed")
        return status, body

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

    def _peek_payload(self, request: _Incoming) -> Any:
        """Parse the body for the record of a request that is not validated (scripted)."""
        limit = self._rules.batch_max_body_bytes
        body = decode_body(request.raw, request.headers.get("content-encoding", ""), limit)
        if not body or len(body) > limit:
            return None
        try:
            return json.loads(body)
        except ValueError:
            return None

    def _absorb_locked(self, copies: List[EventDict]) -> None:
        self._absorbed += len(copies)
        for event in copies:
            self._absorbed_ids[event["insert_id"]] = None

    def _record(self, request: _Incoming, payload: Any, status: int) -> None:
        with self._changed:
            self._record_locked(request, payload, status)

    def _record_locked(self, request: _Incoming, payload: Any, status: int) -> None:
        self._requests.append(
            CapturedRequest(
                request.target, request.headers, request.raw, payload, status, request.arrived
            )
        )
        self._changed.notify_all()

    def _write_store(self, events: List[EventDict]) -> None:
        if self._store_file is None:
            return
        self._store_file.write(
            "".join(json.dumps(e, ensure_ascii=False, separators=(",", ":")) + "\n" for e in events)
        )
        # Flushed per request so a reader of the file sees what wait_for_events reported.
        self._store_file.flush()

    def _close_store(self) -> None:
        if self._store_file is not None:
            self._store_file.close()
            self._store_file = None


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
        # Driven directly by the collector, not by a socketserver: nothing here reads `server`.
        super().__init__(conn, conn.getpeername(), None)  # type: ignore[arg-type]

    def do_POST(self) -> None:
        """Serve any method; routing and the 405 for non-POST live in the validation."""
        self.collector._serve(self)

    do_GET = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_HEAD = do_POST

    def read_body(self, cap: int) -> bytes | None:
        """Read the request body (Content-Length or chunked).

        Returns:
            The body, or ``None`` when the request was answered or the connection must close
            (malformed framing, client gone, body over ``cap``).
        """
        try:
            if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                return self._read_chunked(cap)
            length = int(self.headers.get("Content-Length") or 0)
            if length < 0:
                raise ValueError(length)
            if length > cap:
                self._refuse_too_large()
                return None
            data = self.rfile.read(length)
            if len(data) < length:
                raise EOFError
            return data
        except _TooLarge:
            self._refuse_too_large()
        except (ValueError, EOFError, OSError):
            self.close_connection = True
        return None

    def _read_chunked(self, cap: int) -> bytes:
        parts: List[bytes] = []
        total = 0
        while True:
            size = int(self.rfile.readline(1024).split(b";", 1)[0].strip(), 16)
            if size == 0:
                # Skip trailers up to the blank line ending the message.
                while self.rfile.readline(65537).strip():
                    pass
                return b"".join(parts)
            total += size
            if total > cap:
                raise _TooLarge
            chunk = self.rfile.read(size)
            if len(chunk) < size:
                raise EOFError
            parts.append(chunk)
            self.rfile.readline(3)  # the CRLF after the chunk

    def _refuse_too_large(self) -> None:
        # The body stays unread, so the connection cannot carry another request.
        self.close_connection = True
        self.send_message(413, _dumps(standard_body(413)), _JSON, None)

    def send_message(
        self, status: int, body: bytes, content_type: str, headers: Mapping[str, str] | None
    ) -> None:
        """Write one complete response (status line, headers, body) in a single ``sendall``."""
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
        lines.append(f"Content-Length: {len(body)}")
        if self.close_connection:
            lines.append("Connection: close")
        message = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        if getattr(self, "command", None) != "HEAD":
            message += body
        try:
            self.wfile.write(message)
        except OSError:
            self.close_connection = True

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Answer a malformed request with a JSON error body and close the connection."""
        self.close_connection = True
        self.send_message(
            code, _dumps({"code": code, "error": message or reason_phrase(code)}), _JSON, None
        )

    def log_message(self, format: str, *args: Any) -> None:
        """Silence http.server's per-request stderr logging."""


class _TooLarge(Exception):
    """A chunked body grew past the read cap."""


def _dumps(body: Mapping[str, Any]) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode("utf-8")
