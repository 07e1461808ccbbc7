"""Unit tests for the legacy ``Identify`` builder (``@amplitude/identify``)."""

from __future__ import annotations

import json
import logging
import re
from typing import Any

import pytest

from amplitude_legacy._identify import (
    GROUP_IDENTIFY_OPERATIONS,
    MAX_PROPERTY_KEYS,
    UNSET_VALUE,
    USER_IDENTIFY_OPERATIONS,
    Identify,
    IdentifyOperation,
    SpecialEventType,
    generate_base36_id,
)

LOGGER = "amplitude_legacy"


def compact(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"))


@pytest.fixture
def warnings(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.WARNING, logger=LOGGER)
    return caplog


def user_props(idf: Identify) -> dict[str, Any]:
    return idf.identify_user("u")["user_properties"]  # type: ignore[no-any-return]


# --- constants ------------------------------------------------------------------------------


def test_operation_values() -> None:
    """IdentifyOperation values are the legacy wire names."""
    assert [op.value for op in IdentifyOperation] == [
        "$set", "$setOnce", "$add", "$append", "$prepend",
        "$remove", "$preInsert", "$postInsert", "$unset", "$clearAll",
    ]  # fmt: skip
    assert UNSET_VALUE == "-"
    assert MAX_PROPERTY_KEYS == 1000
    assert SpecialEventType.IDENTIFY.value == "$identify"
    assert SpecialEventType.GROUP_IDENTIFY.value == "$groupidentify"


def test_operation_tuples() -> None:
    """User operations are all ten in wire order; group operations are the legacy subset."""
    assert tuple(IdentifyOperation) == USER_IDENTIFY_OPERATIONS
    assert [op.value for op in GROUP_IDENTIFY_OPERATIONS] == [
        "$set", "$setOnce", "$add", "$append", "$prepend", "$unset",
    ]  # fmt: skip


def test_generate_base36_id() -> None:
    """Generated ids are 25 characters of [a-z0-9] by default and differ between calls."""
    ids = {generate_base36_id() for _ in range(50)}
    assert len(ids) == 50
    assert all(re.fullmatch(r"[a-z0-9]{25}", i) for i in ids)
    assert re.fullmatch(r"[a-z0-9]{7}", generate_base36_id(7))


# --- exact legacy payloads ------------------------------------------------------------------


def test_legacy_identify_payload_exact() -> None:
    """The legacy SDK's identify example, byte for byte (without the client-added library)."""
    idf = (
        Identify()
        .set("plan", "pro")
        .setOnce("first", "x")
        .add("logins", 1)
        .append("tags", "a")
        .prepend("tags2", ["b"])
        .postInsert("pi", "c")
        .preInsert("pr", "d")
        .remove("rm", "e")
        .unset("gone")
        .setGroup("org", "acme")
    )
    assert compact(idf.identify_user("user-1", "dev-1")) == (
        '{"event_type":"$identify","groups":{"org":"acme"},"user_properties":'
        '{"$set":{"plan":"pro","org":"acme"},"$setOnce":{"first":"x"},"$add":{"logins":1},'
        '"$append":{"tags":"a"},"$prepend":{"tags2":["b"]},"$remove":{"rm":"e"},'
        '"$preInsert":{"pr":"d"},"$postInsert":{"pi":"c"},"$unset":{"gone":"-"}},'
        '"user_id":"user-1","device_id":"dev-1"}'
    )


def test_legacy_group_identify_payload_exact() -> None:
    """The legacy SDK's group identify example is reproduced, with a random 25-char device_id."""
    event = Identify().set("size", 10).identify_group("org", "acme")
    device_id = event["device_id"]
    assert re.fullmatch(r"[a-z0-9]{25}", device_id)
    assert compact(event) == (
        '{"event_type":"$groupidentify","groups":{"org":"acme"},'
        '"group_properties":{"$set":{"size":10}},"device_id":"' + device_id + '"}'
    )
    assert "user_id" not in event


def test_group_identify_new_device_id_each_call() -> None:
    """Each group identify gets its own throw-away device id."""
    idf = Identify().set("size", 10)
    first, second = (idf.identify_group("org", "a")["device_id"] for _ in range(2))
    assert first != second


def test_group_identify_list_name() -> None:
    """A list of group names is accepted as the group value."""
    event = Identify().set("k", "v").identifyGroup("org", ["a", "b"])
    assert event["groups"] == {"org": ["a", "b"]}


# --- ids ------------------------------------------------------------------------------------


def test_identify_user_only_user_id() -> None:
    """A null device id is left out."""
    event = Identify().set("a", 1).identify_user("user-1")
    assert list(event) == ["event_type", "groups", "user_properties", "user_id"]


def test_identify_user_only_device_id() -> None:
    """A null user id is left out (allowed since legacy v1.6.0)."""
    event = Identify().set("a", 1).identifyUser(None, "dev-1")
    assert list(event) == ["event_type", "groups", "user_properties", "device_id"]
    assert event["device_id"] == "dev-1"


def test_identify_user_no_ids_warns(warnings: pytest.LogCaptureFixture) -> None:
    """Empty or missing ids are dropped, with a warning when neither remains."""
    event = Identify().set("a", 1).identify_user("", "")
    assert "user_id" not in event and "device_id" not in event
    assert "neither user_id nor device_id" in warnings.text


# --- one test per operation -----------------------------------------------------------------


def test_set() -> None:
    """set records $set."""
    assert user_props(Identify().set("k", "v")) == {"$set": {"k": "v"}}


def test_set_once() -> None:
    """set_once records $setOnce."""
    assert user_props(Identify().set_once("k", "v")) == {"$setOnce": {"k": "v"}}


def test_add() -> None:
    """add records $add for ints, floats and negatives."""
    idf = Identify().add("a", 1).add("b", 2.5).add("c", -3)
    assert user_props(idf) == {"$add": {"a": 1, "b": 2.5, "c": -3}}


def test_append() -> None:
    """append records $append with a scalar or a list."""
    idf = Identify().append("a", "x").append("b", ["y", 1, True])
    assert user_props(idf) == {"$append": {"a": "x", "b": ["y", 1, True]}}


def test_prepend() -> None:
    """prepend records $prepend."""
    assert user_props(Identify().prepend("k", ["v"])) == {"$prepend": {"k": ["v"]}}


def test_remove() -> None:
    """remove records $remove."""
    assert user_props(Identify().remove("k", "v")) == {"$remove": {"k": "v"}}


def test_pre_insert() -> None:
    """pre_insert records $preInsert."""
    assert user_props(Identify().pre_insert("k", "v")) == {"$preInsert": {"k": "v"}}


def test_post_insert() -> None:
    """post_insert records $postInsert."""
    assert user_props(Identify().post_insert("k", "v")) == {"$postInsert": {"k": "v"}}


def test_unset() -> None:
    """unset records $unset with the value '-'."""
    assert user_props(Identify().unset("k")) == {"$unset": {"k": "-"}}


def test_clear_all() -> None:
    """clear_all replaces every earlier operation with {$clearAll: '-'}."""
    idf = Identify().set("a", 1).add("b", 2).clear_all()
    assert user_props(idf) == {"$clearAll": "-"}


def test_set_group() -> None:
    """set_group does $set and records the group, also for a list value."""
    idf = Identify().set_group("org", "acme").set_group("team", ["x", "y"])
    event = idf.identify_user("u")
    assert event["groups"] == {"org": "acme", "team": ["x", "y"]}
    assert event["user_properties"] == {"$set": {"org": "acme", "team": ["x", "y"]}}


def test_several_properties_per_operation() -> None:
    """Several properties under one operation keep insertion order."""
    idf = Identify().set("b", 1).set("a", 2).set("c", 3)
    assert compact(user_props(idf)) == '{"$set":{"b":1,"a":2,"c":3}}'


def test_methods_return_self() -> None:
    """Every builder method returns the same instance, even when the call is rejected."""
    idf = Identify()
    calls = [
        idf.set("a", 1), idf.set_once("b", 1), idf.add("c", 1), idf.append("d", 1),
        idf.prepend("e", 1), idf.remove("f", 1), idf.pre_insert("g", 1),
        idf.post_insert("h", 1), idf.unset("i"), idf.set_group("j", "k"),
        idf.add("bad", "x"),  # type: ignore[arg-type]
        idf.clear_all(), idf.set("late", 1),
    ]  # fmt: skip
    assert all(c is idf for c in calls)


# --- validation rules -----------------------------------------------------------------------


def test_property_used_once_across_operations(warnings: pytest.LogCaptureFixture) -> None:
    """A property name used by one operation is ignored, with a warning, by any later one."""
    idf = Identify().set("p", 1).set("p", 2).append("p", 3).unset("p").set_once("q", 1)
    assert user_props(idf) == {"$set": {"p": 1}, "$setOnce": {"q": 1}}
    assert warnings.text.count("already used") == 3


def test_set_group_respects_used_property() -> None:
    """set_group on an already-used name neither sets nor records the group."""
    event = Identify().set("org", "x").set_group("org", "acme").identify_user("u")
    assert event["groups"] == {}
    assert event["user_properties"] == {"$set": {"org": "x"}}


def test_clear_all_blocks_later_operations(warnings: pytest.LogCaptureFixture) -> None:
    """After clear_all every operation, including set_group, is rejected with a warning."""
    idf = Identify().clear_all().set("a", 1).unset("b").add("c", 1).set_group("org", "x")
    event = idf.identify_user("u")
    assert event["user_properties"] == {"$clearAll": "-"}
    assert event["groups"] == {}
    assert warnings.text.count("$clearAll") == 4


def test_clear_all_keeps_groups_and_used_names() -> None:
    """clear_all keeps earlier groups, as the legacy SDK does."""
    event = Identify().set_group("org", "acme").clear_all().identify_user("u")
    assert event["groups"] == {"org": "acme"}
    assert event["user_properties"] == {"$clearAll": "-"}


def test_add_non_numeric_ignored(warnings: pytest.LogCaptureFixture) -> None:
    """add with a string, None, list or dict is ignored with a warning."""
    idf = Identify().add("a", "1").add("b", None).add("c", [1]).add("d", {"x": 1})  # type: ignore[arg-type]
    assert user_props(idf) == {}
    assert warnings.text.count("$add needs a number") == 4


def test_add_bool_rejected(warnings: pytest.LogCaptureFixture) -> None:
    """add refuses bool although bool is an int subclass (JS typeof true is 'boolean')."""
    assert user_props(Identify().add("a", True)) == {}
    assert "$add needs a number" in warnings.text


def test_add_rejected_does_not_use_name() -> None:
    """A rejected call does not mark the property name as used."""
    idf = Identify().add("a", "x")  # type: ignore[arg-type]
    idf.set("a", 1)
    assert user_props(idf) == {"$set": {"a": 1}}


@pytest.mark.parametrize("op", ["set", "set_once", "append", "prepend", "remove", "add"])
def test_non_str_property_name_ignored(op: str, warnings: pytest.LogCaptureFixture) -> None:
    """A non-string property name is ignored with a warning, for every operation."""
    idf = Identify()
    getattr(idf, op)(5, 1)
    idf.unset(["unhashable"])  # type: ignore[arg-type]
    assert user_props(idf) == {}
    assert "not a string" in warnings.text


def test_nested_list_rejected(warnings: pytest.LogCaptureFixture) -> None:
    """A list inside a list is rejected."""
    assert user_props(Identify().set("a", [1, [2]])) == {}
    assert "nested array" in warnings.text


def test_list_of_dicts_validated_as_objects(warnings: pytest.LogCaptureFixture) -> None:
    """A list may hold dicts, which are validated recursively."""
    assert user_props(Identify().set("a", [{"x": 1}, "y"])) == {"$set": {"a": [{"x": 1}, "y"]}}
    assert user_props(Identify().set("b", [{"x": [[1]]}])) == {}
    assert user_props(Identify().set("c", [{"x": None}])) == {}


def test_dict_value_validated_recursively() -> None:
    """Dict values are checked recursively: keys must be strings, values valid."""
    ok = {"a": 1, "b": {"c": ["d", {"e": True}]}}
    assert user_props(Identify().set("p", ok)) == {"$set": {"p": ok}}
    assert user_props(Identify().set("p", {1: "x"})) == {}
    assert user_props(Identify().set("p", {"a": {"b": object()}})) == {}


def test_dict_with_too_many_keys_rejected(warnings: pytest.LogCaptureFixture) -> None:
    """A dict of more than 1000 keys is rejected; exactly 1000 is fine."""
    at_limit = {f"k{i}": i for i in range(MAX_PROPERTY_KEYS)}
    over = {f"k{i}": i for i in range(MAX_PROPERTY_KEYS + 1)}
    assert user_props(Identify().set("a", at_limit)) == {"$set": {"a": at_limit}}
    assert user_props(Identify().set("a", over)) == {}
    assert "too many properties" in warnings.text


def test_none_value_rejected_without_raising(warnings: pytest.LogCaptureFixture) -> None:
    """None is refused with a warning instead of the legacy TypeError."""
    idf = Identify().set("a", None).set_once("b", None).append("c", [None])
    assert user_props(idf) == {}
    assert "None value" in warnings.text


def test_invalid_value_types_rejected() -> None:
    """Values other than str/number/bool/list/dict are rejected."""
    idf = Identify().set("a", object()).set("b", {1, 2}).set("c", lambda: 1)
    assert user_props(idf) == {}


def test_remove_and_unset_values_not_validated() -> None:
    """remove stores any value unchecked, as in the legacy SDK."""
    nested = [[1], None]
    assert user_props(Identify().remove("q", nested)) == {"$remove": {"q": nested}}


# --- group identify -------------------------------------------------------------------------


def test_unsupported_group_operations_dropped() -> None:
    """$remove, $preInsert, $postInsert are left out of group identifies; the rest keep order."""
    idf = (
        Identify()
        .unset("u")
        .remove("r", 1)
        .pre_insert("pi", 1)
        .post_insert("po", 1)
        .prepend("pp", 1)
        .append("ap", 1)
        .add("ad", 1)
        .set_once("so", 1)
        .set("s", 1)
    )
    props = idf.identify_group("org", "acme")["group_properties"]
    assert list(props) == ["$set", "$setOnce", "$add", "$append", "$prepend", "$unset"]


def test_clear_all_dropped_from_group_identify() -> None:
    """$clearAll is not a group operation, so a cleared builder gives empty group properties."""
    event = Identify().set("a", 1).clear_all().identify_group("org", "acme")
    assert event["group_properties"] == {}


# --- independence and accessors -------------------------------------------------------------


def test_returned_events_independent_of_builder() -> None:
    """Later builder calls and edits to one event do not leak into another event."""
    value = ["a"]
    idf = Identify().set("p", value).set_group("org", ["x"])
    first = idf.identify_user("u")
    idf.set("q", 2)
    value.append("b")
    assert first["user_properties"] == {"$set": {"p": ["a"], "org": ["x"]}}
    first["user_properties"]["$set"]["z"] = 1
    first["groups"]["org"].append("y")
    second = idf.identify_user("u")
    assert second["user_properties"] == {"$set": {"p": ["a", "b"], "org": ["x"], "q": 2}}
    assert second["groups"] == {"org": ["x"]}


def test_group_event_independent_of_builder() -> None:
    """Group identify events are copies too."""
    idf = Identify().set("a", {"b": 1})
    event = idf.identify_group("org", "acme")
    event["group_properties"]["$set"]["a"]["b"] = 2
    assert idf.identify_group("org", "acme")["group_properties"] == {"$set": {"a": {"b": 1}}}


def test_properties_groups_is_valid_repr() -> None:
    """Read-only accessors return copies; is_valid and repr reflect the state."""
    idf = Identify()
    assert not idf.is_valid()
    idf.set_group("org", "acme")
    assert idf.is_valid()
    idf.properties["$set"]["x"] = 1
    idf.groups["y"] = 2
    assert idf.properties == {"$set": {"org": "acme"}}
    assert idf.groups == {"org": "acme"}
    assert repr(idf) == "Identify(properties={'$set': {'org': 'acme'}}, groups={'org': 'acme'})"
    assert Identify().clear_all().is_valid()


def test_camel_case_aliases() -> None:
    """The legacy camelCase names are the same functions as the snake_case ones."""
    pairs = {
        "setOnce": "set_once",
        "preInsert": "pre_insert",
        "postInsert": "post_insert",
        "clearAll": "clear_all",
        "setGroup": "set_group",
        "identifyUser": "identify_user",
        "identifyGroup": "identify_group",
    }
    for camel, snake in pairs.items():
        assert getattr(Identify, camel) is getattr(Identify, snake)


# --- values the API cannot take: logged and ignored, never raised ---------------------------


def nested(levels: int) -> dict[str, Any]:
    """A dict nesting ``levels`` levels of dicts (built without recursion)."""
    value: dict[str, Any] = {"leaf": 1}
    for _ in range(levels - 1):
        value = {"n": value}
    return value


def self_referencing_list() -> list[Any]:
    loop: list[Any] = ["x"]
    loop.append({"back": loop})
    return loop


def self_referencing_dict() -> dict[str, Any]:
    loop: dict[str, Any] = {}
    loop["me"] = loop
    return loop


UNSENDABLE = {
    "self-referencing list": self_referencing_list,
    "self-referencing dict": self_referencing_dict,
    "5000 levels deep": lambda: nested(5000),
    "NaN": lambda: float("nan"),
    "infinity inside a dict": lambda: {"x": float("inf")},
    "bytes": lambda: {"x": b"raw"},
    "a set inside a list": lambda: [{"x": {1, 2}}],
}
VALUE_OPERATIONS = ["set", "set_once", "append", "prepend", "pre_insert", "post_insert", "remove"]


@pytest.mark.parametrize("op", [*VALUE_OPERATIONS, "set_group"])
@pytest.mark.parametrize("kind", list(UNSENDABLE))
def test_unsendable_values_are_logged_and_ignored(
    op: str, kind: str, warnings: pytest.LogCaptureFixture
) -> None:
    """Self-referencing, too deep or non-JSON values never raise: a warning names the
    property, the value is ignored, and the name stays usable."""
    idf = Identify()
    assert getattr(idf, op)("prop", UNSENDABLE[kind]()) is idf
    assert idf.properties == {} and idf.groups == {} and not idf.is_valid()
    assert "'prop'" in warnings.text
    assert user_props(idf.set("prop", 1)) == {"$set": {"prop": 1}}


def test_add_refuses_non_finite_numbers(warnings: pytest.LogCaptureFixture) -> None:
    """add(nan) / add(inf) are ignored with a warning: JSON has no such numbers."""
    assert user_props(Identify().add("a", float("nan")).add("b", float("inf"))) == {}
    assert warnings.text.count("$add needs a") == 2


def test_nesting_limit_is_the_apis() -> None:
    """A value may nest as deep as the API accepts in user_properties (40 levels counting the
    operation map and the property map), and no deeper; the collector's validation agrees."""
    from amplitude_legacy.testing._validation import validate_events

    deepest_ok = Identify().set("p", nested(38)).identify_user("user-0001")
    assert user_props(Identify().set("p", nested(38))) != {}
    assert validate_events([deepest_ok]) is None
    assert user_props(Identify().set("p", nested(39))) == {}
    too_deep = {"event_type": "$identify", "user_id": "user-0001",
                "user_properties": {"$set": {"p": nested(39)}}}  # fmt: skip
    assert validate_events([too_deep]) is not None
    assert user_props(Identify().set("p", [nested(37)])) != {}
    assert user_props(Identify().set("p", [nested(38)])) == {}


def test_legacy_group_event_built_for_an_empty_identify_is_skipped(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """legacy_identify_event returns the logged message (not an event) when the event would
    carry no operation: an empty builder, or a group identify with only non-group operations."""
    from amplitude_legacy._identify import legacy_identify_event

    caplog.set_level(logging.ERROR, logger=LOGGER)
    empty_user, empty_group = "Empty identify properties", "Empty group identify properties"
    assert legacy_identify_event("user", Identify(), "user-0001", None) == empty_user
    assert legacy_identify_event("group", Identify(), "org", "acme") == empty_group
    assert legacy_identify_event("group", Identify().remove("r", 1), "org", "acme") == empty_group
    assert isinstance(legacy_identify_event("group", Identify().set("a", 1), "org", ["x"]), dict)
    messages = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(messages) == 3
    assert "Empty identify properties" in messages[0]
    assert all("Empty group identify properties" in m for m in messages[1:])
