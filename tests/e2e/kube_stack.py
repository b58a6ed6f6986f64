"""Kubernetes mode end to end: the API test server (HTTPS, controllers in the background), the session's
nats-server, the watcher in Kubernetes mode (its webhook registered with the API server) and the local
task-runner, all in this process. Helpers read what a user reads: pods and KLT's CRs."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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
async def kube_stack(server: ApiServer, settings: CommonSettings, tmp_path: Path) -> AsyncIterator[KubeStack]:
    """The stack of this module's docstring; the webhook is registered with the API server (``Fail``)."""
    cert_dir = tmp_path / "certs"
    cert_dir.mkdir()
    write_certificate(server, cert_dir)
    server.add_namespace(settings.keptn_namespace)
    stack = KubeStack(server, settings, cert_dir, free_port())
    runner_stop = asyncio.Event()
    runner = asyncio.create_task(
        serve_task_runner(settings, task_runner_config({}), runner_stop), name="e2e-task-runner"
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
            runner_stop.set()
            await asyncio.wait_for(runner, 20)


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
