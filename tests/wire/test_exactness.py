"""What reviews of 0.1 found: hostile inputs, legacy answers and messages that must be exact."""

from __future__ import annotations

import logging
import time
from typing import Any, Dict, List

import pytest

import amplitude_legacy as Amplitude
from amplitude_legacy import NodeClient, Status
from amplitude_legacy._encoding import encode_event
from amplitude_legacy._stats import DropLog
from amplitude_legacy.testing import Collector, Reply
from tests.conftest import API_KEY, MakeClient


def event(**fields: Any) -> Dict[str, Any]:
    return {"event_type": "Tick", "user_id": "user-0001", **fields}


class NaNish(float):
    """A float subclass that is NaN: it must not slip past the finite-number rule."""


class BadRepr:
    def __repr__(self) -> str:
        raise RuntimeError("the caller's __repr__ fails")


@pytest.mark.parametrize(
    "fields, field, words",
    [
        ({"time": 98.6}, "time", "must be an integer"),
        ({"time": "yesterday"}, "time", "milliseconds since the epoch"),
        ({"price": "9.99"}, "price", "must be a number"),
        ({"session_id": True}, "session_id", "must be an integer"),
        ({"user_properties": ["plan"]}, "user_properties", "must be an object"),
        ({"app_version": 2}, "app_version", "must be a string"),
        ({"event_properties": {"x": NaNish("nan")}}, "event_properties", "non-finite"),
        ({"user_id": "abc"}, "user_id", "is 3 character(s); Amplitude's minimum is 5"),
        ({"user_id": "undefined"}, "user_id", "rejects 'undefined' as a user_id"),
    ],
)
def test_documented_fields_are_checked_at_log_event(
    make_client: MakeClient, fields: Dict[str, Any], field: str, words: str
) -> None:
    """A wrong type or a short id resolves invalid at once, with the field named."""
    response = make_client().logEvent(event(**fields)).result(5)
    assert (response.status, response.reason) == (Status.INVALID, "invalid")
    assert field in (response.error or "") and words in (response.error or "")


def test_min_id_length_lowers_the_local_minimum(
    make_client: MakeClient, collector: Collector
) -> None:
    """minIdLength=3: a 3-character id is fine locally and at the server."""
    client = make_client(min_id_length=3)
    assert client.logEvent(event(user_id="abc")).result(5).delivered
    assert "minIdLength" in make_client().logEvent(event(user_id="ab")).result(5).error


def test_a_key_whose_repr_raises_is_reported_not_raised(make_client: MakeClient) -> None:
    """A non-string key with a failing __repr__: invalid, and logEvent does not raise."""
    response = make_client().logEvent({**event(), BadRepr(): 1}).result(5)
    assert response.status is Status.INVALID and "repr() raised" in (response.error or "")


def test_camel_case_keys_get_a_did_you_mean(
    make_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    """eventType: the message suggests event_type; a stray camelCase key warns once."""
    client = make_client()
    response = client.logEvent({"eventType": "Tick", "user_id": "user-0001"}).result(5)
    assert "did you mean 'event_type' instead of 'eventType'" in (response.error or "")
    with caplog.at_level(logging.WARNING, logger="amplitude_legacy"):
        for _ in range(3):
            client.logEvent(event(eventProperties={"a": 1}))
    warnings = [r for r in caplog.records if "'eventProperties'" in r.getMessage()]
    assert len(warnings) <= 1  # once per process, and maybe already warned by an earlier test


def test_a_value_changed_after_log_event_is_invalid_with_its_field(
    make_client: MakeClient,
) -> None:
    """Encoding fails on the worker: invalid (never 'failed'), the field named."""
    client = make_client(upload_interval_in_sec=60)
    props: Dict[str, Any] = {"ok": 1}
    future = client.logEvent(event(event_properties=props))
    props["bad"] = {1, 2}  # after validation, before the worker encodes it
    client.flush(5)
    response = future.result(5)
    assert response.status is Status.INVALID and "event_properties" in (response.error or "")


def test_encode_event_names_the_failing_field() -> None:
    """encode_event raises InvalidEventError naming the first field that cannot be encoded."""
    with pytest.raises(Amplitude.InvalidEventError) as info:
        encode_event({"event_type": "e", "event_properties": {"s": {1}}})
    assert info.value.field == "event_properties"


def test_raise_for_status_turns_outcomes_into_typed_errors(make_client: MakeClient) -> None:
    """delivered -> itself; invalid -> InvalidEventError; after shutdown -> ClientClosedError."""
    client = make_client()
    ok = client.logEvent(event()).result(5)
    assert ok.raise_for_status() is ok
    with pytest.raises(Amplitude.InvalidEventError):
        client.logEvent({"event_type": "no ids"}).result(5).raise_for_status()
    client.shutdown(5)
    with pytest.raises(Amplitude.ClientClosedError) as info:
        client.logEvent(event()).result(5).raise_for_status()
    assert isinstance(info.value, Amplitude.DeliveryError)
    assert info.value.response.reason == "client_closed"


def test_use_after_shutdown_warns_once(
    make_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    """The first event after shutdown logs a warning; closed says why."""
    client = make_client()
    client.shutdown(5)
    assert client.closed
    with caplog.at_level(logging.WARNING, logger="amplitude_legacy"):
        for _ in range(3):
            client.logEvent(event())
    assert len([r for r in caplog.records if "after shutdown" in r.getMessage()]) == 1


class LegacyAnswers:
    """A legacy transportClass: send_payload(payload) -> a legacy camelCase Response dict."""

    def __init__(self, answers: List[Dict[str, Any]]) -> None:
        self.answers = answers
        self.payloads: List[Any] = []

    def send_payload(self, payload: Any) -> Dict[str, Any]:
        self.payloads.append(payload)
        return self.answers.pop(0) if self.answers else {"statusCode": 200, "body": {}}


def test_a_legacy_transport_answering_in_camel_case_drops_only_the_listed_event(
    make_client: MakeClient,
) -> None:
    """eventsWithInvalidFields is read like events_with_invalid_fields: one event dropped."""
    transport = LegacyAnswers(
        [{"statusCode": 400, "body": {"error": "bad", "eventsWithInvalidFields": {"time": [1]}}}]
    )
    client = make_client(transport_class=transport, upload_interval_in_sec=60)
    futures = [client.logEvent(event(insert_id=f"i{n}")) for n in range(3)]
    client.flush(5)
    assert [f.result(5).status for f in futures] == [Status.SUCCESS, Status.INVALID, Status.SUCCESS]


def test_a_legacy_daily_quota_answer_drops_as_quota_not_retries(make_client: MakeClient) -> None:
    """exceededDailyQuotaUsers is honoured: rate_limited_quota at once, not retries_exhausted."""
    transport = LegacyAnswers(
        [
            {
                "statusCode": 429,
                "body": {"exceededDailyQuotaUsers": {"user-0001": 600000}, "throttledEvents": [0]},
            }
        ]
    )
    client = make_client(transport_class=transport)
    assert client.logEvent(event()).result(5).reason == "rate_limited_quota"
    assert len(transport.payloads) == 1


def test_a_refused_connection_is_a_system_error_with_its_cause() -> None:
    """Connection refused: SystemError naming the cause, in milliseconds (not 'Timeout')."""
    with Collector() as gone:
        url = gone.http_api_url
    client = NodeClient(API_KEY, server_url=url, retry_timeouts=[])
    try:
        started = time.monotonic()
        response = client.logEvent(event()).result(10)
        assert time.monotonic() - started < 5
        assert response.status is Status.SYSTEM_ERROR and response.reason == "retries_exhausted"
        assert "Connection refused" in (response.error or "")
    finally:
        client.shutdown(1)


def test_an_html_error_page_is_described(make_client: MakeClient, collector: Collector) -> None:
    """A 403 HTML page from a proxy: invalid, with the status and the page's title."""
    page = "<html><head><title>Access denied by proxy</title></head><body>no</body></html>"
    collector.script(Reply(403, page, headers={"Content-Type": "text/html"}))
    response = make_client().logEvent(event()).result(5)
    assert response.status is Status.INVALID
    assert response.error == "HTTP 403 Forbidden (an HTML page: Access denied by proxy)"


def test_a_server_error_echoing_the_key_is_redacted(
    make_client: MakeClient, collector: Collector, caplog: pytest.LogCaptureFixture
) -> None:
    """The API key never reaches a Response, a log line or onDrop, even if the server echoes it."""
    collector.script(Reply(400, {"code": 400, "error": f"key {API_KEY} is on a deny list"}))
    with caplog.at_level(logging.DEBUG, logger="amplitude_legacy"):
        response = make_client().logEvent(event()).result(5)
    assert API_KEY not in repr(response) and "<api key>" in (response.error or "")
    assert all(API_KEY not in r.getMessage() for r in caplog.records)


def test_a_burst_of_drops_is_reported_in_full(caplog: pytest.LogCaptureFixture) -> None:
    """Five drops: the first is logged at once, the other four when the interval ends."""
    caplog.set_level(logging.WARNING, logger="amplitude_legacy")
    drop_log = DropLog(interval=0.2)
    for _ in range(5):
        drop_log.record("invalid", 1, "no user_id")
    deadline = time.monotonic() + 5
    while len(caplog.records) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)  # waiting for the timer thread, with a deadline
    assert [r.getMessage() for r in caplog.records] == [
        "amplitude_legacy dropped 1 event(s): invalid (no user_id)",
        "amplitude_legacy dropped 4 more event(s): invalid (no user_id)",
    ]
