"""Shared fixtures: a bundled collector per test and clients that are always shut down."""

from __future__ import annotations

import ctypes
import os
import signal
import time
from typing import Any, Callable, Iterator, List

import pytest

from amplitude_legacy import NodeClient
from amplitude_legacy.testing import Collector

#: A short retry schedule (ms) so failure tests finish fast; tests that need another pass one.
FAST_RETRIES = [10, 10, 20, 20, 40]

API_KEY = "TEST_API_KEY_0123456789abcdef"

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


def c_level_fork() -> int:
    """``fork()`` straight from libc, as some servers do (uWSGI without lazy-apps): Python's
    ``register_at_fork`` hooks do not run.

    Called through ``ctypes.PyDLL``, which keeps the GIL during the call, as a server's C code
    holds it when it forks. ``ctypes.CDLL`` releases the GIL first: if another thread took it
    meanwhile, the child inherits a GIL held by a thread it does not have and waits for it
    for ever (seen under load: a child stuck in the fork call, and the test waiting on it).
    """
    return int(ctypes.PyDLL(None).fork())


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
