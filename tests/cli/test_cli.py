"""The command line: send (in-process and as a real process), check, collector, --help."""

from __future__ import annotations

import gc
import io
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any, List

import pytest

from amplitude_legacy._bulk_gc import BULK_GC_THRESHOLD
from amplitude_legacy._cli import main
from amplitude_legacy.testing import Collector
from tests.cli.conftest import API_KEY, MIDDLEWARE, ROOT, run_module


def line(event_type: str, user: str = "user-0001", **fields: Any) -> str:
    return json.dumps({"event_type": event_type, "user_id": user, **fields})


def write_lines(tmp_path: Path, *lines: str) -> str:
    path = tmp_path / "events.jsonl"
    path.write_text("".join(text + "\n" for text in lines), encoding="utf-8")
    return str(path)


def summary(out: str) -> dict[str, str]:
    rows = [row for row in out.strip().splitlines() if ": " in row and not row.startswith("line ")]
    return dict(row.split(": ", 1) for row in rows)


def send_args(collector: Collector, path: str, *extra: str) -> List[str]:
    return [
        "send",
        path,
        "--api-key",
        API_KEY,
        "--server-url",
        collector.http_api_url,
        "--progress",
        "none",
        *extra,
    ]


def test_send_counts_every_outcome(
    amplitude_collector: Collector,
    tmp_path: Path,
    middleware_module: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Good lines are delivered through the middleware; a malformed line and a middleware
    skip are counted; the malformed line is reported with its number; exit status 1."""
    path = write_lines(
        tmp_path,
        line("A"),
        line("B", "user-0002"),
        "{not json",
        "",
        line("Bot", "user-0003", event_properties={"bot": True}),
        line("C", "user-0004"),
    )
    code = main(
        send_args(
            amplitude_collector,
            path,
            "--middleware",
            f"{middleware_module}:drop_bots",
            "--middleware",
            f"{middleware_module}:tag",
        )
    )
    out, err = capsys.readouterr()
    assert code == 1
    result = summary(out)
    assert result["read"] == "4" and result["sent"] == "3"
    assert result["skipped (middleware_stopped)"] == "1"
    assert result["malformed lines"] == "1"
    assert "line 3: malformed JSON" in err
    events = amplitude_collector.events
    assert sorted(e["event_type"] for e in events) == ["A", "B", "C"]
    assert all(e["event_properties"] == {"via": "cli"} for e in events)
    assert API_KEY not in out + err


def test_send_collects_garbage_less_often_and_restores_the_thresholds(
    amplitude_collector: Collector, tmp_path: Path, middleware_module: str
) -> None:
    """While it sends, the CLI raises the young-generation threshold (its process is its own);
    the thresholds come back afterwards (main() can run inside a caller's process too)."""
    before = gc.get_threshold()
    path = write_lines(tmp_path, line("A"), line("B", "user-0002"))
    code = main(send_args(amplitude_collector, path, "--middleware",
                          f"{middleware_module}:gc_threshold"))  # fmt: skip
    assert code == 0
    seen = {e["event_properties"]["gc_threshold"] for e in amplitude_collector.events}
    assert seen == {BULK_GC_THRESHOLD} and gc.get_threshold() == before


def test_send_all_delivered_exits_zero_with_key_from_env(
    amplitude_collector: Collector,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """With $AMPLITUDE_API_KEY and only good lines: everything sent, exit status 0."""
    monkeypatch.setenv("AMPLITUDE_API_KEY", API_KEY)
    path = write_lines(tmp_path, *(line("E", f"user-{i:04d}") for i in range(50)))
    code = main(
        ["send", path, "--server-url", amplitude_collector.http_api_url, "--progress", "none"]
    )
    out, _ = capsys.readouterr()
    assert code == 0
    assert summary(out)["sent"] == "50" and summary(out)["malformed lines"] == "0"
    assert len(amplitude_collector.events) == 50
    assert {r.payload["api_key"] for r in amplitude_collector.requests} == {API_KEY}


def test_send_reports_dropped_events_by_reason_and_line(
    amplitude_collector: Collector,
    tmp_path: Path,
    middleware_module: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Events the API rejects, the client rejects or a middleware breaks are counted by reason
    and reported with their line numbers."""
    path = write_lines(
        tmp_path,
        line("ok"),
        line("bad id", "none"),  # the API rejects it
        json.dumps({"event_type": "no id"}),  # the client rejects it
    )
    code = main(send_args(amplitude_collector, path))
    out, err = capsys.readouterr()
    assert code == 1
    result = summary(out)
    assert result["sent"] == "1" and result["dropped (invalid)"] == "2"
    assert "line 2: dropped (invalid)" in err and "line 3: dropped (invalid)" in err

    path = write_lines(tmp_path, line("boom"))
    code = main(
        send_args(amplitude_collector, path, "--middleware", f"{middleware_module}:explode")
    )
    out, err = capsys.readouterr()
    assert code == 1 and summary(out)["dropped (middleware_error)"] == "1"
    assert "line 1: dropped (middleware_error): RuntimeError: middleware bug" in err


def test_send_reads_stdin(
    amplitude_collector: Collector,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """'-' reads events from stdin."""
    data = "".join(line("stdin", f"user-{i:04d}") + "\n" for i in range(3)).encode()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data), encoding="utf-8"))
    code = main(send_args(amplitude_collector, "-"))
    out, _ = capsys.readouterr()
    assert code == 0 and summary(out)["sent"] == "3"
    assert [e["event_type"] for e in amplitude_collector.events] == ["stdin"] * 3


def test_send_never_prints_the_api_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A server that echoes the rejected key in its error body: the key never shows."""
    with Collector(api_keys=["another-key"]) as collector:
        code = main(send_args(collector, write_lines(tmp_path, line("A"))))
    out, err = capsys.readouterr()
    assert code == 1 and summary(out)["dropped (invalid_api_key)"] == "1"
    assert "line 1: dropped (invalid_api_key)" in err
    assert API_KEY not in out + err


def test_send_shows_a_bar_on_a_terminal_and_lines_otherwise(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A \\r-redrawn bar when stderr is a terminal; plain 'progress:' lines when it is not."""

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    path = write_lines(tmp_path, line("A"), line("B"))
    with Collector(latency=0.1) as collector:  # the run lasts longer than a few ticks
        args = ["send", path, "--api-key", API_KEY, "--server-url", collector.http_api_url]
        terminal = Terminal()
        monkeypatch.setattr(sys, "stderr", terminal)
        assert main([*args, "--progress-interval", "0.01"]) == 0
        monkeypatch.undo()
        assert "\r\x1b[K[" in terminal.getvalue() and "100%" in terminal.getvalue()
        assert main([*args, "--progress-interval", "0.01"]) == 0
    _, err = capsys.readouterr()
    assert "progress: read " in err and "\r" not in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["send", "FILE"], "no API key"),
        (["send", "FILE", "--api-key", "k", "--middleware", "nocolon"], "MODULE:FUNCTION"),
        (["send", "FILE", "--api-key", "k", "--middleware", "no_such_mod_xyz:f"], "cannot import"),
        (["send", "FILE", "--api-key", "k", "--server-url", "ftp://x"], "--server-url: must be"),
        (["send", "missing.jsonl", "--api-key", "k"], "cannot read missing.jsonl"),
        (["check", "missing.jsonl"], "cannot read missing.jsonl"),
        (["send"], "required"),
        (["frobnicate"], "invalid choice"),
    ],
)
def test_usage_errors_exit_2(
    args: List[str],
    message: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Bad options, a missing key or an unreadable file: a message on stderr, exit status 2."""
    monkeypatch.delenv("AMPLITUDE_API_KEY", raising=False)
    monkeypatch.chdir(tmp_path)
    Path("FILE").write_text(line("A") + "\n")
    assert main(args) == 2
    assert message in capsys.readouterr().err


def test_check_reports_each_problem_with_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """check validates offline: client rules, API rules (ids, lengths, reserved types), size."""
    path = write_lines(
        tmp_path,
        line("fine"),
        json.dumps({"user_id": "user-0001"}),
        line("bad id", "null"),
        line("short", "abc"),
        line("[Amplitude] Revenue"),
        "[1, 2]",
        line("typed", time="yesterday"),
        line("big", event_properties={"blob": "x" * 1_000_100}),
        json.dumps({"event_type": "no ids"}),
    )
    assert main(["check", path]) == 1
    out = capsys.readouterr().out
    assert "line 1:" not in out
    assert "line 2: event_type: Invalid event: expected string for event_type field" in out
    assert "line 3: user_id: 'null' is not a usable id" in out
    assert "line 4: user_id: shorter than 5 characters" in out
    assert "line 5: event_type: '[Amplitude] Revenue' is reserved for Amplitude" in out
    assert "line 6: not a JSON object (got an array)" in out
    # logEvent's own type check (the same words the client gives), before the API's rule
    assert "line 7: time: Invalid event: time must be an integer" in out
    assert "line 8: event: encodes to" in out and "1,000,000-byte request limit" in out
    assert "line 9: user_id: Invalid event: expected at least one of" in out
    result = summary(out)
    assert result == {"events": "8", "with problems": "7", "malformed lines": "1"}
    assert main(["check", path, "--batch", "--min-id-length", "3"]) == 1
    out = capsys.readouterr().out
    assert "line 4:" not in out and "line 8:" not in out


def test_check_clean_file_exits_zero(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """No problem: the summary only, exit status 0."""
    path = write_lines(tmp_path, line("A"), line("B", device_id="device-0001"))
    assert main(["check", path]) == 0
    assert capsys.readouterr().out == "events: 2\nwith problems: 0\nmalformed lines: 0\n"


@pytest.mark.parametrize("command", [[], ["send"], ["check"], ["collector"]])
def test_help_for_every_command(command: List[str], capsys: pytest.CaptureFixture[str]) -> None:
    """--help works for the program and each command, and exits 0."""
    assert main([*command, "--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: amplitude-legacy")
    expected = {
        "": ["send", "check", "collector"],
        "send": ["--api-key", "--server-url", "--middleware", "--batch", "--eu", "exit status"],
        "check": ["--min-id-length", "exit status"],
        "collector": ["--port", "--fail-rate", "--latency-ms", "--store"],
    }[command[0] if command else ""]
    assert all(word in out for word in expected)


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    """--version prints the package version."""
    from amplitude_legacy import __version__

    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"amplitude-legacy {__version__}"


def test_send_as_a_real_process(amplitude_collector: Collector, tmp_path: Path) -> None:
    """python -m amplitude_legacy send: events reach the collector, summary on stdout, and no
    carriage returns on a non-terminal stderr."""
    path = write_lines(tmp_path, *(line("proc", f"user-{i:04d}") for i in range(20)), "oops")
    proc = run_module("send", path, "--server-url", amplitude_collector.http_api_url)
    assert proc.returncode == 1, proc.stderr
    result = summary(proc.stdout)
    assert result["read"] == "20" and result["sent"] == "20" and result["malformed lines"] == "1"
    assert "line 21: malformed JSON" in proc.stderr and "\r" not in proc.stderr
    assert len(amplitude_collector.wait_for_events(20, timeout=5)) == 20
    assert API_KEY not in proc.stdout + proc.stderr


def test_module_help_names_python_m(tmp_path: Path) -> None:
    """python -m amplitude_legacy --help shows that program name."""
    proc = subprocess.run(
        [sys.executable, "-m", "amplitude_legacy", "check", "--help"],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=30,
        check=False,
    )
    assert proc.returncode == 0
    assert proc.stdout.startswith("usage: python -m amplitude_legacy check")


def test_collector_command_delegates(monkeypatch: pytest.MonkeyPatch) -> None:
    """collector passes its arguments to the collector's own command line."""
    import amplitude_legacy.testing._cli as collector_cli

    seen: List[Any] = []

    def fake_main(argv: List[str], *, prog: str) -> int:
        seen.append((argv, prog))
        return 0

    monkeypatch.setattr(collector_cli, "main", fake_main)
    assert main(["collector", "--port", "0", "--fail-rate", "0.5", "--store", "x.jsonl"]) == 0
    assert seen == [
        (["--port", "0", "--fail-rate", "0.5", "--store", "x.jsonl"], "amplitude-legacy collector")
    ]


def test_middleware_module_next_to_the_data_is_found(
    amplitude_collector: Collector,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A middleware module in the working directory imports without PYTHONPATH tricks."""
    (tmp_path / "cwd_middleware.py").write_text(textwrap.dedent(MIDDLEWARE), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(tmp_path))])
    path = write_lines(tmp_path, line("A"))
    assert main(send_args(amplitude_collector, path, "--middleware", "cwd_middleware:tag")) == 0
    capsys.readouterr()
    assert amplitude_collector.events[0]["event_properties"] == {"via": "cli"}
