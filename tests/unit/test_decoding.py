"""orjson where it reads what json.loads reads (``_decoding``), and the CLI's line parse on it.

Needs orjson (the test extra has it). ``.ci/other-pythons`` runs the core suite without
orjson and this file apart, after installing it, as for the collector's quick path.
"""

from __future__ import annotations

import io
import json
import random
import sys
from typing import Any, Callable, List, Union

import pytest

from amplitude_legacy._cli import _parse_line, _Reader
from amplitude_legacy._decoding import MAX_OPENINGS, orjson_parser

Text = Union[str, bytes]


def _corpus() -> List[str]:
    """Objects both parsers read, and texts where they differ or fail."""
    texts = [
        '{"event_type":"a","user_id":"u-1","event_properties":{"n":1,"f":2.5,"s":"\\u00e9"}}',
        '{"a":[1,-0,-0.0,1e5,1E-400,1.7976931348623157e308,5e-324,0.1,true,false,null]}',
        '{"a":1,"b":2,"a":3}',  # duplicate keys: the last value, at the first key's place
        '{"caf\\u00e9":"\\ud83d\\ude00 \\u2028 \\t \\" \\\\ \\/"}',
        '  {"padded": true}  \r\n',
        '{"i64":-9223372036854775808,"u64":18446744073709551615,"small":9223372036854775807}',
        '{"big":18446744073709551616,"neg":-9223372036854775809}',  # beyond 64 bits
        '{"long":"a digit run in a string: 12345678901234567890"}',
        '{"n":1234567890123456789.5}',
        '{"nan":NaN}',
        '{"inf":Infinity,"ninf":-Infinity}',
        '{"huge":1e400}',
        '{"lone":"\\ud800"}',
        '{"raw lone surrogate":"\ud800"}',
        '\ufeff{"bom":1}',
        '{"a":1} extra',
        '{"a":',
        "[1,2,3]",
        '"just a string"',
        "",
        "{" * 5,
        '{"a":' + "[" * 899 + "]" * 899 + "}",
        '{"a":' + "[" * 950 + "]" * 950 + "}",
        '{"a":' + "[" * 1010 + "]" * 1010 + "}",
        '{"a":' + "[" * 1030 + "]" * 1030 + "}",
        *('{"a":' + "[" * d + "]" * d + "}" for d in (985, 990, 995, 1000, 1024, 1025)),
        *('{"a":' * d + "1" + "}" * d for d in (899, 901, 985, 995, 1000, 1024, 1025)),
        '{"ctrl":"a\x01b"}',
    ]
    rnd = random.Random(7)
    for _ in range(300):  # numbers of every length near the 64-bit edges
        digits = "".join(rnd.choice("0123456789") for _ in range(rnd.randint(1, 24)))
        sign = rnd.choice(["", "-"])
        frac = rnd.choice(["", "." + str(rnd.randint(0, 10**12)), "e" + str(rnd.randint(-30, 30))])
        texts.append(f'{{"x":{sign}{digits.lstrip("0") or "0"}{frac}}}')
    return texts


def _stdlib(text: Text) -> str:
    try:
        return repr(json.loads(text))
    except (ValueError, RecursionError) as exc:
        return f"error {type(exc).__name__}"


def _fast_or_stdlib(parse: Callable[[Text], Any], text: Text) -> str:
    try:
        return repr(parse(text))
    except ValueError:
        return _stdlib(text)


@pytest.fixture
def parse() -> Callable[[Text], Any]:
    parser = orjson_parser()
    if parser is None:
        pytest.fail("orjson is not installed: install the test extra (pip install -e '.[test]')")
    return parser


def test_without_orjson_there_is_no_fast_parser(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "orjson", None)
    assert orjson_parser() is None
    assert orjson_parser(big_ints=False) is None


@pytest.mark.parametrize("as_bytes", [False, True])
def test_every_text_reads_as_json_loads_reads_it(
    parse: Callable[[Text], Any], as_bytes: bool
) -> None:
    """The same values (compared by repr: 1 and 1.0 differ), or json.loads's own error."""
    for text in _corpus():
        value: Text = text.encode("utf-8", "surrogatepass") if as_bytes else text
        assert _fast_or_stdlib(parse, value) == _stdlib(value), text[:80]


@pytest.mark.parametrize(
    "text",
    [
        '{"big":18446744073709551616}',
        '{"s":"1234567890123456789"}',
        '{"a":' + "[" * MAX_OPENINGS + "]" * MAX_OPENINGS + "}",
        '{"nan":NaN}',
        "{bad",
    ],
)
@pytest.mark.parametrize("as_bytes", [False, True])
def test_what_orjson_does_not_decide_raises_value_error(
    parse: Callable[[Text], Any], text: str, as_bytes: bool
) -> None:
    with pytest.raises(ValueError):
        parse(text.encode() if as_bytes else text)


def test_without_big_ints_long_digit_runs_are_parsed_by_orjson() -> None:
    """For a caller that knows no integer exceeds 64 bits (a Spark schema without wide
    decimals), a 19-digit run is no reason to leave orjson."""
    parser = orjson_parser(big_ints=False)
    assert parser is not None
    assert parser('{"s":"12345678901234567890","n":1234567890123456789}') == {
        "s": "12345678901234567890",
        "n": 1234567890123456789,
    }


def test_the_cli_reads_each_line_as_before(parse: Callable[[Text], Any]) -> None:
    """The CLI's line parse gives the same object or the same problem with orjson as
    without it, the first line (byte-order mark) included."""
    lines = [text.encode("utf-8", "surrogatepass") + b"\n" for text in _corpus()]
    lines += [b'{"bad utf8":"\xff"}\n', b"\xef\xbb\xbf" + b'{"bom":1}\n']
    for raw in lines:
        for first in (False, True):
            with_orjson = _parse_line(raw, first, parse)
            without = _parse_line(raw, first, None)
            assert repr(with_orjson) == repr(without), raw[:80]


def test_the_nesting_margin_follows_the_recursion_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    """With a lower recursion limit, json.loads stops sooner: so does orjson's share."""
    monkeypatch.setattr(sys, "getrecursionlimit", lambda: 400)
    parser = orjson_parser()
    assert parser is not None
    deep = '{"a":' + "[" * 350 + "]" * 350 + "}"
    with pytest.raises(ValueError):
        parser(deep)
    # Below the margin orjson parses (100 levels: orjson 3.6 stops at 128 itself).
    assert parser('{"a":' + "[" * 100 + "]" * 100 + "}")["a"] is not None


def test_the_cli_takes_orjson_when_it_is_installed() -> None:
    """The line reader uses the fast parse (the speed extra is there in this run)."""
    assert _Reader(io.BytesIO(b""))._fast_parse is not None
