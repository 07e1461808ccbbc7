"""Fixtures of the integration tests: options aimed at the bundled collector."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from typing import Any, Dict, Iterator

import pytest

from amplitude_legacy import NodeClient
from amplitude_legacy.testing import Collector
from tests.conftest import FAST_RETRIES

API_KEY = "TEST_API_KEY_0123456789abcdef"


class BrokenClient(NodeClient):
    """A client whose ``logEvent`` raises: what the integrations must survive."""

    def logEvent(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("the client is broken")


@pytest.fixture
def options(collector: Collector) -> Dict[str, Any]:
    """Client options (camelCase, as users write them) aimed at the collector."""
    return {"serverUrl": collector.http_api_url, "retryTimeouts": FAST_RETRIES}


def by_type(events: Any, event_type: str) -> Dict[str, Any]:
    """The one event of ``event_type`` among ``events``."""
    [found] = [e for e in events if e["event_type"] == event_type]
    return found  # type: ignore[no-any-return]


@pytest.fixture
def redis_url(tmp_path: Any) -> Iterator[str]:
    """A real ``redis-server`` on a free loopback port (fails loudly when it is missing)."""
    binary = shutil.which("redis-server")
    assert binary, "redis-server is not installed (CI installs it from .ci/system-packages)"
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(tmp_path),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5) as conn:
                    conn.sendall(b"PING\r\n")
                    if conn.recv(16).startswith(b"+PONG"):
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, "redis-server did not start"
            assert server.poll() is None, "redis-server exited"
            time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        server.terminate()
        server.wait(10)
