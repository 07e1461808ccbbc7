"""Unit tests for Status, status_for_code, Response and the stats types."""

from __future__ import annotations

import dataclasses
import logging

import pytest

from amplitude_legacy import ClientStats, FlushResult, Response, Status
from amplitude_legacy._response import SKIPPED_RESPONSE, status_for_code
from amplitude_legacy._stats import Counters, DropLog


def test_status_values_exact() -> None:
    """Status values are the legacy strings exactly, capitals included."""
    assert {s.name: s.value for s in Status} == {
        "UNKNOWN": "unknown",
        "SKIPPED": "skipped",
        "SUCCESS": "success",
        "RATE_LIMIT": "rate_limit",
        "PAYLOAD_TOO_LARGE": "payload_too_large",
        "INVALID": "invalid",
        "FAILED": "failed",
        "TIMEOUT": "Timeout",
        "SYSTEM_ERROR": "SystemError",
    }


def test_status_is_str() -> None:
    """Status compares and formats as its legacy string."""
    assert Status.SUCCESS == "success"  # type: ignore[comparison-overlap]
    assert Status.TIMEOUT == "Timeout"  # type: ignore[comparison-overlap]
    assert isinstance(Status.FAILED, str)
    assert str(Status.SYSTEM_ERROR) == "SystemError"
    assert f"{Status.RATE_LIMIT}" == "rate_limit"
    assert Status("skipped") is Status.SKIPPED


@pytest.mark.parametrize(
    ("code", "status"),
    [
        (200, Status.SUCCESS),
        (204, Status.SUCCESS),
        (299, Status.SUCCESS),
        (429, Status.RATE_LIMIT),
        (413, Status.PAYLOAD_TOO_LARGE),
        (408, Status.TIMEOUT),
        (400, Status.INVALID),
        (401, Status.INVALID),
        (403, Status.INVALID),
        (404, Status.INVALID),
        (499, Status.INVALID),
        (500, Status.FAILED),
        (503, Status.FAILED),
        (599, Status.FAILED),
        (600, Status.FAILED),
        (0, Status.UNKNOWN),
        (100, Status.UNKNOWN),
        (199, Status.UNKNOWN),
        (300, Status.UNKNOWN),
        (302, Status.UNKNOWN),
        (399, Status.UNKNOWN),
        (-1, Status.UNKNOWN),
    ],
)
def test_status_for_code(code: int, status: Status) -> None:
    """status_for_code follows the legacy table: 2xx, 429, 413, 408, 4xx, >=500, else unknown."""
    assert status_for_code(code) is status


def test_response_defaults() -> None:
    """A Response needs only a status; the rest defaults to empty."""
    r = Response(Status.FAILED)
    assert (r.status_code, r.body, r.reason, r.error) == (0, None, None, None)
    assert not r.delivered


def test_response_is_frozen() -> None:
    """Response is immutable."""
    r = Response(Status.SUCCESS, 200)
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.status = Status.FAILED  # type: ignore[misc]


def test_status_code_alias() -> None:
    """statusCode is the legacy alias of status_code."""
    r = Response(Status.RATE_LIMIT, 429)
    assert r.statusCode == r.status_code == 429


def test_delivered_only_on_success() -> None:
    """delivered is True only for Status.SUCCESS."""
    assert Response(Status.SUCCESS, 200).delivered
    for status in Status:
        if status is not Status.SUCCESS:
            assert not Response(status).delivered


def test_camel_body_success() -> None:
    """camel_body renames the success keys and leaves out code."""
    body = {
        "code": 200,
        "events_ingested": 50,
        "payload_size_bytes": 50,
        "server_upload_time": 1396381378123,
    }
    assert Response(Status.SUCCESS, 200, body).camel_body == {
        "eventsIngested": 50,
        "payloadSizeBytes": 50,
        "serverUploadTime": 1396381378123,
    }


def test_camel_body_rate_limit_and_invalid_keys() -> None:
    """camel_body renames the 400 and 429 keys; unknown keys stay as they are."""
    body = {
        "code": 429,
        "error": "Too many requests for some devices and users",
        "eps_threshold": 30,
        "throttled_devices": {"d": 31},
        "throttled_users": {"u": 32},
        "throttled_events": [3],
        "exceeded_daily_quota_devices": {},
        "exceeded_daily_quota_users": {},
        "missing_field": "api_key",
        "events_with_invalid_fields": {"time": [1]},
        "events_with_missing_fields": {"event_type": [2]},
        "events_with_invalid_id_lengths": {"device_id": [0]},
        "silenced_devices": ["x"],
        "silenced_events": [5],
        "something_new": 1,
    }
    assert Response(Status.RATE_LIMIT, 429, body).camel_body == {
        "error": "Too many requests for some devices and users",
        "epsThreshold": 30,
        "throttledDevices": {"d": 31},
        "throttledUsers": {"u": 32},
        "throttledEvents": [3],
        "exceededDailyQuotaDevices": {},
        "exceededDailyQuotaUsers": {},
        "missingField": "api_key",
        "eventsWithInvalidFields": {"time": [1]},
        "eventsWithMissingFields": {"event_type": [2]},
        "eventsWithInvalidIdLengths": {"device_id": [0]},
        "silencedDevices": ["x"],
        "silencedEvents": [5],
        "something_new": 1,
    }


def test_camel_body_none_without_body() -> None:
    """camel_body is None when there is no body; body keeps the server's keys."""
    assert Response(Status.TIMEOUT).camel_body is None
    body = {"code": 200, "events_ingested": 1}
    assert Response(Status.SUCCESS, 200, body).body is body


def test_skipped_response() -> None:
    """The shared skipped response is {status: skipped, statusCode: 0}."""
    assert SKIPPED_RESPONSE.status is Status.SKIPPED
    assert SKIPPED_RESPONSE.statusCode == 0


@pytest.mark.parametrize(
    ("result", "status", "code"),
    [
        (FlushResult(), Status.SKIPPED, 0),
        (FlushResult(sent=3), Status.SUCCESS, 200),
        (FlushResult(sent=3, dropped=1), Status.FAILED, 0),
        (FlushResult(dropped=1), Status.FAILED, 0),
        (FlushResult(sent=2, pending=1), Status.FAILED, 0),
        (FlushResult(sent=2, timed_out=True), Status.FAILED, 0),
        (FlushResult(timed_out=True), Status.FAILED, 0),
    ],
)
def test_flush_result_status(result: FlushResult, status: Status, code: int) -> None:
    """FlushResult.status is success, skipped (nothing to do) or failed; response mirrors it."""
    assert result.status is status
    assert result.response == Response(status, code)


def test_flush_result_is_frozen() -> None:
    """FlushResult is immutable."""
    with pytest.raises(dataclasses.FrozenInstanceError):
        FlushResult().sent = 1  # type: ignore[misc]


# --- stats ------------------------------------------------------------------------------------


def test_client_stats_dropped_total() -> None:
    """ClientStats.dropped_total sums every drop reason."""
    stats = ClientStats(delivered=5, dropped={"invalid": 2, "queue_full": 3})
    assert stats.dropped_total == 5
    assert ClientStats().dropped_total == 0


def test_counters_snapshot_is_a_copy() -> None:
    """Counters.snapshot freezes the counts; later drops do not change it."""
    counters = Counters()
    counters.drop("invalid", 2)
    counters.drop("invalid", 1)
    counters.delivered = 4
    snap = counters.snapshot(pending=7)
    counters.drop("invalid", 10)
    assert snap == ClientStats(delivered=4, dropped={"invalid": 3}, pending=7)
    assert counters.dropped_total() == 13


def test_drop_log_once_per_burst(caplog: pytest.LogCaptureFixture) -> None:
    """DropLog logs the first drop of a reason, holds the rest, and flush logs the held count."""
    caplog.set_level(logging.WARNING, logger="amplitude_legacy")
    drop_log = DropLog(interval=3600.0)
    drop_log.record("invalid", 1, "bad event")
    drop_log.record("invalid", 2)
    drop_log.record("invalid", 3)
    drop_log.record("queue_full", 1)
    messages = [r.getMessage() for r in caplog.records]
    assert messages == [
        "amplitude_legacy dropped 1 event(s): invalid (bad event)",
        "amplitude_legacy dropped 1 event(s): queue_full",
    ]
    caplog.clear()
    drop_log.flush()
    assert [r.getMessage() for r in caplog.records] == [
        "amplitude_legacy dropped 5 more event(s): invalid"
    ]


def test_response_is_a_frozen_value_built_field_by_field() -> None:
    """Response's own __init__ (it writes __dict__ directly) keeps the dataclass contract:
    defaults, equality, hashing, replace, pickling, and no assignment afterwards."""
    import pickle

    response = Response(Status.SKIPPED, 0, None, "filtered", "drop_events('x')")
    assert response == Response(Status.SKIPPED, reason="filtered", error="drop_events('x')")
    assert hash(response) == hash(Response(Status.SKIPPED, 0, None, "filtered", "drop_events('x')"))
    assert Response(Status.SUCCESS) == Response(Status.SUCCESS, 0, None, None, None)
    assert dataclasses.replace(response, reason="routed").reason == "routed"
    assert pickle.loads(pickle.dumps(response)) == response
    assert [f.name for f in dataclasses.fields(Response)] == [
        "status", "status_code", "body", "reason", "error"
    ]  # fmt: skip
    with pytest.raises(dataclasses.FrozenInstanceError):
        response.reason = "other"  # type: ignore[misc]


def test_hide_api_key_is_the_one_rule_for_messages() -> None:
    """Every occurrence becomes <api key>; an empty key hides nothing (no garbled text)."""
    from amplitude_legacy._errors import hide_api_key

    assert hide_api_key("key k3y-123 and k3y-123 again", "k3y-123") == (
        "key <api key> and <api key> again"
    )
    assert hide_api_key("nothing to hide", "") == "nothing to hide"
