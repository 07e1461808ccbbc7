"""The command line: ``amplitude-legacy`` (console script) and ``python -m amplitude_legacy``.

Commands:

* ``send FILE.jsonl``: send JSON-lines events through the client (middleware included), with a
  progress display and a summary by outcome (``--json`` for a machine-readable one) that
  accounts for every line read. Streams: memory stays flat for any file size. Ctrl-C stops
  reading, delivers what was read (briefly) and prints the ``--skip N`` that resumes the run;
  ``--dry-run`` runs middleware and validation and sends nothing.
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
import signal
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

from amplitude_legacy._decoding import orjson_parser
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
  1  an event was not delivered (with --dry-run: would not be), or a line is malformed
  2  usage error (bad option, missing API key, unreadable file)
  130  interrupted (Ctrl-C); the resume hint on stderr gives the --skip to use"""

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
            "Read events (one JSON object per line) and send them through the client:\n"
            "annotation, middleware, validation, batching and retries as in an application.\n"
            "Shows progress on stderr and prints a summary by outcome on stdout; every line\n"
            "read is accounted for. After Ctrl-C it says which --skip resumes the run.\n\n"
            f"Set the API key in ${API_KEY_ENV} rather than with --api-key: the variable\n"
            "keeps the key out of the process list, where other users could read it."
        ),
        epilog=_EXIT_STATUS,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    send.add_argument("file", metavar="FILE.jsonl", help="events file; '-' reads stdin")
    send.add_argument(
        "--api-key",
        metavar="KEY",
        help=(
            f"the project's API key (default: ${API_KEY_ENV}); never printed. A key given "
            f"here is visible in the process list to other users of the machine: prefer "
            f"${API_KEY_ENV}"
        ),
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
        "--skip",
        type=int,
        default=0,
        metavar="N",
        help=(
            "skip the first N lines of the input (to resume an interrupted run: the hint it "
            "prints gives N); line numbers in reports stay the file's"
        ),
    )
    send.add_argument(
        "--dry-run",
        action="store_true",
        help=(
            "run annotation, middleware and validation, send nothing, and report what would "
            "be sent (no API key needed)"
        ),
    )
    send.add_argument(
        "--json",
        action="store_true",
        help=(
            "print the summary as one JSON object on stdout: counts by outcome and reason, "
            "retries, lines read, duration, resume line"
        ),
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


class _Reader:
    """The input's lines after the first ``skip``, parsed: ``(line number, object, problem)``.

    Blank lines give ``(number, None, None)``; malformed ones a problem naming the column in
    that line. Line numbers are the file's, whatever ``skip`` is. ``position`` is the number
    of bytes read so far (for the progress bar), ``skipped`` the lines skipped.
    """

    def __init__(self, stream: _Lines, skip: int = 0) -> None:
        self._stream = stream
        self._skip = skip
        self.position = 0
        self.skipped = 0
        # Chosen here, not at import: importing orjson costs ``--help`` about 20 ms.
        self._fast_parse = orjson_parser()

    def __iter__(self) -> Iterator[Tuple[int, Any, str | None]]:
        for number, raw in enumerate(self._stream, 1):
            self.position += len(raw)
            if number <= self._skip:
                self.skipped += 1
                continue
            if not raw.strip():
                yield number, None, None
                continue
            value, problem = _parse_line(raw, number == 1, self._fast_parse)
            yield number, value, problem


def _parse_line(
    raw: bytes, first: bool, fast_parse: Callable[[bytes], Any] | None
) -> Tuple[Any, str | None]:
    """One line as ``(object, None)``, or ``(None, problem)``.

    ``fast_parse``: orjson's parse where it gives ``json.loads``'s values (``_decoding``),
    in about half the time; what it does not decide, and every problem, takes the standard
    library's way below.
    """
    if fast_parse is not None:
        try:
            value = fast_parse(raw)
        except ValueError:
            pass
        else:
            if type(value) is dict:
                return value, None
    # Without its line break, a JSON error is placed in this line (never "line 2 column 1").
    try:
        text = raw.rstrip(b"\r\n").decode("utf-8")
    except UnicodeDecodeError as exc:
        return None, f"not UTF-8: byte {exc.start + 1} of the line is invalid"
    if first and text.startswith("\ufeff"):  # a byte-order mark some editors write
        text = text[1:]
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        return None, f"malformed JSON at column {exc.colno}: {exc.msg}"
    except RecursionError:
        return None, "JSON nested too deeply to parse (the API takes 40 levels)"
    if type(value) is not dict:
        return None, f"not a JSON object (got {_json_kind(value)})"
    return value, None


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

#: Outcome kinds of one event, as counted by ``send`` (and the ``--json`` keys).
_SENT, _WOULD_SEND, _SKIPPED, _DROPPED, _INTERRUPTED, _UNKNOWN = (
    "sent",
    "would_send",
    "skipped",
    "dropped",
    "not_sent_interrupted",
    "unknown_outcome",  # the request was on the wire when shutdown's time ran out
)
#: The flag that sets each option ``send`` passes to the client (``OptionsError.option``).
_OPTION_FLAGS: Mapping[str, str] = {
    "serverUrl": "--server-url",
    "useBatch": "--batch",
    "serverZone": "--eu",
    "apiKey": "--api-key",
}


def _flag_error(exc: Any) -> str:
    """An ``OptionsError`` message naming the command-line flag instead of the option."""
    option = getattr(exc, "option", "")
    text = str(exc)
    prefix = f"option {option!r}: "
    if text.startswith(prefix):
        text = text[len(prefix) :]
    return f"{_OPTION_FLAGS.get(option, option)}: {text}"


class _Interrupts:
    """Ctrl-C for ``send``, without leaving an event half logged.

    SIGINT raises ``KeyboardInterrupt`` only while the main thread is at a safe point (blocked
    reading the input, or waiting for an outcome or for the final delivery), where stopping
    loses nothing; anywhere else it is counted in ``presses`` and the next safe point raises.
    Only the main thread can install a handler; elsewhere SIGINT keeps its usual behaviour.
    """

    def __init__(self) -> None:
        self.presses = 0
        self._safe = False
        self._previous: Any = None
        self._installed = False

    def __enter__(self) -> _Interrupts:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
            self._installed = True
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._installed:
            signal.signal(signal.SIGINT, self._previous)

    def _handle(self, signum: int, frame: Any) -> None:
        self.presses += 1
        if self._safe:
            # Unsafe from here on: the exception may reach the block's end before its exit
            # resets the flag (or skip the exit), and a later press must never raise in code
            # that takes locks (see _Finished).
            self._safe = False
            raise KeyboardInterrupt

    def safe_point(self, since: int = 0) -> _SafePoint:
        """A block a Ctrl-C may interrupt; raises at once if one came after ``since`` presses.

        The object can be entered again and again (``send`` enters one for every line read).
        """
        return _SafePoint(self, since)


class _SafePoint:
    """``with`` block of ``_Interrupts.safe_point``: a class, not a generator: per line read,
    a generator-based context manager cost about a tenth of the main thread's time."""

    __slots__ = ("_interrupts", "_since")

    def __init__(self, interrupts: _Interrupts, since: int) -> None:
        self._interrupts = interrupts
        self._since = since

    def __enter__(self) -> None:
        interrupts = self._interrupts
        interrupts._safe = True  # first: a press from here on raises in the handler
        if interrupts.presses > self._since:
            interrupts._safe = False
            raise KeyboardInterrupt

    def __exit__(self, *exc_info: object) -> None:
        self._interrupts._safe = False


class _Finished:
    """A one-time signal from another thread, which the main thread waits for in a safe point.

    A ``KeyboardInterrupt`` raised while the main thread runs code that takes a shared lock
    can leave that lock held (``threading.Condition.__enter__`` is Python code: the exception
    can land after the acquire, before the ``with`` owns it); every thread that needs the lock
    then waits for ever. A second Ctrl-C during the final delivery hung ``send`` that way,
    inside ``flush``. So a safe point waits either for input (the file's own read, no lock
    of ours) or here: one C-level ``Lock.acquire``, which a signal interrupts cleanly, on a
    lock nothing else waits for.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._lock.acquire()

    def set(self, *_: object) -> None:
        """Release the waiter (call once; also usable as a future's done-callback)."""
        self._lock.release()

    def wait(self) -> None:
        """Block until ``set``; a Ctrl-C in a safe point interrupts it."""
        self._lock.acquire()


class _Problems:
    """Events not delivered, grouped by what happened: one report line per distinct problem,
    with its count and lines (an invalid API key gives one line, not one per event)."""

    MAX_RANGES = 8

    def __init__(self, redact: Callable[[str], str]) -> None:
        self._groups: Dict[Tuple[str, str], List[Any]] = {}  # key -> [count, ranges, more]
        self._redact = redact

    def add(self, label: str, detail: str | None, line: int) -> None:
        """Count one event of ``line`` that ended as ``label`` with ``detail``."""
        group = self._groups.setdefault((label, detail or ""), [0, [], False])
        group[0] += 1
        ranges: List[List[int]] = group[1]
        if ranges and ranges[-1][1] == line - 1:
            ranges[-1][1] = line
        elif len(ranges) < self.MAX_RANGES:
            ranges.append([line, line])
        else:
            group[2] = True

    def report(self) -> List[str]:
        """The report lines, in the order problems first happened."""
        rows = []
        for index, ((label, detail), (count, ranges, more)) in enumerate(self._groups.items()):
            if index == MAX_DROPS_SHOWN:
                rows.append(
                    f"({len(self._groups) - index} more kinds of problem, counted in the summary)"
                )
                break
            spans = [f"{a:,}" if a == b else f"{a:,}-{b:,}" for a, b in ranges]
            where = ", ".join(spans) + (", ..." if more else "")
            head = f"line {where}" if count == 1 else f"lines {where} ({count:,} events)"
            note = f": {self._redact(detail)}" if detail else ""
            rows.append(f"{head}: {label}{note}")
        return rows


class _Tally:
    """What happened to every line read so far (main thread, except reads by the bar)."""

    def __init__(self, problems: _Problems, err: TextIO) -> None:
        self.read = 0  # events (well-formed lines) handed to the client
        self.lines = 0  # lines read after --skip, blank and malformed included
        self.blank = 0
        self.malformed = 0
        self.bytes_read = 0
        self.outcomes: Counter[Tuple[str, str | None]] = Counter()
        self.problems = problems
        self.display: _Progress | None = None
        self._err = err

    def record(self, line: int, outcome: Tuple[str, str | None, str | None]) -> None:
        """Count one event's outcome ``(kind, reason, detail)``."""
        kind, reason, detail = outcome
        self.outcomes[(kind, reason)] += 1
        if kind in (_DROPPED, _INTERRUPTED, _UNKNOWN):
            self.problems.add(_label(kind, reason), detail, line)

    def count(self, kind: str) -> int:
        """Events that ended as ``kind``, whatever the reason."""
        return sum(n for (k, _), n in self.outcomes.items() if k == kind)

    def by_reason(self, kind: str) -> Dict[str, int]:
        """Events that ended as ``kind``, by reason."""
        return {str(r): n for (k, r), n in sorted(self.outcomes.items(), key=str) if k == kind}

    def warn(self, message: str) -> None:
        """A message on stderr, above the progress bar if there is one."""
        display = self.display
        if display is not None:
            display.write_line(message)
        else:
            self._err.write(message + "\n")
            self._err.flush()


def _label(kind: str, reason: str | None) -> str:
    """The summary's name for an outcome: ``dropped (invalid)``, ``not sent (interrupted)``."""
    if kind == _SENT:
        return "sent"
    if kind == _WOULD_SEND:
        return "would be sent"
    if kind == _INTERRUPTED:
        return "not sent (interrupted)"
    if kind == _UNKNOWN:
        return "outcome unknown (on the wire at shutdown)"
    return f"{kind} ({reason})"


def _outcome(
    future: Future[Any], timeout: float | None, dry_run: bool, interrupted: bool
) -> Tuple[str, str | None, str | None]:
    """``(kind, reason, detail)`` for an event's future."""
    try:
        response = future.result(timeout)
    except FutureTimeoutError:
        if interrupted:
            return _INTERRUPTED, None, None
        return _DROPPED, "not_resolved", "no outcome before the end"
    except Exception as exc:  # a middleware raised: the future carries its exception
        return _DROPPED, "middleware_error", f"{type(exc).__name__}: {exc}"
    status = str(getattr(response, "status", "unknown"))
    reason = getattr(response, "reason", None)
    if status == "success":
        return (_WOULD_SEND if dry_run else _SENT), None, None
    if status == "skipped" and reason == "middleware_stopped":
        return _SKIPPED, reason, None
    if reason == _UNKNOWN:  # maybe delivered, maybe not
        return _UNKNOWN, None, None
    if interrupted and reason == "shutdown_timeout":
        return _INTERRUPTED, None, None
    return _DROPPED, reason or status, getattr(response, "error", None)


_NOT_A_RESPONSE = object()


class _Outcomes:
    """``_outcome`` of each resolved event in turn, worked out once per ``Response``: the
    events of one request share theirs (``send`` reads every event's outcome)."""

    def __init__(self, dry_run: bool) -> None:
        self._dry_run = dry_run
        self._response: Any = _NOT_A_RESPONSE
        self._outcome: Tuple[str, str | None, str | None] = (_SENT, None, None)

    def __call__(self, future: Future[Any]) -> Tuple[str, str | None, str | None]:
        """The outcome of a resolved future."""
        try:
            response = future.result(0)
        except Exception:  # a middleware raised (the future carries it): described below
            return _outcome(future, 0, self._dry_run, False)
        if response is not self._response:
            self._response = response
            self._outcome = _outcome(future, 0, self._dry_run, False)
        return self._outcome


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


class _DryRunSink:
    """The last middleware of ``--dry-run``: validates the event as ``logEvent`` would after
    the middleware, notes the verdict, and stops the event (never calls ``next``)."""

    def __init__(self) -> None:
        self.verdict: Tuple[bool, str | None] | None = None  # (would send?, problem)

    def __call__(self, payload: Any, next: Callable[[Any], None]) -> None:
        from amplitude_legacy._event import find_problem

        problem = find_problem(payload.event)
        self.verdict = (problem is None, None if problem is None else problem[1])

    def take(self) -> Future[Any] | None:
        """The outcome of the event just logged, as a resolved future, if it reached the end."""
        from amplitude_legacy._response import Response, Status

        verdict, self.verdict = self.verdict, None
        if verdict is None:
            return None  # a middleware stopped it or raised: the client's future says which
        would_send, problem = verdict
        future: Future[Any] = Future()
        if would_send:
            future.set_result(Response(Status.SUCCESS, 0))
        else:
            future.set_result(Response(Status.INVALID, 0, None, "invalid", problem))
        return future


class _Run:
    """One ``send``: reads, logs and accounts for every line; the main thread does it all."""

    def __init__(self, args: argparse.Namespace, client: Any, tally: _Tally) -> None:
        self.args = args
        self.client = client
        self.tally = tally
        self.window: Deque[Tuple[int, Future[Any]]] = deque()
        self.interrupts = _Interrupts()
        self.interrupted = False
        self.resume_line: int | None = None
        self.resent_if_resumed = 0  # events from resume_line on that were (maybe) sent
        self.last_line = args.skip  # the last line read and fully handled
        self.sink: _DryRunSink | None = None
        if args.dry_run:
            self.sink = _DryRunSink()
            client.addEventMiddleware(self.sink)

    def run(self, reader: _Reader, stream: _Lines) -> None:
        """Read every line (or until Ctrl-C), then wait for the outcomes and count them."""
        with self.interrupts:
            try:
                self._feed(reader)
            except KeyboardInterrupt:
                self.interrupted = True
            finally:
                _close_input(stream)
            self._deliver()
            self._drain()

    def _feed(self, reader: _Reader) -> None:
        """Log each line, with at most ``--max-in-flight`` outcomes pending.

        Memory stays flat for any input: when the window is full, the oldest event's outcome
        is awaited (events resolve roughly in order) before the next line is read.
        """
        tally, window, safe_point = self.tally, self.window, self.interrupts.safe_point()
        log_event, sink, limit = self.client.logEvent, self.sink, self.args.max_in_flight
        outcome_of = _Outcomes(sink is not None)
        lines = iter(reader)
        while True:
            with safe_point:
                item = next(lines, None)
            if item is None:
                return
            number, event, problem = item
            tally.bytes_read = reader.position
            tally.lines += 1
            if problem is not None:
                tally.malformed += 1
                tally.warn(f"line {number}: {problem}")
            elif event is None:
                tally.blank += 1
            else:
                tally.read += 1
                try:
                    future = log_event(event)
                except Exception as exc:  # the client does not raise here; belt and braces
                    future = Future()
                    future.set_exception(exc)
                verdict = sink.take() if sink is not None else None
                window.append((number, verdict or future))
            self.last_line = number
            if len(window) >= limit:
                if not window[0][1].done():  # a callback takes the future's lock: ~10 µs
                    finished = _Finished()
                    window[0][1].add_done_callback(finished.set)
                    with safe_point:
                        finished.wait()
                line, oldest = window.popleft()
                tally.record(line, outcome_of(oldest))

    def _deliver(self) -> None:
        """Wait for delivery (``--timeout``, or a short grace after Ctrl-C), then shut down.

        A Ctrl-C (another one, after an interruption) stops the wait; ``shutdown(0)`` then
        drops what is left as ``shutdown_timeout``, so every future resolves.
        """
        presses = self.interrupts.presses
        wait = self.args.timeout
        if self.interrupted:
            wait = min(_INTERRUPT_GRACE, wait)
            self.tally.warn(
                f"interrupted: delivering what was read (at most {wait:g} s; "
                "Ctrl-C again to stop now)"
            )
        finished = _Finished()
        failed: List[BaseException] = []

        def flush() -> None:
            try:
                self.client.flush(wait)
            except BaseException as exc:  # raised on the main thread below, as before
                failed.append(exc)
            finally:
                finished.set()

        # On its own thread: a Ctrl-C must never land inside flush's locks (see _Finished).
        threading.Thread(target=flush, name="amplitude-legacy-send-flush", daemon=True).start()
        try:
            with self.interrupts.safe_point(since=presses):
                finished.wait()
        except KeyboardInterrupt:
            self.interrupted = True
        self.client.shutdown(0)  # ends the flush too, if it still waits
        if failed and not self.interrupted:
            raise failed[0]

    def _drain(self) -> None:
        """Count the outcomes still in the window and find where a rerun should resume."""
        deadline = time.monotonic() + _RESOLVE_GRACE  # after shutdown they are all there
        dry_run = self.sink is not None
        rest = []
        while self.window:
            line, future = self.window.popleft()
            timeout = max(0.0, deadline - time.monotonic())
            outcome = _outcome(future, timeout, dry_run, self.interrupted)
            self.tally.record(line, outcome)
            rest.append((line, outcome[0]))
        if not self.interrupted:
            return
        # Only events of this last window can be unsent: earlier ones resolved in order.
        # Resuming sends the unknown ones again too: at least once rather than maybe never.
        unsent = [line for line, kind in rest if kind in (_INTERRUPTED, _UNKNOWN)]
        self.resume_line = min(unsent) if unsent else self.last_line + 1
        self.resent_if_resumed = sum(
            1
            for line, kind in rest
            if (kind == _SENT and line > self.resume_line) or kind == _UNKNOWN
        )


def _send(args: argparse.Namespace) -> int:
    import amplitude_legacy

    out, err = sys.stdout, sys.stderr
    if args.api_key:
        err.write(
            f"note: --api-key shows the key in the process list to other users of this "
            f"machine; set ${API_KEY_ENV} instead to keep it private\n"
        )
    api_key = args.api_key or os.environ.get(API_KEY_ENV, "")
    if not api_key and args.dry_run:
        api_key = "dry-run"  # never sent: nothing is
    if not api_key:
        raise _UsageError(f"no API key: set ${API_KEY_ENV} (or pass --api-key)")
    if args.max_in_flight < 1:
        raise _UsageError("--max-in-flight must be at least 1")
    if args.timeout < 0:
        raise _UsageError("--timeout must be >= 0")
    if args.skip < 0:
        raise _UsageError("--skip must be >= 0")
    middleware = [_load_middleware(spec) for spec in args.middleware]

    from amplitude_legacy._bulk_gc import fewer_collections
    from amplitude_legacy._errors import hide_api_key

    def redact(text: str) -> str:
        return hide_api_key(text, api_key)

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
        raise _UsageError(redact(_flag_error(exc))) from None
    for function in middleware:
        client.addEventMiddleware(function)

    def counts() -> Tuple[int, int]:
        stats = client.stats()
        skipped = stats.dropped.get("middleware_stopped", 0)
        return stats.delivered, stats.dropped_total - skipped

    tally = _Tally(_Problems(redact), err)
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
    run = _Run(args, client, tally)
    reader = _Reader(stream, args.skip)
    start = time.monotonic()
    if progress is not None:
        progress.start()
    try:
        with fewer_collections():  # this process is ours: see _bulk_gc (a fifth of the CPU)
            run.run(reader, stream)
    finally:
        if progress is not None:
            progress.stop()
        logger.removeHandler(handler)
        logger.propagate = saved_propagate
    stats = client.stats()
    return _summarize(run, reader.skipped, stats, time.monotonic() - start, out, err)


#: After Ctrl-C, how long the events already read may take to be delivered (at most).
_INTERRUPT_GRACE = 5.0
#: After shutdown, how long to wait for the last outcomes (they are normally all there).
_RESOLVE_GRACE = 2.0


def _summarize(
    run: _Run, skipped: int, stats: Any, elapsed: float, out: TextIO, err: TextIO
) -> int:
    """Print the problems and resume hint (stderr) and the summary (stdout); the exit status."""
    tally = run.tally
    failed = tally.count(_DROPPED) or tally.count(_UNKNOWN) or tally.malformed
    status = EXIT_INTERRUPTED if run.interrupted else EXIT_FAILED if failed else EXIT_OK
    notes = tally.problems.report()
    if run.sink is not None:
        notes.append("dry run: middleware and validation ran; nothing was sent")
    if run.resume_line is not None:
        skip = run.resume_line - 1
        hint = (
            f"interrupted: the lines before line {run.resume_line:,} are done; to resume, run "
            f"the same command with --skip {skip} (it starts at line {run.resume_line:,})"
        )
        if run.resent_if_resumed:
            hint += (
                f"; {run.resent_if_resumed:,} events from that line on were (or may have been) "
                "sent already and would be sent again"
            )
        notes.append(hint)
    if notes:
        err.write("\n".join(notes) + "\n")
        err.flush()
    if run.args.json:
        out.write(json.dumps(_json_summary(run, skipped, stats, elapsed, status)) + "\n")
        out.flush()
        return status
    first = (_WOULD_SEND, None) if run.sink is not None else (_SENT, None)
    outcomes = dict(tally.outcomes)
    rows = [f"read: {tally.read:,}", f"{_label(*first)}: {outcomes.pop(first, 0):,}"]
    rows += sorted(f"{_label(*key)}: {n:,}" for key, n in outcomes.items())
    rows.append(f"malformed lines: {tally.malformed:,}")
    rows.append(
        f"lines: {tally.lines:,} ({tally.read:,} events, {tally.malformed:,} malformed, "
        f"{tally.blank:,} blank)"
    )
    if skipped:
        rows.append(f"lines skipped (--skip): {skipped:,}")
    rows.append(f"retries: {stats.retries:,}")
    rate = (tally.read - outcomes.get((_INTERRUPTED, None), 0)) / elapsed if elapsed > 0 else 0.0
    rows.append(f"elapsed: {elapsed:.2f}s ({rate:,.0f} events/s)")
    out.write("\n".join(rows) + "\n")
    out.flush()
    return status


def _json_summary(
    run: _Run, skipped: int, stats: Any, elapsed: float, status: int
) -> Dict[str, Any]:
    """The ``--json`` summary: outcomes add up to ``events``, and ``events``,
    ``blank_lines`` and ``malformed_lines`` to ``lines_read``."""
    tally = run.tally
    return {
        "lines_read": tally.lines,
        "lines_skipped": skipped,
        "blank_lines": tally.blank,
        "malformed_lines": tally.malformed,
        "events": tally.read,
        "sent": tally.count(_SENT),
        "would_send": tally.count(_WOULD_SEND),
        "skipped": tally.by_reason(_SKIPPED),
        "dropped": tally.by_reason(_DROPPED),
        "not_sent_interrupted": tally.count(_INTERRUPTED),
        "unknown_outcome": tally.count(_UNKNOWN),
        "retries": stats.retries,
        "requests": stats.requests,
        "duration_seconds": round(elapsed, 3),
        "interrupted": run.interrupted,
        "resume_line": run.resume_line,
        "dry_run": run.sink is not None,
        "exit_status": status,
    }


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
        for number, event, error in _Reader(stream):
            if error is not None:
                malformed += 1
                out.write(f"line {number}: {error}\n")
                continue
            if event is None:  # a blank line
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
