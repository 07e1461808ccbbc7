"""A local Amplitude-compatible collector for tests, examples and offline use.

:class:`Collector` is a real loopback HTTP server that serves ``POST /2/httpapi`` and
``POST /batch`` the way Amplitude's ingestion API does (validation, exact error bodies, limits,
optional rate limiting), records what it accepted, and takes per-test fault scripts
(:class:`Reply`, :class:`Drop`, :class:`AcceptThenDrop`, :class:`Delay`).

In pytest, the ``amplitude_collector`` fixture yields a started collector. From a shell,
``python -m amplitude_legacy.testing`` runs one.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, Dict, List

if TYPE_CHECKING:
    from amplitude_legacy.testing._collector import CapturedRequest, Collector
    from amplitude_legacy.testing._script import AcceptThenDrop, Delay, Drop, Reply, Step
    from amplitude_legacy.testing._target import Target, target_from_env

__all__ = [
    "AcceptThenDrop",
    "CapturedRequest",
    "Collector",
    "Delay",
    "Drop",
    "Reply",
    "Step",
    "Target",
    "target_from_env",
]

# Resolved on first access (PEP 562): the pytest plugin lives in this package and is imported by
# every pytest run, which should not pay for http.server and friends unless a test uses them.
_HOMES: Dict[str, str] = {
    "AcceptThenDrop": "amplitude_legacy.testing._script",
    "CapturedRequest": "amplitude_legacy.testing._collector",
    "Collector": "amplitude_legacy.testing._collector",
    "Delay": "amplitude_legacy.testing._script",
    "Drop": "amplitude_legacy.testing._script",
    "Reply": "amplitude_legacy.testing._script",
    "Step": "amplitude_legacy.testing._script",
    "Target": "amplitude_legacy.testing._target",
    "target_from_env": "amplitude_legacy.testing._target",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> List[str]:
    return sorted(set(globals()) | set(__all__))
