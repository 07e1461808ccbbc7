"""Unit tests for ``EventFuture``: a lazy but complete ``concurrent.futures.Future``."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from typing import Callable, Iterator, List

import pytest

from amplitude_legacy import EventFuture, Response, Status
from amplitude_legacy._future import resolved

OK = Response(Status.SUCCESS, 200, {"code": 200, "events_ingested": 1})
FAILED = Response(Status.FAILED, 500)


class Resolver:
    """A thread that resolves futures once ``go`` is set (no sleeps)."""

    def __init__(self, *pairs: tuple[EventFuture, Response]) -> None:
        self.go = threading.Event()
        self._pairs = pairs
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        self.go.wait(10)
        for future, response in self._pairs:
            future._resolve(response)


@pytest.fixture
def joins() -> Iterator[List[Resolver]]:
    """Resolvers to release and join at the end of a test."""
    resolvers: List[Resolver] = []
    yield resolvers
    for resolver in resolvers:
        resolver.go.set()
        resolver.thread.join(10)


def test_is_a_concurrent_future() -> None:
    """EventFuture is a concurrent.futures.Future."""
    assert isinstance(EventFuture(), concurrent.futures.Future)


def test_pending_state() -> None:
    """A new future is pending: not done, not running, not cancelled."""
    f = EventFuture()
    assert not f.done()
    assert not f.running()
    assert not f.cancelled()
    assert "pending" in repr(f)


def test_result_times_out_while_pending() -> None:
    """result(timeout=0) on a pending future raises TimeoutError."""
    with pytest.raises(concurrent.futures.TimeoutError):
        EventFuture().result(timeout=0)


def test_resolve_without_waiters() -> None:
    """Resolving a future nobody waits on makes it done with the response."""
    f = EventFuture()
    f._resolve(OK)
    assert f.done()
    assert f.result() is OK
    assert f.result(timeout=0) is OK
    assert f.exception() is None
    assert "done" in repr(f)
    assert "success" in repr(f)


def test_resolve_creates_no_condition_when_nobody_waits() -> None:
    """The cheap path: resolving with no waiter never builds a Condition."""
    f = EventFuture()
    f._resolve(OK)
    assert "_cond" not in f.__dict__


def test_asking_a_resolved_future_builds_no_condition() -> None:
    """done(), result() and exception() of a resolved future answer without the Condition."""
    f = EventFuture()
    assert not f.done()
    f._resolve(OK)
    assert f.done() and f.result() is OK and f.result(timeout=0) is OK and f.exception() is None
    assert "_cond" not in f.__dict__


def test_a_future_holding_an_exception_raises_it_from_result() -> None:
    """A middleware's exception (set with set_exception) comes out of result(), even resolved."""
    f = EventFuture()
    error = ValueError("a middleware raised")
    f.set_exception(error)
    assert f.done() and f.exception() is error and f.exception(timeout=0) is error
    with pytest.raises(ValueError, match="a middleware raised"):
        f.result(timeout=0)


def test_resolve_after_waiter_created() -> None:
    """Resolving after a waiter touched the future still completes it."""
    f = EventFuture()
    with pytest.raises(concurrent.futures.TimeoutError):
        f.result(timeout=0)
    f._resolve(FAILED)
    assert f.done()
    assert f.result(timeout=0) is FAILED


def test_callback_before_resolution() -> None:
    """A callback added while pending is called once, with the future, on resolution."""
    f = EventFuture()
    calls: List[concurrent.futures.Future[Response]] = []
    f.add_done_callback(calls.append)
    assert calls == []
    f._resolve(OK)
    assert calls == [f]


def test_callback_after_resolution() -> None:
    """A callback added after resolution is called at once."""
    f = EventFuture()
    f._resolve(OK)
    results: List[Response] = []
    f.add_done_callback(lambda fut: results.append(fut.result()))
    assert results == [OK]


def test_several_callbacks_in_order() -> None:
    """Callbacks run in the order added."""
    f = EventFuture()
    order: List[int] = []

    def recorder(index: int) -> Callable[[object], None]:
        return lambda _: order.append(index)

    for i in range(3):
        f.add_done_callback(recorder(i))
    f._resolve(OK)
    assert order == [0, 1, 2]


def test_cancel_is_false() -> None:
    """cancel() returns False, before and after resolution; the future is never cancelled."""
    f = EventFuture()
    assert f.cancel() is False
    assert not f.cancelled()
    f._resolve(OK)
    assert f.cancel() is False
    assert f.result() is OK


def test_result_blocks_until_thread_resolves(joins: List[Resolver]) -> None:
    """result(timeout) returns once another thread resolves the future."""
    f = EventFuture()
    resolver = Resolver((f, OK))
    joins.append(resolver)
    resolver.go.set()
    assert f.result(timeout=10) is OK


def test_concurrent_wait(joins: List[Resolver]) -> None:
    """concurrent.futures.wait returns every future once a thread resolves them."""
    a, b, done_already = EventFuture(), EventFuture(), resolved(OK)
    resolver = Resolver((a, OK), (b, FAILED))
    joins.append(resolver)
    first = concurrent.futures.wait(
        [a, b, done_already], timeout=10, return_when=concurrent.futures.FIRST_COMPLETED
    )
    assert done_already in first.done
    resolver.go.set()
    result = concurrent.futures.wait([a, b, done_already], timeout=10)
    assert result.not_done == set()
    assert result.done == {a, b, done_already}
    assert (a.result(), b.result()) == (OK, FAILED)


def test_concurrent_wait_times_out_while_pending() -> None:
    """concurrent.futures.wait reports a pending future as not done on timeout."""
    f = EventFuture()
    result = concurrent.futures.wait([f], timeout=0)
    assert result.not_done == {f}
    f._resolve(OK)
    assert concurrent.futures.wait([f], timeout=0).done == {f}


def test_as_completed(joins: List[Resolver]) -> None:
    """concurrent.futures.as_completed yields every future as a thread resolves them."""
    pending = [EventFuture() for _ in range(3)]
    futures: List[concurrent.futures.Future[Response]] = list(pending)
    resolver = Resolver(*((f, OK) for f in pending))
    joins.append(resolver)
    resolver.go.set()
    seen = list(concurrent.futures.as_completed(futures, timeout=10))
    assert sorted(map(id, seen)) == sorted(map(id, futures))
    assert all(f.result() is OK for f in seen)


def test_await_resolved_by_thread() -> None:
    """`await future` returns the response a thread resolves it with."""

    async def main() -> Response:
        f = EventFuture()
        resolver = Resolver((f, OK))
        resolver.go.set()
        try:
            return await f
        finally:
            resolver.thread.join(10)

    assert asyncio.run(main()) is OK


def test_await_already_resolved() -> None:
    """Awaiting an already resolved future returns at once."""

    async def main() -> Response:
        return await resolved(FAILED)

    assert asyncio.run(main()) is FAILED


def test_wait_async_returns_asyncio_future() -> None:
    """wait_async() gives an asyncio.Future bound to the running loop."""

    async def main() -> Response:
        f = EventFuture()
        wrapped = f.wait_async()
        assert isinstance(wrapped, asyncio.Future)
        assert wrapped.get_loop() is asyncio.get_running_loop()
        resolver = Resolver((f, OK))
        resolver.go.set()
        try:
            return await asyncio.wait_for(wrapped, 10)
        finally:
            resolver.thread.join(10)

    assert asyncio.run(main()) is OK


def test_asyncio_gather_many() -> None:
    """Many futures can be gathered in asyncio."""

    async def main() -> List[Response]:
        futures = [EventFuture() for _ in range(5)]
        resolver = Resolver(*((f, OK) for f in futures))
        resolver.go.set()
        try:
            return list(await asyncio.gather(*futures))
        finally:
            resolver.thread.join(10)

    assert asyncio.run(main()) == [OK] * 5


def test_resolved_helper() -> None:
    """resolved(response) is an EventFuture already done with that response."""
    f = resolved(OK)
    assert isinstance(f, EventFuture)
    assert f.done()
    assert f.result(timeout=0) is OK
    calls: List[object] = []
    f.add_done_callback(calls.append)
    assert calls == [f]


def test_resolved_futures_are_independent() -> None:
    """Two resolved futures and a fresh one share no state."""
    a, b = resolved(OK), resolved(FAILED)
    assert a.result() is OK
    assert b.result() is FAILED
    assert not EventFuture().done()
