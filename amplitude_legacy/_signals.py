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

That helper is started with the handlers, not by them. A thread started from a handler cannot
run while the interrupted main thread holds ``threading``'s own registry lock (inside
``Thread.start()``, ``threading.enumerate()``...: a threaded server on the main thread starts
one per connection), so the flush would never begin and the queue would be lost when the
handler's deadline passed. The handler only sets an event that the waiting helper reads. A
handler that finds no live helper (a fork that ran no Python fork hook, a client already
shutting down) starts one as before.

Under gevent's monkey patching, Python handlers run only when gevent's loop wakes; while the
handlers are installed a timer wakes it five times a second, so a signal that did not wake
the loop itself still gets its flush (``_wake_gevent_hub_often``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
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

    Threads: ``install``, ``uninstall``, ``start_helper`` and ``after_fork_in_child`` run on
    the client's own paths (init, the first event, shutdown, the fork hook); the handler runs
    on the main thread between two bytecodes of anything. The rule for ``_wake``: the handler
    sets it at most once, and only while ``_closed`` and ``_signalled`` are false, setting
    ``_signalled`` first; ``uninstall`` sets ``_closed`` before it. So when the handler takes
    ``_wake``'s lock, the main thread cannot already hold it (it would be inside one of those
    two calls, after its flag). The helper thread only waits on ``_wake`` and reads
    ``_signalled``.

    Args:
        shutdown: shuts the client down; called with the flush bound in seconds.
        bound: ``exitFlushTimeout``.
    """

    def __init__(self, shutdown: Callable[[float], Any], bound: float) -> None:
        self._shutdown = shutdown
        self._bound = bound
        self._previous: List[Tuple[signal.Signals, Any]] = []
        self._wake = threading.Event()
        self._signalled = False
        self._closed = False
        self._installed = False
        self._helper: threading.Thread | None = None
        self._hub_timer: Any = None

    def install(self, signals: Sequence[signal.Signals]) -> None:
        """Install a handler for each signal (main thread only; elsewhere: a warning)."""
        if threading.current_thread() is not threading.main_thread():
            log.warning(
                "amplitude_legacy: flushOnSignals is ignored: init() ran off the main thread, "
                "and only the main thread can install signal handlers"
            )
            return
        self._installed = True
        self.start_helper()
        for sig in signals:
            self._previous.append((sig, signal.signal(sig, self._handle)))
        self._hub_timer = _wake_gevent_hub_often()

    def start_helper(self) -> None:
        """Start the thread that shuts the client down on a signal, unless one is waiting
        (or there are no handlers, or the client is shutting down)."""
        if not self._installed or self._closed:
            return
        if self._helper is not None and self._helper.is_alive():
            return
        self._helper = _start_thread(self._wait_for_signal)

    def after_fork_in_child(self) -> None:
        """In a forked child: the helper did not survive the fork, and the parent's thread may
        have held ``_wake``'s lock at that moment. The next ``start_helper`` starts the child's."""
        self._wake = threading.Event()
        self._signalled = False
        self._helper = None

    def uninstall(self) -> None:
        """End the helper, and put back the previous handlers where ours is still installed."""
        if not self._closed:  # (a handler that runs inside this set() finds it closed)
            self._closed = True  # first: from here on a handler leaves _wake alone
            self._wake.set()
            helper = self._helper
            if helper is not None and helper is not threading.current_thread():
                helper.join(_GRACE)  # it only reads a flag now; no thread is left behind
        timer, self._hub_timer = self._hub_timer, None
        if timer is not None:
            timer.close()  # monkey-patched: every "thread" is a greenlet of the hub's thread
        self._restore_handlers()

    def _restore_handlers(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return  # handlers stay; they find the client shut down and pass the signal on
        previous, self._previous = self._previous, []
        for sig, handler in reversed(previous):
            if signal.getsignal(sig) == self._handle:
                signal.signal(sig, handler)

    def _wait_for_signal(self) -> None:
        self._wake.wait()
        if self._signalled:
            self._shutdown(self._bound)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        spawn = _hub_spawn()
        if spawn is not None:  # gevent runs handlers in its hub, where nothing may block
            spawn(self._flush_and_pass_on, signum, frame)
        else:
            self._flush_and_pass_on(signum, frame)

    def _flush_and_pass_on(self, signum: int, frame: FrameType | None) -> None:
        helper = self._helper
        if not self._closed and helper is not None and helper.is_alive():
            if not self._signalled:  # a second signal during the first one's set() waits only
                self._signalled = True
                self._wake.set()
            helper.join(self._bound + _GRACE)
        else:
            with contextlib.suppress(RuntimeError):  # no new threads (interpreter exiting)
                _start_thread(lambda: self._shutdown(self._bound)).join(self._bound + _GRACE)
        previous = dict(self._previous).get(signal.Signals(signum), signal.SIG_DFL)
        self._closed = True  # the helper is done (or stuck past the bound): nothing to wake
        self._restore_handlers()
        if callable(previous):
            previous(signum, frame)
        elif previous == signal.SIG_DFL:
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            # Still here: the kernel ignores a default-action signal sent to PID 1 (a container
            # without an init). End the way a shell reports that signal.
            raise SystemExit(128 + signum)
        # SIG_IGN: the signal was ignored before us; it still is.


def _start_thread(target: Callable[[], Any]) -> threading.Thread:
    # A daemon: a process that ends without a signal does not wait for it (and a daemon's
    # join takes no lock of threading's own).
    thread = threading.Thread(target=target, name="amplitude_legacy-signal-flush", daemon=True)
    thread.start()
    return thread


#: How often gevent's hub wakes while handlers are installed (see _wake_gevent_hub_often).
_HUB_WAKE_INTERVAL = 0.2


def _wake_gevent_hub_often() -> Any:
    """Under gevent's monkey patching, a timer that wakes gevent's hub a few times a second
    (``None`` otherwise); ``close()`` it when the handlers go.

    gevent runs Python's signal handlers right after each poll of its loop. A signal that
    does not interrupt that poll (it came just before it, or another OS thread took it)
    leaves the handler pending until something else wakes the loop: a process waiting in
    the hub (``gevent.sleep``, an idle server) could be killed after its grace period with
    the flush never started. The timer does nothing; waking the loop is enough. It does not
    keep the loop alive (``ref=False``).
    """
    monkey: Any = sys.modules.get("gevent.monkey")
    if monkey is None or not monkey.is_module_patched("threading"):
        return None
    timer = (
        sys.modules["gevent"]
        .get_hub()
        .loop.timer(_HUB_WAKE_INTERVAL, _HUB_WAKE_INTERVAL, ref=False)
    )
    timer.start(_nothing)
    return timer


def _nothing() -> None:
    """The hub timer's callback: the wake-up is the point."""


def _hub_spawn() -> Callable[..., Any] | None:
    """``gevent.spawn`` when this runs in gevent's hub (a monkey-patched process whose main
    greenlet was waiting: a blocking call there raises ``BlockingSwitchOutError``); else None."""
    gevent: Any = sys.modules.get("gevent")
    hub = getattr(getattr(gevent, "hub", None), "Hub", None)
    if hub is None or not isinstance(gevent.getcurrent(), hub):
        return None
    return gevent.spawn  # type: ignore[no-any-return]
