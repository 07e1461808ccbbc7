"""Validation over real HTTP, in the real API's order and with its bodies."""

from __future__ import annotations

import gzip
import json
import time
from typing import Any, Dict, Iterator

import pytest

from amplitude_legacy.testing import Collector
from amplitude_legacy.testing._validation import INVALID_IDS

from ._http import body, event, send_json

MISSING_API_KEY = {
    "code": 400,
    "error": "Request missing required field",
    "missing_field": "api_key",
}
MISSING_EVENTS = {"code": 400, "error": "Request missing required field", "missing_field": "events"}
TOO_LARGE = {"code": 413, "error": "Payload too large"}
INVALID_JSON = {"code": 400, "error": "Invalid JSON request body"}


@pytest.fixture
def small() -> Iterator[Collector]:
    """A collector with small limits so that limit tests stay fast."""
    with Collector(
        api_keys=["good-key", "test-key"],
        max_body_bytes=1000,
        batch_max_body_bytes=3000,
        max_events=3,
    ) as collector:
        yield collector


def padded(size: int) -> bytes:
    """A valid one-event body of exactly ``size`` bytes."""
    data = body(event(0, event_properties={"pad": ""}))
    data = body(event(0, event_properties={"pad": "x" * (size - len(data))}))
    assert len(data) == size
    return data


def rejected(collector: Collector, data: bytes, **kwargs: Any) -> Dict[str, Any]:
    """Send ``data``, expect a 400, and check that nothing was ingested."""
    before = len(collector.events)
    answer = send_json(collector, data, **kwargs)
    assert answer["code"] == 400, answer
    assert len(collector.events) == before
    return dict(answer)


def amplitude_part(answer: Dict[str, Any]) -> Dict[str, Any]:
    """The body without the collector's own explanations (``detail``, ``event_errors``)."""
    return {k: v for k, v in answer.items() if k not in ("detail", "event_errors")}


def test_success_body(amplitude_collector: Collector) -> None:
    """A valid request gets 200 with events_ingested, the raw body length and a ms timestamp."""
    data = body(event(0), event(1), options={}, client_upload_time="x", extra={"a": 1})
    before = int(time.time() * 1000)
    answer = send_json(amplitude_collector, data)
    after = int(time.time() * 1000)
    assert set(answer) == {"code", "events_ingested", "payload_size_bytes", "server_upload_time"}
    assert answer["events_ingested"] == 2
    assert answer["payload_size_bytes"] == len(data)
    assert before <= answer["server_upload_time"] <= after
    assert amplitude_collector.events == [event(0), event(1)]


def test_batch_route_and_query_string(amplitude_collector: Collector) -> None:
    """/batch is served like /2/httpapi and a query string is ignored on both."""
    assert send_json(amplitude_collector, body(event(0)), path="/batch?x=1")["code"] == 200
    assert send_json(amplitude_collector, body(event(1)), path="/2/httpapi?y=2")["code"] == 200
    assert len(amplitude_collector.events) == 2


@pytest.mark.parametrize("path", ["/", "/2/httpapi/", "/httpapi", "/identify", "/batch/x"])
def test_unknown_path(amplitude_collector: Collector, path: str) -> None:
    """Any other path gets 400 "Invalid request path"."""
    answer = send_json(amplitude_collector, body(event(0)), path=path)
    assert answer == {"code": 400, "error": "Invalid request path"}


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_non_post_method(amplitude_collector: Collector, method: str) -> None:
    """A known path with a method other than POST gets 405 and ingests nothing."""
    answer = send_json(amplitude_collector, body(event(0)), method=method)
    assert answer == {"code": 405, "error": "Method Not Allowed"}
    assert amplitude_collector.events == []


def test_body_size_limit_http_api(small: Collector) -> None:
    """/2/httpapi accepts a body of exactly max_body_bytes and answers 413 one byte over."""
    assert send_json(small, padded(1000))["code"] == 200
    assert send_json(small, padded(1001)) == TOO_LARGE
    assert len(small.events) == 1


def test_body_size_limit_batch(small: Collector) -> None:
    """/batch has its own, larger limit."""
    assert send_json(small, padded(2000), path="/batch")["code"] == 200
    assert send_json(small, padded(3001), path="/batch") == TOO_LARGE
    assert send_json(small, padded(2000)) == TOO_LARGE


def test_size_limit_applies_to_decompressed_body(small: Collector) -> None:
    """A gzip body small on the wire but over the limit once inflated gets 413."""
    data = padded(1001)
    assert len(gzip.compress(data)) < 1000
    assert send_json(small, data, compress=True) == TOO_LARGE
    assert small.events == []


def test_gzip_body(amplitude_collector: Collector) -> None:
    """A gzip body is inflated; payload_size_bytes is the length as received."""
    data = body(*(event(i) for i in range(50)))
    answer = send_json(amplitude_collector, data, compress=True)
    assert answer["events_ingested"] == 50
    assert answer["payload_size_bytes"] == len(gzip.compress(data))
    assert answer["payload_size_bytes"] < len(data)
    assert amplitude_collector.events[49] == event(49)


@pytest.mark.parametrize("raw", [b"not gzip at all", gzip.compress(body(event(0)))[:-12]])
def test_corrupt_or_truncated_gzip(amplitude_collector: Collector, raw: bytes) -> None:
    """A body that does not inflate is invalid."""
    headers = {"Content-Type": "application/json", "Content-Encoding": "gzip"}
    answer = rejected(amplitude_collector, raw, headers=headers)
    assert amplitude_part(answer) == INVALID_JSON
    assert "does not inflate" in answer["detail"]


def test_empty_body(amplitude_collector: Collector) -> None:
    """An empty body gets 400 "Missing request body"."""
    assert rejected(amplitude_collector, b"") == {"code": 400, "error": "Missing request body"}


@pytest.mark.parametrize(
    "content_type", ["application/json; charset=UTF-8", "Application/JSON;charset=utf-8"]
)
def test_content_type_with_charset(amplitude_collector: Collector, content_type: str) -> None:
    """A charset parameter (as the Python SDK sends) and any case are accepted."""
    answer = send_json(amplitude_collector, body(event(0)), headers={"Content-Type": content_type})
    assert answer["code"] == 200


@pytest.mark.parametrize("headers", [{}, {"Content-Type": "application/x-www-form-urlencoded"}])
def test_content_type_required(amplitude_collector: Collector, headers: Dict[str, str]) -> None:
    """A body that is not declared application/json is refused."""
    answer = rejected(amplitude_collector, body(event(0)), headers=headers)
    assert answer == {"code": 400, "error": "Invalid Content-Type: expected application/json"}


@pytest.mark.parametrize(
    ("raw", "detail"),
    [
        (b"{", "Expecting property name enclosed in double quotes: line 1 column 2 (char 1)"),
        (b"\xff\xfe\x00", "the body is not UTF-8: byte 0xff at offset 0"),
        (b"[1, 2]", "the body is a JSON array; expected an object with api_key and events"),
        (b'"text"', "the body is a JSON string; expected an object with api_key and events"),
    ],
)
def test_invalid_json(amplitude_collector: Collector, raw: bytes, detail: str) -> None:
    """A body that is not a JSON object gets 400 "Invalid JSON request body" and says why."""
    assert rejected(amplitude_collector, raw) == {**INVALID_JSON, "detail": detail}


@pytest.mark.parametrize(
    "top", [{"events": []}, {"api_key": 12, "events": []}, {"api_key": "", "events": []}]
)
def test_missing_api_key(amplitude_collector: Collector, top: Dict[str, Any]) -> None:
    """A missing, empty or non-string api_key is the request-level missing_field body."""
    assert rejected(amplitude_collector, json.dumps(top).encode()) == MISSING_API_KEY


@pytest.mark.parametrize(
    "top", [{"api_key": "k"}, {"api_key": "k", "Events": []}, {"api_key": "k", "events": {}}]
)
def test_missing_events(amplitude_collector: Collector, top: Dict[str, Any]) -> None:
    """A missing or non-array events gets missing_field "events"."""
    assert rejected(amplitude_collector, json.dumps(top).encode()) == MISSING_EVENTS


def test_unknown_api_key(small: Collector) -> None:
    """A key outside the allow-list gets exactly "Invalid API key: <key>"."""
    answer = rejected(small, body(event(0), api_key="6eaecc157d0ff5a58c0b0d6df54307be"))
    assert answer == {"code": 400, "error": "Invalid API key: 6eaecc157d0ff5a58c0b0d6df54307be"}
    assert send_json(small, body(event(0), api_key="good-key"))["code"] == 200


def test_any_api_key_by_default(amplitude_collector: Collector) -> None:
    """Without an allow-list every non-empty key is accepted."""
    assert send_json(amplitude_collector, body(event(0), api_key="whatever"))["code"] == 200


def test_too_many_events(small: Collector) -> None:
    """More than max_events events get 413 and nothing is ingested."""
    assert send_json(small, body(*(event(i) for i in range(4)))) == {
        **TOO_LARGE,
        "detail": "4 events; at most 3",
    }
    assert small.events == []
    assert send_json(small, body(*(event(i) for i in range(3))))["events_ingested"] == 3


def test_default_event_limit_is_2000(amplitude_collector: Collector) -> None:
    """The default limit is the real API's 2000 events per request."""
    answer = send_json(amplitude_collector, body(*[event(0)] * 2001), path="/batch")
    assert amplitude_part(answer) == TOO_LARGE
    assert send_json(amplitude_collector, body(*[event(0)] * 2000))["events_ingested"] == 2000


def test_empty_events_array(amplitude_collector: Collector) -> None:
    """An empty events array gets 200 with events_ingested 0 by default."""
    data = body()
    answer = send_json(amplitude_collector, data)
    assert answer["events_ingested"] == 0
    assert answer["payload_size_bytes"] == len(data)


def test_empty_events_array_refused_when_configured() -> None:
    """With empty_events_ok=False an empty events array is a missing_field "events" 400."""
    with Collector(empty_events_ok=False) as collector:
        assert rejected(collector, body()) == MISSING_EVENTS


def test_event_not_an_object(amplitude_collector: Collector) -> None:
    """An element of events that is not an object gets 400 "Invalid event JSON"."""
    answer = rejected(amplitude_collector, body(event(0), "oops"))  # type: ignore[arg-type]
    assert answer == {
        "code": 400,
        "error": "Invalid event JSON",
        "detail": "event 1 is a JSON string, not an object",
    }


def test_every_offending_index_is_listed(amplitude_collector: Collector) -> None:
    """Each map lists every offending index; the first category's error string is used."""
    events = [
        event(0),
        event(1, event_type=None),
        event(2, user_id=None),
        event(3, user_id="null"),
        event(4, event_type=None, device_id="abc"),
        event(5, user_id="abc"),
        event(6, time="2024-01-01T00:00:00Z"),
        event(7, user_id=None, device_id=""),
    ]
    answer = rejected(amplitude_collector, body(*events))
    assert amplitude_part(answer) == {
        "code": 400,
        "error": "Request missing required field",
        "events_with_missing_fields": {"event_type": [1, 4], "user_id": [2, 7]},
        "events_with_invalid_fields": {"user_id": [3], "time": [6]},
        "events_with_invalid_id_lengths": {"device_id": [4], "user_id": [5]},
    }
    assert [(e["event"], e["field"], e["message"]) for e in answer["event_errors"]] == [
        (1, "event_type", "missing (required)"),
        (2, "user_id", "missing: an event needs a user_id or a device_id"),
        (3, "user_id", "'null' is not a usable id"),
        (4, "event_type", "missing (required)"),
        (4, "device_id", "3 characters long, shorter than the minimum of 5"),
        (5, "user_id", "3 characters long, shorter than the minimum of 5"),
        (6, "time", "must be an integer, not a JSON string"),
        (7, "user_id", "missing: an event needs a user_id or a device_id"),
    ]


def test_first_index_only() -> None:
    """With first_index_only each field lists only its first offending index."""
    with Collector(first_index_only=True) as collector:
        events = [event(0, time="x"), event(1), event(2, time=1.5), event(3, event_type=None)]
        answer = rejected(collector, body(*events))
        assert [e["event"] for e in answer["event_errors"]] == [0, 2, 3]  # all, for people
        assert amplitude_part(answer) == {
            "code": 400,
            "error": "Request missing required field",
            "events_with_missing_fields": {"event_type": [3]},
            "events_with_invalid_fields": {"time": [0]},
        }


def test_invalid_fields_error_string(amplitude_collector: Collector) -> None:
    """Invalid values alone give "Invalid field values on some events"."""
    answer = rejected(amplitude_collector, body(event(0), event(1, time=1.5)))
    assert amplitude_part(answer) == {
        "code": 400,
        "error": "Invalid field values on some events",
        "events_with_invalid_fields": {"time": [1]},
    }


def test_short_id_even_with_the_other_id(amplitude_collector: Collector) -> None:
    """A short user_id is a 400 even when a valid device_id is present (observed behaviour)."""
    answer = rejected(amplitude_collector, body(event(0, user_id="1234", device_id="device-1")))
    assert answer == {
        "code": 400,
        "error": "Invalid id length for user_id or device_id",
        "events_with_invalid_id_lengths": {"user_id": [0]},
        "event_errors": [
            {
                "event": 0,
                "field": "user_id",
                "message": "4 characters long, shorter than the minimum of 5",
                "length": 4,
                "min_id_length": 5,
            }
        ],
    }


def test_short_id_is_explained_in_the_log(
    amplitude_collector: Collector, caplog: pytest.LogCaptureFixture
) -> None:
    """The collector's log line names the event, field, length and minimum; the key is masked."""
    api_key = "6eaecc157d0ff5a58c0b0d6df54307be"
    data = body(event(0), event(1, device_id="ab"), api_key=api_key, options={"min_id_length": 3})
    rejected(amplitude_collector, data)
    [record] = [r for r in caplog.records if r.name == "amplitude_legacy.testing"]
    assert record.getMessage() == (
        "collector answered 400 to POST /2/httpapi: Invalid id length for user_id or device_id"
        " (event 1 device_id: 2 characters long, shorter than the minimum of 3)"
    )
    assert rejected(amplitude_collector, data)["event_errors"][0]["min_id_length"] == 3
    with Collector(api_keys=["good-key"]) as strict:
        rejected(strict, body(event(0), api_key=api_key))
    assert api_key not in caplog.text
    assert "Invalid API key: ****07be" in caplog.text


def test_min_id_length_option(amplitude_collector: Collector) -> None:
    """options.min_id_length overrides the default minimum of 5."""
    data = body(event(0, user_id="abc"), options={"min_id_length": 3})
    assert send_json(amplitude_collector, data)["code"] == 200
    data = body(event(0, user_id="ab"), options={"min_id_length": 3})
    assert rejected(amplitude_collector, data)["events_with_invalid_id_lengths"] == {"user_id": [0]}


def test_min_id_length_setting() -> None:
    """The collector's min_id_length replaces the default of 5."""
    with Collector(min_id_length=2) as collector:
        assert send_json(collector, body(event(0, user_id="ab")))["code"] == 200


@pytest.mark.parametrize("field", ["user_id", "device_id"])
@pytest.mark.parametrize(
    "value",
    [
        *sorted(INVALID_IDS),
        "NULL",
        "Undefined",
        "00000",
        "0000-0000",
        "-----",
        "-0-0-",
        12345,
        True,
    ],
)
def test_invalid_ids(amplitude_collector: Collector, field: str, value: Any) -> None:
    """Listed placeholder ids (any case), all-zero ids and non-strings are invalid fields."""
    fields: Dict[str, Any] = {"user_id": None, field: value}
    answer = rejected(amplitude_collector, body(event(0, **fields)))
    assert answer["events_with_invalid_fields"] == {field: [0]}


@pytest.mark.parametrize("value", ["00a00", "0-0-1", "10000", "-000x", "0000-0000-000b"])
def test_an_id_with_anything_but_zeros_and_dashes_is_usable(
    amplitude_collector: Collector, value: str
) -> None:
    """Only zeros and dashes make an unlisted id invalid: one other character is enough."""
    answer = send_json(amplitude_collector, body(event(0, user_id=value)))
    assert answer["code"] == 200, answer


def test_every_listed_invalid_id_is_present() -> None:
    """The invalid-id list is exactly the documented one."""
    assert {
        "anonymous",
        "nil",
        "none",
        "null",
        "n/a",
        "na",
        "undefined",
        "unknown",
        '""',
        "00000000-0000-0000-0000-000000000000",
        "{}",
        "lmy47d",
        "0",
        "-1",
    } == INVALID_IDS


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("event_type", ""),
        ("event_type", 7),
        ("event_type", "[Amplitude] Revenue (Verified)"),
        ("event_type", "[Amplitude] Start Session"),
        ("time", "1700000000000"),
        ("time", 1.7e12),
        ("time", True),
        ("event_id", "1"),
        ("session_id", 1.0),
        ("quantity", 1.5),
        ("price", "9.99"),
        ("revenue", False),
        ("location_lat", "48.1"),
        ("location_lng", [1]),
        ("event_properties", []),
        ("user_properties", "x"),
        ("groups", 1),
        ("group_properties", [{}]),
    ],
)
def test_invalid_field_values(amplitude_collector: Collector, field: str, value: Any) -> None:
    """Wrong types, an empty or reserved event_type are listed under events_with_invalid_fields."""
    answer = rejected(amplitude_collector, body(event(0), event(1, **{field: value})))
    assert answer["events_with_invalid_fields"] == {field: [1]}


def test_valid_optional_fields(amplitude_collector: Collector) -> None:
    """Correctly typed optional fields, nulls and unknown keys are accepted."""
    full = event(
        0,
        device_id="device-0001",
        event_id=3,
        session_id=-1,
        price=-1,
        quantity=2,
        revenue=9.5,
        location_lat=48.1,
        location_lng=11,
        event_properties={"list": [1, {"a": None}]},
        user_properties={"$set": {"plan": "pro"}},
        groups={"org": ["a", "b"]},
        group_properties={},
        productId="p",
        library="amplitude-node/1.10.2",
        made_up_field={"x": 1},
    )
    nulls = event(1, session_id=None, event_properties=None)
    nulls["price"] = None
    assert send_json(amplitude_collector, body(full, nulls))["events_ingested"] == 2


def nested(depth: int) -> Dict[str, Any]:
    """A property object nested ``depth`` levels deep (a flat object is depth 1)."""
    value: Dict[str, Any] = {"leaf": 1}
    for _ in range(depth - 1):
        value = {"k": value}
    return value


def test_nesting_depth(amplitude_collector: Collector) -> None:
    """Property objects may nest 40 levels (arrays count as a level); 41 is an invalid field."""
    ok = body(event(0, event_properties=nested(40), user_properties={"l": [nested(38)]}))
    assert send_json(amplitude_collector, ok)["code"] == 200
    deep = body(
        event(0, event_properties=nested(41)), event(1, user_properties={"l": [nested(39)]})
    )
    assert rejected(amplitude_collector, deep)["events_with_invalid_fields"] == {
        "event_properties": [0],
        "user_properties": [1],
    }


def test_a_400_ingests_nothing(amplitude_collector: Collector) -> None:
    """One bad event rejects the whole request: the valid ones are not ingested either."""
    rejected(amplitude_collector, body(event(0), event(1, event_type=None), event(2)))
    assert amplitude_collector.requests[0].status == 400
