"""Move one legacy call site onto the plugin API, on the same client, and check nothing changed.

``record_play_legacy`` is a call site as written for ``@amplitude/node``: ``logEvent`` with the
route in ``extra``, read by a legacy middleware added with ``addEventMiddleware``.
``record_play`` is the same call site moved to the plugin API (``track(event_type,
event_properties, event_options)`` with ``extra`` in the options); the same middleware runs as
an enrichment plugin (``MiddlewarePlugin``), and a ``DestinationPlugin`` receives a copy of each
event. Both call sites run side by side on one ``NodeClient``, so a code base can migrate one
call site at a time; the script checks that both put the same event on the wire.

Run it::

    python examples/migration.py

Without ``AMPLITUDE_API_KEY`` the events go to the bundled collector on 127.0.0.1; with it, to
Amplitude (or to ``AMPLITUDE_SERVER_URL``). See docs/migration.md for the whole path, up to the
official ``amplitude-analytics`` SDK.
"""

from __future__ import annotations

from typing import Any, Dict, List

import amplitude_legacy as Amplitude
from amplitude_legacy.plugins import DestinationPlugin, MiddlewarePlugin, Result
from amplitude_legacy.testing import target_from_env


def add_route(payload: Amplitude.MiddlewarePayload, next: Amplitude.MiddlewareNext) -> None:
    """A legacy middleware, unchanged by the migration: copies ``extra["route"]`` in."""
    route = (payload.extra or {}).get("route")
    if route is not None:
        payload.event.event_properties = {
            **(payload.event.event_properties or {}),
            "route": route,
        }
    next(payload)


class PlayCounter(DestinationPlugin):
    """A destination plugin: gets a copy of every event queued for Amplitude."""

    def __init__(self) -> None:
        super().__init__("play-counter")
        self.plays: Dict[str, int] = {}

    def execute(self, event: Amplitude.Event) -> None:
        """Count plays per song (runs on the caller's thread: keep it fast)."""
        if event.event_type == "Song Played":
            song = (event.event_properties or {}).get("song", "?")
            self.plays[song] = self.plays.get(song, 0) + 1


# Before: the legacy call site.
def record_play_legacy(client: Amplitude.NodeClient, user_id: str, song: str) -> bool:
    """Log a play the legacy way; True when Amplitude accepted it."""
    future = client.logEvent(
        {"event_type": "Song Played", "user_id": user_id, "event_properties": {"song": song}},
        {"route": "/play"},
    )
    return future.result(timeout=10).status == Amplitude.Status.SUCCESS


# After: the same call site on the plugin API.
def record_play(client: Amplitude.NodeClient, user_id: str, song: str) -> bool:
    """Log a play the new way; True when Amplitude accepted it."""
    future = client.track(
        "Song Played", {"song": song}, {"user_id": user_id, "extra": {"route": "/play"}}
    )
    result: Result = future.result(timeout=10)
    return result.code == 200  # Result(event, code, message): the plugin API's outcome


def wire_view(event: Dict[str, Any]) -> Dict[str, Any]:
    """An event without the fields that differ on every call."""
    return {k: v for k, v in event.items() if k not in ("time", "insert_id")}


def main() -> int:
    """Run both call sites on one client and compare what reached the collector."""
    # Amplitude when AMPLITUDE_API_KEY is set, else the bundled collector on 127.0.0.1.
    target = target_from_env()
    collector = target.collector
    client = Amplitude.init(target.api_key, target.options)
    # Before, the middleware was added with client.addEventMiddleware(add_route). As a plugin
    # it runs for both call sites (enrichment plugins join the same chain).
    counter = PlayCounter()
    client.add(MiddlewarePlugin(add_route)).add(counter)

    legacy_ok = record_play_legacy(client, "user-123", "So What")
    new_ok = record_play(client, "user-123", "So What")
    print(f"legacy call site delivered: {legacy_ok}")
    print(f"plugin API call site delivered: {new_ok}")
    print(f"destination plugin counted: {counter.plays}")
    client.shutdown(timeout=10)

    ok = legacy_ok and new_ok and counter.plays == {"So What": 2}
    if collector is not None:
        views: List[Dict[str, Any]] = [wire_view(e) for e in collector.events]
        same = len(views) == 2 and views[0] == views[1]
        print(f"collector received {len(views)} event(s); identical on the wire: {same}")
        print(f"event properties: {views[0].get('event_properties') if views else None}")
        ok = ok and same
        collector.stop()
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
