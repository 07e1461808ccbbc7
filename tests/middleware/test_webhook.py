"""WebhookDestination against a real loopback HTTP endpoint, with latency and faults."""

from __future__ import annotations

import time
from typing import Any, Iterator, List, Tuple

import pytest

from amplitude_legacy.middleware import WebhookDestination, route
from amplitude_legacy.testing import Drop, Reply
from tests.conftest import FAST_RETRIES, MakeClient
from tests.middleware._webhook import WebhookServer
from tests.middleware.conftest import free_port

Make = Any


@pytest.fixture
def make_hook(webhook: WebhookServer) -> Iterator[Make]:
    """Build webhook destinations aimed at the test endpoint; shut down after."""
    made: List[WebhookDestination] = []

    def make(path: str = "/events", **kwargs: Any) -> WebhookDestination:
        options = {
            "retryTimeouts": FAST_RETRIES,
            "uploadIntervalInSec": 0,
            **kwargs.pop("options", {}),
        }
        hook = WebhookDestination(webhook.url + path, options=options, **kwargs)
        made.append(hook)
        return hook

    yield make
    for hook in made:
        hook.shutdown(1)


def events(n: int, prefix: str = "user") -> List[dict[str, Any]]:
    return [{"event_type": "Order Paid", "user_id": f"{prefix}-{i:04d}"} for i in range(n)]


def test_batches_of_events_with_headers(make_hook: Make, webhook: WebhookServer) -> None:
    """POST {"events": [...]} with the given headers, at most batch_size events per POST."""
    hook = make_hook(headers={"Authorization": "Bearer t0ken"}, batch_size=2)
    futures = [hook.send(e) for e in events(5)]
    assert hook.flush(5).pending == 0
    assert all(f.result(1).delivered for f in futures)
    posts = webhook.posts
    assert [len(p.body["events"]) for p in posts] == [2, 2, 1]
    assert {p.path for p in posts} == {"/events"}
    assert all(p.headers["authorization"] == "Bearer t0ken" for p in posts)
    assert all(p.headers["content-type"] == "application/json" for p in posts)
    sent = webhook.events
    assert [e["user_id"] for e in sent] == [f"user-{i:04d}" for i in range(5)]
    assert all(e["insert_id"] and e["library"] and e["time"] for e in sent)
    assert hook.stats().delivered == 5
    assert hook.name == "webhook:" + webhook.url.removeprefix("http://") + "/events"


def test_5xx_and_dropped_connections_are_retried(make_hook: Make, webhook: WebhookServer) -> None:
    """503, then a connection closed without an answer, then 200: delivered once, 2 retries."""
    webhook.script(Reply(503), Drop())
    hook = make_hook()
    future = hook.send(events(1)[0])
    assert future.result(5).delivered
    assert [p.status for p in webhook.posts] == [503, 0, 200]
    assert len(webhook.events) == 1 and hook.stats().retries == 2


def test_429_waits_for_retry_after(make_hook: Make, webhook: WebhookServer) -> None:
    """429 with Retry-After: 1 holds the batch at least a second, then delivers it."""
    webhook.script(Reply(429, headers={"Retry-After": "1"}))
    hook = make_hook()
    assert hook.send(events(1)[0]).result(10).delivered
    first, second = webhook.posts
    assert (first.status, second.status) == (429, 200)
    assert second.at - first.at >= 0.9


def test_a_slow_endpoint_times_out_and_is_retried(make_hook: Make, webhook: WebhookServer) -> None:
    """An answer slower than requestTimeoutMillis counts as a timeout and is retried."""
    webhook.script(Reply(200, delay=1.0))
    hook = make_hook(options={"requestTimeoutMillis": 200})
    response = hook.send(events(1)[0]).result(10)
    assert response.delivered and hook.stats().retries == 1
    assert len(webhook.posts) == 2


@pytest.mark.parametrize("status", [400, 401, 404, 302])
def test_other_4xx_and_redirects_drop_the_batch_counted(
    make_hook: Make, webhook: WebhookServer, status: int
) -> None:
    """A 4xx (or a redirect, not followed) drops the batch at once as invalid, counted, with
    the events passed to onDrop."""
    dropped: List[Tuple[str, str]] = []
    webhook.script(Reply(status, headers={"Location": "/elsewhere"}))
    hook = make_hook(
        options={"onDrop": lambda evs, reason: dropped.extend((e["user_id"], reason) for e in evs)}
    )
    response = hook.send(events(1)[0]).result(5)
    assert (response.status, response.reason) == ("invalid", "invalid")
    assert response.error == f"the webhook answered {status}"
    assert hook.stats().dropped == {"invalid": 1} and len(webhook.posts) == 1
    assert dropped == [("user-0000", "invalid")]


def test_a_failed_chunk_does_not_post_the_earlier_chunks_twice(
    make_hook: Make, webhook: WebhookServer
) -> None:
    """batch_size=2, five events in one batch, the second POST fails: the retry posts only
    what was not accepted yet; each event arrives exactly once."""
    webhook.script(Reply(200), Reply(503))
    hook = make_hook(batch_size=2, options={"uploadIntervalInSec": 60})
    futures = [hook.send(e) for e in events(5)]
    assert hook.flush(5).pending == 0 and all(f.result(1).delivered for f in futures)
    ids = [e["insert_id"] for e in webhook.events]
    assert len(ids) == 5 == len(set(ids))
    assert [p.status for p in webhook.posts] == [200, 503, 200, 200]


def test_413_splits_the_batch(make_hook: Make, webhook: WebhookServer) -> None:
    """413 on a 4-event POST: the engine resends halves; everything arrives."""
    webhook.script(Reply(413))
    hook = make_hook(batch_size=4, options={"uploadIntervalInSec": 60})
    for event in events(4):
        hook.send(event)
    assert hook.flush(5).pending == 0
    assert [len(p.body["events"]) for p in webhook.posts] == [4, 2, 2]


def test_a_webhook_that_is_down_never_blocks_the_caller(make_client: MakeClient) -> None:
    """Nothing listens: routing to it costs the caller no wait, flush and shutdown keep their
    timeouts, and the destination counts what it could not deliver."""
    hook = WebhookDestination(
        f"http://127.0.0.1:{free_port()}/hook", options={"retryTimeouts": [20] * 200}
    )
    client = make_client().addEventMiddleware(route("*", hook))
    started = time.monotonic()
    for event in events(100):
        client.logEvent(event)
    assert time.monotonic() - started < 2.0
    assert client.flush(0.5).timed_out
    client.shutdown(0.5)
    stats = hook.stats()  # every event accounted for: dropped, or unknown if on the wire
    assert hook.closed and set(stats.dropped) <= {"shutdown_timeout"}, stats
    assert stats.dropped.get("shutdown_timeout", 0) + stats.unknown == 100, stats


def test_latency_on_every_answer_still_delivers_everything() -> None:
    """With 50 ms on every answer and 200 events, all arrive, none twice."""
    slow = WebhookServer(latency=0.05)
    try:
        hook = WebhookDestination(slow.url + "/in", batch_size=50)
        for event in events(200):
            hook.send(event)
        assert hook.flush(10).pending == 0
        ids = [e["insert_id"] for e in slow.events]
        assert len(ids) == 200 == len(set(ids))
        hook.shutdown(1)
    finally:
        slow.stop()
