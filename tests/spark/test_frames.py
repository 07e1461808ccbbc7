"""``Utf8Frames`` against PySpark's own ``UTF8Deserializer``: the same rows, the same stop.

No Spark session: the frames are written here as the JVM writes them (a 4-byte big-endian
length, the UTF-8 bytes; ``-5`` for a null, ``-1`` at the end) and read from buffered
streams of many buffer sizes, so frames fall across the buffer's end in every way.
"""

from __future__ import annotations

import io
import struct
from typing import List

import pytest
from pyspark.serializers import UTF8Deserializer

from amplitude_legacy.spark._frames import Utf8Frames

#: What the worker reads after the data section: must be left in the stream.
TRAILER = struct.pack("!i", -4) + b"after the data"

ROWS: List[str | None] = [
    '{"event_type":"a","user_id":"u1"}',
    "",
    None,
    "é" * 40 + "日本語" + "😀",  # multi-byte characters, split by small buffers
    "x" * 300,  # longer than the smaller buffers below
    '{"event_type":"b"}\nown-id',
    None,
]


def frames(rows: List[str | None], end: bool = True) -> bytes:
    out = []
    for row in rows:
        if row is None:
            out.append(struct.pack("!i", -5))
        else:
            data = row.encode()
            out.append(struct.pack("!i", len(data)) + data)
    if end:
        out.append(struct.pack("!i", -1) + TRAILER)
    return b"".join(out)


def read_all(deserializer: object, stream: io.RawIOBase | io.BufferedIOBase) -> list:
    return list(deserializer.load_stream(stream))  # type: ignore[attr-defined]


@pytest.mark.parametrize("buffer_size", [1, 2, 3, 4, 5, 7, 16, 33, 64, 100, 333, 65536])
def test_the_same_rows_as_pysparks_reader_and_nothing_past_the_end(buffer_size: int) -> None:
    data = frames(ROWS * 5)
    ours = io.BufferedReader(io.BytesIO(data), buffer_size)
    theirs = io.BufferedReader(io.BytesIO(data), buffer_size)
    assert read_all(Utf8Frames(), ours) == read_all(UTF8Deserializer(), theirs) == ROWS * 5
    assert ours.read() == theirs.read() == TRAILER  # the worker's protocol goes on from here


@pytest.mark.parametrize("buffer_size", [3, 100, 65536])
def test_a_socket_files_reader_side_reads_the_same(buffer_size: int) -> None:
    """A worker started without the daemon reads from ``socket.makefile("rwb")``: a
    ``BufferedRWPair``, whose ``peek`` is its reader's."""
    stream = io.BufferedRWPair(io.BytesIO(frames(ROWS * 3)), io.BytesIO(), buffer_size)
    assert read_all(Utf8Frames(), stream) == ROWS * 3
    assert stream.read() == TRAILER


def test_a_stream_without_peek_is_read_one_frame_at_a_time() -> None:
    stream = io.BytesIO(frames(ROWS))  # no peek()
    assert read_all(Utf8Frames(), stream) == ROWS
    assert stream.read() == TRAILER


def test_a_stream_that_ends_without_the_marker_stops_as_pysparks_does() -> None:
    data = frames(ROWS, end=False)
    ours = read_all(Utf8Frames(), io.BufferedReader(io.BytesIO(data), 8))
    assert ours == read_all(UTF8Deserializer(), io.BufferedReader(io.BytesIO(data), 8)) == ROWS
    assert read_all(Utf8Frames(), io.BufferedReader(io.BytesIO(b""))) == []


def test_many_rows_in_one_buffer_come_out_in_order() -> None:
    rows: List[str | None] = [f'{{"seq":{i}}}' for i in range(20_000)]
    stream = io.BufferedReader(io.BytesIO(frames(rows)), 65536)
    assert read_all(Utf8Frames(), stream) == rows
    assert stream.read() == TRAILER


def test_it_pickles_as_the_rdd_ships_it_and_compares_equal() -> None:
    import pickle

    assert pickle.loads(pickle.dumps(Utf8Frames())) == Utf8Frames()
    assert repr(Utf8Frames()) == "Utf8Frames()"
