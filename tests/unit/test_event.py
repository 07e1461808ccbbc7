"""Unit tests for the event model: Event, find_problem (the legacy rules), insert ids."""

from __future__ import annotations

import enum
import json
import uuid
from typing import Any

import pytest

from amplitude_legacy import Event
from amplitude_legacy._event import EVENT_FIELDS, InsertIdGenerator, coerce_event, find_problem

MSG_EVENT_TYPE = "Invalid event: expected string for event_type field"
MSG_NO_IDS = "Invalid event: expected at least one of device_id or user_id"
MSG_DEVICE_ID = "Invalid event: expected device_id to be a string if present"
MSG_USER_ID = "Invalid event: expected user_id to be a string if present"
MSG_PROPS = "Invalid event properties: expected event_properties to be type object"


def ev(**fields: Any) -> Event:
    return Event(fields)


def nested_dict(levels: int) -> dict[str, Any]:
    """A dict nesting ``levels`` objects (a flat dict is 1 level)."""
    value: dict[str, Any] = {"leaf": 1}
    for _ in range(levels - 1):
        value = {"a": value}
    return value


class Color(enum.IntEnum):
    RED = 1


class Shade(str, enum.Enum):
    DARK = "dark"


# --- Event access -----------------------------------------------------------------------------


def test_event_is_a_dict() -> None:
    """Event is a dict subclass, equal to the plain dict of its fields."""
    e = Event(event_type="e", user_id="u")
    assert isinstance(e, dict)
    assert e == {"event_type": "e", "user_id": "u"}


def test_attribute_and_item_access_agree() -> None:
    """event.user_id reads event['user_id']."""
    e = Event({"event_type": "Clicked", "user_id": "user-1", "productId": "p"})
    assert e.event_type == e["event_type"] == "Clicked"
    assert e.user_id == "user-1"
    assert e.productId == "p"


@pytest.mark.parametrize("name", EVENT_FIELDS)
def test_absent_known_field_reads_none(name: str) -> None:
    """Every known wire field that is absent reads as None."""
    assert getattr(Event(), name) is None


@pytest.mark.parametrize("name", ["user", "userId", "event_typ", "product_id"])
def test_unknown_attribute_raises(name: str) -> None:
    """Reading an unknown attribute raises AttributeError naming it."""
    with pytest.raises(AttributeError, match=name):
        getattr(Event(event_type="e"), name)


def test_unknown_key_readable_as_attribute_when_present() -> None:
    """A key outside EVENT_FIELDS that is present is still readable as an attribute."""
    e = Event({"custom": 1})
    assert e.custom == 1


def test_setattr_writes_key() -> None:
    """Assigning an attribute writes the dict key."""
    e = Event(event_type="e")
    e.user_id = "u"
    e.event_properties = {"color": "red"}
    assert e["user_id"] == "u"
    assert e["event_properties"] == {"color": "red"}


def test_delattr_removes_key() -> None:
    """Deleting an attribute removes the key (absent keys are ignored)."""
    e = Event(event_type="e", user_id="u")
    del e.user_id
    del e.device_id
    assert "user_id" not in e
    assert e.user_id is None


def test_event_has_no_instance_dict() -> None:
    """Event uses no per-instance __dict__: attributes live only in the mapping."""
    e = Event(event_type="e")
    e.time = 5
    assert list(e.items()) == [("event_type", "e"), ("time", 5)]


def test_json_dumps_event() -> None:
    """json.dumps serializes an Event like the plain dict."""
    e = Event(event_type="e", user_id="u", event_properties={"n": [1, 2.5, None, True]})
    assert json.loads(json.dumps(e)) == dict(e)


def test_repr_names_event() -> None:
    """repr shows it is an Event and its contents."""
    assert repr(Event(event_type="e")) == "Event({'event_type': 'e'})"


def test_coerce_event_copies() -> None:
    """coerce_event returns a fresh Event; the caller's dict is never changed."""
    source = {"event_type": "e", "user_id": "u"}
    event = coerce_event(source)
    assert type(event) is Event
    assert event is not source
    assert event is not None
    event.library = "x"
    assert "library" not in source


@pytest.mark.parametrize("obj", [None, "event", 42, ["event_type", "e"]])
def test_coerce_event_rejects_non_mapping(obj: object) -> None:
    """coerce_event returns None for anything that is not a mapping."""
    assert coerce_event(obj) is None


# --- find_problem: legacy rules, in order -----------------------------------------------------


@pytest.mark.parametrize(
    ("event", "field", "message"),
    [
        ({"user_id": "u"}, "event_type", MSG_EVENT_TYPE),
        ({"event_type": 1, "user_id": "u"}, "event_type", MSG_EVENT_TYPE),
        ({"event_type": None, "user_id": "u"}, "event_type", MSG_EVENT_TYPE),
        ({"event_type": "e"}, "user_id", MSG_NO_IDS),
        ({"event_type": "e", "user_id": None, "device_id": None}, "user_id", MSG_NO_IDS),
        ({"event_type": "e", "user_id": None}, "user_id", MSG_NO_IDS),
        ({"event_type": "e", "device_id": 7}, "device_id", MSG_DEVICE_ID),
        ({"event_type": "e", "user_id": "u", "device_id": b"d"}, "device_id", MSG_DEVICE_ID),
        ({"event_type": "e", "user_id": 12345}, "user_id", MSG_USER_ID),
        ({"event_type": "e", "device_id": "d", "user_id": ["u"]}, "user_id", MSG_USER_ID),
        ({"event_type": "e", "user_id": "u", "event_properties": 5}, "event_properties", MSG_PROPS),
        (
            {"event_type": "e", "user_id": "u", "event_properties": "x"},
            "event_properties",
            MSG_PROPS,
        ),
        (
            {"event_type": "e", "user_id": "u", "event_properties": [1]},
            "event_properties",
            MSG_PROPS,
        ),
    ],
)
def test_legacy_rule(event: dict[str, Any], field: str, message: str) -> None:
    """Each legacy rule reports its field and a legacy-worded message that names the field."""
    assert find_problem(Event(event)) == (field, message)
    assert field in message


def test_event_type_rule_comes_before_id_rule() -> None:
    """A bad event_type is reported before missing ids."""
    assert find_problem(ev(event_type=3)) == ("event_type", MSG_EVENT_TYPE)


def test_device_id_rule_comes_before_user_id_rule() -> None:
    """With both ids non-strings, device_id is reported first (legacy order)."""
    assert find_problem(ev(event_type="e", user_id=1, device_id=2)) == ("device_id", MSG_DEVICE_ID)


def test_id_rules_come_before_properties_rule() -> None:
    """A non-string id is reported before non-object event_properties."""
    problem = find_problem(ev(event_type="e", user_id=1, event_properties=5))
    assert problem == ("user_id", MSG_USER_ID)


def test_properties_rule_comes_before_serializability() -> None:
    """Non-object event_properties is reported before unserializable values elsewhere."""
    problem = find_problem(ev(event_type="e", user_id="u", event_properties=[{1, 2}], price=1e999))
    assert problem == ("event_properties", MSG_PROPS)


@pytest.mark.parametrize(
    ("field", "value", "detail"),
    [
        ("event_properties", {"s": {1, 2}}, "a value of type set"),
        ("event_properties", {"o": object()}, "a value of type object"),
        ("event_properties", {"b": b"bytes"}, "a value of type bytes"),
        ("event_properties", {"n": float("nan")}, "non-finite number nan"),
        ("event_properties", {"i": float("inf")}, "non-finite number inf"),
        ("event_properties", {"i": [[-float("inf")]]}, "non-finite number -inf"),
        # a finite float first: the inline walk of a flat dict accepts it and goes on
        ("event_properties", {"ok": 1.5, "i": -float("inf")}, "non-finite number -inf"),
        ("event_properties", {"ok": 1.5, "s": {1}}, "a value of type set"),
        ("event_properties", {1: "one"}, "non-string key 1"),
        ("event_properties", {"d": {None: 1}}, "non-string key None"),
        ("event_properties", {"l": [{"x": {2, 3}}]}, "a value of type set"),
        ("user_properties", {"$set": {"k": object()}}, "a value of type object"),
        ("groups", {"org": {b"k": 1}}, "non-string key b'k'"),
        ("price", float("nan"), "non-finite number nan"),
        ("revenue", float("-inf"), "non-finite number -inf"),
        ("time", {1, 2}, "a value of type set"),
        ("extra_field", b"raw", "a value of type bytes"),
        ("event_properties", {"f": len}, "a value of type builtin_function_or_method"),
    ],
)
def test_unserializable_value(field: str, value: Any, detail: str) -> None:
    """A value JSON cannot carry is reported under its top-level field, naming it."""
    problem = find_problem(Event({"event_type": "e", "user_id": "u", field: value}))
    assert problem is not None
    assert problem[0] == field
    assert repr(field) in problem[1]
    assert "not JSON-serializable" in problem[1]
    assert detail in problem[1]


def test_nesting_of_40_is_accepted() -> None:
    """event_properties nesting exactly 40 objects is valid."""
    assert find_problem(ev(event_type="e", user_id="u", event_properties=nested_dict(40))) is None


@pytest.mark.parametrize("field", ["event_properties", "user_properties", "groups"])
def test_nesting_deeper_than_40_is_rejected(field: str) -> None:
    """Nesting 41 levels is reported under the field, naming the limit."""
    problem = find_problem(Event({"event_type": "e", "user_id": "u", field: nested_dict(41)}))
    assert problem is not None
    assert problem[0] == field
    assert "nesting deeper than 40" in problem[1]


def test_nested_lists_count_as_levels() -> None:
    """Arrays count as nesting levels, like objects."""
    deep: Any = [1]
    for _ in range(40):
        deep = [deep]
    problem = find_problem(ev(event_type="e", user_id="u", event_properties={"l": deep}))
    assert problem is not None
    assert "nesting deeper than 40" in problem[1]


def test_non_string_top_level_key_rejected() -> None:
    """A non-string key at the top level of the event is rejected like a nested one."""
    assert find_problem(Event({"event_type": "e", "user_id": "u", 1: "x"})) is not None


# --- find_problem: valid events ---------------------------------------------------------------


@pytest.mark.parametrize(
    "event",
    [
        {"event_type": "e", "device_id": "device-1"},
        {"event_type": "e", "user_id": "user-1"},
        {"event_type": "e", "user_id": "", "device_id": ""},
        {"event_type": "e", "user_id": None, "device_id": "d"},
        {"event_type": "e", "user_id": "u", "device_id": None},
        {"event_type": "e", "user_id": "u", "event_properties": None},
        {"event_type": "e", "user_id": "u", "event_properties": {}},
        {"event_type": "", "user_id": "u"},
        {
            "event_type": "e",
            "user_id": "u",
            "time": 1700000000000,
            "price": 1.5,
            "quantity": 2,
            "event_properties": {
                "list": [1, "two", 3.0, None, True, [4, [5]], {"k": [{"d": {}}]}],
                "tuple": (1, 2),
                "nested": {"a": {"b": {"c": [None]}}},
            },
            "user_properties": {"$set": {"plan": "pro"}},
            "groups": {"org": ["a", "b"]},
            "plan": {"branch": "main"},
        },
        {"event_type": "e", "user_id": "u", "event_properties": {"c": Color.RED}},
        {"event_type": "e", "user_id": "u", "event_properties": {"c": [Color.RED]}},
        {"event_type": "e", "user_id": "u", "event_properties": {"s": Shade.DARK}},
        {"event_type": "e", "user_id": "u", "event_properties": {"f": -0.0, "big": 10**30}},
    ],
)
def test_valid_event(event: dict[str, Any]) -> None:
    """Events that satisfy every rule give no problem."""
    assert find_problem(Event(event)) is None


def test_valid_event_is_json_serializable() -> None:
    """A valid event with nested values and IntEnums dumps as strict JSON."""
    e = ev(event_type="e", user_id="u", event_properties={"c": Color.RED, "l": [[1], {"a": 2}]})
    assert find_problem(e) is None
    assert json.loads(json.dumps(e, allow_nan=False))["event_properties"]["c"] == 1


# --- insert ids -------------------------------------------------------------------------------


def test_insert_ids_are_unique_uuid_strings() -> None:
    """Generated insert ids are distinct, 36-character UUID strings."""
    gen = InsertIdGenerator()
    ids = [gen() for _ in range(1000)]
    assert len(set(ids)) == len(ids)
    for value in ids:
        assert len(value) == 36
        assert str(uuid.UUID(value)) == value


def test_insert_ids_from_two_generators_differ() -> None:
    """Two generators draw different prefixes, so their ids do not collide."""
    a, b = InsertIdGenerator(), InsertIdGenerator()
    assert {a() for _ in range(10)}.isdisjoint({b() for _ in range(10)})


def test_reset_changes_prefix() -> None:
    """After a (simulated) fork reset, the prefix changes and ids stay unique."""
    gen = InsertIdGenerator()
    before = [gen() for _ in range(3)]
    gen._reset()
    after = [gen() for _ in range(3)]
    assert before[0][:24] != after[0][:24]
    assert {v[:24] for v in before} == {before[0][:24]}
    assert set(before).isdisjoint(after)
    for value in after:
        uuid.UUID(value)
