"""Final outcomes: counters, the drop log, ``onDrop``, the spool, then the futures.

The ledger decides *that* events leave it and why; ``Reporter`` makes it visible, in an order
that callers can rely on: counters and ``onDrop`` first, futures last, so whoever sees a future
resolve also sees it counted. Transient failures (``retries_exhausted``, ``shutdown_timeout``)
and unknown outcomes go to the keeper first: with a spool they are kept, not dropped.
"""

from __future__ import annotations

import logging
from typing import Any, Callable, List, Sequence

from amplitude_legacy._event import Event, complete_annotation
from amplitude_legacy._future import EventFuture
from amplitude_legacy._ledger import Item
from amplitude_legacy._response import Response, Status
from amplitude_legacy._retry import DropReason
from amplitude_legacy._stats import Counters, DropLog

__all__ = ["Reporter"]

log = logging.getLogger("amplitude_legacy")

#: Transient reasons: with a spool, these events are kept there instead of dropped.
SPOOLABLE = frozenset(
    {DropReason.RETRIES_EXHAUSTED, DropReason.SHUTDOWN_TIMEOUT, DropReason.INTERNAL_ERROR}
)

#: The status of an event dropped without an answer to read it from (found locally).
_STATUS_FOR_REASON = {
    DropReason.INVALID: Status.INVALID,
    DropReason.PAYLOAD_TOO_LARGE: Status.PAYLOAD_TOO_LARGE,
}

OnDrop = Callable[[Sequence[Event], str, "Response | None"], None]


def _futures(items: Sequence[Item]) -> List[EventFuture]:
    return [item.future for item in items]


class Reporter:
    """Reports what became of events (the ledger's ``Outcomes``).

    Args:
        counters: the client's counters.
        drop_log: the client's once-per-burst drop log.
        on_drop: the client's ``onDrop`` dispatch (guarded there).
        keeper: the spool keeper (``NoSpool`` without a spool).
    """

    def __init__(self, counters: Counters, drop_log: DropLog, on_drop: OnDrop, keeper: Any) -> None:
        self.counters = counters
        self._drop_log = drop_log
        self._on_drop = on_drop
        self.keeper = keeper

    @property
    def spool_due(self) -> float:
        """When the spool should be read next (``inf`` without a spool)."""
        return float(self.keeper.due)

    def delivered(self, items: Sequence[Item], response: Response) -> None:
        """Amplitude accepted ``items``."""
        self.counters.add_delivered(len(items))
        self.keeper.settle(items, ack=True)
        self.keeper.delivered()
        EventFuture.resolve_all(_futures(items), response)

    def dropped(
        self, items: Sequence[Item], reason: str, response: Response | None, detail: str | None
    ) -> None:
        """``items`` are not delivered, for ``reason`` (kept in the spool when it is transient)."""
        if reason in SPOOLABLE:
            items, refused = self._keep(items, response)
            if refused:
                self.dropped(refused, DropReason.SPOOL_FULL, response, "the spool is full")
        else:
            self.keeper.settle(items, ack=True)  # a permanent failure leaves the spool too
        if not items:
            return
        if response is None or response.reason != reason:
            base = response or Response(_STATUS_FOR_REASON.get(reason, Status.FAILED), 0)
            response = Response(
                base.status, base.status_code, base.body, reason, detail or base.error
            )
        self.counters.drop(reason, len(items))
        self._drop_log.record(reason, len(items), detail or response.error)
        self._on_drop([complete_annotation(item.event) for item in items], reason, response)
        EventFuture.resolve_all(_futures(items), response)

    def lost_in_spool(self, events: List[Event], count: int) -> None:
        """``count`` spooled events (``events``, when still readable) were evicted to make
        room: counted as ``spool_full``, logged once per burst, passed to ``onDrop``."""
        reason = DropReason.SPOOL_FULL
        response = Response(Status.FAILED, 0, None, reason, "evicted from the full spool")
        self.counters.drop(reason, count)
        self._drop_log.record(reason, count, "the oldest spooled events made room for new ones")
        if events:
            self._on_drop(events, reason, response)

    def unknown(self, items: Sequence[Item], detail: str) -> None:
        """Their request was on the wire when shutdown's time ran out: maybe delivered.

        Never reported as dropped. With a spool they are kept there (a resend is deduplicated
        by ``insert_id``); without one they resolve ``Status.UNKNOWN``, counted apart.
        """
        items, refused = self._keep(items, None)
        items = [*items, *refused]
        if not items:
            return
        self.counters.add_unknown(len(items))
        log.warning(
            "amplitude_legacy: %d event(s) were on the wire when shutdown's time ran out: "
            "Amplitude may or may not have them (reported as unknown, not as dropped)",
            len(items),
        )
        response = Response(Status.UNKNOWN, 0, None, DropReason.UNKNOWN_OUTCOME, detail)
        EventFuture.resolve_all(_futures(items), response)

    def _keep(
        self, items: Sequence[Item], response: Response | None
    ) -> tuple[List[Item], List[Item]]:
        """Offer ``items`` to the keeper; resolve the kept ones ``spooled``.

        Returns:
            ``(not_kept, refused)``: events the keeper could not store, and events the spool
            refused because it is full.
        """
        unstored, refused = self.keeper.keep(items)
        if len(unstored) + len(refused) == len(items):
            return unstored, refused
        left = {id(item) for item in (*unstored, *refused)}
        kept = [item for item in items if id(item) not in left]
        base = response or Response(Status.FAILED, 0)
        spooled = Response(
            base.status, base.status_code, base.body, DropReason.SPOOLED,
            "kept in the spool; sent when the server is back or by the next client",
        )  # fmt: skip
        EventFuture.resolve_all(_futures(kept), spooled)
        return unstored, refused
