"""The ledger's transitions, driven by hand with a fake clock (no threads, no I/O)."""

from __future__ import annotations

from typing import Any, List, Sequence, Tuple

import pytest

from amplitude_legacy._event import Event
from amplitude_legacy._future import EventFuture
from amplitude_legacy._ledger import Item, Ledger, State
from amplitude_legacy._response import Response, Status
from amplitude_legacy._retry import Action, Decision
from amplitude_legacy._scheduler import Step, next_step

OK = Response(Status.SUCCESS, 200)


class Recorder:
    """Outcomes that remember what they were told."""

    spool_due = float("inf")

    def __init__(self) -> None:
        self.seen: List[Tuple[str, List[str], str]] = []

    def delivered(self, items: Sequence[Item], response: Response) -> None:
        self.seen.append(("delivered", [i.event["event_type"] for i in items], ""))

    def dropped(self, items: Sequence[Item], reason: str, response: Any, detail: Any) -> None:
        self.seen.append(("dropped", [i.event["event_type"] for i in items], reason))

    def unknown(self, items: Sequence[Item], detail: str) -> None:
        self.seen.append(("unknown", [i.event["event_type"] for i in items], ""))


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def make(**kwargs: Any) -> Tuple[Ledger, Recorder, Clock]:
    recorder, clock = Recorder(), Clock()
    options = {"max_cached": 100, "max_queue": 1000, "interval": 0.0, "max_in_flight": 2,
               "ahead": 1, "max_held": 100, **kwargs}  # fmt: skip
    return Ledger(recorder, clock=clock, **options), recorder, clock


def log(ledger: Ledger, *names: str) -> List[EventFuture]:
    futures = []
    for name in names:
        future = EventFuture()
        assert ledger.append(Event(event_type=name, user_id="user-1"), future)
        futures.append(future)
    return futures


def fill(ledger: Ledger) -> None:
    """What the worker does for FILL: encode what was staged, cut a batch."""
    for item in ledger.stage(2000):
        item.data = b"{}"
    ledger.cut(2000, 1_000_000, 20, [])


def answer(ledger: Ledger, decision: Decision, response: Response, hold: bool = False) -> None:
    """What an I/O thread and then the worker do: hand the answer over, then apply it."""
    batch = ledger.submit()
    ledger.answered(batch, "answer")
    applied, _ = ledger.next_answer()
    assert applied is batch
    ledger.apply(batch, decision, response, transient, hold)


def transient(retries: int, retry_after: float | None) -> float | None:
    return [0.1, 0.2][retries] if retries < 2 else None


def states(ledger: Ledger) -> dict[State, int]:
    return {state: n for state, n in ledger.counts().items() if n}


def test_an_event_moves_through_each_state_once() -> None:
    """QUEUED -> BATCHED -> ON_WIRE -> delivered, one state at a time, counted exactly."""
    ledger, recorder, _ = make()
    log(ledger, "a", "b")
    assert states(ledger) == {State.QUEUED: 2}
    assert next_step(ledger.view())[0] is Step.FILL
    fill(ledger)
    assert states(ledger) == {State.BATCHED: 2}
    assert next_step(ledger.view())[0] is Step.SUBMIT
    batch = ledger.submit()
    assert states(ledger) == {State.ON_WIRE: 2}
    ledger.answered(batch, "answer")
    assert next_step(ledger.view())[0] is Step.APPLY
    assert ledger.next_answer() == (batch, "answer")
    assert states(ledger) == {State.ON_WIRE: 2}
    ledger.apply(batch, Decision(Action.DELIVERED, Status.SUCCESS, 200), OK, transient, False)
    assert recorder.seen == [("delivered", ["a", "b"], "")]
    assert ledger.view().answered == 0
    assert states(ledger) == {} and ledger.outstanding() == 0


def test_a_400_drops_the_listed_and_resends_the_rest_first() -> None:
    """DROP_LISTED: listed events leave as invalid, the others go back to the front."""
    ledger, recorder, _ = make()
    log(ledger, "a", "b", "c")
    fill(ledger)
    decision = Decision(Action.DROP_LISTED, Status.INVALID, 400, drop_indices=frozenset({1}))
    answer(ledger, decision, Response(Status.INVALID, 400))
    assert recorder.seen == [("dropped", ["b"], "invalid")]
    assert states(ledger) == {State.BATCHED: 2}
    resent = ledger.submit()
    assert [i.event["event_type"] for i in resent.items] == ["a", "c"]


def test_a_413_splits_into_two_halves_in_order() -> None:
    """SPLIT: the first half goes out first, then the second."""
    ledger, _, _ = make()
    log(ledger, "a", "b", "c", "d")
    fill(ledger)
    too_large = Response(Status.PAYLOAD_TOO_LARGE, 413)
    answer(ledger, Decision(Action.SPLIT, Status.PAYLOAD_TOO_LARGE, 413), too_large)
    halves = [[i.event["event_type"] for i in ledger.submit().items] for _ in range(2)]
    assert halves == [["a", "b"], ["c", "d"]]


def test_a_429_drops_quota_holds_throttled_and_resends_the_rest() -> None:
    """THROTTLE: quota users dropped, throttled users wait on the schedule, others go now."""
    ledger, recorder, clock = make()
    log(ledger, "quota", "hot", "calm")
    fill(ledger)
    decision = Decision(Action.THROTTLE, Status.RATE_LIMIT, 429, reason="rate_limited_quota",
                        drop_indices=frozenset({0}), hold_indices=frozenset({1}))  # fmt: skip
    answer(ledger, decision, Response(Status.RATE_LIMIT, 429))
    assert recorder.seen == [("dropped", ["quota"], "rate_limited_quota")]
    assert states(ledger) == {State.RETRY_WAIT: 1, State.BATCHED: 1}
    view = ledger.view()
    assert view.retry_due == pytest.approx(clock.now + 0.1)
    clock.now += 0.1
    assert next_step(ledger.view())[0] is Step.PROMOTE
    ledger.promote_due()
    assert states(ledger) == {State.BATCHED: 2}


def test_backoff_follows_the_schedule_then_drops() -> None:
    """BACKOFF: retried after each delay, then retries_exhausted; retries are counted on it."""
    ledger, recorder, clock = make()
    log(ledger, "a")
    fill(ledger)
    failure = Decision(Action.BACKOFF, Status.FAILED, 503)
    for _ in range(2):
        assert ledger.view().ready == 1
        answer(ledger, failure, Response(Status.FAILED, 503))
        assert states(ledger) == {State.RETRY_WAIT: 1}
        clock.now += 1
        ledger.promote_due()
    answer(ledger, failure, Response(Status.FAILED, 503))
    assert recorder.seen == [("dropped", ["a"], "retries_exhausted")]


def test_held_events_ride_with_the_next_send_and_do_not_block_a_flush() -> None:
    """hold: failed events wait in HELD, go first in the next batch; a flush sends them once."""
    ledger, _, _ = make(max_in_flight=1, ahead=0)
    log(ledger, "a")
    fill(ledger)
    failure = Decision(Action.BACKOFF, Status.FAILED, 503)
    answer(ledger, failure, Response(Status.FAILED, 503), True)
    assert states(ledger) == {State.HELD: 1}
    request = ledger.request_flush()  # sends the held event once...
    assert request is not None and states(ledger) == {State.BATCHED: 1}
    fill(ledger)
    answer(ledger, failure, Response(Status.FAILED, 503), True)
    assert request.done.is_set() and states(ledger) == {State.HELD: 1}  # ...then lets go
    log(ledger, "b")
    fill(ledger)
    assert [i.event["event_type"] for i in ledger.submit().items] == ["a", "b"]


def test_a_flush_completes_when_everything_before_it_is_resolved() -> None:
    """The flush watermark: events logged after the flush do not hold it back."""
    ledger, _, _ = make()
    log(ledger, "a")
    request = ledger.request_flush()
    assert request is not None and not request.done.is_set()
    log(ledger, "later")
    fill(ledger)
    answer(ledger, Decision(Action.DELIVERED, Status.SUCCESS, 200), OK)
    assert request.done.is_set()
    assert ledger.request_flush() is None  # nothing left: a flush returns at once


def test_a_flush_cuts_each_backoff_short_once() -> None:
    """A flush makes waiting retries due now, but only once per batch."""
    ledger, _, clock = make()
    log(ledger, "a")
    fill(ledger)
    failure = Decision(Action.BACKOFF, Status.FAILED, 503)
    answer(ledger, failure, Response(Status.FAILED, 503))
    assert ledger.request_flush() is not None
    assert ledger.next_step() is Step.PROMOTE  # cut short: due now
    ledger.promote_due()
    answer(ledger, failure, Response(Status.FAILED, 503))
    assert ledger.view().retry_due == pytest.approx(clock.now + 0.2)  # not again


def test_drain_reports_on_wire_as_unknown_and_the_rest_as_shutdown_timeout() -> None:
    """Stop: a request with no answer is unknown (maybe delivered); the rest timed out."""
    ledger, recorder, _ = make()
    log(ledger, "on-wire")
    fill(ledger)
    ledger.submit()
    log(ledger, "queued")
    ledger.drain("shutdown ran out of time")
    assert recorder.seen == [("unknown", ["on-wire"], ""),
                             ("dropped", ["queued"], "shutdown_timeout")]  # fmt: skip
    assert ledger.closed and ledger.outstanding() == 0


def test_an_event_appended_after_the_drain_is_reaped() -> None:
    """The stop race: an append that lands after the final drain resolves client_closed."""
    ledger, recorder, _ = make()
    ledger.drain("bye")
    log(ledger, "late")
    assert recorder.seen == [("dropped", ["late"], "client_closed")]
    assert ledger.outstanding() == 0


def test_a_full_intake_refuses_events() -> None:
    """maxQueueSize: append returns False and keeps nothing."""
    ledger, _, _ = make(max_queue=1)
    log(ledger, "a")
    assert not ledger.append(Event(event_type="b", user_id="user-1"), EventFuture())
    assert ledger.outstanding() == 0 + 1


def test_an_answer_after_the_drain_is_ignored() -> None:
    """A late answer for a batch already reported as unknown changes nothing."""
    ledger, recorder, _ = make()
    log(ledger, "a")
    fill(ledger)
    batch = ledger.submit()
    ledger.drain("bye")
    ledger.answered(batch, "late")
    assert ledger.view().answered == 0 and len(recorder.seen) == 1


def test_abandon_takes_events_from_wherever_they_are() -> None:
    """The worker's last resort drops events from any container, counted once."""
    ledger, recorder, _ = make()
    log(ledger, "a", "b")
    fill(ledger)
    batch = ledger.submit()
    ledger.abandon(batch.items[:1], "internal_error", "boom")
    assert recorder.seen == [("dropped", ["a"], "internal_error")]
    assert states(ledger) == {State.ON_WIRE: 1}
    ledger.answered(batch, "answer")
    ledger.abandon(batch.items, "internal_error", "boom")
    assert states(ledger) == {} and ledger.view().answered == 0
