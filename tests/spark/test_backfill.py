"""A backfill through ``send_dataframe`` on a real local Spark, against the bundled collector."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any, List, Tuple

import pytest

from amplitude_legacy.spark import insert_ids, send_dataframe
from amplitude_legacy.testing import Collector, Reply
from tests.spark._helpers import (
    FAST,
    SCRUB_MODULE,
    explode_on_request,
    skip_health_checks,
)

#: The first Spark test also pays for the JVM and its JIT warm-up; the machine may be shared.
pytestmark = pytest.mark.timeout(240)

SCHEMA = "event_type string, user_id string, time timestamp, event_properties string"
START = dt.datetime(2024, 3, 1, 12, 0, 0)
HOT = ("user-hot-a", "user-hot-b")


def side(name: str) -> List[Tuple[Any, ...]]:
    """One partition's rows: 40 to deliver (10 by a hot user), 2 stopped, 1 raising, 2 invalid."""
    props = json.dumps({"song": "Blue", "email": "someone@example.com"})
    rows: List[Tuple[Any, ...]] = [
        ("Song Played", f"user-{name}-{i % 5}", START + dt.timedelta(seconds=i), props)
        for i in range(30)
    ]
    hot, minute, hour = f"user-hot-{name}", dt.timedelta(minutes=1), dt.timedelta(hours=1)
    rows += [("Search", hot, START + i * minute, "{}") for i in range(10)]
    rows += [("Health Check", f"user-{name}-0", START + i * hour, None) for i in (1, 2)]
    rows.append(("Explode", f"user-{name}-1", START, None))
    rows.append(("Song Played", None, START + dt.timedelta(days=ord(name)), props))  # no id at all
    rows.append(("Song Played", f"user-{name}-2", START, "{not json"))
    return rows


def test_backfill_with_middleware_invalid_rows_and_faults_is_sent_once(
    spark: Any, tmp_path: Path
) -> None:
    """Every row gets one outcome, valid events arrive once (PII scrubbed), faults are absorbed."""
    module = tmp_path / "scrub_backfill.py"
    module.write_text(SCRUB_MODULE)
    spark.sparkContext.addPyFile(str(module))  # as --py-files would ship it to executors
    rows = side("a") + side("b")
    df = spark.createDataFrame(spark.sparkContext.parallelize(rows, 2), SCHEMA)
    throttled = {
        "code": 429,
        "error": "Too many requests for some devices and users",
        "eps_threshold": 30,
        "throttled_users": {user: 40 for user in HOT},
        "throttled_devices": {},
        "throttled_events": [],
    }
    with Collector() as collector:
        collector.script(Reply(500), Reply(429, throttled), Reply(503))
        # Each partition's first request carries all of its rows (so it holds a hot user).
        options = {"serverUrl": collector.http_api_url, "uploadIntervalInSec": 0.5, **FAST}
        middleware = ["scrub_backfill:scrub_email", skip_health_checks, explode_on_request]

        result = send_dataframe(df, "API_KEY", options, middleware=middleware)

        assert dict(result.summary.counts) == {
            ("success", None): 80,
            ("skipped", "middleware_stopped"): 4,
            ("failed", "middleware_error"): 2,
            ("invalid", "invalid"): 4,
        }
        outcomes = result.outcomes.collect()
        assert len(outcomes) == len(rows) == 90
        assert len({o.insert_id for o in outcomes}) == 90
        errors = sorted(o.error for o in outcomes if o.status in ("invalid", "failed"))
        assert errors.count("RuntimeError: enrichment service down") == 2
        assert sum("'event_properties' is not valid JSON" in e for e in errors) == 2
        assert sum("at least one of device_id or user_id" in e for e in errors) == 2

        stored = collector.events
        delivered = {o.insert_id for o in outcomes if o.status == "success"}
        assert {e["insert_id"] for e in stored} == delivered and len(stored) == 80
        assert collector.duplicates_absorbed == 0  # nothing arrived twice
        for event in stored:
            assert "email" not in event["event_properties"]
            assert isinstance(event["time"], int)
        first = min(e["time"] for e in stored if e["event_type"] == "Song Played")
        assert first == int(START.timestamp() * 1000)  # the timestamp column, in epoch ms

        statuses = [r.status for r in collector.requests]
        assert {500, 429, 503} <= set(statuses)
        # The 429 held its hot user only: the other events of that request went on without it.
        refused = next(r for r in collector.requests if r.status == 429)
        hot = {e["insert_id"] for e in refused.payload["events"] if e["user_id"] in HOT}
        others = {e["insert_id"] for e in refused.payload["events"]} - hot
        assert hot and others
        for request in collector.requests:
            if request.status == 200:
                ids = {e["insert_id"] for e in request.payload["events"]}
                assert not (ids & hot and ids & others)

        # The outcomes are stored: more actions on them never send again.
        sent = len(collector.requests)
        assert result.outcomes.count() == 90
        assert result.outcomes.where("status = 'success'").count() == 80
        assert insert_ids(df).join(result.outcomes, "insert_id").count() == 90
        assert len(collector.requests) == sent

        # A backfill run again (after a crash, say) sends the same ids: Amplitude keeps one.
        again = send_dataframe(df, "API_KEY", options, middleware=middleware)
        assert again.summary == result.summary
        assert {o.insert_id for o in again.outcomes.collect()} == {o.insert_id for o in outcomes}
        assert len(collector.events) == 80 and collector.duplicates_absorbed == 80
        assert set(collector.duplicates()) == delivered
