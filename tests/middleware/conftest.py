"""Fixtures for the ready-made middleware: real Redis, a real webhook endpoint, a second
collector (the "other Amplitude project") and the official SDK."""

from __future__ import annotations

import itertools
import shutil
import socket
import subprocess
import time
from typing import Any, Callable, Iterator

import pytest

from amplitude_legacy.testing import Collector
from tests.middleware._webhook import WebhookServer

REDIS_SERVER = "redis-server"
_streams = itertools.count()


def free_port() -> int:
    """A TCP port nobody listens on right now (127.0.0.1)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    """A real ``redis-server`` on a loopback port, without persistence."""

    def __init__(self, port: int | None = None) -> None:
        binary = shutil.which(REDIS_SERVER) or shutil.which(REDIS_SERVER, path="/usr/bin")
        if binary is None:
            pytest.fail(
                "redis-server is not installed: run .ci/system-packages (Debian: redis-server)"
            )
        import redis

        self.port = port or free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )  # fmt: skip
        self.client = redis.Redis.from_url(self.url, socket_timeout=2)
        deadline = time.monotonic() + 10
        while True:
            try:
                self.client.ping()
                break
            except redis.exceptions.ConnectionError:
                if self._process.poll() is not None or time.monotonic() > deadline:
                    err = self._process.stderr.read() if self._process.stderr else b""
                    self.stop()
                    pytest.fail(f"redis-server did not start on port {self.port}: {err!r}")
                time.sleep(0.02)

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL after 5 s)."""
        self.client.close()
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(5)
        if self._process.stderr is not None:
            self._process.stderr.close()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """One real redis-server for the session; tests use their own stream keys."""
    server = RedisServer()
    yield server
    server.stop()


@pytest.fixture
def stream() -> str:
    """A stream key of this test's own."""
    return f"events-{next(_streams)}-{time.monotonic_ns()}"


@pytest.fixture
def webhook() -> Iterator[WebhookServer]:
    """A real loopback HTTP endpoint (scriptable faults and latency)."""
    server = WebhookServer()
    yield server
    server.stop()


@pytest.fixture
def second_collector() -> Iterator[Collector]:
    """A second bundled collector: the other Amplitude project (or zone)."""
    with Collector() as collector:
        yield collector


@pytest.fixture
def make_official(collector: Collector) -> Iterator[Callable[..., Any]]:
    """Official ``amplitude.Amplitude`` clients aimed at the collector, shut down after."""
    from tests.plugins import official_factory

    yield from official_factory(collector)
