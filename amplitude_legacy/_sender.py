"""The I/O thread: puts one request on the wire at a time, while the worker encodes the next.

The worker hands over an ``Exchange`` (a batch's body and timeout) and later reads its answer
back; classifying and applying the answer stays on the worker, so the queue, retry and flush
state keeps a single owner. At most one request is in flight per client, as in the legacy
transport.
"""

from __future__ import annotations

import threading
from typing import Any, Callable, Mapping

from amplitude_legacy._transport import HttpResponse, Transport

__all__ = ["Exchange", "Sender"]


class Exchange:
    """One request handed to the I/O thread, and what came back."""

    __slots__ = ("answer", "batch", "body", "done", "error", "timeout")

    def __init__(self, batch: Any, body: bytes, timeout: float | None) -> None:
        self.batch = batch  # the worker's batch; opaque here
        self.body = body
        self.timeout = timeout
        self.answer: HttpResponse | None = None
        self.error: BaseException | None = None
        self.done = threading.Event()

    def send(self, transport: Transport, url: str, headers: Mapping[str, str]) -> None:
        """Do the I/O; any exception is kept for the worker to classify."""
        try:
            self.answer = transport.send(url, self.body, headers, self.timeout)
        except BaseException as exc:
            self.error = exc
        self.done.set()


class Sender:
    """A daemon thread that runs ``send(exchange)`` for each submitted exchange, in order.

    Args:
        send: does the I/O for one exchange (must not raise).
        on_done: called after each exchange, to wake the worker.
    """

    def __init__(self, send: Callable[[Exchange], None], on_done: Callable[[], None]) -> None:
        self._send = send
        self._on_done = on_done
        self._cond = threading.Condition(threading.Lock())
        self._job: Exchange | None = None
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="amplitude_legacy-io", daemon=True)
        self._thread.start()

    def submit(self, exchange: Exchange) -> None:
        """Send ``exchange`` next (the previous one has completed)."""
        with self._cond:
            self._job = exchange
            self._cond.notify()

    def stop(self) -> None:
        """End the thread once it is idle (at shutdown)."""
        with self._cond:
            self._stopped = True
            self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                while self._job is None and not self._stopped:
                    self._cond.wait()
                if self._job is None:
                    return
                job, self._job = self._job, None
            self._send(job)
            self._on_done()
