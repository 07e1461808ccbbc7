"""Event encoding and request bodies: each event is encoded once, on the worker.

``encoder()`` is the function that turns one value into compact JSON bytes: ``orjson`` when the
``speed`` extra is installed, else the standard library's C encoder called directly. It is
chosen on first use (importing orjson also imports uuid and datetime: not at package import).
``JSONEncoder.encode`` costs a few microseconds per call in Python-level set-up before the C
code runs; at the default install encoding is most of the worker's CPU, so the C encoder is
built once and called as is (it has been in CPython's ``json.encoder`` for many years; the
pure-Python encoder is the fallback).

``Wire`` holds what every body of a client shares: the ``api_key``/``options`` frame around the
events, the size limits and gzip. A body is ``prefix + b",".join(events) + suffix``, so a retry
or a split reuses each event's bytes.
"""

from __future__ import annotations

import json
from typing import Any, Callable, Mapping, Sequence

__all__ = ["MAX_EVENTS_PER_REQUEST", "Wire", "encode_event", "encode_json", "encoder"]

#: The API's event limit per request.
MAX_EVENTS_PER_REQUEST = 2000
#: Body limits: HTTP V2 answers 413 over 1 MB, the Batch API over 20 MB (decimal, to be safe).
MAX_BODY_BYTES = 1_000_000
MAX_BATCH_BODY_BYTES = 20_000_000


def _stdlib_encoder() -> Callable[[Any], bytes]:
    from json import encoder

    make = getattr(encoder, "c_make_encoder", None)
    if make is None:  # no C accelerator (PyPy, some builds): the public API
        dumps = json.JSONEncoder(separators=(",", ":"), allow_nan=False).encode
        return lambda value: dumps(value).encode()
    # markers={} keeps the circular-reference check; allow_nan=False refuses NaN/inf as the
    # API does. The C encoder returns a list of str chunks.
    chunks = make({}, None, encoder.encode_basestring_ascii, None, ":", ",", False, False, False)
    join = "".join

    def encode(value: Any) -> bytes:
        return join(chunks(value, 0)).encode()

    return encode


_encoder: Callable[[Any], bytes] | None = None


def encoder() -> Callable[[Any], bytes]:
    """The JSON encoder: orjson when installed (the ``speed`` extra), else the stdlib's."""
    global _encoder
    if _encoder is None:
        try:
            import orjson  # type: ignore[import-not-found, unused-ignore]

            _encoder = orjson.dumps
        except ImportError:
            _encoder = _stdlib_encoder()
    return _encoder


def encode_json(value: Any) -> bytes:
    """``value`` as compact JSON bytes (``encoder()``; hot loops hold that function instead)."""
    return encoder()(value)


def encode_event(event: Mapping[str, Any]) -> bytes:
    """One event's JSON bytes.

    Raises:
        InvalidEventError: the event cannot be encoded; ``field`` names the first top-level
            field that fails (a value changed after ``logEvent``, an integer beyond 64 bits
            with orjson, ...).
    """
    encode = encoder()
    try:
        return encode(event)
    except Exception as exc:
        from amplitude_legacy._errors import InvalidEventError

        field, reason = "", f"{type(exc).__name__}: {exc}"
        for key, value in event.items():
            try:
                encode(value)
            except Exception as inner:
                field, reason = str(key), f"{type(inner).__name__}: {inner}"
                break
        where = f"field {field!r} " if field else ""
        raise InvalidEventError(
            field, f"Invalid event: {where}cannot be encoded ({reason})"
        ) from None


class Wire:
    """The frame and limits of one client's request bodies.

    Args:
        api_key: sent in every body; never logged.
        url: the endpoint (``/batch`` URLs get the Batch API's 20 MB limit).
        min_id_length: sent as ``options.min_id_length`` when not ``None``.
        gzip: compress bodies (``Content-Encoding: gzip``).
    """

    __slots__ = ("gzip", "headers", "max_bytes", "max_events", "overhead", "prefix", "suffix")

    def __init__(self, api_key: str, url: str, min_id_length: int | None, gzip: bool) -> None:
        self.prefix = b'{"api_key":' + encode_json(api_key) + b',"events":['
        suffix = b"]"
        if min_id_length is not None:
            suffix += b',"options":{"min_id_length":' + str(min_id_length).encode() + b"}"
        self.suffix = suffix + b"}"
        self.overhead = len(self.prefix) + len(self.suffix)
        self.max_events = MAX_EVENTS_PER_REQUEST
        self.max_bytes = MAX_BATCH_BODY_BYTES if "/batch" in url else MAX_BODY_BYTES
        self.gzip = gzip
        self.headers = {"Content-Type": "application/json"}
        if gzip:
            self.headers["Content-Encoding"] = "gzip"

    def body(self, encoded_events: Sequence[bytes]) -> bytes:
        """The request body for these encoded events."""
        body = self.prefix + b",".join(encoded_events) + self.suffix
        if self.gzip:
            import gzip

            return gzip.compress(body, compresslevel=6)
        return body
