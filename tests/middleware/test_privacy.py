"""Privacy: redact (remove / salted HMAC-SHA256 hash) and allow_properties."""

from __future__ import annotations

import copy
import hashlib
import hmac
import json

import pytest

from amplitude_legacy import Identify
from amplitude_legacy.middleware import allow_properties, hash_value, redact
from amplitude_legacy.testing import Collector
from tests.conftest import MakeClient
from tests.middleware import SALT, run


@pytest.mark.parametrize("salt", [SALT, "a str salt", b"k" * 200], ids=["bytes", "str", "long"])
def test_the_hash_is_hmac_sha256_hex(salt: bytes | str) -> None:
    """hash_value and redact(mode="hash") give hmac.new(salt, value, sha256).hexdigest()."""
    key = salt.encode() if isinstance(salt, str) else salt
    expected = hmac.new(key, "jané@example.com".encode(), hashlib.sha256).hexdigest()
    assert hash_value("jané@example.com", salt) == expected
    out = run(
        redact("user_id", "hash", salt=salt), {"event_type": "e", "user_id": "jané@example.com"}
    )
    assert out.user_id == expected


def test_other_values_hash_their_canonical_json_and_none_stays() -> None:
    """Numbers, booleans, lists and dicts hash their compact, sorted JSON; None is kept."""
    mw = redact(["event_properties.a", "event_properties.b", "event_properties.c",
                 "event_properties.d"], "hash", salt=SALT)  # fmt: skip
    props = {"a": 42, "b": {"z": 1, "y": [True, None]}, "c": None, "d": "x"}
    out = run(mw, {"event_type": "e", "user_id": "u", "event_properties": props})

    def digest(text: str) -> str:
        return hmac.new(SALT, text.encode(), hashlib.sha256).hexdigest()

    assert out.event_properties == {
        "a": digest("42"),
        "b": digest(json.dumps({"y": [True, None], "z": 1}, separators=(",", ":"))),
        "c": None,
        "d": digest("x"),
    }


def test_hashed_ids_join_across_events(make_client: MakeClient, collector: Collector) -> None:
    """The same id hashes the same in every event (and every run): hashed users still join."""
    client = make_client().addEventMiddleware(redact("user_id", "hash", salt=SALT))
    for event_type in ("a", "b"):
        client.logEvent({"event_type": event_type, "user_id": "jane@example.com"})
    client.flush(5)
    a, b = collector.wait_for_events(2, 5)
    assert a["user_id"] == b["user_id"] == hash_value("jane@example.com", SALT)


def test_absent_paths_are_no_ops_and_the_callers_dicts_stay(make_client: MakeClient) -> None:
    """Removing or hashing an absent path changes nothing; changed levels are copies."""
    mw = redact(["ip", "event_properties.contact.email", "event_properties.missing.x", "idfa"])
    contact = {"email": "a@b.example", "name": "A"}
    event = {"event_type": "e", "user_id": "u", "ip": "1.2.3.4",
             "event_properties": {"contact": contact, "n": 1}}  # fmt: skip
    before = copy.deepcopy(event)
    out = run(mw, event)
    assert out == {"event_type": "e", "user_id": "u",
                   "event_properties": {"contact": {"name": "A"}, "n": 1}}  # fmt: skip
    assert event == before and contact == {"email": "a@b.example", "name": "A"}
    unchanged = {"event_type": "e", "user_id": "u", "event_properties": {"contact": "n/a"}}
    assert run(mw, unchanged) == unchanged  # not a dict at that level: nothing to remove


def test_paths_reach_into_identify_operations(
    make_client: MakeClient, collector: Collector
) -> None:
    """user_properties.email also covers $set.email (any operation) in identify events."""
    client = make_client().addEventMiddleware(redact("user_properties.email"))
    client.identify(
        "user-1", None, Identify().set("email", "a@b.example").set("p", 1).setOnce("since", 2024)
    )
    client.logEvent({"event_type": "e", "user_id": "user-1", "user_properties": {"email": "x"}})
    client.flush(5)
    identify, plain = collector.wait_for_events(2, 5)
    assert identify["user_properties"] == {"$set": {"p": 1}, "$setOnce": {"since": 2024}}
    assert "email" not in plain.get("user_properties", {})


def test_a_parent_path_covers_its_children() -> None:
    """Removing "event_properties.contact" and "event_properties.contact.email" removes both."""
    mw = redact(["event_properties.contact.email", "event_properties.contact"])
    out = run(mw, {"event_type": "e", "user_id": "u", "event_properties": {"contact": {"a": 1}}})
    assert out.event_properties == {}


def test_allow_properties_keeps_only_listed_keys_and_operations() -> None:
    """Unlisted keys go; identify operations stay, filtered inside; unnamed groups untouched."""
    mw = allow_properties({"event_properties": ["plan"], "user_properties": ["plan"]})
    event = {
        "event_type": "$identify",
        "user_id": "u",
        "event_properties": {"plan": "pro", "ssn": "078-05-1120"},
        "user_properties": {"$set": {"plan": "pro", "email": "a@b"}, "$unset": {"age": "-"}},
        "group_properties": {"anything": 1},
    }
    before = copy.deepcopy(event)
    out = run(mw, event)
    assert out.event_properties == {"plan": "pro"}
    assert out.user_properties == {"$set": {"plan": "pro"}, "$unset": {}}
    assert out.group_properties == {"anything": 1}
    assert event == before
