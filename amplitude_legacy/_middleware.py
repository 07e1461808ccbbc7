"""The legacy middleware chain: ``(payload, next)`` functions run in order, synchronously.

Semantics follow ``@amplitude/node``'s ``MiddlewareRunner``: one
shared ``next`` per run advances an index; a middleware that does not call ``next`` stops
the event; a ``next`` called after the chain returned has no effect. One deliberate change:
the event that reaches the end of the chain is the one sent (the legacy SDK sent the original
object even when a middleware passed a new one to ``next``).

The ready-made middleware (``amplitude_legacy.middleware``) are steps over the event wrapped
as ordinary middleware (``ready_made``); ``plan_chain`` lets the client run neighbouring ones
as one, or all of them without a chain.
"""

from __future__ import annotations

import itertools
import sys
import weakref
from typing import Any, Callable, Mapping, Optional, Sequence, Tuple, Union

from amplitude_legacy._event import Event

__all__ = [
    "MIDDLEWARE_STOPPED",
    "Chain",
    "Middleware",
    "MiddlewareNext",
    "MiddlewarePayload",
    "Step",
    "Stop",
    "plan_chain",
    "ready_made",
    "run_chain",
    "run_middleware",
]


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

    __slots__ = ("_stop", "event", "extra")

    def __init__(self, event: Event, extra: dict[str, Any] | None = None) -> None:
        self.event = event
        self.extra = extra
        self._stop: Stop | None = None

    def drop(self, reason: str, detail: str | None = None) -> None:
        """Stop this event with a drop reason of your own, instead of calling ``next``.

        The client counts the event in ``stats().dropped[reason]``, resolves its future
        ``skipped`` with ``Response.reason == reason`` (and ``error == detail``), passes it to
        ``onDrop`` and logs it at DEBUG. Not calling ``next`` without ``drop`` is the same with
        the reason ``middleware_stopped``. Through ``MiddlewarePlugin`` on the plugin API, a
        dropped event is simply not sent.

        Args:
            reason: a short snake_case reason (``"tracking_plan"``, ``"sampled_out"``).
            detail: a human-readable detail (which rule, which field).

        Raises:
            ValueError: ``reason`` is not a non-empty string.

        Examples:
            >>> def no_test_users(payload, next):
            ...     if str(payload.event.user_id).startswith("test-"):
            ...         payload.drop("test_user", "user id starts with test-")
            ...     else:
            ...         next(payload)
        """
        if not isinstance(reason, str) or not reason:
            raise ValueError(f"reason must be a non-empty string, got {reason!r}")
        self._stop = Stop(reason, detail)

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


class Stop:
    """Why the chain stopped an event: a drop reason and an optional detail."""

    __slots__ = ("detail", "reason")

    def __init__(self, reason: str, detail: str | None = None) -> None:
        self.reason = reason
        self.detail = detail


#: A middleware did not call ``next`` (and did not ``drop`` with a reason of its own).
MIDDLEWARE_STOPPED = Stop("middleware_stopped", "Middleware chain skipped logEvent action.")


class _Run:
    """One pass through the chain; the instance itself is the ``next`` function."""

    __slots__ = ("_count", "_index", "_middleware", "final", "last")

    # Set by run_chain (no __init__: see there).
    _middleware: Sequence[Middleware]
    _count: int
    _index: int
    final: PayloadLike | None
    last: PayloadLike | None

    def __call__(self, payload: PayloadLike) -> None:
        index = self._index + 1
        self._index = index
        if index < self._count:
            self.last = payload
            self._middleware[index](payload, self)  # type: ignore[arg-type]
        elif index == self._count:
            self.final = payload
        # A later call (next called twice, or after the run) changes nothing.


# Both objects are made per event: filled in place, without the cost of an __init__ frame.
_new_run = _Run.__new__
_new_payload = MiddlewarePayload.__new__


def run_chain(
    middleware: Sequence[Middleware], event: Event, extra: dict[str, Any] | None
) -> Event | Stop:
    """Run ``event`` through the chain (at least one middleware).

    Returns:
        The event that reached the end (a fresh ``Event`` if a middleware passed a plain
        dict), or a ``Stop``: the reason a middleware gave to ``payload.drop``, else
        ``MIDDLEWARE_STOPPED`` when one did not call ``next``. A payload marked with
        ``drop`` stays dropped even if ``next`` was called after it.

    Raises:
        Exception: whatever a middleware raised, unchanged.
    """
    payload = _new_payload(MiddlewarePayload)
    payload.event = event
    payload.extra = extra
    payload._stop = None
    run = _new_run(_Run)
    run._middleware = middleware
    count = run._count = len(middleware)
    run._index = 0
    run.final = None
    run.last = payload
    if not count:
        return event
    middleware[0](payload, run)
    final: Any = run.final  # set by the chain (mypy cannot see the calls change it)
    run._index = count + 1  # a late, asynchronous next() must not count
    last: Any = run.last
    if type(last) is MiddlewarePayload and last._stop is not None:
        return last._stop
    if type(final) is MiddlewarePayload:
        if final._stop is not None:
            return final._stop
        out: Any = final.event
    elif final is None:
        return MIDDLEWARE_STOPPED
    else:
        out = final.get("event")
    if type(out) is Event:
        return out
    return Event(out) if isinstance(out, Mapping) else MIDDLEWARE_STOPPED


def run_middleware(
    middleware: Sequence[Middleware], event: Event, extra: dict[str, Any] | None
) -> Event | None:
    """Run ``event`` through the chain: the event that reached the end, or ``None``.

    The plugin-side form of ``run_chain``: a stop, whatever its reason, is ``None``.
    """
    out = run_chain(middleware, event, extra)
    return out if type(out) is Event else None


Step = Callable[[Any], Optional[Stop]]
"""``step(event)``: a ready-made middleware's work on one event (a dict, changed in place);
a ``Stop`` stops the event, ``None`` passes it on."""

Chain = Tuple[Tuple[Middleware, ...], Optional[Tuple[Step, ...]]]
"""How a client runs its middleware: the chain, and its steps when every one is ready-made."""

#: Each ready-made middleware's steps. A registry, not an attribute: ``functools.wraps``
#: copies a function's attributes, and a user's wrapper must never be taken for its steps.
_STEPS: weakref.WeakKeyDictionary[Any, Tuple[Step, ...]] = weakref.WeakKeyDictionary()


def ready_made(step: Step, name: str) -> Middleware:
    """The ``(payload, next)`` middleware that runs ``step``, named ``name`` in the caller.

    An ordinary middleware anywhere (a chain, ``MiddlewarePlugin``, a plain dict payload),
    which the client may also run without the chain's hops (see ``plan_chain``): a step needs
    no payload, no ``next`` and no ``extra``.
    """
    # Named as the factory's own closure would be (reprs, MiddlewarePlugin's name): looked up
    # once, when the factory runs, never per event.
    factory = sys._getframe(1)
    middleware = _steps_middleware((step,), f"{factory.f_code.co_name}.<locals>.{name}")
    middleware.__module__ = factory.f_globals.get("__name__", __name__)
    return middleware


def _steps_middleware(steps: Tuple[Step, ...], qualname: str) -> Middleware:
    payload_type = MiddlewarePayload
    if len(steps) == 1:
        (step,) = steps

        def middleware(payload: MiddlewarePayload, next: MiddlewareNext) -> None:
            stopped = step(payload.event if type(payload) is payload_type else payload["event"])
            if stopped is None:
                next(payload)
            elif type(payload) is payload_type:
                payload._stop = stopped
            # else a plain dict payload, which has no drop: not calling next stops the event

    else:

        def middleware(payload: MiddlewarePayload, next: MiddlewareNext) -> None:
            event = payload.event if type(payload) is payload_type else payload["event"]
            for step in steps:
                stopped = step(event)
                if stopped is not None:
                    if type(payload) is payload_type:
                        payload._stop = stopped
                    return
            next(payload)

    middleware.__qualname__ = qualname
    middleware.__name__ = qualname.rpartition(".")[2]
    _STEPS[middleware] = steps
    return middleware


def _steps_of(middleware: Any) -> Tuple[Step, ...] | None:
    try:
        return _STEPS.get(middleware)
    except Exception:  # not weakly referenceable, or not hashable: not ready-made
        return None


def plan_chain(middleware: Sequence[Middleware]) -> Chain:
    """How to run ``middleware``: the same chain with each run of consecutive ready-made
    middleware fused into one (a hop of the chain costs about as much as a simple step), and
    the steps alone when every middleware is ready-made (then no payload, ``next`` or
    ``extra`` is made at all). Either way each step sees the event the one before left."""
    chain: list[Middleware] = []
    looked_up = [(item, _steps_of(item)) for item in middleware]
    for ready, group in itertools.groupby(looked_up, key=lambda pair: pair[1] is not None):
        pairs = list(group)
        if ready and len(pairs) > 1:
            steps = tuple(step for _, its_steps in pairs for step in its_steps or ())
            chain.append(_steps_middleware(steps, "ready_made_run"))
        else:
            chain += [item for item, _ in pairs]
    fused = tuple(chain)
    return fused, (_steps_of(fused[0]) if len(fused) == 1 else None)
