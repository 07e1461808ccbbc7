"""Backfills and streams on Apache Spark, through the same client and middleware, exactly once.

    from amplitude_legacy.spark import send_dataframe

    result = send_dataframe(spark.read.parquet("events/"), "API_KEY",
                            middleware=["my_company.amplitude:scrub_pii"])
    print(result.summary)                       # also logged
    result.outcomes.where("status != 'success'").show()

Each partition runs one client on its executor; every event gets a deterministic
``insert_id``, so a task Spark runs again, or a backfill run twice, is not duplicated in
Amplitude. ``foreach_batch`` does the same for each micro-batch of a stream. Needs the
``spark`` extra: ``pip install "amplitude_legacy[spark]"`` (PySpark 3.5 or later, classic
sessions, not Spark Connect).
"""

from __future__ import annotations

try:
    import pyspark  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised in a subprocess by the tests
    raise ImportError(
        'amplitude_legacy.spark needs PySpark: pip install "amplitude_legacy[spark]"'
    ) from exc

from amplitude_legacy.spark._dataframe import (
    BatchDeliveryError,
    SendResult,
    foreach_batch,
    insert_ids,
    send_dataframe,
)
from amplitude_legacy.spark._events import Summary

__all__ = [
    "BatchDeliveryError",
    "SendResult",
    "Summary",
    "foreach_batch",
    "insert_ids",
    "send_dataframe",
]
