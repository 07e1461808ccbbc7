"""Optional request compression: ``gzip=True`` (issue 9, item 5)."""

from __future__ import annotations

import gzip
import json
from typing import Any, Dict, List, Mapping

import pytest
import requests

from amplitude_legacy import RequestsTransport, Status
from amplitude_legacy.testing import Collector
from tests.environments import running_client

pytestmark = pytest.mark.timeout(10)

BATCH = 2000  # the HTTP V2 API's most events per request


def realistic_event(i: int) -> Dict[str, Any]:
    """An event shaped like production traffic: ids, properties, device fields."""
    return {
        "event_type": ("Page Viewed", "Button Clicked", "Order Placed")[i % 3],
        "user_id": f"user-{i % 250:06d}@example.com",
        "device_id": f"device-{i % 400:08x}-{(i * 7919) % 65536:04x}",
        "platform": "Web",
        "os_name": "Chrome",
        "country": ("United States", "Germany", "Japan")[i % 3],
        "event_properties": {
            "path": f"/products/{i % 97}",
            "referrer": "https://www.example.com/search?q=shoes",
            "price": round(19.99 + (i % 50) * 1.25, 2),
            "index": i,
        },
        "user_properties": {"plan": ("free", "pro")[i % 2], "cohort": f"2024-{i % 12 + 1:02d}"},
    }


def sizes(collector: Collector) -> List[tuple[int, int]]:
    """``(bytes on the wire, decompressed bytes)`` for each request."""
    return [(len(r.body), len(gzip.decompress(r.body))) for r in collector.requests]


def test_gzip_bodies_are_valid_and_delivered(collector: Collector) -> None:
    """``gzip=True``: ``Content-Encoding: gzip``, bodies that gunzip to the JSON, all delivered."""
    with running_client(collector.http_api_url, gzip=True, upload_interval_in_sec=60) as client:
        futures = [client.logEvent(realistic_event(i)) for i in range(BATCH)]
        assert client.flush(2).pending == 0
        assert {f.result(0).status for f in futures} == {Status.SUCCESS}
    (request,) = collector.requests  # one full batch
    assert request.headers["content-encoding"] == "gzip"
    payload = json.loads(gzip.decompress(request.body))
    assert [e["event_properties"]["index"] for e in payload["events"]] == list(range(BATCH))
    assert len(collector.events) == BATCH
    ((wire, raw),) = sizes(collector)
    assert wire * 5 < raw, f"{BATCH} events: {wire} bytes gzipped vs {raw} raw"


def test_no_gzip_by_default(collector: Collector) -> None:
    """Without the option the body is plain JSON and there is no ``Content-Encoding``."""
    with running_client(collector.http_api_url) as client:
        assert client.logEvent(realistic_event(1)).result(2).status is Status.SUCCESS
    (request,) = collector.requests
    assert "content-encoding" not in request.headers
    assert json.loads(request.body)["events"][0]["event_properties"]["index"] == 1


def test_gzip_through_requests_transport(collector: Collector) -> None:
    """``RequestsTransport`` sends the compressed bytes as they are (no double encoding)."""
    with running_client(
        collector.http_api_url, gzip=True, transport_class=RequestsTransport(requests.Session())
    ) as client:
        assert client.logEvent(realistic_event(2)).result(2).status is Status.SUCCESS
    (request,) = collector.requests
    assert request.headers["content-encoding"] == "gzip"
    assert json.loads(gzip.decompress(request.body))["events"][0]["event_properties"]["index"] == 2


class LegacyTransport:
    """A legacy ``transportClass``: ``send_payload(payload)`` gets the payload dict."""

    def __init__(self) -> None:
        self.payloads: List[Mapping[str, Any]] = []

    def send_payload(self, payload: Mapping[str, Any]) -> Dict[str, Any]:
        self.payloads.append(payload)
        return {"statusCode": 200, "body": {"code": 200}}


def test_gzip_with_a_legacy_transport_class() -> None:
    """A legacy ``transportClass`` still receives the payload dict when ``gzip=True``."""
    legacy = LegacyTransport()
    with running_client("http://127.0.0.1:9/2/httpapi", gzip=True, transport_class=legacy) as c:
        response = c.logEvent(realistic_event(3)).result(2)
    assert [p["events"][0]["event_properties"]["index"] for p in legacy.payloads] == [3]
    assert response.status is Status.SUCCESS
