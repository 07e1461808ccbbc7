"""Bad configuration raises at construction, with a message naming the argument."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Type

import pytest

from amplitude_legacy import OptionsError
from amplitude_legacy.middleware import (
    AmplitudeDestination,
    Destination,
    JsonlFileDestination,
    RedisStreamDestination,
    WebhookDestination,
    allow_properties,
    drop_bots,
    drop_events,
    enrich,
    keep_events,
    redact,
    rename_events,
    route,
    sample,
    set_defaults,
    validate,
)

HOOK = "http://127.0.0.1:9/hook"
CASES: list[tuple[str, Callable[[], Any], Type[Exception], str]] = [
    ("no types", lambda: drop_events(), ValueError, "needs event types"),
    ("type not str", lambda: drop_events(3), TypeError, "event_types"),  # type: ignore[arg-type]
    ("empty reason", lambda: drop_events("a", reason=""), ValueError, "reason"),
    ("where of a bad kind", lambda: keep_events(where=42), TypeError, "where"),  # type: ignore[arg-type]
    (
        "empty where",
        lambda: route([], AmplitudeDestination("k", {"optOut": True})),
        ValueError,
        "where",
    ),
    ("rate above 1", lambda: sample(1.5), ValueError, "rate"),
    ("rate not a number", lambda: sample("half"), TypeError, "rate"),  # type: ignore[arg-type]
    ("by of a bad kind", lambda: sample(0.5, by=3), TypeError, "by"),  # type: ignore[arg-type]
    ("bad bot pattern", lambda: drop_bots(pattern="("), ValueError, "pattern"),
    ("empty field path", lambda: drop_bots(""), ValueError, "user_agent_field"),
    ("enrich with a number", lambda: enrich(3), TypeError, "properties"),  # type: ignore[arg-type]
    ("unknown into", lambda: enrich({}, into="groups"), ValueError, "into"),
    ("rename to a number", lambda: rename_events({"a": 1}), TypeError, "mapping"),  # type: ignore[dict-item]
    ("default typo", lambda: set_defaults(appversion="1"), ValueError, "'app_version'"),
    ("no default", lambda: set_defaults(), ValueError, "at least one field"),
    ("unknown mode", lambda: redact("ip", mode="mask"), ValueError, "mode"),
    ("hash without salt", lambda: redact("ip", "hash"), ValueError, "salt"),
    ("salt not bytes/str", lambda: redact("ip", "hash", salt=3), TypeError, "salt"),  # type: ignore[arg-type]
    ("empty salt", lambda: redact("ip", "hash", salt=""), ValueError, "salt"),
    ("salt with remove", lambda: redact("ip", salt="s"), ValueError, "salt"),
    ("empty path segment", lambda: redact("a..b"), ValueError, "paths"),
    ("no path", lambda: redact([]), ValueError, "paths"),
    ("unknown group", lambda: allow_properties({"props": []}), ValueError, "schema"),
    (
        "keys as a string",
        lambda: allow_properties({"event_properties": "plan"}),
        TypeError,
        "schema",
    ),
    (
        "unknown on_violation",
        lambda: validate({}, on_violation="explode"),
        ValueError,
        "on_violation",
    ),
    ("bad schema", lambda: validate({"E": {"type": "strng"}}), ValueError, r"plan\['E'\]"),
    ("schema not an object", lambda: validate({"E": []}), ValueError, r"plan\['E'\]"),
    ("missing plan file", lambda: validate("no-such-plan.json"), ValueError, "plan: cannot read"),
    ("webhook not http", lambda: WebhookDestination("ftp://host/x"), ValueError, "url"),
    ("batch_size 0", lambda: WebhookDestination(HOOK, batch_size=0), ValueError, "batch_size"),
    ("header not str", lambda: WebhookDestination(HOOK, headers={"a": 1}), TypeError, "headers"),  # type: ignore[dict-item]
    (
        "serverUrl given",
        lambda: WebhookDestination(HOOK, options={"serverUrl": HOOK}),
        OptionsError,
        "serverUrl",
    ),
    (
        "bad option",
        lambda: WebhookDestination(HOOK, options={"maxQueueSize": 0}),
        OptionsError,
        "maxQueueSize",
    ),
    ("redis not redis", lambda: RedisStreamDestination("http://h", "s"), ValueError, "url"),
    ("empty stream", lambda: RedisStreamDestination("redis://h", ""), ValueError, "stream"),
    ("maxlen 0", lambda: RedisStreamDestination("redis://h", "s", maxlen=0), ValueError, "maxlen"),
    ("path not a path", lambda: JsonlFileDestination(3), TypeError, "path"),  # type: ignore[arg-type]
    (
        "rotate_bytes 0",
        lambda: JsonlFileDestination("x.jsonl", rotate_bytes=0),
        ValueError,
        "rotate_bytes",
    ),
    ("empty api key", lambda: AmplitudeDestination(""), OptionsError, "apiKey"),
    (
        "bad zone",
        lambda: AmplitudeDestination("k", {"serverZone": "MARS"}),
        OptionsError,
        "serverZone",
    ),
    ("route to a non-destination", lambda: route("a", object()), TypeError, "to must be"),
    ("empty name", lambda: Destination("", api_key="k"), ValueError, "name"),
    ("no transport", lambda: Destination("d"), ValueError, "transport="),
]


@pytest.mark.parametrize(
    ("make", "error", "names"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_bad_configuration_raises_at_construction(
    make: Callable[[], Any],
    error: Type[Exception],
    names: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The factory or constructor raises the documented type; the message names the argument."""
    monkeypatch.chdir(tmp_path)  # "x.jsonl" must not land in the repository
    with pytest.raises(error, match=names):
        make()


def test_secrets_never_appear_in_errors() -> None:
    """A URL password, the API key and the webhook headers stay out of error messages."""
    with pytest.raises(ValueError) as url_error:
        WebhookDestination("ftp://user:s3cret@host/x")
    with pytest.raises(ValueError) as redis_error:
        RedisStreamDestination("http://user:s3cret@host", "s")
    with pytest.raises(OptionsError) as key_error:
        AmplitudeDestination("SECRET_KEY_123", {"serverZone": "MARS"})
    for error in (url_error, redis_error):
        assert "s3cret" not in str(error.value)
    assert "SECRET_KEY_123" not in str(key_error.value)
    hook = WebhookDestination(HOOK, headers={"Authorization": "Bearer s3cret"})
    assert "s3cret" not in repr(hook) and "s3cret" not in hook.name
    hook.shutdown(0)
