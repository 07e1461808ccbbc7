"""Ready-made middleware: filtering, enrichment, privacy, tracking plans, routing.

Each factory returns an ordinary ``(payload, next)`` middleware, so it composes with your
own, runs on the legacy client (``client.addEventMiddleware(...)``) and on the plugin API
through ``amplitude_legacy.plugins.MiddlewarePlugin`` (ours or ``amplitude-analytics``).

* Filtering: ``drop_events``, ``keep_events``, ``sample``, ``drop_bots``.
* Enrichment and transformation: ``enrich``, ``rename_events``, ``set_defaults``.
* Privacy: ``redact`` (remove, or HMAC-SHA256 with a salt), ``allow_properties``.
* Tracking plans: ``validate`` (a JSON Schema per event type, ``TrackingPlan``).
* Routing: ``route(where, to)`` to a ``Destination``: ``AmplitudeDestination`` (another
  project), ``WebhookDestination``, ``RedisStreamDestination``, ``JsonlFileDestination``; each
  a client of its own (bounded queue, batching, retry, counted drops, ``flush``,
  ``shutdown``), reported in ``client.stats().destinations``.

Events a middleware here stops resolve ``skipped`` with a reason of their own (``Reason``),
counted in ``client.stats().dropped`` and passed to ``onDrop``.

Optional dependencies: ``validate`` needs ``pip install "amplitude_legacy[tracking-plan]"``
(fastjsonschema), ``RedisStreamDestination`` needs ``pip install "amplitude_legacy[redis]"``.

Examples:
    >>> from amplitude_legacy.middleware import drop_events, redact, route, AmplitudeDestination
    >>> client.addEventMiddleware(drop_events("Health Check"))
    >>> client.addEventMiddleware(redact(["ip", "event_properties.email"], "hash", salt=SALT))
    >>> client.addEventMiddleware(route("Order *", AmplitudeDestination("OTHER_PROJECT_KEY")))
"""

from amplitude_legacy.middleware._amplitude import AmplitudeDestination
from amplitude_legacy.middleware._common import Reason, Where
from amplitude_legacy.middleware._destination import Destination
from amplitude_legacy.middleware._enrich import enrich, rename_events, set_defaults
from amplitude_legacy.middleware._filters import (
    BOT_PATTERN,
    drop_bots,
    drop_events,
    keep_events,
    sample,
    sample_bucket,
)
from amplitude_legacy.middleware._jsonl import JsonlFileDestination
from amplitude_legacy.middleware._plan import TrackingPlan, validate
from amplitude_legacy.middleware._privacy import allow_properties, hash_value, redact
from amplitude_legacy.middleware._redis import RedisStreamDestination
from amplitude_legacy.middleware._routing import route
from amplitude_legacy.middleware._webhook import WebhookDestination

__all__ = [
    "BOT_PATTERN",
    "AmplitudeDestination",
    "Destination",
    "JsonlFileDestination",
    "Reason",
    "RedisStreamDestination",
    "TrackingPlan",
    "WebhookDestination",
    "Where",
    "allow_properties",
    "drop_bots",
    "drop_events",
    "enrich",
    "hash_value",
    "keep_events",
    "redact",
    "rename_events",
    "route",
    "sample",
    "sample_bucket",
    "set_defaults",
    "validate",
]
