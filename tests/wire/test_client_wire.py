"""The legacy client over real HTTP to the bundled collector (issue 3's contract)."""

from __future__ import annotations

import json
import logging
import time
from typing import Any, List

import pytest

import amplitude_legacy as Amplitude
from amplitude_legacy import Identify, NodeClient, Status
from amplitude_legacy.testing import Collector
from tests.conftest import API_KEY, MakeClient


def event(i: int = 0, **fields: Any) -> dict[str, Any]:
    return {"event_type": "Button Clicked", "user_id": f"user-{i:04d}", **fields}


def test_log_event_delivers_and_resolves_success(
    make_client: MakeClient, collector: Collector
) -> None:
    """A logged event reaches the collector and its future resolves success/200."""
    client = make_client()
    future = client.logEvent(event(event_properties={"color": "red"}))
    response = future.result(timeout=5)
    assert response.status is Status.SUCCESS and response.status == "success"
    assert response.status_code == 200 and response.statusCode == 200
    assert response.body is not None and response.body["events_ingested"] == 1
    [sent] = collector.events
    assert sent["event_properties"] == {"color": "red"}
    assert sent["library"] == Amplitude.LIBRARY and sent["library"].startswith("amplitude-legacy")
    assert isinstance(sent["time"], int) and abs(sent["time"] - time.time() * 1000) < 60_000
    assert len(sent["insert_id"]) == 36


def test_contract_example_from_the_issue(collector: Collector) -> None:
    """The public-contract snippet works as written: init, middleware, logEvent, identify."""
    client = Amplitude.init(API_KEY, {"serverUrl": collector.http_api_url})
    try:
        assert Amplitude.getInstance() is client

        def add_route(payload: Any, next: Any) -> None:
            extra = payload.extra or {}
            payload.event.event_properties = {
                **(payload.event.event_properties or {}),
                "route": extra.get("route"),
            }
            next(payload)

        seen: List[str] = []
        client.addEventMiddleware(add_route).addEventMiddleware(
            lambda p, n: (seen.append(p.event.event_type), n(p))
        )
        future = client.logEvent(
            {
                "event_type": "Button Clicked",
                "user_id": "user-123",
                "event_properties": {"color": "red"},
            },
            {"route": "/home"},
        )
        assert future.result(timeout=10).status == Amplitude.Status.SUCCESS
        ident = client.identify(
            "user-123", None, Amplitude.Identify().set("plan", "pro").add("logins", 1)
        )
        assert ident.result(timeout=10).status_code == 200
        assert client.flush(timeout=10).pending == 0
        first, second = collector.events
        assert first["event_properties"] == {"color": "red", "route": "/home"}
        assert second["user_properties"] == {"$set": {"plan": "pro"}, "$add": {"logins": 1}}
        assert seen == ["Button Clicked", "$identify"]
    finally:
        client.shutdown(timeout=10)


def test_wire_payload_is_the_legacy_one(make_client: MakeClient, collector: Collector) -> None:
    """POST body: compact JSON with api_key, events, options.min_id_length; JSON content type."""
    client = make_client(min_id_length=3)
    client.logEvent(event(device_id="dev")).result(5)
    [request] = collector.requests
    assert request.headers["content-type"] == "application/json"
    assert list(request.payload) == ["api_key", "events", "options"]
    assert request.payload["options"] == {"min_id_length": 3}
    assert request.payload["api_key"] == API_KEY
    assert b": " not in request.body and b", " not in request.body


def test_no_options_key_without_min_id_length(
    make_client: MakeClient, collector: Collector
) -> None:
    """Without minIdLength the payload has no options key (legacy)."""
    make_client().logEvent(event()).result(5)
    assert list(collector.requests[0].payload) == ["api_key", "events"]


def test_wire_field_names_are_kept(make_client: MakeClient, collector: Collector) -> None:
    """Revenue fields keep their camelCase wire names; plan and ingestion metadata merge."""
    client = make_client(
        plan={"branch": "main", "version": "1"},
        ingestion_metadata={"source_name": "svc"},
    )
    client.logEvent(
        event(price=1.5, quantity=2, productId="sku", revenueType="sale", plan={"version": "2"})
    ).result(5)
    [sent] = collector.events
    assert sent["productId"] == "sku" and sent["revenueType"] == "sale"
    assert sent["plan"] == {"branch": "main", "version": "2"}
    assert sent["ingestion_metadata"] == {"source_name": "svc"}


def test_callers_dict_is_not_changed(make_client: MakeClient) -> None:
    """logEvent copies the caller's dict: no library/time/insert_id appear in it."""
    original = event()
    make_client().logEvent(original).result(5)
    assert original == event()


def test_middleware_that_does_not_call_next_stops_the_event(
    make_client: MakeClient, collector: Collector
) -> None:
    """A filtering middleware: the event resolves skipped, is counted, never sent."""
    client = make_client()
    client.addEventMiddleware(lambda p, n: None if p.event.event_type == "health" else n(p))
    skipped = client.logEvent(event(event_type="health")).result(5)
    kept = client.logEvent(event(event_type="kept")).result(5)
    assert skipped.status is Status.SKIPPED and skipped.reason == "middleware_stopped"
    assert kept.status is Status.SUCCESS
    assert [e["event_type"] for e in collector.events] == ["kept"]
    assert client.stats().dropped == {"middleware_stopped": 1}


def test_middleware_exception_is_set_on_the_future(
    make_client: MakeClient, collector: Collector, caplog: pytest.LogCaptureFixture
) -> None:
    """A raising middleware: the future raises it, it is logged, nothing is sent."""
    client = make_client()

    def broken(payload: Any, next: Any) -> None:
        raise RuntimeError("boom")

    client.addEventMiddleware(broken)
    future = client.logEvent(event())
    with pytest.raises(RuntimeError, match="boom"):
        future.result(5)
    assert client.flush(5).pending == 0
    assert collector.requests == []
    assert "middleware raised" in caplog.text
    assert client.stats().dropped == {"middleware_error": 1}


def test_middleware_may_replace_the_event(make_client: MakeClient, collector: Collector) -> None:
    """The event that reaches the end of the chain is the one sent (documented change)."""
    client = make_client()
    client.addEventMiddleware(lambda p, n: n({"event": {**p.event, "event_type": "renamed"}}))
    client.logEvent(event()).result(5)
    assert collector.events[0]["event_type"] == "renamed"


def test_middleware_can_fix_an_invalid_event(make_client: MakeClient, collector: Collector) -> None:
    """Validation runs after middleware: a middleware may add the missing user_id."""
    client = make_client()

    def add_id(payload: Any, next: Any) -> None:
        payload.event.user_id = payload.event.user_id or "fixed-user"
        next(payload)

    client.addEventMiddleware(add_id)
    assert client.logEvent({"event_type": "e"}).result(5).status is Status.SUCCESS
    assert collector.events[0]["user_id"] == "fixed-user"


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        ({"event_type": 3, "user_id": "user-1"}, "event_type"),
        ({"event_type": "e"}, "user_id"),
        ({"event_type": "e", "user_id": 12345}, "user_id"),
        ({"event_type": "e", "device_id": ["d"]}, "device_id"),
        ({"event_type": "e", "user_id": "user-1", "event_properties": [1]}, "event_properties"),
        (
            {"event_type": "e", "user_id": "user-1", "event_properties": {"s": {1, 2}}},
            "event_properties",
        ),
        (
            {"event_type": "e", "user_id": "user-1", "user_properties": {"x": float("nan")}},
            "user_properties",
        ),
        ("not a dict", "dict"),
    ],
)
def test_invalid_events_resolve_invalid_and_are_counted(
    make_client: MakeClient, collector: Collector, bad: Any, field: str
) -> None:
    """Each kind of bad event resolves invalid naming the field, is counted, is never sent."""
    client = make_client()
    response = client.logEvent(bad).result(1)
    assert response.status is Status.INVALID and response.reason == "invalid"
    assert response.error is not None and field in response.error
    assert client.stats().dropped == {"invalid": 1}
    assert client.flush(2).pending == 0 and collector.requests == []


def test_opt_out_skips_everything(make_client: MakeClient, collector: Collector) -> None:
    """optOut: skipped, middleware not run, nothing sent; setOptOut toggles it live."""
    client = make_client(opt_out=True)
    ran: List[int] = []
    client.addEventMiddleware(lambda p, n: (ran.append(1), n(p)))
    assert client.logEvent(event()).result(1).status is Status.SKIPPED
    assert ran == []
    client.setOptOut(False)
    assert client.logEvent(event()).result(5).status is Status.SUCCESS
    assert len(collector.events) == 1 and ran == [1]


def test_identify_and_group_identify_payloads(
    make_client: MakeClient, collector: Collector
) -> None:
    """identify sends $identify with user_properties; groupIdentify sends $groupidentify."""
    client = make_client()
    client.identify("user-1234", "device-1", Identify().set("plan", "pro")).result(5)
    client.groupIdentify("org", "acme", Identify().set("size", 10)).result(5)
    ident, group = collector.events
    assert ident["event_type"] == "$identify" and ident["user_id"] == "user-1234"
    assert ident["user_properties"] == {"$set": {"plan": "pro"}}
    assert group["event_type"] == "$groupidentify" and group["groups"] == {"org": "acme"}
    assert group["group_properties"] == {"$set": {"size": 10}} and len(group["device_id"]) == 25
    skipped = client.identify("u", None, {"not": "identify"}).result(1)  # type: ignore[arg-type]
    assert (skipped.status, skipped.reason) == (Status.SKIPPED, "invalid")
    assert skipped.error == "Invalid Identify object"


def test_max_cached_events_triggers_an_upload(
    make_client: MakeClient, collector: Collector
) -> None:
    """With a 30 s interval, reaching maxCachedEvents uploads at once."""
    client = make_client(upload_interval_in_sec=30, max_cached_events=5)
    for i in range(5):
        client.logEvent(event(i))
    collector.wait_for_events(5, timeout=3)
    assert len(collector.requests) == 1


def test_upload_interval_batches_events(make_client: MakeClient, collector: Collector) -> None:
    """Events logged within uploadIntervalInSec travel in one request, after the interval."""
    client = make_client(upload_interval_in_sec=0.3)
    start = time.monotonic()
    futures = [client.logEvent(event(i)) for i in range(3)]
    assert all(f.result(5).status is Status.SUCCESS for f in futures)
    assert time.monotonic() - start >= 0.25
    assert len(collector.requests) == 1


def test_flush_sends_before_the_interval(make_client: MakeClient, collector: Collector) -> None:
    """flush() uploads at once and returns once the events are delivered."""
    client = make_client(upload_interval_in_sec=60)
    for i in range(3):
        client.logEvent(event(i))
    result = client.flush(timeout=5)
    assert (result.sent, result.dropped, result.pending, result.timed_out) == (3, 0, 0, False)
    assert result.status is Status.SUCCESS
    assert len(collector.events) == 3


def test_flush_with_nothing_pending_is_cheap(make_client: MakeClient) -> None:
    """flush() with nothing pending returns at once, without a worker round trip."""
    client = make_client()
    client.logEvent(event()).result(5)
    client.flush(5)
    start = time.perf_counter()
    for _ in range(1000):
        result = client.flush(5)
    assert result.status is Status.SKIPPED
    assert (time.perf_counter() - start) / 1000 < 200e-6


def test_requests_carry_at_most_2000_events(make_client: MakeClient, collector: Collector) -> None:
    """A backlog of 4500 events goes out as requests of at most 2000 events each."""
    client = make_client(upload_interval_in_sec=60)
    for i in range(4500):
        client.logEvent(event(i % 100))
    assert client.flush(10).sent == 4500
    sizes = [len(r.payload["events"]) for r in collector.requests]
    assert sum(sizes) == 4500 and max(sizes) <= 2000 and len(sizes) >= 3


def test_requests_stay_under_one_megabyte(make_client: MakeClient, collector: Collector) -> None:
    """Big events are packed so that each body stays under 1 MB."""
    client = make_client(upload_interval_in_sec=60)
    blob = "x" * 10_000
    for i in range(250):
        client.logEvent(event(i, event_properties={"blob": blob}))
    assert client.flush(10).sent == 250
    assert all(len(r.body) <= 1_000_000 for r in collector.requests)
    assert len(collector.requests) >= 3


def test_batch_endpoint(make_client: MakeClient, collector: Collector) -> None:
    """serverUrl may be the Batch API."""
    client = make_client(server_url=collector.batch_url)
    assert client.logEvent(event()).result(5).status is Status.SUCCESS
    assert collector.requests[0].path == "/batch"


def test_garbage_answers_do_not_kill_the_worker(
    make_client: MakeClient, collector: Collector
) -> None:
    """An HTML 502 page, then a dropped connection: the event is retried and delivered."""
    from amplitude_legacy.testing import Drop, Reply

    collector.script(Reply(502, "<html>bad gateway</html>"), Drop())
    client = make_client()
    assert client.logEvent(event()).result(5).status is Status.SUCCESS
    assert client.logEvent(event(1)).result(5).status is Status.SUCCESS
    assert len(collector.events) == 2


def test_shutdown_is_idempotent_and_closes(make_client: MakeClient, collector: Collector) -> None:
    """shutdown flushes, can be called twice, and later events resolve skipped."""
    client = make_client(upload_interval_in_sec=60)
    client.logEvent(event())
    first = client.shutdown(5)
    assert first.sent == 1 and client.shutdown(5).sent == 0
    late = client.logEvent(event(2)).result(1)
    assert late.status is Status.SKIPPED and late.reason == "client_closed"
    assert len(collector.events) == 1


def test_get_instance_named_and_missing(collector: Collector) -> None:
    """init registers default and named instances; an unknown name raises a clear error."""
    default = Amplitude.init(API_KEY, server_url=collector.http_api_url)
    named = Amplitude.init(API_KEY, server_url=collector.http_api_url, instance_name="backfill")
    try:
        assert Amplitude.getInstance() is default
        assert Amplitude.get_instance("backfill") is named and named is not default
        with pytest.raises(Amplitude.AmplitudeError, match="nope"):
            Amplitude.getInstance("nope")
    finally:
        default.shutdown(2)
        named.shutdown(2)


def test_init_accepts_three_option_forms(collector: Collector) -> None:
    """camelCase dict, snake_case keywords and Options give the same options."""
    forms: List[NodeClient] = [
        Amplitude.init(API_KEY, {"maxCachedEvents": 20000, "serverUrl": collector.http_api_url}),
        Amplitude.init(API_KEY, max_cached_events=20000, server_url=collector.http_api_url),
        Amplitude.init(
            API_KEY, Amplitude.Options(max_cached_events=20000, server_url=collector.http_api_url)
        ),
    ]
    try:
        assert len({c.getOptions() for c in forms}) == 1
        assert forms[0].getOptions().maxCachedEvents == 20000
    finally:
        for client in forms:
            client.shutdown(1)


def test_bad_options_raise_at_init() -> None:
    """A misspelt option, a wrong type and a bad URL raise OptionsError naming the option."""
    with pytest.raises(Amplitude.OptionsError, match="maxCachedEvent"):
        Amplitude.init(API_KEY, {"maxCachedEvent": 10})
    with pytest.raises(ValueError, match="maxCachedEvents"):
        Amplitude.init(API_KEY, max_cached_events=-1)
    with pytest.raises(Amplitude.OptionsError, match="serverUrl"):
        Amplitude.init(API_KEY, server_url="ftp://example.invalid")


def test_api_key_never_logged(collector: Collector, caplog: pytest.LogCaptureFixture) -> None:
    """Rejected key, retries and shutdown: the key appears in no log line or response."""
    secret = "SECRET_KEY_abcdef0123456789"
    strict = Collector(api_keys={"another-key"}).start()
    caplog.set_level(logging.DEBUG)
    client = NodeClient(secret, server_url=strict.http_api_url, retry_timeouts=[10], log_level=3)
    try:
        response = client.logEvent(event()).result(5)
        assert response.reason == "invalid_api_key"
        assert secret not in repr(response) and secret not in repr(client)
        client.shutdown(2)
    finally:
        strict.stop()
    text = caplog.text + json.dumps([r.getMessage() for r in caplog.records])
    assert "rejected the API key" in text
    assert secret not in text


def test_create_instance_is_independent(collector: Collector) -> None:
    """createInstance gives a second client that getInstance does not return."""
    default = Amplitude.init(API_KEY, server_url=collector.http_api_url)
    other = Amplitude.createInstance(API_KEY, server_url=collector.batch_url)
    try:
        assert Amplitude.getInstance() is default and other is not default
        assert other.logEvent(event()).result(5).status is Status.SUCCESS
        assert collector.requests[0].path == "/batch"
    finally:
        default.shutdown(2)
        other.shutdown(2)
