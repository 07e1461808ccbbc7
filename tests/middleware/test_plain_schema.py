"""The plain-schema acceptor never accepts what fastjsonschema rejects, and is used when it can be.

``validate`` asks the acceptor first and fastjsonschema only when the acceptor is not sure, so
the one property that matters is soundness: ``accept(x)`` true implies the schema accepts
``x``. It is checked here on generated values chosen where the two could disagree (booleans
against integers, integral floats, NaN, subclasses, ``Decimal``, a trailing newline against a
``$`` pattern, tuples against arrays).
"""

from __future__ import annotations

import enum
import random
from decimal import Decimal
from typing import Any, Dict, List, Tuple

import fastjsonschema
import pytest

from amplitude_legacy.middleware import TrackingPlan
from amplitude_legacy.middleware._plain_schema import compile_acceptor


class _Str(str):
    pass


class _Int(enum.IntEnum):
    ONE = 1


_VALUES: List[Any] = [
    None, True, False, 0, 1, -1, 2, 10, 2**70, -(2**70), 0.0, -0.0, 1.0, 2.0, 0.5, -0.5, 10.5,
    float("nan"), float("inf"), float("-inf"), Decimal("-5"), Decimal("5"), _Int.ONE,
    "", "a", "pro", "free", "team", "EUR", "eur", "EURO", "EUR\n", _Str("pro"), _Str("EUR"),
    "x" * 11, [], [1], (1,), {}, {"a": 1}, b"EUR", object(),
]  # fmt: skip

_PROPERTY_SCHEMAS: List[Any] = [
    {"type": "string"},
    {"type": "integer"},
    {"type": "number"},
    {"type": "boolean"},
    {"type": "null"},
    {"type": "object"},
    {"type": "array"},
    {"type": ["string", "null"]},
    {"type": ["integer", "string"], "minimum": 1, "minLength": 2},
    {"type": "string", "enum": ["free", "pro", "team"]},
    {"type": ["string", "null"], "enum": ["pro", None]},
    {"enum": ["free", "pro"]},
    {"type": "number", "minimum": 0, "maximum": 10},
    {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 10.5},
    {"type": "integer", "minimum": -1, "title": "count", "description": "how many"},
    {"type": "string", "minLength": 1, "maxLength": 3},
    {"type": "string", "pattern": "^[A-Z]{3}$"},
    {"pattern": "^[a-z]+$"},
    {"minimum": 1},
    {"maxLength": 2},
    {},
    True,
    False,
]


def _schemas() -> List[Dict[str, Any]]:
    out = []
    for i, prop in enumerate(_PROPERTY_SCHEMAS):
        properties = {"p": prop, "q": _PROPERTY_SCHEMAS[(i * 7 + 3) % len(_PROPERTY_SCHEMAS)]}
        out.append({"type": "object", "properties": properties})
        out.append(
            {"type": "object", "properties": properties, "required": ["p"],
             "additionalProperties": False}
        )  # fmt: skip
        out.append({"properties": properties, "required": ["p", "r"], "$schema": _DRAFT7})
    return out


_DRAFT7 = "http://json-schema.org/draft-07/schema#"


def _instances(rng: random.Random) -> List[Any]:
    out: List[Any] = [{}, [], "not an object", None]
    for _ in range(400):
        instance = {}
        for key in ("p", "q", "r", "s"):
            if rng.random() < 0.6:
                instance[key] = rng.choice(_VALUES)
        out.append(instance)
    return out


def _both(schema: Any) -> Tuple[Any, Any]:
    """fastjsonschema's check of ``schema`` and the acceptor built from it (as the plan does)."""
    check = fastjsonschema.compile(schema, use_default=False)
    return check, compile_acceptor(schema, check.__globals__["REGEX_PATTERNS"])


def _fastjsonschema_accepts(check: Any, instance: Any) -> bool:
    try:
        check(instance)
    except fastjsonschema.JsonSchemaValueException:
        return False
    return True


@pytest.mark.parametrize("schema", _schemas(), ids=lambda s: repr(s)[:60])
def test_the_acceptor_only_accepts_what_fastjsonschema_accepts(schema: Dict[str, Any]) -> None:
    check, accept = _both(schema)
    assert accept is not None, "a plain schema gets an acceptor"
    for instance in _instances(random.Random(repr(schema))):
        if accept(instance):
            assert _fastjsonschema_accepts(check, instance), (schema, instance)


def test_the_acceptor_answers_most_valid_instances_itself() -> None:
    """Not vacuous: of the generated instances the schemas accept, the acceptor takes most
    (it defers the odd ones: subclasses, ``Decimal``, integral floats, NaN)."""
    accepted = valid = 0
    for schema in _schemas():
        check, accept = _both(schema)
        assert accept is not None
        for instance in _instances(random.Random(repr(schema))):
            valid += _fastjsonschema_accepts(check, instance)
            accepted += accept(instance)
    assert valid > 1000
    assert accepted > 0.7 * valid, (accepted, valid)


@pytest.mark.parametrize("bound", ["minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"])
@pytest.mark.parametrize("kinds", [None, ["number", "boolean"], ["integer", "null", "boolean"]])
def test_a_boolean_under_a_bound_is_left_to_fastjsonschema(bound: str, kinds: Any) -> None:
    """fastjsonschema up to 2.22.2 compares a boolean with ``minimum`` (``False < 1``: rejected),
    2.22.3 skips it (accepted); 2.21.2 is the last release for Python 3.9. Whatever version is
    installed, the acceptor does not answer for it, so the verdict is always the installed
    fastjsonschema's (the differential test above sees only the installed version's)."""
    subschema: Dict[str, Any] = {bound: 1 if "inimum" in bound else -1}
    if kinds is not None:
        subschema["type"] = kinds
    accept = compile_acceptor({"type": "object", "properties": {"q": subschema}}, {})
    assert accept is not None
    assert accept({"q": 5 if "inimum" in bound else -5})  # a number: answered here
    assert not accept({"q": False}) and not accept({"q": True})  # a boolean: not sure
    assert accept({})


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "object", "properties": {"email": {"type": "string", "format": "email"}}},
        {"type": "object", "properties": {"a": {"type": "object", "properties": {}}}},
        {"type": "object", "properties": {"n": {"type": "number", "multipleOf": 2}}},
        {"type": "object", "properties": {"n": {"enum": [1, 2]}}},
        {"type": "object", "properties": {"n": {"type": "number", "minimum": float("inf")}}},
        {"type": "object", "properties": {"n": {"type": "string", "minLength": 1.5}}},
        {"type": "object", "additionalProperties": {"type": "string"}},
        {"type": "object", "patternProperties": {"^x": {"type": "string"}}},
        {"type": "object", "allOf": [{"required": ["a"]}]},
        {"type": "object", "properties": {"a": {"$ref": "#/definitions/a"}},
         "definitions": {"a": {"type": "string"}}},
        {"$schema": "http://json-schema.org/draft-04/schema#", "type": "object"},
        {"type": "array"},
        {"type": "object", "properties": {"a": {"type": "decimal"}}},
    ],
    ids=lambda s: repr(s)[:60],
)  # fmt: skip
def test_a_schema_with_more_than_plain_keywords_gets_no_acceptor(schema: Dict[str, Any]) -> None:
    assert compile_acceptor(schema, {}) is None


def test_the_benchmark_plan_is_accepted_fast_and_a_violation_gets_fastjsonschemas_message() -> None:
    from bench.middleware import PLAN, _event

    plan = TrackingPlan(PLAN)
    schema = PLAN["Checkout Completed"]
    _, accept = _both(schema)
    assert accept is not None and accept(_event(1)["event_properties"])
    assert plan.check(_event(1)) is None
    bad = _event(2)
    bad["event_properties"]["currency"] = "EUR\n"  # passes ``re.match("^[A-Z]{3}$")``
    assert not accept(bad["event_properties"])
    assert plan.check(bad) == "event_properties.currency must match pattern ^[A-Z]{3}$"
