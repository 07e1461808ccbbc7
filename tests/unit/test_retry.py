"""Unit tests for ``classify`` (the API's answers) and ``RetryPolicy`` (the legacy schedule)."""

from __future__ import annotations

import dataclasses
import email.utils
import json
import time
from typing import Any, Dict, List

import pytest

from amplitude_legacy import (
    ConnectionFailedError,
    DropReason,
    RequestTimeoutError,
    RetryPolicy,
    Status,
    classify,
)
from amplitude_legacy._retry import RETRY_AFTER_CAP, Action, Decision, classify_error

# --- the API's documented example bodies -------------------------------------------------------

OK_BODY = (
    b'{"code": 200, "events_ingested": 50, "payload_size_bytes": 50, '
    b'"server_upload_time": 1396381378123}'
)
MISSING_FIELD_BODY = (
    b'{"code": 400, "error": "Request missing required field", "missing_field": "api_key", '
    b'"events_with_missing_fields": {"event_type": [3]}}'
)
INVALID_FIELDS_BODY = (
    b'{"code": 400, "error": "Invalid field values on some events", '
    b'"events_with_invalid_fields": {"time": [3, 4, 7]}}'
)
ID_LENGTH_BODY = (
    b'{"code": 400, "events_with_invalid_id_lengths": {"device_id": [0]}, '
    b'"error": "Invalid id length for user_id or device_id"}'
)
API_KEY = "6eaecc157d0ff5a58c0b0d6df54307be"
INVALID_KEY_BODY = b'{"code": 400, "error": "Invalid API key: ' + API_KEY.encode() + b'"}'
SILENCED_BODY = b"""{
  "code": 400,
  "eps_threshold": 100,
  "error": "Events silenced for device_id",
  "exceeded_daily_quota_devices": {},
  "silenced_devices": ["silenced_device_id_1", "silenced_device_id_2"],
  "silenced_events": [5, 6],
  "throttled_devices": {"throttled_device_id_1": 0, "throttled_device_id_2": 100},
  "throttled_events": [3, 4]
}"""
FORBIDDEN_BODY = b'{"code": 403, "error": "Forbidden"}'
TOO_LARGE_BODY = b'{"code": 413, "error": "Payload too large"}'
HTML_400_BODY = (
    b"<html><head><title>400 Bad Request</title></head><body><center><h1>400 Bad Request"
    b"</h1></center><hr><center>nginx</center></body></html>"
)
THROTTLED_DEVICE = "C8F9E604-F01A-4BD9-95C6-8E5357DF265D"
THROTTLED_USER = "datamonster@amplitude.com"
QUOTA_USER = "datanom@amplitude.com"
QUOTA_DEVICE = "A1A1A000-F01A-4BD9-95C6-8E5357DF265D"
RATE_LIMIT_V2_BODY = b"""{
  "code": 429,
  "error": "Too many requests for some devices and users",
  "eps_threshold": 30,
  "throttled_devices": {"C8F9E604-F01A-4BD9-95C6-8E5357DF265D": 31},
  "throttled_users": {"datamonster@amplitude.com": 32},
  "throttled_events": [3, 4, 7]
}"""
RATE_LIMIT_BATCH_BODY = b"""{
  "code": 429,
  "error": "Too many requests for some devices and users",
  "eps_threshold": 1000,
  "throttled_devices": {"C8F9E604-F01A-4BD9-95C6-8E5357DF265D": 4000},
  "throttled_users": {"datamonster@amplitude.com": 4000},
  "exceeded_daily_quota_users": {"datanom@amplitude.com": 500200},
  "exceeded_daily_quota_devices": {"A1A1A000-F01A-4BD9-95C6-8E5357DF265D": 500900},
  "throttled_events": [3, 4, 7]
}"""
RATE_LIMIT_PROJECT_BODY = (
    b'{"code":429,"eps_threshold":20,"error":"Rate limit exceeded",'
    b'"throttled_events":[],"throttled_users":{}}'
)


def batch(size: int) -> List[Dict[str, Any]]:
    """``size`` plain events, each with its own user."""
    return [{"event_type": "e", "user_id": f"user-{i}"} for i in range(size)]


# --- delivered ------------------------------------------------------------------------------


def test_200_with_code_is_delivered() -> None:
    """A 200 with the documented body is DELIVERED, success, body parsed."""
    d = classify(200, OK_BODY, batch(50))
    assert d.action is Action.DELIVERED
    assert d.status is Status.SUCCESS
    assert d.status_code == 200
    assert d.body == json.loads(OK_BODY)
    assert d.reason is None


@pytest.mark.parametrize(
    "body",
    [b'{"events_ingested": 1}', b"OK", b"", None, b"[1, 2]", b"\xff\xfe", "plain text"],
)
def test_200_without_json_code_is_delivered(body: Any) -> None:
    """A 2xx without a JSON code (or not JSON at all) is still DELIVERED."""
    d = classify(200, body, batch(2))
    assert d.action is Action.DELIVERED
    assert d.status is Status.SUCCESS
    assert d.status_code == 200


@pytest.mark.parametrize("status", [201, 204, 299])
def test_other_2xx_delivered(status: int) -> None:
    """Any 2xx without a code is DELIVERED."""
    assert classify(status, b"", batch(1)).action is Action.DELIVERED


def test_body_code_wins_over_http_status() -> None:
    """A body code of 200 under HTTP 500 means delivered."""
    d = classify(500, b'{"code": 200}', batch(3))
    assert d.action is Action.DELIVERED
    assert d.status_code == 200


def test_body_code_429_inside_http_200() -> None:
    """A 429 body code inside an HTTP 200 is treated as rate limiting."""
    d = classify(200, b'{"code": 429, "throttled_events": [0]}', batch(2))
    assert d.status is Status.RATE_LIMIT
    assert d.action is Action.THROTTLE
    assert d.hold_indices == frozenset({0})


@pytest.mark.parametrize("code", ["200", True, 200.0, None])
def test_non_int_body_code_falls_back_to_http_status(code: Any) -> None:
    """A body code that is not an int (string, bool, float, null) is ignored."""
    d = classify(503, json.dumps({"code": code}), batch(2))
    assert d.status_code == 503
    assert d.action is Action.BACKOFF


def test_parsed_mapping_body_accepted() -> None:
    """An already parsed mapping body is used as is."""
    d = classify(200, {"code": 413, "error": "Payload too large"}, batch(2))
    assert d.action is Action.SPLIT


# --- 400 --------------------------------------------------------------------------------------


def test_400_missing_field_drops_all() -> None:
    """A request-level missing_field drops the whole batch as invalid."""
    d = classify(400, MISSING_FIELD_BODY, batch(5))
    assert d.action is Action.DROP_ALL
    assert d.status is Status.INVALID
    assert d.reason == DropReason.INVALID
    assert d.error == "Request missing required field"


def test_400_invalid_api_key_drops_all_without_leaking_key() -> None:
    """'Invalid API key: <key>' drops all with reason invalid_api_key; the key is nowhere."""
    d = classify(400, INVALID_KEY_BODY, batch(3))
    assert d.action is Action.DROP_ALL
    assert d.reason == DropReason.INVALID_API_KEY == "invalid_api_key"
    assert d.status is Status.INVALID
    assert d.error == "Invalid API key"
    assert d.body is not None
    assert d.body["code"] == 400
    assert API_KEY not in repr(d)
    assert API_KEY not in str(d.error)
    assert API_KEY not in json.dumps(dict(d.body))
    for item in dataclasses.astuple(d):
        assert API_KEY not in repr(item)


def test_400_invalid_api_key_single_event() -> None:
    """A bad key with a one-event batch is still reported as invalid_api_key."""
    d = classify(400, INVALID_KEY_BODY, batch(1))
    assert d.reason == DropReason.INVALID_API_KEY
    assert API_KEY not in repr(d)


def test_400_invalid_fields_drops_listed() -> None:
    """events_with_invalid_fields drops exactly the listed indices."""
    d = classify(400, INVALID_FIELDS_BODY, batch(10))
    assert d.action is Action.DROP_LISTED
    assert d.drop_indices == frozenset({3, 4, 7})
    assert d.reason == DropReason.INVALID
    assert d.hold_indices == frozenset()


def test_400_id_length_drops_listed() -> None:
    """events_with_invalid_id_lengths drops exactly the listed indices."""
    d = classify(400, ID_LENGTH_BODY, batch(2))
    assert d.action is Action.DROP_LISTED
    assert d.drop_indices == frozenset({0})


def test_400_silenced_drops_silenced_events_only() -> None:
    """The silenced example drops silenced_events and resends its throttled_events."""
    d = classify(400, SILENCED_BODY, batch(8))
    assert d.action is Action.DROP_LISTED
    assert d.drop_indices == frozenset({5, 6})


def test_400_union_of_every_index_map() -> None:
    """Invalid, missing, id-length and silenced indices are dropped as one union."""
    body = {
        "code": 400,
        "error": "Invalid field values on some events",
        "events_with_invalid_fields": {"time": [1, 2], "event_id": [2, 9]},
        "events_with_missing_fields": {"event_type": [3]},
        "events_with_invalid_id_lengths": {"user_id": [4], "device_id": [4, 5]},
        "silenced_events": [6],
        "throttled_events": [7],
    }
    d = classify(400, json.dumps(body), batch(12))
    assert d.action is Action.DROP_LISTED
    assert d.drop_indices == frozenset({1, 2, 3, 4, 5, 6, 9})


def test_400_out_of_range_indices_ignored() -> None:
    """Indices outside the batch (and non-int entries) are ignored."""
    body = {"code": 400, "events_with_invalid_fields": {"time": [1, 3, 99, -1, "2", True]}}
    d = classify(400, json.dumps(body), batch(4))
    assert d.action is Action.DROP_LISTED
    assert d.drop_indices == frozenset({1, 3})


def test_400_only_out_of_range_indices_drops_all() -> None:
    """A 400 whose indices all fall outside the batch names nothing: drop all."""
    body = {"code": 400, "events_with_invalid_fields": {"time": [10]}}
    d = classify(400, json.dumps(body), batch(3))
    assert d.action is Action.DROP_ALL
    assert d.reason == DropReason.INVALID


def test_400_listing_whole_batch() -> None:
    """A 400 listing every index drops every index."""
    body = {"code": 400, "events_with_invalid_fields": {"time": [0, 1]}}
    d = classify(400, json.dumps(body), batch(2))
    assert d.drop_indices == frozenset({0, 1})


def test_400_one_event_batch_drops_all() -> None:
    """A 400 for a one-event batch drops that event, whatever is listed."""
    d = classify(400, b'{"code": 400, "events_with_invalid_fields": {"time": [0]}}', batch(1))
    assert d.action is Action.DROP_ALL
    assert d.reason == DropReason.INVALID


@pytest.mark.parametrize(
    "body", [HTML_400_BODY, b'{"code": 400, "error": "Invalid request path"}', b"", None]
)
def test_400_without_indices_drops_all(body: Any) -> None:
    """A 400 naming no events (HTML page, bare error) drops the whole batch."""
    d = classify(400, body, batch(3))
    assert d.action is Action.DROP_ALL
    assert d.status is Status.INVALID
    assert d.reason == DropReason.INVALID


def test_400_html_body_is_not_kept() -> None:
    """A non-JSON body is not parsed into the decision."""
    d = classify(400, HTML_400_BODY, batch(3))
    assert d.body is None
    # ...but the error says what came back (it used to be None, which told a user nothing)
    assert d.error == "HTTP 400 Bad Request (an HTML page: 400 Bad Request)"
    assert d.status_code == 400


@pytest.mark.parametrize("status", [403, 404])
def test_403_and_404_drop_all(status: int) -> None:
    """403 (WAF) and other plain 4xx drop the whole batch as invalid."""
    body = FORBIDDEN_BODY if status == 403 else b""
    d = classify(status, body, batch(3))
    assert d.action is Action.DROP_ALL
    assert d.status is Status.INVALID
    assert d.reason == DropReason.INVALID
    assert d.status_code == status


def test_403_error_text_kept() -> None:
    """The server's error text of a 403 is in the decision."""
    assert classify(403, FORBIDDEN_BODY, batch(2)).error == "Forbidden"


# --- 413 --------------------------------------------------------------------------------------


def test_413_splits_batch() -> None:
    """A 413 for several events splits the batch."""
    d = classify(413, TOO_LARGE_BODY, batch(2))
    assert d.action is Action.SPLIT
    assert d.status is Status.PAYLOAD_TOO_LARGE


def test_413_single_event_drops() -> None:
    """A 413 for a single event drops it as payload_too_large."""
    d = classify(413, TOO_LARGE_BODY, batch(1))
    assert d.action is Action.DROP_ALL
    assert d.reason == DropReason.PAYLOAD_TOO_LARGE == "payload_too_large"


# --- 429 --------------------------------------------------------------------------------------


def rate_limited_batch() -> List[Dict[str, Any]]:
    return [
        {"event_type": "e", "user_id": "free-0"},  # 0: resend
        {"event_type": "e", "user_id": QUOTA_USER},  # 1: quota user -> drop
        {"event_type": "e", "device_id": QUOTA_DEVICE},  # 2: quota device -> drop
        {"event_type": "e", "user_id": "listed-3"},  # 3: listed -> hold
        {"event_type": "e", "user_id": QUOTA_USER, "device_id": "x"},  # 4: listed+quota -> drop
        {"event_type": "e", "device_id": THROTTLED_DEVICE},  # 5: throttled device -> hold
        {"event_type": "e", "user_id": THROTTLED_USER},  # 6: throttled user -> hold
        {"event_type": "e", "user_id": "listed-7"},  # 7: listed -> hold
        {"event_type": "e", "user_id": "free-8", "device_id": "free-d"},  # 8: resend
    ]


def test_429_http_v2_example() -> None:
    """HTTP V2 429: listed events and throttled users/devices are held, the rest resent."""
    d = classify(429, RATE_LIMIT_V2_BODY, rate_limited_batch())
    assert d.action is Action.THROTTLE
    assert d.status is Status.RATE_LIMIT
    assert d.status_code == 429
    assert d.drop_indices == frozenset()
    # Index 1 is not listed, but its user is the one of listed index 4: it waits too.
    assert d.hold_indices == frozenset({1, 3, 4, 5, 6, 7})


def test_429_batch_example() -> None:
    """Batch 429: daily-quota users/devices dropped, throttled held, the rest resent."""
    d = classify(429, RATE_LIMIT_BATCH_BODY, rate_limited_batch())
    assert d.action is Action.THROTTLE
    assert d.reason == DropReason.RATE_LIMITED_QUOTA
    assert d.drop_indices == frozenset({1, 2, 4})
    assert d.hold_indices == frozenset({3, 5, 6, 7})
    resent = set(range(9)) - d.drop_indices - d.hold_indices
    assert resent == {0, 8}


def test_429_only_quota_users_is_throttle_with_drops() -> None:
    """A 429 naming only daily-quota users drops them and holds nothing."""
    body = {"code": 429, "exceeded_daily_quota_users": {QUOTA_USER: 500200}}
    d = classify(429, json.dumps(body), rate_limited_batch())
    assert d.action is Action.THROTTLE
    assert d.drop_indices == frozenset({1, 4})
    assert d.hold_indices == frozenset()


@pytest.mark.parametrize(
    "body", [RATE_LIMIT_PROJECT_BODY, b'{"code": 429}', b"Too Many Requests", b"", None]
)
def test_429_naming_nobody_backs_off(body: Any) -> None:
    """A 429 with empty throttled lists (or no JSON) backs off the whole batch."""
    d = classify(429, body, batch(3))
    assert d.action is Action.BACKOFF
    assert d.status is Status.RATE_LIMIT
    assert d.drop_indices == frozenset()
    assert d.hold_indices == frozenset()


def test_429_retry_after_seconds() -> None:
    """Retry-After in seconds is parsed onto a 429 decision."""
    d = classify(429, RATE_LIMIT_V2_BODY, rate_limited_batch(), retry_after="30")
    assert d.retry_after == 30


def test_429_backoff_retry_after() -> None:
    """Retry-After also applies when a 429 names nobody."""
    d = classify(429, RATE_LIMIT_PROJECT_BODY, batch(1), retry_after="12")
    assert d.action is Action.BACKOFF
    assert d.retry_after == 12


@pytest.mark.parametrize(("header", "seconds"), [("5", 5.0), (" 7 ", 7.0), ("0", 0.0)])
def test_retry_after_seconds_parsed(header: str, seconds: float) -> None:
    """Retry-After seconds are parsed as a number of seconds."""
    assert classify(503, b"", batch(1), retry_after=header).retry_after == seconds


@pytest.mark.parametrize("header", ["61", "120", "86400"])
def test_retry_after_capped_at_60(header: str) -> None:
    """Retry-After above 60 s is capped at 60."""
    assert RETRY_AFTER_CAP == 60.0
    assert classify(429, RATE_LIMIT_V2_BODY, batch(8), retry_after=header).retry_after == 60.0


def test_retry_after_http_date() -> None:
    """A Retry-After HTTP-date is turned into the seconds until that date."""
    header = email.utils.formatdate(time.time() + 30, usegmt=True)
    value = classify(503, b"", batch(1), retry_after=header).retry_after
    assert value is not None
    assert 25.0 <= value <= 30.0


def test_retry_after_http_date_far_future_capped() -> None:
    """A far-future Retry-After date is capped at 60 s."""
    header = email.utils.formatdate(time.time() + 3600, usegmt=True)
    assert classify(503, b"", batch(1), retry_after=header).retry_after == 60.0


def test_retry_after_http_date_in_past_is_zero() -> None:
    """A Retry-After date in the past means no extra wait."""
    header = email.utils.formatdate(time.time() - 3600, usegmt=True)
    assert classify(503, b"", batch(1), retry_after=header).retry_after == 0


@pytest.mark.parametrize("header", [None, "", "soon", "-5", "1.5.2"])
def test_retry_after_absent_or_malformed_is_none(header: Any) -> None:
    """A missing or malformed Retry-After is ignored."""
    assert classify(503, b"", batch(1), retry_after=header).retry_after is None


# --- transient --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (500, Status.FAILED),
        (502, Status.FAILED),
        (503, Status.FAILED),
        (504, Status.FAILED),
        (408, Status.TIMEOUT),
        (302, Status.UNKNOWN),
        (100, Status.UNKNOWN),
    ],
)
def test_transient_statuses_back_off(status: int, expected: Status) -> None:
    """5xx, 408 and 1xx/3xx back off the whole batch with the matching status."""
    for body in (b"", b"<html>Bad Gateway</html>", json.dumps({"code": status})):
        d = classify(status, body, batch(4))
        assert d.action is Action.BACKOFF
        assert d.status is expected
        assert d.status_code == status
        assert d.drop_indices == frozenset()
        assert d.reason is None


def test_500_error_text_kept() -> None:
    """A 5xx JSON error text is kept in the decision."""
    d = classify(500, b'{"code": 500, "error": "internal"}', batch(1))
    assert d.error == "internal"


def test_classify_error_timeout() -> None:
    """A RequestTimeoutError backs off with status Timeout and code 0."""
    d = classify_error(RequestTimeoutError("read timed out"))
    assert d.action is Action.BACKOFF
    assert d.status is Status.TIMEOUT
    assert str(d.status) == "Timeout"
    assert d.status_code == 0
    assert d.error is not None
    assert "RequestTimeoutError" in d.error
    assert "read timed out" in d.error


@pytest.mark.parametrize(
    "exc", [ConnectionFailedError("refused"), OSError("reset"), RuntimeError("x")]
)
def test_classify_error_connection_is_system_error(exc: BaseException) -> None:
    """A connection failure (or anything else) backs off with status SystemError."""
    d = classify_error(exc)
    assert d.action is Action.BACKOFF
    assert d.status is Status.SYSTEM_ERROR
    assert str(d.status) == "SystemError"
    assert d.status_code == 0


def test_decision_is_frozen() -> None:
    """A Decision cannot be changed."""
    d = classify(200, OK_BODY, batch(1))
    assert isinstance(d, Decision)
    with pytest.raises(dataclasses.FrozenInstanceError):
        d.action = Action.DROP_ALL  # type: ignore[misc]


def test_classify_does_not_change_batch() -> None:
    """classify leaves the batch it is given unchanged."""
    events = rate_limited_batch()
    snapshot = json.dumps(events)
    classify(429, RATE_LIMIT_BATCH_BODY, events)
    classify(400, SILENCED_BODY, events)
    assert json.dumps(events) == snapshot


# --- RetryPolicy ------------------------------------------------------------------------------


def test_policy_default_is_legacy_schedule() -> None:
    """The default policy is the legacy 12-retry schedule."""
    policy = RetryPolicy()
    assert policy.timeouts == (100, 100, 200, 200, 400, 400, 800, 800, 1600, 1600, 3200, 3200)
    assert policy.max_retries == 12


def test_policy_delay_in_seconds_per_attempt() -> None:
    """delay(attempt) is the schedule entry in seconds."""
    policy = RetryPolicy()
    delays = [policy.delay(i) for i in range(12)]
    assert delays == [0.1, 0.1, 0.2, 0.2, 0.4, 0.4, 0.8, 0.8, 1.6, 1.6, 3.2, 3.2]


def test_policy_delay_none_when_spent() -> None:
    """delay returns None once every retry is used."""
    policy = RetryPolicy((100, 200))
    assert policy.delay(2) is None
    assert policy.delay(50) is None
    assert RetryPolicy().delay(12) is None


def test_policy_retry_after_is_a_floor() -> None:
    """Retry-After raises the delay to at least its value, never lowers it."""
    policy = RetryPolicy((100, 5000))
    assert policy.delay(0, retry_after=2.0) == 2.0
    assert policy.delay(1, retry_after=2.0) == 5.0
    assert policy.delay(0, retry_after=0.0) == 0.1
    assert policy.delay(2, retry_after=2.0) is None


def test_policy_is_last() -> None:
    """is_last is true only for the last retry of the schedule."""
    policy = RetryPolicy((1, 2, 3))
    assert [policy.is_last(i) for i in range(4)] == [False, False, True, False]
    assert RetryPolicy().is_last(11)


def test_policy_is_frozen_and_hashable() -> None:
    """RetryPolicy is immutable and can be shared."""
    policy = RetryPolicy((1, 2))
    with pytest.raises(dataclasses.FrozenInstanceError):
        policy.timeouts = ()  # type: ignore[misc]
    assert policy == RetryPolicy((1, 2))
    assert hash(policy) == hash(RetryPolicy((1, 2)))


def test_policy_empty_schedule() -> None:
    """An empty schedule gives no retries: delay is None, nothing is last."""
    policy = RetryPolicy(())
    assert policy.max_retries == 0
    assert policy.delay(0) is None
    assert policy.delay(0, retry_after=1.0) is None
    assert not policy.is_last(0)


def test_policy_fractional_and_zero_entries() -> None:
    """Zero and fractional millisecond entries convert to seconds."""
    policy = RetryPolicy((0, 1.5))
    assert policy.delay(0) == 0.0
    assert policy.delay(1) == 0.0015


def test_429_holds_other_events_of_a_listed_user() -> None:
    """An event whose user was throttled at another index waits with it, not resent at once."""
    batch = [{"user_id": "u1"}, {"user_id": "u1"}, {"user_id": "u2"}]
    d = classify(429, {"code": 429, "throttled_events": [0], "throttled_users": {}}, batch)
    assert d.action is Action.THROTTLE and d.hold_indices == frozenset({0, 1})
