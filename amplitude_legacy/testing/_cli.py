"""Command line for the collector: ``python -m amplitude_legacy.testing``.

:func:`main` is the whole program, so a wider ``amplitude-legacy collector`` command can reuse it.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
import time
from types import FrameType
from typing import Any, Callable, Dict, List

__all__ = ["build_parser", "main"]


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    """Build the argument parser.

    Args:
        prog: Program name shown in ``--help`` (defaults to ``python -m amplitude_legacy.testing``).

    Returns:
        The parser.
    """
    parser = argparse.ArgumentParser(
        prog=prog or "python -m amplitude_legacy.testing",
        description="Run a local Amplitude-compatible collector (HTTP V2 and batch endpoints).",
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="interface to bind (default: %(default)s, loopback)"
    )
    parser.add_argument(
        "--port",
        type=int,
        default=8787,
        help="port to bind; 0 picks a free one (default: %(default)s)",
    )
    parser.add_argument(
        "--fail-rate",
        type=float,
        default=0.0,
        metavar="F",
        help="fraction of requests answered 503, from 0 to 1 (default: %(default)s)",
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="random seed for --fail-rate (default: %(default)s)"
    )
    parser.add_argument(
        "--latency-ms",
        type=float,
        default=0.0,
        metavar="N",
        help="milliseconds added before every response (default: %(default)s)",
    )
    parser.add_argument(
        "--store", metavar="FILE", help="append every accepted event to FILE as a JSON line"
    )
    parser.add_argument(
        "--api-key",
        action="append",
        dest="api_keys",
        metavar="KEY",
        help="accept only this API key (repeatable; default: accept any key)",
    )
    parser.add_argument(
        "--eps-threshold",
        type=float,
        metavar="EPS",
        help="throttle users/devices above EPS events per second over 30 s (default: off)",
    )
    parser.add_argument(
        "--keep",
        type=_keep,
        default=1000,
        metavar="N",
        help="keep the N most recent events and requests in memory and count the rest, so a"
        " long run holds flat memory; 'all' keeps everything (default: %(default)s)",
    )
    parser.add_argument(
        "--max-connections",
        type=int,
        default=256,
        metavar="N",
        help="most connections open at once; more are answered 503 (default: %(default)s)",
    )
    parser.add_argument(
        "--no-ui",
        dest="ui",
        action="store_false",
        help="do not serve the live event debugger page at the root URL",
    )
    parser.add_argument(
        "--quiet", action="store_true", help="do not print accepted events and refused requests"
    )
    return parser


def _keep(text: str) -> int | None:
    """Parse ``--keep``: a count >= 0, or ``all``."""
    if text.strip().lower() == "all":
        return None
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a count or 'all', got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def main(argv: List[str] | None = None, *, prog: str | None = None) -> int:
    """Run the collector until Ctrl-C or SIGTERM.

    Args:
        argv: Arguments without the program name (default: ``sys.argv[1:]``).
        prog: Program name for ``--help``.

    Returns:
        The exit status: 0 after a clean stop, 1 when the collector cannot start.
    """
    args = build_parser(prog).parse_args(argv)
    # Imported here so that --help stays fast.
    from amplitude_legacy.testing._collector import Collector

    print_lock = threading.Lock()

    def show(path: str, events: List[Dict[str, Any]]) -> None:
        lines = "".join(_describe(path, event) + "\n" for event in events)
        with print_lock:
            sys.stdout.write(lines)
            sys.stdout.flush()

    try:
        collector = Collector(
            args.host,
            args.port,
            api_keys=args.api_keys,
            eps_threshold=args.eps_threshold,
            latency=args.latency_ms / 1000.0,
            fail_rate=args.fail_rate,
            seed=args.seed,
            store=args.store,
            on_accept=None if args.quiet else show,
            keep=args.keep,
            max_connections=args.max_connections,
            ui=args.ui,
        ).start()
    except (OSError, ValueError) as exc:
        print(f"cannot start the collector: {exc}", file=sys.stderr)
        return 1

    stop = _StopRequest()
    restore = stop.install()
    restore_logging = _print_refusals(print_lock) if not args.quiet else _nothing
    try:
        with print_lock:
            print(
                f"Amplitude-compatible collector listening on {collector.url}"
                f" (HTTP V2: {collector.http_api_url}, batch: {collector.batch_url})",
                flush=True,
            )
            if args.ui:
                print(f"Live event debugger: {collector.ui_url}", flush=True)
        stop.wait()
    except KeyboardInterrupt:  # SIGINT, if other code replaced our handler meanwhile
        pass
    finally:
        restore()
        collector.stop()
        restore_logging()
    counts = collector.counts()
    events, requests = counts["events_stored"], counts["requests"]
    absorbed = counts["duplicates_absorbed"]
    print(
        f"Collector stopped: {events} events accepted in {requests} requests"
        f" ({absorbed} duplicates absorbed).",
        flush=True,
    )
    return 0


def _nothing() -> None:
    pass


def _describe(path: str, event: Dict[str, Any]) -> str:
    def field(name: str) -> str:
        value = event.get(name)
        return "-" if value is None else str(value)

    return (
        f"{path} {field('event_type')}"
        f" user_id={field('user_id')} device_id={field('device_id')}"
        f" insert_id={field('insert_id')}"
    )


class _LineHandler(logging.Handler):
    """Prints each log record as one stdout line, under the lock the event lines use."""

    def __init__(self, lock: threading.Lock) -> None:
        super().__init__()
        self._print_lock = lock

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record) + "\n"
            with self._print_lock:
                sys.stdout.write(line)
                sys.stdout.flush()
        except Exception:
            self.handleError(record)


def _print_refusals(lock: threading.Lock) -> Callable[[], None]:
    """Print the collector's log lines (why a request was refused) on stdout; return an undo."""
    collector_logger = logging.getLogger("amplitude_legacy.testing")
    handler = _LineHandler(lock)
    handler.setFormatter(logging.Formatter("%(message)s"))
    previous = (collector_logger.level, collector_logger.propagate)
    collector_logger.addHandler(handler)
    collector_logger.setLevel(logging.INFO)
    collector_logger.propagate = False

    def restore() -> None:
        collector_logger.removeHandler(handler)
        collector_logger.setLevel(previous[0])
        collector_logger.propagate = previous[1]

    return restore


class _StopRequest:
    """SIGTERM or SIGINT (Ctrl-C) asks the collector to stop; :meth:`wait` returns then.

    The rule for the handler: it appends to a list and does nothing else. A signal handler
    runs on the main thread between two bytecodes, which may be inside the wait itself; with
    a ``threading.Event``, ``set()`` there can wait forever for the event's lock that its own
    thread holds, and a ``KeyboardInterrupt`` there can leave that lock released twice. So
    the wait polls the list, and SIGINT is handled like SIGTERM instead of raising.
    """

    def __init__(self) -> None:
        self.received: List[int] = []

    def handle(self, signum: int, frame: FrameType | None) -> None:
        """The signal handler: note the signal, take no lock."""
        self.received.append(signum)

    def install(self) -> Callable[[], None]:
        """Handle SIGTERM and SIGINT (main thread only); return an undo."""
        if threading.current_thread() is not threading.main_thread():
            return _nothing  # signals can only be handled on the main thread
        stops = (signal.SIGTERM, signal.SIGINT)  # both exist on every platform
        previous = [(sig, signal.signal(sig, self.handle)) for sig in stops]

        def restore() -> None:
            for sig, handler in previous:
                signal.signal(sig, handler)

        return restore

    def wait(self, period: float = 0.2) -> None:
        """Return once a stop signal came (checked every ``period`` seconds)."""
        while not self.received:
            time.sleep(period)  # a signal runs the handler, then the sleep goes on
