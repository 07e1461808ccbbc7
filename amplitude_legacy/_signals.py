"""``flushOnSignals``: deliver what is queued when the process is told to stop.

``docker stop``, Kubernetes and Cloud Run send SIGTERM and, after a grace period, SIGKILL.
Python's default SIGTERM action ends the process at once: atexit hooks do not run, so the
events still queued are lost. With ``flushOnSignals=["SIGTERM"]`` the client installs a handler
that shuts the client down (bounded by ``exitFlushTimeout``) and then hands the signal on to
whatever handler was installed before, or, when that was the default action, re-raises it
with the default action, so the process still ends with the signal's status (143 in a shell).

The shutdown runs on a helper thread that the handler joins with a deadline: a signal handler
runs on the main thread between two bytecodes, possibly while that thread holds one of the
client's locks, and waiting on that lock from the handler itself would never return.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from types import FrameType
from typing import Any, Callable, List, Sequence, Tuple, Union

__all__ = ["SignalFlusher", "parse_signals"]

log = logging.getLogger("amplitude_legacy")

SignalLike = Union[str, int, signal.Signals]
#: Past the flush bound: the time the handler lets the shutdown thread count what is left.
_GRACE = 0.5


def parse_signals(value: Sequence[SignalLike]) -> Tuple[signal.Signals, ...]:
    """Signal names (``"SIGTERM"``, ``"TERM"``) or numbers as ``signal.Signals``.

    Raises:
        ValueError: a name or number that is not a signal this platform can catch.
    """
    out = []
    for item in value:
        try:
            if isinstance(item, str):
                name = item.upper()
                sig = signal.Signals[name if name.startswith("SIG") else f"SIG{name}"]
            else:
                sig = signal.Signals(item)
        except (KeyError, ValueError):
            raise ValueError(f"{item!r} is not a signal name or number") from None
        if sig in (signal.SIGKILL, getattr(signal, "SIGSTOP", signal.SIGKILL)):
            raise ValueError(f"{sig.name} cannot be caught")
        out.append(sig)
    return tuple(out)


class SignalFlusher:
    """Installs the handlers for one client and removes them when the client shuts down.

    Args:
        shutdown: shuts the client down; called with the flush bound in seconds.
        bound: ``exitFlushTimeout``.
    """

    def __init__(self, shutdown: Callable[[float], Any], bound: float) -> None:
        self._shutdown = shutdown
        self._bound = bound
        self._previous: List[Tuple[signal.Signals, Any]] = []

    def install(self, signals: Sequence[signal.Signals]) -> None:
        """Install a handler for each signal (main thread only; elsewhere: a warning)."""
        if threading.current_thread() is not threading.main_thread():
            log.warning(
                "amplitude_legacy: flushOnSignals is ignored: init() ran off the main thread, "
                "and only the main thread can install signal handlers"
            )
            return
        for sig in signals:
            self._previous.append((sig, signal.signal(sig, self._handle)))

    def uninstall(self) -> None:
        """Put back the previous handlers, where ours is still the one installed."""
        if threading.current_thread() is not threading.main_thread():
            return  # handlers stay; they find the client shut down and pass the signal on
        previous, self._previous = self._previous, []
        for sig, handler in reversed(previous):
            if signal.getsignal(sig) == self._handle:
                signal.signal(sig, handler)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        worker = threading.Thread(
            target=self._shutdown, args=(self._bound,), name="amplitude_legacy-signal-flush"
        )
        try:
            worker.start()
            worker.join(self._bound + _GRACE)
        except RuntimeError:  # no new threads (interpreter shutting down): pass it on
            pass
        previous = dict(self._previous).get(signal.Signals(signum), signal.SIG_DFL)
        self.uninstall()
        if callable(previous):
            previous(signum, frame)
        elif previous == signal.SIG_DFL:
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            # Still here: the kernel ignores a default-action signal sent to PID 1 (a container
            # without an init). End the way a shell reports that signal.
            raise SystemExit(128 + signum)
        # SIG_IGN: the signal was ignored before us; it still is.
