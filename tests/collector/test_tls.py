"""The collector's optional TLS mode: ``Collector(ssl_context=...)`` serves HTTPS."""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import ssl
import time
from pathlib import Path
from typing import Iterator, Tuple

import pytest

from amplitude_legacy.testing import Collector
from tests.environments import self_signed_cert, server_context

from ._http import JSON_HEADERS, body, event


@pytest.fixture
def cert(tmp_path: Path) -> Tuple[str, str]:
    return self_signed_cert(tmp_path)


@pytest.fixture
def tls_collector(cert: Tuple[str, str]) -> Iterator[Collector]:
    with Collector(ssl_context=server_context(*cert)) as collector:
        yield collector


def client_context(cert: Tuple[str, str]) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=cert[0])


def test_serves_https_with_keep_alive(tls_collector: Collector, cert: Tuple[str, str]) -> None:
    """The URL is https://; requests over one verified TLS connection are all ingested."""
    assert tls_collector.url.startswith("https://127.0.0.1:")
    assert tls_collector.http_api_url == tls_collector.url + "/2/httpapi"
    conn = http.client.HTTPSConnection(
        "127.0.0.1", tls_collector.port, timeout=5, context=client_context(cert)
    )
    try:
        for i in range(3):
            conn.request("POST", "/2/httpapi", body(event(i)), JSON_HEADERS)
            answer = conn.getresponse()
            assert answer.status == 200
            assert json.loads(answer.read())["events_ingested"] == 1
    finally:
        conn.close()
    assert [e["user_id"] for e in tls_collector.events] == [
        "user-0000",
        "user-0001",
        "user-0002",
    ]


def test_a_plain_http_client_does_not_break_it(
    tls_collector: Collector, cert: Tuple[str, str]
) -> None:
    """A failed handshake (plain HTTP on the TLS port) closes that connection; HTTPS still works."""
    with socket.create_connection(("127.0.0.1", tls_collector.port), timeout=5) as plain:
        plain.sendall(b"POST /2/httpapi HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
        with contextlib.suppress(ConnectionResetError):  # closed with our bytes unread
            while plain.recv(65536):  # the collector closes it after the bad handshake
                pass
    conn = http.client.HTTPSConnection(
        "127.0.0.1", tls_collector.port, timeout=5, context=client_context(cert)
    )
    try:
        conn.request("POST", "/2/httpapi", body(event(7)), JSON_HEADERS)
        assert conn.getresponse().status == 200
    finally:
        conn.close()
    assert len(tls_collector.events) == 1


def test_stop_closes_idle_tls_connections_promptly(cert: Tuple[str, str]) -> None:
    """stop() wakes a thread parked on an idle keep-alive TLS connection instead of waiting."""
    collector = Collector(ssl_context=server_context(*cert)).start()
    conn = http.client.HTTPSConnection(
        "127.0.0.1", collector.port, timeout=5, context=client_context(cert)
    )
    try:
        conn.request("POST", "/2/httpapi", body(event(1)), JSON_HEADERS)
        conn.getresponse().read()
        started = time.monotonic()
        collector.stop()
        assert time.monotonic() - started < 1.0
    finally:
        conn.close()
        collector.stop()
