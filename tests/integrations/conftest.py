"""Fixtures of the integration tests: options aimed at the bundled collector."""

from __future__ import annotations

from typing import Any, Dict

import pytest

from amplitude_legacy.testing import Collector
from tests.conftest import FAST_RETRIES

API_KEY = "TEST_API_KEY_0123456789abcdef"


@pytest.fixture
def options(collector: Collector) -> Dict[str, Any]:
    """Client options (camelCase, as users write them) aimed at the collector."""
    return {"serverUrl": collector.http_api_url, "retryTimeouts": FAST_RETRIES}


def by_type(events: Any, event_type: str) -> Dict[str, Any]:
    """The one event of ``event_type`` among ``events``."""
    [found] = [e for e in events if e["event_type"] == event_type]
    return found  # type: ignore[no-any-return]
