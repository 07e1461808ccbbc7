"""Small real-HTTP helpers for the collector tests (http.client over 127.0.0.1, no mocks)."""

from __future__ import annotations

import gzip
import http.client
import json
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping

from amplitude_legacy.testing import Collector

JSON_HEADERS = {"Content-Type": "application/json"}


@dataclass
class Answer:
    """One HTTP response, read completely."""

    status: int
    headers: Dict[str, str]
    raw: bytes

    @property
    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.raw)


def event(n: int = 0, **fields: Any) -> Dict[str, Any]:
    """A valid event; ``fields`` override or add keys (a value of None removes the key)."""
    base: Dict[str, Any] = {
        "event_type": "test_event",
        "user_id": f"user-{n:04d}",
        "insert_id": f"insert-{n:04d}",
        "time": 1_700_000_000_000 + n,
    }
    base.update(fields)
    return {k: v for k, v in base.items() if v is not None}


def body(*events: Dict[str, Any], api_key: str = "test-key", **top: Any) -> bytes:
    """A request body holding ``events``."""
    return json.dumps({"api_key": api_key, "events": list(events), **top}).encode()


def send(
    target: Collector | http.client.HTTPConnection,
    data: bytes = b"",
    *,
    path: str = "/2/httpapi",
    method: str = "POST",
    headers: Mapping[str, str] | None = None,
    compress: bool = False,
    timeout: float = 5.0,
) -> Answer:
    """Send one request (on a new connection for a Collector, else on the given one)."""
    conn = (
        http.client.HTTPConnection("127.0.0.1", target.port, timeout=timeout)
        if isinstance(target, Collector)
        else target
    )
    all_headers = dict(JSON_HEADERS if headers is None else headers)
    if compress:
        data = gzip.compress(data)
        all_headers["Content-Encoding"] = "gzip"
    try:
        conn.request(method, path, data, all_headers)
        response = conn.getresponse()
        return Answer(
            response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
        )
    finally:
        if isinstance(target, Collector):
            conn.close()


def send_json(target: Collector | http.client.HTTPConnection, data: bytes, **kwargs: Any) -> Any:
    """Send one request and return its JSON body, checking the invariants every answer keeps."""
    answer = send(target, data, **kwargs)
    assert answer.headers["content-type"] == "application/json"
    payload = answer.json
    assert payload["code"] == answer.status
    return payload


def statuses(collector: Collector) -> List[int]:
    """The recorded status of every request so far."""
    return [request.status for request in collector.requests]
