"""Proxies and TLS: forwarding, CONNECT, proxy auth, environment proxies, CA bundle, client
certificates and ``RequestsTransport`` (issue 9, item 3), through a loopback proxy."""

from __future__ import annotations

import logging
import ssl
from pathlib import Path
from typing import Iterator, Tuple

import pytest
import requests

from amplitude_legacy import NodeClient, OptionsError, RequestsTransport, Status
from amplitude_legacy.testing import Collector
from tests.environments import API_KEY, event, running_client, self_signed_cert, server_context
from tests.environments._proxy import LoopbackProxy

pytestmark = pytest.mark.timeout(10)

USER, PASSWORD = "proxy-user", "s3cret-proxy-pw"
#: base64("proxy-user:s3cret-proxy-pw")
EXPECTED_AUTH = "Basic cHJveHktdXNlcjpzM2NyZXQtcHJveHktcHc="
_PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy", "request_method")


@pytest.fixture(autouse=True)
def no_environment_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    """Start from an environment without proxy variables (the host's must not leak in)."""
    for name in _PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)


@pytest.fixture
def proxy() -> Iterator[LoopbackProxy]:
    with LoopbackProxy() as running:
        yield running


@pytest.fixture
def auth_proxy() -> Iterator[LoopbackProxy]:
    with LoopbackProxy(credentials=(USER, PASSWORD)) as running:
        yield running


@pytest.fixture
def cert(tmp_path: Path) -> Tuple[str, str]:
    return self_signed_cert(tmp_path)


@pytest.fixture
def tls_collector(cert: Tuple[str, str]) -> Iterator[Collector]:
    with Collector(ssl_context=server_context(*cert)) as collector:
        yield collector


def deliver(client: NodeClient, n: int = 3) -> None:
    """Log ``n`` events, flush, and require every one to succeed."""
    futures = [client.logEvent(event(i)) for i in range(n)]
    result = client.flush(2)
    assert result.pending == 0, result
    assert [f.result(0).status for f in futures] == [Status.SUCCESS] * n


def test_http_proxy_forwards(proxy: LoopbackProxy, collector: Collector) -> None:
    """``proxy="http://127.0.0.1:P"``: absolute-form POSTs through the proxy reach the collector."""
    with running_client(collector.http_api_url, proxy=proxy.url) as client:
        deliver(client)
    assert len(collector.events) == 3
    seen = proxy.requests
    assert {(r.method, r.target) for r in seen} == {("POST", collector.http_api_url)}
    assert not [r for r in seen if "proxy-authorization" in r.headers]


def test_proxy_basic_auth(auth_proxy: LoopbackProxy, collector: Collector) -> None:
    """Credentials in the proxy URL become ``Proxy-Authorization: Basic``; the proxy admits it."""
    url = auth_proxy.url_with(USER, PASSWORD)
    with running_client(collector.http_api_url, proxy=url) as client:
        deliver(client)
    assert len(collector.events) == 3
    assert {r.headers.get("proxy-authorization") for r in auth_proxy.requests} == {EXPECTED_AUTH}
    assert all(r.authorized for r in auth_proxy.requests)


def test_percent_encoded_credentials_are_decoded(collector: Collector) -> None:
    """A password with reserved characters, percent-encoded in the URL, is sent decoded."""
    with (
        LoopbackProxy(credentials=("user", "p@ss:w/rd")) as proxy,
        running_client(
            collector.http_api_url, proxy=proxy.url_with("user", "p%40ss%3Aw%2Frd")
        ) as client,
    ):
        deliver(client, 1)
        assert proxy.requests[0].authorized


def test_wrong_password_fails_without_leaking_it(
    auth_proxy: LoopbackProxy, collector: Collector, caplog: pytest.LogCaptureFixture
) -> None:
    """A 407 drops the event; the password is in no log line, response, repr or stats."""
    caplog.set_level(logging.DEBUG)  # urllib3's connection logs included
    secret = "wrong-Pa55word-xyz"
    with running_client(
        collector.http_api_url, proxy=auth_proxy.url_with(USER, secret), retry_timeouts=[]
    ) as client:
        response = client.logEvent(event(1)).result(2)
        assert (response.status, response.status_code) == (Status.INVALID, 407)
        shown = [caplog.text, repr(response), repr(client), repr(client.stats())]
    assert not [text for text in shown if secret in text]
    assert collector.events == [] and not auth_proxy.requests[0].authorized


def test_bad_proxy_url_error_hides_the_password() -> None:
    """The OptionsError for a malformed proxy URL names the option, not the credentials."""
    with pytest.raises(OptionsError) as raised:
        NodeClient(API_KEY, proxy="socks5://user:hunter2-pw@127.0.0.1:1080")
    assert "proxy" in str(raised.value) and "hunter2-pw" not in str(raised.value)


def test_options_repr_hides_the_proxy_password() -> None:
    """``repr(client.getOptions())`` must not show the proxy password."""
    client = NodeClient(API_KEY, proxy="http://user:hunter2-pw@127.0.0.1:3128")
    try:
        assert "hunter2-pw" not in repr(client.getOptions())
    finally:
        client.shutdown(0)


def test_trust_env_uses_http_proxy(
    proxy: LoopbackProxy, collector: Collector, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``trust_env=True`` with ``HTTP_PROXY`` set sends through that proxy."""
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    with running_client(collector.http_api_url, trust_env=True) as client:
        deliver(client)
    assert len(collector.events) == 3
    assert {r.target for r in proxy.requests} == {collector.http_api_url}


def test_trust_env_honours_no_proxy(
    proxy: LoopbackProxy, collector: Collector, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``NO_PROXY=127.0.0.1`` exempts the collector: it is reached directly."""
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    with running_client(collector.http_api_url, trust_env=True) as client:
        deliver(client)
    assert len(collector.events) == 3 and proxy.requests == []


def test_environment_is_ignored_without_trust_env(
    proxy: LoopbackProxy, collector: Collector, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``HTTP_PROXY`` alone changes nothing: ``trust_env`` is off by default."""
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    with running_client(collector.http_api_url) as client:
        deliver(client)
    assert len(collector.events) == 3 and proxy.requests == []


def test_connect_tunnel_to_https_collector(
    auth_proxy: LoopbackProxy, tls_collector: Collector, cert: Tuple[str, str]
) -> None:
    """An https:// server through the proxy: CONNECT (with auth), TLS verified by ``ca_certs``."""
    with running_client(
        tls_collector.http_api_url, proxy=auth_proxy.url_with(USER, PASSWORD), ca_certs=cert[0]
    ) as client:
        deliver(client)
    assert len(tls_collector.events) == 3
    (connect,) = auth_proxy.requests  # one tunnel, kept alive for every request
    assert (connect.method, connect.target) == ("CONNECT", f"127.0.0.1:{tls_collector.port}")
    assert connect.headers.get("proxy-authorization") == EXPECTED_AUTH


def test_tunnel_without_the_ca_bundle_is_refused(
    proxy: LoopbackProxy, tls_collector: Collector
) -> None:
    """Without ``ca_certs`` the self-signed certificate fails verification: nothing is sent."""
    with running_client(tls_collector.http_api_url, proxy=proxy.url, retry_timeouts=[]) as client:
        response = client.logEvent(event(1)).result(2)
    assert response.status is not Status.SUCCESS
    assert tls_collector.events == [] and proxy.requests[0].method == "CONNECT"


def test_https_proxy(collector: Collector, cert: Tuple[str, str]) -> None:
    """An ``https://`` proxy (TLS to the proxy itself, verified with ``ca_certs``) forwards."""
    with (
        LoopbackProxy(ssl_context=server_context(*cert)) as proxy,
        running_client(collector.http_api_url, proxy=proxy.url, ca_certs=cert[0]) as client,
    ):
        assert proxy.url.startswith("https://")
        deliver(client)
        assert {r.method for r in proxy.requests} == {"POST"}
    assert len(collector.events) == 3


def test_client_certificate(cert: Tuple[str, str]) -> None:
    """A server that requires a client certificate accepts ``cert_file``/``key_file``."""
    context = server_context(*cert)
    context.verify_mode = ssl.CERT_REQUIRED
    context.load_verify_locations(cert[0])
    with Collector(ssl_context=context) as mtls:
        with running_client(
            mtls.http_api_url, ca_certs=cert[0], cert_file=cert[0], key_file=cert[1]
        ) as client:
            deliver(client)
        with running_client(mtls.http_api_url, ca_certs=cert[0], retry_timeouts=[]) as anonymous:
            refused = anonymous.logEvent(event(9)).result(2)
        assert refused.status is not Status.SUCCESS
        assert len(mtls.events) == 3


def test_requests_transport_uses_session_proxies(
    proxy: LoopbackProxy, collector: Collector
) -> None:
    """``RequestsTransport(session)`` with ``session.proxies`` goes through the proxy."""
    session = requests.Session()
    session.proxies = {"http": proxy.url}
    with running_client(
        collector.http_api_url, transport_class=RequestsTransport(session)
    ) as client:
        deliver(client)
    assert len(collector.events) == 3
    assert {(r.method, r.target) for r in proxy.requests} == {("POST", collector.http_api_url)}
