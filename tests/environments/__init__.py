"""Environment tests (issue 9): asyncio, gevent, proxies and TLS, serverless, gzip.

Each environment runs for real on loopback: an event loop, a gevent-patched subprocess, a
forwarding/CONNECT proxy, a handler-per-invocation loop. Shared helpers live here.
"""

from __future__ import annotations

import datetime
import ipaddress
import shutil
import ssl
import subprocess
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Dict, Iterator, Tuple

import pytest

from amplitude_legacy import NodeClient

API_KEY = "TEST_API_KEY_0123456789abcdef"
#: A short retry schedule (ms), so a failure resolves fast.
FAST_RETRIES = [10, 10, 20]


def event(i: int, user: str | None = None, **fields: Any) -> Dict[str, Any]:
    """A valid event numbered ``i`` (``event_type`` ``e<i>``)."""
    return {"event_type": f"e{i}", "user_id": user or f"user-{i:05d}", **fields}


@contextmanager
def running_client(server_url: str, **options: Any) -> Iterator[NodeClient]:
    """A ``NodeClient`` aimed at ``server_url``, shut down (bounded) when the block ends."""
    options.setdefault("retry_timeouts", FAST_RETRIES)
    client = NodeClient(API_KEY, server_url=server_url, **options)
    try:
        yield client
    finally:
        client.shutdown(2)


def self_signed_cert(directory: Path) -> Tuple[str, str]:
    """Write a self-signed certificate for ``127.0.0.1`` and its key; return both paths.

    Uses the ``cryptography`` package when it is installed, else the ``openssl`` command;
    skips the calling test when neither is available.
    """
    cert, key = directory / "cert.pem", directory / "key.pem"
    try:
        _cert_with_cryptography(cert, key)
    except ImportError:
        openssl = shutil.which("openssl")
        if openssl is None:
            pytest.skip("needs the cryptography package or the openssl command to make a cert")
        subprocess.run(
            [
                openssl,
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-days",
                "2",
                "-subj",
                "/CN=127.0.0.1",
                "-addext",
                "subjectAltName=IP:127.0.0.1",
                "-keyout",
                str(key),
                "-out",
                str(cert),
            ],
            check=True,
            capture_output=True,
            timeout=10,
        )
    return str(cert), str(key)


def _cert_with_cryptography(cert_path: Path, key_path: Path) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


def server_context(cert: str, key: str) -> ssl.SSLContext:
    """A server-side TLS context serving ``cert``."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return context
