"""The durable spool: order, claims and leases, bounds, reopening, processes, fork, corruption."""

from __future__ import annotations

import logging
import os
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Iterator, List

import pytest

from amplitude_legacy._spool import Spool
from tests.conftest import run_python, wait_for_child

ROOT = Path(__file__).resolve().parents[2]


def ev(i: int) -> bytes:
    return b'{"event_type":"e","user_id":"user-%06d"}' % i


def payloads(rows: List[tuple[int, bytes]]) -> List[bytes]:
    return [data for _, data in rows]


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def path(tmp_path: Path) -> str:
    return str(tmp_path / "events.spool")


@pytest.fixture
def spool(path: str) -> Iterator[Spool]:
    with Spool(path) as opened:
        yield opened


def integrity(path: str) -> tuple[str, int, int]:
    """(integrity_check, rows, the totals row's count) read with a plain sqlite3 connection."""
    conn = sqlite3.connect(path)
    try:
        (check,) = conn.execute("PRAGMA integrity_check").fetchone()
        (rows,) = conn.execute("SELECT COUNT(*) FROM events").fetchone()
        (total,) = conn.execute("SELECT events FROM totals").fetchone()
    finally:
        conn.close()
    return check, rows, total


def test_put_take_ack_keeps_order(spool: Spool) -> None:
    """Rows come back oldest first, with their bytes, and ack deletes them."""
    assert spool.put([ev(i) for i in range(5)]) == 0
    assert spool.count() == 5
    first = spool.take(3)
    assert payloads(first) == [ev(0), ev(1), ev(2)]
    assert [row_id for row_id, _ in first] == sorted(row_id for row_id, _ in first)
    rest = spool.take(10)
    assert payloads(rest) == [ev(3), ev(4)]
    assert spool.take(10) == []
    assert spool.ack([row_id for row_id, _ in first + rest]) == 5
    assert spool.count() == 0 and spool.size_bytes() == 0


def test_release_puts_rows_back_first(spool: Spool) -> None:
    """Released rows are free again and, being oldest, are taken first; ack ignores strangers."""
    spool.put([ev(i) for i in range(4)])
    taken = spool.take(2)
    assert spool.release([row_id for row_id, _ in taken]) == 2
    assert spool.release([row_id for row_id, _ in taken]) == 0  # no longer ours
    again = spool.take(3)
    assert payloads(again) == [ev(0), ev(1), ev(2)]
    assert spool.ack([123456789]) == 0  # never claimed here: ignored
    assert spool.count() == 4


def test_claimed_rows_are_not_handed_out_twice(path: str) -> None:
    """Two spools on one path split the rows; neither sees the other's claim."""
    with Spool(path) as a, Spool(path) as b:
        a.put([ev(i) for i in range(4)])
        got_a = a.take(2)
        got_b = b.take(10)
        assert payloads(got_a) == [ev(0), ev(1)] and payloads(got_b) == [ev(2), ev(3)]
        assert b.ack([row_id for row_id, _ in got_a]) == 0  # a's rows: b cannot ack them
        assert a.ack([row_id for row_id, _ in got_a]) + b.ack([r for r, _ in got_b]) == 4
        assert a.count() == b.count() == 0


def test_event_bound_evicts_oldest_and_counts(path: str) -> None:
    """Past max_events the oldest rows go; put returns how many and ``evicted`` adds up."""
    with Spool(path, max_events=10) as spool:
        assert spool.put([ev(i) for i in range(8)]) == 0
        assert spool.put([ev(i) for i in range(8, 13)]) == 3
        assert spool.evicted == 3 and spool.count() == 10
        taken = spool.take(100)
        assert payloads(taken) == [ev(i) for i in range(3, 13)]
        spool.release([row_id for row_id, _ in taken])
        # 25 more: the oldest 15 of them are refused outright, the 10 older rows evicted.
        assert spool.put([ev(i) for i in range(100, 125)]) == 25
        assert spool.evicted == 28
        assert payloads(spool.take(100)) == [ev(i) for i in range(115, 125)]


def test_byte_bound_evicts_and_refuses_oversized(path: str) -> None:
    """max_bytes bounds the stored bytes; an event larger than the bound is refused, counted."""
    size = len(ev(0))
    with Spool(path, max_bytes=3 * size) as spool:
        assert spool.put([ev(i) for i in range(5)]) == 2
        assert spool.size_bytes() == 3 * size and spool.count() == 3
        assert spool.put([b"x" * (3 * size + 1)]) == 1
        assert spool.evicted == 3 and spool.count() == 3


def test_rows_in_flight_are_not_evicted(path: str) -> None:
    """Rows under a live lease are being sent: eviction takes free rows instead."""
    with Spool(path, max_events=3) as spool:
        spool.put([ev(0), ev(1), ev(2)])
        taken = spool.take(2)
        assert spool.put([ev(3), ev(4)]) == 2  # ev(2) and ev(3) go, ev(0)/ev(1) are in flight
        assert spool.ack([row_id for row_id, _ in taken]) == 2
        assert payloads(spool.take(10)) == [ev(4)]


def test_reopen_after_close_keeps_rows_and_releases_claims(path: str) -> None:
    """Rows survive close; rows still claimed at close are free for the next opener."""
    first = Spool(path)
    first.put([ev(i) for i in range(3)])
    assert len(first.take(2)) == 2
    first.close()
    first.close()  # idempotent
    with Spool(path) as second:
        assert second.count() == 3
        assert payloads(second.take(10)) == [ev(0), ev(1), ev(2)]


def test_write_ahead_rows_are_claimed_until_acked(path: str) -> None:
    """write_ahead (always mode) returns consecutive ids that no other spool can take."""
    with Spool(path, mode="always") as writer, Spool(path) as other:
        ids, lost = writer.write_ahead([ev(0), ev(1), ev(2)])
        assert lost == 0 and ids == list(range(ids[0], ids[0] + 3))
        assert other.take(10) == []
        assert writer.ack(ids[:2]) == 2
        assert writer.release(ids[2:]) == 1
        assert payloads(other.take(10)) == [ev(2)]


def test_expired_lease_is_reclaimed_and_renew_extends_it(path: str) -> None:
    """A claim holds for lease_seconds; renew pushes it out; after expiry others take the rows."""
    clock = FakeClock()
    with (
        Spool(path, lease_seconds=30, clock=clock) as a,
        Spool(path, lease_seconds=30, clock=clock) as b,
    ):
        a.put([ev(0), ev(1)])
        taken = a.take(10)
        clock.now += 20
        assert a.renew([row_id for row_id, _ in taken]) == 2
        clock.now += 20  # 40 s after the claim, 20 s after the renewal
        assert b.take(10) == []
        clock.now += 11
        reclaimed = b.take(10)
        assert [r for r, _ in reclaimed] == [r for r, _ in taken]
        assert a.release([row_id for row_id, _ in taken]) == 0  # b holds them now
        assert b.ack([row_id for row_id, _ in reclaimed]) == 2
        assert a.count() == 0


def test_rows_of_a_dead_process_are_reclaimed_at_once(path: str) -> None:
    """A claimer that exited without releasing (kill -9) does not block its rows for the lease."""
    with Spool(path) as spool:
        spool.put([ev(i) for i in range(3)])
    result = run_python(
        """
        import os, sys
        from amplitude_legacy._spool import Spool
        spool = Spool(sys.argv[1])
        print(len(spool.take(2)), flush=True)
        os._exit(0)  # no close(): the claims stay in the file
        """,
        path,
    )
    assert result.returncode == 0 and result.stdout.strip() == "2", result.stderr
    with Spool(path) as spool:
        assert payloads(spool.take(10)) == [ev(0), ev(1), ev(2)]


def test_two_processes_share_rows_without_overlap(path: str) -> None:
    """Two processes claiming from one file never get the same row and ack everything once."""
    total = 2000
    with Spool(path) as spool:
        spool.put([ev(i) for i in range(total)])
    worker = """
        import sys
        from amplitude_legacy._spool import Spool
        spool = Spool(sys.argv[1])
        spool.count()  # open before the start signal
        print("ready", flush=True)
        sys.stdin.readline()
        acked = 0
        seen = []
        while True:
            rows = spool.take(25)
            if not rows:
                break
            seen.extend(row_id for row_id, _ in rows)
            acked += spool.ack([row_id for row_id, _ in rows])
        spool.close()
        print(acked, " ".join(map(str, seen)), flush=True)
    """
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(worker), path],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        for _ in range(2)
    ]
    for proc in procs:  # both have the file open: start them together
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    outputs = [proc.communicate("go\n", timeout=20)[0] for proc in procs]
    acked = [int(out.split()[0]) for out in outputs]
    seen = [set(map(int, out.split()[1:])) for out in outputs]
    assert all(proc.returncode == 0 for proc in procs)
    assert not (seen[0] & seen[1])
    assert len(seen[0] | seen[1]) == total and sum(acked) == total
    assert integrity(path) == ("ok", 0, 0)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_forked_child_writes_without_corrupting(path: str) -> None:
    """A child forked while the parent's connection is open writes safely alongside the parent."""
    spool = Spool(path)
    spool.put([ev(i) for i in range(100)])
    parent_rows = spool.take(10)
    pid = os.fork()
    if pid == 0:  # child: the inherited Spool object, a connection of its own
        code = 1
        try:
            assert spool.ack([row_id for row_id, _ in parent_rows]) == 0  # not the child's
            for start in range(1000, 1200, 20):
                assert spool.put([ev(i) for i in range(start, start + 20)]) == 0
            taken = spool.take(30)
            assert len(taken) == 30
            assert spool.ack([row_id for row_id, _ in taken]) == 30
            code = 0
        finally:
            os._exit(code)
    for start in range(2000, 2200, 20):
        assert spool.put([ev(i) for i in range(start, start + 20)]) == 0
    assert wait_for_child(pid) == 0
    assert spool.ack([row_id for row_id, _ in parent_rows]) == 10
    expected = 100 + 200 + 200 - 30 - 10
    assert spool.count() == expected
    spool.close()
    assert integrity(path) == ("ok", expected, expected)


def test_garbage_file_is_moved_aside(path: str, caplog: pytest.LogCaptureFixture) -> None:
    """A file that is not a database is renamed <path>.corrupt-<timestamp>; a new spool starts."""
    garbage = os.urandom(8192)
    Path(path).write_bytes(garbage)
    with caplog.at_level(logging.WARNING, "amplitude_legacy"), Spool(path) as spool:
        assert spool.put([ev(1)]) == 0
        assert spool.corrupt_files_moved == 1
        assert payloads(spool.take(10)) == [ev(1)]
    [aside] = Path(path).parent.glob("events.spool.corrupt-*")
    assert aside.read_bytes() == garbage
    assert "corrupt" in caplog.text and "moved it to" in caplog.text


def test_corruption_found_in_use_is_moved_aside(path: str) -> None:
    """Damaged pages found while reading: the file is moved aside and the spool goes on."""
    with Spool(path) as spool:
        spool.put([ev(i) + b" " * 300 for i in range(2000)])
    data = bytearray(Path(path).read_bytes())
    data[4096:] = os.urandom(len(data) - 4096)  # keep page 1 (header and schema)
    Path(path).write_bytes(bytes(data))
    with Spool(path) as spool:
        assert spool.take(10) == []
        assert spool.corrupt_files_moved == 1
        assert spool.put([ev(7)]) == 0
        assert payloads(spool.take(10)) == [ev(7)]
    assert len(list(Path(path).parent.glob("events.spool.corrupt-*"))) == 1


def test_corrupt_file_open_elsewhere_is_moved_only_once_free(path: str) -> None:
    """While another process has the file open it is not renamed (its close would delete the
    new file's WAL by name); once that process is gone, the file is moved aside."""
    with Spool(path) as spool:
        spool.put([ev(i) + b" " * 300 for i in range(2000)])
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys\n"
            "from amplitude_legacy._spool import Spool\n"
            "spool = Spool(sys.argv[1])\n"
            "print(spool.count(), flush=True)\n"
            "sys.stdin.readline()\n",
            path,
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "2000"
    data = bytearray(Path(path).read_bytes())
    data[4096:] = os.urandom(len(data) - 4096)
    Path(path).write_bytes(bytes(data))
    clock = FakeClock()
    spool = Spool(path, clock=clock)
    try:
        assert spool.take(10) == [] and spool.corrupt_files_moved == 0
        holder.communicate("exit\n", timeout=10)
        clock.now += 10  # past the back-off before the next attempt
        assert spool.put([ev(1)]) == 0
        assert spool.corrupt_files_moved == 1
        assert payloads(spool.take(10)) == [ev(1)]
    finally:
        spool.close()
        if holder.poll() is None:
            holder.kill()
            holder.wait()


def test_foreign_database_is_left_alone(path: str) -> None:
    """A SQLite file of something else is not touched; writes fail, counted, never raised."""
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE users (name TEXT)")
    conn.commit()
    conn.close()
    with Spool(path) as spool:
        assert spool.put([ev(0), ev(1)]) == 2
        assert spool.write_failures == 2 and spool.corrupt_files_moved == 0
        assert spool.take(10) == [] and spool.count() == 0
    assert not list(Path(path).parent.glob("*.corrupt-*"))


def test_a_replaced_file_is_followed(path: str) -> None:
    """When another process moves the file aside, the next call uses a new file at the path."""
    with Spool(path) as spool:
        spool.put([ev(0)])
        for suffix in ("", "-wal"):  # as Spool does with a corrupt file
            os.replace(path + suffix, path + ".old" + suffix)
        os.remove(path + "-shm")
        spool.put([ev(1)])
        assert payloads(spool.take(10)) == [ev(1)]
    assert integrity(path) == ("ok", 1, 1)
    assert integrity(path + ".old") == ("ok", 1, 1)


def test_bad_arguments_raise_value_error(path: str) -> None:
    """Only construction can raise: a bad mode or bound."""
    for kwargs in (
        {"mode": "sometimes"},
        {"max_events": 0},
        {"max_bytes": 0},
        {"lease_seconds": 0},
    ):
        with pytest.raises(ValueError):
            Spool(path, **kwargs)
