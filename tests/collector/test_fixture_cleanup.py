"""The ``amplitude_collector`` fixture leaves no client behind that would stall anything."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

LEAKY_TESTS = """
import time
import amplitude_legacy as Amplitude

def test_leaks_a_client_with_work_pending(amplitude_collector):
    client = Amplitude.init("KEY", server_url=amplitude_collector.http_api_url,
                            upload_interval_in_sec=60, exit_flush_timeout=5)
    client.logEvent({"event_type": "Left Behind", "user_id": "user-0001"})

def test_leaks_an_independent_client(amplitude_collector):
    client = Amplitude.createInstance("KEY", server_url=amplitude_collector.http_api_url,
                                      upload_interval_in_sec=60, exit_flush_timeout=5)
    client.logEvent({"event_type": "Left Behind Too", "user_id": "user-0001"})

def test_the_next_init_does_not_wait(amplitude_collector):
    started = time.monotonic()
    client = Amplitude.init("KEY", server_url=amplitude_collector.http_api_url)
    assert time.monotonic() - started < 1.0
    client.shutdown(1)
"""


def test_a_leaked_client_stalls_neither_the_next_test_nor_the_exit(tmp_path: Path) -> None:
    """Pending work toward a collector that is gone: no 5-second waits, at init or at exit."""
    (tmp_path / "test_leaky.py").write_text(textwrap.dedent(LEAKY_TESTS))
    started = time.monotonic()
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert time.monotonic() - started < 4.5, run.stdout  # was ~10 s: 5 s waits
