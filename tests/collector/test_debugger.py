"""The debugger's server side over real HTTP: its page and files, the state, the event stream
(threads, slow readers, resuming), the Host check; and its pure parts."""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from typing import Any, Callable, Dict, Iterator, List, Tuple

import pytest

import amplitude_legacy.testing._collector as collector_module
import amplitude_legacy.testing._debugger as debugger
from amplitude_legacy.testing import Collector, Reply
from amplitude_legacy.testing._debugger import Feed, mask_key, request_entry

from ._http import body, event, send, send_json


@pytest.fixture
def ui() -> Iterator[Collector]:
    """A started collector serving the debugger."""
    with Collector(ui=True) as collector:
        yield collector


class Got:
    """One answer, read completely."""

    def __init__(self, response: http.client.HTTPResponse) -> None:
        self.status = response.status
        self.headers = response.headers
        self.data = response.read()

    def getheader(self, name: str) -> str:
        return str(self.headers[name])


def get(collector: Collector, path: str, host: str | None = None, method: str = "GET") -> Got:
    """One request to the collector (``Host`` replaced when given), read completely."""
    conn = http.client.HTTPConnection("127.0.0.1", collector.port, timeout=5)
    headers = {} if host is None else {"Host": host}
    try:
        conn.request(method, path, headers=headers)
        return Got(conn.getresponse())
    finally:
        conn.close()


def test_without_ui_the_root_is_not_served() -> None:
    """Collector() serves only the API: GET / is an unknown path, recorded like any request."""
    with Collector() as collector:
        response = get(collector, "/")
        assert response.status == 400
        assert json.loads(response.data)["error"] == "Invalid request path"
        assert len(collector.requests) == 1


def test_the_page_and_its_files(ui: Collector) -> None:
    """/ and its CSS and JS are served with strict headers and are not recorded as traffic."""
    page = get(ui, "/")
    assert page.status == 200
    assert page.getheader("Content-Type") == "text/html; charset=utf-8"
    policy = page.getheader("Content-Security-Policy")
    assert "script-src 'self'" in policy and "default-src 'none'" in policy
    assert page.getheader("X-Content-Type-Options") == "nosniff"
    assert b'<script src="/_debugger/debugger.js" defer></script>' in page.data
    assert b"http://" not in page.data and b"https://" not in page.data  # nothing from elsewhere
    script = get(ui, "/_debugger/debugger.js")
    assert script.getheader("Content-Type") == "text/javascript; charset=utf-8"
    assert b"innerHTML" not in script.data and b"textContent" in script.data
    css = get(ui, "/_debugger/debugger.css")
    assert css.getheader("Content-Type") == "text/css; charset=utf-8"
    assert b"@import" not in css.data and b"url(" not in css.data
    assert get(ui, "/", method="HEAD").data == b""
    assert get(ui, "/favicon.ico").status == 404
    assert ui.requests == [] and ui.counts()["requests"] == 0
    # The API is unchanged next to the page.
    assert send_json(ui, body(event(0)), path="/")["error"] == "Invalid request path"


def test_state(ui: Collector) -> None:
    """/_debugger/state holds the counts, the pending script in words, and the settings."""
    ui.script(Reply(503))
    send(ui, body(event(0), event(0)), path="/batch")  # takes the Reply
    send(ui, body(event(1), event(1)))
    state = json.loads(get(ui, "/_debugger/state").data)
    assert state["counts"]["duplicates_absorbed"] == 1
    assert state["counts"]["rejected"] == {"scripted 503": 1}
    assert state["script"] == []
    ui.script(Reply(429, delay=1))
    state = json.loads(get(ui, "/_debugger/state").data)
    assert state["script"] == ["answer 429 with the standard body after 1 s"]
    assert state["settings"]["api_keys"] == "any" and state["down"] is False
    assert state["endpoints"] == {"http_api": ui.http_api_url, "batch": ui.batch_url}


@pytest.mark.parametrize(
    ("host", "status"),
    [
        ("evil.example", 403),
        ("evil.example:8787", 403),
        ("127.0.0.1.evil.example", 403),
        ("localhost", 200),
        ("LOCALHOST:8787", 200),
        ("127.0.0.1:8787", 200),
        ("[::1]:8787", 200),
    ],
)
def test_only_loopback_names_reach_the_page(ui: Collector, host: str, status: int) -> None:
    """Bound to loopback, the debugger refuses other Host names (DNS rebinding)."""
    assert get(ui, "/", host=host).status == status
    assert get(ui, "/_debugger/state", host=host).status == status


class Stream:
    """A raw-socket reader of the debugger's event stream."""

    def __init__(self, collector: Collector, last_id: int | None = None) -> None:
        self.sock = socket.create_connection(("127.0.0.1", collector.port), timeout=5)
        extra = "" if last_id is None else f"Last-Event-ID: {last_id}\r\n"
        self.sock.sendall(
            f"GET /_debugger/stream HTTP/1.1\r\nHost: 127.0.0.1\r\n{extra}\r\n".encode()
        )
        self.buffer = b""
        head = self._until(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 ")
        assert b"Content-Type: text/event-stream; charset=utf-8" in head
        assert b"Content-Length" not in head

    def _until(self, marker: bytes) -> bytes:
        while marker not in self.buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError(self.buffer)
            self.buffer += chunk
        part, _, self.buffer = self.buffer.partition(marker)
        return part

    def next(self, kind: str | None = None) -> Tuple[str, Dict[str, Any]]:
        """The next message (of ``kind`` when given) as ``(kind, data)``; skips comments."""
        while True:
            fields: Dict[str, str] = {}
            for line in self._until(b"\n\n").decode("ascii").split("\n"):
                name, _, value = line.partition(": ")
                fields[name] = value
            if "event" in fields and kind in (None, fields["event"]):
                data = json.loads(fields["data"])
                if "id" in fields:
                    assert int(fields["id"]) == data["id"]
                return fields["event"], data

    def close(self) -> None:
        self.sock.close()


def test_the_stream_pushes_requests_and_state(ui: Collector) -> None:
    """A stream gets the state, then each request as it happens; Last-Event-ID resumes it."""
    stream = Stream(ui)
    try:
        kind, state = stream.next()
        assert kind == "state" and state["counts"]["requests"] == 0
        send(ui, body(event(0, event_type="Signed Up")))
        _, entry = stream.next("request")
        assert (entry["id"], entry["status"], entry["stored"]) == (1, 200, 1)
        assert entry["events"][0]["event_type"] == "Signed Up"
        _, state = stream.next("state")
        assert state["counts"]["events_stored"] == 1
        send(ui, b"{")
        _, entry = stream.next("request")
        assert (entry["id"], entry["status"], entry["error"]) == (
            2,
            400,
            "Invalid JSON request body",
        )
    finally:
        stream.close()
    resumed = Stream(ui, last_id=1)
    try:
        assert resumed.next("request")[1]["id"] == 2  # the history after id 1 only
    finally:
        resumed.close()


def collector_threads() -> List[str]:
    """Names of the collector threads still alive."""
    return [t.name for t in threading.enumerate() if t.name.startswith("amplitude-collector")]


def test_stop_ends_streams_and_leaves_no_threads() -> None:
    """stop() returns promptly with streams open and joins every thread, stream ones included."""
    collector = Collector(ui=True).start()
    streams = [Stream(collector) for _ in range(3)]
    for stream in streams:
        stream.next("state")
    start = time.perf_counter()
    collector.stop()
    assert time.perf_counter() - start < 1.0
    assert collector_threads() == []
    for stream in streams:
        with pytest.raises(EOFError):
            stream.next("request")
        stream.close()


def test_a_stream_that_does_not_read_never_holds_up_requests(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A browser that stops reading is dropped; requests are answered promptly meanwhile."""
    monkeypatch.setattr(debugger, "MAX_QUEUED", 20)
    monkeypatch.setattr(collector_module, "_STREAM_SEND_TIMEOUT", 0.3)
    with Collector(ui=True) as collector:
        stuck = Stream(collector)  # never read from again
        big = {"text": "x" * 3000}
        data = body(*(event(i, event_properties=big) for i in range(50)))
        conn = http.client.HTTPConnection("127.0.0.1", collector.port, timeout=5)
        slowest = 0.0
        for _ in range(120):
            start = time.perf_counter()
            send_json(conn, data)
            slowest = max(slowest, time.perf_counter() - start)
            collector.reset()  # keep the memory of this test small
        conn.close()
        deadline = time.monotonic() + 5
        while collector._feed is not None and collector._feed.subscriber_count():
            assert time.monotonic() < deadline, "the stuck stream was not dropped"
            time.sleep(0.01)
        stuck.close()
    assert slowest < 0.25, f"a request took {slowest:.3f}s"


def test_feed_history_resume_and_overflow(monkeypatch: pytest.MonkeyPatch) -> None:
    """The feed numbers entries, replays history after an id, and drops a full subscriber."""
    monkeypatch.setattr(debugger, "MAX_QUEUED", 2)
    feed = Feed(history=3)
    built: List[int] = []

    def entry(n: int) -> Callable[[], Dict[str, Any]]:
        def build() -> Dict[str, Any]:
            built.append(n)
            return {"n": n}

        return build

    for n in range(5):
        feed.publish(entry(n))
    assert built == []  # nobody watching: nothing built yet
    opened = feed.subscribe(after=3)
    assert opened is not None
    subscriber, backlog = opened
    assert [b"id: 4" in f or b"id: 5" in f for f in backlog] == [True, True]
    assert built == [2, 3, 4]  # the history, built once for the first page
    assert feed.subscribe(after=99) is not None  # a stale id from an earlier run: all history
    assert built == [2, 3, 4]
    frames, dirty = subscriber.wait(0)
    assert (frames, dirty) == ([], True)
    for n in range(3):
        feed.publish(entry(n))
    assert subscriber.closed  # the third frame did not fit
    feed.close()
    assert feed.subscribe(after=0) is None


def test_feed_serve_writes_until_closed() -> None:
    """serve() writes the backlog, the state, then frames; close() ends it from another thread."""
    feed = Feed()
    feed.publish(lambda: {"n": 0})
    written: List[bytes] = []
    thread = threading.Thread(target=feed.serve, args=(written.append, 0, lambda: {"s": 1}))
    thread.start()
    deadline = time.monotonic() + 5
    while len(written) < 2:
        assert time.monotonic() < deadline
        time.sleep(0.005)
    feed.close()
    thread.join(5)
    assert not thread.is_alive()
    assert written[0].startswith(b"retry: 1000\n\nid: 1\nevent: request\ndata: {")
    assert written[1] == b'event: state\ndata: {"s":1}\n\n'
    assert feed.subscriber_count() == 0


def entry_for(status: int, answer: Dict[str, Any], events: List[Any], **more: Any) -> Any:
    """request_entry for a POST /2/httpapi holding ``events`` (``more`` adds or overrides)."""
    fields: Dict[str, Any] = {"t": 1, "method": "POST", "target": "/2/httpapi", "reason": None}
    fields.update(status=status, answer=answer, events=events, event_count=len(events), **more)
    return request_entry(**fields)


def test_request_entry_marks_states_and_problems() -> None:
    """An entry says which events were refused and why, as plain data; the key is masked."""
    events: List[Any] = [
        {"event_type": "a", "user_id": "user-1"},
        {"user_id": "abc", "device_id": 7},
        "nope",
    ]
    api_key = "6eaecc157d0ff5a58c0b0d6df54307be"
    answer = {
        "code": 400,
        "error": f"Invalid API key: {api_key}",
        "events_with_missing_fields": {"event_type": [1]},
        "events_with_invalid_id_lengths": {"user_id": [1]},
        "event_errors": [{"event": 1, "field": "user_id", "message": "too short!"}],
    }
    entry = entry_for(400, answer, events, reason="Invalid API key", api_key=api_key)
    assert entry["error"] == "Invalid API key: ****07be"
    assert entry["api_key"] == "****07be"
    assert [e["state"] for e in entry["events"]] == ["not stored", "refused", "refused"]
    assert entry["events"][1]["problems"] == [
        {"field": "event_type", "message": "missing"},
        {"field": "user_id", "message": "too short!"},
    ]
    assert entry["events"][1]["device_id"] == "7"
    assert entry["events"][2]["json"] == '"nope"'
    assert mask_key("short") == "****"


def test_request_entry_marks_stored_and_absorbed() -> None:
    """In an accepted request each event is stored, or absorbed when it was a copy."""
    first, copy = {"event_type": "a", "user_id": "user-1"}, {"event_type": "a", "user_id": "u2"}
    entry = entry_for(
        200, {"code": 200}, [first, copy], stored=1, absorbed=1, absorbed_ids={id(copy)}
    )
    assert [e["state"] for e in entry["events"]] == ["stored", "absorbed"]
    assert (entry["event_count"], entry["stored"], entry["absorbed"]) == (2, 1, 1)


def test_request_entry_marks_throttled_ids_and_clips() -> None:
    """A 429 marks the throttled user or device; long values and many events are clipped."""
    events = [{"event_type": "e", "user_id": "user-1", "device_id": "d" * 5000}] * 60
    answer = {"code": 429, "throttled_events": [0, 99], "throttled_users": {"user-1": 31}}
    entry = entry_for(429, answer, events)
    assert len(entry["events"]) == debugger.MAX_EVENTS_SHOWN and entry["event_count"] == 60
    first = entry["events"][0]
    assert first["problems"] == [
        {"field": "user_id", "message": "over the rate limit (31 events/s)"}
    ]
    assert len(first["device_id"]) == 300 and len(first["json"]) == debugger.MAX_JSON_CHARS
    assert entry["events"][1]["state"] == "not stored"
