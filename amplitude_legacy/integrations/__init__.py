"""Framework integrations: Django, Flask, ASGI (FastAPI, Starlette) and Celery.

Each lives in its own module, imported on its own, behind an extra where it needs a
framework; importing this package imports no framework:

* ``amplitude_legacy.integrations.django``: ``AmplitudeMiddleware``, configured by
  ``settings.AMPLITUDE`` (``pip install "amplitude_legacy[django]"``).
* ``amplitude_legacy.integrations.flask``: the ``FlaskAmplitude`` extension
  (``pip install "amplitude_legacy[flask]"``).
* ``amplitude_legacy.integrations.asgi``: ``AmplitudeMiddleware`` for any ASGI app; needs no
  extra (``amplitude_legacy[fastapi]`` installs FastAPI for the examples).
* ``amplitude_legacy.integrations.celery``: ``AmplitudeCelery``, a client per worker process
  and the task as context (``pip install "amplitude_legacy[celery]"``).

The web integrations run each request inside ``Amplitude.context(...)``, so the request's
values are the ``extra`` of every event logged while it is served; ``context_properties``
copies some of them into the events themselves.
"""

from __future__ import annotations

from typing import Any, Dict

from amplitude_legacy._middleware import Middleware, MiddlewareNext, MiddlewarePayload

__all__ = ["context_properties"]


def context_properties(*keys: str) -> Middleware:
    """A middleware that copies values of ``extra`` (the context) into ``event_properties``.

    ``extra`` is never sent; this is how request or task context reaches Amplitude. A
    property the event already has is kept (the event's own value wins).

    Args:
        *keys: the keys to copy (``"route"``, ``"request_id"``...); none copies every key.

    Returns:
        A legacy ``(payload, next)`` middleware for ``client.addEventMiddleware``.

    Raises:
        TypeError: a key is not a string.

    Examples:
        >>> client.addEventMiddleware(context_properties("route", "request_id"))
    """
    for key in keys:
        if not isinstance(key, str):
            raise TypeError(f"context_properties: keys must be strings, got {key!r}")
    wanted = frozenset(keys)

    def copy_context(payload: MiddlewarePayload, next: MiddlewareNext) -> None:
        extra = payload.extra
        if extra:
            found: Dict[str, Any] = (
                {k: v for k, v in extra.items() if k in wanted} if wanted else dict(extra)
            )
            if found:
                event = payload.event
                event.event_properties = {**found, **(event.event_properties or {})}
        next(payload)

    return copy_context
