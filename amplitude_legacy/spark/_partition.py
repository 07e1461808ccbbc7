"""What one Spark task runs: a client for the partition, every row logged, one outcome per row.

No PySpark import: Spark pickles a ``PartitionSender`` on the driver and calls it on the
executor with the partition's rows, each a string: the event as JSON, then a line break and
its id when the row has one (``split_line``; the others get their content hash). It builds a
``NodeClient`` there, adds the middleware, logs each row and yields the outcomes in input
order, in chunks (the ids, then the outcomes run-length encoded: a request's events share
one), keeping at most ``window`` events unresolved so memory stays flat for any partition
size. Then it shuts the client down (which flushes).
"""

from __future__ import annotations

import importlib
import json
from collections import Counter, deque
from concurrent.futures import Future
from typing import (
    Any,
    Callable,
    Deque,
    Dict,
    Iterable,
    Iterator,
    List,
    Optional,
    Sequence,
    Tuple,
    Union,
)

from amplitude_legacy._bulk_gc import fewer_collections
from amplitude_legacy._client import NodeClient
from amplitude_legacy._errors import hide_api_key
from amplitude_legacy._options import Options
from amplitude_legacy.spark._events import (
    OBJECT_FIELDS,
    Outcome,
    event_from_json,
    outcome_kind,
    row_loader,
    split_line,
)

__all__ = ["CHUNK", "DEFAULT_WINDOW", "MiddlewareSpec", "PartitionSender", "load_middleware"]

#: Events logged and not yet resolved, at most, per task (as the CLI's ``--max-in-flight``).
DEFAULT_WINDOW = 20_000
#: Outcomes per row handed back to Spark: one row per chunk (its ids, and runs of equal
#: outcomes) costs the JVM far less to take in than a row per event, or five values per
#: event (the driver expands them when the outcomes are read).
CHUNK = 4096

#: A middleware as given by the caller: a ``"module:function"`` string or a callable.
MiddlewareSpec = Union[str, Callable[..., Any]]


def load_middleware(spec: MiddlewareSpec) -> Callable[..., Any]:
    """Resolve ``"module:function"`` (the function part may be dotted); callables pass through.

    Args:
        spec: the middleware.

    Returns:
        The callable.

    Raises:
        TypeError: ``spec`` is neither a string nor a callable, or names something that is
            not callable.
        ValueError: the string is not ``module:function``.
        ImportError: the module cannot be imported (the message names the spec).
        AttributeError: the module has no such function.
    """
    if callable(spec):
        return spec
    if not isinstance(spec, str):
        raise TypeError(
            f"middleware: expected 'module:function' or a callable, got {type(spec).__name__}"
        )
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise ValueError(f"middleware {spec!r}: expected 'module:function'")
    try:
        target: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise ImportError(f"middleware {spec!r}: cannot import {module_name}: {exc}") from exc
    for part in attr.split("."):
        if not hasattr(target, part):
            raise AttributeError(f"middleware {spec!r}: {module_name} has no {attr}")
        target = getattr(target, part)
    if not callable(target):
        raise TypeError(f"middleware {spec!r}: {attr} is not callable")
    return target  # type: ignore[no-any-return]


#: An outcome without its id: ``(status, reason, status_code, error)``.
_Result = Tuple[str, Optional[str], int, Optional[str]]
# One pending row: its id, the row as read (kept for a dead letter only), and its future or
# its result when it was never logged.
_Pending = Tuple[Optional[str], Optional[str], Union["Future[Any]", _Result]]


class PartitionSender:
    """The function Spark runs once per partition (picklable; holds no client or thread).

    Args:
        api_key: the project's API key (never logged; redacted from error texts).
        options: the validated client options.
        middleware: run in this order, as ``addEventMiddleware`` would.
        json_fields: the object fields whose column holds JSON strings (parsed per row).
        hash_ids: a row without an id gets the hash of its content (``False`` when an
            ``insert_id_column`` is named: a row without a value there is ``invalid``).
        big_ints: rows may hold integers beyond 64 bits (such rows are parsed with
            ``json.loads``, not orjson: see ``row_loader``).
        dead_letters: add a sixth list to each chunk: for a rejected event, a JSON line with
            the outcome and the row as read, before middleware (``None`` otherwise).
        dead_letter_fields: merged into each dead-letter line (e.g. ``{"batch_id": 7}``).
        window: events logged and not yet resolved, at most.
        chunk: outcomes per yielded chunk.
    """

    def __init__(
        self,
        api_key: str,
        options: Options,
        middleware: Sequence[MiddlewareSpec] = (),
        *,
        json_fields: Sequence[str] = OBJECT_FIELDS,
        hash_ids: bool = True,
        big_ints: bool = True,
        dead_letters: bool = False,
        dead_letter_fields: Dict[str, Any] | None = None,
        window: int = DEFAULT_WINDOW,
        chunk: int = CHUNK,
    ) -> None:
        self.api_key = api_key
        self.options = options
        self.middleware = tuple(middleware)
        self.json_fields = tuple(json_fields)
        self.hash_ids = hash_ids
        self.big_ints = big_ints
        self.dead_letters = dead_letters
        self.dead_letter_fields = dict(dead_letter_fields or {})
        self.window = window
        self.chunk = chunk

    def __repr__(self) -> str:  # the API key stays out of reprs (Spark may log them)
        return f"<PartitionSender server_url={self.options.server_url!r}>"

    def __call__(self, rows: Iterable[str]) -> Iterator[Tuple[List[Any], ...]]:
        """Send the partition's rows (event JSON, and ``"\\n" + id`` when the row has one).

        Yields:
            Chunks of outcomes in input order: ``(insert_ids, runs)``, then the dead-letter
            lines when kept (one per row, like the ids), then the chunk's counts,
            ``[(status, reason, n), ...]``. ``runs`` is ``[(n, status, reason, status_code,
            error), ...]``: the next ``n`` rows' outcome, each run after the one before.
        """
        client: NodeClient | None = None
        pending: Deque[_Pending] = deque()
        columns: Tuple[List[Any], ...] = self._empty()
        last: List[Any] = [None, None]  # the last Response taken, and its result
        keep, json_fields, hash_ids = self.dead_letters, self.json_fields, self.hash_ids
        window, chunk, add = self.window, self.chunk, self._add
        loads = row_loader(self.big_ints)
        with fewer_collections():  # see _bulk_gc: a fifth to a third of a task's CPU
            try:
                for row_text in rows:
                    line, insert_id = split_line(row_text, hash_ids)
                    event, problem = event_from_json(line, insert_id, json_fields, loads)
                    row = line if keep else None
                    if problem is not None:
                        pending.append((insert_id, row, ("invalid", "invalid", 0, problem)))
                    else:
                        if client is None:
                            client = self._client()
                        pending.append((insert_id, row, client.logEvent(event)))
                    if len(pending) >= window:
                        add(columns, last, *pending.popleft())
                        if len(columns[0]) >= chunk:
                            yield self._sealed(columns)
                            columns = self._empty()
                if client is not None:
                    client.shutdown()  # flushes: every future below is resolved after this
                    client = None
                while pending:
                    add(columns, last, *pending.popleft())
                    if len(columns[0]) >= chunk:
                        yield self._sealed(columns)
                        columns = self._empty()
                if columns[0]:
                    yield self._sealed(columns)
            finally:
                if client is not None:  # the task failed or was cancelled: Spark runs it again
                    client.shutdown(0)

    def _empty(self) -> Tuple[List[Any], ...]:
        """A chunk being filled: ids, each run's result, each run's length (and dead letters)."""
        return tuple([] for _ in range(4 if self.dead_letters else 3))

    @staticmethod
    def _sealed(columns: Tuple[List[Any], ...]) -> Tuple[List[Any], ...]:
        """The chunk as yielded: its ids, its runs, its dead letters if kept, and its counts
        by ``(status, reason)``, which the driver sums for the summary instead of expanding
        and grouping every outcome."""
        ids, results, lengths, *letters = columns
        counts: Counter[Tuple[str, str | None]] = Counter()
        for n, (status, reason, _, _) in zip(lengths, results):
            counts[status, reason] += n
        runs = [(n, *result) for n, result in zip(lengths, results)]
        totals = [(status, reason, n) for (status, reason), n in counts.items()]
        return (ids, runs, *letters, totals)

    def _client(self) -> NodeClient:
        client = NodeClient(self.api_key, self.options)
        for spec in self.middleware:
            client.addEventMiddleware(load_middleware(spec))
        return client

    def _add(
        self,
        columns: Tuple[List[Any], ...],
        last: List[Any],
        insert_id: str | None,
        row: str | None,
        result: Union[Future[Any], _Result],
    ) -> None:
        """Append one event's outcome to the chunk (``last``: the task's last
        ``[Response, its result]``)."""
        if type(result) is tuple:
            outcome: _Result = result
        else:
            # An event future: its Response is shared by every event of its request, so its
            # result is worked out once per request (the last one is kept).
            try:
                response = result.result()  # type: ignore[union-attr]
            except Exception as exc:  # a middleware raised: the future carries its exception
                error = f"{type(exc).__name__}: {exc}"
                outcome = ("failed", "middleware_error", 0, self._redact(error))
            else:
                if response is not last[0]:
                    last[0], last[1] = response, self._result_of(response)
                outcome = last[1]
        columns[0].append(insert_id)
        results = columns[1]
        if results and (outcome is results[-1] or outcome == results[-1]):
            columns[2][-1] += 1  # the run goes on (the same request, or an equal outcome)
        else:
            results.append(outcome)
            columns[2].append(1)
        if self.dead_letters:
            columns[3].append(self._dead_letter((insert_id, *outcome), row))

    def _result_of(self, response: Any) -> _Result:
        """A delivered or undelivered event's ``(status, reason, status_code, error)``."""
        status = response.status
        if status == "success":
            return ("success", None, response.status_code, None)
        error = response.error
        return (
            str(status),
            response.reason,
            response.status_code,
            None if error is None else self._redact(str(error)),
        )

    def _dead_letter(self, outcome: Outcome, row: str | None) -> str | None:
        """The JSON line for a rejected event (with the row as read); ``None`` otherwise."""
        if outcome_kind(outcome[1], outcome[2]) != "rejected":
            return None
        keys = ("insert_id", "status", "reason", "status_code", "error")
        record: Dict[str, Any] = {**dict(zip(keys, outcome)), **self.dead_letter_fields}
        try:
            record["event"] = None if row is None else json.loads(row)
            return json.dumps(record, ensure_ascii=False, default=repr)
        except RecursionError:  # a row too deep for json: kept as the text it was
            record["event"] = row
        return json.dumps(record, ensure_ascii=False, default=repr)

    def _redact(self, text: str) -> str:
        return hide_api_key(text, self.api_key)
