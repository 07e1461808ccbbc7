"""The I/O threads: up to ``maxConcurrentRequests`` requests on the wire at once.

The worker hands each batch to ``Sender.submit``; an idle I/O thread runs the job (build the
body, POST it, classify the answer) and hands the answer back to the ledger, which wakes the
worker to apply it. Threads start on demand, up to the limit, and stay for the client's life:
a burst pays for a thread once, and a client that never overlaps requests has one.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Callable, Deque, Generic, TypeVar

__all__ = ["Sender"]

J = TypeVar("J")


class Sender(Generic[J]):
    """A small pool of daemon threads that each run ``run(job)`` for the next job.

    Args:
        run: does one job; must not raise.
        size: the most threads (requests at once).
    """

    def __init__(self, run: Callable[[J], None], size: int) -> None:
        self._run = run
        self._size = size
        self._cond = threading.Condition(threading.Lock())
        self._jobs: Deque[J] = deque()
        self._threads = 0
        self._idle = 0
        self._stopped = False

    def start(self) -> bool:
        """Start the first thread now (Python 3.12+ refuses new threads at interpreter exit,
        when the atexit flush may be the first send). ``False`` when no thread can start."""
        with self._cond:
            self._threads += 1
        return self._spawn()

    def submit(self, job: J) -> bool:
        """Queue ``job`` for the next idle thread (starting one if all are busy).

        Returns:
            ``False`` when there is no thread at all to run it: the caller runs it itself.
        """
        with self._cond:
            self._jobs.append(job)
            grow = self._idle < len(self._jobs) and self._threads < self._size
            if grow:
                self._threads += 1
            self._cond.notify()
        if grow:
            self._spawn()  # outside the lock: under gevent, Thread.start() switches greenlets
        with self._cond:
            if self._threads == 0 and job in self._jobs:
                self._jobs.remove(job)
                return False
        return True

    def stop(self) -> None:
        """End the threads once the queued jobs are done (at shutdown)."""
        with self._cond:
            self._stopped = True
            self._cond.notify_all()

    def _spawn(self) -> bool:
        thread = threading.Thread(target=self._loop, name="amplitude_legacy-io", daemon=True)
        try:
            thread.start()
        except RuntimeError:  # no new threads (interpreter exiting): fewer threads, or none
            with self._cond:
                self._threads -= 1
            return False
        return True

    def _loop(self) -> None:
        cond = self._cond
        while True:
            with cond:
                self._idle += 1
                while not self._jobs and not self._stopped:
                    cond.wait()
                self._idle -= 1
                if not self._jobs:
                    self._threads -= 1
                    return
                job = self._jobs.popleft()
            self._run(job)
