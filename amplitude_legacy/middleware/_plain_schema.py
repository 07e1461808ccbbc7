"""A fast acceptor for plain property schemas: the common, valid event without the full check.

Most events conform to their tracking plan, and most plans are plain: an object whose
properties have a ``type`` and perhaps an ``enum`` of strings, bounds, lengths or a
``pattern``, with ``required`` and ``additionalProperties: false``. For such a schema
``compile_acceptor`` writes one straight-line function that answers ``True`` only when every
rule visibly holds for values of exact built-in types (``str``, ``int``, ``float``, ``bool``,
``None``, ``dict``, ``list``). Any other answer is ``False``, meaning "not sure": the schema's
fastjsonschema check then decides and writes the message. A schema with any other keyword gets
no acceptor at all. So the verdict is always fastjsonschema's; the acceptor only makes the
valid case cheaper (on the benchmark's 10-property schema, a third of the instructions).

Why it is safe: each test is the negation of the test fastjsonschema raises on, applied to
the same value with the same operator, and only to exact types whose behaviour both agree on
(a ``str`` subclass, a ``Decimal`` or a float that is an integer goes to fastjsonschema),
and never where fastjsonschema's versions disagree (a boolean under ``minimum``/``maximum``).
Patterns are fastjsonschema's own compiled expressions. ``tests/middleware/test_plain_schema.py``
checks the acceptor against fastjsonschema on many generated values.

The generated source holds only ``repr`` of strings and finite numbers, and names that refer
to compiled patterns; it is built from the schema once, when the plan is compiled.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Dict, List, Mapping

__all__ = ["Acceptor", "compile_acceptor"]

Acceptor = Callable[[Any], bool]
"""``accept(properties) -> bool``: ``True`` only when the schema surely accepts them."""

#: Keywords that never change a verdict.
_ANNOTATIONS = frozenset(
    ("title", "description", "$comment", "examples", "default", "deprecated", "readOnly",
     "writeOnly")
)  # fmt: skip
_TOP_KEYWORDS = _ANNOTATIONS | {
    "$schema", "$id", "type", "properties", "required", "additionalProperties"
}  # fmt: skip
_PROPERTY_KEYWORDS = _ANNOTATIONS | {
    "type", "enum", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "minLength",
    "maxLength", "pattern",
}  # fmt: skip
#: Drafts whose ``exclusiveMinimum``/``exclusiveMaximum`` are numbers (draft 4's are booleans).
_DRAFTS = ("draft-06", "draft-07", "draft/2019", "draft-2019")

#: The exact-type test of each JSON type, on the value ``v``.
_TYPE_TESTS = {
    "string": "type(v) is str",
    "integer": "type(v) is int",
    "number": "(type(v) is int or type(v) is float)",
    "boolean": "type(v) is bool",
    "null": "v is None",
    "object": "type(v) is dict",
    "array": "type(v) is list",
}
_ANY_TYPE = "type(v) in BASE_TYPES"
_BASE_TYPES = frozenset((str, int, float, bool, type(None), dict, list))
#: What fastjsonschema raises on, per bound keyword (the acceptor returns False on the same).
_BOUNDS = {"minimum": "<", "maximum": ">", "exclusiveMinimum": "<=", "exclusiveMaximum": ">="}


class _Unsupported(Exception):
    """The schema uses something the acceptor does not model: no acceptor."""


def _number(value: Any) -> str:
    if type(value) not in (int, float) or (type(value) is float and not math.isfinite(value)):
        raise _Unsupported
    return repr(value)


def _length(value: Any) -> int:
    if type(value) is not int or value < 0:
        raise _Unsupported
    return value


def _types(schema: Mapping[str, Any]) -> List[str] | None:
    if "type" not in schema:
        return None
    kinds = schema["type"]
    kinds = [kinds] if isinstance(kinds, str) else kinds
    if not isinstance(kinds, list) or not kinds or any(k not in _TYPE_TESTS for k in kinds):
        raise _Unsupported
    return list(dict.fromkeys(kinds))


def _indented(lines: List[str], levels: int = 1) -> List[str]:
    return [" " * (4 * levels) + line for line in lines]


def _guarded(checks: List[str], guard: str | None) -> List[str]:
    """``checks`` as they are, or under ``if guard:`` (a keyword that applies to one type)."""
    if guard is None or not checks:
        return checks
    return [f"if {guard}:", *_indented(checks)]


def _property_lines(schema: Any, patterns: Mapping[str, Any], names: Dict[str, Any]) -> List[str]:
    """The checks of one property's value ``v`` (each ``return False`` on doubt)."""
    if schema is None or schema is True or schema == {}:  # None: required, not described
        return []
    if schema is False:
        return ["return False"]
    if not isinstance(schema, dict) or not schema.keys() <= _PROPERTY_KEYWORDS:
        raise _Unsupported
    kinds = _types(schema)
    test = " or ".join(_TYPE_TESTS[k] for k in kinds) if kinds is not None else _ANY_TYPE
    only_strings = kinds == ["string"]
    only_numbers = kinds is not None and set(kinds) <= {"integer", "number"}
    lines = [f"if not ({test}): return False"]
    if "enum" in schema:
        members = schema["enum"]
        if not isinstance(members, list) or not members:
            raise _Unsupported
        strings = [m for m in members if type(m) is str]
        if len(strings) + (None in members) != len(members):
            raise _Unsupported  # numbers and booleans compare across types: leave them
        literal = "{" + ", ".join(map(repr, strings)) + "}"  # compiled to a frozenset constant
        if only_strings:
            lines.append(f"if v not in {literal}: return False")
        else:
            allowed = [f"(type(v) is str and v in {literal})"] if strings else []
            allowed += ["v is None"] if None in members else []
            lines.append(f"if not ({' or '.join(allowed)}): return False")
    string_checks = []
    if "minLength" in schema:
        string_checks.append(f"if len(v) < {_length(schema['minLength'])}: return False")
    if "maxLength" in schema:
        string_checks.append(f"if len(v) > {_length(schema['maxLength'])}: return False")
    if "pattern" in schema:
        compiled = patterns.get(schema["pattern"]) if isinstance(schema["pattern"], str) else None
        if compiled is None:
            raise _Unsupported
        name = f"P{len(names)}"
        names[name] = compiled
        string_checks.append(f"if not {name}.search(v): return False")
    lines += _guarded(string_checks, None if only_strings else "type(v) is str")
    number_checks = [
        f"if v {op} {_number(schema[key])}: return False"
        for key, op in _BOUNDS.items()
        if key in schema
    ]
    if number_checks and not only_numbers:
        # A boolean under a bound: fastjsonschema up to 2.22.2 compares it as a number, 2.22.3
        # on skips it (the spec's reading). Both are installed in practice (2.21.2 is the last
        # for Python 3.9), so booleans here are left to whichever version is installed.
        lines.append("if type(v) is bool: return False")
    lines += _guarded(number_checks, None if only_numbers else _TYPE_TESTS["number"])
    return lines


def _source(schema: Mapping[str, Any], patterns: Mapping[str, Any], names: Dict[str, Any]) -> str:
    if not schema.keys() <= _TOP_KEYWORDS or schema.get("type", "object") != "object":
        raise _Unsupported
    draft = schema.get("$schema", "draft/2019")
    if not isinstance(draft, str) or not any(d in draft for d in _DRAFTS):
        raise _Unsupported
    properties = schema.get("properties", {})
    required = schema.get("required", [])
    extra = schema.get("additionalProperties", True)
    if not isinstance(properties, dict) or not all(type(k) is str for k in properties):
        raise _Unsupported
    if not isinstance(required, list) or not all(type(k) is str for k in required):
        raise _Unsupported
    if not (extra is True or extra is False or extra == {}):
        raise _Unsupported
    lines = ["def accept(data):", "    if type(data) is not dict: return False"]
    # Required properties by subscript, in one try: a missing one is a KeyError, and a try
    # costs nothing when nothing is raised.
    required = list(dict.fromkeys(required))
    lines.append("    try:")
    for key in required:
        lines.append(f"        v = data[{key!r}]")
        lines += _indented(_property_lines(properties.get(key), patterns, names), 2)
    lines += [] if required else ["        pass"]
    lines += ["    except KeyError:", "        return False"]
    # additionalProperties: false as a count of the declared properties present, compared
    # with len(data) at the end: cheaper than a key-set comparison.
    count = extra is False
    if count:
        lines.append(f"    n = {sum(key in properties for key in required)}")
    for key, subschema in properties.items():
        if key in required:
            continue
        checks = _property_lines(subschema, patterns, names)
        if not checks:
            lines += [f"    if {key!r} in data: n += 1"] if count else []
            continue
        lines.append(f"    v = data.get({key!r}, MISSING)")
        lines.append("    if v is not MISSING:")
        lines += ["        n += 1"] if count else []
        lines += _indented(checks, 2)
    if count:
        lines.append("    if len(data) != n: return False")
    lines.append("    return True")
    return "\n".join(lines) + "\n"


def compile_acceptor(schema: Any, patterns: Mapping[str, Any]) -> Acceptor | None:
    """The acceptor of a plain ``schema``, or ``None`` when the schema is not plain.

    Args:
        schema: one event type's JSON Schema for its ``event_properties``.
        patterns: fastjsonschema's compiled patterns for that schema, by source
            (``REGEX_PATTERNS`` of its generated code): the acceptor uses the same ones.

    Returns:
        ``accept(properties) -> bool``, ``True`` only when ``schema`` surely accepts them.
    """
    names: Dict[str, Any] = {"MISSING": object(), "BASE_TYPES": _BASE_TYPES}
    try:
        source = _source(schema, patterns, names) if isinstance(schema, dict) else None
    except _Unsupported:
        return None
    if source is None:
        return None
    exec(compile(source, "<tracking plan acceptor>", "exec"), names)
    return names["accept"]  # type: ignore[no-any-return]
