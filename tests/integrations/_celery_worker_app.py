"""The Celery app the prefork test runs in a real ``celery worker`` process (Redis broker).

Configured from the environment the test sets: ``TEST_REDIS_URL`` and ``TEST_SERVER_URL``
(the bundled collector's HTTP V2 URL).
"""

from __future__ import annotations

import os
from typing import Any, Dict

from celery import Celery

import amplitude_legacy as Amplitude
from amplitude_legacy import NodeClient
from amplitude_legacy.integrations import context_properties
from amplitude_legacy.integrations.celery import AmplitudeCelery

app = Celery(
    "prefork_test", broker=os.environ["TEST_REDIS_URL"], backend=os.environ["TEST_REDIS_URL"]
)
app.conf.worker_hijack_root_logger = False


def build_client() -> NodeClient:
    """One client per worker process; events wait for the shutdown flush (60 s interval)."""
    client = Amplitude.create_instance(
        "TEST_API_KEY_0123456789abcdef",
        {"serverUrl": os.environ["TEST_SERVER_URL"], "uploadIntervalInSec": 60},
    )
    return client.addEventMiddleware(context_properties())


amplitude = AmplitudeCelery(client=build_client).connect()


@app.task(name="prefork_test.charge")
def charge(user_id: str) -> Dict[str, Any]:
    """Logs one event; answers with the process and the context it saw."""
    amplitude.client.logEvent(
        {"event_type": "Charged", "user_id": user_id, "event_properties": {"pid": os.getpid()}}
    )
    return {
        "pid": os.getpid(),
        "client_built_here": amplitude._clients.built,
        "context": dict(Amplitude.current_context()),
    }
