"""Tests of the plugin-API bridge (issue 5): shared helpers for building and closing clients."""

from __future__ import annotations

import itertools
from typing import Any, Callable, Iterator, List

import amplitude_legacy
from amplitude_legacy import NodeClient
from amplitude_legacy.testing import Collector

API_KEY = "TEST_API_KEY_0123456789abcdef"
#: The official SDK's upload interval in these tests: short, so its consumer thread never lingers.
OFFICIAL_INTERVAL_MS = 20

_names = itertools.count()

MakeClient = Callable[..., NodeClient]


def client_factory(collector: Collector) -> Iterator[MakeClient]:
    """Yield a function building ``amplitude_legacy.init`` clients aimed at ``collector``.

    Every client gets its own instance name and is shut down when the generator resumes.
    """
    clients: List[NodeClient] = []

    def make(options: Any = None, **kwargs: Any) -> NodeClient:
        opts = {"serverUrl": collector.http_api_url, "retryTimeouts": [10, 10], **(options or {})}
        client = amplitude_legacy.init(
            API_KEY, opts, instance_name=f"plugins-test-{next(_names)}", **kwargs
        )
        clients.append(client)
        return client

    try:
        yield make
    finally:
        for client in clients:
            client.shutdown(2)


def official_factory(collector: Collector) -> Iterator[Callable[..., Any]]:
    """Yield a function building official ``amplitude.Amplitude`` clients aimed at ``collector``.

    Keyword arguments go to ``amplitude.Config``; every client is shut down afterwards.
    """
    import amplitude  # type: ignore[import-untyped]

    clients: List[Any] = []

    def make(**config: Any) -> Any:
        config.setdefault("server_url", collector.http_api_url)
        config.setdefault("flush_interval_millis", OFFICIAL_INTERVAL_MS)
        client = amplitude.Amplitude(API_KEY, amplitude.Config(**config))
        clients.append(client)
        return client

    try:
        yield make
    finally:
        for client in clients:
            client.shutdown()


def flush_official(client: Any, timeout: float = 2.0) -> None:
    """Flush an official client and wait until its uploads finished."""
    for future in client.flush():
        if future is not None:
            future.result(timeout)
