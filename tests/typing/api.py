"""The documented examples as typed code: ``tests/docs/test_typing.py`` runs ``mypy --strict`` here.

Each function mirrors a snippet of README.md or docs/ with the types a user's checker would
infer or need. Nothing here runs in the test suite (the snippets themselves run in
``test_snippets.py``); this file only has to type-check, so a public signature that changes
under the docs fails a test. Keep it importable and free of side effects.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from typing import Any, Dict, List, Mapping, Sequence

import amplitude_legacy as Amplitude
from amplitude_legacy import (
    BaseRetryHandler,
    ClientStats,
    Event,
    EventFuture,
    FlushResult,
    HttpResponse,
    Identify,
    MiddlewareNext,
    MiddlewarePayload,
    NodeClient,
    OfflineRetryHandler,
    Options,
    OptionsError,
    Response,
    Revenue,
    Status,
)
from amplitude_legacy.plugins import DestinationPlugin, EnrichmentPlugin, MiddlewarePlugin, Result
from amplitude_legacy.testing import AcceptThenDrop, CapturedRequest, Collector, Delay, Drop, Reply


# README "Use" and docs/options.md: the three ways to pass options.
def init_forms() -> List[NodeClient]:
    """``init`` with defaults, a camelCase dict, snake_case keywords and an ``Options``."""
    return [
        Amplitude.init("API_KEY"),
        Amplitude.init(
            "API_KEY",
            {
                "maxCachedEvents": 20000,
                "uploadIntervalInSec": 10,
                "serverUrl": "https://api.eu.amplitude.com/2/httpapi",
            },
        ),
        Amplitude.init("API_KEY", max_cached_events=20000),
        Amplitude.init("API_KEY", Amplitude.Options(upload_interval_in_sec=10)),
        Amplitude.init("OTHER_KEY", instance_name="backfill"),
        NodeClient("API_KEY", {"serverUrl": "http://127.0.0.1:8787/2/httpapi"}),
    ]


def options_in_effect(client: NodeClient) -> int:
    """``getOptions`` returns a frozen ``Options``; camelCase reads are allowed."""
    options: Options = client.getOptions()
    url: str = options.server_url
    timeouts: Sequence[float] = options.retry_timeouts
    legacy: Dict[str, Any] = options.to_legacy_dict()
    assert url and legacy and timeouts is not None
    same: Options = Options.from_dict({"maxCachedEvents": 20000})
    return options.max_cached_events + same.max_cached_events


def bad_option() -> str | None:
    """``OptionsError`` is a ``ValueError`` that names the option."""
    try:
        Amplitude.init("API_KEY", {"maxCachedEvent": 20000})
    except OptionsError as exc:
        return exc.option
    return None


# README "Use" and docs/middleware.md: a typed middleware.
def add_route(payload: MiddlewarePayload, next: MiddlewareNext) -> None:
    """Enrichment from ``extra`` (which is ``None`` when the caller passed nothing)."""
    route = (payload.extra or {}).get("route")
    event: Event = payload.event
    event.event_properties = {**(event.event_properties or {}), "route": route}
    next(payload)


def drop_health_checks(payload: MiddlewarePayload, next: MiddlewareNext) -> None:
    """Filtering: not calling ``next`` stops the event."""
    if payload.event.event_type != "Health Check":
        next(payload)


def log_and_wait(client: NodeClient) -> Status:
    """``addEventMiddleware`` chains; ``logEvent`` returns an ``EventFuture`` of a ``Response``."""
    client.addEventMiddleware(add_route).addEventMiddleware(drop_health_checks)
    client.add_event_middleware(lambda payload, next: next(payload))
    future: EventFuture = client.logEvent(
        {
            "event_type": "Button Clicked",
            "user_id": "user-123",
            "event_properties": {"color": "red"},
        },
        {"route": "/home"},
    )
    response: Response = future.result(timeout=10)
    code: int = response.status_code
    reason: str | None = response.reason
    body: Mapping[str, Any] | None = response.body
    assert code >= 0 and (reason is None or body is None or body)
    return response.status


def identify_and_flush(client: NodeClient) -> FlushResult:
    """``identify``/``groupIdentify``/``Revenue``, then ``flush``, ``stats`` and ``shutdown``."""
    identify = Identify().set("plan", "pro").add("logins", 1).setOnce("first_seen", "2024-05-01")
    legacy_identify: EventFuture = client.identify("user-123", None, identify)
    client.groupIdentify("org", "acme", Identify().set("size", 10))
    client.group_identify("org", ["acme", "globex"], Identify().set("size", 10))
    revenue_event: Dict[str, Any] = (
        Revenue().set_product_id("sku-1").set_price(3.99).to_event(user_id="user-123")
    )
    client.log_event(revenue_event)
    assert not legacy_identify.cancel()
    result: FlushResult = client.flush(timeout=10)
    pending: int = result.pending
    timed_out: bool = result.timed_out
    stats: ClientStats = client.stats()
    dropped: Mapping[str, int] = stats.dropped
    assert pending >= 0 and not timed_out and stats.dropped_total == sum(dropped.values())
    client.shutdown(timeout=10)
    same: NodeClient = Amplitude.getInstance()
    assert same is client or same is Amplitude.get_instance("backfill")
    return result


def many_futures(client: NodeClient) -> bool:
    """The futures work with ``concurrent.futures.wait``."""
    futures = [
        client.logEvent({"event_type": "Item Viewed", "user_id": f"user-{i}"}) for i in range(3)
    ]
    done, not_done = concurrent.futures.wait(futures, timeout=10)
    return not not_done and all(f.result().delivered for f in done)


async def in_asyncio(client: NodeClient) -> Response:
    """``await`` an event's future and ``flush_async`` without blocking the loop."""
    response: Response = await client.logEvent({"event_type": "e", "user_id": "user-123"})
    result: FlushResult = await client.flush_async(timeout=5)
    assert result.pending == 0
    waited: asyncio.Future[Response] = client.logEvent(
        {"event_type": "e", "user_id": "user-123"}
    ).wait_async()
    return await waited if response.delivered else response


# docs/options.md: retry classes, callbacks and a transport of one's own.
class AcceptEverything:
    """A ``Transport`` that answers every request itself."""

    def __init__(self) -> None:
        self.bodies: List[bytes] = []

    def send(
        self, url: str, body: bytes, headers: Mapping[str, str], timeout: float | None
    ) -> HttpResponse:
        """Record the body and answer 200."""
        self.bodies.append(body)
        return HttpResponse(200, b'{"code": 200}')

    def close(self) -> None:
        """Nothing to release."""


def on_retry(response: Response, attempt: int, is_last_retry: bool) -> None:
    """An ``onRetry`` callback."""
    print(attempt, response.status, is_last_retry)


def on_drop(events: List[Event], reason: str) -> None:
    """An ``onDrop`` callback."""
    print(len(events), reason)


def configured_clients() -> List[NodeClient]:
    """Options that take objects and callables."""
    transport: Amplitude.Transport = AcceptEverything()
    return [
        Amplitude.init("API_KEY", retry_class=BaseRetryHandler()),
        Amplitude.init("API_KEY", {"retryClass": OfflineRetryHandler()}),
        Amplitude.init("API_KEY", transport_class=transport),
        Amplitude.init("API_KEY", on_retry=on_retry, on_drop=on_drop, retry_timeouts=[10, 20]),
        Amplitude.init("API_KEY", server_zone="EU", use_batch=True, gzip=True),
    ]


# docs/testing.md: the collector, its script steps and what it recorded.
def test_signup_is_tracked(amplitude_collector: Collector) -> None:
    """The README's test, typed."""
    client = Amplitude.init("KEY", server_url=amplitude_collector.http_api_url)
    client.logEvent({"event_type": "Signed Up", "user_id": "user-123"})
    [event] = amplitude_collector.wait_for_events(1, timeout=5)
    assert event["event_type"] == "Signed Up"
    client.shutdown()


def scripted_collector() -> List[CapturedRequest]:
    """Fault steps, waiting helpers and records."""
    with Collector(api_keys=["RIGHT_KEY"], min_id_length=8, eps_threshold=10) as collector:
        collector.script(Reply(400, {"code": 400}), Drop(), AcceptThenDrop(), Delay(0.1))
        collector.fail_next(2, status=503)
        collector.set_down()
        collector.set_down(False)
        collector.wait_until(lambda c: len(c.events) >= 0, timeout=1)
        duplicates: List[str] = collector.duplicates()
        assert duplicates == [] and collector.batch_url.endswith("/batch")
        collector.reset()
        return collector.wait_for_requests(0, timeout=1)


def bounded_collector_with_debugger() -> Dict[str, Any]:
    """keep, max_connections, the debugger, and the counts."""
    with Collector(keep=100, max_connections=8, ui=True, dedup_window=0) as collector:
        absorbed: int = collector.duplicates_absorbed
        assert absorbed == 0 and collector.ui_url.endswith("/")
        return collector.counts()


# docs/migration.md and examples/migration.py: the plugin API on the same client.
class AddEnvironment(EnrichmentPlugin):
    """An enrichment plugin."""

    def execute(self, event: Event) -> Event | None:
        """Add ``env``."""
        event.event_properties = {**(event.event_properties or {}), "env": "production"}
        return event


class PlayCounter(DestinationPlugin):
    """A destination plugin."""

    def __init__(self) -> None:
        super().__init__("play-counter")
        self.count = 0

    def execute(self, event: Event) -> None:
        """Count events."""
        self.count += 1


def plugin_api(client: NodeClient) -> Result:
    """``add``/``remove`` chain; ``track`` returns a future of a ``Result``."""
    client.add(AddEnvironment()).add(MiddlewarePlugin(add_route)).add(PlayCounter())
    result: Result = client.track(
        "Song Played", {"song": "So What"}, {"user_id": "user-123", "extra": {"route": "/play"}}
    ).result(timeout=10)
    assert result.code in (0, 200) and isinstance(result.message, str)
    client.remove("play-counter")
    return result


# docs/environments/serverless.md: flush at the end of every invocation.
def serverless(client: NodeClient) -> Dict[str, Any]:
    """``flushing`` as a decorator (the handler keeps its type) and as a context manager."""

    @Amplitude.flushing(client, timeout=2.0)
    def handler(event: Dict[str, Any], context: object) -> Dict[str, Any]:
        client.logEvent({"event_type": "Invoked", "user_id": "user-123"})
        return {"statusCode": 200}

    with Amplitude.flushing(client) as flush:
        result: FlushResult | None = flush.flush()
        assert result is None or result.pending == 0
    return handler({}, None)
