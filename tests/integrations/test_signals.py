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
    import faulthandler, signal, sys, time
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
        "exitFlushTimeout": 10,
    })
    for n in range(50):
        client.logEvent({"event_type": "Queued", "user_id": f"user-{n:05d}"})
    print("ready", flush=True)
    time.sleep(60)
    print("not stopped", flush=True)
    """
)


def _run_child(collector: Collector, mode: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AMPLITUDE_")}
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, collector.http_api_url, mode],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "ready", child.stderr.read() if child.stderr else ""
    assert collector.events == []
    child.send_signal(signal.SIGTERM)
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
