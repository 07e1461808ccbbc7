"""Serverless: flush at the end of every invocation, with ``flushing`` (issue 9, item 4).

A Lambda-style platform freezes the process when the handler returns (a known problem of the
legacy Node SDK), so each invocation's events must be on the server before it does: the tests
check the collector right after each invocation, without waiting.
"""

from __future__ import annotations

import asyncio
import inspect
import statistics
import time
from typing import Any, Callable, Dict, List, cast

import pytest

from amplitude_legacy import FlushResult, NodeClient
from amplitude_legacy._serverless import flushing
from amplitude_legacy.testing import Collector, Delay
from tests.environments import event, running_client

pytestmark = pytest.mark.timeout(10)

INVOCATIONS = 100
#: A slow interval: without the flush, events would sit in the queue for the next thaw.
FROZEN = {"upload_interval_in_sec": 60}


def events_per_invocation(i: int) -> int:
    return 1 + i % 3  # 1, 2, 3, 1, 2, 3, ...


def run_invocations(handler: Callable[[Dict[str, Any], object], Any], collector: Collector) -> None:
    """Invoke ``handler`` ``INVOCATIONS`` times; after each, its events must already be in."""
    expected = 0
    for i in range(INVOCATIONS):
        assert handler({"invocation": i}, object()) == {"statusCode": 200}
        expected += events_per_invocation(i)
        assert len(collector.events) == expected, f"invocation {i} left events behind"


def log_invocation(client: NodeClient, request: Dict[str, Any]) -> None:
    i = request["invocation"]
    for j in range(events_per_invocation(i)):
        client.logEvent(event(i * 10 + j, user=f"user-{i:03d}-{j}"))


def test_flushing_decorator_delivers_every_invocation(collector: Collector) -> None:
    """100 invocations of a ``@flushing`` handler: each one's events arrive before it returns."""
    with running_client(collector.http_api_url, **FROZEN) as client:

        @flushing(client, timeout=2)
        def handler(request: Dict[str, Any], context: object) -> Dict[str, int]:
            log_invocation(client, request)
            return {"statusCode": 200}

        run_invocations(handler, collector)
    assert collector.duplicates() == []
    assert handler.__name__ == "handler"  # functools.wraps: platforms look handlers up by name


def test_explicit_flush_per_invocation(collector: Collector) -> None:
    """The manual recipe, ``client.flush(timeout)`` before returning, works the same way."""
    with running_client(collector.http_api_url, **FROZEN) as client:

        def handler(request: Dict[str, Any], context: object) -> Dict[str, int]:
            log_invocation(client, request)
            result = client.flush(2)
            assert result.pending == 0
            return {"statusCode": 200}

        run_invocations(handler, collector)


def test_flushes_when_the_handler_raises(collector: Collector) -> None:
    """A raising handler still flushes; its exception propagates unchanged."""
    with running_client(collector.http_api_url, **FROZEN) as client:
        flush = flushing(client, timeout=2)

        @flush
        def handler() -> None:
            client.logEvent(event(1))
            raise KeyError("boom")

        with pytest.raises(KeyError, match="boom"):
            handler()
        assert len(collector.events) == 1
        assert flush.result is not None and flush.result.sent == 1


def test_async_handler_uses_flush_async(collector: Collector) -> None:
    """An ``async def`` handler stays a coroutine function and is flushed by awaiting."""
    with running_client(collector.http_api_url, **FROZEN) as client:
        used: List[str] = []
        original = client.flush_async

        async def spy(timeout: float | None = None) -> FlushResult:
            used.append("flush_async")
            return await original(timeout)

        client.flush_async = spy  # type: ignore[method-assign]

        @flushing(client, timeout=2)
        async def handler(request: Dict[str, Any], context: object) -> Dict[str, int]:
            log_invocation(client, request)
            await asyncio.sleep(0)
            return {"statusCode": 200}

        @flushing(client, timeout=2)
        async def failing() -> None:
            client.logEvent(event(99))
            raise RuntimeError("async boom")

        async def main() -> None:
            expected = 0
            for i in range(20):
                assert await handler({"invocation": i}, None) == {"statusCode": 200}
                expected += events_per_invocation(i)
                assert len(collector.events) == expected
            with pytest.raises(RuntimeError, match="async boom"):
                await failing()
            assert len(collector.events) == expected + 1

        assert inspect.iscoroutinefunction(handler)
        asyncio.run(main())
        assert used == ["flush_async"] * 21


def test_context_managers(collector: Collector) -> None:
    """``with flushing(client)`` and ``async with flushing(client)`` flush on the way out."""
    with running_client(collector.http_api_url, **FROZEN) as client:
        with flushing(client, timeout=2) as flush:
            client.logEvent(event(1))
        assert len(collector.events) == 1 and flush.result == FlushResult(sent=1)

        async def main() -> None:
            async with flushing(client, timeout=2):
                client.logEvent(event(2))
            assert len(collector.events) == 2

        asyncio.run(main())


def test_a_timed_out_flush_warns_and_keeps_the_events(
    collector: Collector, caplog: pytest.LogCaptureFixture
) -> None:
    """When the timeout passes first, a warning counts what is left; a later flush sends it."""
    collector.script(Delay(0.5))
    with running_client(collector.http_api_url, **FROZEN) as client:
        with flushing(client, timeout=0.05) as flush:
            client.logEvent(event(1))
        assert flush.result is not None and flush.result.timed_out
        assert flush.result.pending == 1
        assert "1 event(s) still pending" in caplog.text
        assert client.flush(2).pending == 0
    assert len(collector.events) == 1


def test_a_failing_flush_never_raises_into_the_handler(caplog: pytest.LogCaptureFixture) -> None:
    """If flush itself raises, the error is logged and the handler's return value survives."""

    class Broken:
        def flush(self, timeout: float | None) -> FlushResult:
            raise OSError("disk on fire")

    @flushing(cast(NodeClient, Broken()))
    def handler() -> str:
        return "ok"

    assert handler() == "ok"
    assert "flush at the end of the invocation failed" in caplog.text


def empty_flush_seconds(client: NodeClient, rounds: int = 5, calls: int = 200) -> float:
    """The best of ``rounds`` medians of ``calls`` timed ``flush()`` calls.

    A broken fast path (a thread round trip per call, tens of µs or more) is slow in every
    round; a busy machine that preempts the test now and then is not.
    """
    clock = time.perf_counter
    medians = []
    for _ in range(rounds):
        samples = []
        for _ in range(calls):
            start = clock()
            client.flush(2)
            samples.append(clock() - start)
        medians.append(statistics.median(samples))
    return min(medians)


def test_empty_flush_costs_microseconds(collector: Collector) -> None:
    """``flush()`` with nothing pending takes < 100 µs (best median of 5 x 200), fresh or used."""
    with running_client(collector.http_api_url) as client:
        fresh = empty_flush_seconds(client)  # worker never started
        client.logEvent(event(1))
        assert client.flush(2).sent == 1
        used = empty_flush_seconds(client)  # worker started, idle
    assert fresh < 100e-6, f"empty flush on a fresh client took {fresh * 1e6:.1f} µs"
    assert used < 100e-6, f"empty flush after delivery took {used * 1e6:.1f} µs"
