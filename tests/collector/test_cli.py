"""``python -m amplitude_legacy.testing`` run as a real subprocess."""

from __future__ import annotations

import contextlib
import json
import os
import re
import selectors
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Dict, Iterator, Tuple

import pytest

from amplitude_legacy.testing._cli import _StopRequest, build_parser, main

from ._http import body, event

BANNER = re.compile(
    r"^Amplitude-compatible collector listening on (http://127\.0\.0\.1:(\d+)) "
    r"\(HTTP V2: \1/2/httpapi, batch: \1/batch\)$"
)


class Lines:
    """Reads a subprocess's stdout line by line, each read bounded by a deadline."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdout is not None
        self._fd = proc.stdout.fileno()
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._fd, selectors.EVENT_READ)
        self._buffer = b""

    def next(self, timeout: float = 10.0) -> str:
        """Return the next line (without its newline), waiting at most ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not self._selector.select(remaining):
                raise TimeoutError(f"no line within {timeout}s; got {self._buffer!r}")
            chunk = os.read(self._fd, 65536)
            if not chunk:
                raise EOFError(f"stdout closed; got {self._buffer!r}")
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line.decode("utf-8")


@contextlib.contextmanager
def running(*args: str) -> Iterator[Tuple[subprocess.Popen[bytes], Lines]]:
    """Run the CLI on a free port; kill it on the way out if the test did not stop it."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "amplitude_legacy.testing", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        yield proc, Lines(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=10)


def post(url: str, data: bytes) -> Dict[str, Any]:
    """POST a JSON body and return the parsed answer."""
    request = urllib.request.Request(
        url, data=data, headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        answer: Dict[str, Any] = json.load(response)
    return answer


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_cli_serves_prints_events_and_stops_cleanly(tmp_path: Path, sig: signal.Signals) -> None:
    """The CLI prints its URLs, one line per stored event, absorbed copies, and stops cleanly."""
    with running("--store", str(tmp_path / "store.jsonl")) as (proc, lines):
        match = BANNER.match(lines.next())
        assert match, "unexpected banner"
        assert lines.next() == f"Live event debugger: {match.group(1)}/"
        answer = post(match.group(1) + "/2/httpapi", body(event(0, device_id="device-0000")))
        assert (answer["code"], answer["events_ingested"]) == (200, 1)
        assert lines.next() == (
            "/2/httpapi test_event user_id=user-0000 device_id=device-0000 insert_id=insert-0000"
        )
        # The same event again (a retry): acknowledged, absorbed and counted, not stored.
        answer = post(match.group(1) + "/2/httpapi", body(event(0, device_id="device-0000")))
        assert (answer["code"], answer["events_ingested"]) == (200, 1)
        assert lines.next() == (
            "collector absorbed 1 duplicate event(s) on /2/httpapi: insert_id insert-0000"
        )
        # A refused request is printed with the reason.
        with pytest.raises(urllib.error.HTTPError):
            post(match.group(1) + "/2/httpapi", body(event(1, user_id="abc")))
        assert lines.next() == (
            "collector answered 400 to POST /2/httpapi: Invalid id length for user_id or device_id"
            " (event 0 user_id: 3 characters long, shorter than the minimum of 5)"
        )
        proc.send_signal(sig)
        assert lines.next() == (
            "Collector stopped: 1 events accepted in 3 requests (1 duplicates absorbed)."
        )
        assert proc.wait(timeout=10) == 0
    stored = (tmp_path / "store.jsonl").read_text("utf-8").splitlines()
    assert [json.loads(line) for line in stored] == [event(0, device_id="device-0000")]


def test_cli_quiet_and_fail_rate() -> None:
    """--quiet prints no event lines and --fail-rate 1 answers 503."""
    with running("--quiet", "--fail-rate", "1", "--no-ui") as (proc, lines):
        match = BANNER.match(lines.next())
        assert match, "unexpected banner"
        with pytest.raises(urllib.error.HTTPError) as failure:
            post(match.group(1) + "/batch", body(event(0)))
        assert failure.value.code == 503
        proc.terminate()
        assert lines.next() == (
            "Collector stopped: 0 events accepted in 1 requests (0 duplicates absorbed)."
        )
        assert proc.wait(timeout=10) == 0


def test_cli_reports_a_port_in_use(capsys: pytest.CaptureFixture[str]) -> None:
    """main() returns 1 with a message when the port cannot be bound."""
    from amplitude_legacy.testing import Collector

    with Collector() as taken:
        assert main(["--port", str(taken.port)]) == 1
    assert "cannot start the collector" in capsys.readouterr().err


def test_cli_parser_defaults() -> None:
    """The CLI binds loopback port 8787 by default, with no failures and no latency."""
    args = build_parser().parse_args([])
    assert (args.host, args.port, args.fail_rate, args.latency_ms) == ("127.0.0.1", 8787, 0.0, 0.0)
    assert (args.store, args.quiet, args.api_keys, args.eps_threshold) == (None, False, None, None)
    args = build_parser().parse_args(["--latency-ms", "250", "--api-key", "a", "--api-key", "b"])
    assert (args.latency_ms, args.api_keys) == (250.0, ["a", "b"])
    assert (args.keep, args.max_connections, args.ui) == (1000, 256, True)
    assert build_parser().parse_args(["--keep", "all"]).keep is None
    assert build_parser().parse_args(["--keep", "0"]).keep == 0


@pytest.mark.parametrize("value", ["-1", "many"])
def test_cli_refuses_a_bad_keep(value: str, capsys: pytest.CaptureFixture[str]) -> None:
    """--keep takes a count >= 0 or 'all'; anything else is a usage error naming the flag."""
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--keep", value])
    assert "--keep" in capsys.readouterr().err


def _wait_with_handler_at(wait: Any, handler: Any, line_event: int, deadline: float = 5) -> bool:
    """Run ``wait()`` on a thread of its own and run ``handler`` in that thread at its
    ``line_event``-th traced line, as a signal handler may run between any two bytecodes of
    the main thread. True when the wait returned within ``deadline`` seconds."""
    seen = 0

    def tracer(frame: Any, event: str, arg: Any) -> Any:
        nonlocal seen
        if event == "line":
            seen += 1
            if seen == line_event:
                handler(signal.SIGTERM, None)
        return tracer

    def run() -> None:
        sys.settrace(tracer)
        try:
            wait()
        finally:
            sys.settrace(None)

    thread = threading.Thread(target=run, daemon=True)  # left behind if it deadlocks
    thread.start()
    thread.join(deadline)
    return not thread.is_alive()


@pytest.mark.parametrize("line_event", range(1, 30))
def test_a_stop_signal_ends_the_wait_wherever_its_handler_runs(line_event: int) -> None:
    """The handler may run inside the wait itself; it takes no lock, so the wait ends."""
    stop = _StopRequest()
    assert _wait_with_handler_at(lambda: stop.wait(0.01), stop.handle, line_event)
    assert stop.received == [signal.SIGTERM]


def test_the_wait_harness_catches_a_handler_that_takes_the_waits_lock() -> None:
    """Not vacuous: the same harness on ``threading.Event`` (``set()`` in the handler, as the
    CLI did before) deadlocks for some position of the handler."""
    for line_event in range(1, 30):
        event = threading.Event()

        def wait(event: threading.Event = event) -> None:
            while not event.wait(0.01):
                pass

        def handle(signum: int, frame: Any, event: threading.Event = event) -> None:
            event.set()

        if not _wait_with_handler_at(wait, handle, line_event, deadline=1):
            return  # stuck: the handler ran while the wait held the event's lock
    pytest.fail("the harness never ran the handler while the wait held its lock")
