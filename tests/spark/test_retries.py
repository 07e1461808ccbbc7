"""Exactly once across Spark's own retries: a task that fails after sending is run again."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Dict, List, Set

import pytest

from amplitude_legacy.spark import send_dataframe
from amplitude_legacy.testing import Collector
from tests.spark._helpers import FAST, crash_once_before

pytestmark = pytest.mark.timeout(240)

SCHEMA = "event_type string, user_id string, time long"
PER_PARTITION = 20


def test_task_retried_after_sending_delivers_each_event_once(spark: Any, tmp_path: Path) -> None:
    """A task whose worker dies after sending is re-run by Spark: same ids, one copy each."""
    marker = tmp_path / "sent-before-crash"
    seen: Set[str] = set()
    lock = threading.Lock()

    def note(path: str, events: List[Dict[str, Any]]) -> None:
        with lock:
            seen.update(e["insert_id"] for e in events if e["user_id"].startswith("user-p0-"))
            if len(seen) >= PER_PARTITION - 1:  # all of partition 0 but its last event
                marker.touch()

    rows = [
        ("Last" if (part, i) == (0, PER_PARTITION - 1) else "Song Played",
         f"user-p{part}-{i % 4}", 1_700_000_000_000 + i)
        for part in (0, 1)
        for i in range(PER_PARTITION)
    ]  # fmt: skip
    df = spark.createDataFrame(spark.sparkContext.parallelize(rows, 2), SCHEMA)
    crash = crash_once_before("Last", str(marker), timeout=60)
    with Collector(on_accept=note) as collector:
        options = {"serverUrl": collector.http_api_url, **FAST}
        result = send_dataframe(df, "API_KEY", options, middleware=[crash])

        assert dict(result.summary.counts) == {("success", None): 2 * PER_PARTITION}
        ids = {o.insert_id for o in result.outcomes.collect()}
        assert {e["insert_id"] for e in collector.events} == ids
        assert len(collector.events) == len(ids) == 2 * PER_PARTITION
        # Partition 0's first 19 events went out twice (before the crash, then in Spark's
        # retry): the collector, like Amplitude, absorbed those copies by insert_id.
        assert collector.duplicates_absorbed == PER_PARTITION - 1
        last = {e["insert_id"] for e in collector.events if e["event_type"] == "Last"}
        assert set(collector.duplicates()) == seen - last
        assert marker.exists()
