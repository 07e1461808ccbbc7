"""A real loopback HTTP endpoint for webhook tests: records POSTs, answers with scripted faults.

Steps reuse the collector's fault vocabulary (``Reply``, ``Drop``, ``Delay`` from
``amplitude_legacy.testing``): one step per request, then plain ``200``. ``latency`` delays
every answer.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Deque, Dict, List, NamedTuple, Union

from amplitude_legacy.testing import Delay, Drop, Reply

Step = Union[Reply, Drop, Delay]


class Post(NamedTuple):
    """One request as received."""

    path: str
    headers: Dict[str, str]
    body: Any
    status: int  # what was answered (0: the connection was dropped)
    at: float  # time.monotonic() on arrival


class WebhookServer:
    """A started loopback server; ``url`` is its base, any path is accepted."""

    def __init__(self, latency: float = 0.0) -> None:
        self.latency = latency
        self.posts: List[Post] = []
        self._steps: Deque[Step] = deque()
        self._cond = threading.Condition()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                owner._handle(self)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def script(self, *steps: Step) -> None:
        """Answer the next requests with these steps, in order."""
        with self._cond:
            self._steps.extend(steps)

    @property
    def events(self) -> List[Dict[str, Any]]:
        """Every event of every request answered 2xx, in arrival order."""
        with self._cond:
            return [e for p in self.posts if 200 <= p.status < 300 for e in p.body["events"]]

    def wait_for_events(self, n: int, timeout: float = 5.0) -> List[Dict[str, Any]]:
        """Wait until at least ``n`` events were accepted; fail after ``timeout``."""
        with self._cond:
            done = self._cond.wait_for(
                lambda: (
                    sum(len(p.body["events"]) for p in self.posts if 200 <= p.status < 300) >= n
                ),
                timeout,
            )
        assert done, f"only {len(self.events)} of {n} events arrived within {timeout} s"
        return self.events

    def wait_for_posts(self, n: int, timeout: float = 5.0) -> List[Post]:
        """Wait until at least ``n`` requests were answered (or dropped)."""
        with self._cond:
            assert self._cond.wait_for(lambda: len(self.posts) >= n, timeout), self.posts
            return list(self.posts)

    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        arrived = time.monotonic()
        length = int(request.headers.get("Content-Length") or 0)
        raw = request.rfile.read(length)
        with self._cond:
            step = self._steps.popleft() if self._steps else None
        headers = {k.lower(): v for k, v in request.headers.items()}
        body = json.loads(raw) if raw else None
        status, answer, extra = 200, b'{"ok":true}', {}
        if isinstance(step, Reply):
            status = step.status
            answer = json.dumps(step.body if step.body is not None else {"status": status}).encode()
            extra = dict(step.headers or {})
        # Recorded before answering: once the client has its answer, the test sees the post.
        self._record(
            Post(request.path, headers, body, 0 if isinstance(step, Drop) else status, arrived)
        )
        time.sleep(self.latency + getattr(step, "delay", 0.0) + getattr(step, "seconds", 0.0))
        if isinstance(step, Drop):
            request.close_connection = True
            request.connection.close()
            return
        request.send_response(status)
        request.send_header("Content-Type", "application/json")
        request.send_header("Content-Length", str(len(answer)))
        for name, value in extra.items():
            request.send_header(name, value)
        request.end_headers()
        request.wfile.write(answer)

    def _record(self, post: Post) -> None:
        with self._cond:
            self.posts.append(post)
            self._cond.notify_all()

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._server.shutdown()
        self._server.server_close()
