"""The command line: ``amplitude-legacy`` (console script) and ``python -m amplitude_legacy``.

Commands:

* ``send FILE.jsonl``: send JSON-lines events through the client (middleware included), with a
  progress display and a summary by outcome. Streams: memory stays flat for any file size.
* ``check FILE.jsonl``: validate events offline against the API rules; one line per problem.
* ``collector``: run the bundled Amplitude-compatible collector
  (``amplitude_legacy.testing._cli``).

Exit status: 0 when everything went through, 1 when an event was not delivered (``send``) or
has a problem (``check``), or a line is malformed; 2 for usage errors; 130 on Ctrl-C.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
import sys
import threading
import time
from collections import Counter, deque
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeoutError
from typing import (
    Any,
    Callable,
    Deque,
    Dict,
    Iterator,
    List,
    Mapping,
    Protocol,
    Sequence,
    TextIO,
    Tuple,
)

from amplitude_legacy._version import __version__

__all__ = ["EXIT_FAILED", "EXIT_INTERRUPTED", "EXIT_OK", "EXIT_USAGE", "build_parser", "main"]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

API_KEY_ENV = "AMPLITUDE_API_KEY"
#: Events logged and not yet resolved, at most: bounds memory for files of any size.
DEFAULT_MAX_IN_FLIGHT = 20_000
#: How many dropped events are reported one by one (with their line number) on stderr.
MAX_DROPS_SHOWN = 20

_EXIT_STATUS = """\
exit status:
  0  every event was delivered (or deliberately skipped by a middleware)
  1  an event was not delivered, or a line is malformed
  2  usage error (bad option, missing API key, unreadable file)
  130  interrupted (Ctrl-C)"""

_CHECK_EXIT_STATUS = """\
exit status:
  0  no problem found
  1  an event has a problem, or a line is malformed
  2  usage error (bad option, unreadable file)"""


class _UsageError(Exception):
    """A problem with the command line or its inputs (exit status 2)."""


# ---------------------------------------------------------------------------- parser


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    """Build the ``amplitude-legacy`` argument parser (every command has ``--help``).

    Args:
        prog: the program name shown in usage and help (default ``amplitude-legacy``).
    """
    parser = argparse.ArgumentParser(
        prog=prog or "amplitude-legacy",
        description="Send, check and receive Amplitude events from the command line.",
        epilog="Run '%(prog)s COMMAND --help' for the options of a command.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True

    send = commands.add_parser(
        "send",
        help="send JSON-lines events to Amplitude (or to --server-url)",
        description=(
            "Read events (one JSON object per line) and send them through the client: "
            "annotation, middleware, validation, batching and retries as in an application. "
            "Shows progress on stderr and prints a summary by outcome on stdout."
        ),
        epilog=_EXIT_STATUS,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    send.add_argument("file", metavar="FILE.jsonl", help="events file; '-' reads stdin")
    send.add_argument(
        "--api-key",
        metavar="KEY",
        help=f"the project's API key (default: ${API_KEY_ENV}); never printed",
    )
    send.add_argument(
        "--server-url", metavar="URL", help="where to POST events (overrides --eu and --batch)"
    )
    send.add_argument(
        "--middleware",
        action="append",
        default=[],
        metavar="MODULE:FUNCTION",
        help="a (payload, next) middleware to add; repeat for several, applied in order",
    )
    send.add_argument(
        "--batch", action="store_true", help="use the Batch API endpoint (/batch, 20 MB bodies)"
    )
    send.add_argument("--eu", action="store_true", help="use the EU data-residency endpoint")
    send.add_argument(
        "--timeout",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help=(
            "once the file is read, wait at most this long for delivery; what is left is "
            "dropped as shutdown_timeout (default: %(default)s)"
        ),
    )
    send.add_argument(
        "--max-in-flight",
        type=int,
        default=DEFAULT_MAX_IN_FLIGHT,
        metavar="N",
        help="events logged and not yet resolved, at most (default: %(default)s)",
    )
    send.add_argument(
        "--progress",
        choices=("auto", "bar", "lines", "none"),
        default="auto",
        help="a bar on a terminal, periodic lines otherwise (default: %(default)s)",
    )
    send.add_argument(
        "--progress-interval",
        type=float,
        metavar="SECONDS",
        help="seconds between progress updates (default: 0.2 for the bar, 5 for lines)",
    )

    check = commands.add_parser(
        "check",
        help="validate JSON-lines events offline against the API rules",
        description=(
            "Validate events (one JSON object per line) without sending them: the client's "
            "rules and the HTTP API's (required fields, types, invalid and short ids, "
            "reserved event types, nesting, size). Prints each problem with its line number."
        ),
        epilog=_CHECK_EXIT_STATUS,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    check.add_argument("file", metavar="FILE.jsonl", help="events file; '-' reads stdin")
    check.add_argument(
        "--min-id-length",
        type=int,
        default=5,
        metavar="N",
        help="shortest user_id/device_id accepted (options.min_id_length; default: %(default)s)",
    )
    check.add_argument(
        "--batch",
        action="store_true",
        help="check sizes against the Batch API's 20 MB limit instead of HTTP V2's 1 MB",
    )

    # Parsed by amplitude_legacy.testing._cli: listed here for the command overview only.
    commands.add_parser(
        "collector",
        help="run a local Amplitude-compatible collector (see 'collector --help')",
        add_help=False,
    )
    return parser


def main(argv: Sequence[str] | None = None, *, prog: str | None = None) -> int:
    """Run the command line.

    Args:
        argv: the arguments without the program name (default: ``sys.argv[1:]``).
        prog: the program name for usage and help (default: ``amplitude-legacy``).

    Returns:
        The exit status (it never raises ``SystemExit``, so tests can call it in-process).
    """
    args_list = list(sys.argv[1:] if argv is None else argv)
    prog = prog or "amplitude-legacy"
    if args_list and args_list[0] == "collector":
        from amplitude_legacy.testing._cli import main as collector_main

        return _guard(lambda: collector_main(args_list[1:], prog=f"{prog} collector"))
    parser = build_parser(prog)
    try:
        args = parser.parse_args(args_list)
    except SystemExit as exc:  # --help, --version, or a usage error (already printed)
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    run: Callable[[argparse.Namespace], int] = _send if args.command == "send" else _check
    try:
        return run(args)
    except _UsageError as exc:
        print(f"{prog} {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE


def _guard(run: Callable[[], int]) -> int:
    try:
        return run()
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE


# ---------------------------------------------------------------------------- input


class _Lines(Protocol):
    """What the commands read: binary lines, closable (a binary file or stdin's buffer)."""

    def __iter__(self) -> Iterator[bytes]: ...

    def close(self) -> None: ...


def _open_input(path: str) -> Tuple[_Lines, int | None]:
    """The input as binary lines, and its size in bytes when known (for the progress bar)."""
    if path == "-":
        stdin: Any = sys.stdin
        return (stdin.buffer if hasattr(stdin, "buffer") else _EncodedLines(stdin)), None
    try:
        stream = open(path, "rb")  # noqa: SIM115 - closed by the caller
    except OSError as exc:
        raise _UsageError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        size = os.fstat(stream.fileno()).st_size
    except OSError:
        size = 0
    return stream, size or None


def _close_input(stream: _Lines) -> None:
    if stream is not getattr(sys.stdin, "buffer", None):
        stream.close()


class _EncodedLines:
    """A text stream seen as binary lines (stdin replaced by a ``StringIO`` in tests)."""

    def __init__(self, text: TextIO) -> None:
        self._text = text

    def __iter__(self) -> Iterator[bytes]:
        for line in self._text:
            yield line.encode("utf-8")

    def close(self) -> None:
        pass


def _parse_lines(stream: _Lines) -> Iterator[Tuple[int, int, Any, str | None]]:
    """``(line number, bytes read so far, object, error)`` for every non-blank line."""
    position = 0
    for number, raw in enumerate(stream, 1):
        position += len(raw)
        if not raw.strip():
            continue
        try:
            value = json.loads(raw)
        except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
            yield number, position, None, f"malformed JSON: {exc}"
            continue
        if type(value) is not dict:
            yield number, position, None, f"not a JSON object (got {_json_kind(value)})"
            continue
        yield number, position, value, None


def _json_kind(value: object) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    return "a number"


def _load_middleware(spec: str) -> Callable[..., Any]:
    """Import ``module:function`` (the function part may be dotted)."""
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise _UsageError(f"--middleware {spec!r}: expected MODULE:FUNCTION")
    if "" not in sys.path and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())  # as with 'python -m': modules next to the data
    try:
        target: Any = importlib.import_module(module_name)
    except Exception as exc:
        raise _UsageError(f"--middleware {spec!r}: cannot import {module_name}: {exc}") from None
    for part in attr.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise _UsageError(f"--middleware {spec!r}: {module_name} has no {attr}") from None
    if not callable(target):
        raise _UsageError(f"--middleware {spec!r}: {attr} is not callable")
    return target  # type: ignore[no-any-return]


# ---------------------------------------------------------------------------- send


class _Tally:
    """What happened to the events read so far (main thread only, except reads by the bar).

    Outcomes are recorded in order from a window of futures (``_feed``): no callback runs on
    the client's worker thread, which keeps it sending at full speed.
    """

    def __init__(self, redact: Callable[[str], str], err: TextIO) -> None:
        self.read = 0
        self.malformed = 0
        self.bytes_read = 0
        self.outcomes: Counter[str] = Counter()
        self.failed = 0
        self.resolved = 0
        self.drops_shown = 0
        self.display: _Progress | None = None
        self._redact = redact
        self._err = err

    def record(self, line: int, future: Future[Any], timeout: float | None = None) -> None:
        """Wait for one event's outcome (at most ``timeout`` seconds) and count it."""
        outcome, failed, detail = _outcome(future, timeout)
        self.outcomes[outcome] += 1
        if outcome != "not resolved":
            self.resolved += 1
        if failed:
            self.failed += 1
            if self.drops_shown < MAX_DROPS_SHOWN:
                note = f": {self._redact(detail)}" if detail else ""
                self.warn(f"line {line}: {outcome}{note}")
            elif self.drops_shown == MAX_DROPS_SHOWN:
                self.warn("(further events not delivered are only counted in the summary)")
            self.drops_shown += 1

    def warn(self, message: str) -> None:
        """A message on stderr, above the progress bar if there is one."""
        display = self.display
        if display is not None:
            display.write_line(message)
        else:
            self._err.write(message + "\n")
            self._err.flush()


def _outcome(future: Future[Any], timeout: float | None) -> Tuple[str, bool, str | None]:
    """``(summary key, not delivered?, detail)`` for an event's future."""
    try:
        response = future.result(timeout)
    except FutureTimeoutError:
        return "not resolved", True, "no outcome before the end"
    except Exception as exc:  # a middleware raised: the future carries its exception
        return "dropped (middleware_error)", True, f"{type(exc).__name__}: {exc}"
    status = str(getattr(response, "status", "unknown"))
    reason = getattr(response, "reason", None)
    if status == "success":
        return "sent", False, None
    if status == "skipped" and reason == "middleware_stopped":
        return "skipped (middleware_stopped)", False, None
    return f"dropped ({reason or status})", True, getattr(response, "error", None)


class _Progress:
    """A one-line bar redrawn with ``\\r`` on a terminal, or a plain line every few seconds.

    Runs on its own thread; the sent/dropped counts come from ``client.stats()``, so they are
    live even while the main thread waits for the oldest event of the window.
    """

    WIDTH = 24

    def __init__(
        self,
        tally: _Tally,
        counts: Callable[[], Tuple[int, int]],
        stream: TextIO,
        bar: bool,
        interval: float,
        total: int | None,
    ) -> None:
        self._tally = tally
        self._counts = counts
        self._stream = stream
        self._bar = bar
        self._interval = interval
        self._total = total
        self._start = time.monotonic()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._drawn = False
        self._thread = threading.Thread(
            target=self._run, name="amplitude-legacy-progress", daemon=True
        )

    def start(self) -> None:
        """Start drawing."""
        self._tally.display = self
        self._thread.start()

    def stop(self) -> None:
        """Stop drawing; a bar is drawn a last time and ended with a newline."""
        self._stop.set()
        self._thread.join()
        with self._lock:
            if self._bar:
                self._draw_locked()
                self._stream.write("\n")
                self._stream.flush()
                self._drawn = False
        self._tally.display = None

    def write_line(self, message: str) -> None:
        """Print a message above the bar (the bar is redrawn at the next tick)."""
        with self._lock:
            if self._bar and self._drawn:
                self._stream.write("\r\x1b[K")
                self._drawn = False
            self._stream.write(message + "\n")
            self._stream.flush()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            with self._lock:
                self._draw_locked()

    def _draw_locked(self) -> None:
        tally = self._tally
        read, position = tally.read, tally.bytes_read
        try:
            sent, dropped = self._counts()
        except Exception:  # never let the display break the run
            sent = dropped = 0
        elapsed = max(time.monotonic() - self._start, 1e-9)
        rate = (sent + dropped) / elapsed
        counts = f"read {read:,}  sent {sent:,}  dropped {dropped:,}  {rate:,.0f} events/s"
        if not self._bar:
            self._stream.write(f"progress: {counts}\n")
            self._stream.flush()
            return
        head = ""
        if self._total:
            fraction = min(1.0, position / self._total)
            filled = int(fraction * self.WIDTH)
            head = f"[{'#' * filled}{'.' * (self.WIDTH - filled)}] {fraction:4.0%}  "
        self._stream.write(f"\r\x1b[K{head}{counts}")
        self._stream.flush()
        self._drawn = True


class _RedactingHandler(logging.Handler):
    """Shows the library's log records on stderr (above the bar), without the API key."""

    def __init__(self, tally: _Tally, redact: Callable[[str], str]) -> None:
        super().__init__(logging.WARNING)
        self._tally = tally
        self._redact = redact
        self.setFormatter(logging.Formatter("%(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self._tally.warn(self._redact(self.format(record)))
        except Exception:
            self.handleError(record)


def _send(args: argparse.Namespace) -> int:
    import amplitude_legacy

    out, err = sys.stdout, sys.stderr
    api_key = args.api_key or os.environ.get(API_KEY_ENV, "")
    if not api_key:
        raise _UsageError(f"no API key: pass --api-key or set ${API_KEY_ENV}")
    if args.max_in_flight < 1:
        raise _UsageError("--max-in-flight must be at least 1")
    if args.timeout < 0:
        raise _UsageError("--timeout must be >= 0")
    middleware = [_load_middleware(spec) for spec in args.middleware]

    def redact(text: str) -> str:
        return text.replace(api_key, "***")

    options: Dict[str, Any] = {"use_batch": bool(args.batch)}
    if args.eu:
        options["server_zone"] = "EU"
    if args.server_url:
        options["server_url"] = args.server_url
    stream, total = _open_input(args.file)
    try:
        client = amplitude_legacy.init(api_key, **options)
    except amplitude_legacy.OptionsError as exc:
        _close_input(stream)
        raise _UsageError(redact(str(exc))) from None
    for function in middleware:
        client.addEventMiddleware(function)

    def counts() -> Tuple[int, int]:
        stats = client.stats()
        skipped = stats.dropped.get("middleware_stopped", 0)
        return stats.delivered, stats.dropped_total - skipped

    tally = _Tally(redact, err)
    mode = args.progress
    if mode == "auto":
        mode = "bar" if _isatty(err) else "lines"
    progress: _Progress | None = None
    if mode != "none":
        interval = args.progress_interval or (0.2 if mode == "bar" else 5.0)
        progress = _Progress(tally, counts, err, mode == "bar", interval, total)

    logger = logging.getLogger("amplitude_legacy")
    handler = _RedactingHandler(tally, redact)
    saved_propagate = logger.propagate
    logger.addHandler(handler)
    logger.propagate = False  # shown once, by our handler, redacted
    window: Deque[Tuple[int, Future[Any]]] = deque()
    interrupted = False
    start = time.monotonic()
    if progress is not None:
        progress.start()
    try:
        try:
            _feed(client, stream, tally, window, args.max_in_flight)
        except KeyboardInterrupt:
            interrupted = True
            tally.warn("interrupted: delivering what was read (at most 5 s)")
        finally:
            _close_input(stream)
        client.shutdown(_INTERRUPT_GRACE if interrupted else args.timeout)
    except KeyboardInterrupt:
        interrupted = True
        client.shutdown(0)
    finally:
        # After shutdown every future is resolved; the bound only guards against a stuck one.
        deadline = time.monotonic() + _RESOLVE_GRACE
        while window:
            line, future = window.popleft()
            tally.record(line, future, max(0.0, deadline - time.monotonic()))
        if progress is not None:
            progress.stop()
        logger.removeHandler(handler)
        logger.propagate = saved_propagate
    return _summarize(tally, time.monotonic() - start, interrupted, out)


#: After Ctrl-C, how long the events already read may take to be delivered.
_INTERRUPT_GRACE = 5.0
#: After shutdown, how long to wait for the last outcomes (they are normally all there).
_RESOLVE_GRACE = 2.0


def _feed(
    client: Any,
    stream: _Lines,
    tally: _Tally,
    window: Deque[Tuple[int, Future[Any]]],
    max_in_flight: int,
) -> None:
    """Read, parse and log every line, with at most ``max_in_flight`` outcomes pending.

    Memory stays flat for any input: when the window is full, the oldest event's outcome is
    awaited (events resolve roughly in order) before the next line is read.
    """
    log_event = client.logEvent
    append, popleft, record = window.append, window.popleft, tally.record
    for number, position, event, error in _parse_lines(stream):
        tally.bytes_read = position
        if event is None:
            tally.malformed += 1
            tally.warn(f"line {number}: {error}")
            continue
        tally.read += 1
        try:
            future = log_event(event)
        except Exception as exc:  # the client does not raise here; belt and braces
            future = Future()
            future.set_exception(exc)
        append((number, future))
        if len(window) >= max_in_flight:
            record(*popleft())


def _summarize(tally: _Tally, elapsed: float, interrupted: bool, out: TextIO) -> int:
    outcomes = dict(tally.outcomes)
    lines = [f"read: {tally.read}", f"sent: {outcomes.pop('sent', 0)}"]
    lines += [f"{key}: {outcomes[key]}" for key in sorted(outcomes)]
    lines.append(f"malformed lines: {tally.malformed}")
    rate = tally.resolved / elapsed if elapsed > 0 else 0.0
    lines.append(f"elapsed: {elapsed:.2f}s ({rate:,.0f} events/s)")
    out.write("\n".join(lines) + "\n")
    out.flush()
    if interrupted:
        return EXIT_INTERRUPTED
    return EXIT_FAILED if tally.failed or tally.malformed else EXIT_OK


def _isatty(stream: TextIO) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


# ---------------------------------------------------------------------------- check

_HTTP_API_LIMIT = 1_000_000
_BATCH_LIMIT = 20_000_000
# The request around one event: {"api_key":"<32 chars>","events":[...]}.
_REQUEST_OVERHEAD = 64


def _check(args: argparse.Namespace) -> int:
    from amplitude_legacy._event import Event, find_problem
    from amplitude_legacy.testing._validation import validate_events

    if args.min_id_length < 0:
        raise _UsageError("--min-id-length must be >= 0")
    stream, _ = _open_input(args.file)
    out = sys.stdout
    limit = _BATCH_LIMIT if args.batch else _HTTP_API_LIMIT
    events = bad_events = malformed = 0
    try:
        for number, _, event, error in _parse_lines(stream):
            if event is None:
                malformed += 1
                out.write(f"line {number}: {error}\n")
                continue
            events += 1
            problems = _event_problems(
                event, find_problem(Event(event)), validate_events, args.min_id_length, limit
            )
            if problems:
                bad_events += 1
                out.writelines(f"line {number}: {problem}\n" for problem in problems)
    finally:
        _close_input(stream)
    out.write(f"events: {events}\nwith problems: {bad_events}\nmalformed lines: {malformed}\n")
    out.flush()
    return EXIT_FAILED if bad_events or malformed else EXIT_OK


def _event_problems(
    event: Dict[str, Any],
    client_problem: Tuple[str, str] | None,
    validate: Callable[..., Mapping[str, Any] | None],
    min_id_length: int,
    limit: int,
) -> List[str]:
    """Every problem of one event: the client's rule first, then the API's, then the size."""
    from amplitude_legacy.testing._validation import RESERVED_EVENT_TYPES

    found: Dict[str, str] = {}
    if client_problem is not None:
        field, message = client_problem
        found[field] = message
    body = validate([event], min_id_length) or {}
    for field in body.get("events_with_missing_fields", {}):
        if field == "user_id":
            found.setdefault(field, "missing: an event needs a user_id or a device_id")
        else:
            found.setdefault(field, "missing (required)")
    for field in body.get("events_with_invalid_fields", {}):
        value = event.get(field)
        if field in ("user_id", "device_id") and isinstance(value, str):
            why = f"{value!r} is not a usable id (the API rejects it)"
        elif field == "event_type" and value in RESERVED_EVENT_TYPES:
            why = f"{value!r} is reserved for Amplitude"
        elif field == "event_type" and value == "":
            why = "must not be empty"
        else:
            why = f"invalid value {_short(value)} (wrong type, or nested deeper than 40)"
        found.setdefault(field, why)
    for field in body.get("events_with_invalid_id_lengths", {}):
        found.setdefault(field, f"shorter than {min_id_length} characters (options.min_id_length)")
    problems = [f"{field}: {message}" for field, message in found.items()]
    try:
        size = len(json.dumps(event, separators=(",", ":"), allow_nan=False).encode())
    except ValueError:
        size = 0
    if size + _REQUEST_OVERHEAD > limit:
        problems.append(f"event: encodes to {size:,} bytes, over the {limit:,}-byte request limit")
    return problems


def _short(value: object) -> str:
    text = json.dumps(value) if not isinstance(value, float) else repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
