"""Backfill: a Parquet dataset of events to Amplitude on Spark, through your middleware, once.

    pip install "amplitude_legacy[spark]"      # and Java 17 for Spark
    python examples/spark_backfill.py [EVENTS_PARQUET] [OUTCOMES_DIR]

Runs Spark in ``local[2]`` (two tasks at once). Without ``EVENTS_PARQUET`` it writes a sample
dataset first (1,000 plays by 50 users, a few health checks, one row with no id). With
``AMPLITUDE_API_KEY`` set, events go to Amplitude; without it, to the bundled local collector
on 127.0.0.1, so the example runs anywhere, offline. The outcomes (one row per event) are
written as Parquet to ``OUTCOMES_DIR`` (default ``./backfill-outcomes``). The backfill then
runs a second time, as after a crash: the same insert ids, so Amplitude keeps one copy.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import amplitude_legacy as Amplitude
from amplitude_legacy.spark import send_dataframe
from amplitude_legacy.testing import target_from_env


def scrub_email(payload: Amplitude.MiddlewarePayload, next: Amplitude.MiddlewareNext) -> None:
    """PII: the email property never leaves (runs on the executors, like any middleware)."""
    (payload.event.event_properties or {}).pop("email", None)
    next(payload)


def skip_health_checks(
    payload: Amplitude.MiddlewarePayload, next: Amplitude.MiddlewareNext
) -> None:
    """Filter: health checks are not product events."""
    if payload.event.event_type != "Health Check":
        next(payload)


def write_sample(spark: Any, path: str) -> None:
    """1,000 plays by 50 users over a day, 5 health checks, one row with neither id."""
    start = 1_700_000_000_000
    rows = [
        ("Song Played", f"user-{i % 50:03d}", start + i * 86_400,
         {"song": f"song-{i % 17}", "email": f"listener{i % 50}@example.com"})
        for i in range(1000)
    ]  # fmt: skip
    rows += [("Health Check", "user-000", start + i, None) for i in range(5)]
    rows.append(("Song Played", None, start, {"song": "song-0"}))
    schema = "event_type string, user_id string, time long, event_properties map<string,string>"
    spark.createDataFrame(rows, schema).write.mode("overwrite").parquet(path)


def main() -> int:
    """Send the dataset, write the outcomes, send it again, report."""
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)  # executors run this Python
    from pyspark.sql import SparkSession

    spark = (
        SparkSession.builder.master("local[2]")
        .appName("amplitude-backfill")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    outcomes_dir = sys.argv[2] if len(sys.argv) > 2 else "backfill-outcomes"
    with target_from_env() as target, tempfile.TemporaryDirectory() as tmp:
        source = sys.argv[1] if len(sys.argv) > 1 else str(Path(tmp, "events.parquet"))
        if len(sys.argv) <= 1:
            write_sample(spark, source)
        # One user's events in one task: a 429 for that user holds that task only.
        events = spark.read.parquet(source).repartition(4, "user_id")
        options = {**target.options, "useBatch": True}  # backfills: the Batch API's limits
        middleware = [scrub_email, skip_health_checks]

        result = send_dataframe(events, target.api_key, options, middleware=middleware)
        print(f"first run: {result.summary}")
        result.outcomes.write.mode("overwrite").parquet(str(Path(outcomes_dir).resolve()))
        print(f"outcomes written to {outcomes_dir} ({result.outcomes.count():,} rows)")
        result.outcomes.where("status != 'success'").show(truncate=False)

        again = send_dataframe(events, target.api_key, options, middleware=middleware)
        first_ids = {r.insert_id for r in result.outcomes.select("insert_id").collect()}
        second_ids = {r.insert_id for r in again.outcomes.select("insert_id").collect()}
        print(f"second run: {again.summary}")
        print(f"same insert ids on the second run: {first_ids == second_ids}")
        collector = target.collector
        if collector is not None:
            # Like Amplitude, the collector keeps one copy per insert_id and counts the others.
            stored, absorbed = len(collector.events), collector.duplicates_absorbed
            print(f"collector: {stored:,} events stored, {absorbed:,} copies absorbed")
            emails = sum("email" in (e.get("event_properties") or {}) for e in collector.events)
            print(f"emails that reached the collector: {emails}")
    spark.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
