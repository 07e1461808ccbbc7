"""The scheduler: what the worker does next, as a pure function of a view and the clock."""

from __future__ import annotations

import pytest

from amplitude_legacy._scheduler import Step, View, next_step

INF = float("inf")
NOW = 1000.0


def view(**fields: object) -> View:
    return View(now=NOW, **fields)  # type: ignore[arg-type]


def test_idle_waits_without_a_timer() -> None:
    """Nothing queued, nothing due: wait until woken."""
    assert next_step(view()) == (Step.WAIT, None)


def test_stop_comes_first() -> None:
    """Shutdown wins over answers, due retries and due events."""
    busy = view(closing=True, answered=3, retry_due=NOW - 1, queued=5, window=NOW, ready=2)
    assert next_step(busy) == (Step.STOP, None)


def test_answers_are_applied_before_anything_is_sent() -> None:
    """An answer frees a slot and resolves futures: it goes before submitting or filling."""
    assert next_step(view(answered=1, ready=1, queued=5, window=NOW)) == (Step.APPLY, None)


def test_due_retries_are_promoted() -> None:
    """A retry whose time has come joins the ready batches."""
    assert next_step(view(retry_due=NOW)) == (Step.PROMOTE, None)


def test_a_retry_in_the_future_is_a_timer() -> None:
    """A backoff in progress: sleep until its time (the fake clock never moves by itself)."""
    assert next_step(view(retry_due=NOW + 0.4)) == (Step.WAIT, NOW + 0.4)


def test_ready_batches_go_out_while_slots_are_free() -> None:
    """SUBMIT while fewer than max_in_flight requests are on the wire."""
    assert next_step(view(ready=1, in_flight=3, max_in_flight=4)) == (Step.SUBMIT, None)
    assert next_step(view(ready=1, in_flight=4, max_in_flight=4)) == (Step.WAIT, None)


def test_one_batch_is_prepared_ahead_of_a_free_slot() -> None:
    """With every slot busy, one more full batch may be encoded; a second one may not."""
    due = {"queued": 2000, "window": NOW, "in_flight": 4, "max_in_flight": 4}
    assert next_step(view(**due, ready=0)) == (Step.FILL, None)
    assert next_step(view(**due, ready=1)) == (Step.WAIT, None)  # no spin on the passed window


def test_a_partial_batch_waits_for_requests_on_the_wire() -> None:
    """Requests in flight: a partial batch waits (it grows) unless it is full or flushed."""
    partial = {"queued": 10, "window": NOW, "max_in_flight": 4}
    assert next_step(view(**partial, in_flight=0)) == (Step.FILL, None)
    assert next_step(view(**partial, in_flight=1)) == (Step.WAIT, None)
    assert next_step(view(**partial, in_flight=1, flushing=True)) == (Step.FILL, None)
    assert next_step(view(**{**partial, "queued": 2000}, in_flight=1)) == (Step.FILL, None)


def test_a_whole_request_waits_for_the_interval_when_idle() -> None:
    """Nothing on the wire: the legacy rules hold (interval, maxCachedEvents, flush)."""
    waiting = {"queued": 2000, "window": NOW + 10}
    assert next_step(view(**waiting)) == (Step.WAIT, NOW + 10)
    assert next_step(view(**waiting, full=True)) == (Step.FILL, None)


def test_sequential_strategies_prepare_nothing_ahead() -> None:
    """ahead=0 (OfflineRetryHandler): the next batch is filled only after the answer."""
    due = {"queued": 10, "window": NOW, "max_in_flight": 1, "ahead": 0}
    assert next_step(view(**due, in_flight=1)) == (Step.WAIT, None)
    assert next_step(view(**due, in_flight=0)) == (Step.FILL, None)


@pytest.mark.parametrize(
    "fields",
    [
        {"window": NOW},  # the upload interval has passed
        {"window": NOW + 60, "flushing": True},  # a flush waits
        {"window": NOW + 60, "full": True},  # maxCachedEvents are queued
    ],
)
def test_queued_events_become_due(fields: dict[str, object]) -> None:
    """Queued events are filled when the interval passed, a flush waits, or the cache is full."""
    assert next_step(view(queued=3, **fields)) == (Step.FILL, None)


def test_the_interval_is_a_timer_until_it_passes() -> None:
    """Queued events within their interval: wait until the window closes."""
    assert next_step(view(queued=3, window=NOW + 10)) == (Step.WAIT, NOW + 10)


def test_earliest_timer_wins() -> None:
    """The wait ends at the earliest of the interval, a retry and the deadline."""
    step = view(queued=3, window=NOW + 10, retry_due=NOW + 2, deadline=NOW + 5)
    assert next_step(step) == (Step.WAIT, NOW + 2)


def test_nothing_starts_after_the_deadline() -> None:
    """At or after shutdown's deadline: no SUBMIT, no FILL; answers are still applied."""
    late = {"deadline": NOW, "ready": 2, "queued": 5, "window": NOW, "flushing": True}
    assert next_step(view(**late)) == (Step.WAIT, None)
    assert next_step(view(**late, answered=1)) == (Step.APPLY, None)


def test_the_spool_is_read_when_due_and_no_retry_waits() -> None:
    """POLL_SPOOL when its time has come, unless a retry is waiting (it would fail too)."""
    assert next_step(view(spool_due=NOW)) == (Step.POLL_SPOOL, None)
    assert next_step(view(spool_due=NOW, retry_due=NOW + 1)) == (Step.WAIT, NOW + 1)
    assert next_step(view(spool_due=NOW + 60)) == (Step.WAIT, NOW + 60)


def test_spool_and_new_events_take_turns() -> None:
    """Both due: the spool goes first unless the last batch came from it."""
    both = {"spool_due": NOW, "queued": 5, "window": NOW}
    assert next_step(view(**both, spool_turn=False)) == (Step.POLL_SPOOL, None)
    assert next_step(view(**both, spool_turn=True)) == (Step.FILL, None)


def test_a_spool_backlog_leaves_slots_for_new_events() -> None:
    """Spool batches hold at most half of the slots (at least one)."""
    assert next_step(view(spool_due=NOW, max_in_flight=4, spool_batches=1))[0] is Step.POLL_SPOOL
    assert next_step(view(spool_due=NOW, max_in_flight=4, spool_batches=2)) == (Step.WAIT, None)
    assert next_step(view(spool_due=NOW, max_in_flight=1, spool_batches=1)) == (Step.WAIT, None)
    # a single new event does not wait behind the backlog's requests
    backlog = {"in_flight": 2, "spool_batches": 2, "max_in_flight": 4, "queued": 1, "window": NOW}
    assert next_step(view(**backlog, spool_turn=True)) == (Step.FILL, None)


def test_a_fake_clock_walks_a_backoff() -> None:
    """Driving the clock: wait until the retry, then promote, then submit."""
    clock = NOW
    state = {"retry_due": NOW + 0.2}
    assert next_step(View(now=clock, **state)) == (Step.WAIT, NOW + 0.2)  # type: ignore[arg-type]
    clock += 0.2
    assert next_step(View(now=clock, **state))[0] is Step.PROMOTE  # type: ignore[arg-type]
    assert next_step(View(now=clock, ready=1))[0] is Step.SUBMIT
