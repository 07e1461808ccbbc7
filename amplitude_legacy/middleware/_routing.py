"""Routing: ``route(where, to, copy=...)`` hands matching events to a destination."""

from __future__ import annotations

from typing import Any

from amplitude_legacy._event import Event
from amplitude_legacy._middleware import Middleware, Stop, ready_made
from amplitude_legacy.middleware._common import BurstLog, Reason, Where, compile_where
from amplitude_legacy.middleware._destination import Destination

__all__ = ["route"]

_DESTINATION_API = ("name", "send", "flush", "shutdown", "stats")
_failures = BurstLog()


def route(where: Where, to: Any, *, copy: bool = True) -> Middleware:
    """Send the events that match ``where`` to another destination too (or instead).

    The destination queues a copy of the event as it is at this point of the chain and
    delivers it with its own queue, batching and retry: the call never blocks and a
    destination that is down never raises into ``logEvent`` (its drops are counted in its
    own stats). Put ``route`` after the filters and scrubbers whose result it should get.

    The returned middleware carries ``destinations = (to,)``: ``addEventMiddleware``
    registers it, so ``client.flush()`` and ``client.shutdown()`` include it and
    ``client.stats().destinations[to.name]`` reports it. One route per destination and
    client: combine conditions in ``where`` (a list of names or a predicate).

    Args:
        where: which events: a name or glob pattern, a list of them, ``"*"`` for all, or a
            predicate over the event (``lambda event: event.country in EU``).
        to: a ``Destination`` (``AmplitudeDestination``, ``WebhookDestination``...), or any
            object with ``name``, ``send(event)``, ``flush``, ``shutdown`` and ``stats``.
        copy: ``True`` (default) sends the event on along the chain too; ``False`` stops it
            here: its future resolves ``skipped`` with reason ``"routed"`` (counted in
            ``stats().dropped["routed"]``, and passed to ``onDrop``; not a loss).

    Returns:
        The ``(payload, next)`` middleware, with a ``destinations`` attribute.

    Raises:
        TypeError: ``to`` is not a destination; ``where`` of an unknown kind.
        ValueError: an empty ``where`` list.

    Examples:
        >>> eu = AmplitudeDestination("EU_PROJECT_KEY", {"serverZone": "EU"})
        >>> client.addEventMiddleware(route(lambda e: e.country in EU, eu, copy=False))
    """
    missing = [attr for attr in _DESTINATION_API if not hasattr(to, attr)]
    if missing:
        raise TypeError(
            f"to must be a destination (AmplitudeDestination, WebhookDestination, ...), "
            f"got {type(to).__name__} without {', '.join(missing)}"
        )
    match = compile_where(where)
    everything = where == "*"  # the common mirror: no test per event
    send = to.send
    if isinstance(to, Destination) and type(to).send is Destination.send:
        send = to.client.logEvent  # what Destination.send calls: one call layer less per event
    name = str(to.name)
    routed = Stop(Reason.ROUTED, f"routed to {name}")

    if copy:

        def route_copy(event: Event) -> None:
            if everything or match(event):
                try:
                    send(event)  # the destination's logEvent copies it
                except Exception:  # a custom destination's bug must not cost the main path
                    _failures.warn(name, "amplitude_legacy: destination %r raised in send", name)

        middleware = ready_made(route_copy, "route_copy")
    else:

        def route_instead(event: Event) -> Stop | None:
            if everything or match(event):
                send(event)  # raising here stops the event as middleware_error (logged)
                return routed
            return None

        middleware = ready_made(route_instead, "route_instead")
    middleware.destinations = (to,)  # type: ignore[attr-defined]
    return middleware
