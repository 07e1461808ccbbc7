"""Fault-injection steps for :meth:`Collector.script` and the standard bodies they answer with.

Each step is a small frozen value. The collector pops one step per incoming request (under its lock,
so concurrent connections never apply a step twice) and then goes back to normal behaviour.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, Dict, Mapping, Union

__all__ = [
    "AcceptThenDrop",
    "Delay",
    "Drop",
    "Reply",
    "Step",
    "describe_step",
    "rate_limit_body",
    "reason_phrase",
    "standard_body",
]

#: Error strings the real API uses where they differ from the HTTP reason phrase.
_AMPLITUDE_ERRORS: Dict[int, str] = {
    413: "Payload too large",
    429: "Too many requests for some devices and users",
}


@dataclass(frozen=True)
class Reply:
    """Answer one request with a fixed status and body instead of processing it.

    The request is recorded but its events are not ingested.

    Args:
        status: HTTP status to answer with.
        body: A ``dict`` is sent as JSON. ``None`` sends the standard body for ``status`` (see
            :func:`standard_body`). A ``str`` or ``bytes`` body is sent as-is with
            ``Content-Type: text/html``, like the nginx error pages the real API sometimes returns.
        headers: Extra response headers. A ``Content-Type`` here replaces the default one.
        delay: Seconds to wait before answering (on top of the collector's ``latency``).
    """

    status: int
    body: Union[Dict[str, Any], str, bytes, None] = None
    headers: Mapping[str, str] | None = None
    delay: float = 0.0


@dataclass(frozen=True)
class Drop:
    """Read one request, then close the connection without answering.

    Nothing is ingested. The client sees the connection closed by the peer, as when a proxy dies.

    Args:
        delay: Seconds to wait before closing.
    """

    delay: float = 0.0


@dataclass(frozen=True)
class AcceptThenDrop:
    """Process one request normally (events are ingested on success), then close without answering.

    This is "accepted, but the answer was lost": a client that retries sends the same events again,
    which is how tests check that retries reuse ``insert_id``.
    """


@dataclass(frozen=True)
class Delay:
    """Process one request normally, but answer only after ``seconds``.

    The events are ingested on arrival, as with a slow real server, so a client that times out and
    retries delivers them twice (with the same ``insert_id``).

    Args:
        seconds: Seconds to wait before answering (on top of the collector's ``latency``).
    """

    seconds: float


#: One scripted behaviour; see :meth:`Collector.script`.
Step = Union[Reply, Drop, AcceptThenDrop, Delay]
"""Any fault-script step accepted by ``Collector.script``."""


def standard_body(
    status: int, *, path: str = "/2/httpapi", eps_threshold: float | None = None
) -> dict[str, Any]:
    """Return the body the collector answers with for ``status`` when no body is given.

    Args:
        status: HTTP status.
        path: Request path; a 429 for ``/batch`` also carries the daily-quota maps, as the real
            batch endpoint does.
        eps_threshold: Threshold to report in a 429 body; defaults to the endpoint's documented
            value (30 for HTTP V2, 1000 for batch).

    Returns:
        A JSON-serialisable dict whose ``code`` equals ``status``: the success shape for 2xx, the
        real rate-limit shape (empty maps) for 429, and ``{"code", "error"}``
        otherwise.
    """
    if 200 <= status < 300:
        # A scripted success ingests nothing, but the shape must still be complete: the Java SDK
        # reads all three fields and throws when one is missing.
        return {
            "code": status,
            "events_ingested": 0,
            "payload_size_bytes": 0,
            "server_upload_time": int(time.time() * 1000),
        }
    if status == 429:
        return rate_limit_body(path, eps_threshold, {}, {}, [])
    return {"code": status, "error": _AMPLITUDE_ERRORS.get(status) or reason_phrase(status)}


def rate_limit_body(
    path: str,
    eps_threshold: float | None,
    throttled_devices: dict[str, int],
    throttled_users: dict[str, int],
    throttled_events: list[int],
) -> dict[str, Any]:
    """Build a 429 body in the real API's shape."""
    if eps_threshold is None:
        eps_threshold = 1000 if path == "/batch" else 30
    body: dict[str, Any] = {
        "code": 429,
        "error": _AMPLITUDE_ERRORS[429],
        # Report 30.0 as 30: the real API sends an integer and the Java SDK reads it with getInt.
        "eps_threshold": int(eps_threshold) if float(eps_threshold).is_integer() else eps_threshold,
        "throttled_devices": throttled_devices,
        "throttled_users": throttled_users,
        "throttled_events": throttled_events,
    }
    if path == "/batch":
        body["exceeded_daily_quota_users"] = {}
        body["exceeded_daily_quota_devices"] = {}
    return body


def reason_phrase(status: int) -> str:
    """Return the HTTP reason phrase for ``status`` ("Error" when unknown)."""
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def describe_step(step: Step) -> str:
    """Say in words what a script step will do to the request that takes it.

    Examples:
        >>> describe_step(Reply(503))
        'answer 503 with the standard body'
        >>> describe_step(Drop(delay=0.5))
        'close the connection without an answer after 0.5 s'
    """
    if isinstance(step, Reply):
        body = "the standard body" if step.body is None else "a custom body"
        if isinstance(step.body, (str, bytes)):
            body = "an HTML body"
        after = f" after {step.delay:g} s" if step.delay else ""
        return f"answer {step.status} with {body}{after}"
    if isinstance(step, Drop):
        after = f" after {step.delay:g} s" if step.delay else ""
        return f"close the connection without an answer{after}"
    if isinstance(step, AcceptThenDrop):
        return "process normally, then close the connection without an answer"
    return f"process normally, answer after {step.seconds:g} s"
