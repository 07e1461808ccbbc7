"""``flushing``: flush at the end of every serverless invocation.

AWS Lambda, Cloud Functions and their peers freeze the process as soon as the handler returns:
the worker thread stops mid-batch and events logged during the invocation wait, possibly
forever, for a thaw that may never come. Flushing before the handler returns closes that gap,
and costs microseconds when nothing is pending.
"""

from __future__ import annotations

import functools
import logging
from types import TracebackType
from typing import TYPE_CHECKING, Any, Callable, Type, TypeVar, cast

from amplitude_legacy._stats import FlushResult

if TYPE_CHECKING:
    from amplitude_legacy._client import NodeClient

__all__ = ["flushing"]

log = logging.getLogger("amplitude_legacy")

F = TypeVar("F", bound=Callable[..., Any])


class flushing:  # lower case, like contextlib.closing: it reads as a verb
    """Flush ``client`` at the end of each invocation, even when the handler raises.

    Use it as a decorator on a sync or ``async def`` handler, or as a context manager
    (``with`` or ``async with``). Sync code calls ``client.flush(timeout)``; async code
    awaits ``client.flush_async(timeout)``, so the event loop is never blocked. The flush
    never raises into your handler: a failure is logged, and the handler's own exception (if
    any) propagates unchanged. When the timeout passes with events still pending, a warning
    says how many; they stay queued and go out with the next invocation's flush.

    Args:
        client: the ``NodeClient`` to flush.
        timeout: the longest the flush may wait, in seconds. Keep it well under the
            platform's own limit (Lambda: the function timeout).

    Attributes:
        result: the ``FlushResult`` of the latest flush (``None`` before the first one).

    Example (AWS Lambda; the client is created once per container, outside the handler):

        import os
        import amplitude_legacy as Amplitude

        client = Amplitude.init(os.environ["AMPLITUDE_API_KEY"])

        @Amplitude.flushing(client, timeout=2.0)
        def handler(event, context):
            client.logEvent({"event_type": "Order Placed", "user_id": event["user_id"]})
            return {"statusCode": 200}

    The same as a context manager:

        def handler(event, context):
            with Amplitude.flushing(client):
                client.logEvent({"event_type": "Order Placed", "user_id": event["user_id"]})
                return {"statusCode": 200}
    """

    def __init__(self, client: NodeClient, timeout: float | None = 2.0) -> None:
        self._client = client
        self._timeout = timeout
        self.result: FlushResult | None = None

    def __repr__(self) -> str:
        return f"<flushing {self._client!r} timeout={self._timeout!r}>"

    # ------------------------------------------------------------------ sync

    def flush(self) -> FlushResult | None:
        """Flush now (what the decorator and ``with`` do on the way out); never raises."""
        try:
            result = self._client.flush(self._timeout)
        except Exception:
            log.exception("amplitude_legacy: flush at the end of the invocation failed")
            return None
        return self._done(result)

    def __enter__(self) -> flushing:
        return self

    def __exit__(
        self,
        exc_type: Type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.flush()

    # ------------------------------------------------------------------ async

    async def flush_async(self) -> FlushResult | None:
        """Await a flush without blocking the event loop; never raises (but can be cancelled)."""
        try:
            result = await self._client.flush_async(self._timeout)
        except Exception:
            log.exception("amplitude_legacy: flush at the end of the invocation failed")
            return None
        return self._done(result)

    async def __aenter__(self) -> flushing:
        return self

    async def __aexit__(
        self,
        exc_type: Type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.flush_async()

    # ------------------------------------------------------------------ decorator

    def __call__(self, handler: F) -> F:
        """Wrap ``handler`` (sync or ``async def``) so each call ends with a flush."""
        import inspect

        if inspect.iscoroutinefunction(handler):

            @functools.wraps(handler)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                try:
                    return await handler(*args, **kwargs)
                finally:
                    await self.flush_async()

            return cast(F, async_wrapper)

        @functools.wraps(handler)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return handler(*args, **kwargs)
            finally:
                self.flush()

        return cast(F, wrapper)

    def _done(self, result: FlushResult) -> FlushResult:
        self.result = result
        if result.pending:
            log.warning(
                "amplitude_legacy: %d event(s) still pending after a %s s flush at the end of "
                "the invocation; they stay queued for the next one",
                result.pending,
                self._timeout,
            )
        return result
