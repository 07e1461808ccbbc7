"""flushOnSignals in a real child process: SIGTERM delivers what is queued, then ends it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

from amplitude_legacy.testing import Collector

CHILD = textwrap.dedent(
    """
    import faulthandler, os, signal, sys, time
    import amplitude_legacy as Amplitude

    # A stuck signal path ends the child with every thread's stack on stderr, which the
    # test's assertion shows, instead of the test's own timeout with nothing to read.
    faulthandler.dump_traceback_later(25, exit=True)

    if sys.argv[2] == "previous-handler":
        def previous(signum, frame):  # what a server's own SIGTERM handler would do
            print("previous handler ran", flush=True)
            sys.exit(0)
        signal.signal(signal.SIGTERM, previous)

    client = Amplitude.init("TEST_API_KEY_0123456789abcdef", {
        "serverUrl": sys.argv[1],
        "uploadIntervalInSec": 60,      # nothing leaves before the signal
        "flushOnSignals": ["SIGTERM"],
        # Holding threading's lock, threads cannot end either: the handler waits out the bound.
        "exitFlushTimeout": 2 if sys.argv[2] == "holding-threading-lock" else 10,
    })
    if sys.argv[2] == "forked-child":
        pid = os.fork()
        if pid:  # the parent logs nothing and reports how its child ended
            _, status = os.waitpid(pid, 0)
            print(f"child exit {os.waitstatus_to_exitcode(status)}", flush=True)
            sys.exit(0)
    for n in range(50):
        client.logEvent({"event_type": "Queued", "user_id": f"user-{n:05d}"})
    import threading
    # The thread that flushes on the signal (the fork's own, started by its first event).
    assert "amplitude_legacy-signal-flush" in {t.name for t in threading.enumerate()}
    if sys.argv[2] == "holding-threading-lock":
        # Where a threaded server's main thread is for a moment with every connection:
        # inside Thread.start(), holding the lock of threading's registry of threads.
        with threading._active_limbo_lock:
            print(f"ready {os.getpid()}", flush=True)
            time.sleep(60)
    print(f"ready {os.getpid()}", flush=True)
    time.sleep(60)
    print("not stopped", flush=True)
    """
)


def _run_child(collector: Collector, mode: str) -> subprocess.Popen[str]:
    """Start the child, wait until the process that logged is ready, and SIGTERM that one."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AMPLITUDE_")}
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, collector.http_api_url, mode],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    ready, _, pid = child.stdout.readline().strip().partition(" ")
    assert ready == "ready", child.stderr.read() if child.stderr else ""
    assert collector.events == []
    os.kill(int(pid), signal.SIGTERM)
    return child


def test_sigterm_delivers_the_queue_and_ends_with_the_signal(collector: Collector) -> None:
    """All 50 queued events arrive, and the child dies of SIGTERM (143 in a shell)."""
    child = _run_child(collector, "default")
    out, err = child.communicate(timeout=30)
    assert child.returncode == -signal.SIGTERM, (child.returncode, out, err)
    assert len(collector.events) == 50 and collector.duplicates() == []
    assert "not stopped" not in out


def test_sigterm_goes_on_to_the_previous_handler(collector: Collector) -> None:
    """With a handler installed before init, it runs after the flush (never swallowed)."""
    child = _run_child(collector, "previous-handler")
    out, err = child.communicate(timeout=30)
    assert child.returncode == 0, (out, err)
    assert "previous handler ran" in out and "not stopped" not in out
    assert len(collector.events) == 50


def test_sigterm_flushes_while_the_main_thread_holds_threadings_lock(
    collector: Collector,
) -> None:
    """SIGTERM while the main thread is inside ``Thread.start()`` (holding the lock of
    threading's registry) still delivers the queue: the flush runs on a thread started with
    the handler, not by it. A thread started by the handler could not run until that lock was
    free, and the handler's deadline (2.5 s here) would pass with nothing sent. (Threads cannot
    end while that lock is held either, so the handler still waits out its deadline.)"""
    child = _run_child(collector, "holding-threading-lock")
    out, err = child.communicate(timeout=30)
    assert child.returncode == -signal.SIGTERM, (child.returncode, out, err)
    assert len(collector.events) == 50 and collector.duplicates() == []


def test_sigterm_in_a_forked_child_delivers_the_childs_queue(collector: Collector) -> None:
    """A client made before ``fork()`` (gunicorn's preload): the child that logged flushes its
    own queue on SIGTERM, with a helper thread of its own, and ends with the signal."""
    child = _run_child(collector, "forked-child")
    out, err = child.communicate(timeout=30)
    assert child.returncode == 0, (out, err)
    assert f"child exit {-signal.SIGTERM}" in out, (out, err)
    assert len(collector.events) == 50 and collector.duplicates() == []
