"""The bridge to the plugin API: plugins on our client, middleware on the official SDK, a shim.

* **Plugins on ``NodeClient``**: ``client.add(plugin)`` / ``client.remove(name)`` with the plugin
  contract of ``@amplitude/analytics-node`` (``Plugin``, ``PluginType``, the ``BeforePlugin`` /
  ``EnrichmentPlugin`` / ``DestinationPlugin`` base classes), and the new-style calls
  (``track``, ``identify(Identify, options)``, ``revenue``, ``setGroup``) returning futures of a
  ``Result``.
* **Adapters both ways**: ``MiddlewarePlugin(middleware)`` runs a legacy ``(payload, next)``
  middleware as an enrichment plugin on our client *or* on the official ``amplitude.Amplitude``;
  ``PluginMiddleware(plugin)`` runs a plugin as legacy middleware.
* **Migration shim**: ``LegacyClient`` keeps the legacy API on top of the official SDK, with the
  options translated by ``options_to_plugin_config``.

The official SDK (``amplitude-analytics``) is optional: ``pip install amplitude_legacy[official]``.
This package imports without it; building a ``LegacyClient`` without it raises ``ImportError``.

Examples:
    >>> from amplitude_legacy.plugins import MiddlewarePlugin
    >>> import amplitude
    >>> official_client = amplitude.Amplitude("API_KEY")
    >>> official_client.add(MiddlewarePlugin(lambda payload, next: next(payload)))  # doctest: +SKIP
"""

from amplitude_legacy.plugins._adapters import (
    INSTALL_HINT,
    MiddlewarePlugin,
    PluginMiddleware,
    from_official_event,
    to_official_event,
)
from amplitude_legacy.plugins._shim import (
    DEFAULT_FLUSH_TIMEOUT,
    UNSUPPORTED_OPTIONS,
    LegacyClient,
    official_config,
    options_to_plugin_config,
)
from amplitude_legacy.plugins._types import (
    BeforePlugin,
    DestinationPlugin,
    EnrichmentPlugin,
    Plugin,
    PluginType,
    Result,
    ResultFuture,
)

__all__ = [
    "DEFAULT_FLUSH_TIMEOUT",
    "INSTALL_HINT",
    "UNSUPPORTED_OPTIONS",
    "BeforePlugin",
    "DestinationPlugin",
    "EnrichmentPlugin",
    "LegacyClient",
    "MiddlewarePlugin",
    "Plugin",
    "PluginMiddleware",
    "PluginType",
    "Result",
    "ResultFuture",
    "from_official_event",
    "official_config",
    "options_to_plugin_config",
    "to_official_event",
]
