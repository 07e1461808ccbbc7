"""Filtering: drop_events / keep_events matching, sample's stable buckets, drop_bots."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from typing import Any, List

from amplitude_legacy import Event, MiddlewareNext, MiddlewarePayload
from amplitude_legacy.middleware import (
    drop_bots,
    drop_events,
    keep_events,
    sample,
    sample_bucket,
)
from tests.conftest import MakeClient
from tests.middleware import reason_of, run

IDS = [f"user-{i:05d}" for i in range(4000)]


def kept_by(middleware: Any, ids: List[str], field: str = "user_id") -> List[str]:
    return [i for i in ids if reason_of(run(middleware, {"event_type": "e", field: i})) is None]


def test_names_and_globs_are_exact_and_case_sensitive() -> None:
    """Names match exactly; prefix*, *suffix and other globs as fnmatch patterns; case-sensitive."""
    mw = drop_events("Health Check", "debug.*", "*-probe", "[AB]? ping")
    dropped = {
        t: reason_of(run(mw, {"event_type": t, "user_id": "user-1"}))
        for t in (
            "Health Check",
            "health check",
            "debug.x",
            "Debug.x",
            "k8s-probe",
            "probe",
            "A1 ping",
            "C1 ping",
        )
    }
    assert dropped == {
        "Health Check": "filtered",
        "health check": None,
        "debug.x": "filtered",
        "Debug.x": None,
        "k8s-probe": "filtered",
        "probe": None,
        "A1 ping": "filtered",
        "C1 ping": None,
    }


def test_where_narrows_the_event_types() -> None:
    """With types and where=, both must hold; with where= alone, the predicate decides."""
    both = drop_events("Page Viewed", where=lambda e: e.user_id == "load-tester")
    alone = drop_events(where=lambda e: e.user_id == "load-tester", reason="internal")
    cases = [
        ({"event_type": "Page Viewed", "user_id": "load-tester"}, "filtered", "internal"),
        ({"event_type": "Page Viewed", "user_id": "user-1"}, None, None),
        ({"event_type": "Signed Up", "user_id": "load-tester"}, None, "internal"),
    ]
    for event, by_both, by_alone in cases:
        assert reason_of(run(both, event)) == by_both
        assert reason_of(run(alone, event)) == by_alone


def test_a_set_of_names_works_like_separate_arguments() -> None:
    """drop_events(SOME_SET) is drop_events(*SOME_SET); keep_events inverts the match."""
    ignored = {"Heartbeat", "Health Check"}
    drop, keep = drop_events(ignored), keep_events(list(ignored))
    for event_type in ("Heartbeat", "Health Check", "Signed Up"):
        event = {"event_type": event_type, "user_id": "user-1"}
        assert (reason_of(run(drop, event)) is None) is (event_type == "Signed Up")
        assert (reason_of(run(keep, event)) is None) is (event_type != "Signed Up")


def test_event_types_that_are_not_strings_never_match() -> None:
    """A non-string event_type (a list, a number) passes on, for validation to reject."""
    mw = drop_events("x*")
    for bad in (["x"], 3, None):
        assert isinstance(run(mw, {"event_type": bad, "user_id": "user-1"}), Event)


def test_a_plain_dict_payload_is_stopped_as_middleware_stopped(make_client: MakeClient) -> None:
    """After a user middleware passes a plain {"event": ...} dict on, a drop still stops the
    event (without drop() it counts as middleware_stopped)."""

    def as_dict(payload: MiddlewarePayload, next: MiddlewareNext) -> None:
        next({"event": payload.event, "extra": payload.extra})  # type: ignore[arg-type]

    client = make_client().addEventMiddleware(as_dict).addEventMiddleware(drop_events("x"))
    response = client.logEvent({"event_type": "x", "user_id": "user-1"}).result(5)
    assert (response.status, response.reason) == ("skipped", "middleware_stopped")


def test_sample_bucket_is_sha256_of_the_id() -> None:
    """The documented formula: the first 8 bytes of SHA-256, big-endian."""
    digest = hashlib.sha256(b"user-123").digest()
    assert sample_bucket("user-123") == int.from_bytes(digest[:8], "big")


def test_sample_keeps_about_the_rate_and_all_of_a_users_events() -> None:
    """About rate x users are kept, and a user's events are all kept or all dropped."""
    mw = sample(0.25)
    kept = kept_by(mw, IDS)
    assert 0.22 * len(IDS) < len(kept) < 0.28 * len(IDS)
    assert kept_by(mw, IDS) == kept  # the same decisions again (memo or not)
    assert kept_by(sample(0.25), IDS) == kept  # and by a new instance


def test_a_higher_rate_keeps_a_superset() -> None:
    """Users kept at 0.1 are kept at 0.3; 0 keeps nobody, 1 keeps everyone."""
    low, high = set(kept_by(sample(0.1), IDS)), set(kept_by(sample(0.3), IDS))
    assert low < high
    assert kept_by(sample(0.0), IDS) == [] and kept_by(sample(1.0), IDS) == IDS


def test_sample_is_the_same_in_another_process() -> None:
    """A fresh interpreter (another hash seed) keeps exactly the same users."""
    code = (
        "import json; from amplitude_legacy.middleware import sample; "
        "from tests.middleware import reason_of, run; "
        f"ids = {IDS[:500]!r}; mw = sample(0.5); "
        "print(json.dumps([i for i in ids if reason_of(run(mw, "
        "{'event_type': 'e', 'user_id': i})) is None]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONHASHSEED": "12345", "PATH": ""},
        cwd=str(__import__("pathlib").Path(__file__).resolve().parents[2]),
    )
    assert json.loads(out.stdout) == kept_by(sample(0.5), IDS[:500])


def test_sample_by_fields_or_function_and_events_without_an_id() -> None:
    """by= takes a field, fields tried in order, or a function; no id means kept."""
    device_only = {"event_type": "e", "device_id": "device-01"}
    by_user = sample(0.0)
    by_either = sample(0.0, by=("user_id", "device_id"))
    by_function = sample(0.0, by=lambda e: (e.event_properties or {}).get("account"))
    assert isinstance(run(by_user, device_only), Event)  # no user_id: cannot bucket, kept
    assert reason_of(run(by_either, device_only)) == "sampled_out"
    account = {"event_type": "e", "user_id": "u", "event_properties": {"account": "acme"}}
    assert reason_of(run(by_function, account)) == "sampled_out"


def test_drop_bots_reads_a_dotted_path_and_keeps_unknown_agents() -> None:
    """drop_bots finds crawlers and HTTP libraries; no user agent means kept."""
    mw = drop_bots("event_properties.ua")
    agents = {
        "Mozilla/5.0 (compatible; bingbot/2.0)": "bot",
        "python-requests/2.31.0": "bot",
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Safari/604.1": None,
    }
    for agent, reason in agents.items():
        event = {"event_type": "e", "user_id": "u", "event_properties": {"ua": agent}}
        assert reason_of(run(mw, event)) == reason, agent
    assert isinstance(run(mw, {"event_type": "e", "user_id": "u"}), Event)
    custom = drop_bots(pattern=r"^internal-probe")
    assert reason_of(run(custom, {"event_type": "e", "user_agent": "internal-probe/1"})) == "bot"


def test_sample_where_samples_only_the_noisy_events() -> None:
    """sample(0, where=...) drops the matching events and lets the others through."""
    mw = sample(0.0, where="Search *")
    assert reason_of(run(mw, {"event_type": "Search Result Viewed", "user_id": "u"})) == (
        "sampled_out"
    )
    assert isinstance(run(mw, {"event_type": "Signed Up", "user_id": "u"}), Event)
