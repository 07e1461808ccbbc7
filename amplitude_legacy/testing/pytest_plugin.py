"""pytest fixtures for the bundled collector (registered through the ``pytest11`` entry point).

The module is imported by every pytest run in an environment where ``amplitude_legacy`` is
installed, so it imports nothing heavy: the collector is imported inside the fixture.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterator

import pytest

if TYPE_CHECKING:
    from amplitude_legacy.testing import Collector

__all__ = ["amplitude_collector"]


@pytest.fixture
def amplitude_collector() -> Iterator[Collector]:
    """A started :class:`~amplitude_legacy.testing.Collector` on a free loopback port.

    It accepts any API key, validates like the real API, and is stopped after the test. For
    other settings, build your own ``Collector(...)`` in a fixture of your own.

    Clients a test left running and aimed at this collector are shut down before it stops
    (what they still hold gets up to a second to arrive), so none of them later waits for a
    server that is gone: not the next ``init()``, not the exit of the test run.

    Yields:
        The running collector.
    """
    from amplitude_legacy.testing._collector import Collector

    with Collector() as collector:
        yield collector
        _shut_down_clients_of(collector.url)


def _shut_down_clients_of(url: str, timeout: float = 1.0) -> None:
    """Shut down every live client whose ``serverUrl`` is on ``url``."""
    from amplitude_legacy._lifecycle import live_clients

    for client in live_clients():
        if client.getOptions().server_url.startswith(url + "/"):
            client.shutdown(timeout)
