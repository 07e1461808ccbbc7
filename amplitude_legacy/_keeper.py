"""Keepers: where events go when they cannot be delivered now, and where they come back from.

``SpoolKeeper`` wraps the durable spool (``spoolPath``): events that fail for a transient
reason are kept there instead of being dropped, and come back as batches of their own.
``NoSpool`` is the keeper of a client without a spool: it keeps nothing. The worker and the
outcome reporter talk to either the same way, so neither asks "is there a spool?".
"""

from __future__ import annotations

import json
import logging
import time
from typing import TYPE_CHECKING, Callable, List, Sequence, Tuple

from amplitude_legacy._encoding import encode_event
from amplitude_legacy._errors import InvalidEventError
from amplitude_legacy._event import Event, complete_annotation
from amplitude_legacy._future import EventFuture
from amplitude_legacy._ledger import Item

if TYPE_CHECKING:
    from amplitude_legacy._spool import Spool
    from amplitude_legacy._stats import Counters

__all__ = ["NoSpool", "SpoolKeeper"]

log = logging.getLogger("amplitude_legacy")

_INF = float("inf")
#: After the spool was found empty: when to look again (another process may have written).
SPOOL_IDLE_POLL = 60.0
#: After events were kept there (the server fails): when to try them again at the latest.
SPOOL_RETRY_INTERVAL = 30.0
#: How long a claim on spooled events holds: it must outlive any in-memory retry of its event
#: (the owner's death frees it at once on this host; the lease only matters across hosts).
SPOOL_LEASE = 3600.0


class NoSpool:
    """The keeper without a spool: nothing is kept, nothing comes back."""

    due = _INF  #: when to read the spool next: never

    def keep(self, items: Sequence[Item]) -> Tuple[List[Item], List[Item]]:
        """Keep nothing: every item is returned as not stored."""
        return list(items), []

    def settle(self, items: Sequence[Item], *, ack: bool) -> None:
        """Nothing to ack or release."""

    def take(self, limit: int) -> List[Item]:
        """Nothing comes back."""
        return []

    def delivered(self) -> None:
        """Nothing to resend."""

    def write_ahead(self, event: Event) -> int | None:
        """Nothing is written ahead."""
        return None

    def discard(self, row_id: int | None) -> None:
        """Nothing was written."""

    def close(self) -> None:
        """Nothing to close."""


class SpoolKeeper:
    """Keeps transiently failed events in the spool, and hands spooled events back.

    Args:
        spool: the open spool.
        counters: the client's counters (``spooled``, and drops the spool causes).
    """

    def __init__(self, spool: Spool, counters: Counters) -> None:
        self.spool = spool
        self._counters = counters
        #: Reports events the spool evicted to make room (``spool_full``, ``onDrop``); set
        #: by the worker to its reporter's ``lost_in_spool``.
        self.report_lost: Callable[[List[Event], int], None] = lambda events, count: None
        self._maybe_rows = True  # rows may be there from an earlier run or another process
        self.due = 0.0  # look at once

    def keep(self, items: Sequence[Item]) -> Tuple[List[Item], List[Item]]:
        """Store ``items`` for later (they were not delivered for a transient reason).

        Returns:
            ``(unstored, refused)``: events the write failed for (drop them for their own
            reason) and events the spool refused by its bounds (drop them as ``spool_full``).
            The others are stored; the caller resolves them ``spooled``.
        """
        spool = self.spool
        backed = [item for item in items if item.spool_id is not None]
        self.settle(backed, ack=False)  # already in the spool: just let go of the claim
        fresh: List[Item] = []
        unstored: List[Item] = []
        datas: List[bytes] = []
        for item in items:
            if item.spool_id is not None:
                continue
            try:
                datas.append(item.data or encode_event(complete_annotation(item.event)))
                fresh.append(item)
            except InvalidEventError:
                unstored.append(item)
        refused: List[Item] = []
        if datas:
            refused_at = set(spool.refused(datas))
            failures = spool.write_failures
            lost = spool.put(datas)
            if spool.write_failures > failures:  # nothing of this write is on disk
                unstored.extend(fresh)
                fresh = []
            else:
                refused = [item for i, item in enumerate(fresh) if i in refused_at]
                fresh = [item for i, item in enumerate(fresh) if i not in refused_at]
                self._report_evicted(lost - len(refused_at))
        # Events written ahead (spoolMode="always") count as spooled now; rows taken back from
        # the spool were counted when they first went in.
        written_ahead = [item for item in backed if not item.from_spool]
        self._counters.add_spooled(len(fresh) + len(written_ahead))
        # Try the spool again later; a delivery (the server is back) brings this forward.
        self._maybe_rows = True
        self.due = time.monotonic() + SPOOL_RETRY_INTERVAL
        return unstored, refused

    def settle(self, items: Sequence[Item], *, ack: bool) -> None:
        """Ack (delivered, or failed for good) or release the spool rows behind ``items``."""
        ids = [item.spool_id for item in items if item.spool_id is not None]
        if ids:
            (self.spool.ack if ack else self.spool.release)(ids)

    def delivered(self) -> None:
        """The server answers again: send what the spool holds, now."""
        if self._maybe_rows:
            self.due = 0.0

    def take(self, limit: int) -> List[Item]:
        """Claim the oldest spooled events (without seq: the ledger numbers them)."""
        rows = self.spool.take(limit)
        if not rows:
            self._maybe_rows = False
            self.due = time.monotonic() + SPOOL_IDLE_POLL
            return []
        items: List[Item] = []
        for row_id, data in rows:
            try:
                parsed = json.loads(data)
            except ValueError:
                parsed = None
            if not isinstance(parsed, dict):
                self.spool.ack([row_id])  # unreadable row: nothing to send
                self._counters.drop("invalid", 1)
                continue
            item = Item(-1, Event(parsed), EventFuture())
            item.data = bytes(data)
            item.spool_id = row_id
            item.from_spool = True
            items.append(item)
        return items

    def write_ahead(self, event: Event) -> int | None:
        """``spoolMode="always"``: persist ``event`` before it is queued (survives kill -9).

        Returns the row id, or ``None`` when it could not be encoded or written (it is sent
        anyway, just not durably; an encoding problem is reported when the worker encodes it).
        """
        try:
            data = encode_event(complete_annotation(event))
        except InvalidEventError:  # the worker reports it, with the field, when it encodes it
            return None
        ids, evicted = self.spool.write_ahead([data])
        self._report_evicted(evicted)  # older spooled events made room: they are lost
        return ids[0] if ids else None

    def _report_evicted(self, count: int) -> None:
        """Older spooled events were evicted to respect the bounds: count and report them."""
        if count <= 0:
            return
        events: List[Event] = []
        for data in self.spool.pop_evicted():
            try:
                parsed = json.loads(data)
            except ValueError:
                continue
            if isinstance(parsed, dict):
                events.append(Event(parsed))
        self.report_lost(events, count)

    def discard(self, row_id: int | None) -> None:
        """Delete a row written ahead for an event that was not accepted after all."""
        if row_id is not None:
            self.spool.ack([row_id])

    def close(self) -> None:
        """Close the spool."""
        self.spool.close()
