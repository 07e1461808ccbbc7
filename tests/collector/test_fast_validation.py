"""The validator's quick paths against its full checks, request by request (differential).

``check_request`` accepts the common valid request from orjson's parse after one quick pass
(``_accept_plain``), and ``validate_events`` answers "all valid" after one quick pass
(``_plain_events``); anything else goes through the full checks on the stdlib's parse. Here
every request of a corpus (valid and invalid events of every field kind, JSON edge cases,
integers beyond 64 bits, deep nesting, and seeded random corruptions of valid bodies) gets
the same verdict, compared by ``repr`` (so ``1`` and ``1.0`` or ``True`` differ), with the
quick paths and without them.
"""

from __future__ import annotations

import enum
import gzip
import json
import random
from typing import Any, Callable, Dict, Iterator, List, Tuple

import orjson  # the quick parse needs it; the test extra installs it
import pytest

from amplitude_legacy.testing import _validation
from amplitude_legacy.testing._validation import (
    INVALID_IDS,
    RESERVED_EVENT_TYPES,
    Rules,
    check_request,
    validate_events,
)

JSON = {"content-type": "application/json"}
RULES = [
    Rules(),
    Rules(api_keys=frozenset({"key-1"}), max_events=3, empty_events_ok=False),
    Rules(min_id_length=0, first_index_only=True, max_body_bytes=5000),
    Rules(min_id_length=12),
]
#: Values tried in every field of an event.
VALUES: List[Any] = [
    None, "", "x", "abcd", "abcde", "user-0001", "User-Longer-Id", "null", "NULL", "0000-00",
    "000000", "-1", "[Amplitude] Revenue", "ünïcödé-ïd", 0, 1, -1, 5, 2**63 - 1, 2**63, 2**64,
    -(2**63) - 1, 2**70, 1.5, -0.0, 1e18, 1e19, -1e19, 9.3e18, True, False, [], [1, 2],
    {}, {"a": 1}, {"a": {"b": [1, {"c": 2**64}]}}, {"a": 1e300}, [2**65],
]  # fmt: skip
FIELDS = [
    "event_type", "user_id", "device_id", "time", "event_id", "session_id", "quantity",
    "price", "revenue", "location_lat", "location_lng", "event_properties",
    "user_properties", "groups", "group_properties", "insert_id", "platform", "extra",
]  # fmt: skip


def base_event(n: int) -> Dict[str, Any]:
    """A valid event, like the benchmark's."""
    return {
        "event_type": "bench_event",
        "user_id": f"user-{n % 1000:04d}",
        "time": 1_700_000_000_000 + n,
        "event_properties": {"seq": n, "page": "/docs", "plan": "pro"},
        "insert_id": f"3b587e89-bd0d-4f9f-8156-{n:012d}",
        "library": "amplitude-legacy-python/0.1.0",
    }


def nested(depth: int) -> Any:
    """A list nested ``depth`` levels deep (``depth`` 1 is ``[]``)."""
    value: Any = []
    for _ in range(depth - 1):
        value = [value]
    return value


def deep_text(depth: int) -> str:
    return "[" * depth + "]" * depth


def payload_body(events: Any, api_key: Any = "key-1", **extra: Any) -> bytes:
    return json.dumps({"api_key": api_key, "events": events, **extra}).encode()


def corpus() -> Iterator[Tuple[str, bytes]]:
    """(name, body) pairs: every case the quick paths could decide differently."""
    yield "valid", payload_body([base_event(n) for n in range(5)])
    yield "one event", payload_body([base_event(7)])
    yield "no events", payload_body([])
    for field in FIELDS:
        for index, value in enumerate(VALUES):
            event = base_event(1)
            if value is None and field in event:
                del event[field]
            else:
                event[field] = value
            yield f"{field}={value!r}", payload_body([base_event(0), event])
            if index % 5 == 0:
                yield f"{field}={value!r} second", payload_body([event, base_event(2)])
    for invalid in [*sorted(INVALID_IDS), "0-0-0", "00000000", "-----", "0-0-1", "00a00"]:
        yield f"id {invalid}", payload_body([{**base_event(0), "user_id": invalid}])
        yield f"device {invalid}", payload_body([{"event_type": "e", "device_id": invalid.upper()}])
    for reserved in sorted(RESERVED_EVENT_TYPES):
        yield f"type {reserved}", payload_body([{**base_event(0), "event_type": reserved}])
    yield "device only", payload_body([{"event_type": "e", "device_id": "device-1"}])
    yield "both ids empty", payload_body([{"event_type": "e", "user_id": "", "device_id": ""}])
    yield "device, no user", payload_body([{"event_type": "e", "user_id": "", "device_id": "d-12"}])
    yield "not an object", payload_body([base_event(0), 5])
    yield "list event", payload_body([[1]])
    for depth in (38, 39, 40, 41, 42, 99, 100, 101, 150, 990, 1000, 1010, 1030, 3000):
        deep = deep_text(depth)
        for where in ("event_properties", "extra"):
            event = json.dumps(base_event(0))[:-1] + f', "{where}": {{"a": {deep}}}}}'
            yield f"depth {depth} in {where}", f'{{"api_key": "k", "events": [{event}]}}'.encode()
        top = f'{{"api_key": "k", "events": [], "x": {deep}}}'
        yield f"depth {depth} in the payload", top.encode()
    deep_props = {**base_event(0), "user_properties": {"a": nested(45)}}
    yield "deep props value", payload_body([deep_props])
    for key in ("api_key", "events", "options"):
        for value in VALUES:
            data = {"api_key": "key-1", "events": [base_event(0)], key: value}
            yield f"{key}={value!r}", json.dumps(data).encode()
    for length in (0, 3, 9, 2**64, -1, 1.0, 2.5, None, "5", 2**63):
        options = {"min_id_length": length}
        yield f"min_id_length={length!r}", payload_body([base_event(0)], options=options)
    yield "too many", payload_body([base_event(n) for n in range(4)])
    yield "unknown key", payload_body([base_event(0)], api_key="other")
    # JSON the two parsers might read apart.
    texts = [
        '{"api_key":"k","events":[{"event_type":"e","user_id":"user-1","time":' + number + "}]}"
        for number in (
            "18446744073709551615", "18446744073709551616", "-9223372036854775808",
            "-9223372036854775809", "1e400", "-1e400", "1e-400", "NaN", "Infinity",
            "-Infinity", "1.0", "1E3", "-0", "-0.0", "01", "1.", ".5", "1e", "0x10",
            "123456789012345678901234567890",
        )
    ]  # fmt: skip
    for text in texts:
        yield f"number {text}", text.encode()
    valid = payload_body([base_event(0)])
    yield "BOM", b"\xef\xbb\xbf" + valid
    yield "whitespace", b" \t\r\n" + valid + b"\n "
    yield "vertical tab", b"\x0b" + valid
    yield "nbsp", b"\xc2\xa0" + valid
    yield "trailing", valid + b"x"
    yield "two documents", valid + valid
    twice = b'{"event_type":"e","user_id":"user-1","user_id":""}'
    yield "duplicate keys", b'{"api_key":"k","events":[],"events":[' + twice + b"]}"
    twice = b'{"event_type":"e","user_id":"","user_id":"user-1"}'
    yield "duplicate keys 2", b'{"api_key":"k","events":[' + twice + b"]}"
    for string in (
        r"\ud800", r"\udc00", r"\ud83d\ude00", r"\u0000", "\x01", "\x7f", "\\/", r"\x41",
        "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xc0\xaf", "\xff",
    ):  # fmt: skip
        raw = string.encode("latin-1") if string[0] in "\xed\xf4\xc0\xff" else string.encode()
        yield (
            f"string {string!r}",
            (
                b'{"api_key":"k","events":[{"event_type":"e","user_id":"user-1","p":"'
                + raw
                + b'"}]}'
            ),
        )
        yield (
            f"id {string!r}",
            (b'{"api_key":"k","events":[{"event_type":"e","user_id":"user-1' + raw + b'"}]}'),
        )
    yield "array", b"[]"
    yield "string", b'"x"'
    yield "empty object", b"{}"
    # Seeded corruptions of valid bodies: a byte changed, cut, or a token put in.
    rng = random.Random(16)
    sources = [payload_body([base_event(n) for n in range(3)]), texts[0].encode()]
    tokens = [b"", b"0", b"-", b"1e999", b"\x00", b"\xff", b'"', b"{", b"}", b"[", b"]", b",",
              b":", b"null", b"true", b"2e19", b"18446744073709551616", b"\\"]  # fmt: skip
    for index in range(600):
        data = bytearray(rng.choice(sources))
        at = rng.randrange(len(data))
        choice = index % 3
        if choice == 0:
            data[at] = rng.randrange(256)
        elif choice == 1:
            del data[at:]
        else:
            data[at:at] = rng.choice(tokens)
        yield f"corrupt {index}", bytes(data)


def full_checks_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Turn both quick paths off: the validator as it was before them."""
    monkeypatch.setattr(_validation, "_orjson", None)
    monkeypatch.setattr(_validation, "_plain_events", lambda events, min_id_length: False)


def verdicts(rules: Rules, cases: List[Tuple[str, bytes]]) -> List[str]:
    found = []
    for name, data in cases:
        zipped = gzip.compress(data, mtime=0)
        for headers, raw in ((JSON, data), ({**JSON, "content-encoding": "gzip"}, zipped)):
            found.append(f"{name}: {check_request('POST', '/2/httpapi', headers, raw, rules)!r}")
    return found


@pytest.mark.parametrize("rules", RULES, ids=lambda rules: repr(rules)[6:60])
def test_check_request_gives_the_full_checks_verdict(
    rules: Rules, monkeypatch: pytest.MonkeyPatch
) -> None:
    cases = list(corpus())
    assert _validation._orjson is orjson
    quick = verdicts(rules, cases)
    full_checks_only(monkeypatch)
    full = verdicts(rules, cases)
    assert len(quick) == len(full)
    for got, want in zip(quick, full):
        assert got == want
    # The corpus covers both answers, and the quick path takes the valid requests.
    assert sum(": Verdict(path='/2/httpapi', status=200" in v for v in full) > 20
    assert sum(", status=400" in v for v in full) > 1000


def test_the_quick_parse_takes_the_common_request() -> None:
    """A valid benchmark-like request is decided by orjson's parse and the quick pass."""
    data = payload_body([base_event(n) for n in range(50)])
    accepted = _validation._accept_plain(data, Rules())
    assert accepted is not None
    payload, events, api_key = accepted
    assert (payload, events, api_key) == (json.loads(data), json.loads(data)["events"], "key-1")
    # Integers beyond 64 bits (parsed by orjson as floats) are left to the full checks.
    assert _validation._accept_plain(payload_body([base_event(0)], extra=2**64), Rules()) is None
    big_time = {**base_event(0), "time": 2**64}
    assert _validation._accept_plain(payload_body([big_time]), Rules()) is None
    verdict = check_request("POST", "/2/httpapi", JSON, payload_body([big_time]), Rules())
    assert verdict.status == 200 and verdict.events is not None
    assert type(verdict.events[0]["time"]) is int


class Kind(enum.IntEnum):
    ONE = 1


class Text(str):
    pass


@pytest.mark.parametrize("min_id_length", [0, 5, 9])
def test_validate_events_gives_the_full_checks_answer(
    min_id_length: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Events built in Python (the CLI validates these) may hold any value, not only JSON's."""
    odd: List[Any] = [(1, 2), Kind.ONE, Text("user-12345"), b"bytes", 1 + 2j, float("nan"),
                      float("inf"), -float("inf"), object]  # fmt: skip
    lists: List[List[Any]] = [[base_event(0)], []]
    for field in FIELDS:
        for value in VALUES + odd:
            lists.append([base_event(0), {**base_event(1), field: value}])
            lists.append([{**base_event(1), field: value}])
    lists.append([{**base_event(0), "event_properties": {"a": nested(39)}}])
    lists.append([{**base_event(0), "event_properties": {"a": nested(40)}}])
    lists.append([{**base_event(0), "event_properties": {"a": (nested(60),)}}])
    calls: List[Callable[[], Any]] = [
        (lambda events=events, flag=flag: validate_events(events, min_id_length, flag))
        for events in lists
        for flag in (False, True)
    ]
    quick = [repr(call()) for call in calls]
    full_checks_only(monkeypatch)
    full = [repr(call()) for call in calls]
    assert quick == full
    assert quick.count("None") > 10
