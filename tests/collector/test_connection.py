"""HTTP/1.1 behaviour: keep-alive, one write per response, framing and lifecycle."""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from typing import Any, Dict, List

import pytest

from amplitude_legacy.testing import Collector, Delay

from ._http import JSON_HEADERS, body, event, send, send_json


def read_to_eof(sock: socket.socket) -> bytes:
    """Read until the server closes the connection."""
    received = b""
    while chunk := sock.recv(65536):
        received += chunk
    return received


def test_keep_alive_reuses_one_connection(amplitude_collector: Collector) -> None:
    """Sequential requests on one http.client connection all travel on the same socket."""
    conn = http.client.HTTPConnection("127.0.0.1", amplitude_collector.port, timeout=5)
    try:
        send_json(conn, body(event(0)))
        first = conn.sock
        for i in range(1, 5):
            send_json(conn, body(event(i)))
            assert conn.sock is first
    finally:
        conn.close()
    assert len(amplitude_collector.events) == 5


def test_keep_alive_round_trips_are_fast(amplitude_collector: Collector) -> None:
    """20 keep-alive requests finish well under 0.5 s: no Nagle/delayed-ACK stall per response."""
    conn = http.client.HTTPConnection("127.0.0.1", amplitude_collector.port, timeout=5)
    data = body(event(0))
    try:
        send_json(conn, data)  # connect outside the timed part
        start = time.perf_counter()
        for _ in range(20):
            send_json(conn, data)
        elapsed = time.perf_counter() - start
    finally:
        conn.close()
    assert elapsed < 0.5, f"20 keep-alive round trips took {elapsed:.3f}s"


def test_response_is_one_segment(amplitude_collector: Collector) -> None:
    """Status line, headers and body arrive together: one recv gets the whole response."""
    data = body(event(0))
    request = (
        b"POST /2/httpapi HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n" % len(data)
    ) + data
    with socket.create_connection(("127.0.0.1", amplitude_collector.port), timeout=5) as sock:
        sock.sendall(request)
        # recv returns as soon as the first segment lands: with a header write followed by a
        # body write it would hold the headers only.
        chunk = sock.recv(65536)
    head, _, rest = chunk.partition(b"\r\n\r\n")
    assert f"Content-Length: {len(rest)}".encode() in head.split(b"\r\n")
    assert json.loads(rest)["code"] == 200


def test_connection_close_is_honoured(amplitude_collector: Collector) -> None:
    """A request with Connection: close is answered with Connection: close and the socket closes."""
    headers = {**JSON_HEADERS, "Connection": "close"}
    answer = send(amplitude_collector, body(event(0)), headers=headers)
    assert answer.status == 200
    assert answer.headers["connection"] == "close"


def test_chunked_request_body(amplitude_collector: Collector) -> None:
    """A chunked request body is reassembled."""
    data = body(event(0), event(1))
    conn = http.client.HTTPConnection("127.0.0.1", amplitude_collector.port, timeout=5)
    try:
        conn.request(
            "POST",
            "/batch",
            iter([data[:10], data[10:]]),
            {**JSON_HEADERS, "Transfer-Encoding": "chunked"},
            encode_chunked=True,
        )
        response = conn.getresponse()
        assert json.loads(response.read())["events_ingested"] == 2
    finally:
        conn.close()
    assert amplitude_collector.requests[0].body == data


def test_declared_body_far_over_the_limit_is_refused_unread() -> None:
    """A Content-Length far past every limit gets 413 and Connection: close without a read."""
    with Collector(max_body_bytes=100, batch_max_body_bytes=100) as collector:
        with socket.create_connection(("127.0.0.1", collector.port), timeout=5) as sock:
            sock.sendall(
                b"POST /batch HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b"Content-Length: 99999999\r\n\r\n"
            )
            received = read_to_eof(sock)
        assert received.startswith(b"HTTP/1.1 413 ")
        assert b"Connection: close" in received
        rest = received.partition(b"\r\n\r\n")[2]
        assert json.loads(rest) == {
            "code": 413,
            "error": "Payload too large",
            "detail": "Content-Length 99999999 is far over the limit",
        }


def test_malformed_request_line_gets_json_error(amplitude_collector: Collector) -> None:
    """A request that is not HTTP gets a JSON 400 and the connection is closed."""
    with socket.create_connection(("127.0.0.1", amplitude_collector.port), timeout=5) as sock:
        sock.sendall(b"HELLO\r\n\r\n")
        received = read_to_eof(sock)
    head, _, rest = received.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 ")
    assert b"Content-Type: application/json" in head
    assert json.loads(rest)["code"] == 400


def test_head_gets_no_body(amplitude_collector: Collector) -> None:
    """A HEAD request is answered with headers only, so the connection stays usable."""
    conn = http.client.HTTPConnection("127.0.0.1", amplitude_collector.port, timeout=5)
    try:
        conn.request("HEAD", "/2/httpapi")
        response = conn.getresponse()
        assert response.status == 405
        assert response.read() == b""
        assert send_json(conn, body(event(0)))["code"] == 200
    finally:
        conn.close()


def test_concurrent_connections(amplitude_collector: Collector) -> None:
    """Several clients at once are all served and every event is recorded."""
    errors: List[BaseException] = []

    def client(n: int) -> None:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", amplitude_collector.port, timeout=5)
            for i in range(10):
                send_json(conn, body(event(n * 100 + i)))
            conn.close()
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5)
    assert errors == []
    assert len(amplitude_collector.wait_for_events(80)) == 80
    assert amplitude_collector.duplicates() == []


def test_urls_and_port() -> None:
    """url, http_api_url and batch_url follow the bound port; url needs a started collector."""
    collector = Collector()
    with pytest.raises(RuntimeError):
        _ = collector.url
    with collector:
        assert collector.port > 0
        assert collector.url == f"http://127.0.0.1:{collector.port}"
        assert collector.http_api_url == collector.url + "/2/httpapi"
        assert collector.batch_url == collector.url + "/batch"


def test_start_returns_self_and_stop_is_idempotent() -> None:
    """start() returns the collector; stop() may be called repeatedly; a restart is refused."""
    collector = Collector()
    assert collector.start() is collector
    collector.stop()
    collector.stop()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", collector.port), timeout=5)
    with pytest.raises(RuntimeError):
        collector.start()
    Collector().stop()  # never started: nothing to do


def test_stop_closes_idle_keep_alive_connections_promptly() -> None:
    """stop() returns quickly even with an idle keep-alive client connected."""
    collector = Collector().start()
    conn = http.client.HTTPConnection("127.0.0.1", collector.port, timeout=5)
    send_json(conn, body(event(0)))
    start = time.perf_counter()
    collector.stop()
    assert time.perf_counter() - start < 0.5
    with pytest.raises((ConnectionError, http.client.HTTPException, OSError)):
        send_json(conn, body(event(1)))
    conn.close()


def test_stop_interrupts_a_delayed_answer() -> None:
    """stop() cuts a scripted delay short: it returns fast and the request goes unanswered."""
    collector = Collector().start()
    collector.script(Delay(30))
    outcome: List[BaseException] = []

    def client() -> None:
        try:
            send(collector, body(event(0)), timeout=10)
        except BaseException as exc:  # expected: no answer
            outcome.append(exc)

    thread = threading.Thread(target=client)
    thread.start()
    collector.wait_for_requests(1)
    start = time.perf_counter()
    collector.stop()
    assert time.perf_counter() - start < 0.5
    thread.join(5)
    assert len(outcome) == 1
    assert isinstance(outcome[0], (ConnectionError, http.client.HTTPException))


def test_port_in_use_raises() -> None:
    """Binding a port that is taken raises OSError from start()."""
    with Collector() as first, pytest.raises(OSError):
        Collector(port=first.port).start()


@pytest.mark.parametrize(
    "kwargs",
    [
        {"port": -1},
        {"port": 70000},
        {"fail_rate": 1.5},
        {"latency": -1},
        {"max_events": -1},
        {"min_id_length": -1},
        {"eps_threshold": -1},
        {"rate_window": 0},
    ],
)
def test_bad_settings_raise(kwargs: Dict[str, Any]) -> None:
    """Out-of-range settings are refused when the collector is built."""
    with pytest.raises(ValueError):
        Collector(**kwargs)


def test_api_keys_must_not_be_a_single_string() -> None:
    """api_keys="abc" is a mistake (it would mean keys "a", "b", "c") and raises TypeError."""
    with pytest.raises(TypeError):
        Collector(api_keys="abc")
