"""Reading the JVM's strings in a task: PySpark's UTF-8 frames, many per call.

The JVM hands a partition's rows to the Python worker as frames: a 4-byte big-endian length,
then that many bytes of UTF-8 (``-5`` for a null, ``-1`` at the end of the data). PySpark's
``UTF8Deserializer`` reads each frame with two ``read`` calls and a ``struct.unpack``, about
8,000 instructions per row. ``Utf8Frames`` yields the same strings but takes every whole frame
already in the worker's buffer from one ``peek``, then consumes them with one ``read``: about
4,000 per row, a Spark-only cost the single-process CLI does not have.
"""

from __future__ import annotations

import struct
from typing import IO, Iterator

from pyspark.serializers import Serializer, UTF8Deserializer

__all__ = ["Utf8Frames"]

_LENGTH = struct.Struct("!i")
#: As much as a peek may return: the worker's buffer (``SPARK_BUFFER_SIZE``, 64 KiB).
_PEEK = 1 << 16


class Utf8Frames(Serializer):
    """Deserializes the frames ``UTF8Deserializer`` reads, with the same results.

    Whole frames found in the stream's buffer are read in bulk; a frame that is not whole
    there (at the buffer's end, or longer than the buffer), a null, and the end marker are
    read one at a time by ``UTF8Deserializer`` itself. Nothing past the end marker is
    consumed: the worker reads the rest of its protocol from the same stream.
    """

    def load_stream(self, stream: IO[bytes]) -> Iterator[str | None]:
        """Yield each row's string (``None`` for a null) up to the end of the data."""
        peek = getattr(stream, "peek", None)  # a buffered reader, as PySpark's workers use
        read = stream.read
        unpack = _LENGTH.unpack_from
        one_frame = UTF8Deserializer().loads  # type: ignore[no-untyped-call]  # (PySpark's own)
        while True:
            if peek is not None:
                data = peek(_PEEK)
                end = len(data)
                pos = 0
                while end - pos >= 4:
                    (length,) = unpack(data, pos)
                    start = pos + 4
                    stop = start + length
                    if length < 0 or stop > end:
                        break  # a marker, or a frame not whole in the buffer: one_frame
                    yield data[start:stop].decode()
                    pos = stop
                if pos:
                    read(pos)  # consume what was yielded
                    continue
            try:
                row: str | None = one_frame(stream)  # type: ignore[no-untyped-call]
            except (EOFError, struct.error):  # the end marker, or the stream ended
                return  # (where UTF8Deserializer.load_stream stops too)
            yield row

    def __repr__(self) -> str:
        return "Utf8Frames()"
