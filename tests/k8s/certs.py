"""Certificates for the test server and for HTTPS servers a test runs (a webhook), from one throwaway CA.

trustme makes a fresh CA per ``TestPKI``; nothing touches the system trust store.
"""

from __future__ import annotations

import ssl
from pathlib import Path

import trustme


class TestPKI:
    __test__ = False  # not a pytest test class

    def __init__(self) -> None:
        self._ca = trustme.CA(key_type=trustme.KeyType.ECDSA)

    @property
    def ca_pem(self) -> bytes:
        """The CA certificate (PEM), what a client trusts and a webhook configuration's ``caBundle`` holds."""
        return self._ca.cert_pem.bytes()

    def write_ca(self, path: Path) -> Path:
        path.write_bytes(self.ca_pem)
        return path

    def server_context(self, *hosts: str) -> ssl.SSLContext:
        """A server-side TLS context with a certificate for ``hosts`` (default 127.0.0.1 and localhost)."""
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self._ca.issue_cert(*(hosts or ("127.0.0.1", "localhost"))).configure_cert(context)
        return context

    def client_context(self) -> ssl.SSLContext:
        """A client-side TLS context that trusts only this CA."""
        context = ssl.create_default_context()
        self._ca.configure_trust(context)
        return context
