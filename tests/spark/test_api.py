"""The public surface of ``amplitude_legacy.spark``: names, checks before sending, the id rule."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from decimal import Decimal
from typing import Any

import pytest

import amplitude_legacy
import amplitude_legacy.spark as spark_api
from amplitude_legacy import OptionsError
from amplitude_legacy.spark import insert_ids, send_dataframe
from amplitude_legacy.spark._partition import CHUNK
from amplitude_legacy.testing import Collector
from tests.spark._helpers import AWKWARD_TEXT, fail_awkwardly

pytestmark = pytest.mark.timeout(240)

EXPECTED_ALL = [
    "BatchDeliveryError",
    "SendResult",
    "Summary",
    "foreach_batch",
    "insert_ids",
    "send_dataframe",
]


def test_all_is_locked_and_documented() -> None:
    """__all__ is exactly the expected sorted names, each with a docstring."""
    assert spark_api.__all__ == EXPECTED_ALL == sorted(EXPECTED_ALL)
    for name in EXPECTED_ALL:
        assert getattr(spark_api, name).__doc__, name


def test_importing_the_package_does_not_import_pyspark() -> None:
    """``import amplitude_legacy`` leaves PySpark alone; only ``.spark`` needs it."""
    code = "import sys, amplitude_legacy, amplitude_legacy.testing; print('pyspark' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_without_pyspark_the_error_names_the_extra() -> None:
    """Without PySpark, importing amplitude_legacy.spark says which extra to install."""
    code = (
        "import sys; sys.modules['pyspark'] = None\n"
        "try:\n    import amplitude_legacy.spark\n"
        "except ImportError as exc:\n    print(exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert 'pip install "amplitude_legacy[spark]"' in out.stdout


def test_executors_run_this_interpreter_and_this_package(spark: Any) -> None:
    """Python workers use this virtual environment's Python and this worktree's package."""

    def where(_: Any) -> Any:
        import sys as worker_sys

        import amplitude_legacy as worker_package

        return worker_sys.executable, worker_package.__file__

    seen = set(spark.sparkContext.parallelize([0, 1], 2).map(where).collect())
    assert seen == {(sys.executable, amplitude_legacy.__file__)}


def test_bad_input_is_refused_before_anything_is_sent(spark: Any) -> None:
    """Unknown columns (all named), a missing id column, bad options: errors, no request."""
    df = spark.createDataFrame(
        [("Play", "user-1", "x", 1)], "event_type string, user_id string, colour string, n int"
    )
    with Collector() as collector:
        url = {"serverUrl": collector.http_api_url}
        with pytest.raises(ValueError, match="not event fields: 'colour', 'n'"):
            send_dataframe(df, "KEY", url)
        with pytest.raises(ValueError, match="insert_id_column 'event_id_x' is not a column"):
            send_dataframe(df.drop("colour", "n"), "KEY", url, insert_id_column="event_id_x")
        with pytest.raises(OptionsError, match="spoolPath"):
            send_dataframe(df.drop("colour", "n"), "KEY", {**url, "spoolPath": "/tmp/s.db"})
        with pytest.raises(OptionsError, match="apiKey"):
            send_dataframe(df.drop("colour", "n"), None, url)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="middleware"):
            send_dataframe(df.drop("colour", "n"), "KEY", url, middleware=[42])  # type: ignore[list-item]
        with pytest.raises(TypeError, match=r"df must be a pyspark\.sql\.DataFrame"):
            send_dataframe([{"event_type": "e"}], "KEY", url)  # type: ignore[arg-type]
        binary = spark.createDataFrame(
            [("e", "user-1", b"\x00")], "event_type string, user_id string, user_properties binary"
        )
        with pytest.raises(TypeError, match="'user_properties' holds binary"):
            send_dataframe(binary, "KEY", url)
        assert collector.requests == []


def test_the_id_is_a_hash_of_the_content_whatever_the_column_and_entry_order(spark: Any) -> None:
    """Same content, other column order and map entry order: same id, per the documented rule."""
    one = spark.sql(
        "SELECT 'Play' AS event_type, 'user-1' AS user_id, 1700000000000L AS time, "
        "map('b', '2', 'a', '1') AS event_properties, "
        "named_struct('z', 1, 'y', named_struct('d', 'x', 'c', 'w')) AS user_properties"
    )
    other = spark.sql(
        "SELECT named_struct('y', named_struct('c', 'w', 'd', 'x'), 'z', 1) AS user_properties, "
        "map('a', '1', 'b', '2') AS event_properties, 1700000000000L AS time, "
        "'user-1' AS user_id, 'Play' AS event_type"
    )
    (first,) = insert_ids(one).select("insert_id").collect()
    (second,) = insert_ids(other).select("insert_id").collect()
    assert first == second
    # The rule, as docs/spark.md states it: SHA-256 of the namespace line and the canonical
    # JSON, the first 128 bits written as a UUID (version 8).
    canonical = (
        '{"event_properties":{"a":"1","b":"2"},"event_type":"Play","time":1700000000000,'
        '"user_id":"user-1","user_properties":{"y":{"c":"w","d":"x"},"z":1}}'
    )
    h = hashlib.sha256(b"amplitude_legacy.spark/insert_id/v1\n" + canonical.encode()).hexdigest()
    variant = "89ab"[int(h[16], 16) & 3]
    assert first.insert_id == f"{h[:8]}-{h[8:12]}-8{h[13:16]}-{variant}{h[17:20]}-{h[20:32]}"


def test_a_send_gives_each_row_the_id_insert_ids_gives(spark: Any) -> None:
    """Ids made in the task (hashes; own ids, line breaks and all) are insert_ids' JVM ones;
    a decimal wider than 64 bits is never rounded to a float on the way."""
    big = Decimal(2**64)  # orjson would read it as a float
    df = spark.createDataFrame(
        [
            ("Caf\u00e9 \u2615", "user-1", None, (big,)),
            ("line\nbreak", "user-2", "own\nid", (Decimal(7),)),
            ("Play", "user-3", None, None),
        ],
        "event_type string, user_id string, insert_id string, "
        "event_properties struct<big: decimal(38,0)>",
    )
    with Collector() as collector:
        result = send_dataframe(df, "KEY", {"serverUrl": collector.http_api_url})
        outcomes = result.outcomes.collect()
        expected = {r.insert_id for r in insert_ids(df).collect()}
        assert {o.insert_id for o in outcomes} == expected and "own\nid" in expected
        by_user = {e["user_id"]: e for e in collector.events}
        assert by_user["user-2"]["event_type"] == "line\nbreak"
        delivered = {o.insert_id for o in outcomes if o.status == "success"}
        assert {e["insert_id"] for e in collector.events} == delivered
        if "user-1" in by_user:  # the stdlib's encoder sends it as it is
            assert by_user["user-1"]["event_properties"] == {"big": int(big)}
        else:  # orjson's encoder refuses it, as the client does for any event
            (refused,) = [o for o in outcomes if o.status != "success"]
            assert refused.status == "invalid" and "64-bit" in refused.error


def test_outcomes_come_back_as_the_task_wrote_them(spark: Any) -> None:
    """Every outcome crosses to the JVM and back intact: the schema, row order across chunks,
    nulls, status codes, and any error text (a lone surrogate becomes U+FFFD)."""
    n = CHUNK + 10  # one partition: more than one chunk
    rows = [("Play", f"user-{i % 7}", f"id-{i:06d}") for i in range(n)]
    rows += [("Fail", "user-x", "id-fail"), ("Play", None, "id-none")]
    df = spark.createDataFrame(
        spark.sparkContext.parallelize(rows, 1),
        "event_type string, user_id string, insert_id string",
    )
    with Collector() as collector:
        url = {"serverUrl": collector.http_api_url}
        result = send_dataframe(df, "KEY", url, middleware=[fail_awkwardly])
        outcomes = result.outcomes.collect()

    assert result.outcomes.schema.simpleString() == (
        "struct<insert_id:string,status:string,reason:string,status_code:int,error:string>"
    )
    assert all(f.nullable for f in result.outcomes.schema.fields)
    assert [o.insert_id for o in outcomes] == [r[2] for r in rows]
    assert {(o.status, o.reason, o.status_code, o.error) for o in outcomes[:n]} == {
        ("success", None, 200, None)
    }
    failed, invalid = outcomes[n:]
    assert failed.asDict() == {
        "insert_id": "id-fail",
        "status": "failed",
        "reason": "middleware_error",
        "status_code": 0,
        "error": "ValueError: " + AWKWARD_TEXT.replace("\ud800", "\ufffd"),
    }
    assert (invalid.status, invalid.reason, invalid.status_code) == ("invalid", "invalid", 0)
    assert "user_id" in invalid.error
    assert dict(result.summary.counts) == {
        ("success", None): n,
        ("failed", "middleware_error"): 1,
        ("invalid", "invalid"): 1,
    }


def test_rows_longer_than_the_workers_buffer_arrive_whole(spark: Any) -> None:
    """Rows longer than the Python worker's 64 KiB read buffer, between short ones, and
    multi-byte text in every row reach the collector as written (frames are read in bulk
    from the buffer, and one at a time when one does not fit)."""
    big = "é😀" * 20_000  # 120,000 bytes of UTF-8

    def text(i: int) -> str:
        return big if i % 100 == 7 else f"日本 {i}"

    rows = [
        ("Play", f"user-{i}", f"id-{i}", json.dumps({"text": text(i)}, ensure_ascii=False))
        for i in range(300)
    ]
    df = spark.createDataFrame(
        spark.sparkContext.parallelize(rows, 2),
        "event_type string, user_id string, insert_id string, event_properties string",
    )
    with Collector() as collector:
        result = send_dataframe(df, "KEY", {"serverUrl": collector.http_api_url})
        received = {e["insert_id"]: e["event_properties"]["text"] for e in collector.events}

    assert result.summary.delivered == 300
    assert received == {f"id-{i}": text(i) for i in range(300)}


def test_id_columns_own_ids_and_nulls(spark: Any) -> None:
    """An id column is used (not sent); an own insert_id is kept; a null id row is invalid."""
    df = spark.createDataFrame(
        [
            ("Play", "user-1", 7, None),
            ("Play", "user-2", None, "own-2"),
            ("Play", "user-3", 9, None),
        ],
        "event_type string, user_id string, row_id long, insert_id string",
    )
    with Collector() as collector:
        url = {"serverUrl": collector.http_api_url}
        result = send_dataframe(df, "KEY", url, insert_id_column="row_id")
        outcomes = {(o.insert_id, o.status) for o in result.outcomes.collect()}
        assert outcomes == {(None, "invalid"), ("7", "success"), ("9", "success")}
        assert all("row_id" not in e for e in collector.events)

        own = send_dataframe(df.drop("row_id"), "KEY", url)
        ids = sorted(o.insert_id for o in own.outcomes.collect())
        assert "own-2" in ids and len(set(ids)) == 3

        empty = send_dataframe(df.drop("row_id").limit(0), "KEY", url)
        assert (empty.outcomes.count(), str(empty.summary)) == (0, "0 events")


def test_delivery_error_says_what_to_do() -> None:
    """BatchDeliveryError names the batch and its outcomes; a bad key says to fix the key first."""
    from amplitude_legacy.spark import BatchDeliveryError, Summary

    transient = BatchDeliveryError(3, Summary({("failed", "retries_exhausted"): 2}))
    assert isinstance(transient, amplitude_legacy.DeliveryError)
    assert transient.batch_id == 3 and transient.summary.failed == 2
    assert str(transient).startswith("micro-batch 3: 2 event(s) not delivered")
    assert "restart the query" in str(transient) and "API key" not in str(transient)
    bad_key = BatchDeliveryError(4, Summary({("invalid", "invalid_api_key"): 5}))
    assert "Amplitude rejected the API key: fix it, then restart" in str(bad_key)


def test_a_missing_java_is_noticed(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    """No java under JAVA_HOME, or none on PATH: the fixture's check finds none (and fails)."""
    from tests.spark.conftest import java_executable

    monkeypatch.setenv("JAVA_HOME", str(tmp_path))
    assert java_executable() is None
    monkeypatch.delenv("JAVA_HOME")
    monkeypatch.setenv("PATH", str(tmp_path))
    assert java_executable() is None
