"""Unit tests for the legacy middleware runner (the legacy ``MiddlewareRunner``)."""

from __future__ import annotations

import functools
from typing import Any, Callable, List

import pytest

from amplitude_legacy import Event, MiddlewareNext, MiddlewarePayload
from amplitude_legacy._middleware import (
    MIDDLEWARE_STOPPED,
    Stop,
    plan_chain,
    ready_made,
    run_chain,
    run_middleware,
)


def make_event(**fields: Any) -> Event:
    return Event({"event_type": "e", "user_id": "u", **fields})


def passthrough(payload: MiddlewarePayload, next: MiddlewareNext) -> None:
    next(payload)


def test_no_middleware_returns_original_event() -> None:
    """With no middleware the original event object comes out unchanged."""
    event = make_event()
    assert run_middleware([], event, None) is event
    assert event == {"event_type": "e", "user_id": "u"}


def test_single_passthrough_returns_original_event() -> None:
    """One pass-through middleware lets the same event object through."""
    event = make_event()
    assert run_middleware([passthrough], event, None) is event


def test_middleware_runs_in_order_added() -> None:
    """Middleware runs in the order it was added (FIFO)."""
    calls: List[str] = []

    def named(name: str) -> Callable[[MiddlewarePayload, MiddlewareNext], None]:
        def mw(payload: MiddlewarePayload, next: MiddlewareNext) -> None:
            calls.append(name)
            next(payload)

        return mw

    run_middleware([named("a"), named("b"), named("c")], make_event(), None)
    assert calls == ["a", "b", "c"]


def test_each_receives_what_previous_passed() -> None:
    """Each middleware receives exactly the payload the previous one passed to next."""
    seen: List[Any] = []
    replacement = MiddlewarePayload(make_event(user_id="other"), {"from": "first"})

    def first(payload: MiddlewarePayload, next: MiddlewareNext) -> None:
        next(replacement)

    def second(payload: MiddlewarePayload, next: MiddlewareNext) -> None:
        seen.append(payload)
        next(payload)

    out = run_middleware([first, second], make_event(), {"from": "caller"})
    assert seen == [replacement]
    assert out is replacement.event
    assert out is not None
    assert out.user_id == "other"


def test_in_place_change_reaches_the_end() -> None:
    """A change made to payload.event in place is in the returned event."""

    def add_prop(payload: MiddlewarePayload, next: MiddlewareNext) -> None:
        payload.event.event_properties = {"added": True}
        next(payload)

    event = make_event()
    out = run_middleware([add_prop], event, None)
    assert out is event
    assert event["event_properties"] == {"added": True}


def test_extra_is_passed_by_reference() -> None:
    """payload.extra is the caller's object itself, and None when omitted."""
    extra: dict[str, Any] = {"route": "/home"}
    seen: List[Any] = []

    def record(payload: MiddlewarePayload, next: MiddlewareNext) -> None:
        seen.append(payload.extra)
        next(payload)

    run_middleware([record], make_event(), extra)
    run_middleware([record], make_event(), None)
    assert seen[0] is extra
    assert seen[1] is None


def test_not_calling_next_stops_the_event() -> None:
    """A middleware that does not call next makes the run return None."""
    later_called: List[bool] = []

    def block(payload: MiddlewarePayload, next: MiddlewareNext) -> None:
        return None

    def later(payload: MiddlewarePayload, next: MiddlewareNext) -> None:
        later_called.append(True)
        next(payload)

    assert run_middleware([passthrough, block, later], make_event(), None) is None
    assert later_called == []


def test_next_called_twice_yields_one_event() -> None:
    """Calling next twice still yields a single event, and later middleware runs once."""
    counts = {"second": 0}

    def twice(payload: MiddlewarePayload, next: MiddlewareNext) -> None:
        next(payload)
        next(payload)

    def second(payload: MiddlewarePayload, next: MiddlewareNext) -> None:
        counts["second"] += 1
        next(payload)

    event = make_event()
    assert run_middleware([twice, second], event, None) is event
    assert counts["second"] == 1


def test_exception_propagates_unchanged() -> None:
    """An exception raised by a middleware propagates to the caller as is."""
    error = RuntimeError("boom")

    def explode(payload: MiddlewarePayload, next: MiddlewareNext) -> None:
        raise error

    with pytest.raises(RuntimeError) as info:
        run_middleware([passthrough, explode], make_event(), None)
    assert info.value is error


def test_exception_after_next_still_propagates() -> None:
    """An exception raised after calling next still propagates."""

    def next_then_raise(payload: MiddlewarePayload, next: MiddlewareNext) -> None:
        next(payload)
        raise ValueError("after")

    with pytest.raises(ValueError, match="after"):
        run_middleware([next_then_raise], make_event(), None)


def test_late_next_has_no_effect() -> None:
    """A next() called after the run returned does nothing (middleware is synchronous)."""
    saved: List[Callable[[Any], None]] = []
    downstream: List[bool] = []

    def defer(payload: MiddlewarePayload, next: MiddlewareNext) -> None:
        saved.append(lambda p: next(p))

    def after(payload: MiddlewarePayload, next: MiddlewareNext) -> None:
        downstream.append(True)
        next(payload)

    event = make_event()
    assert run_middleware([defer, after], event, None) is None
    saved[0](MiddlewarePayload(event, None))
    saved[0](MiddlewarePayload(event, None))
    assert downstream == []


def test_ten_middlewares_increment_count() -> None:
    """Ten middlewares each increment extra['count']; the count reaches 10 in order."""
    order: List[int] = []

    def counter(index: int) -> Callable[[MiddlewarePayload, MiddlewareNext], None]:
        def mw(payload: MiddlewarePayload, next: MiddlewareNext) -> None:
            assert payload.extra is not None
            payload.extra["count"] += 1
            order.append(index)
            next(payload)

        return mw

    extra = {"count": 0}
    event = make_event()
    assert run_middleware([counter(i) for i in range(10)], event, extra) is event
    assert extra["count"] == 10
    assert order == list(range(10))


def test_plain_dict_payload_yields_event() -> None:
    """Passing a plain dict {'event': {...}} to next works and yields a fresh Event."""
    seen: List[Any] = []

    def to_dict(payload: MiddlewarePayload, next: MiddlewareNext) -> None:
        next({"event": {"event_type": "new", "device_id": "d"}})  # type: ignore[arg-type]

    def read(payload: Any, next: MiddlewareNext) -> None:
        seen.append(payload["event"]["event_type"])
        next(payload)

    out = run_middleware([to_dict, read], make_event(), None)
    assert type(out) is Event
    assert out == {"event_type": "new", "device_id": "d"}
    assert seen == ["new"]


def test_plain_dict_payload_with_event_keeps_object() -> None:
    """A plain dict payload holding an Event yields that same Event."""
    replacement = make_event(user_id="r")

    def to_dict(payload: MiddlewarePayload, next: MiddlewareNext) -> None:
        next({"event": replacement, "extra": payload.extra})  # type: ignore[arg-type]

    assert run_middleware([to_dict], make_event(), None) is replacement


def test_replacing_event_with_plain_dict_yields_event() -> None:
    """Setting payload.event to a plain dict yields an Event built from it."""

    def replace(payload: MiddlewarePayload, next: MiddlewareNext) -> None:
        payload.event = {"event_type": "x", "user_id": "y"}  # type: ignore[assignment]
        next(payload)

    out = run_middleware([replace], make_event(), None)
    assert type(out) is Event
    assert out == {"event_type": "x", "user_id": "y"}


@pytest.mark.parametrize("payload", [{}, {"event": None}, {"event": "not a mapping"}])
def test_payload_without_event_mapping_yields_none(payload: dict[str, Any]) -> None:
    """A final payload with no event mapping yields None (nothing to send)."""

    def send(p: MiddlewarePayload, next: MiddlewareNext) -> None:
        next(payload)  # type: ignore[arg-type]

    assert run_middleware([send], make_event(), None) is None


def test_payload_item_access() -> None:
    """payload['event'] and payload['extra'] read like the legacy JS object."""
    event = make_event()
    extra = {"k": 1}
    payload = MiddlewarePayload(event, extra)
    assert payload["event"] is event
    assert payload["extra"] is extra
    assert payload.event is event


def test_payload_unknown_item_raises_key_error() -> None:
    """payload[<other key>] raises KeyError."""
    with pytest.raises(KeyError):
        MiddlewarePayload(make_event())["user_id"]


def test_payload_attributes_are_assignable() -> None:
    """payload.event and payload.extra can be replaced; other attributes cannot be added."""
    payload = MiddlewarePayload(make_event())
    payload.extra = {"a": 1}
    assert payload.extra == {"a": 1}
    with pytest.raises(AttributeError):
        payload.other = 1  # type: ignore[attr-defined]


def test_middleware_reads_event_by_item_inside_chain() -> None:
    """Inside a middleware, payload['event']['user_id'] reads the event."""
    seen: List[Any] = []

    def read(payload: MiddlewarePayload, next: MiddlewareNext) -> None:
        seen.append(payload["event"]["user_id"])
        seen.append(payload.event.user_id)
        next(payload)

    run_middleware([read], make_event(user_id="abc"), None)
    assert seen == ["abc", "abc"]


# ---------------------------------------------------------------- ready-made steps, fused


def _tagging(tag: str, log: List[str], stop_type: str | None = None) -> Any:
    """A ready-made middleware whose step records ``tag``, and stops ``stop_type`` events."""
    stopped = Stop(f"stopped_by_{tag}")

    def step(event: Any) -> Stop | None:
        log.append(tag)
        return stopped if event.get("event_type") == stop_type else None

    return ready_made(step, f"tag_{tag}")


def test_plan_of_no_middleware() -> None:
    assert plan_chain(()) == ((), None)


def test_ready_made_only_runs_as_steps_in_order() -> None:
    """Every middleware ready-made: one fused middleware, and its steps in registration order."""
    log: List[str] = []
    chain, steps = plan_chain([_tagging("a", log), _tagging("b", log), _tagging("c", log)])
    assert len(chain) == 1 and steps is not None and len(steps) == 3
    for step in steps:
        assert step(make_event()) is None
    assert log == ["a", "b", "c"]
    assert run_chain(chain, make_event(), None) == make_event()
    assert log == ["a", "b", "c"] * 2


def test_runs_between_user_middleware_are_fused_and_keep_their_place() -> None:
    """[r1, r2, user, r3]: r1+r2 become one middleware, the user's and a lone r3 stay as they
    are; the order of everything is kept, and no steps are offered (a user middleware runs)."""
    log: List[str] = []

    def user(payload: MiddlewarePayload, next: MiddlewareNext) -> None:
        log.append("user")
        next(payload)

    r3 = _tagging("r3", log)
    chain, steps = plan_chain([_tagging("r1", log), _tagging("r2", log), user, r3])
    assert steps is None
    assert len(chain) == 3 and chain[1] is user and chain[2] is r3
    assert run_chain(chain, make_event(), None) == make_event()
    assert log == ["r1", "r2", "user", "r3"]


def test_a_step_stop_ends_the_fused_run_with_its_reason() -> None:
    """A step that stops the event: the later steps and the rest of the chain do not run."""
    log: List[str] = []
    chain, _ = plan_chain(
        [_tagging("a", log, stop_type="e"), _tagging("b", log), lambda p, n: log.append("user")]
    )
    outcome = run_chain(chain, make_event(), None)
    assert isinstance(outcome, Stop) and outcome.reason == "stopped_by_a"
    assert log == ["a"]


def test_a_stopping_step_with_a_plain_dict_payload_stops_the_event() -> None:
    """A plain dict payload has no drop: the event stops as ``middleware_stopped``."""
    log: List[str] = []
    chain, _ = plan_chain([_tagging("a", log, stop_type="e"), _tagging("b", log)])

    def as_dict(payload: MiddlewarePayload, next: MiddlewareNext) -> None:
        next({"event": payload.event})  # type: ignore[arg-type]

    assert run_chain((as_dict, *chain), make_event(), None) is MIDDLEWARE_STOPPED
    assert log == ["a"]


def test_a_users_wrapper_of_a_ready_made_middleware_is_not_taken_for_it() -> None:
    """functools.wraps copies a function's attributes: the wrapper's own code must still run."""
    log: List[str] = []
    inner = _tagging("inner", log)

    @functools.wraps(inner)
    def wrapper(payload: MiddlewarePayload, next: MiddlewareNext) -> None:
        log.append("wrapper")
        inner(payload, next)

    chain, steps = plan_chain([wrapper])
    assert steps is None and chain == (wrapper,)
    run_chain(chain, make_event(), None)
    assert log == ["wrapper", "inner"]


def test_a_callable_that_cannot_be_weakly_referenced_is_a_plain_middleware() -> None:
    class Slotted:
        __slots__ = ()

        def __call__(self, payload: MiddlewarePayload, next: MiddlewareNext) -> None:
            next(payload)

    middleware = Slotted()
    assert plan_chain([middleware]) == ((middleware,), None)


def test_an_unhashable_callable_is_a_plain_middleware() -> None:
    class Unhashable:
        __hash__ = None  # type: ignore[assignment]

        def __call__(self, payload: MiddlewarePayload, next: MiddlewareNext) -> None:
            next(payload)

    middleware = Unhashable()
    assert plan_chain([middleware]) == ((middleware,), None)


def test_a_ready_made_middleware_is_named_as_its_factorys_closure() -> None:
    """Reprs and MiddlewarePlugin's name read as they did when factories wrote closures."""

    def drop_everything() -> Any:
        return ready_made(lambda event: Stop("all"), "drop_everything_middleware")

    middleware = drop_everything()
    assert middleware.__qualname__ == "drop_everything.<locals>.drop_everything_middleware"
    assert middleware.__name__ == "drop_everything_middleware"
    assert middleware.__module__ == __name__
