"""gevent: a subprocess that runs ``monkey.patch_all()`` first, as gunicorn ``-k gevent`` does.

The parent (unpatched) runs the collector; the child patches, imports the SDK, logs, flushes
and exits. Every event must arrive exactly once and the child must finish within a bound (no
deadlock in flush, in waiting on futures, or in the atexit hook). The bound applies to what the
child does after its imports, up to the end of its exit hooks, so that a loaded machine (slow
imports) cannot fail the test; a hang still fails it, through the subprocess timeout.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
from collections import Counter
from pathlib import Path
from typing import Tuple

import gevent  # noqa: F401  # in the test extra: missing means a broken install, loudly
import pytest

from amplitude_legacy.testing import Collector

pytestmark = pytest.mark.timeout(15)

#: From the end of the imports to the end of the exit hooks, the child must take less than
#: this (it takes 15-30 ms; 0.5 s more where the test waits for exitFlushTimeout).
WORK_BOUND = 1.5
#: A child still running after this many seconds is hung: the test fails with its output.
HANG_TIMEOUT = 10
ROOT = Path(__file__).resolve().parents[2]

PRELUDE = """
from gevent import monkey

monkey.patch_all()  # first, before anything imports socket or threading

import atexit
import sys
import time

import gevent
import amplitude_legacy as Amplitude

assert monkey.is_module_patched("socket") and monkey.is_module_patched("threading")
_started = time.monotonic()
# Registered before any client: atexit runs hooks last-in first-out, so this one runs after
# the client's exit flush and measures it too.
atexit.register(lambda: print("work-seconds %.3f" % (time.monotonic() - _started), file=sys.stderr))
client = Amplitude.init("TEST_API_KEY", server_url=sys.argv[1], exit_flush_timeout=2)


def event(n, user=None):
    user = user or "user-%05d" % n
    return {"event_type": "gevent", "user_id": user, "event_properties": {"n": n}}
"""


def run_child(body: str, collector: Collector) -> subprocess.CompletedProcess[str]:
    """Run PRELUDE + ``body`` in a fresh interpreter; fail when its work overruns the bound."""
    script = PRELUDE + textwrap.dedent(body)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", script, collector.http_api_url],
        capture_output=True,
        text=True,
        timeout=HANG_TIMEOUT,  # a hang fails here instead of blocking the suite
        env=env,
    )
    assert done.returncode == 0, done.stderr
    work = re.search(r"^work-seconds ([0-9.]+)$", done.stderr, re.M)
    assert work is not None, done.stderr
    assert float(work.group(1)) < WORK_BOUND, f"the patched child worked {work.group(1)} s"
    return done


def test_patched_process_flushes_and_exits(collector: Collector) -> None:
    """200 events + flush, then 50 left to the atexit hook: all 250 arrive once, exit 0."""
    done = run_child(
        """
        futures = [client.logEvent(event(n)) for n in range(200)]
        result = client.flush(5)
        assert result.pending == 0 and not result.timed_out, result
        assert {f.result(0).status for f in futures} == {"success"}
        for n in range(200, 250):
            client.logEvent(event(n))
        print("logged, exiting without flush")
        """,
        collector,
    )
    assert "exiting without flush" in done.stdout
    events = collector.wait_for_events(250, timeout=1)
    assert Counter(e["event_properties"]["n"] for e in events) == Counter(range(250))
    assert collector.duplicates() == []


def test_greenlets_log_concurrently(collector: Collector) -> None:
    """10 greenlets log 40 events each, yielding between calls and waiting on their futures."""
    run_child(
        """
        def greenlet(g):
            futures = []
            for j in range(40):
                futures.append(client.logEvent(event(g * 100 + j, user="green-%02d-%02d" % (g, j))))
                gevent.sleep(0)  # let the other greenlets (and the worker) run
            return [f.result(5).status for f in futures]  # a cooperative wait

        greenlets = [gevent.spawn(greenlet, g) for g in range(10)]
        gevent.joinall(greenlets, timeout=5, raise_error=True)
        assert all(g.successful() for g in greenlets)
        assert [s for g in greenlets for s in g.value] == ["success"] * 400
        client.shutdown(2)
        """,
        collector,
    )
    events = collector.wait_for_events(400, timeout=1)
    assert len(events) == 400 and collector.duplicates() == []
    assert {e["user_id"] for e in events} == {
        f"green-{g:02d}-{j:02d}" for g in range(10) for j in range(40)
    }


def test_patched_exit_with_server_down_is_bounded(collector: Collector) -> None:
    """With the collector down, the atexit flush gives up after exitFlushTimeout and says so."""
    collector.set_down(True)
    done = run_child(
        """
        client = Amplitude.init(
            "TEST_API_KEY", server_url=sys.argv[1], exit_flush_timeout=0.5, retry_timeouts=[50] * 50
        )
        for n in range(5):
            client.logEvent(event(n))
        """,
        collector,
    )
    assert "exiting with 5 event(s) not delivered" in done.stderr


PRELOAD = """
import faulthandler
import os
import sys

import amplitude_legacy as Amplitude

# gunicorn --preload: the master imports the app (and creates the client) unpatched ...
client = Amplitude.init("TEST_API_KEY", server_url=sys.argv[1], exit_flush_timeout=2)
pid = os.fork()
if pid == 0:
    # ... and GeventWorker.init_process() patches in each forked worker.
    from gevent import monkey

    monkey.patch_all()
    import gevent

    faulthandler.dump_traceback_later(1.5, exit=True)  # a deadlock exits 1 with a traceback

    def greenlet(g):
        futures = [
            client.logEvent({"event_type": "preload", "user_id": "user-%02d-%02d" % (g, j)})
            for j in range(20)
        ]
        return [f.result(1).status for f in futures]

    greenlets = [gevent.spawn(greenlet, g) for g in range(5)]
    gevent.joinall(greenlets, raise_error=True)
    assert [s for g in greenlets for s in g.value] == ["success"] * 100
    sys.exit(0)
_, status = os.waitpid(pid, 0)
sys.exit(os.waitstatus_to_exitcode(status))
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_client_created_before_patching_in_a_forked_worker(collector: Collector) -> None:
    """gunicorn ``--preload -k gevent``: client made unpatched; a forked child patches and logs."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONWARNINGS": "ignore"}
    done = subprocess.run(
        [sys.executable, "-c", PRELOAD, collector.http_api_url],
        capture_output=True,
        text=True,
        timeout=HANG_TIMEOUT,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    assert len(collector.wait_for_events(100, timeout=1)) == 100


#: A client with ``flushOnSignals``, 50 events queued (the upload interval is a minute).
SIGTERM_CLIENT = """
client = Amplitude.init(
    "TEST_API_KEY", server_url=sys.argv[1], upload_interval_in_sec=60,
    flush_on_signals=["SIGTERM"], exit_flush_timeout=5,
)
for n in range(50):
    client.logEvent(event(n))
"""


def terminated(collector: Collector, body: str) -> Tuple[str, str]:
    """Run PRELUDE, SIGTERM_CLIENT and ``body`` (which prints "ready" and then waits) in a
    child; send it SIGTERM once ready. It must die of the signal within HANG_TIMEOUT (a
    handler left pending fails with TimeoutExpired). Its output and error output."""
    script = PRELUDE + SIGTERM_CLIENT + textwrap.dedent(body)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    child = subprocess.Popen(
        [sys.executable, "-c", script, collector.http_api_url],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "ready", child.communicate(timeout=HANG_TIMEOUT)
        child.send_signal(signal.SIGTERM)
        out, err = child.communicate(timeout=HANG_TIMEOUT)
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate()
    assert child.returncode == -signal.SIGTERM, (child.returncode, err)
    return out, err


def test_patched_process_flushes_on_sigterm_and_dies_of_it(collector: Collector) -> None:
    """flushOnSignals under gevent: the handler runs in the hub while the main greenlet
    sleeps, where a blocking wait raises ``BlockingSwitchOutError``; the flush then runs in a
    greenlet of its own. All 50 events arrive and the process ends with SIGTERM's status."""
    out, err = terminated(
        collector,
        f"""
        print("ready", flush=True)
        gevent.sleep({HANG_TIMEOUT})  # the main greenlet waits in the hub
        print("not stopped", flush=True)
        """,
    )
    assert "BlockingSwitchOutError" not in err and "not stopped" not in out
    events = collector.wait_for_events(50, timeout=1)
    assert Counter(e["event_properties"]["n"] for e in events) == Counter(range(50))


def test_a_signal_that_does_not_wake_the_hub_is_still_handled_soon(collector: Collector) -> None:
    """gevent runs Python's signal handlers after each poll of its loop. A signal that does
    not interrupt that poll (here: SIGTERM blocked on the main thread, so the kernel gives it
    to another OS thread; in the wild, one that lands between the check and the next poll)
    would wait for whatever wakes the loop next: here the main greenlet's 30 s sleep. The
    client wakes the hub a few times a second while its handlers are installed, so the flush
    still runs at once and the process ends of SIGTERM long before the sleep is over."""
    longer = 3 * HANG_TIMEOUT  # past the test's timeout
    terminated(
        collector,
        f"""
        import signal as signal_module
        from gevent import monkey as gevent_monkey

        real_sleep = gevent_monkey.get_original("time", "sleep")
        start_os_thread = gevent_monkey.get_original("_thread", "start_new_thread")

        def receiver():  # a real OS thread, the only one that takes SIGTERM
            signal_module.pthread_sigmask(signal_module.SIG_UNBLOCK, {{signal_module.SIGTERM}})
            print("ready", flush=True)
            real_sleep({longer})

        signal_module.pthread_sigmask(signal_module.SIG_BLOCK, {{signal_module.SIGTERM}})
        start_os_thread(receiver, ())
        gevent.sleep({longer})  # the main greenlet waits in the hub
        """,
    )
    assert len(collector.wait_for_events(50, timeout=1)) == 50
