"""Tests of ``amplitude_legacy.middleware``: shared helpers."""

from __future__ import annotations

from typing import Any, Dict, Mapping

from amplitude_legacy import Event
from amplitude_legacy._middleware import Middleware, Stop, run_chain

#: A salt for hashing tests (any non-empty bytes or str works).
SALT = b"test-salt-0123456789"


def run(
    middleware: Middleware, event: Mapping[str, Any], extra: Dict[str, Any] | None = None
) -> Any:
    """Run one middleware alone, as the client does: the event out, or the ``Stop``."""
    return run_chain((middleware,), Event(event), extra)


def reason_of(outcome: Any) -> str | None:
    """The drop reason of a ``run`` outcome, ``None`` when the event went through."""
    return outcome.reason if isinstance(outcome, Stop) else None
