"""Code the Spark tests run on executors (pickled by value: see ``conftest.py``).

Middleware here are ordinary ``(payload, next)`` functions, as a user would write them.
"""

from __future__ import annotations

import os
import time
from typing import Callable

from amplitude_legacy import MiddlewareNext, MiddlewarePayload

#: Keep Spark tests quick: four short retries (ms).
FAST = {"retryTimeouts": [50, 50, 100, 100]}


def skip_health_checks(payload: MiddlewarePayload, next: MiddlewareNext) -> None:
    """Stop ``Health Check`` events (their outcome: skipped / middleware_stopped)."""
    if payload.event.event_type != "Health Check":
        next(payload)


def explode_on_request(payload: MiddlewarePayload, next: MiddlewareNext) -> None:
    """Raise for ``Explode`` events (their outcome: failed / middleware_error)."""
    if payload.event.event_type == "Explode":
        raise RuntimeError("enrichment service down")
    next(payload)


SCRUB_MODULE = '''
def scrub_email(payload, next):
    """Remove the email property (PII) before the event leaves."""
    props = payload.event.event_properties
    if isinstance(props, dict):
        props.pop("email", None)
    next(payload)
'''


def crash_once_before(event_type: str, marker: str, timeout: float) -> Callable[..., None]:
    """A middleware that kills its Python worker once, after the events before it were sent.

    On the first attempt of a task, when ``event_type`` comes through it waits until ``marker``
    exists (the test's collector creates it once the earlier events arrived), then ends the
    process at once, as an OOM kill or a preempted executor would. Spark runs the task again.
    """

    def middleware(payload: MiddlewarePayload, next: MiddlewareNext) -> None:
        from pyspark import TaskContext

        context = TaskContext.get()
        if payload.event.event_type == event_type and context and context.attemptNumber() == 0:
            deadline = time.monotonic() + timeout
            while not os.path.exists(marker):
                if time.monotonic() > deadline:
                    raise TimeoutError(f"the earlier events never arrived ({marker})")
                time.sleep(0.02)
            os._exit(1)
        next(payload)

    return middleware


#: An error text that JSON and two encodings must carry: a line break, quotes, non-ASCII, an
#: emoji (a surrogate pair in the JVM) and a lone surrogate (which no UTF-8 can hold).
AWKWARD_TEXT = 'line\nbreak "quoted" caf\u00e9 \u2615 \U0001f600 lone \ud800'


def fail_awkwardly(payload: MiddlewarePayload, next: MiddlewareNext) -> None:
    """Raise ``AWKWARD_TEXT`` for ``Fail`` events (their outcome: failed / middleware_error)."""
    if payload.event.event_type == "Fail":
        raise ValueError(AWKWARD_TEXT)
    next(payload)
