"""options_to_plugin_config: the legacy → amplitude-analytics option table, entry by entry."""

from __future__ import annotations

from typing import Any, Dict, Iterator, List

import amplitude  # type: ignore[import-untyped]
import pytest

from amplitude_legacy import DropReason, Options, OptionsError, Status
from amplitude_legacy.plugins import (
    UNSUPPORTED_OPTIONS,
    LegacyClient,
    official_config,
    options_to_plugin_config,
)
from amplitude_legacy.testing import Collector
from tests.plugins import API_KEY


@pytest.mark.parametrize(
    ("legacy", "expected"),
    [
        ({"maxCachedEvents": 50}, {"flush_queue_size": 50}),
        ({"uploadIntervalInSec": 2}, {"flush_interval_millis": 2000}),
        ({"uploadIntervalInSec": 0.25}, {"flush_interval_millis": 250}),
        ({"uploadIntervalInSec": 0}, {"flush_interval_millis": 1}),
        ({"retryTimeouts": [100, 200, 400]}, {"flush_max_retries": 4}),
        ({"retryTimeouts": []}, {"flush_max_retries": 1}),
        ({"maxRetries": 3}, {"flush_max_retries": 4}),
        (
            {"serverUrl": "http://127.0.0.1:9/2/httpapi"},
            {"server_url": "http://127.0.0.1:9/2/httpapi"},
        ),
        ({"serverZone": "EU"}, {"server_zone": "EU"}),
        ({"useBatch": True}, {"use_batch": True}),
        ({"minIdLength": 3}, {"min_id_length": 3}),
        ({"optOut": True}, {"opt_out": True}),
        ({"max_cached_events": 7}, {"flush_queue_size": 7}),  # snake_case names work too
        ({}, {}),
    ],
)
def test_supported_option(legacy: Dict[str, Any], expected: Dict[str, Any]) -> None:
    """Each supported legacy option maps to its amplitude.Config setting."""
    with pytest.warns(DeprecationWarning) if "maxRetries" in legacy else _no_warning():
        config, unsupported = options_to_plugin_config(legacy)
    assert (config, unsupported) == (expected, [])


class _no_warning:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: Any) -> None:
        return None


def test_plan_and_ingestion_metadata_become_official_objects() -> None:
    """plan → amplitude.Plan, ingestionMetadata → amplitude.IngestionMetadata."""
    config, _ = options_to_plugin_config(
        {
            "plan": {"branch": "main", "source": "web", "version": "3", "versionId": "v3"},
            "ingestionMetadata": {"source_name": "etl", "source_version": "1.2"},
        }
    )
    assert isinstance(config["plan"], amplitude.Plan)
    assert config["plan"].get_plan_body() == {
        "branch": "main",
        "source": "web",
        "version": "3",
        "versionId": "v3",
    }
    assert isinstance(config["ingestion_metadata"], amplitude.IngestionMetadata)
    assert config["ingestion_metadata"].get_body() == {
        "source_name": "etl",
        "source_version": "1.2",
    }


@pytest.mark.parametrize(
    ("legacy", "name"),
    [
        ({"debug": True}, "debug"),
        ({"logLevel": 2}, "logLevel"),
        ({"retryClass": type("R", (), {"send_events_with_retry": None})()}, "retryClass"),
        ({"transportClass": type("T", (), {"send": None})()}, "transportClass"),
        ({"onRetry": lambda *a: None}, "onRetry"),
        ({"requestTimeoutMillis": 500}, "requestTimeoutMillis"),
        ({"maxQueueSize": 10}, "maxQueueSize"),
        ({"onDrop": lambda *a: None}, "onDrop"),
        ({"exitFlushTimeout": 1.0}, "exitFlushTimeout"),
        ({"gzip": True}, "gzip"),
    ],
)
def test_unsupported_option(legacy: Dict[str, Any], name: str) -> None:
    """Each option without an equivalent is reported by its legacy name, with a reason."""
    config, unsupported = options_to_plugin_config(legacy)
    assert (config, unsupported) == ({}, [name])
    assert UNSUPPORTED_OPTIONS[name]


def test_defaults_are_not_reported_and_options_instances_work() -> None:
    """Unsupported options at their legacy default are not reported; an Options instance works."""
    assert options_to_plugin_config({"gzip": False, "retryClass": None}) == ({}, [])
    assert options_to_plugin_config(None) == ({}, [])
    opts = Options(max_cached_events=9, gzip=True)
    assert options_to_plugin_config(opts) == ({"flush_queue_size": 9}, ["gzip"])


def test_bad_options_raise_like_init() -> None:
    """Unknown names and bad values raise OptionsError, as in init()."""
    with pytest.raises(OptionsError, match="maxCachedEvent"):
        options_to_plugin_config({"maxCachedEvent": 1})
    with pytest.raises(OptionsError, match="serverUrl"):
        options_to_plugin_config({"serverUrl": "ftp://x"})


def test_official_config_builds_a_config() -> None:
    """official_config sets opt_out as an attribute and lets Config arguments override."""
    config = official_config(
        {"serverZone": "EU", "useBatch": True, "optOut": True, "uploadIntervalInSec": 1},
        flush_interval_millis=5,
    )
    assert isinstance(config, amplitude.Config)
    assert config.server_url == "https://api.eu.amplitude.com/batch"
    assert config.opt_out is True and config.flush_interval_millis == 5


# ---------------------------------------------------------------- behaviour on the collector


@pytest.fixture
def shims(amplitude_collector: Collector) -> Iterator[List[LegacyClient]]:
    clients: List[LegacyClient] = []
    try:
        yield clients
    finally:
        for client in clients:
            client.shutdown(2)


def shim(clients: List[LegacyClient], collector: Collector, **options: Any) -> LegacyClient:
    opts = {"serverUrl": collector.http_api_url, "uploadIntervalInSec": 0.02, **options}
    client = LegacyClient(API_KEY, opts)
    clients.append(client)
    return client


def test_retry_timeouts_keep_the_number_of_retries(
    shims: List[LegacyClient], amplitude_collector: Collector
) -> None:
    """retryTimeouts=[x] allows one retry: one 503 is retried, two 503s drop the event."""
    client = shim(shims, amplitude_collector, retryTimeouts=[10])
    amplitude_collector.fail_next(1)
    ok = client.logEvent({"event_type": "E", "user_id": "user-0001"}).result(2)
    assert ok.status is Status.SUCCESS
    amplitude_collector.fail_next(2)
    dropped = client.logEvent({"event_type": "E", "user_id": "user-0002"}).result(2)
    assert (dropped.status, dropped.status_code) == (Status.FAILED, 503)
    assert dropped.reason == DropReason.RETRIES_EXHAUSTED
    assert len(amplitude_collector.requests) == 4


def test_max_cached_events_triggers_an_upload(
    shims: List[LegacyClient], amplitude_collector: Collector
) -> None:
    """maxCachedEvents (flush_queue_size) uploads a full batch before the interval ends."""
    client = shim(shims, amplitude_collector, maxCachedEvents=2, uploadIntervalInSec=30)
    futures = [client.logEvent({"event_type": "E", "user_id": f"user-000{i}"}) for i in range(2)]
    assert [f.result(2).status for f in futures] == [Status.SUCCESS, Status.SUCCESS]
    assert len(amplitude_collector.requests) == 1


def test_upload_interval_sends_without_flush(
    shims: List[LegacyClient], amplitude_collector: Collector
) -> None:
    """uploadIntervalInSec (flush_interval_millis) sends on the timer, no flush needed."""
    client = shim(shims, amplitude_collector, uploadIntervalInSec=0.05)
    assert client.logEvent({"event_type": "E", "user_id": "user-0001"}).result(2).delivered


def test_min_id_length_is_sent(shims: List[LegacyClient], amplitude_collector: Collector) -> None:
    """minIdLength (min_id_length) goes out as options.min_id_length, so short ids pass."""
    client = shim(shims, amplitude_collector, minIdLength=2)
    assert client.logEvent({"event_type": "E", "user_id": "ab"}).result(2).delivered
    assert amplitude_collector.requests[0].payload["options"] == {"min_id_length": 2}


def test_opt_out_sends_nothing(shims: List[LegacyClient], amplitude_collector: Collector) -> None:
    """optOut (opt_out) skips every event."""
    client = shim(shims, amplitude_collector, optOut=True)
    assert (
        client.logEvent({"event_type": "E", "user_id": "user-0001"}).result(1).status == "skipped"
    )
    assert client.flush(1).sent == 0 and amplitude_collector.events == []


def test_plan_and_ingestion_metadata_are_sent(
    shims: List[LegacyClient], amplitude_collector: Collector
) -> None:
    """plan and ingestionMetadata are added to each event by the official context plugin."""
    client = shim(
        shims,
        amplitude_collector,
        plan={"branch": "main", "versionId": "v2"},
        ingestionMetadata={"source_name": "etl"},
    )
    client.logEvent({"event_type": "E", "user_id": "user-0001"}).result(2)
    [sent] = amplitude_collector.events
    assert sent["plan"] == {"branch": "main", "versionId": "v2"}
    assert sent["ingestion_metadata"] == {"source_name": "etl"}


def test_use_batch_with_server_url(
    shims: List[LegacyClient], amplitude_collector: Collector
) -> None:
    """serverUrl wins over useBatch/serverZone, as in both SDKs."""
    client = shim(shims, amplitude_collector, useBatch=True, serverZone="EU")
    assert client.amplitude.configuration.server_url == amplitude_collector.http_api_url
    assert client.logEvent({"event_type": "E", "user_id": "user-0001"}).result(2).delivered
