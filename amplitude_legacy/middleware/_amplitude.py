"""``AmplitudeDestination``: another Amplitude project, on this engine."""

from __future__ import annotations

from urllib.parse import urlsplit

from amplitude_legacy._errors import OptionsError
from amplitude_legacy._options import resolve_options
from amplitude_legacy.middleware._destination import Destination, DestinationOptions

__all__ = ["AmplitudeDestination", "host_of"]


def host_of(url: str) -> str:
    """``host[:port]`` of a URL, without credentials (names never carry secrets)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    return f"{host}:{parts.port}" if parts.port else host


class AmplitudeDestination(Destination):
    """Another Amplitude project (another API key, zone or URL) as a ``route`` destination.

    For example EU users to the EU project (``{"serverZone": "EU"}``), or internal test
    traffic to a sandbox project. It is a ``NodeClient`` of its own: the same bounded queue,
    batching, retry, spool and counted drops as the main client, with its own options.

    Args:
        api_key: the other project's API key (never logged, never part of the name).
        options: that client's options, as for ``init`` (``serverZone``, ``serverUrl``,
            ``useBatch``, ``retryTimeouts``, ``maxQueueSize``, ``spoolPath``...).
        name: the name in ``client.stats().destinations`` (default ``"amplitude:<host>"``;
            give one when two destinations share a host, e.g. two US projects).

    Raises:
        OptionsError: an API key that is not a non-empty string, or a bad option.
        ValueError: an empty ``name``.

    Examples:
        >>> eu_project = AmplitudeDestination("EU_API_KEY", {"serverZone": "EU"})
        >>> client.addEventMiddleware(route(lambda e: e.country in EU, eu_project, copy=False))
    """

    def __init__(
        self, api_key: str, options: DestinationOptions = None, *, name: str | None = None
    ) -> None:
        if not isinstance(api_key, str) or not api_key:
            raise OptionsError("apiKey", "must be the other project's API key (a non-empty string)")
        if name is None:
            name = f"amplitude:{host_of(resolve_options(options).server_url)}"
        super().__init__(name, api_key=api_key, options=options)
