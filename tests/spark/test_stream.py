"""A stream of JSON files through ``foreach_batch``: dead letters, and a failed batch re-run."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Dict, List

import pytest

from amplitude_legacy.spark import foreach_batch
from amplitude_legacy.testing import AcceptThenDrop, Collector
from tests.spark._helpers import FAST, skip_health_checks

pytestmark = pytest.mark.timeout(240)

SCHEMA = (
    "event_type string, user_id string, device_id string, time long, "
    "event_properties map<string,string>"
)


def write_lines(path: Path, events: List[Dict[str, Any]]) -> None:
    path.write_text("".join(json.dumps(e) + "\n" for e in events))


def run(spark: Any, source: Path, checkpoint: Path, send: Any) -> None:
    """Process every file there is, one file per micro-batch, then stop."""
    query = (
        spark.readStream.schema(SCHEMA)
        .option("maxFilesPerTrigger", 1)
        .json(str(source))
        .writeStream.option("checkpointLocation", str(checkpoint))
        .foreachBatch(send)
        .trigger(availableNow=True)
        .start()
    )
    query.awaitTermination(180)


def test_stream_dead_letters_rejected_events_and_reruns_a_failed_batch(
    spark: Any, tmp_path: Path
) -> None:
    """Invalid rows land in the dead-letter files; a batch that failed is sent again, once."""
    source, checkpoint, dead = tmp_path / "in", tmp_path / "checkpoint", tmp_path / "dead"
    source.mkdir()
    first = [
        {"event_type": "Play", "user_id": f"user-{i}", "time": 1_700_000_000_000 + i}
        for i in range(5)
    ]
    first.append({"event_type": "Play", "time": 1_700_000_000_999})  # no id: rejected
    first.append({"event_type": "Health Check", "device_id": "device-1", "time": 1})
    write_lines(source / "part-0.json", first)
    second = [
        {"event_type": "Pause", "device_id": f"device-{i}", "event_properties": {"at": str(i)}}
        for i in range(3)
    ]
    write_lines(source / "part-1.json", second)
    # The file source takes the oldest file first: make part-0 unambiguously older.
    older = (source / "part-1.json").stat().st_mtime - 60
    os.utime(source / "part-0.json", (older, older))

    with Collector() as collector:
        options = {"serverUrl": collector.http_api_url, **FAST}
        send = foreach_batch(
            "API_KEY", options, middleware=[skip_health_checks], dead_letter_path=str(dead)
        )
        # Batch 0: the collector takes every attempt's events but never answers (as when a
        # load balancer drops the reply), so its retries run out and the batch fails.
        collector.script(*[AcceptThenDrop()] * (1 + len(FAST["retryTimeouts"])))
        with pytest.raises(Exception, match=r"BatchDeliveryError|not delivered") as failed:
            run(spark, source, checkpoint, send)
        assert "micro-batch 0" in str(failed.value)
        # 5 events, 5 attempts each: stored once, the 4 later copies absorbed as duplicates.
        assert (len(collector.events), collector.duplicates_absorbed) == (5, 5 * 4)

        run(spark, source, checkpoint, send)  # restarted: batch 0 again, then batch 1

        # Batch 0's events once more (absorbed), batch 1's once: each event stored once.
        assert len({e["insert_id"] for e in collector.events}) == len(collector.events) == 8
        assert collector.duplicates_absorbed == 5 * 4 + 5

    lines = [
        json.loads(line)
        for path in sorted(dead.glob("batch_id=*/*.txt"))
        for line in path.read_text().splitlines()
    ]
    assert len(lines) == 1  # batch 0 ran twice; its dead letters were replaced, not doubled
    (letter,) = lines
    assert (letter["batch_id"], letter["status"], letter["reason"]) == (0, "invalid", "invalid")
    assert "at least one of device_id or user_id" in letter["error"]
    assert letter["event"] == {"event_type": "Play", "time": 1_700_000_000_999}
    assert letter["insert_id"]
