"""The legacy middleware chain: ``(payload, next)`` functions run in order, synchronously.

Semantics follow ``@amplitude/node``'s ``MiddlewareRunner`` (``amplitude-node.md`` §3): one
shared ``next`` per run advances an index; a middleware that does not call ``next`` stops
the event; a ``next`` called after the chain returned has no effect. One deliberate change:
the event that reaches the end of the chain is the one sent (the legacy SDK sent the original
object even when a middleware passed a new one to ``next``).
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence, Union

from amplitude_legacy._event import Event

__all__ = ["Middleware", "MiddlewareNext", "MiddlewarePayload", "run_middleware"]


class MiddlewarePayload:
    """What each middleware receives: the event and the caller's ``extra``.

    Attributes:
        event: the annotated ``Event`` (attribute or item access). Change it in place, or set
            a new one, and pass the payload on with ``next(payload)``.
        extra: the second argument of ``logEvent``, by reference; never sent to Amplitude.

    Examples:
        >>> def add_route(payload, next):
        ...     payload.event.event_properties = {"route": payload.extra["route"]}
        ...     next(payload)
    """

    __slots__ = ("event", "extra")

    def __init__(self, event: Event, extra: dict[str, Any] | None = None) -> None:
        self.event = event
        self.extra = extra

    def __getitem__(self, key: str) -> Any:
        # ``payload["event"]`` reads like the legacy JS object.
        if key in MiddlewarePayload.__slots__:
            return getattr(self, key)
        raise KeyError(key)

    def __repr__(self) -> str:
        return f"MiddlewarePayload(event={self.event!r}, extra={self.extra!r})"


PayloadLike = Union[MiddlewarePayload, Mapping[str, Any]]
MiddlewareNext = Callable[[MiddlewarePayload], None]
"""``next(payload)``: hand the payload to the next middleware (or to the client)."""
Middleware = Callable[[MiddlewarePayload, MiddlewareNext], None]
"""``middleware(payload, next)``: a legacy middleware; not calling ``next`` stops the event."""


class _Run:
    """One pass through the chain; the instance itself is the ``next`` function."""

    __slots__ = ("_index", "_middleware", "final")

    def __init__(self, middleware: Sequence[Middleware]) -> None:
        self._middleware = middleware
        self._index = -1
        self.final: PayloadLike | None = None

    def __call__(self, payload: PayloadLike) -> None:
        self._index += 1
        index = self._index
        if index < len(self._middleware):
            self._middleware[index](payload, self)  # type: ignore[arg-type]
        elif index == len(self._middleware):
            self.final = payload
        # A later call (next called twice, or after the run) changes nothing.


def run_middleware(
    middleware: Sequence[Middleware], event: Event, extra: dict[str, Any] | None
) -> Event | None:
    """Run ``event`` through the chain.

    Returns:
        The event that reached the end (a fresh ``Event`` if a middleware passed a plain
        dict), or ``None`` when a middleware did not call ``next``.

    Raises:
        Exception: whatever a middleware raised, unchanged.
    """
    run = _Run(middleware)
    run(MiddlewarePayload(event, extra))
    final = run.final
    run._index = len(middleware) + 1  # a late, asynchronous next() must not count
    if final is None:
        return None
    out = final.event if isinstance(final, MiddlewarePayload) else final.get("event")
    if type(out) is Event:
        return out
    return Event(out) if isinstance(out, Mapping) else None
