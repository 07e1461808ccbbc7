"""The live event debugger of the collector: a page, its assets, and a Server-Sent Events feed.

With ``Collector(ui=True)`` the collector serves, besides the API, ``GET /`` (a plain HTML page
with its CSS and JavaScript, no build step and nothing fetched from elsewhere) and
``GET /_debugger/stream``, an ``text/event-stream`` of what it receives:

* ``event: request`` (with an ``id:``): one per request, built by :func:`request_entry`;
* ``event: state``: the counts, the pending fault script and the settings, sent when they
  change (coalesced) and on connect.

The feed never blocks the collector: publishing appends to each subscriber's bounded queue under
a short lock, and an entry is only built (and encoded) once a page is there to see it; with no
page open, publishing keeps a small closure in the history. Each stream is written by its own
connection's thread, with a send timeout; a subscriber that falls too far behind, or a browser
that stops reading, is dropped (the page then reconnects and resumes from ``Last-Event-ID``).
``close()`` wakes every stream so that ``Collector.stop()`` can join their threads.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from importlib import resources
from typing import (
    Any,
    Callable,
    Collection,
    Deque,
    Dict,
    List,
    Mapping,
    Sequence,
    Set,
    Tuple,
    Union,
)

__all__ = [
    "ASSETS",
    "FAVICON_PATH",
    "STATE_PATH",
    "STREAM_PATH",
    "Feed",
    "Subscriber",
    "asset",
    "mask_key",
    "request_entry",
    "ui_route",
]

STREAM_PATH = "/_debugger/stream"
STATE_PATH = "/_debugger/state"
#: Page paths and the packaged file and content type each serves.
ASSETS: Dict[str, Tuple[str, str]] = {
    "/": ("debugger.html", "text/html; charset=utf-8"),
    "/_debugger/debugger.css": ("debugger.css", "text/css; charset=utf-8"),
    "/_debugger/debugger.js": ("debugger.js", "text/javascript; charset=utf-8"),
}
#: Answered 404 by the debugger, so that a browser's own request is not taken for API traffic.
FAVICON_PATH = "/favicon.ico"

#: Requests a page that connects late still sees.
HISTORY = 200
#: Frames a subscriber may have waiting before it is dropped as too slow.
MAX_QUEUED = 2000
#: Events of one request shown on the page (the counts cover all of them).
MAX_EVENTS_SHOWN = 50
#: Characters of an event's JSON shown on the page.
MAX_JSON_CHARS = 4000
#: Seconds between keep-alive comments on an idle stream.
KEEPALIVE = 15.0

#: Builds one request entry for the page (see :func:`request_entry`).
Entry = Callable[[], Dict[str, Any]]

_cache: Dict[str, bytes] = {}
_cache_lock = threading.Lock()


def ui_route(target: str) -> str | None:
    """Return the debugger path ``target`` asks for, or ``None`` when it is not one."""
    path = target.split("?", 1)[0]
    if path in ASSETS or path in (STREAM_PATH, STATE_PATH, FAVICON_PATH):
        return path
    return None


def asset(path: str) -> Tuple[bytes, str]:
    """Return the bytes and content type of the page file served at ``path``.

    Raises:
        KeyError: When ``path`` is not a page file.
    """
    name, content_type = ASSETS[path]
    with _cache_lock:
        data = _cache.get(name)
        if data is None:
            data = (resources.files("amplitude_legacy.testing") / "static" / name).read_bytes()
            _cache[name] = data
    return data, content_type


class Subscriber:
    """One open stream: frames waiting to be written, and whether the state changed."""

    def __init__(self) -> None:
        self.frames: Deque[bytes] = deque()
        self.state_dirty = True
        self.closed = False
        self.cond = threading.Condition(threading.Lock())

    def wait(self, timeout: float) -> Tuple[List[bytes], bool]:
        """Wait up to ``timeout`` for frames or a state change.

        Returns:
            ``(frames, state_changed)``; both empty/false on a timeout or once closed.
        """
        with self.cond:
            if not (self.frames or self.state_dirty or self.closed):
                self.cond.wait(timeout)
            frames = list(self.frames)
            self.frames.clear()
            dirty, self.state_dirty = self.state_dirty, False
            return frames, dirty


class Feed:
    """Recent request entries and the open streams they are pushed to."""

    def __init__(self, history: int = HISTORY) -> None:
        self._lock = threading.Lock()
        # (id, frame), or (id, a function building the entry) until a page asks for it.
        self._history: Deque[Tuple[int, Union[bytes, Entry]]] = deque(maxlen=history)
        self._subscribers: Set[Subscriber] = set()
        self._seq = 0
        self._closed = False

    def publish(self, entry: Entry) -> None:
        """Number an entry, keep it in the history and queue it on every stream.

        Args:
            entry: Builds the entry's dict; called only when a page is open (now or later).
        """
        with self._lock:
            self._seq += 1
            if not self._subscribers:
                self._history.append((self._seq, entry))
                return
            frame = _request_frame(self._seq, entry)
            self._history.append((self._seq, frame))
            subscribers = list(self._subscribers)
        for subscriber in subscribers:
            with subscriber.cond:
                if len(subscriber.frames) >= MAX_QUEUED:
                    subscriber.closed = True  # too slow: drop it; the page reconnects
                else:
                    subscriber.frames.append(frame)
                    subscriber.state_dirty = True
                subscriber.cond.notify()

    def touch(self) -> None:
        """Tell every stream that the state (counts, script, settings) changed."""
        with self._lock:
            subscribers = list(self._subscribers)
        for subscriber in subscribers:
            with subscriber.cond:
                subscriber.state_dirty = True
                subscriber.cond.notify()

    def subscribe(self, after: int) -> Tuple[Subscriber, List[bytes]] | None:
        """Open a stream; return it with the history frames newer than id ``after``.

        Returns:
            ``None`` once the feed is closed.
        """
        subscriber = Subscriber()
        with self._lock:
            if self._closed:
                return None
            if after > self._seq:  # ids from an earlier collector (a restart): resend all
                after = 0
            backlog: List[bytes] = []
            for position, (seq, item) in enumerate(self._history):
                if not isinstance(item, bytes):
                    item = _request_frame(seq, item)
                    self._history[position] = (seq, item)  # built once
                if seq > after:
                    backlog.append(item)
            self._subscribers.add(subscriber)
        return subscriber, backlog

    def unsubscribe(self, subscriber: Subscriber) -> None:
        """Forget a stream that ended."""
        with self._lock:
            self._subscribers.discard(subscriber)

    def close(self) -> None:
        """End every stream (their threads return) and refuse new ones."""
        with self._lock:
            self._closed = True
            subscribers = list(self._subscribers)
        for subscriber in subscribers:
            with subscriber.cond:
                subscriber.closed = True
                subscriber.cond.notify()

    def subscriber_count(self) -> int:
        """How many streams are open."""
        with self._lock:
            return len(self._subscribers)

    def serve(
        self,
        write: Callable[[bytes], Any],
        after: int,
        state: Callable[[], Dict[str, Any]],
        keepalive: float = KEEPALIVE,
    ) -> None:
        """Write a stream until the client leaves, falls behind, or the feed closes.

        Args:
            write: Writes bytes to the client (raises ``OSError`` when it is gone or stuck).
            after: The client's ``Last-Event-ID`` (0 for none).
            state: Returns the current state message.
            keepalive: Seconds between keep-alive comments when nothing happens.
        """
        opened = self.subscribe(after)
        if opened is None:
            return
        subscriber, backlog = opened
        try:
            write(b"retry: 1000\n\n" + b"".join(backlog))
            while True:
                frames, dirty = subscriber.wait(keepalive)
                if subscriber.closed:
                    return
                out = b"".join(frames)
                if dirty:
                    out += _frame("state", state(), None)
                write(out or b": keep-alive\n\n")
        finally:
            self.unsubscribe(subscriber)


def _request_frame(seq: int, entry: Entry) -> bytes:
    data = entry()
    data["id"] = seq
    return _frame("request", data, seq)


def _frame(kind: str, data: Mapping[str, Any], event_id: int | None) -> bytes:
    # ASCII-only JSON: no raw newline can end the data line, and lone surrogates stay escaped.
    text = json.dumps(data, separators=(",", ":"), default=str)
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {kind}\ndata: {text}\n\n".encode("ascii")


# -- request entries ---------------------------------------------------------------------------

_PROBLEM_MAPS = (
    ("events_with_missing_fields", "missing"),
    ("events_with_invalid_fields", "invalid value"),
    ("events_with_invalid_id_lengths", "too short"),
)


def request_entry(
    *,
    t: int,
    method: str,
    target: str,
    status: int,
    answer: Mapping[str, Any] | None,
    events: Sequence[Any],
    event_count: int,
    stored: int = 0,
    absorbed: int = 0,
    absorbed_ids: Collection[int] = (),
    reason: str | None,
    api_key: str = "",
) -> Dict[str, Any]:
    """Describe one request for the page (every value is plain data, shown as text).

    Args:
        t: When it arrived, in ms since the epoch.
        method: HTTP method.
        target: Request target.
        status: Status answered (0: none).
        answer: The JSON body answered, when there was one.
        events: The request's first events (at most :data:`MAX_EVENTS_SHOWN` are shown).
        event_count: How many events the request held.
        stored: How many of them were stored.
        absorbed: How many were absorbed as copies of stored events.
        absorbed_ids: ``id()`` of the absorbed events among ``events``.
        reason: Why nothing was stored, or ``None``.
        api_key: The request's API key (shown masked).

    Returns:
        A JSON-ready dict: ``t``, ``method``, ``path``, ``status``, ``error``, ``detail``,
        ``reason``, ``api_key`` (masked), ``events`` (each with its ``state``: stored,
        absorbed, refused or not stored, and its ``problems``), ``event_count``, ``stored`` and
        ``absorbed``.
    """
    answer = answer or {}
    problems = _problems(answer, events)
    accepted = stored + absorbed > 0  # then every event was either stored or absorbed
    shown: List[Dict[str, Any]] = []
    for index, event in enumerate(events[:MAX_EVENTS_SHOWN]):
        if id(event) in absorbed_ids:
            state = "absorbed"
        elif accepted:
            state = "stored"
        elif index in problems or not isinstance(event, dict):
            state = "refused"
        else:
            state = "not stored"
        if not isinstance(event, dict):
            problem = [{"field": "", "message": "not a JSON object"}]
            shown.append(
                {"index": index, "state": state, "problems": problem, "json": _clip(_dumps(event))}
            )
            continue
        shown.append(
            {
                "index": index,
                "state": state,
                "event_type": _show(event.get("event_type")),
                "user_id": _show(event.get("user_id")),
                "device_id": _show(event.get("device_id")),
                "insert_id": _show(event.get("insert_id")),
                "problems": [
                    {"field": field, "message": message}
                    for field, message in problems.get(index, {}).items()
                ],
                "json": _clip(_dumps(event)),
            }
        )
    error = answer.get("error")
    detail = answer.get("detail")
    return {
        "t": t,
        "method": method,
        "path": target[:300],
        "status": status,
        "error": _mask_in(str(error), api_key) if error else None,
        "detail": str(detail)[:500] if detail else None,
        "reason": reason,
        "api_key": mask_key(api_key) if api_key else "",
        "events": shown,
        "event_count": event_count,
        "stored": stored,
        "absorbed": absorbed,
    }


def _problems(answer: Mapping[str, Any], events: Sequence[Any]) -> Dict[int, Dict[str, str]]:
    """Map event index -> {field: message} from an error body's index maps and event_errors."""
    found: Dict[int, Dict[str, str]] = {}
    for key, label in _PROBLEM_MAPS:
        fields = answer.get(key)
        if isinstance(fields, dict):
            for field, indexes in fields.items():
                for index in indexes if isinstance(indexes, list) else ():
                    if isinstance(index, int):
                        found.setdefault(index, {}).setdefault(str(field), label)
    errors = answer.get("event_errors")
    for error in errors if isinstance(errors, list) else ():
        if isinstance(error, dict) and isinstance(error.get("event"), int):
            found.setdefault(error["event"], {})[str(error.get("field"))] = str(
                error.get("message")
            )
    throttled = answer.get("throttled_events")
    if isinstance(throttled, list):
        users = answer.get("throttled_users") or {}
        devices = answer.get("throttled_devices") or {}
        for index in throttled:
            if not (isinstance(index, int) and 0 <= index < len(events)):
                continue
            event = events[index] if isinstance(events[index], dict) else {}
            marks = found.setdefault(index, {})
            for field, over in (("user_id", users), ("device_id", devices)):
                if event.get(field) in over:
                    marks[field] = f"over the rate limit ({over[event[field]]} events/s)"
            if not marks:
                marks["event"] = "throttled"
    return found


def _show(value: Any) -> str | None:
    if value is None:
        return None
    return value[:300] if isinstance(value, str) else _clip(_dumps(value), 300)


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


def _clip(text: str, limit: int = MAX_JSON_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def mask_key(api_key: str) -> str:
    """Return ``api_key`` masked for display: ``"****"`` plus its last 4 characters (if long).

    Examples:
        >>> mask_key("6eaecc157d0ff5a58c0b0d6df54307be")
        '****07be'
    """
    return "****" + api_key[-4:] if len(api_key) > 8 else "****"


def _mask_in(text: str, api_key: str) -> str:
    return text.replace(api_key, mask_key(api_key)) if api_key else text
