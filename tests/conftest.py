"""Shared fixtures: a bundled collector per test and clients that are always shut down."""

from __future__ import annotations

from typing import Any, Callable, Iterator, List

import pytest

from amplitude_legacy import NodeClient
from amplitude_legacy.testing import Collector

#: A short retry schedule (ms) so failure tests finish fast; tests that need another pass one.
FAST_RETRIES = [10, 10, 20, 20, 40]

API_KEY = "TEST_API_KEY_0123456789abcdef"

MakeClient = Callable[..., NodeClient]


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
