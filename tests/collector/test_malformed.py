"""Malformed requests over raw sockets: each gets a JSON answer saying what is wrong, and the
collector keeps serving."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any, Dict, Iterator, List, Tuple

import pytest

from amplitude_legacy.testing import Collector, Reply

from ._http import body, event, send_json

Response = Tuple[int, Dict[str, str], Any]


@pytest.fixture
def collector() -> Iterator[Collector]:
    """A collector with small body limits, so that "far over the limit" is cheap to send."""
    with Collector(max_body_bytes=10_000, batch_max_body_bytes=10_000) as collector:
        yield collector


def read_response(sock: socket.socket) -> Response:
    """Read one HTTP response (status, lower-cased headers, parsed JSON body) off ``sock``."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed before a response; got {data!r}"
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (h.partition(":") for h in header_lines)}
    length = int(headers["content-length"])
    while len(rest) < length:
        chunk = sock.recv(65536)
        assert chunk, "connection closed inside the response body"
        rest += chunk
    assert headers["content-type"] == "application/json"
    return int(status_line.split()[1]), headers, json.loads(rest[:length])


def exchange(collector: Collector, raw: bytes, half_close: bool = False) -> Response:
    """Send ``raw`` on a new connection and read the answer; check the connection then closes."""
    with socket.create_connection(("127.0.0.1", collector.port), timeout=5) as sock:
        sock.sendall(raw)
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        status, headers, answer = read_response(sock)
        assert headers.get("connection") == "close"
        assert sock.recv(1) == b""  # closed after the answer
    assert answer["code"] == status
    return status, headers, answer


def request(head: str, data: bytes = b"") -> bytes:
    """A POST to /2/httpapi with the given extra header lines (CRLF-separated) and body."""
    lines = "POST /2/httpapi HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    return (lines + head + "\r\n").encode("latin-1") + data


def on_one_connection(collector: Collector, raw: bytes) -> Response:
    """Send ``raw`` and read the answer, then check a valid request on the same connection."""
    with socket.create_connection(("127.0.0.1", collector.port), timeout=5) as sock:
        sock.sendall(raw)
        status, headers, answer = read_response(sock)
        assert "connection" not in headers  # a well-framed request keeps the connection open
        sock.sendall(request(f"Content-Length: {len(DATA)}\r\n", DATA))
        assert read_response(sock)[2]["code"] == 200
    assert answer["code"] == status
    return status, headers, answer


def still_serving(collector: Collector) -> None:
    """A valid request on a fresh connection is still accepted."""
    before = collector.counts()["events_stored"]
    assert send_json(collector, body(event(before, insert_id=None)))["code"] == 200
    assert collector.counts()["events_stored"] == before + 1


DATA = body(event(0))


@pytest.mark.parametrize(
    ("head", "error", "detail"),
    [
        (
            "Content-Length: -1\r\n",
            "Invalid Content-Length header",
            "'-1' is not a non-negative integer",
        ),
        ("Content-Length: abc\r\n", "Invalid Content-Length header", "'abc' is not a"),
        ("Content-Length: +5\r\n", "Invalid Content-Length header", "'+5' is not a"),
        ("Content-Length: 1.5\r\n", "Invalid Content-Length header", "'1.5' is not a"),
        ("Content-Length: \r\n", "Invalid Content-Length header", "'' is not a"),
        (
            "Content-Length: 5\r\nContent-Length: 6\r\n",
            "Invalid Content-Length header",
            "several different values: 5, 6",
        ),
        (
            "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",
            "Invalid request framing",
            "both Content-Length and Transfer-Encoding are set",
        ),
        (
            "Transfer-Encoding: gzip\r\n",
            "Unsupported Transfer-Encoding",
            "Transfer-Encoding 'gzip': only chunked is supported",
        ),
    ],
)
def test_bad_framing_headers(collector: Collector, head: str, error: str, detail: str) -> None:
    """A bad, negative or ambiguous Content-Length / Transfer-Encoding gets a 400 saying so."""
    status, _, answer = exchange(collector, request(head, DATA))
    assert (status, answer["error"]) == (400, error)
    assert answer["detail"].startswith(detail)
    assert collector.requests[-1].status == 400
    assert collector.counts()["rejected"] == {error: 1}
    still_serving(collector)


@pytest.mark.parametrize(
    ("chunks", "detail"),
    [
        (b"zz\r\n{}\r\n0\r\n\r\n", "chunk size 'zz' is not a hexadecimal number"),
        (b"-5\r\n{}\r\n0\r\n\r\n", "chunk size '-5' is not a hexadecimal number"),
        (b"2\r\n{}}\r\n0\r\n\r\n", "a chunk is not followed by CRLF"),
        (b"0" * 2000 + b"\r\n", "a chunk-size line is longer than 1024 bytes"),
        (b"0\r\n" + b"X-Trailer: 1\r\n" * 101, "more than 100 trailer lines"),
    ],
)
def test_bad_chunked_body(collector: Collector, chunks: bytes, detail: str) -> None:
    """Malformed chunked encoding gets a 400 "Invalid chunked body" saying what is wrong."""
    status, _, answer = exchange(collector, request("Transfer-Encoding: chunked\r\n", chunks))
    assert (status, answer["error"]) == (400, "Invalid chunked body")
    assert answer["detail"].startswith(detail)
    still_serving(collector)


@pytest.mark.parametrize(
    ("head", "data", "detail"),
    [
        ("Content-Length: 100\r\n", b'{"api_key"', "Content-Length is 100 but the body ended"),
        ("Transfer-Encoding: chunked\r\n", b"10\r\n{}", "the body ended inside a chunk"),
        ("Transfer-Encoding: chunked\r\n", b"2\r\n{}\r\n", "the body ended inside a chunk-size"),
    ],
)
def test_body_ending_early(collector: Collector, head: str, data: bytes, detail: str) -> None:
    """A client that stops sending mid-body (and half-closes) still gets a 400 saying so."""
    status, _, answer = exchange(collector, request(head, data), half_close=True)
    assert (status, answer["error"]) == (400, "Request body ended early")
    assert answer["detail"].startswith(detail)
    still_serving(collector)


@pytest.mark.parametrize(
    "head",
    [
        "Content-Length: 123456789012345678901234567890\r\n",
        "Transfer-Encoding: chunked\r\n",
    ],
)
def test_huge_body_is_refused_unread(collector: Collector, head: str) -> None:
    """A declared (or chunked) body far over every limit gets 413 before it is read."""
    chunks = b"fffffffffffffffffff\r\n" if "chunked" in head else b""
    status, _, answer = exchange(collector, request(head, chunks))
    assert (status, answer["error"]) == (413, "Payload too large")
    assert "far over the limit" in answer["detail"]
    still_serving(collector)


def test_too_many_headers(collector: Collector) -> None:
    """More than 100 header lines get a JSON 431 (http.server's limit) and the connection closes."""
    status, _, answer = exchange(collector, request("X-A: 1\r\n" * 101 + "Content-Length: 0\r\n"))
    assert status == 431
    assert answer["error"] == "Too many headers"
    assert collector.counts()["by_status"] == {"431": 1}
    still_serving(collector)


def deep(depth: int) -> str:
    """JSON text of an object nested ``depth`` levels deep."""
    return '{"k":' * (depth - 1) + '{"leaf":1}' + "}" * (depth - 1)


def test_deeply_nested_property_is_an_invalid_field(amplitude_collector: Collector) -> None:
    """A 5,000-deep property is reported on its event and field; the keep-alive connection lives."""
    collector = amplitude_collector
    prefix = body(event(0), event(1, event_properties={}))
    data = prefix.replace(b'"event_properties": {}', b'"event_properties": ' + deep(5000).encode())
    with socket.create_connection(("127.0.0.1", collector.port), timeout=5) as sock:
        sock.sendall(request(f"Content-Length: {len(data)}\r\n", data))
        status, headers, answer = read_response(sock)
        assert "connection" not in headers  # a 400 on a well-framed request keeps the connection
        assert (status, answer["error"]) == (400, "Invalid field values on some events")
        assert answer["events_with_invalid_fields"] == {"event_properties": [1]}
        assert answer["event_errors"] == [
            {"event": 1, "field": "event_properties", "message": "nested deeper than 40 levels"}
        ]
        sock.sendall(request(f"Content-Length: {len(DATA)}\r\n", DATA))
        assert read_response(sock)[2]["events_ingested"] == 1
    assert [e["insert_id"] for e in collector.events] == ["insert-0000"]


@pytest.mark.parametrize(
    ("data", "detail"),
    [
        (("[" * 5000 + "]" * 5000).encode(), "nested deeper than the parser allows"),
        (("[" * 5000).encode(), "nested deeper than the parser allows"),
        (b'{"api_key": "k", "events": [], "n": NaN}', "NaN is not a JSON value"),
        (b'{"api_key": "k", "events": [], "n": -Infinity}', "-Infinity is not a JSON value"),
        (b'{"api_key": "k", "events": [], "n": 1e999}', "the number 1e999 is out of range"),
        (b'{"api_key": "k", "events": [], "n": ' + b"9" * 5000 + b"}", "Exceeds the limit"),
        (b"\xef\xbb\xbf{}", "Unexpected UTF-8 BOM"),
        (
            b'{"api_key": "k", "events": [\xc3\x28]}',
            "the body is not UTF-8: byte 0xc3 at offset 28",
        ),
        (b"null", "the body is a JSON null; expected an object with api_key and events"),
        (b"12", "the body is a JSON number; expected an object with api_key and events"),
    ],
)
def test_invalid_json_says_why(collector: Collector, data: bytes, detail: str) -> None:
    """Too deep, non-standard, non-UTF-8 or non-object JSON: 400 "Invalid JSON request body"."""
    status, _, answer = on_one_connection(
        collector, request(f"Content-Length: {len(data)}\r\n", data)
    )
    assert (status, answer["error"]) == (400, "Invalid JSON request body")
    assert answer["detail"].startswith(detail), answer["detail"]
    assert collector.counts()["rejected"] == {"Invalid JSON request body": 1}
    still_serving(collector)


def test_unsupported_content_encoding(collector: Collector) -> None:
    """A Content-Encoding other than gzip is refused with a detail naming it."""
    head = f"Content-Encoding: br\r\nContent-Length: {len(DATA)}\r\n"
    _, _, answer = on_one_connection(collector, request(head, DATA))
    assert answer["detail"] == "unsupported Content-Encoding 'br': send gzip or no encoding"


def test_scripted_reply_to_a_deep_body(collector: Collector) -> None:
    """A scripted step records a body too deep to parse as payload None, and still answers."""
    collector.script(Reply(503))
    assert send_json(collector, ("[" * 5000).encode())["code"] == 503
    assert (collector.requests[0].payload, collector.requests[0].status) == (None, 503)
    assert collector.counts()["rejected"] == {"scripted 503": 1}
    still_serving(collector)


def test_lone_surrogate_is_stored(tmp_path: Path) -> None:
    """An event holding a lone surrogate escape is stored, and the JSONL store stays UTF-8."""
    store = tmp_path / "events.jsonl"
    with Collector(store=store) as collector:
        data = body(event(0, event_properties={"s": "x"})).replace(b'"x"', b'"\\ud800 zo\\u00eb"')
        assert send_json(collector, data)["code"] == 200
        assert collector.events[0]["event_properties"] == {"s": "\ud800 zo\u00eb"}
    [line] = store.read_text("utf-8").splitlines()
    assert json.loads(line)["event_properties"] == {"s": "\ud800 zo\u00eb"}


def test_every_malformed_request_is_counted(collector: Collector) -> None:
    """counts() sums every request by status and every refusal by reason."""
    exchange(collector, request("Content-Length: -1\r\n"))
    send_json(collector, b"{")
    send_json(collector, b"{")
    still_serving(collector)
    counts = collector.counts()
    assert counts["requests"] == 4
    assert counts["by_status"] == {"200": 1, "400": 3}
    assert counts["rejected"] == {
        "Invalid JSON request body": 2,
        "Invalid Content-Length header": 1,
    }


def statuses(collector: Collector) -> List[int]:
    """The recorded status of every request."""
    return [r.status for r in collector.requests]


def test_malformed_requests_are_recorded(collector: Collector) -> None:
    """A request refused while its body was read is recorded (empty body, no payload)."""
    exchange(collector, request("Content-Length: x\r\n"))
    [refused] = collector.requests
    assert (refused.path, refused.body, refused.payload, refused.status) == (
        "/2/httpapi",
        b"",
        None,
        400,
    )
    assert refused.headers["content-length"] == "x"
    assert statuses(collector) == [400]
