"""Kubernetes mode end to end: the API test server (HTTPS, controllers in the background), the session's
nats-server, the watcher in Kubernetes mode (its webhook registered with the API server) and the local
task-runner, all in this process. Helpers read what a user reads: pods and KLT's CRs."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import socket
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from services.evaluator.config import evaluator_config
from services.evaluator.service import serve as serve_evaluator
from services.metrics_provider.config import metrics_provider_config
from services.metrics_provider.service import serve as serve_metrics_provider
from services.task_runner.config import task_runner_config
from services.task_runner.service import serve as serve_task_runner
from services.watcher.config import watcher_config
from services.watcher.service import serve as serve_watcher
from shared.runtime.settings import CommonSettings
from tests.k8s.server import ApiServer

Obj = dict[str, Any]
LC = "lifecycle.keptn.sh/v1"
ENABLED = {"keptn.sh/lifecycle-toolkit": "enabled"}
GATE = "keptn-prechecks-gate"
GATE_REMOVED = "keptn.sh/scheduling-gate-removed"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def write_certificate(server: ApiServer, directory: Path) -> None:
    """The webhook's serving certificate for 127.0.0.1, signed by the API test server's CA, as the files
    cert-manager would mount (``tls.crt``, ``tls.key``)."""
    leaf = server.pki._ca.issue_cert("127.0.0.1", "localhost")  # the test PKI keeps its CA private
    leaf.cert_chain_pems[0].write_to_path(str(directory / "tls.crt"))
    leaf.private_key_pem.write_to_path(str(directory / "tls.key"))


async def wait_listening(port: int, timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while True:
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                await asyncio.sleep(0.02)
                continue
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
            return


async def eventually(check: Callable[[], Any], timeout: float = 30.0, what: str = "") -> Any:
    """Poll ``check`` (sync or async) until it returns something truthy; returns that."""
    last: Any = None
    try:
        async with asyncio.timeout(timeout):
            while True:
                last = check()
                if isinstance(last, Awaitable):
                    last = await last
                if last:
                    return last
                await asyncio.sleep(0.05)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what or check}") from None


@dataclass
class Watcher:
    task: asyncio.Task[None]
    stop: asyncio.Event

    async def close(self) -> None:
        self.stop.set()
        done, _ = await asyncio.wait({self.task}, timeout=20)
        if not done:
            stuck = [t for t in asyncio.all_tasks() if not t.done()]
            for t in stuck:
                t.print_stack(limit=6, file=sys.stderr)
            raise AssertionError(f"the watcher did not stop within 20 s; {len(stuck)} task(s) still running")
        self.task.result()


@dataclass
class KubeStack:
    server: ApiServer
    settings: CommonSettings
    cert_dir: Path
    port: int
    watcher: Watcher | None = None
    others: list[Watcher] = field(default_factory=list)

    @property
    def store(self) -> Any:
        return self.server.store

    async def start_watcher(self) -> None:
        stop = asyncio.Event()
        config = watcher_config(
            {},
            kubernetes=True,
            webhook_host="127.0.0.1",
            webhook_port=self.port,
            webhook_cert_dir=str(self.cert_dir),
        )
        task = asyncio.create_task(
            serve_watcher(self.settings, config, stop, kube_configuration=self.server.client_configuration()),
            name="e2e-watcher",
        )
        self.watcher = Watcher(task, stop)
        await wait_listening(self.port)

    async def stop_watcher(self) -> None:
        if self.watcher is not None:
            await self.watcher.close()
            self.watcher = None

    # --- what a user reads ------------------------------------------------------------------------------
    def crs(self, plural: str, namespace: str) -> list[Obj]:
        return list(self.store.list(f"{LC}/{plural}", namespace))

    def cr(self, plural: str, namespace: str, name: str) -> Obj | None:
        found = self.store.find(f"{LC}/{plural}", namespace, name)
        return found if isinstance(found, dict) else None

    def pods(self, namespace: str, app: str) -> list[Obj]:
        return [
            p for p in self.store.list("pods", namespace) if p["metadata"].get("labels", {}).get("app") == app
        ]


def is_gated(pod: Obj) -> bool:
    return any(g.get("name") == GATE for g in pod.get("spec", {}).get("schedulingGates") or [])


def released(pod: Obj) -> bool:
    return not is_gated(pod) and pod["metadata"].get("annotations", {}).get(GATE_REMOVED) == "true"


@contextlib.asynccontextmanager
async def kube_stack(
    server: ApiServer,
    settings: CommonSettings,
    tmp_path: Path,
    *,
    kube_task_runner: bool = False,
    evaluations: bool = False,
) -> AsyncIterator[KubeStack]:
    """The stack of this module's docstring; the webhook is registered with the API server (``Fail``).

    ``kube_task_runner``: the task-runner in Kubernetes mode too (container tasks as Jobs, ``SECURE_DATA``
    from the API's Secrets), talking to the API test server through a kubeconfig file as a user's would.
    ``evaluations``: the evaluator and the metrics-provider as well, so all four services run."""
    cert_dir = tmp_path / "certs"
    cert_dir.mkdir()
    write_certificate(server, cert_dir)
    server.add_namespace(settings.keptn_namespace)
    stack = KubeStack(server, settings, cert_dir, free_port())
    runner_options: dict[str, Any] = {}
    if kube_task_runner:
        kubeconfig = tmp_path / "kubeconfig"
        kubeconfig.write_text(json.dumps(server.kubeconfig()))
        runner_options = {"kubernetes": True, "kubeconfig": str(kubeconfig)}
    others_stop = asyncio.Event()
    others = [
        asyncio.create_task(
            serve_task_runner(settings, task_runner_config({}, **runner_options), others_stop),
            name="e2e-task-runner",
        )
    ]
    if evaluations:
        others.append(
            asyncio.create_task(
                serve_evaluator(settings, evaluator_config({}), others_stop), name="e2e-evaluator"
            )
        )
        others.append(
            asyncio.create_task(
                serve_metrics_provider(settings, metrics_provider_config({}, http_port=0), others_stop),
                name="e2e-metrics-provider",
            )
        )
    server.controllers.start()
    try:
        await stack.start_watcher()
        server.set_mutating_webhook(f"https://127.0.0.1:{stack.port}/mutate-v1-pod", server.ca_pem, "Fail")
        yield stack
    finally:
        try:
            await stop_controllers(server)
            await stack.stop_watcher()
        finally:
            others_stop.set()
            for task in others:
                await asyncio.wait_for(task, 20)


async def stop_controllers(server: ApiServer) -> None:
    """Stop the test server's background controllers, cancelling until they end: on Python 3.11 their
    ``wait_for`` may swallow a cancellation that races with a wake-up, and ``Controllers.stop`` cancels
    once and then waits for good."""
    task = server.controllers._task  # test code reaching into test code
    server.controllers._task = None
    while task is not None and not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=0.1)


def task_definition(name: str, code: str, retries: int = 0) -> Obj:
    return {
        "apiVersion": LC,
        "kind": "KeptnTaskDefinition",
        "metadata": {"name": name},
        "spec": {"retries": retries, "deno": {"inline": {"code": code}}},
    }


def deployment(
    name: str, version: str, *, pre: str = "", post: str = "", app: str = "", replicas: int = 1
) -> Obj:
    """A Deployment annotated as the seed's simplenode-dev is: workload, version and task keys."""
    annotations = {"keptn.sh/workload": name, "keptn.sh/version": version}
    if app:
        annotations["keptn.sh/app"] = app
    if pre:
        annotations["keptn.sh/pre-deployment-tasks"] = pre
    if post:
        annotations["keptn.sh/post-deployment-tasks"] = post
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}, "annotations": annotations},
                "spec": {"containers": [{"name": name, "image": f"ghcr.io/example/{name}:{version}"}]},
            },
        },
    }


async def apply_objects(api: Any, objects: list[Obj]) -> None:
    """Create ``objects`` through the kubernetes-asyncio client, as ``kubectl create -f`` would: built-in
    kinds through their typed APIs, Keptn kinds as custom objects at the version the manifest names.

    A Secret's ``stringData`` is sent as ``data`` (base64), which is what the API server stores: the test
    server keeps ``stringData`` as given instead of folding it in."""
    from kubernetes_asyncio import client

    # Any: the client's stubs want typed models, while dict bodies (what a manifest is) are valid at run time
    core: Any = client.CoreV1Api(api)
    apps: Any = client.AppsV1Api(api)
    custom: Any = client.CustomObjectsApi(api)
    for obj in objects:
        kind, namespace = obj["kind"], obj["metadata"].get("namespace", "default")
        if kind == "Namespace":
            await core.create_namespace(obj)
        elif kind == "Secret":
            secret = dict(obj)
            strings = secret.pop("stringData", None) or {}
            secret["data"] = {
                **(secret.get("data") or {}),
                **{k: base64.b64encode(v.encode()).decode() for k, v in strings.items()},
            }
            await core.create_namespaced_secret(namespace, secret)
        elif kind == "Service":
            await core.create_namespaced_service(namespace, obj)
        elif kind == "Deployment":
            await apps.create_namespaced_deployment(namespace, obj)
        else:
            group, _, version = obj["apiVersion"].partition("/")
            plural = f"{kind.lower()}s"
            await custom.create_namespaced_custom_object(group, version, namespace, plural, obj)


def events(server: ApiServer, namespace: str) -> list[Obj]:
    """The ``core/v1`` Events recorded in ``namespace``."""
    return list(server.store.list("events", namespace))
