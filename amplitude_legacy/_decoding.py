"""Parsing JSON text to the values ``json.loads`` gives, with orjson wherever they are the same.

orjson (the ``speed`` extra) parses a small JSON object about four times faster than
``json.loads`` (with the checks below, a 120-byte line in about half the time). For text both
accept, both give the same values, with two exceptions:

- an integer beyond 64 bits: orjson reads it as a float, ``json.loads`` as the exact ``int``.
  Any such integer has at least 19 digits in a row, so text with a run of 19 digits is left
  to ``json.loads`` (a long digit run inside a string costs only the slower parse);
- nesting: up to Python 3.11, ``json.loads`` stops near the recursion limit (about 990
  levels at the default limit of 1,000) with ``RecursionError``, orjson at 1,024 (orjson 3.6
  at 128: deeper text it refuses goes to ``json.loads`` like any other; Python 3.12 allows
  1,497 levels, 3.13 about 10,000). Text with more than ``MAX_OPENINGS`` opening brackets,
  or more than the recursion limit less 100, is left to ``json.loads`` too.

Text orjson refuses (``NaN`` and ``Infinity``, lone surrogate escapes, a byte-order mark,
invalid UTF-8, a number beyond a double's range) raises ``ValueError`` here; callers then run
``json.loads``, which reads it as before or says why it cannot.
"""

from __future__ import annotations

import sys
from typing import Any, Callable, Union

__all__ = ["MAX_OPENINGS", "orjson_parser"]

#: Opening brackets (``[`` and ``{``) in a text orjson may parse, at most.
MAX_OPENINGS = 900

# The digit-run check: every digit mapped to "0", then one substring search. A regular
# expression ([0-9]{19}) takes 1.6-3 us for a 120-byte event, twice orjson's whole parse;
# this takes about 0.45.
_DIGITS_AS_ZEROS = bytes.maketrans(b"123456789", b"000000000")
_LONG_INTEGER = b"0" * 19


class _NotDecided(ValueError):
    """The text is one orjson might read differently from ``json.loads``."""


def _openings(text: Union[str, bytes]) -> int:
    if type(text) is bytes:
        return text.count(b"[") + text.count(b"{")
    return text.count("[") + text.count("{")  # type: ignore[arg-type]


def orjson_parser(
    big_ints: bool = True,
) -> Callable[[Union[str, bytes]], Any] | None:
    """``parse(text)``: orjson's parse of ``text`` when it equals ``json.loads``'s.

    Args:
        big_ints: ``text`` may hold integers beyond 64 bits (``False`` only when the caller
            knows it cannot, as for a Spark row whose schema has no wide decimal: then the
            digit-run check is skipped).

    Returns:
        ``None`` without orjson. Else a function that returns the parsed value, or raises
        ``ValueError`` when orjson refuses the text or it is one of the two exceptions above;
        the caller then parses it with ``json.loads``.
    """
    try:
        import orjson  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        return None
    fast: Callable[[Union[str, bytes]], Any] = orjson.loads
    # 100 frames for the caller's own stack: json.loads counts them against the limit too.
    max_openings = min(MAX_OPENINGS, sys.getrecursionlimit() - 100)

    def parse(text: Union[str, bytes]) -> Any:
        if big_ints:
            # str.encode raises UnicodeEncodeError (a ValueError) for a lone surrogate,
            # which orjson would refuse too.
            raw = text if type(text) is bytes else text.encode()  # type: ignore[union-attr]
            if _LONG_INTEGER in raw.translate(_DIGITS_AS_ZEROS):
                raise _NotDecided("a long run of digits: left to json.loads")
        if len(text) > max_openings and _openings(text) > max_openings:
            raise _NotDecided("deeply nested: left to json.loads")
        return fast(text)

    return parse
