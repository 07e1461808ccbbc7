"""Where an example or smoke test sends events: Amplitude if configured, else a local collector."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Dict, Mapping, Type

from amplitude_legacy.testing._collector import Collector

__all__ = ["Target", "target_from_env"]


@dataclass
class Target:
    """An API key and the options that point a client at the chosen server.

    Attributes:
        api_key: ``AMPLITUDE_API_KEY``, or a placeholder key for the local collector.
        options: ``{"serverUrl": ...}`` when the URL is not Amplitude's default.
        collector: the bundled collector started for this target, or ``None`` for Amplitude.
    """

    api_key: str
    options: Dict[str, Any] = field(default_factory=dict)
    collector: Collector | None = None

    def close(self) -> None:
        """Stop the local collector, if one was started."""
        if self.collector is not None:
            self.collector.stop()

    def __enter__(self) -> Target:
        return self

    def __exit__(
        self,
        exc_type: Type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def target_from_env(environ: Mapping[str, str] | None = None, *, quiet: bool = False) -> Target:
    """Amplitude if ``AMPLITUDE_API_KEY`` is set, else the bundled collector on 127.0.0.1.

    ``AMPLITUDE_SERVER_URL``, when set with a key, replaces the default endpoint (e.g. the EU
    one). Without a key, a ``Collector`` is started and ``Target.close()`` stops it, so a
    script runs anywhere, offline, and sends nothing beyond the machine.

    Args:
        environ: where to read the variables (default ``os.environ``).
        quiet: do not print where the events go when the local collector is used.

    Returns:
        A ``Target``; use it as a context manager or call ``close()``.

    Examples:
        >>> with target_from_env() as target:
        ...     client = Amplitude.init(target.api_key, target.options)
    """
    env = os.environ if environ is None else environ
    api_key = env.get("AMPLITUDE_API_KEY")
    if api_key:
        url = env.get("AMPLITUDE_SERVER_URL")
        return Target(api_key, {"serverUrl": url} if url else {})
    collector = Collector().start()
    if not quiet:
        print(f"No AMPLITUDE_API_KEY: sending to the bundled collector at {collector.url}")
    return Target("LOCAL_TEST_KEY", {"serverUrl": collector.http_api_url}, collector)
