"""What one Spark task runs, without Spark: rows to events, outcomes, chunks, dead letters.

``PartitionSender`` is called here as Spark calls it on an executor, with rows as the JVM
writes them (event JSON, then ``"\\n" + id`` when the row has one), and sends to the bundled
collector over loopback.
"""

from __future__ import annotations

import gc
import hashlib
import importlib.util
import json
import math
import pickle
import sys
import uuid
from concurrent.futures import Future
from types import SimpleNamespace
from typing import Any, Callable, List, Tuple

import pytest

from amplitude_legacy import MiddlewarePayload
from amplitude_legacy._bulk_gc import BULK_GC_THRESHOLD as GC_THRESHOLD
from amplitude_legacy._options import resolve_options
from amplitude_legacy.spark._events import (
    Summary,
    event_from_json,
    hashed_insert_id,
    outcome_kind,
    row_loader,
    split_line,
)
from amplitude_legacy.spark._partition import PartitionSender, load_middleware
from amplitude_legacy.testing import Collector
from tests.spark._helpers import explode_on_request, skip_health_checks

API_KEY = "SECRET-KEY-1234567890"


def row(event: dict, insert_id: str | None = "id-0") -> str:
    """A row as the JVM writes it: compact JSON, then the id after a line break (if any)."""
    line = json.dumps(event, separators=(",", ":"))
    return line if insert_id is None else f"{line}\n{insert_id}"


def flatten(chunks: List[Tuple[List[Any], ...]]) -> List[Tuple[Any, ...]]:
    """The chunks back into one tuple per row, in order: ``(insert_id, status, reason,
    status_code, error)``, then the dead letter when kept (the runs expanded, counts left out)."""
    rows = []
    for ids, runs, *letters, _counts in chunks:
        results = [result for n, *result in runs for _ in range(n)]
        assert len(results) == len(ids)  # the runs cover the chunk's rows exactly
        rows += [(i, *r, *extra) for i, r, *extra in zip(ids, results, *letters)]
    return rows


# ---------------------------------------------------------------------------- rows to events


def test_json_string_columns_are_parsed_and_the_id_is_set() -> None:
    """Object fields given as JSON strings become objects; the row's id becomes insert_id."""
    line = json.dumps({"event_type": "e", "event_properties": '{"a": 1}', "groups": {"org": "x"}})
    event, problem = event_from_json(line, "id-7")
    assert problem is None
    assert event == {
        "event_type": "e",
        "event_properties": {"a": 1},
        "groups": {"org": "x"},
        "insert_id": "id-7",
    }


def test_a_row_that_cannot_be_an_event_says_why() -> None:
    """Broken JSON in an object column, or a null id, makes the row invalid, with the reason."""
    _, problem = event_from_json(json.dumps({"user_properties": "{oops"}), "id-1")
    assert problem is not None and "'user_properties' is not valid JSON" in problem
    _, problem = event_from_json(json.dumps({"event_type": "e"}), None)
    assert problem == "Invalid event: its insert_id_column value is null"


def test_a_row_splits_into_its_json_and_its_id_or_its_hash() -> None:
    """The id follows the first line break, whatever it holds; without one, the content hash."""
    line = json.dumps({"event_type": "a\nb", "user_id": "u"}, separators=(",", ":"))
    assert "\n" not in line  # JSON escapes line breaks, as the JVM's to_json does
    assert split_line(f"{line}\nid\nwith breaks", hash_ids=True) == (line, "id\nwith breaks")
    assert split_line(f"{line}\n", hash_ids=False) == (line, "")
    assert split_line(line, hash_ids=False) == (line, None)
    assert split_line(line, hash_ids=True) == (line, hashed_insert_id(line))


def test_the_hash_is_the_documented_rule() -> None:
    """SHA-256 of the namespace line and the JSON's UTF-8 bytes, 128 bits as a UUID (v8)."""
    line = '{"event_type":"Caf\u00e9 \u2615","user_id":"u-1"}'
    h = hashlib.sha256(("amplitude_legacy.spark/insert_id/v1\n" + line).encode()).hexdigest()
    variant = "89ab"[int(h[16], 16) & 3]
    assert hashed_insert_id(line) == f"{h[:8]}-{h[8:12]}-8{h[13:16]}-{variant}{h[17:20]}-{h[20:32]}"
    assert str(uuid.UUID(hashed_insert_id(line))) == hashed_insert_id(line)
    assert uuid.UUID(hashed_insert_id(line)).version == 8


def test_rows_are_parsed_by_orjson_only_where_it_reads_them_exactly(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """orjson when installed; an integer beyond 64 bits (which orjson reads as a float) is
    read exactly when the schema may hold one."""
    monkeypatch.setitem(sys.modules, "orjson", None)  # as if the speed extra were missing
    assert row_loader(big_ints=True) is json.loads
    assert row_loader(big_ints=False) is json.loads
    monkeypatch.undo()
    if importlib.util.find_spec("orjson") is None:
        return
    for big_ints in (True, False):
        loads = row_loader(big_ints)
        assert loads is not json.loads
        assert loads('{"a":[1,2.5,"\\u00e9",null,true],"b":{}}') == {
            "a": [1, 2.5, "\u00e9", None, True],
            "b": {},
        }
        assert math.isnan(loads('{"a":NaN}')["a"])  # refused by orjson: json.loads reads it
        with pytest.raises(ValueError):
            loads("{bad")
    assert row_loader(big_ints=True)('{"d":123456789012345678901234567890}') == {
        "d": 123456789012345678901234567890
    }


@pytest.mark.parametrize(
    ("status", "reason", "kind"),
    [
        ("success", None, "delivered"),
        ("skipped", "middleware_stopped", "skipped"),
        ("skipped", "sampled_out", "skipped"),
        ("skipped", None, "skipped"),
        ("invalid", "invalid", "rejected"),
        ("payload_too_large", "payload_too_large", "rejected"),
        ("rate_limit", "rate_limited_quota", "rejected"),
        ("failed", "middleware_error", "rejected"),
        ("failed", "retries_exhausted", "failed"),
        ("Timeout", "retries_exhausted", "failed"),
        ("failed", "shutdown_timeout", "failed"),
        ("failed", "queue_full", "failed"),
        ("invalid", "invalid_api_key", "failed"),
    ],
)
def test_outcome_kinds(status: str, reason: str | None, kind: str) -> None:
    """Each outcome is delivered, skipped, rejected (dead letter) or failed (send again)."""
    assert outcome_kind(status, reason) == kind


def test_summary_counts_and_reads() -> None:
    """A summary adds repeated keys, counts each kind, and reads largest first."""
    summary = Summary.of(
        [("success", None, 5), ("invalid", "invalid", 1), ("success", None, 2),
         ("failed", "retries_exhausted", 3), ("skipped", "middleware_stopped", 1)]
    )  # fmt: skip
    assert (summary.total, summary.delivered, summary.skipped) == (12, 7, 1)
    assert (summary.rejected, summary.failed) == (1, 3)
    assert str(summary) == (
        "12 events: 7 success, 3 failed (retries_exhausted), 1 invalid (invalid), "
        "1 skipped (middleware_stopped)"
    )
    assert str(Summary()) == "0 events"


# ---------------------------------------------------------------------------- middleware specs


def test_middleware_given_as_module_function_is_imported() -> None:
    """A 'module:function' string resolves to the function; a callable is kept as is."""
    assert load_middleware("tests.spark._helpers:skip_health_checks") is skip_health_checks
    assert load_middleware(skip_health_checks) is skip_health_checks


@pytest.mark.parametrize(
    ("spec", "error", "message"),
    [
        ("no_colon", ValueError, "expected 'module:function'"),
        ("nowhere_module_xyz:f", ImportError, "cannot import nowhere_module_xyz"),
        ("json:no_such_function", AttributeError, "json has no no_such_function"),
        ("json:__name__", TypeError, "is not callable"),
        (42, TypeError, "got int"),
    ],
)
def test_a_bad_middleware_spec_is_named(spec: Any, error: type, message: str) -> None:
    """A middleware that cannot be loaded raises a typed error that names it."""
    with pytest.raises(error, match=message):
        load_middleware(spec)


# ---------------------------------------------------------------------------- one partition


def sender(collector: Collector, *middleware: Any, **kwargs: Any) -> PartitionSender:
    options = resolve_options({"serverUrl": collector.http_api_url, "retryTimeouts": [10, 10]})
    return PartitionSender(API_KEY, options, middleware, **kwargs)


def test_outcomes_come_in_input_order_in_chunks(amplitude_collector: Collector) -> None:
    """Each row gets one outcome, in input order, whatever the window and chunk sizes."""
    events = [{"event_type": "Play", "user_id": f"user-{i}"} for i in range(7)]
    events.insert(3, {"event_type": "Health Check", "user_id": "user-x"})
    events.insert(5, {"event_type": "No ids"})
    rows = [row(e, f"id-{i}") for i, e in enumerate(events)]
    send = sender(amplitude_collector, skip_health_checks, window=3, chunk=2)

    chunks = list(send(rows))

    assert [len(c[0]) for c in chunks] == [2, 2, 2, 2, 1]
    outcomes = flatten(chunks)
    assert [o[0] for o in outcomes] == [f"id-{i}" for i in range(9)]
    assert [o[1] for o in outcomes] == ["success"] * 3 + ["skipped", "success", "invalid"] + [
        "success"
    ] * 3
    assert outcomes[3][2] == "middleware_stopped" and outcomes[5][2] == "invalid"
    summary = Summary.of(c for chunk in chunks for c in chunk[-1])  # each chunk counts its own
    assert summary == Summary.of((o[1], o[2], 1) for o in outcomes) and summary.total == 9
    assert sorted(e["insert_id"] for e in amplitude_collector.events) == sorted(
        o[0] for o in outcomes if o[1] == "success"
    )


def test_equal_outcomes_in_a_row_share_one_run() -> None:
    """Outcomes are run-length encoded: a new run when the outcome changes, not per request
    (two requests' equal outcomes share one), and the counts add up the runs."""
    send = PartitionSender(API_KEY, resolve_options({"serverUrl": "http://127.0.0.1:9/x"}))

    def answered(status: str, reason: str | None, code: int) -> Future[Any]:
        future: Future[Any] = Future()
        future.set_result(
            SimpleNamespace(status=status, reason=reason, status_code=code, error=None)
        )
        return future

    first, second = answered("success", None, 200), answered("success", None, 200)
    columns, last = send._empty(), [None, None]
    for i, result in enumerate(
        [
            first,
            first,
            second,
            ("invalid", "invalid", 0, "no ids"),
            first,
            answered("failed", "timeout", 0),
        ]
    ):
        send._add(columns, last, f"id-{i}", None, result)
    ids, runs, counts = send._sealed(columns)

    assert ids == [f"id-{i}" for i in range(6)]
    assert runs == [
        (3, "success", None, 200, None),
        (1, "invalid", "invalid", 0, "no ids"),
        (1, "success", None, 200, None),
        (1, "failed", "timeout", 0, None),
    ]
    assert sorted(counts, key=str) == sorted(
        [("success", None, 4), ("invalid", "invalid", 1), ("failed", "timeout", 1)], key=str
    )


def test_an_empty_partition_starts_no_client(amplitude_collector: Collector) -> None:
    """No rows: nothing yielded, nothing sent."""
    assert list(sender(amplitude_collector)([])) == []
    assert amplitude_collector.requests == []


def test_raising_middleware_and_dead_letters(amplitude_collector: Collector) -> None:
    """A raising middleware is a rejected outcome; rejected rows get a dead letter, redacted."""

    def leaky(payload: MiddlewarePayload, next: Callable[[MiddlewarePayload], None]) -> None:
        if payload.event.event_type == "Leak":
            raise ValueError(f"cannot enrich with key {API_KEY}")
        next(payload)

    rows = [
        row({"event_type": "Play", "user_id": "user-1"}, "a"),
        row({"event_type": "Explode", "user_id": "user-1"}, "b"),
        row({"event_type": "Leak", "user_id": "user-1"}, "c"),
        row({"event_type": "Play", "user_id": "user-1", "event_properties": "{bad"}, "d"),
    ]
    send = sender(
        amplitude_collector,
        explode_on_request,
        leaky,
        dead_letters=True,
        dead_letter_fields={"batch_id": 4},
    )

    outcomes = flatten(list(send(rows)))

    assert [o[1:3] for o in outcomes] == [
        ("success", None),
        ("failed", "middleware_error"),
        ("failed", "middleware_error"),
        ("invalid", "invalid"),
    ]
    assert outcomes[1][4] == "RuntimeError: enrichment service down"
    assert outcomes[2][4] == "ValueError: cannot enrich with key <api key>"
    assert outcomes[0][5] is None
    letter = json.loads(outcomes[3][5])
    assert letter["batch_id"] == 4 and letter["insert_id"] == "d"
    as_read = {"event_type": "Play", "user_id": "user-1", "event_properties": "{bad"}
    assert letter["event"] == as_read
    assert API_KEY not in outcomes[2][5]


def test_rows_too_deep_to_parse_are_invalid_and_dead_lettered(
    amplitude_collector: Collector,
) -> None:
    """A row (or a JSON-string column) nested beyond what the parsers take is an invalid
    row with the reason, kept as text in its dead letter: never an exception that fails the
    task (Spark would retry it, then fail the job)."""
    deep = "[" * 20_000 + "]" * 20_000  # past orjson's 1,024 and json.loads' limit
    rows = [
        '{"event_type":"Play","user_id":"user-1","event_properties":{"a":' + deep + "}}\ndeep",
        row({"event_type": "Play", "user_id": "user-1", "event_properties": deep}, "column"),
        row({"event_type": "Play", "user_id": "user-1"}, "fine"),
    ]
    send = sender(amplitude_collector, dead_letters=True)

    outcomes = flatten(list(send(rows)))

    assert [o[:3] for o in outcomes] == [
        ("deep", "invalid", "invalid"),
        ("column", "invalid", "invalid"),
        ("fine", "success", None),
    ]
    assert "nested too deeply to parse" in outcomes[0][4]
    assert "'event_properties' is JSON nested too deeply" in outcomes[1][4]
    letter = json.loads(outcomes[0][5])
    assert letter["insert_id"] == "deep" and letter["event"].startswith('{"event_type"')
    assert json.loads(outcomes[1][5])["event"]["event_properties"] == deep


def test_a_task_collects_garbage_less_often_and_restores_the_thresholds(
    amplitude_collector: Collector,
) -> None:
    """While the rows are sent the young-generation threshold is ``GC_THRESHOLD``; the
    thresholds the process had come back when the task ends, and when it is abandoned."""
    before = gc.get_threshold()
    assert before[0] < GC_THRESHOLD
    seen: List[Tuple[int, ...]] = []

    def rows(n: int) -> Any:
        for i in range(n):
            seen.append(gc.get_threshold())
            yield row({"event_type": "Play", "user_id": f"user-{i}"}, f"id-{i}")

    outcomes = flatten(list(sender(amplitude_collector)(rows(3))))
    assert [o[1] for o in outcomes] == ["success"] * 3
    assert seen == [(GC_THRESHOLD, *before[1:])] * 3
    assert gc.get_threshold() == before

    task = sender(amplitude_collector, window=1, chunk=1)(rows(5))
    next(task)  # Spark stops reading (a limit, a failed task): the generator is closed
    assert gc.get_threshold()[0] == GC_THRESHOLD
    task.close()
    assert gc.get_threshold() == before


def test_the_sender_pickles_without_showing_the_key() -> None:
    """Spark pickles the sender to ship it; its repr (which Spark may log) hides the key."""
    send = PartitionSender(API_KEY, resolve_options({"serverUrl": "http://127.0.0.1:9/x"}))
    copy = pickle.loads(pickle.dumps(send))
    assert copy.api_key == API_KEY and copy.options == send.options
    assert API_KEY not in repr(send)
