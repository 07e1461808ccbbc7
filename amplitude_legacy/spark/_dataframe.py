"""``send_dataframe`` and ``foreach_batch``: the driver side of sending a DataFrame.

The driver checks everything it can before a task starts (columns, options, middleware).
The JVM turns each row into its canonical JSON, followed by the row's own id when it has one,
and hands the partition's rows to Python as plain UTF-8 strings (as ``DataFrame.toJSON``
does: no pickling, no ``Row`` objects); one ``PartitionSender`` per partition hashes the
rows without an id, logs the events and hands the outcomes back in chunks (the ids, and runs
of equal outcomes). They are materialized once with ``localCheckpoint(eager=True)``: the send
happens in that one job, and any later action on the outcomes reads the stored chunks (and
expands the runs) instead of running the send again.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Callable, List, Mapping, Sequence, Tuple, Union

from pyspark import RDD
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from amplitude_legacy._errors import DeliveryError, OptionsError
from amplitude_legacy._options import Options, resolve_options
from amplitude_legacy.spark._events import (
    EVENT_COLUMNS,
    INSERT_ID_NAMESPACE,
    OBJECT_FIELDS,
    Summary,
)
from amplitude_legacy.spark._frames import Utf8Frames
from amplitude_legacy.spark._partition import MiddlewareSpec, PartitionSender, load_middleware

__all__ = ["BatchDeliveryError", "SendResult", "foreach_batch", "insert_ids", "send_dataframe"]

log = logging.getLogger("amplitude_legacy.spark")

OptionsArg = Union[Options, Mapping[str, Any], None]

#: The outcomes DataFrame: one row per input row.
OUTCOME_SCHEMA = T.StructType(
    [
        T.StructField("insert_id", T.StringType()),
        T.StructField("status", T.StringType(), nullable=False),
        T.StructField("reason", T.StringType()),
        T.StructField("status_code", T.IntegerType(), nullable=False),
        T.StructField("error", T.StringType()),
    ]
)
#: A task's chunk of outcomes (see ``PartitionSender``): its ids, its runs of equal outcomes
#: (``n`` rows each), the dead-letter lines of ``foreach_batch`` (one per row), its counts.
_IDS = T.StructField("insert_id", T.ArrayType(T.StringType()))
_RUNS = T.StructField(
    "runs",
    T.ArrayType(T.StructType([T.StructField("n", T.IntegerType()), *OUTCOME_SCHEMA.fields[1:]])),
)
_DEAD_LETTERS = T.StructField("dead_letter", T.ArrayType(T.StringType()))
_COUNTS = T.StructField(
    "__amplitude_legacy_counts",
    T.ArrayType(
        T.StructType(
            [
                T.StructField("status", T.StringType()),
                T.StructField("reason", T.StringType()),
                T.StructField("n", T.LongType()),
            ]
        )
    ),
)

#: Millisecond fields that may come as timestamps or fractional numbers.
_MILLIS_FIELDS = ("time", "session_id")
_TEMPORAL = (T.TimestampType, T.TimestampNTZType, T.DateType)
_FRACTIONAL = (T.FloatType, T.DoubleType, T.DecimalType)
_KNOWN = frozenset(EVENT_COLUMNS)
_EVENT = "__amplitude_legacy_event"  # a working column name no DataFrame of events has


@dataclass(frozen=True)
class SendResult:
    """What ``send_dataframe`` did: one outcome per input row, and their counts.

    Attributes:
        outcomes: a DataFrame with ``insert_id``, ``status``, ``reason``, ``status_code`` and
            ``error``, one row per input row (rows stopped by middleware and invalid rows
            included). Already computed: actions on it never send again.
        summary: the counts by ``(status, reason)``, also logged by ``send_dataframe``.

    Examples:
        >>> result = send_dataframe(df, "API_KEY", {"serverUrl": collector.http_api_url})
        >>> result.summary.delivered == df.count()
        True
        >>> result.outcomes.where("status != 'success'").show()
    """

    outcomes: DataFrame
    summary: Summary


class BatchDeliveryError(DeliveryError):
    """A micro-batch had events that may be delivered by sending it again.

    Raised by the function ``foreach_batch`` returns, so the streaming query stops with the
    batch not committed; restarted from its checkpoint, the query sends that batch again with
    the same ``insert_id`` values, and Amplitude keeps one copy of what got through before. A
    ``DeliveryError``, so ``except amplitude_legacy.DeliveryError`` catches it too
    (``response`` is ``None``: the counts are in ``summary``).

    Attributes:
        batch_id: the micro-batch.
        summary: its outcomes by ``(status, reason)``.
    """

    def __init__(self, batch_id: int, summary: Summary) -> None:
        bad_key = any(reason == "invalid_api_key" for _, reason in summary.counts)
        super().__init__(
            f"micro-batch {batch_id}: {summary.failed:,} event(s) not delivered ({summary}); "
            + ("Amplitude rejected the API key: fix it, then " if bad_key else "")
            + "restart the query: the batch is not committed, so it is sent again (same "
            "insert_id values: Amplitude keeps one copy of each event)"
        )
        self.batch_id = batch_id
        self.summary = summary


def send_dataframe(
    df: DataFrame,
    api_key: str,
    options: OptionsArg = None,
    *,
    middleware: Sequence[MiddlewareSpec] = (),
    insert_id_column: str | None = None,
) -> SendResult:
    """Send every row of ``df`` to Amplitude, once, through your middleware; return the outcomes.

    Each row is an event whose columns are HTTP V2 field names (``event_type``, ``user_id``,
    ``device_id``, ``time``, ``event_properties``, ...) as strings, numbers, maps, structs,
    arrays or JSON strings; null columns are left out of the event. Each partition runs its
    own client on the executor: middleware in order, validation, batching, retries. Every
    event gets a deterministic ``insert_id`` (from ``insert_id_column``, else the row's own
    ``insert_id``, else a hash of the row's content), so a task Spark runs twice, or a whole
    backfill run again, does not duplicate events in Amplitude.

    Args:
        df: the events, one per row.
        api_key: the Amplitude project's API key (never logged).
        options: client options (a camelCase dict, snake_case keys or an ``Options``);
            ``spoolPath`` is refused: Spark's retries take its place.
        middleware: ``(payload, next)`` middleware, run in order as ``addEventMiddleware``
            would: ``"module:function"`` strings (importable on the driver and the
            executors, e.g. shipped with ``--py-files``) or picklable callables.
        insert_id_column: a column with a unique id per event, used as ``insert_id``; unless
            it is ``insert_id``, it is not sent. A null in it makes the row ``invalid``.

    Returns:
        A ``SendResult``: the outcomes DataFrame (already computed) and their summary.

    Raises:
        ValueError: ``df`` has columns that are not event fields (all named), or
            ``insert_id_column`` is not a column of ``df``.
        TypeError: ``df`` is not a classic PySpark DataFrame, a column has a type that cannot
            be sent (binary), or a middleware is not a string or a callable.
        OptionsError: a bad option or API key (named; the key itself is never shown).
        ImportError: a ``"module:function"`` middleware cannot be imported on the driver.

    Examples:
        >>> result = send_dataframe(spark.read.parquet("events/"), "API_KEY",
        ...                         middleware=["my_company.amplitude:scrub_pii"])
        >>> print(result.summary)
        1,000,000 events: 999,990 success, 10 invalid (invalid)
    """
    if not isinstance(df, DataFrame):
        raise TypeError(f"df must be a pyspark.sql.DataFrame, got {type(df).__name__}")
    sender = PartitionSender(
        api_key,
        _check_options(api_key, options),
        _check_middleware(middleware),
        json_fields=_check_columns(df, insert_id_column),
        hash_ids=insert_id_column is None,
        big_ints=_wide_integers(df.schema),
    )
    outcomes, summary = _run(df, sender, insert_id_column)
    _log_summary("send_dataframe", summary)
    return SendResult(outcomes.select(*OUTCOME_SCHEMA.names), summary)


def foreach_batch(
    api_key: str,
    options: OptionsArg = None,
    *,
    middleware: Sequence[MiddlewareSpec] = (),
    dead_letter_path: str | None = None,
    insert_id_column: str | None = None,
) -> Callable[[DataFrame, int], None]:
    """A function for ``df.writeStream.foreachBatch(...)`` that sends each micro-batch.

    Each micro-batch is sent as ``send_dataframe`` sends a DataFrame. Then:

    * rejected events (invalid, too large, over the daily quota, a middleware raised), which
      no retry can deliver, are written to ``dead_letter_path`` as JSON lines with their
      outcome and the row as read, in ``<dead_letter_path>/batch_id=<n>/`` (a re-run of the
      batch replaces its own files); without a path they are logged at ERROR;
    * events that may still be delivered (retries exhausted, ...) or an invalid API key
      raise ``BatchDeliveryError``: the batch is not committed and the query stops. Restarted
      from its checkpoint, the query sends the batch again with the same ``insert_id``
      values, and Amplitude keeps one copy of what got through the first time.

    Args:
        api_key: the Amplitude project's API key (never logged).
        options: client options, as for ``send_dataframe``.
        middleware: as for ``send_dataframe``.
        dead_letter_path: a directory (any path Spark can write: local, HDFS, S3...).
        insert_id_column: as for ``send_dataframe``.

    Returns:
        ``function(batch_df, batch_id)``.

    Raises:
        OptionsError: a bad option or API key.
        TypeError: a middleware is not a string or a callable.
        ImportError: a ``"module:function"`` middleware cannot be imported on the driver.

    Examples:
        >>> query = (spark.readStream.schema(schema).json("incoming/")
        ...          .writeStream.option("checkpointLocation", "checkpoints/amplitude")
        ...          .foreachBatch(foreach_batch("API_KEY", dead_letter_path="dead-letters/"))
        ...          .start())
    """
    options_in_effect = _check_options(api_key, options)
    specs = _check_middleware(middleware)
    return _BatchSender(api_key, options_in_effect, specs, dead_letter_path, insert_id_column)


class _BatchSender:
    """The ``foreachBatch`` function (an object, so its repr never shows the API key)."""

    def __init__(
        self,
        api_key: str,
        options: Options,
        middleware: Tuple[MiddlewareSpec, ...],
        dead_letter_path: str | None,
        insert_id_column: str | None,
    ) -> None:
        self._api_key = api_key
        self._options = options
        self._middleware = middleware
        self._dead_letter_path = dead_letter_path
        self._insert_id_column = insert_id_column

    def __repr__(self) -> str:
        return f"<amplitude_legacy.spark.foreach_batch dead_letter_path={self._dead_letter_path!r}>"

    def __call__(self, batch_df: DataFrame, batch_id: int) -> None:
        sender = PartitionSender(
            self._api_key,
            self._options,
            self._middleware,
            json_fields=_check_columns(batch_df, self._insert_id_column),
            hash_ids=self._insert_id_column is None,
            big_ints=_wide_integers(batch_df.schema),
            dead_letters=True,
            dead_letter_fields={"batch_id": batch_id},
        )
        outcomes, summary = _run(batch_df, sender, self._insert_id_column)
        _log_summary(f"micro-batch {batch_id}", summary)
        if summary.rejected:
            rejected = outcomes.where(F.col("dead_letter").isNotNull())
            if self._dead_letter_path is not None:
                target = f"{self._dead_letter_path.rstrip('/')}/batch_id={batch_id}"
                rejected.select("dead_letter").coalesce(1).write.mode("overwrite").text(target)
                log.warning(
                    "micro-batch %s: %d rejected event(s) written to %s",
                    batch_id,
                    summary.rejected,
                    target,
                )
            else:
                samples = rejected.select("insert_id", "reason", "error").take(5)
                log.error(
                    "micro-batch %s: %d rejected event(s) and no dead_letter_path; first: %s",
                    batch_id,
                    summary.rejected,
                    "; ".join(f"{r.insert_id} {r.reason}: {r.error}" for r in samples),
                )
        if summary.failed:
            raise BatchDeliveryError(batch_id, summary)


# ---------------------------------------------------------------------------- driver checks


def _check_options(api_key: str, options: OptionsArg) -> Options:
    if not isinstance(api_key, str):
        raise OptionsError("apiKey", f"must be a string, got {type(api_key).__name__}")
    resolved = resolve_options(options)
    if resolved.spool_path is not None:
        raise OptionsError(
            "spoolPath",
            "is not used with Spark: a failed task or micro-batch is run again by Spark "
            "with the same insert ids, which takes the spool's place",
        )
    return resolved


def _check_middleware(middleware: Sequence[MiddlewareSpec]) -> Tuple[MiddlewareSpec, ...]:
    if isinstance(middleware, str) or callable(middleware):
        middleware = (middleware,)  # one middleware given on its own
    specs = tuple(middleware)
    for spec in specs:
        load_middleware(spec)  # fail here, on the driver, not in every task
    return specs


def _check_columns(df: DataFrame, insert_id_column: str | None) -> Tuple[str, ...]:
    """Refuse unknown columns; return the object fields that are string columns (JSON)."""
    columns = df.columns
    if insert_id_column is not None and insert_id_column not in columns:
        raise ValueError(
            f"insert_id_column {insert_id_column!r} is not a column of df "
            f"(columns: {', '.join(columns)})"
        )
    unknown = [c for c in columns if c not in _KNOWN and c != insert_id_column]
    if unknown:
        raise ValueError(
            f"df has column(s) that are not event fields: {', '.join(map(repr, unknown))}. "
            "Columns must be HTTP V2 field names (event_type, user_id, device_id, time, "
            "event_properties, ...): rename or drop the others, or name an id column with "
            "insert_id_column"
        )
    if len(set(columns)) != len(columns):
        raise ValueError(f"df has duplicate column names: {', '.join(columns)}")
    if not any(c in ("user_id", "device_id") for c in columns):
        log.warning("df has neither user_id nor device_id: every event will be invalid")
    strings = {f.name for f in df.schema.fields if isinstance(f.dataType, T.StringType)}
    return tuple(name for name in OBJECT_FIELDS if name in strings)


def _event_columns(df: DataFrame, insert_id_column: str | None) -> List[Column]:
    """The event's columns in name order, canonical: this is what is sent, and hashed.

    ``time``/``session_id`` timestamps become epoch milliseconds; nested struct fields are put
    in name order and map entries sorted by key, so neither the column order of a query nor
    the entry order of a map changes an id.
    """
    out = []
    for field in sorted(df.schema.fields, key=lambda f: f.name):
        if field.name == insert_id_column and field.name not in _KNOWN:
            continue  # an id column of its own is not an event field: not sent
        column = F.col(f"`{field.name}`")
        kind = field.dataType
        if _contains(kind, T.BinaryType):
            raise TypeError(f"df column {field.name!r} holds binary data, which JSON cannot carry")
        if field.name in _MILLIS_FIELDS:
            if isinstance(kind, _TEMPORAL):
                column = F.unix_millis(column.cast("timestamp"))
            elif isinstance(kind, _FRACTIONAL):
                column = column.cast("long")
        out.append(_canonical(column, kind).alias(field.name))
    return out


def _contains(kind: T.DataType, wanted: type) -> bool:
    if isinstance(kind, wanted):
        return True
    if isinstance(kind, T.StructType):
        return any(_contains(f.dataType, wanted) for f in kind.fields)
    if isinstance(kind, T.MapType):
        return _contains(kind.keyType, wanted) or _contains(kind.valueType, wanted)
    if isinstance(kind, T.ArrayType):
        return _contains(kind.elementType, wanted)
    return False


def _wide_integers(kind: T.DataType) -> bool:
    """Can a value be an integer beyond 64 bits in the row's JSON (a decimal of 19+ digits)?"""
    if isinstance(kind, T.DecimalType):
        return kind.precision > 18
    if isinstance(kind, T.StructType):
        return any(_wide_integers(f.dataType) for f in kind.fields)
    if isinstance(kind, T.MapType):
        return _wide_integers(kind.keyType) or _wide_integers(kind.valueType)
    if isinstance(kind, T.ArrayType):
        return _wide_integers(kind.elementType)
    return False


def _nested(kind: T.DataType) -> bool:
    return _contains(kind, T.StructType) or _contains(kind, T.MapType)


def _by_key(a: Column, b: Column) -> Column:
    return F.when(a["key"] < b["key"], -1).when(a["key"] > b["key"], 1).otherwise(0)


def _canonical(column: Column, kind: T.DataType) -> Column:
    """``column`` with struct fields in name order and map entries sorted by key, recursively."""
    if isinstance(kind, T.StructType):
        fields = sorted(kind.fields, key=lambda f: f.name)
        rebuilt = F.struct(*[_canonical(column[f.name], f.dataType).alias(f.name) for f in fields])
        return F.when(column.isNull(), F.lit(None)).otherwise(rebuilt)
    if isinstance(kind, T.MapType):
        entries = F.array_sort(F.map_entries(column), _by_key)
        if _nested(kind.valueType):
            value_type = kind.valueType
            entries = F.transform(
                entries,
                lambda e: F.struct(
                    e["key"].alias("key"), _canonical(e["value"], value_type).alias("value")
                ),
            )
        return F.map_from_entries(entries)
    if isinstance(kind, T.ArrayType) and _nested(kind.elementType):
        element_type = kind.elementType
        return F.transform(column, lambda x: _canonical(x, element_type))
    return column


def _hashed_id(event: Column) -> Column:
    """``SHA-256(INSERT_ID_NAMESPACE + event JSON)``, its first 128 bits laid out as a UUID.

    For ``insert_ids``; a send computes the same id in the task (``hashed_insert_id``).
    """
    h = F.sha2(F.concat(F.lit(INSERT_ID_NAMESPACE), event), 256)
    # Version nibble 8 (RFC 9562 "custom"), variant bits 10: a well-formed UUID.
    return F.concat(
        F.substring(h, 1, 8), F.lit("-"), F.substring(h, 9, 4), F.lit("-8"),
        F.substring(h, 14, 3), F.lit("-"),
        F.translate(F.substring(h, 17, 1), "0123456789abcdef", "89ab89ab89ab89ab"),
        F.substring(h, 18, 3), F.lit("-"), F.substring(h, 21, 12),
    )  # fmt: skip


def _with_ids(df: DataFrame, insert_id_column: str | None) -> DataFrame:
    """``df``'s columns plus ``insert_id``, computed in the JVM (for ``insert_ids``).

    The id is the ``insert_id_column`` value, else the row's own ``insert_id``, else the hash
    of the event JSON: the ids a send gives (``_rows`` and ``split_line``).
    """
    # A projection of its own, so the JSON is built once even though the hash reads it too.
    staged = df.select(F.col("*"), _event_json(df, insert_id_column).alias(_EVENT))
    own = _own_id(df, insert_id_column)
    if own is None:
        ids = _hashed_id(F.col(_EVENT))
    elif insert_id_column is not None:
        ids = own  # never hashed: a row without a value there is invalid
    else:
        ids = F.coalesce(own, _hashed_id(F.col(_EVENT)))
    return staged.withColumn("insert_id", ids).drop(_EVENT)


def _event_json(df: DataFrame, insert_id_column: str | None) -> Column:
    """Each row's event as canonical JSON (what is sent, and what the content hash reads)."""
    return F.to_json(F.struct(*_event_columns(df, insert_id_column)))


def _own_id(df: DataFrame, insert_id_column: str | None) -> Column | None:
    """A row's own id, as a string: the ``insert_id_column`` value when one is named, else
    the ``insert_id`` column when ``df`` has one; ``None`` when rows carry no id."""
    source = insert_id_column or ("insert_id" if "insert_id" in df.columns else None)
    return None if source is None else F.col(f"`{source}`").cast("string")


def insert_ids(df: DataFrame, insert_id_column: str | None = None) -> DataFrame:
    """``df`` with an ``insert_id`` column: the id ``send_dataframe`` gives each row.

    Join it with ``SendResult.outcomes`` on ``insert_id`` to see each row's outcome next to
    the row. The rule: the ``insert_id_column`` value when one is named; else the row's own
    ``insert_id`` when not null; else a hash of the row's content (see "Backfills and streams
    on Spark" in the docs).

    Args:
        df: the events, as for ``send_dataframe``.
        insert_id_column: as for ``send_dataframe``.

    Returns:
        ``df`` with ``insert_id`` added (or replaced).

    Raises:
        ValueError: as ``send_dataframe`` raises for columns.

    Examples:
        >>> ids = insert_ids(df)
        >>> ids.join(result.outcomes, "insert_id").where("status != 'success'").show()
    """
    _check_columns(df, insert_id_column)
    return _with_ids(df, insert_id_column)


# ---------------------------------------------------------------------------- the one job


def _rows(df: DataFrame, insert_id_column: str | None) -> DataFrame:
    """One string column: each row's event JSON, then ``"\\n"`` and its own id if it has one.

    The own id is the ``insert_id_column`` value, else the row's ``insert_id``; a null one
    is left out (``concat_ws`` skips nulls), and the task hashes the row or finds it invalid
    (``split_line``). The JSON never holds a raw line break: the JVM escapes them.
    """
    event = _event_json(df, insert_id_column)
    own = _own_id(df, insert_id_column)
    if own is not None:
        event = F.concat_ws("\n", event, own)
    return df.select(event.alias("row"))


def _strings(rows: DataFrame) -> RDD[str]:
    """``rows``' one string column as an RDD of ``str``, the way ``DataFrame.toJSON`` moves
    its strings: UTF-8 frames, read without pickling or building a ``Row`` per row (and many
    frames per call: ``Utf8Frames``)."""
    try:
        session = rows.sparkSession
        jvm: Any = session.sparkContext._jvm
        encoder = jvm.org.apache.spark.sql.Encoders.STRING()
        strings = getattr(rows._jdf, "as")(encoder)  # Dataset[String]
    except Exception as exc:  # Spark Connect DataFrames have no JVM side here
        raise TypeError(
            "amplitude_legacy.spark needs a classic PySpark session (the rows are sent from "
            "mapPartitions on executors); Spark Connect sessions are not supported"
        ) from exc
    return RDD(strings.toJavaRDD(), session.sparkContext, Utf8Frames())


def _run(
    df: DataFrame, sender: PartitionSender, insert_id_column: str | None
) -> Tuple[DataFrame, Summary]:
    """Send ``df`` in one Spark job; return the stored outcomes and their summary."""
    rows = _strings(_rows(df, insert_id_column))
    letters = [_DEAD_LETTERS] if sender.dead_letters else []
    packed = T.StructType([_IDS, _RUNS, *letters, _COUNTS])
    chunks = df.sparkSession.createDataFrame(rows.mapPartitions(sender), packed, verifySchema=False)
    # Runs the send now, once; later actions read the stored chunks (a lost executor makes
    # them fail rather than send again).
    stored = chunks.localCheckpoint(eager=True)
    counts = stored.select(_COUNTS.name).collect()  # a few rows per partition: no shuffle
    summary = Summary.of(tuple(c) for chunk in counts for c in chunk[0])
    return _expanded(stored, [f.name for f in letters]), summary


def _expanded(stored: DataFrame, letters: List[str]) -> DataFrame:
    """The stored chunks as one outcome row per input row, in order (computed when read)."""
    fields = OUTCOME_SCHEMA.names[1:]
    each = F.flatten(
        F.transform(
            _RUNS.name,
            lambda run: F.array_repeat(F.struct(*[run[f].alias(f) for f in fields]), run["n"]),
        )
    )
    per_chunk = stored.select(_IDS.name, each.alias("outcome"), *letters)
    zipped = per_chunk.select(F.explode(F.arrays_zip(*per_chunk.columns)).alias("o"))
    return zipped.select(f"o.{_IDS.name}", "o.outcome.*", *(f"o.{name}" for name in letters))


def _log_summary(what: str, summary: Summary) -> None:
    level = logging.WARNING if summary.rejected or summary.failed else logging.INFO
    log.log(level, "%s: %s", what, summary)
