"""JsonlFileDestination: lines on disk, rotation by size, failed writes retried and counted."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, List

import pytest

from amplitude_legacy.middleware import JsonlFileDestination, route
from amplitude_legacy.testing import Collector
from tests.conftest import MakeClient


def lines(*paths: Path) -> List[dict[str, Any]]:
    return [json.loads(line) for p in paths for line in p.read_text().splitlines()]


def test_the_file_holds_what_amplitude_got(
    make_client: MakeClient, collector: Collector, tmp_path: Path
) -> None:
    """Each routed event is one line, byte-for-byte the event Amplitude received."""
    audit = JsonlFileDestination(tmp_path / "audit.jsonl")
    client = make_client().addEventMiddleware(route("*", audit))
    for i in range(5):
        client.logEvent({"event_type": "e", "user_id": f"user-{i}", "event_properties": {"i": i}})
    client.flush(5)
    assert lines(tmp_path / "audit.jsonl") == collector.wait_for_events(5, 5)
    assert client.stats().destinations[f"jsonl:{tmp_path / 'audit.jsonl'}"].delivered == 5
    client.shutdown(2)


def test_rotation_by_size_keeps_every_line(tmp_path: Path) -> None:
    """No file grows past rotate_bytes; rotated files are numbered upward; nothing is lost."""
    path = tmp_path / "events.jsonl"
    audit = JsonlFileDestination(path, rotate_bytes=2000)
    for i in range(60):
        audit.send({"event_type": "e", "user_id": f"user-{i:04d}"})
        if i % 10 == 9:
            audit.flush(5)  # several batches, so rotation happens between them
    audit.shutdown(5)
    rotated = sorted(tmp_path.glob("events.jsonl.*"), key=lambda p: int(p.suffix[1:]))
    assert rotated[0].name == "events.jsonl.1"
    assert all(p.stat().st_size <= 2000 for p in [*rotated, path])
    assert [e["user_id"] for e in lines(*rotated, path)] == [f"user-{i:04d}" for i in range(60)]


def test_rotation_continues_after_existing_numbers(tmp_path: Path) -> None:
    """A restart finds events.jsonl.3 and rotates to .4: old files are never overwritten."""
    path = tmp_path / "events.jsonl"
    (tmp_path / "events.jsonl.3").write_text("old\n")
    path.write_text("x" * 100 + "\n")
    audit = JsonlFileDestination(path, rotate_bytes=150)
    audit.send({"event_type": "e", "user_id": "user-1"})
    audit.shutdown(5)
    assert (tmp_path / "events.jsonl.3").read_text() == "old\n"
    assert (tmp_path / "events.jsonl.4").read_text() == "x" * 100 + "\n"
    assert [e["user_id"] for e in lines(path)] == ["user-1"]


def test_a_full_disk_is_retried_then_counted(make_client: MakeClient) -> None:
    """/dev/full fails every write (ENOSPC): retried on the schedule, then dropped as
    retries_exhausted; the caller and the main path never see an error."""
    full = JsonlFileDestination("/dev/full", options={"retryTimeouts": [10, 10]})
    client = make_client().addEventMiddleware(route("*", full))
    assert client.logEvent({"event_type": "e", "user_id": "user-1"}).result(5).delivered
    client.flush(5)
    stats = full.stats()
    assert stats.dropped == {"retries_exhausted": 1} and stats.retries == 2
    client.shutdown(1)


def test_a_path_that_cannot_be_opened_fails_at_construction(tmp_path: Path) -> None:
    """A missing directory raises ValueError naming path, before any event."""
    with pytest.raises(ValueError, match=r"^path: cannot append to .*missing"):
        JsonlFileDestination(tmp_path / "missing" / "events.jsonl")
