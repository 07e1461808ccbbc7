"""A durable spool of encoded events: one SQLite file (stdlib ``sqlite3``) in WAL mode.

The worker writes here the events it could not deliver because of transient failures, and
sends them first once the server answers again (or when the next client with the same
``spoolPath`` starts). Rows are raw encoded event JSON (``bytes``), oldest first.

Protocol (see :class:`Spool` for each method):

* ``put(events)``: store events that failed for a transient reason (``on_failure`` mode).
* ``write_ahead(events)``: store events *before* sending them (``always`` mode); the rows come
  back already claimed by this process, so no other process sends them meanwhile.
* ``take(limit)``: claim the oldest unclaimed rows; ``ack(ids)`` deletes them once delivered,
  ``release(ids)`` gives them back after a transient failure, ``renew(ids)`` extends the lease
  while a send is still retrying.

Sharing: several processes (and threads) may use one path. A claim is a lease: rows claimed by
a process that died are taken again by others when the lease runs out, or at once when the
claimer was on this host and its pid is gone. Each process opens its own connection lazily;
around ``os.fork()`` the connection is closed (the child must never use, or even close, a
connection inherited from its parent: SQLite's locks are per process).

A full disk: writing new rows fails (the client drops those events, counted), but the spool
still drains. Claiming rows is a write, so on a full disk ``take`` reads the oldest free rows
without claiming them (this process remembers them; another process on the same file could
send some too, and Amplitude deduplicates by ``insert_id``); an ``ack`` whose delete fails is
remembered, its rows are never handed out again, and the delete is retried with the next
write. One ERROR line says what is wrong and what to do.

Failure policy: the spool never raises into the client. A corrupt or unreadable file is logged,
renamed ``<path>.corrupt-<timestamp>`` (with its ``-wal``) and replaced by a fresh one; other
errors (disk full, lock timeouts) are logged and reported through return values and counters.
The rename waits until no other process has the file open (a POSIX lock probe on SQLite's
SHARED range): SQLite deletes ``<path>-wal`` and ``<path>-shm`` *by name* when the last
connection to a file closes, so a connection left open on a renamed file would otherwise
delete its replacement's. Processes that find the path replaced follow it to the new file and
drop their old connection without closing it normally.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import sqlite3
import threading
import time
import uuid
import weakref
from types import TracebackType
from typing import Callable, Iterable, Iterator, List, Sequence, Tuple, Type, TypeVar

__all__ = [
    "DEFAULT_LEASE_SECONDS",
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_EVENTS",
    "SPOOL_MODES",
    "Spool",
]

log = logging.getLogger("amplitude_legacy")

#: Default bound on the number of spooled events (oldest dropped and counted beyond it).
DEFAULT_MAX_EVENTS = 1_000_000
#: Default bound on the spooled event bytes (256 MiB of encoded JSON; the file itself is a
#: little larger: SQLite pages, the index and the WAL, whose size is capped at 64 MiB).
DEFAULT_MAX_BYTES = 256 * 1024 * 1024
#: Default lease of a claim: a claimer that died (on another host, or whose pid was reused)
#: blocks its rows this long. Long enough for a batch to spend the default retry schedule.
DEFAULT_LEASE_SECONDS = 300.0
#: ``on_failure`` (default): only undeliverable events are written; ``always``: every event is
#: written ahead of sending.
SPOOL_MODES = ("on_failure", "always")

#: How long a statement waits for another connection's write lock before failing.
BUSY_TIMEOUT_MS = 10_000
#: The WAL is truncated back to this size after a checkpoint.
_JOURNAL_SIZE_LIMIT = 64 * 1024 * 1024
#: Schema version, stored in ``PRAGMA user_version``.
_SCHEMA_VERSION = 1
#: Bound parameters per statement (SQLite's historic limit is 999).
_CHUNK = 500
#: Evicted rows kept for ``pop_evicted`` between two calls (the count is exact regardless).
_EVICTED_KEPT = 10_000
#: After a failure to open that is not corruption, wait this long before trying again.
_REOPEN_BACKOFF = 5.0
#: How often ``take`` looks for claims held by dead processes of this host.
_RECLAIM_INTERVAL = 1.0

_T = TypeVar("_T")

_ANY_FREE = "SELECT 1 FROM events WHERE claimed_by IS NULL OR lease_until <= ? LIMIT 1"

# Every live spool, so that the fork hooks can close their connections around os.fork().
_SPOOLS: weakref.WeakSet[Spool] = weakref.WeakSet()
_SPOOLS_LOCK = threading.Lock()
# Connections that must not be closed: inherited by a child forked without the fork hooks,
# or open on a file that was renamed (see _discard_stale). Never used again.
_ABANDONED: List[sqlite3.Connection] = []
_HOST = socket.gethostname()


class _Unusable(Exception):
    """The spool file cannot be used now (already logged); the operation falls back."""


def _chunks(ids: Sequence[int]) -> Iterator[Sequence[int]]:
    for start in range(0, len(ids), _CHUNK):
        yield ids[start : start + _CHUNK]


def _marks(n: int) -> str:
    return ",".join("?" * n)


def _is_full(exc: sqlite3.Error) -> bool:
    """SQLITE_FULL: the disk (or the file's size limit) is full."""
    code = getattr(exc, "sqlite_errorcode", None)  # Python 3.11+
    return code == 13 if code is not None else "full" in str(exc).lower()


def _is_corruption(exc: sqlite3.Error) -> bool:
    """SQLITE_CORRUPT / SQLITE_NOTADB: the file is damaged or is not a database."""
    name = getattr(exc, "sqlite_errorname", None)  # Python 3.11+
    if isinstance(name, str):
        return name.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB"))
    return type(exc) is sqlite3.DatabaseError  # how the sqlite3 module maps both codes


def _is_unreadable(exc: sqlite3.Error) -> bool:
    """SQLITE_CANTOPEN / SQLITE_READONLY / SQLITE_PERM: the file exists but we cannot use it."""
    name = getattr(exc, "sqlite_errorname", None)
    if isinstance(name, str):
        return name.startswith(("SQLITE_CANTOPEN", "SQLITE_READONLY", "SQLITE_PERM"))
    text = str(exc).lower()
    return "unable to open" in text or "readonly" in text


# SQLite's unix locking protocol: a SHARED lock is a read lock on these bytes of the database
# file, held by every WAL-mode connection from its first read until it is closed.
_SHARED_FIRST = 0x40000000 + 2
_SHARED_SIZE = 510


def _lock_out(path: str) -> int | None:
    """Write-lock SQLite's SHARED range of ``path``: succeeds only if no other process has a
    connection on it. Returns the fd holding the lock (close it once the file is renamed),
    -1 where POSIX locks are not available, or ``None`` when another process holds it.
    """
    try:
        import fcntl
    except ImportError:  # Windows: renaming an open file fails anyway
        return -1
    try:
        fd = os.open(path, os.O_RDWR)
    except OSError:
        return -1  # unreadable: nobody can have it open through SQLite either
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, _SHARED_SIZE, _SHARED_FIRST)
    except OSError:
        os.close(fd)
        return None
    return fd


def _discard_stale(conn: sqlite3.Connection) -> None:
    """Get rid of a connection whose file was renamed: closing it normally could checkpoint
    and then delete ``<path>-wal``/``<path>-shm`` by name, the files of its replacement."""
    no_checkpoint = getattr(sqlite3, "SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE", None)  # 3.12+
    setconfig = getattr(conn, "setconfig", None)
    if no_checkpoint is not None and setconfig is not None:
        try:
            setconfig(no_checkpoint, True)
            conn.close()
            return
        except sqlite3.Error:
            pass
    _ABANDONED.append(conn)  # kept open, unused, until the process exits


def _new_token() -> str:
    return f"{_HOST}:{os.getpid()}:{uuid.uuid4().hex[:12]}"


def _owner_is_dead(token: str) -> bool:
    """Whether ``token`` names a process of this host that no longer exists."""
    parts = token.split(":")
    if len(parts) < 3:
        return False
    host, pid_text = ":".join(parts[:-2]), parts[-2]
    if host != _HOST or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return False  # a token of an earlier Spool in this process: only its lease can expire
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except (PermissionError, OSError):
        return False  # exists (another user's process), or we cannot tell: trust the lease
    return False


class Spool:
    """A bounded, durable, multi-process queue of encoded events in one SQLite file.

    Rows are kept oldest first (by an id that is never reused in a file, and that starts at a
    time-based value in each new file, so an id from a file that was replaced never matches a
    row of its successor). Every method is thread-safe and never raises: failures are logged
    and show in return values and in the ``evicted``, ``write_failures`` and
    ``corrupt_files_moved`` counters.

    Args:
        path: the spool file; created (with its directory) when missing. ``<path>-wal`` and
            ``<path>-shm`` live next to it.
        mode: ``"on_failure"`` (default) or ``"always"``. Both use WAL mode. ``on_failure``
            uses ``synchronous=NORMAL``: a committed write survives a crash or ``kill -9`` of
            the process (it is in the OS's cache); an OS crash or power loss may lose the last
            writes. ``always`` writes each event ahead of sending, with the same setting: it
            survives ``kill -9``. (An fsync per event, ``synchronous=FULL``, would survive power
            loss too, at ~0.8 ms per event on the benchmark box instead of ~75 µs.)
        max_events: bound on the rows kept (default 1,000,000).
        max_bytes: bound on the sum of the rows' sizes (default 256 MiB); ``None``: no bound.
        lease_seconds: how long a claim made by ``take``/``write_ahead`` holds (default 300 s).
        clock: wall-clock source for leases (``time.time``); leases compare across processes,
            so it must be the wall clock in production. Tests pass a fake one.

    Bounds: past ``max_events`` or ``max_bytes`` the oldest *free* rows are deleted; rows
    under a live lease (being sent) are not, so the bounds can be exceeded by the rows in
    flight until they are acked or released. An event larger than ``max_bytes`` is refused.

    Attributes:
        evicted: events dropped to respect the bounds (oldest evicted, or refused), since
            creation.
        write_failures: events ``put``/``write_ahead`` could not store (disk full, lock
            timeout, unusable file), since creation.
        corrupt_files_moved: corrupt or unreadable files renamed aside by this object.

    Raises:
        ValueError: a bad ``mode`` or bound (the only exception any method raises).

    Examples:
        >>> spool = Spool("/var/lib/app/amplitude.spool")
        >>> spool.put([b'{"event_type":"e","user_id":"user-1"}'])
        0
        >>> rows = spool.take(2000)
        >>> spool.ack([row_id for row_id, _ in rows])
        1
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        mode: str = "on_failure",
        max_events: int = DEFAULT_MAX_EVENTS,
        max_bytes: int | None = DEFAULT_MAX_BYTES,
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if mode not in SPOOL_MODES:
            raise ValueError(f"spool mode must be one of {SPOOL_MODES}, got {mode!r}")
        if isinstance(max_events, bool) or not isinstance(max_events, int) or max_events < 1:
            raise ValueError(f"max_events must be a positive int, got {max_events!r}")
        if max_bytes is not None and (
            isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 1
        ):
            raise ValueError(f"max_bytes must be a positive int or None, got {max_bytes!r}")
        if not lease_seconds > 0:
            raise ValueError(f"lease_seconds must be > 0, got {lease_seconds!r}")
        self.path = os.fspath(path)
        self.mode = mode
        self.max_events = max_events
        self.max_bytes = max_bytes
        self.lease_seconds = float(lease_seconds)
        self._clock = clock
        self.evicted = 0
        self._evicted_rows: List[bytes] = []  # what eviction deleted, until pop_evicted()
        self.write_failures = 0
        self.corrupt_files_moved = 0
        self._evicted_unreported = 0
        self._next_full_warning = 0.0
        self._lock = threading.Lock()
        self._reset_process_state()
        with _SPOOLS_LOCK:
            _SPOOLS.add(self)

    def _reset_process_state(self) -> None:
        """State that belongs to one process: connection, claim token, claimed ids."""
        self._conn: sqlite3.Connection | None = None
        self._ident: Tuple[int, int] | None = None  # (st_dev, st_ino) of the open file
        self._pid = os.getpid()
        self._token = _new_token()
        self._claimed: set[int] = set()
        self._done_unwritten: set[int] = set()  # acked, but the delete failed (disk full)
        self._full_reported = False
        self._next_reclaim = 0.0
        self._retry_open_at = 0.0

    def __repr__(self) -> str:
        return f"<Spool path={self.path!r} mode={self.mode!r}>"

    def __enter__(self) -> Spool:
        return self

    def __exit__(
        self,
        exc_type: Type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # ------------------------------------------------------------------ public API

    def put(self, encoded_events: Sequence[bytes]) -> int:
        """Store undeliverable events (unclaimed, so any process may send them next).

        Call it with the encoded events of a batch that failed for a transient reason
        (retries spent on 5xx/timeouts/connection errors, or shutdown running out of time).
        Never with a permanent failure (400, 413 of one event, quota).

        Args:
            encoded_events: each event's JSON, as the worker encoded it.

        Returns:
            How many events were lost by this call: the oldest rows evicted to respect the
            bounds (``evicted``), plus the given events that could not be written
            (``write_failures``). The caller counts them as dropped.
        """
        if not encoded_events:
            return 0
        _, lost = self._insert(encoded_events, claim=False)
        return lost

    def write_ahead(self, encoded_events: Sequence[bytes]) -> Tuple[List[int], int]:
        """Store events before sending them (``always`` mode), claimed by this process.

        Args:
            encoded_events: each event's JSON, as it will be sent.

        Returns:
            ``(ids, lost)``: the row id of each event, in order (``ack`` them once delivered,
            ``release`` them after a transient failure, or ``ack`` them after a permanent
            one), and how many older rows were evicted to make room. ``ids`` is empty when
            the events could not be written (counted in ``write_failures``): send them
            anyway, they are simply not durable.
        """
        if not encoded_events:
            return [], 0
        return self._insert(encoded_events, claim=True)

    def take(self, limit: int) -> List[Tuple[int, bytes]]:
        """Claim up to ``limit`` of the oldest rows that nobody holds, for this process.

        A row is free when it is unclaimed, its lease ran out, or its claimer was a process of
        this host that has exited. Claimed rows are not handed to any other process or
        thread until they are released or their lease (``lease_seconds``) runs out.

        Returns:
            ``[(id, encoded_event), ...]``, oldest first; empty when nothing is free (or the
            file is unusable). Send them, then ``ack`` the delivered ids and ``release`` the
            ones that failed transiently.
        """
        if limit <= 0:
            return []

        def op(conn: sqlite3.Connection) -> List[Tuple[int, bytes]]:
            now = self._clock()
            reclaim = now >= self._next_reclaim
            if not reclaim and not conn.execute(_ANY_FREE, (now,)).fetchone():
                return []  # nothing to take: no write lock for an idle poll
            with self._write(conn):
                if reclaim:
                    self._next_reclaim = now + _RECLAIM_INTERVAL
                    self._reclaim_dead_owners(conn)
                rows: List[Tuple[int, bytes]] = conn.execute(
                    "SELECT id, data FROM events WHERE claimed_by IS NULL OR lease_until <= ?"
                    " ORDER BY id LIMIT ?",
                    (now, limit),
                ).fetchall()
                if rows:
                    # We hold the write lock: the free rows between the first and the last id
                    # are exactly the ones just selected.
                    conn.execute(
                        "UPDATE events SET claimed_by = ?, lease_until = ?"
                        " WHERE id BETWEEN ? AND ? AND (claimed_by IS NULL OR lease_until <= ?)",
                        (self._token, now + self.lease_seconds, rows[0][0], rows[-1][0], now),
                    )
            self._claimed.update(row[0] for row in rows)
            return [(row_id, bytes(data)) for row_id, data in rows]

        return self._run(
            op, [], "take events from", on_full=lambda c: self._take_unclaimed(c, limit)
        )

    def _take_unclaimed(self, conn: sqlite3.Connection, limit: int) -> List[Tuple[int, bytes]]:
        """``take`` on a full disk: read the oldest free rows without claiming them (a read
        needs no space); this process remembers them instead (lock held)."""
        self._report_full()
        skip = self._claimed | self._done_unwritten
        rows = conn.execute(
            "SELECT id, data FROM events WHERE claimed_by IS NULL OR lease_until <= ?"
            " OR claimed_by = ? ORDER BY id LIMIT ?",
            (self._clock(), self._token, limit + len(skip)),
        ).fetchall()
        taken = [(row_id, bytes(data)) for row_id, data in rows if row_id not in skip][:limit]
        ids = [row_id for row_id, _ in taken]
        self._claimed.update(ids)
        return taken

    def _report_full(self) -> None:
        if self._full_reported:
            return
        self._full_reported = True
        log.error(
            "amplitude_legacy: the disk holding the spool %s is full. New events cannot be "
            "kept there (they are dropped, counted), and spooled events are sent without "
            "claiming them (another process sharing this spool may send some again; Amplitude "
            "deduplicates them by insert_id). Free space in %s.",
            self.path,
            os.path.dirname(os.path.abspath(self.path)),
        )

    def ack(self, ids: Iterable[int]) -> int:
        """Delete rows that were delivered (or failed permanently): they are done.

        Only ids claimed by this object (from ``take`` or ``write_ahead``) are considered;
        others are ignored. Returns how many rows were deleted (fewer than given when some
        were evicted or were in a file that has been replaced since).
        """
        mine = self._forget(ids)
        if not mine:
            return 0

        def remember(conn: sqlite3.Connection) -> int:
            self._report_full()
            self._done_unwritten.update(mine)  # never handed out again; deleted later
            return len(mine)

        def op(conn: sqlite3.Connection) -> int:
            mine.extend(self._done_unwritten)  # deletes a full disk held back, if any
            deleted = freed = 0
            with self._write(conn):
                for chunk in _chunks(mine):
                    marks = _marks(len(chunk))
                    n, size = conn.execute(
                        "SELECT COUNT(*), COALESCE(SUM(size), 0) FROM events"
                        f" WHERE id IN ({marks})",
                        chunk,
                    ).fetchone()
                    conn.execute(f"DELETE FROM events WHERE id IN ({marks})", chunk)
                    deleted += n
                    freed += size
                if deleted:
                    self._add_totals(conn, -deleted, -freed)
            self._done_unwritten.clear()
            self._full_reported = False  # space again: a new full disk is reported again
            return deleted

        return self._run(op, 0, "delete delivered events from", on_full=remember)

    def release(self, ids: Iterable[int]) -> int:
        """Unclaim rows after a transient failure: they become free again, in their place.

        Released rows are the oldest again, so the next ``take`` returns them first: back off
        before taking again. Only rows this object still holds are released. Returns how
        many rows were released.
        """
        mine = self._forget(ids)
        if not mine:
            return 0
        return self._run(
            lambda conn: self._update_claims_locked(conn, mine, None),
            0,
            "release events in",
            on_full=lambda conn: len(mine),  # our own claims count as free on a full disk
        )

    def renew(self, ids: Iterable[int]) -> int:
        """Extend the lease of rows this object holds by ``lease_seconds`` from now.

        Call it while a batch is still retrying, or while write-ahead rows wait long in memory,
        so that no other process takes them meanwhile. Returns how many rows were renewed.
        """
        mine = [row_id for row_id in ids if row_id in self._claimed]
        if not mine:
            return 0
        return self._update_claims(mine, self._clock() + self.lease_seconds, "renew leases in")

    def pop_evicted(self) -> List[bytes]:
        """The rows that eviction deleted since the last call (to report them as lost).

        At most the first 10,000 are kept between calls; ``evicted`` counts them all.
        """
        with self._lock:
            rows, self._evicted_rows = self._evicted_rows, []
        return rows

    def count(self) -> int:
        """The number of rows in the spool (claimed or not); 0 when the file is unusable."""
        return self._run(lambda conn: self._totals(conn)[0], 0, "count events in")

    def size_bytes(self) -> int:
        """The sum of the rows' sizes (the quantity ``max_bytes`` bounds)."""
        return self._run(lambda conn: self._totals(conn)[1], 0, "measure")

    def close(self) -> None:
        """Release the rows this object still holds and close this process's connection.

        Idempotent. Call it after the worker stopped. A later call to any method opens the
        file again.
        """
        with self._lock:
            self._check_process()
            if self._claimed and self._conn is not None:
                mine = sorted(self._claimed)
                self._claimed.clear()
                try:
                    self._update_claims_locked(self._conn, mine, None)
                except sqlite3.Error as exc:
                    log.warning("amplitude_legacy: could not release spooled events: %s", exc)
            self._claimed.clear()
            self._disconnect()

    # ------------------------------------------------------------------ operations

    def refused(self, encoded_events: Sequence[bytes]) -> List[int]:
        """Indices of ``encoded_events`` that ``put``/``write_ahead`` refuse by the bounds.

        An event larger than ``max_bytes`` is refused; past ``max_events`` in one call, only
        the newest fit. The caller can then tell its own refused events from evicted rows.
        """
        too_large = {
            i
            for i, data in enumerate(encoded_events)
            if self.max_bytes is not None and len(data) > self.max_bytes
        }
        fitting = [i for i in range(len(encoded_events)) if i not in too_large]
        excess = len(fitting) - self.max_events
        return sorted(too_large.union(fitting[:excess] if excess > 0 else []))

    def _insert(self, encoded: Sequence[bytes], *, claim: bool) -> Tuple[List[int], int]:
        refused_at = set(self.refused(encoded))
        rows = [bytes(data) for i, data in enumerate(encoded) if i not in refused_at]
        refused = len(refused_at)
        if refused:
            with self._lock:
                self.evicted += refused
        if not rows:
            return [], refused

        def op(conn: sqlite3.Connection) -> Tuple[List[int], int] | None:
            now = self._clock()
            owner = self._token if claim else None
            lease = now + self.lease_seconds if claim else None
            with self._write(conn):
                conn.executemany(
                    "INSERT INTO events (data, size, claimed_by, lease_until) VALUES (?, ?, ?, ?)",
                    [(data, len(data), owner, lease) for data in rows],
                )
                (last,) = conn.execute("SELECT last_insert_rowid()").fetchone()
                self._add_totals(conn, len(rows), sum(len(data) for data in rows))
                evicted = self._evict(conn, now)
            # One transaction holding the write lock: the ids are consecutive.
            ids = list(range(last - len(rows) + 1, last + 1)) if claim else []
            self._claimed.update(ids)
            self.evicted += evicted
            return ids, evicted

        result = self._run(op, None, "write events to")
        if result is None:
            with self._lock:
                self.write_failures += len(rows)
            return [], refused + len(rows)
        ids, evicted = result
        return ids, refused + evicted

    def _evict(self, conn: sqlite3.Connection, now: float) -> int:
        """Delete the oldest free rows beyond the bounds (in a write transaction)."""
        events, size = self._totals(conn)
        over_events = events - self.max_events
        over_bytes = size - self.max_bytes if self.max_bytes is not None else 0
        if over_events <= 0 and over_bytes <= 0:
            return 0
        # Rows under a live lease are being sent: they are not evicted (the bounds may be
        # exceeded by the rows in flight until they are acked or released).
        cursor = conn.execute(
            "SELECT id, size, data FROM events WHERE claimed_by IS NULL OR lease_until <= ?"
            " ORDER BY id",
            (now,),
        )
        n = freed = 0
        last: int | None = None
        lost = self._evicted_rows
        try:
            for row_id, row_size, data in cursor:
                n += 1
                freed += row_size
                last = row_id
                if len(lost) < _EVICTED_KEPT:
                    lost.append(bytes(data))
                if n >= over_events and freed >= over_bytes:
                    break
        finally:
            cursor.close()
        if last is None:
            return 0
        conn.execute(
            "DELETE FROM events WHERE id <= ? AND (claimed_by IS NULL OR lease_until <= ?)",
            (last, now),
        )
        self._add_totals(conn, -n, -freed)
        self._evicted_unreported += n
        if now >= self._next_full_warning:
            self._next_full_warning = now + 60.0
            log.warning(
                "amplitude_legacy: the spool %s is full (max %d events, %s bytes): "
                "dropped the %d oldest event(s) to make room",
                self.path,
                self.max_events,
                self.max_bytes,
                self._evicted_unreported,
            )
            self._evicted_unreported = 0
        return n

    def _reclaim_dead_owners(self, conn: sqlite3.Connection) -> None:
        owners = [
            owner
            for (owner,) in conn.execute(
                "SELECT DISTINCT claimed_by FROM events WHERE claimed_by IS NOT NULL"
            )
            if owner != self._token
        ]
        for owner in owners:
            if _owner_is_dead(owner):
                conn.execute(
                    "UPDATE events SET claimed_by = NULL, lease_until = NULL WHERE claimed_by = ?",
                    (owner,),
                )

    def _update_claims(self, ids: Sequence[int], lease_until: float | None, what: str) -> int:
        return self._run(lambda conn: self._update_claims_locked(conn, ids, lease_until), 0, what)

    def _update_claims_locked(
        self, conn: sqlite3.Connection, ids: Sequence[int], lease_until: float | None
    ) -> int:
        """Release (``lease_until`` None) or renew rows still claimed by our token."""
        changed = 0
        owner = None if lease_until is None else self._token
        with self._write(conn):
            for chunk in _chunks(ids):
                cursor = conn.execute(
                    f"UPDATE events SET claimed_by = ?, lease_until = ?"
                    f" WHERE claimed_by = ? AND id IN ({_marks(len(chunk))})",
                    (owner, lease_until, self._token, *chunk),
                )
                changed += cursor.rowcount
        return changed

    def _forget(self, ids: Iterable[int]) -> List[int]:
        """The given ids that this object holds, now forgotten (under the lock)."""
        with self._lock:
            self._check_process()
            claimed = self._claimed
            mine = [row_id for row_id in ids if row_id in claimed]
            claimed.difference_update(mine)
        return mine

    @staticmethod
    def _totals(conn: sqlite3.Connection) -> Tuple[int, int]:
        row = conn.execute("SELECT events, bytes FROM totals WHERE one = 1").fetchone()
        return (int(row[0]), int(row[1])) if row else (0, 0)

    @staticmethod
    def _add_totals(conn: sqlite3.Connection, events: int, size: int) -> None:
        conn.execute(
            "UPDATE totals SET events = events + ?, bytes = bytes + ? WHERE one = 1",
            (events, size),
        )

    @staticmethod
    def _write(conn: sqlite3.Connection) -> _WriteTransaction:
        return _WriteTransaction(conn)

    # ------------------------------------------------------------------ connection

    def _run(
        self,
        op: Callable[[sqlite3.Connection], _T],
        fallback: _T,
        what: str,
        on_full: Callable[[sqlite3.Connection], _T] | None = None,
    ) -> _T:
        """Run ``op`` on this process's connection; recover from corruption once.

        ``on_full`` is the way out when the disk is full (it must not write).
        """
        with self._lock:
            for attempt in (1, 2):
                try:
                    conn = self._connection()
                    return op(conn)
                except _Unusable:
                    return fallback
                except sqlite3.Error as exc:
                    if on_full is not None and _is_full(exc) and self._conn is not None:
                        try:
                            return on_full(self._conn)
                        except sqlite3.Error as second:
                            exc = second
                    if attempt == 1 and self._recover(exc):
                        continue
                    if self._conn is None:  # could not open: do not retry on every call
                        self._retry_open_at = self._clock() + _REOPEN_BACKOFF
                    log.warning(
                        "amplitude_legacy: could not %s the spool %s: %s", what, self.path, exc
                    )
                    return fallback
            return fallback  # pragma: no cover - the loop always returns

    def _check_process(self) -> None:
        """In a forked child without the fork hooks: forget the parent's connection."""
        if self._pid != os.getpid():
            if self._conn is not None:
                _ABANDONED.append(self._conn)  # never closed in this process
            self._reset_process_state()

    def _connection(self) -> sqlite3.Connection:
        """This process's connection to the current file at ``path`` (opened lazily)."""
        self._check_process()
        conn = self._conn
        if conn is not None:
            try:
                st = os.stat(self.path)
                same = (st.st_dev, st.st_ino) == self._ident
            except OSError:
                same = False
            if same:
                return conn
            # Another process moved the file aside (corrupt) or removed it: follow the path.
            log.info("amplitude_legacy: the spool %s was replaced; reopening it", self.path)
            self._disconnect()  # the old connection is discarded without a checkpoint
            self._claimed.clear()
        if self._clock() < self._retry_open_at:
            raise _Unusable()
        return self._open()

    def _open(self) -> sqlite3.Connection:
        directory = os.path.dirname(os.path.abspath(self.path))
        try:
            os.makedirs(directory, exist_ok=True)
        except OSError as exc:
            self._unusable(f"cannot create its directory: {exc}")
        conn = sqlite3.connect(
            self.path,
            timeout=BUSY_TIMEOUT_MS / 1000.0,
            isolation_level=None,  # autocommit; transactions are explicit (BEGIN IMMEDIATE)
            check_same_thread=False,  # one connection per process, guarded by self._lock
        )
        try:
            st = os.stat(self.path)
            # Kept even if opening fails: _recover moves the file aside only if it is still
            # the one we found (another process may have replaced it already).
            self._ident = (st.st_dev, st.st_ino)
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            journal = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(journal).lower() != "wal":
                log.warning(
                    "amplitude_legacy: the spool %s cannot use WAL mode (%s)", self.path, journal
                )
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute(f"PRAGMA journal_size_limit = {_JOURNAL_SIZE_LIMIT}")
            self._ensure_schema(conn)
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                conn.close()
            raise
        self._conn = conn
        return conn

    def _ensure_schema(self, conn: sqlite3.Connection) -> None:
        (version,) = conn.execute("PRAGMA user_version").fetchone()
        if version == _SCHEMA_VERSION:
            return
        if version != 0:
            self._unusable(f"it has an unknown format (user_version {version}); not touching it")
        with self._write(conn):
            (version,) = conn.execute("PRAGMA user_version").fetchone()
            if version == _SCHEMA_VERSION:  # another process created it meanwhile
                return
            (tables,) = conn.execute(
                "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table'"
            ).fetchone()
            if tables:
                self._unusable("it is a database of something else; not touching it")
            conn.execute(
                "CREATE TABLE events ("
                " id INTEGER PRIMARY KEY AUTOINCREMENT,"
                " data BLOB NOT NULL,"
                " size INTEGER NOT NULL,"
                " claimed_by TEXT,"
                " lease_until REAL)"
            )
            conn.execute(
                "CREATE INDEX events_claimed ON events (claimed_by) WHERE claimed_by IS NOT NULL"
            )
            conn.execute(
                "CREATE TABLE totals ("
                " one INTEGER PRIMARY KEY CHECK (one = 1),"
                " events INTEGER NOT NULL,"
                " bytes INTEGER NOT NULL)"
            )
            conn.execute("INSERT INTO totals VALUES (1, 0, 0)")
            # Ids start at a time-based value, so an id handed out from a file that was moved
            # aside never names a row of its replacement.
            conn.execute(
                "INSERT INTO sqlite_sequence (name, seq) VALUES ('events', ?)",
                (time.time_ns() // 1000,),
            )
            conn.execute(f"PRAGMA user_version = {_SCHEMA_VERSION}")

    def _unusable(self, why: str) -> None:
        log.error(
            "amplitude_legacy: the spool %s is unusable (%s); events that would go to it "
            "are dropped and counted",
            self.path,
            why,
        )
        self._retry_open_at = self._clock() + _REOPEN_BACKOFF
        raise _Unusable(why)

    def _recover(self, exc: sqlite3.Error) -> bool:
        """Move a corrupt or unreadable file aside; return True to retry on a fresh file.

        The file is renamed only while no other process has it open (see ``_lock_out``): a
        connection still open on a renamed file would, when closed, delete ``<path>-wal``
        and ``<path>-shm`` *by name*, that is, the new file's.
        """
        corrupt = _is_corruption(exc)
        if not corrupt and not (_is_unreadable(exc) and os.path.isfile(self.path)):
            return False
        what = "corrupt" if corrupt else "unreadable"
        ident = self._ident
        self._disconnect()  # safe: the path still names our file, or it is discarded unclosed
        self._claimed.clear()
        try:
            st = os.stat(self.path)
        except OSError:
            return True  # already moved by another process: open a fresh file
        if ident is not None and (st.st_dev, st.st_ino) != ident:
            return True  # another process already replaced it: do not move the new file
        guard = _lock_out(self.path)
        if guard is None:
            log.error(
                "amplitude_legacy: the spool %s is %s (%s); another process still has it "
                "open, so it is moved aside later",
                self.path,
                what,
                exc,
            )
            self._retry_open_at = self._clock() + _REOPEN_BACKOFF
            return False
        now_ns = time.time_ns()
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(now_ns // 10**9))
        stamp += f".{now_ns % 10**9 // 1000:06d}Z"
        aside = f"{self.path}.corrupt-{stamp}"
        try:
            os.replace(self.path, aside)
            with contextlib.suppress(OSError):
                os.replace(self.path + "-wal", aside + "-wal")
            with contextlib.suppress(OSError):
                os.remove(self.path + "-shm")
        except OSError as move_error:
            log.error(
                "amplitude_legacy: the spool %s is %s (%s) and cannot be moved aside: %s",
                self.path,
                what,
                exc,
                move_error,
            )
            self._retry_open_at = self._clock() + _REOPEN_BACKOFF
            return False
        finally:
            if guard >= 0:
                os.close(guard)
        self.corrupt_files_moved += 1
        log.warning(
            "amplitude_legacy: the spool %s is %s (%s); moved it to %s and started a new one",
            self.path,
            what,
            exc,
            aside,
        )
        return True

    def _disconnect(self) -> None:
        """Close this process's connection, unless ``path`` now names another file."""
        conn, ident = self._conn, self._ident
        self._conn = None
        self._ident = None
        if conn is None:
            return
        try:
            st = os.stat(self.path)
            ours = (st.st_dev, st.st_ino) == ident
        except OSError:
            ours = False
        if ours:
            with contextlib.suppress(sqlite3.Error):
                conn.close()
        else:
            _discard_stale(conn)

    # ------------------------------------------------------------------ fork

    def _before_fork(self) -> None:
        self._lock.acquire()
        # Close before forking: SQLite keeps per-process lock state that a child must not
        # inherit, and a transaction cannot be in progress since we hold the lock.
        if self._pid == os.getpid():
            self._disconnect()

    def _after_fork_in_parent(self) -> None:
        self._lock.release()

    def _after_fork_in_child(self) -> None:
        self._lock = threading.Lock()
        self._reset_process_state()  # the parent's claims stay the parent's


class _WriteTransaction:
    """``BEGIN IMMEDIATE`` ... ``COMMIT`` (``ROLLBACK`` on error): takes the write lock first."""

    __slots__ = ("_conn",)

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def __enter__(self) -> None:
        self._conn.execute("BEGIN IMMEDIATE")

    def __exit__(
        self,
        exc_type: Type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self._conn.execute("COMMIT")
            return
        with contextlib.suppress(sqlite3.Error):
            self._conn.execute("ROLLBACK")


_forking: List[Spool] = []


def _before_fork() -> None:
    _SPOOLS_LOCK.acquire()
    _forking[:] = list(_SPOOLS)
    for spool in _forking:
        spool._before_fork()


def _after_fork_in_parent() -> None:
    for spool in reversed(_forking):
        spool._after_fork_in_parent()
    _forking.clear()
    _SPOOLS_LOCK.release()


def _after_fork_in_child() -> None:
    global _SPOOLS_LOCK
    for spool in _forking:
        spool._after_fork_in_child()
    _forking.clear()
    _SPOOLS_LOCK = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(
        before=_before_fork,
        after_in_parent=_after_fork_in_parent,
        after_in_child=_after_fork_in_child,
    )
