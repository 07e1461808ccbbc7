"""Unit tests for client options (the legacy SDK's options): defaults, forms, validation."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from amplitude_legacy import DEFAULT_RETRY_TIMEOUTS, LogLevel, Options, OptionsError
from amplitude_legacy._options import (
    EU_BATCH_URL,
    EU_HTTP_API_URL,
    US_BATCH_URL,
    US_HTTP_API_URL,
    camel_case,
    resolve_options,
)

LEGACY_RETRY_TIMEOUTS = (100, 100, 200, 200, 400, 400, 800, 800, 1600, 1600, 3200, 3200)


def _on_retry(response: Any, attempt: int, is_last: bool) -> None:
    """A no-op ``onRetry`` callback."""


class _Retry:
    def send_events_with_retry(self, events: Any) -> None:
        """Accept anything."""


class _Transport:
    def send_payload(self, payload: Any) -> None:
        """Accept anything."""


# --- defaults (legacy table) ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("legacy_name", "expected"),
    [
        ("serverUrl", "https://api2.amplitude.com/2/httpapi"),
        ("debug", False),
        ("logLevel", 0),
        ("maxCachedEvents", 16000),
        ("optOut", False),
        ("retryTimeouts", LEGACY_RETRY_TIMEOUTS),
        ("maxRetries", None),
        ("retryClass", None),
        ("transportClass", None),
        ("uploadIntervalInSec", 0),
        ("minIdLength", None),
        ("requestTimeoutMillis", 10000),
        ("onRetry", None),
        ("plan", None),
        ("ingestionMetadata", None),
    ],
)
def test_legacy_default(legacy_name: str, expected: object) -> None:
    """Each legacy option resolves to the legacy default when not given."""
    opts = resolve_options()
    assert getattr(opts, legacy_name) == expected
    assert opts.to_legacy_dict()[legacy_name] == expected


def test_default_retry_schedule_constant() -> None:
    """DEFAULT_RETRY_TIMEOUTS is the legacy 12-entry schedule summing to 12.6 s."""
    assert DEFAULT_RETRY_TIMEOUTS == LEGACY_RETRY_TIMEOUTS
    assert sum(DEFAULT_RETRY_TIMEOUTS) == 12600


def test_log_level_values() -> None:
    """LogLevel has the legacy values NONE=0, ERROR=1, WARN=2, VERBOSE=3."""
    assert (LogLevel.NONE, LogLevel.ERROR, LogLevel.WARN, LogLevel.VERBOSE) == (0, 1, 2, 3)


def test_resolve_none_equals_resolve_empty_dict() -> None:
    """resolve_options(None), ({}) and () give the same options."""
    assert resolve_options(None) == resolve_options({}) == resolve_options()


# --- the three input forms ------------------------------------------------------------------


def test_three_forms_are_equal() -> None:
    """camelCase dict, snake_case kwargs and Options(...) give equal resolved options."""
    plan = {"branch": "main"}
    from_dict = resolve_options(
        {
            "maxCachedEvents": 20000,
            "uploadIntervalInSec": 2.5,
            "retryTimeouts": [10, 20],
            "minIdLength": 3,
            "onRetry": _on_retry,
            "plan": plan,
        }
    )
    from_kwargs = resolve_options(
        max_cached_events=20000,
        upload_interval_in_sec=2.5,
        retry_timeouts=[10, 20],
        min_id_length=3,
        on_retry=_on_retry,
        plan=plan,
    )
    from_options = resolve_options(
        Options(
            max_cached_events=20000,
            upload_interval_in_sec=2.5,
            retry_timeouts=(10, 20),
            min_id_length=3,
            on_retry=_on_retry,
            plan=plan,
        )
    )
    assert from_dict == from_kwargs == from_options
    assert from_dict.retry_timeouts == (10, 20)
    assert from_dict.max_cached_events == 20000


def test_dict_accepts_snake_case_keys() -> None:
    """A dict may use snake_case keys too."""
    assert resolve_options({"max_cached_events": 5}).max_cached_events == 5


def test_kwargs_override_dict() -> None:
    """Keyword options override the same option given in the dict."""
    opts = resolve_options({"maxCachedEvents": 10, "debug": True}, max_cached_events=20)
    assert opts.max_cached_events == 20
    assert opts.debug is True


def test_kwargs_override_options_instance() -> None:
    """Keyword options override the same option of an Options instance."""
    opts = resolve_options(Options(max_cached_events=10), max_cached_events=20)
    assert opts.max_cached_events == 20


def test_retry_timeouts_list_becomes_tuple() -> None:
    """A list of retry timeouts is stored as a tuple (immutable)."""
    assert resolve_options({"retryTimeouts": [1, 2, 3]}).retry_timeouts == (1, 2, 3)


def test_empty_retry_timeouts_allowed() -> None:
    """retryTimeouts=[] is valid and means no retries."""
    assert resolve_options({"retryTimeouts": []}).retry_timeouts == ()


# --- unknown names --------------------------------------------------------------------------


def test_unknown_camel_name_raises_with_suggestion() -> None:
    """An unknown camelCase option raises OptionsError naming it, with a suggestion."""
    with pytest.raises(OptionsError) as info:
        resolve_options({"maxCachedEvent": 10})
    assert info.value.option == "maxCachedEvent"
    message = str(info.value)
    assert "'maxCachedEvent'" in message
    assert "did you mean 'maxCachedEvents'" in message


def test_unknown_snake_name_raises_with_suggestion() -> None:
    """An unknown snake_case keyword raises OptionsError suggesting the snake_case name."""
    with pytest.raises(OptionsError) as info:
        resolve_options(max_cached_event=10)
    assert info.value.option == "max_cached_event"
    assert "did you mean 'max_cached_events'" in str(info.value)


def test_unknown_name_without_close_match() -> None:
    """An unknown name with no close match still raises, without a suggestion."""
    with pytest.raises(OptionsError, match="unknown option") as info:
        resolve_options({"zzzzzz": 1})
    assert info.value.option == "zzzzzz"
    assert "did you mean" not in str(info.value)


def test_options_error_is_value_error() -> None:
    """OptionsError is a ValueError (callers may catch either)."""
    with pytest.raises(ValueError):
        resolve_options({"maxCachedEvent": 10})


def test_options_argument_of_wrong_type() -> None:
    """An options argument that is neither a dict nor Options raises OptionsError."""
    with pytest.raises(OptionsError) as info:
        resolve_options(42)  # type: ignore[arg-type]
    assert info.value.option == "options"


# --- wrong types and values -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("legacy_name", "value"),
    [
        ("maxCachedEvents", True),
        ("maxCachedEvents", "16000"),
        ("maxCachedEvents", 0),
        ("maxCachedEvents", -1),
        ("maxCachedEvents", 1.5),
        ("maxQueueSize", -5),
        ("maxRetries", True),
        ("maxRetries", -1),
        ("maxRetries", "3"),
        ("minIdLength", -1),
        ("minIdLength", True),
        ("minIdLength", "5"),
        ("requestTimeoutMillis", "10000"),
        ("requestTimeoutMillis", True),
        ("uploadIntervalInSec", -1),
        ("uploadIntervalInSec", "10"),
        ("uploadIntervalInSec", False),
        ("exitFlushTimeout", -0.1),
        ("logLevel", 4),
        ("logLevel", -1),
        ("logLevel", True),
        ("logLevel", "3"),
        ("debug", 1),
        ("debug", "yes"),
        ("optOut", 0),
        ("useBatch", "true"),
        ("gzip", None),
        ("retryTimeouts", [100, -1]),
        ("retryTimeouts", [True]),
        ("retryTimeouts", ["100"]),
        ("retryTimeouts", "100"),
        ("retryTimeouts", 100),
        ("serverUrl", "ftp://x"),
        ("serverUrl", "api2.amplitude.com"),
        ("serverUrl", "http://"),
        ("serverUrl", 42),
        ("serverZone", "ASIA"),
        ("serverZone", "U.S."),
        ("onRetry", "not callable"),
        ("onDrop", 1),
        ("plan", ["branch"]),
        ("ingestionMetadata", "x"),
        ("retryClass", object()),
        ("transportClass", object()),
    ],
)
def test_bad_value_raises_naming_option(legacy_name: str, value: object) -> None:
    """A wrong type or value raises OptionsError whose .option and message name the option."""
    with pytest.raises(OptionsError) as info:
        resolve_options({legacy_name: value})
    assert info.value.option == legacy_name
    assert repr(legacy_name) in str(info.value)


def test_bad_snake_kwarg_reports_camel_name() -> None:
    """A bad snake_case keyword is reported under its legacy camelCase name."""
    with pytest.raises(OptionsError) as info:
        resolve_options(max_cached_events=True)
    assert info.value.option == "maxCachedEvents"


@pytest.mark.parametrize(
    ("legacy_name", "value"),
    [
        ("requestTimeoutMillis", 0),
        ("requestTimeoutMillis", -1),
        ("requestTimeoutMillis", 2500.5),
        ("uploadIntervalInSec", 0.25),
        ("minIdLength", 0),
        ("logLevel", 3),
        ("serverUrl", "http://127.0.0.1:8080/2/httpapi"),
        ("serverZone", "EU"),
        ("plan", {"branch": "main", "versionId": "v1"}),
        ("ingestionMetadata", {"source_name": "s", "source_version": "1"}),
        ("retryClass", _Retry()),
        ("transportClass", _Transport()),
    ],
)
def test_good_value_accepted(legacy_name: str, value: object) -> None:
    """Boundary and legal values are accepted."""
    resolve_options({legacy_name: value})


# --- maxRetries (deprecated) ----------------------------------------------------------------


def test_max_retries_converted_with_deprecation_warning() -> None:
    """maxRetries=3 becomes retryTimeouts (100, 200, 400) with a DeprecationWarning."""
    with pytest.warns(DeprecationWarning, match="maxRetries is deprecated"):
        opts = resolve_options({"maxRetries": 3})
    assert opts.retry_timeouts == (100, 200, 400)
    assert opts.max_retries is None


def test_max_retries_overrides_retry_timeouts() -> None:
    """maxRetries replaces an explicit retryTimeouts, as in the legacy RetryHandler."""
    with pytest.warns(DeprecationWarning):
        opts = resolve_options({"maxRetries": 2, "retryTimeouts": [5, 5, 5]})
    assert opts.retry_timeouts == (100, 200)


def test_max_retries_zero_means_no_retries() -> None:
    """maxRetries=0 gives an empty schedule (still warns)."""
    with pytest.warns(DeprecationWarning):
        opts = resolve_options(max_retries=0)
    assert opts.retry_timeouts == ()


# --- server URL selection -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("zone", "use_batch", "url"),
    [
        ("US", False, "https://api2.amplitude.com/2/httpapi"),
        ("US", True, "https://api2.amplitude.com/batch"),
        ("EU", False, "https://api.eu.amplitude.com/2/httpapi"),
        ("EU", True, "https://api.eu.amplitude.com/batch"),
    ],
)
def test_zone_and_batch_pick_url(zone: str, use_batch: bool, url: str) -> None:
    """serverZone and useBatch select one of the four Amplitude URLs."""
    assert resolve_options({"serverZone": zone, "useBatch": use_batch}).server_url == url
    assert url in (US_HTTP_API_URL, US_BATCH_URL, EU_HTTP_API_URL, EU_BATCH_URL)


def test_zone_from_options_instance() -> None:
    """An unresolved Options instance also gets its URL from serverZone/useBatch."""
    assert resolve_options(Options(server_zone="EU", use_batch=True)).server_url == EU_BATCH_URL


@pytest.mark.parametrize("use_batch", [False, True])
def test_explicit_server_url_wins(use_batch: bool) -> None:
    """An explicit serverUrl wins over serverZone/useBatch."""
    url = "https://proxy.example.com/amp"
    opts = resolve_options({"serverUrl": url, "serverZone": "EU", "useBatch": use_batch})
    assert opts.server_url == url


def test_re_resolving_with_new_zone_changes_default_url() -> None:
    """Options resolved once, then resolved with serverZone='EU', use the EU URL."""
    first = resolve_options()
    assert resolve_options(first, server_zone="EU").server_url == EU_HTTP_API_URL


# --- the Options object ---------------------------------------------------------------------


def test_options_is_frozen() -> None:
    """Options is immutable: assigning a field raises FrozenInstanceError."""
    opts = resolve_options()
    with pytest.raises(dataclasses.FrozenInstanceError):
        opts.max_cached_events = 1  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        opts.maxCachedEvents = 1  # type: ignore[attr-defined]


def test_camel_case_attribute_reads() -> None:
    """Legacy camelCase reads (opts.maxCachedEvents) return the snake_case field."""
    opts = resolve_options(max_cached_events=123, upload_interval_in_sec=4, opt_out=True)
    assert opts.maxCachedEvents == 123
    assert opts.uploadIntervalInSec == 4
    assert opts.optOut is True
    assert opts.serverUrl == opts.server_url
    assert opts.requestTimeoutMillis == 10000


@pytest.mark.parametrize("name", ["maxCachedEvent", "max_cached_event", "serverURL", "nope"])
def test_unknown_attribute_raises(name: str) -> None:
    """Reading an unknown attribute raises AttributeError."""
    with pytest.raises(AttributeError):
        getattr(resolve_options(), name)


LEGACY_NAMES = {
    "serverUrl",
    "debug",
    "logLevel",
    "maxCachedEvents",
    "optOut",
    "retryTimeouts",
    "maxRetries",
    "retryClass",
    "transportClass",
    "uploadIntervalInSec",
    "minIdLength",
    "requestTimeoutMillis",
    "onRetry",
    "plan",
    "ingestionMetadata",
}


def _camel(snake: str) -> str:
    head, *rest = snake.split("_")
    return head + "".join(part.capitalize() for part in rest)


def test_to_legacy_dict_keys_are_camel_case() -> None:
    """to_legacy_dict() has one camelCase key per field, including every legacy name."""
    opts = resolve_options()
    legacy = opts.to_legacy_dict()
    expected = {_camel(f.name): getattr(opts, f.name) for f in dataclasses.fields(Options)}
    assert legacy == expected
    assert set(legacy) >= LEGACY_NAMES
    assert all("_" not in key for key in legacy)


def test_to_legacy_dict_round_trips() -> None:
    """Feeding to_legacy_dict() back into resolve_options gives equal options."""
    opts = resolve_options({"maxCachedEvents": 7, "onRetry": _on_retry, "minIdLength": 2})
    assert resolve_options(opts.to_legacy_dict()) == opts


def test_to_legacy_dict_does_not_copy_objects() -> None:
    """to_legacy_dict() returns the very objects held (callbacks, plan)."""
    plan = {"branch": "b"}
    legacy = resolve_options(plan=plan, on_retry=_on_retry).to_legacy_dict()
    assert legacy["plan"] is plan
    assert legacy["onRetry"] is _on_retry


@pytest.mark.parametrize("empty", ["", None])
def test_empty_server_url_raises(empty: object) -> None:
    """An explicit empty serverUrl is an error (the legacy SDK threw), not the default."""
    with pytest.raises(OptionsError, match="serverUrl"):
        resolve_options({"serverUrl": empty})


def test_server_zone_in_any_case() -> None:
    """serverZone 'eu' means EU (the case of a zone name is not a mistake)."""
    opts = resolve_options(server_zone="eu")
    assert opts.server_zone == "EU" and opts.server_url == "https://api.eu.amplitude.com/2/httpapi"


def test_options_accepts_camel_case_keywords() -> None:
    """Options(maxCachedEvents=...) works; an unknown keyword is an OptionsError, not TypeError."""
    assert Options(maxCachedEvents=5) == Options(max_cached_events=5)
    with pytest.raises(OptionsError, match="did you mean 'maxCachedEvents'") as info:
        Options(maxCachedEvent=5)
    assert info.value.option == "maxCachedEvent"


@pytest.mark.parametrize(
    "name, value",
    [
        ("upload_interval_in_sec", 1e10),
        ("retry_timeouts", [1e13]),
        ("retry_timeouts", [10] * 1001),
        ("request_timeout_millis", 1e20),
        ("request_timeout_millis", float("nan")),
        ("exit_flush_timeout", float("inf")),
        ("max_retries", 40_000),
        ("min_id_length", 10**6),
        ("plan", {"branch": object()}),
    ],
)
def test_numbers_that_would_break_the_worker_are_refused(name: str, value: object) -> None:
    """Every numeric option is bounded at init (huge waits overflow timers; NaN compares false)."""
    with pytest.raises(OptionsError) as info:
        resolve_options(**{name: value})
    assert info.value.option == camel_case(name)


def test_max_retries_expands_quickly_and_stays_bounded() -> None:
    """maxRetries=1000 expands at once (no huge integers), each wait capped at a day."""
    import time

    started = time.perf_counter()
    with pytest.warns(DeprecationWarning):
        opts = resolve_options(max_retries=1000)
    assert time.perf_counter() - started < 0.5
    assert opts.retry_timeouts[:3] == (100, 200, 400) and max(opts.retry_timeouts) == 86_400_000


def test_camel_case_names_match_dataclasses_json() -> None:
    """Our camelCase rule gives the same names as dataclasses-json's LetterCase.CAMEL."""
    from dataclasses import fields

    from dataclasses_json import LetterCase

    for field in fields(Options):
        assert camel_case(field.name) == LetterCase.CAMEL(field.name)  # type: ignore[operator]


def test_dicts_of_options_mask_the_proxy_password() -> None:
    """to_dict / to_legacy_dict hide a proxy password, as repr does."""
    opts = resolve_options(proxy="http://user:secret@proxy:3128")
    assert "secret" not in str(opts.to_dict()) and "secret" not in str(opts.to_legacy_dict())
    assert opts.proxy == "http://user:secret@proxy:3128"
