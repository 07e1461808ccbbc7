"""Parsing JSON text to the values ``json.loads`` gives, with orjson wherever they are the same.

orjson (the ``speed`` extra) parses a small JSON object three to four times faster than
``json.loads``. For text both accept, both give the same values, with two exceptions:

- an integer beyond 64 bits: orjson reads it as a float, ``json.loads`` as the exact ``int``.
  Any such integer has at least 19 digits in a row, so text with a run of 19 digits is left
  to ``json.loads`` (a long digit run inside a string costs only the slower parse);
- nesting: ``json.loads`` stops near Python's recursion limit (about 990 levels here) with
  ``RecursionError``, orjson at 1,024. Text with more than 900 opening brackets is left to
  ``json.loads`` too.

Text orjson refuses (``NaN`` and ``Infinity``, lone surrogate escapes, a byte-order mark,
invalid UTF-8, a number beyond a double's range) raises ``ValueError`` here; callers then run
``json.loads``, which reads it as before or says why it cannot.
"""

from __future__ import annotations

import re
from typing import Any, Callable, Union

__all__ = ["MAX_OPENINGS", "orjson_parser"]

#: Opening brackets (``[`` and ``{``) in a text orjson may parse, at most.
MAX_OPENINGS = 900

_LONG_RUN_OF_DIGITS = re.compile(r"[0-9]{19}").search
_LONG_RUN_OF_DIGITS_IN_BYTES = re.compile(rb"[0-9]{19}").search


class _NotDecided(ValueError):
    """The text is one orjson might read differently from ``json.loads``."""


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

    def parse(text: Union[str, bytes]) -> Any:
        if type(text) is bytes:
            openings = text.count(b"[") + text.count(b"{")
            long_int = big_ints and _LONG_RUN_OF_DIGITS_IN_BYTES(text) is not None
        else:
            openings = text.count("[") + text.count("{")  # type: ignore[arg-type]
            long_int = big_ints and _LONG_RUN_OF_DIGITS(text) is not None  # type: ignore[arg-type]
        if long_int or openings > MAX_OPENINGS:
            raise _NotDecided("left to json.loads")
        return fast(text)

    return parse
