"""target_from_env: Amplitude when configured, the bundled collector otherwise."""

from __future__ import annotations

import pytest

from amplitude_legacy.testing import target_from_env


def test_with_a_key_the_target_is_amplitude() -> None:
    """AMPLITUDE_API_KEY (and AMPLITUDE_SERVER_URL) are used as given; no collector starts."""
    env = {"AMPLITUDE_API_KEY": "k", "AMPLITUDE_SERVER_URL": "https://api.eu.amplitude.com/batch"}
    with target_from_env(env) as target:
        assert target.api_key == "k" and target.collector is None
        assert target.options == {"serverUrl": "https://api.eu.amplitude.com/batch"}
    assert target_from_env({"AMPLITUDE_API_KEY": "k"}).options == {}


def test_without_a_key_a_local_collector_runs_until_closed(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """No key: a loopback collector is started, announced, and stopped by close()."""
    target = target_from_env({})
    try:
        assert target.collector is not None
        assert target.options["serverUrl"] == target.collector.http_api_url
        assert target.options["serverUrl"].startswith("http://127.0.0.1:")
        assert "bundled collector" in capsys.readouterr().out
    finally:
        target.close()
    assert "stopped" in repr(target.collector) or "running" not in repr(target.collector)
