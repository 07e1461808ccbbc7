"""Shared fixtures: a bundled collector per test and clients that are always shut down."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any, Callable, Iterator, List

import pytest

from amplitude_legacy import NodeClient
from amplitude_legacy.testing import Collector

#: A short retry schedule (ms) so failure tests finish fast; tests that need another pass one.
FAST_RETRIES = [10, 10, 20, 20, 40]

API_KEY = "TEST_API_KEY_0123456789abcdef"

#: The checkout's root: on the path of the Pythons that ``run_python`` starts.
ROOT = Path(__file__).resolve().parents[1]

MakeClient = Callable[..., NodeClient]

#: Every JVM the tests start (local Spark, in this process and in the Spark example's) stops at
#: the C1 compiler: the runs are short, and C2's compile threads cost more CPU than they save
#: (the Spark tests took 62-65 s with the flag against 75-77 s without, on 2 cores). The benchmark
#: keeps the JVM's defaults.
_JVM_FLAG = "-XX:TieredStopAtLevel=1"


def pytest_configure(config: pytest.Config) -> None:
    """Add ``_JVM_FLAG`` to ``JDK_JAVA_OPTIONS`` (kept if already there) before any JVM starts."""
    current = os.environ.get("JDK_JAVA_OPTIONS", "")
    if _JVM_FLAG not in current.split():
        os.environ["JDK_JAVA_OPTIONS"] = f"{current} {_JVM_FLAG}".strip()


def pytest_addoption(parser: pytest.Parser) -> None:
    """``--max-concurrent-requests N``: the default for every client the tests build."""
    parser.addoption(
        "--max-concurrent-requests",
        type=int,
        default=None,
        help="run the suite with this maxConcurrentRequests default (e.g. 1: one at a time)",
    )


@pytest.fixture(autouse=True, scope="session")
def _max_concurrent_requests(request: pytest.FixtureRequest) -> Iterator[None]:
    """Apply ``--max-concurrent-requests`` to clients that do not set it themselves."""
    value = request.config.getoption("--max-concurrent-requests")
    if value is None:
        yield
        return
    from amplitude_legacy import _client

    resolve = _client.resolve_options

    def with_default(options: Any = None, **kwargs: Any) -> Any:
        given = kwargs.keys() | (options.keys() if isinstance(options, dict) else set())
        if not given & {"max_concurrent_requests", "maxConcurrentRequests"}:
            kwargs["max_concurrent_requests"] = value
        return resolve(options, **kwargs)

    _client.resolve_options = with_default  # type: ignore[assignment]
    try:
        yield
    finally:
        _client.resolve_options = resolve


@pytest.fixture
def collector(amplitude_collector: Collector) -> Collector:
    """The bundled collector (the package's own pytest fixture)."""
    return amplitude_collector


@pytest.fixture
def make_client(collector: Collector) -> Iterator[MakeClient]:
    """Build clients aimed at the collector with a fast retry schedule; shut down after."""
    clients: List[NodeClient] = []

    def make(options: Any = None, **kwargs: Any) -> NodeClient:
        if options is None:
            kwargs.setdefault("server_url", collector.http_api_url)
            kwargs.setdefault("retry_timeouts", FAST_RETRIES)
        client = NodeClient(kwargs.pop("api_key", API_KEY), options, **kwargs)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.shutdown(2)


#: Runs first in ``run_without_sdk_fork_hooks``' Python: the SDK's ``os.register_at_fork``
#: calls are skipped (and listed in ``SKIPPED_HOOKS``); every other module registers its own.
_SKIP_SDK_FORK_HOOKS = """
import os, sys
_register_at_fork = os.register_at_fork
SKIPPED_HOOKS = []

def _register_unless_sdk(**hooks):
    caller = sys._getframe(1).f_globals.get("__name__", "")
    if caller.split(".")[0] == "amplitude_legacy":
        SKIPPED_HOOKS.append(caller)
    else:
        _register_at_fork(**hooks)

os.register_at_fork = _register_unless_sdk
"""


def run_python(
    code: str, *args: str, stdin: str | None = None, timeout: float = 20
) -> subprocess.CompletedProcess[str]:
    """Run ``code`` (dedented) in a new Python with this checkout on its path, ``args`` as its
    ``sys.argv[1:]`` and ``stdin`` as its input; its output is captured. A hang fails at
    ``timeout`` seconds."""
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        input=stdin,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=timeout,
        check=False,
    )


def run_without_sdk_fork_hooks(script: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``script`` (with ``args`` as ``sys.argv[1:]``) in a new Python in which the SDK's
    fork hooks are never registered, as a server that forks from C runs none (uWSGI without
    lazy-apps): the SDK's own backstop must notice the new pid.

    A real fork from C (``ctypes``) cannot be tested reliably: it skips the interpreter's own
    reinit as well, so a child forked while another thread waited for the GIL inherits the
    GIL's condition variable with waiters it does not have, and blocks for ever on its first
    switch (seen under load, in CI). ``os.fork`` reinitialises the interpreter and runs the
    standard library's hooks; only the SDK's are missing. A hang fails at 45 s, before the
    suite's 60 s per-test timeout.
    """
    return run_python(_SKIP_SDK_FORK_HOOKS + textwrap.dedent(script), *args, timeout=45)


def wait_for_child(pid: int, timeout: float = 30.0) -> int:
    """The exit code of the forked child ``pid``, or, when it has not ended within ``timeout``
    seconds (stuck on a lock the fork copied held), an ``AssertionError`` once it is killed."""
    deadline = time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            raise AssertionError(f"the forked child did not end within {timeout} s")
        time.sleep(0.01)
