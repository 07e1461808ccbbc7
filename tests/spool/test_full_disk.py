"""A spool whose disk is full still drains (on a real, tiny tmpfs)."""

from __future__ import annotations

import logging
import os
import subprocess
from pathlib import Path
from typing import Iterator

import pytest

from amplitude_legacy import NodeClient
from amplitude_legacy._spool import Spool
from amplitude_legacy.testing import Collector
from tests.conftest import API_KEY

ROW = b'{"event_type":"old","user_id":"user-0001","insert_id":"%d","event_properties":{"p":"%s"}}'


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs: a disk that really fills up. Needs root (CI runs as root)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, (
        f"this test mounts a 1 MiB tmpfs to fill a disk for real; mount failed "
        f"(run the suite as root, as .ci/run does): {done.stderr.strip()}"
    )
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(spool_path: Path) -> int:
    """Spool events until the disk refuses more, then fill the rest of the disk."""
    spool = Spool(str(spool_path))
    n = 0
    while spool.write_failures == 0:
        spool.put([ROW % (n + i, b"x" * 200) for i in range(50)])
        n += 50
    stored = spool.count()
    spool.close()
    try:
        with open(spool_path.parent / "filler", "wb") as filler:
            while True:
                filler.write(b"\0" * 4096)
    except OSError:
        pass
    return stored


def test_a_spool_on_a_full_disk_still_drains(
    tiny_disk: Path, collector: Collector, caplog: pytest.LogCaptureFixture
) -> None:
    """Every spooled event reaches the server once; one ERROR says the disk is full."""
    path = tiny_disk / "events.spool"
    stored = fill(path)
    assert stored > 500
    with caplog.at_level(logging.ERROR, logger="amplitude_legacy"):
        client = NodeClient(API_KEY, server_url=collector.http_api_url, spool_path=str(path))
        try:
            collector.wait_for_events(stored, timeout=30)
        finally:
            client.shutdown(5)
    assert len({e["insert_id"] for e in collector.events}) == stored
    full = [r for r in caplog.records if r.levelno == logging.ERROR and "is full" in r.getMessage()]
    assert len(full) == 1 and "Free space in" in full[0].getMessage()
    os.remove(tiny_disk / "filler")  # space again: the next write deletes what was delivered
    again = Spool(str(path))
    try:
        assert again.count() == stored  # the deletes could not be written on the full disk...
        assert again.take(10) != []  # ...so a new process would send them again (deduplicated)
    finally:
        again.close()
