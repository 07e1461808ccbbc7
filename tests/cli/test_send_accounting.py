"""amplitude-legacy send: every line accounted for (Ctrl-C and --skip included), --json,
--dry-run, error messages that name the flag and the right line, grouped drop reports."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
from concurrent.futures import Future
from pathlib import Path
from typing import IO, Any, Dict, Iterator, List, Tuple

import pytest

from amplitude_legacy._cli import _Finished, _Interrupts, _outcome, _Outcomes, main
from amplitude_legacy._client import NodeClient
from amplitude_legacy._future import resolved
from amplitude_legacy._response import Response, Status
from amplitude_legacy.testing import Collector, Delay
from tests.cli.conftest import API_KEY, ROOT, run_module
from tests.cli.test_cli import line, send_args, summary, write_lines

#: Generous bounds for a subprocess on a loaded 2-core machine; the tests wait on conditions.
PROCESS_TIMEOUT = 60.0


def json_summary(out: str) -> Dict[str, Any]:
    """The --json summary: stdout is one JSON object and nothing else."""
    result = json.loads(out)
    assert isinstance(result, dict)
    return result


def assert_every_line_accounted(result: Dict[str, Any]) -> None:
    """Outcomes add up to the events, and events plus blank and malformed lines to the lines."""
    outcomes = (
        result["sent"]
        + result["would_send"]
        + sum(result["skipped"].values())
        + sum(result["dropped"].values())
        + result["not_sent_interrupted"]
        + result["unknown_outcome"]
    )
    assert outcomes == result["events"], result
    lines = result["events"] + result["blank_lines"] + result["malformed_lines"]
    assert lines == result["lines_read"], result


# --------------------------------------------------------------------------- messages


def test_option_errors_name_the_flag_not_the_option(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A bad --server-url is reported as --server-url (the flag the user typed), exit 2."""
    path = write_lines(tmp_path, line("A"))
    assert main(["send", path, "--api-key", "k", "--server-url", "ftp://x"]) == 2
    err = capsys.readouterr().err
    assert "--server-url" in err and "ftp://x" in err
    assert "serverUrl" not in err and "server_url" not in err


@pytest.mark.parametrize("command", ["send", "check"])
def test_malformed_line_reports_its_own_line_and_column(
    command: str,
    amplitude_collector: Collector,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A malformed one-line record is reported at its file line and the column in that line,
    never as "line 2 column 1" of a record that has one line."""
    path = write_lines(
        tmp_path,
        line("A"),
        '{"event_type": "x",',  # truncated: the problem is at its end, column 20
        '{"a": 1} x',  # extra data at column 10
        '"abc',  # unterminated string
        "[" * 100_000,  # deeper than the parser can go
    )
    args = send_args(amplitude_collector, path) if command == "send" else ["check", path]
    assert main(args) == 1
    out, err = capsys.readouterr()
    report = err if command == "send" else out
    assert "line 2: malformed JSON at column 20: Expecting property name" in report
    assert "line 3: malformed JSON at column 10: Extra data" in report
    assert "line 4: malformed JSON at column 1: Unterminated string" in report
    assert "line 5: JSON nested too deeply to parse" in report
    assert "line 2 column" not in report and "(char " not in report


def test_a_rejected_api_key_is_reported_once_with_the_count(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """25 events dropped for the same reason give one line with the count and the lines,
    not 20 identical lines."""
    path = write_lines(tmp_path, *(line("A", f"user-{i:04d}") for i in range(25)))
    with Collector(api_keys=["another-key"]) as collector:
        assert main(send_args(collector, path)) == 1
    out, err = capsys.readouterr()
    assert summary(out)["dropped (invalid_api_key)"] == "25"
    reports = [row for row in err.splitlines() if "dropped (invalid_api_key)" in row]
    assert reports == ["lines 1-25 (25 events): dropped (invalid_api_key): Invalid API key"]
    assert API_KEY not in out + err


def test_different_problems_keep_their_own_lines(
    amplitude_collector: Collector, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Drops with different details are reported separately; repeats are grouped by detail."""
    no_id = json.dumps({"event_type": "no id"})
    path = write_lines(tmp_path, no_id, line("ok"), no_id, json.dumps({"user_id": "user-0001"}))
    assert main(send_args(amplitude_collector, path)) == 1
    err = capsys.readouterr().err
    assert "lines 1, 3 (2 events): dropped (invalid): Invalid event: expected at least one" in err
    assert "line 4: dropped (invalid): Invalid event: expected string for event_type" in err


# --------------------------------------------------------------------------- summaries


def test_json_summary_counts_every_outcome_and_retries(
    amplitude_collector: Collector,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """--json prints one JSON object: counts by outcome and reason, retries, lines read,
    duration and resume line; the counts add up to the lines read."""
    amplitude_collector.fail_next(1)  # one 503: the batch is retried once
    path = write_lines(
        tmp_path,
        line("A"),
        "",
        "{oops",
        line("B", "user-0002"),
        json.dumps({"event_type": "no id"}),
    )
    assert main([*send_args(amplitude_collector, path), "--json"]) == 1
    out, err = capsys.readouterr()
    result = json_summary(out)
    assert result["lines_read"] == 5 and result["events"] == 3
    assert (result["blank_lines"], result["malformed_lines"]) == (1, 1)
    assert result["sent"] == 2 and result["dropped"] == {"invalid": 1}
    assert result["retries"] == 1 and result["requests"] >= 2
    assert result["interrupted"] is False and result["resume_line"] is None
    assert result["dry_run"] is False and result["exit_status"] == 1
    assert isinstance(result["duration_seconds"], float)
    assert_every_line_accounted(result)
    assert "line 3: malformed JSON" in err


def test_human_summary_has_thousands_separators_and_retries(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Counts of 1,000 or more are written with separators; retries are in the summary."""
    path = write_lines(tmp_path, *(line("A", f"user-{i:04d}") for i in range(1200)))
    assert main(["send", path, "--dry-run", "--progress", "none"]) == 0
    result = summary(capsys.readouterr().out)
    assert result["read"] == "1,200" and result["would be sent"] == "1,200"
    assert result["retries"] == "0"
    assert result["lines"] == "1,200 (1,200 events, 0 malformed, 0 blank)"


def test_dry_run_runs_middleware_and_validation_and_sends_nothing(
    amplitude_collector: Collector,
    tmp_path: Path,
    middleware_module: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """--dry-run: middleware and validation run, nothing is sent (no request at all), and
    the summary says what would be sent; no API key is needed."""
    monkeypatch.delenv("AMPLITUDE_API_KEY", raising=False)
    path = write_lines(
        tmp_path,
        line("A"),
        line("Bot", "user-0002", event_properties={"bot": True}),
        json.dumps({"event_type": "no id"}),
        line("B", "user-0003"),
    )
    args = [
        "send",
        path,
        "--server-url",
        amplitude_collector.http_api_url,
        "--middleware",
        f"{middleware_module}:drop_bots",
        "--dry-run",
        "--progress",
        "none",
    ]
    assert main(args) == 1  # one event would be dropped as invalid
    out, err = capsys.readouterr()
    result = summary(out)
    assert result["would be sent"] == "2" and "sent" not in result
    assert result["skipped (middleware_stopped)"] == "1" and result["dropped (invalid)"] == "1"
    assert "line 3: dropped (invalid)" in err and "dry run" in err
    assert main([*args, "--json"]) == 1
    as_json = json_summary(capsys.readouterr().out)
    assert as_json["dry_run"] is True and as_json["would_send"] == 2 and as_json["sent"] == 0
    assert_every_line_accounted(as_json)
    assert amplitude_collector.requests == []


# --------------------------------------------------------------------------- the API key


def test_api_key_flag_prints_a_notice_without_the_key(
    amplitude_collector: Collector,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """--api-key works but says once that $AMPLITUDE_API_KEY keeps the key out of the process
    list; the key itself is never printed. With the variable there is no notice."""
    path = write_lines(tmp_path, line("A"))
    assert main(send_args(amplitude_collector, path)) == 0
    out, err = capsys.readouterr()
    [notice] = [row for row in err.splitlines() if "AMPLITUDE_API_KEY" in row]
    assert "--api-key" in notice and "process list" in notice
    assert API_KEY not in out + err
    monkeypatch.setenv("AMPLITUDE_API_KEY", API_KEY)
    args = ["send", path, "--server-url", amplitude_collector.http_api_url, "--progress", "none"]
    assert main(args) == 0
    assert "process list" not in capsys.readouterr().err


def test_help_says_the_environment_variable_keeps_the_key_private(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """send --help documents $AMPLITUDE_API_KEY as the way to keep the key out of ps, and the
    new flags."""
    assert main(["send", "--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "AMPLITUDE_API_KEY" in out and "process list" in out
    assert all(flag in out for flag in ("--json", "--dry-run", "--skip N"))


# --------------------------------------------------------------------------- Ctrl-C and --skip


def start_send(collector: Collector, *extra: str) -> subprocess.Popen[bytes]:
    """A real ``python -m amplitude_legacy send -`` reading events from a pipe."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "AMPLITUDE_API_KEY": API_KEY}
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "amplitude_legacy",
            "send",
            "-",
            "--server-url",
            collector.http_api_url,
            "--progress",
            "none",
            "--json",
            *extra,
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )


def feed(stdin: IO[bytes] | None, rows: List[str]) -> None:
    assert stdin is not None
    stdin.write("".join(row + "\n" for row in rows).encode())
    stdin.flush()


def interrupt(proc: subprocess.Popen[bytes]) -> Tuple[Dict[str, Any], str]:
    """Send SIGINT; the process must exit 130. Its --json summary and its stderr."""
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=PROCESS_TIMEOUT)
    assert proc.returncode == 130, err.decode()
    return json_summary(out.decode()), err.decode()


@contextlib.contextmanager
def killed_at_exit(proc: subprocess.Popen[bytes]) -> Iterator[subprocess.Popen[bytes]]:
    """The process, killed if a failed assertion leaves it running."""
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def types_in_requests(collector: Collector) -> set[str]:
    return {
        event["event_type"]
        for request in collector.requests
        for event in (request.payload or {}).get("events", [])
    }


@pytest.mark.parametrize("blocked_on", ["reading input", "an outcome (--max-in-flight 1)"])
def test_ctrl_c_accounts_for_every_line_and_skip_resumes(
    blocked_on: str, amplitude_collector: Collector, tmp_path: Path
) -> None:
    """A real SIGINT to a real process: every line read is delivered, dropped with a reason or
    counted as not sent because interrupted; the resume hint names the exact line, and
    --skip resumes from it, sending exactly the events that were not sent."""
    first = [line(f"E{i}", f"user-{i:04d}") for i in range(1, 9)]
    first[2:2] = ["", "{oops"]  # lines 3 and 4: blank and malformed; events on 1-2 and 5-10
    later = [line(f"L{i}", f"user-{i:04d}") for i in range(11, 14)]  # lines 11-13
    extra = ["--timeout", "0.5"]
    if blocked_on.startswith("an outcome"):
        extra += ["--max-in-flight", "1"]
    with killed_at_exit(start_send(amplitude_collector, *extra)) as proc:
        feed(proc.stdin, first)
        amplitude_collector.wait_for_events(8, timeout=PROCESS_TIMEOUT)
        amplitude_collector.fail_next(10_000)  # from now on every request fails (503)
        feed(proc.stdin, later)
        # Wait until the process has logged (and tried to send) what it is going to log.
        wanted = {"L11"} if extra[-1] == "1" else {"L11", "L12", "L13"}
        amplitude_collector.wait_until(
            lambda c: wanted <= types_in_requests(c), timeout=PROCESS_TIMEOUT
        )
        result, text = interrupt(proc)
    assert_every_line_accounted(result)
    assert result["interrupted"] is True and result["resume_line"] == 11
    assert result["sent"] == 8 and result["malformed_lines"] == 1 and result["blank_lines"] == 1
    # Not sent; or unknown, when a retry of theirs was on the wire at shutdown.
    assert result["not_sent_interrupted"] + result["unknown_outcome"] == len(wanted), result
    assert result["lines_read"] == 10 + len(wanted)
    assert "--skip 10" in text and "line 11" in text
    assert API_KEY not in text

    # Resume: the same events from a file, with --skip 10, to a healthy collector.
    amplitude_collector.reset()
    path = write_lines(tmp_path, *first, *later)
    url = amplitude_collector.http_api_url
    resumed = run_module("send", path, "--server-url", url, "--skip", "10", "--json")
    assert resumed.returncode == 0, resumed.stderr
    again = json_summary(resumed.stdout)
    assert again["lines_skipped"] == 10 and again["sent"] == 3 and again["lines_read"] == 3
    assert sorted(e["event_type"] for e in amplitude_collector.events) == ["L11", "L12", "L13"]


def test_skip_must_not_be_negative(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--skip -1 is a usage error naming the flag."""
    path = write_lines(tmp_path, line("A"))
    assert main(["send", path, "--dry-run", "--skip", "-1"]) == 2
    assert "--skip" in capsys.readouterr().err


def test_ctrl_c_while_a_request_is_on_the_wire(amplitude_collector: Collector) -> None:
    """SIGINT while a request waits for its answer: its events are accounted for (not sent, or
    outcome unknown: they may have arrived), and the resume line starts at the first of them."""
    with killed_at_exit(start_send(amplitude_collector, "--timeout", "0.5")) as proc:
        feed(proc.stdin, [line(f"E{i}", f"user-{i:04d}") for i in range(1, 4)])
        amplitude_collector.wait_for_events(3, timeout=PROCESS_TIMEOUT)
        amplitude_collector.script(Delay(3.0))  # ingests at once, answers 3 s later
        feed(proc.stdin, [line(f"W{i}", f"user-{i:04d}") for i in range(4, 6)])
        amplitude_collector.wait_for_events(5, timeout=PROCESS_TIMEOUT)
        result, text = interrupt(proc)
    assert_every_line_accounted(result)
    assert result["sent"] == 3 and result["resume_line"] == 4
    assert result["not_sent_interrupted"] + result["unknown_outcome"] == 2
    assert "--skip 3" in text


def test_a_second_ctrl_c_stops_the_delivery_wait_and_still_accounts(
    amplitude_collector: Collector,
) -> None:
    """After the first SIGINT the run waits (up to 5 s) for delivery; a second SIGINT stops
    that wait at once, and every line read is still accounted for, with the resume line."""
    amplitude_collector.fail_next(10_000)  # nothing gets through: the grace wait would last
    with killed_at_exit(start_send(amplitude_collector)) as proc:
        feed(proc.stdin, [line(f"E{i}", f"user-{i:04d}") for i in range(1, 4)])
        amplitude_collector.wait_until(
            lambda c: {"E1", "E2", "E3"} <= types_in_requests(c), timeout=PROCESS_TIMEOUT
        )
        proc.send_signal(signal.SIGINT)
        assert proc.stderr is not None
        for row in proc.stderr:  # blocks until the run says it is waiting
            if row.startswith(b"interrupted: delivering"):
                break
        result, text = interrupt(proc)
    assert_every_line_accounted(result)
    # Not sent, or unknown when a retry was on the wire at the second Ctrl-C.
    assert result["not_sent_interrupted"] + result["unknown_outcome"] == 3, result
    assert result["resume_line"] == 1 and "--skip 0" in text


def test_the_final_delivery_runs_flush_off_the_main_thread(
    monkeypatch: pytest.MonkeyPatch, amplitude_collector: Collector, tmp_path: Path
) -> None:
    """A Ctrl-C raises only on the main thread, and ``flush`` takes the client's locks: a
    KeyboardInterrupt landing inside them once left one held, and ``send`` hung for ever on
    a second Ctrl-C. So ``flush`` runs on a thread of its own while the main thread waits."""
    threads: List[str] = []
    real_flush = NodeClient.flush

    def flush(self: NodeClient, timeout: float | None = None) -> Any:
        threads.append(threading.current_thread().name)
        return real_flush(self, timeout)

    monkeypatch.setattr(NodeClient, "flush", flush)
    path = write_lines(tmp_path, line("A"), line("B"), line("C"))
    assert main(send_args(amplitude_collector, path, "--max-in-flight", "1")) == 0
    assert threads == ["amplitude-legacy-send-flush"]
    assert len(amplitude_collector.events) == 3


def test_a_ctrl_c_interrupts_a_safe_point_wait_and_leaves_nothing_held() -> None:
    """The one wait a safe point makes: a signal handler that raises interrupts it at once,
    and the other thread's ``set`` afterwards neither blocks nor fails."""
    finished = _Finished()

    def raise_interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGALRM, raise_interrupt)
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.05)
        with pytest.raises(KeyboardInterrupt):
            finished.wait()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    setter = threading.Thread(target=finished.set)
    setter.start()
    setter.join(PROCESS_TIMEOUT)
    assert not setter.is_alive()
    other = _Finished()
    threading.Timer(0.01, other.set).start()
    other.wait()  # returns once set: no timeout needed, the timer always fires


def test_outcomes_are_read_once_per_response_with_the_same_result() -> None:
    """``send`` reads every event's outcome; the events of one request share a Response, so
    the outcome is worked out once per Response, and each future still gets its own."""
    delivered = Response(Status.SUCCESS, 200)
    rejected = Response(Status.INVALID, 400, reason="invalid", error="bad user_id")
    failed: Future[Any] = Future()
    failed.set_exception(ValueError("boom"))
    futures = [resolved(delivered), resolved(delivered), resolved(rejected), failed]
    futures.append(resolved(delivered))
    for dry_run in (False, True):
        outcome_of = _Outcomes(dry_run)
        assert [outcome_of(f) for f in futures] == [_outcome(f, 0, dry_run, False) for f in futures]
    assert _Outcomes(False)(futures[2]) == ("dropped", "invalid", "bad user_id")
    assert _Outcomes(False)(failed) == ("dropped", "middleware_error", "ValueError: boom")


def test_a_safe_point_raises_for_a_press_before_it_and_ends_unsafe() -> None:
    """Entered after a Ctrl-C it raises at once; whatever happens the main thread leaves it
    outside a safe point (a later press is only counted)."""
    interrupts = _Interrupts()
    point = interrupts.safe_point()
    with point:
        assert interrupts._safe
    assert not interrupts._safe
    interrupts.presses = 1
    with pytest.raises(KeyboardInterrupt), point:
        pass  # pragma: no cover - never runs
    assert not interrupts._safe
    with interrupts.safe_point(since=1):  # the press was before this wait began
        assert interrupts._safe
    assert not interrupts._safe


def test_an_error_in_the_final_flush_still_reaches_the_caller(
    monkeypatch: pytest.MonkeyPatch, amplitude_collector: Collector, tmp_path: Path
) -> None:
    """flush runs on a helper thread now; what it raises is raised on the main thread, as
    when it ran there (not printed by threading's hook, not a hang, not an exit status 0)."""

    def flush(self: NodeClient, timeout: float | None = None) -> Any:
        raise RuntimeError("flush failed")

    monkeypatch.setattr(NodeClient, "flush", flush)
    path = write_lines(tmp_path, line("A"))
    with pytest.raises(RuntimeError, match="flush failed"):
        main(send_args(amplitude_collector, path))


def test_the_ctrl_c_handler_leaves_the_safe_point_unsafe_when_it_raises() -> None:
    """A press in a safe point raises there, once: the flag is off before the exception
    travels, so a second press can only be counted (never raise inside a lock)."""
    interrupts = _Interrupts()
    interrupts._safe = True
    with pytest.raises(KeyboardInterrupt):
        interrupts._handle(signal.SIGINT, None)
    assert not interrupts._safe and interrupts.presses == 1
    interrupts._handle(signal.SIGINT, None)  # outside a safe point: counted only
    assert interrupts.presses == 2
