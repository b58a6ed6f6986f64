"""The Kubernetes API test server: an aiohttp app on a free loopback port, HTTPS by default.

    server = ApiServer()
    await server.start()
    async with ApiClient(server.client_configuration()) as api:
        ...
    await server.stop()

It starts with the namespaces ``default``, ``kube-system``, ``kube-public`` and ``kube-node-lease`` and
``nodes`` Ready Node objects (``node-1``…).
"""

from __future__ import annotations

import base64
import logging
import ssl
import tempfile
from pathlib import Path
from typing import Any

from aiohttp import web

from tests.k8s.admission import MWC, Admission
from tests.k8s.certs import TestPKI
from tests.k8s.clock import Clock
from tests.k8s.controllers import Controllers
from tests.k8s.gateway import Gateway
from tests.k8s.http_api import Routes
from tests.k8s.resources import ResourceTable
from tests.k8s.store import Obj, Store

log = logging.getLogger(__name__)
WEBHOOK_CONFIGURATION = "klt-test-mutating-webhook"


class ApiServer:
    """One in-process API server; every attribute is meant for tests to read and drive."""

    def __init__(
        self,
        *,
        tls: bool = True,
        host: str = "127.0.0.1",
        history_limit: int = 10_000,
        bookmark_interval: float = 1.0,
        watch_timeout: float | None = None,
        nodes: int = 1,
        strict_namespaces: bool = True,
        workdir: Path | None = None,
    ) -> None:
        self.tls = tls
        self.host = host
        self.bookmark_interval = bookmark_interval
        self.watch_timeout = watch_timeout
        self.clock = Clock()
        self.table = ResourceTable()
        self.store = Store(
            self.table, self.clock, history_limit=history_limit, strict_namespaces=strict_namespaces
        )
        self.admission = Admission(self.store)
        self.gateway = Gateway(self.store, self.admission)
        self.controllers = Controllers(self.store, self.gateway)
        self.pki = TestPKI()
        self._workdir = workdir
        self._tempdir: tempfile.TemporaryDirectory[str] | None = None
        self._runner: web.AppRunner | None = None
        self.port = 0
        #: Every request served, as (method, path, query), for tests that check what a client sent.
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self._nodes = nodes

    # -- lifecycle -------------------------------------------------------------------------------------

    async def start(self) -> ApiServer:
        if self._workdir is None:
            self._tempdir = tempfile.TemporaryDirectory(prefix="k8s-test-server-")
            self._workdir = Path(self._tempdir.name)
        self.ca_path = self.pki.write_ca(self._workdir / "ca.crt")
        for name in ("default", "kube-system", "kube-public", "kube-node-lease"):
            if self.store.find("namespaces", None, name) is None:
                self.store.create("namespaces", {"metadata": {"name": name}})
        for index in range(1, self._nodes + 1):
            self.add_node(f"node-{index}")
        self._runner = web.AppRunner(
            Routes(self).app(), access_log=None, handle_signals=False, shutdown_timeout=0.5
        )
        await self._runner.setup()
        context = self.pki.server_context(self.host, "localhost") if self.tls else None
        await web.TCPSite(self._runner, self.host, 0, ssl_context=context).start()
        self.port = int(self._runner.addresses[0][1])
        log.info("Kubernetes API test server listening on %s", self.url)
        return self

    async def stop(self) -> None:
        await self.controllers.stop()
        self.store.drop_watches()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._tempdir is not None:
            self._tempdir.cleanup()
            self._tempdir = None

    async def __aenter__(self) -> ApiServer:
        return await self.start()

    async def __aexit__(self, *_exc: object) -> None:
        await self.stop()

    # -- what a client needs ---------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.port}"

    @property
    def ca_pem(self) -> bytes:
        return self.pki.ca_pem

    def client_configuration(self) -> Any:
        """A kubernetes-asyncio ``Configuration`` for this server: its URL, trusting its CA, with client-side
        validation off (typed models otherwise reject objects that leave out required fields)."""
        from kubernetes_asyncio.client import Configuration

        config = Configuration(host=self.url)
        config.client_side_validation = False
        if self.tls:
            config.ssl_ca_cert = str(self.ca_path)
            config.verify_ssl = True
        return config

    def kubeconfig(self) -> dict[str, Any]:
        """A kubeconfig document for this server (write it as YAML or JSON for code that reads one)."""
        cluster: dict[str, Any] = {"server": self.url}
        if self.tls:
            cluster["certificate-authority-data"] = base64.b64encode(self.ca_pem).decode()
        return {
            "apiVersion": "v1",
            "kind": "Config",
            "current-context": "klt-test",
            "clusters": [{"name": "klt-test", "cluster": cluster}],
            "users": [{"name": "klt-test", "user": {"token": "klt-test-token"}}],
            "contexts": [{"name": "klt-test", "context": {"cluster": "klt-test", "user": "klt-test"}}],
        }

    def server_ssl_context(self, *hosts: str) -> ssl.SSLContext:
        """A TLS context for an HTTPS server the test runs (a webhook), signed by this server's CA, so that
        ``ca_pem`` is the right ``caBundle`` for it."""
        return self.pki.server_context(*hosts)

    # -- test hooks ------------------------------------------------------------------------------------

    def set_mutating_webhook(
        self,
        url: str,
        ca_bundle: bytes | str | None = None,
        failure_policy: str = "Fail",
        *,
        name: str = "mpod.keptn.sh",
        operations: tuple[str, ...] = ("CREATE", "UPDATE"),
        namespace_selector: dict[str, Any] | None = None,
        timeout_seconds: int = 10,
    ) -> Obj:
        """Register a pod mutating webhook as a MutatingWebhookConfiguration would (replacing the previous
        one set this way). ``ca_bundle`` is PEM or base64 of PEM; None trusts this server's own CA."""
        pem = self.ca_pem if ca_bundle is None else ca_bundle
        raw = pem if isinstance(pem, bytes) else pem.encode()
        bundle = base64.b64encode(raw).decode() if b"BEGIN" in raw else raw.decode()
        hook: dict[str, Any] = {
            "name": name,
            "admissionReviewVersions": ["v1"],
            "sideEffects": "None",
            "failurePolicy": failure_policy,
            "timeoutSeconds": timeout_seconds,
            "clientConfig": {"url": url, "caBundle": bundle},
            "rules": [
                {
                    "operations": list(operations),
                    "apiGroups": [""],
                    "apiVersions": ["v1"],
                    "resources": ["pods"],
                    "scope": "Namespaced",
                }
            ],
        }
        if namespace_selector is not None:
            hook["namespaceSelector"] = namespace_selector
        self.clear_mutating_webhook()
        return self.store.create(MWC, {"metadata": {"name": WEBHOOK_CONFIGURATION}, "webhooks": [hook]})

    def clear_mutating_webhook(self) -> None:
        if self.store.find(MWC, None, WEBHOOK_CONFIGURATION) is not None:
            self.store.delete(MWC, None, WEBHOOK_CONFIGURATION)

    def compact(self, upto: int | None = None) -> int:
        """Forget the watch history up to ``upto`` (default: all of it); returns the compacted revision."""
        return self.store.compact(upto)

    def drop_watches(self, *, abort: bool = False) -> int:
        """End every open watch: cleanly (the client sees the stream end, as on a server-side timeout) or,
        with ``abort``, by cutting the TCP connection mid-stream. Returns how many were open."""
        return self.store.drop_watches(abort=abort)

    def add_namespace(
        self, name: str, *, labels: dict[str, str] | None = None, annotations: dict[str, str] | None = None
    ) -> Obj:
        meta: dict[str, Any] = {"name": name, "labels": labels or {}, "annotations": annotations or {}}
        return self.store.create("namespaces", {"metadata": meta})

    def add_node(self, name: str) -> Obj:
        """A Ready Node (DaemonSets run one pod on each)."""
        node = self.store.create(
            "nodes", {"metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}}}
        )
        node["status"] = {"conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}]}
        return self.store.write_system("nodes", node)
