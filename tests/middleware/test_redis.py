"""RedisStreamDestination against a real redis-server (Debian's package, on loopback)."""

from __future__ import annotations

import json
import time
from typing import Any, List

from amplitude_legacy.middleware import RedisStreamDestination, route
from tests.conftest import FAST_RETRIES, MakeClient
from tests.middleware.conftest import RedisServer, free_port


def entries(server: RedisServer, stream: str) -> List[dict[str, Any]]:
    """The events in the stream, oldest first."""
    added: Any = server.client.xrange(stream)
    return [json.loads(fields[b"event"]) for _id, fields in added]


def test_each_event_is_one_stream_entry(
    make_client: MakeClient, redis_server: RedisServer, stream: str
) -> None:
    """Routed events are XADDed, one entry each with the event's JSON; stats count them."""
    destination = RedisStreamDestination(redis_server.url, stream)
    client = make_client().addEventMiddleware(route("Order *", destination))
    for i in range(3):
        client.logEvent({"event_type": "Order Paid", "user_id": f"user-{i}", "price": 9.5})
    client.logEvent({"event_type": "Page Viewed", "user_id": "user-0"})
    assert client.flush(5).pending == 0
    added = entries(redis_server, stream)
    assert [(e["event_type"], e["user_id"], e["price"]) for e in added] == [
        ("Order Paid", f"user-{i}", 9.5) for i in range(3)
    ]
    assert all(e["insert_id"] and e["library"] for e in added)
    name = f"redis:127.0.0.1:{redis_server.port}/{stream}"
    assert destination.name == name and client.stats().destinations[name].delivered == 3
    client.shutdown(2)


def test_maxlen_trims_the_stream(redis_server: RedisServer, stream: str) -> None:
    """maxlen keeps the stream near that length (MAXLEN ~), keeping the newest entries."""
    destination = RedisStreamDestination(redis_server.url, stream, maxlen=10)
    for i in range(1000):
        destination.send({"event_type": "e", "user_id": f"user-{i:04d}"})
    assert destination.flush(5).pending == 0
    length = redis_server.client.xlen(stream)
    assert 10 <= length < 1000
    assert entries(redis_server, stream)[-1]["user_id"] == "user-0999"
    destination.shutdown(1)


def test_a_wrong_type_key_drops_the_batch_counted(redis_server: RedisServer, stream: str) -> None:
    """A key that is not a stream (WRONGTYPE) cannot be fixed by retrying: dropped, counted."""
    redis_server.client.set(stream, "not a stream")
    destination = RedisStreamDestination(
        redis_server.url, stream, options={"retryTimeouts": FAST_RETRIES}
    )
    response = destination.send({"event_type": "e", "user_id": "user-1"}).result(5)
    assert (response.status, response.reason) == ("invalid", "invalid")
    assert "WRONGTYPE" in (response.error or "")
    assert destination.stats().dropped == {"invalid": 1}
    destination.shutdown(1)


def test_an_outage_is_retried_until_redis_is_back(make_client: MakeClient, stream: str) -> None:
    """Redis stops, events wait and retry (the caller never waits); it restarts on the same
    port and every event lands exactly once."""
    server = RedisServer()
    destination = RedisStreamDestination(
        server.url, stream, options={"retryTimeouts": [50] * 200, "requestTimeoutMillis": 500}
    )
    client = make_client().addEventMiddleware(route("*", destination))
    try:
        client.logEvent({"event_type": "before", "user_id": "user-1"})
        assert client.flush(5).pending == 0
        server.stop()
        started = time.monotonic()
        for i in range(20):
            client.logEvent({"event_type": "during", "user_id": f"user-{i}"})
        assert time.monotonic() - started < 1.0
        assert client.flush(0.3).timed_out
        server = RedisServer(port=server.port)  # back, empty (no persistence)
        assert client.flush(10).pending == 0
        during = entries(server, stream)
        assert sorted(e["user_id"] for e in during) == sorted(f"user-{i}" for i in range(20))
        assert destination.stats().retries >= 1 and destination.stats().dropped == {}
    finally:
        client.shutdown(1)
        server.stop()


def test_nothing_listening_never_blocks_and_counts_the_loss(make_client: MakeClient) -> None:
    """Redis never comes: flush and shutdown keep their timeouts; losses counted by reason."""
    destination = RedisStreamDestination(
        f"redis://127.0.0.1:{free_port()}/0", "s", options={"retryTimeouts": [20] * 100}
    )
    client = make_client().addEventMiddleware(route("*", destination))
    for i in range(10):
        assert client.logEvent({"event_type": "e", "user_id": f"user-{i}"}).result(5).delivered
    assert client.flush(0.3).timed_out
    client.shutdown(0.3)
    stats = destination.stats()  # every event accounted for: dropped, or unknown if on the wire
    assert set(stats.dropped) <= {"shutdown_timeout"}, stats
    assert stats.dropped.get("shutdown_timeout", 0) + stats.unknown == 10, stats
