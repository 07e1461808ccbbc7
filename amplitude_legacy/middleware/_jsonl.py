"""``JsonlFileDestination``: an audit log on disk, one event per line, rotated by size."""

from __future__ import annotations

import os
import re
import threading
from pathlib import Path
from typing import BinaryIO, Mapping

from amplitude_legacy._encoding import encode_json
from amplitude_legacy._options import Options
from amplitude_legacy._transport import HttpResponse
from amplitude_legacy.middleware._destination import (
    DELIVERED,
    Destination,
    DestinationOptions,
    events_of,
    unavailable,
)

__all__ = ["JsonlFileDestination", "JsonlFileTransport"]


class JsonlFileTransport:
    """Appends each batch to a JSON-lines file, rotating it by size; a ``Transport``.

    A batch is written whole or not at all: after a failed write (disk full) the file is cut
    back to where the batch began and the engine retries it. Thread-safe (one lock).

    Args:
        path: the file (opened for appending now: a bad path fails at construction).
        rotate_bytes: start a new file before one would grow past this size, or ``None``.
        fsync: ``os.fsync`` after each batch.

    Raises:
        OSError: the file cannot be opened for appending.
    """

    def __init__(self, path: Path, rotate_bytes: int | None, fsync: bool) -> None:
        self._path = path
        self._rotate_bytes = rotate_bytes
        self._fsync = fsync
        self._lock = threading.Lock()
        self._file: BinaryIO | None = self._open()
        self._size = os.fstat(self._file.fileno()).st_size
        self._next_suffix: int | None = None
        self._closed = False

    def _open(self) -> BinaryIO:
        return open(self._path, "ab", buffering=0)

    def send(
        self, url: str, body: bytes, headers: Mapping[str, str], timeout: float | None
    ) -> HttpResponse:
        """Append the events of an Amplitude body; see ``Transport.send``."""
        data = b"".join([encode_json(event) + b"\n" for event in events_of(body, headers)])
        with self._lock:
            if self._closed:
                return unavailable("the file is closed")
            start = self._size
            try:
                if self._file is None:  # a rotation failed half-way: try again now
                    self._file = self._open()
                    start = self._size = os.fstat(self._file.fileno()).st_size
                limit = self._rotate_bytes
                if limit is not None and start and start + len(data) > limit:
                    self._rotate()
                    start = 0
                file = self._file
                assert file is not None
                view = memoryview(data)
                while view:
                    view = view[file.write(view) or 0 :]
                if self._fsync:
                    os.fsync(file.fileno())
            except OSError as exc:
                self._cut_back(start)
                return unavailable(f"writing {self._path.name} failed: {exc.strerror or exc}")
            self._size = start + len(data)
        return DELIVERED

    def _cut_back(self, size: int) -> None:
        try:
            if self._file is not None:
                self._file.truncate(size)
        except OSError:
            pass  # the retry appends after whatever is there; nothing better to do

    def _rotate(self) -> None:
        """``events.jsonl`` -> ``events.jsonl.<n>`` (n = the next free number), then reopen."""
        if self._next_suffix is None:
            taken = re.compile(re.escape(self._path.name) + r"\.(\d+)$")
            numbers = [
                int(m.group(1)) for p in self._path.parent.iterdir() if (m := taken.match(p.name))
            ]
            self._next_suffix = max(numbers, default=0) + 1
        assert self._file is not None
        self._file.close()
        self._file = None
        os.replace(self._path, self._path.with_name(f"{self._path.name}.{self._next_suffix}"))
        self._next_suffix += 1
        self._file = self._open()  # if this raises, the next batch opens it again

    def close(self) -> None:
        """Close the file."""
        with self._lock:
            self._closed = True
            if self._file is not None:
                self._file.close()
                self._file = None


class JsonlFileDestination(Destination):
    """An audit log on disk: each event as one line of JSON, appended in batches.

    Rotation: before a batch would make the file larger than ``rotate_bytes``, the file is
    renamed ``<path>.<n>`` (``events.jsonl.1``, ``.2``... the highest is the newest; nothing is
    ever deleted) and a new one is started; a single batch larger than that still goes into one
    file. One process per file; one batch written at a time (``maxConcurrentRequests`` 1 unless
    you set it), so lines keep the order of ``logEvent`` except across a retry. Failed writes
    (disk full) are retried on ``retryTimeouts`` without leaving half a batch behind.

    Args:
        path: the file; its directory must exist. Opened for appending at construction.
        rotate_bytes: the largest a file grows before rotation (``None``: never rotate).
        fsync: ``os.fsync`` after each batch (survives power loss; costs a disk flush per
            batch). Without it, each batch still reaches the OS before it counts delivered.
        options: the destination client's options (``retryTimeouts``, ``maxQueueSize``...).
        name: the name in ``client.stats().destinations`` (default ``"jsonl:<path>"``).

    Raises:
        ValueError: the file cannot be opened for appending; a bad ``rotate_bytes``.
        TypeError: ``path`` is not a path.
        OptionsError: a bad option.

    Examples:
        >>> audit = JsonlFileDestination("/var/log/app/events.jsonl", rotate_bytes=100_000_000)
        >>> client.addEventMiddleware(route("*", audit))
    """

    _makes_transport = True

    def __init__(
        self,
        path: str | os.PathLike[str],
        rotate_bytes: int | None = None,
        *,
        fsync: bool = False,
        options: DestinationOptions = None,
        name: str | None = None,
    ) -> None:
        if not isinstance(path, (str, os.PathLike)):
            raise TypeError(f"path must be a file path, got {type(path).__name__}")
        if rotate_bytes is not None and (
            not isinstance(rotate_bytes, int) or isinstance(rotate_bytes, bool) or rotate_bytes < 1
        ):
            raise ValueError(f"rotate_bytes must be a positive int or None, got {rotate_bytes!r}")
        self._path = Path(path)
        self._rotate_bytes = rotate_bytes
        self._fsync = bool(fsync)
        # One batch at a time by default: the file keeps the order of logEvent.
        super().__init__(
            name or f"jsonl:{os.fspath(path)}",
            options=options,
            defaults={"max_concurrent_requests": 1},
        )

    def _make_transport(self, options: Options) -> JsonlFileTransport:
        try:
            return JsonlFileTransport(self._path, self._rotate_bytes, self._fsync)
        except OSError as exc:
            raise ValueError(
                f"path: cannot append to {os.fspath(self._path)!r}: {exc.strerror}"
            ) from None
