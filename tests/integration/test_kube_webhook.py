"""The pod webhook served over HTTPS and called by the API test server on every pod the controllers create
(klt-facts §2.2): pods of an opted-in namespace's Deployment are gated and carry the Deployment's Keptn
keys; other namespaces and Job pods are left alone; bad requests and failed lookups are refused."""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import kubernetes_asyncio
import pytest
from kubernetes_asyncio.client import ApiClient, Configuration

from services.watcher.kube.webhook import WebhookError, serve_webhook
from tests.k8s.fixtures import k8s_api, k8s_api_server
from tests.k8s.helpers import deployment, job
from tests.k8s.server import ApiServer

__all__ = ["k8s_api", "k8s_api_server"]

client: Any = kubernetes_asyncio.client
GATE = "keptn-prechecks-gate"
ENABLED = {"keptn.sh/lifecycle-toolkit": "enabled"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def write_certificate(server: ApiServer, directory: Path) -> tuple[str, str]:
    """A serving certificate for 127.0.0.1 signed by the API test server's CA, as files (what cert-manager
    writes into the watcher's certificate directory)."""
    leaf = server.pki._ca.issue_cert("127.0.0.1", "localhost")  # the test PKI keeps its trustme CA private
    cert, key = directory / "tls.crt", directory / "tls.key"
    leaf.cert_chain_pems[0].write_to_path(str(cert))
    leaf.private_key_pem.write_to_path(str(key))
    return str(cert), str(key)


@dataclass
class Running:
    url: str
    task: asyncio.Task[None]
    stop: asyncio.Event


async def start_webhook(api: ApiClient, cert: str, key: str) -> Running:
    stop, ready = asyncio.Event(), asyncio.Event()
    port = free_port()
    task = asyncio.create_task(
        serve_webhook(api, host="127.0.0.1", port=port, cert_file=cert, key_file=key, stop=stop, ready=ready)
    )
    await asyncio.wait_for(ready.wait(), 5)
    return Running(f"https://127.0.0.1:{port}", task, stop)


@pytest.fixture
async def webhook(k8s_api_server: ApiServer, k8s_api: ApiClient, tmp_path: Path) -> AsyncIterator[Running]:
    cert, key = write_certificate(k8s_api_server, tmp_path)
    running = await start_webhook(k8s_api, cert, key)
    k8s_api_server.set_mutating_webhook(f"{running.url}/mutate-v1-pod", k8s_api_server.ca_pem, "Fail")
    yield running
    running.stop.set()
    await running.task


async def pods_of(api: ApiClient, namespace: str, app: str) -> list[Any]:
    return list(
        (await client.CoreV1Api(api).list_namespaced_pod(namespace, label_selector=f"app={app}")).items
    )


async def test_pods_of_an_opted_in_deployment_are_gated_with_its_keys(
    k8s_api_server: ApiServer, k8s_api: ApiClient, webhook: Running
) -> None:
    k8s_api_server.add_namespace("shop", annotations=ENABLED)
    web = deployment(
        "web",
        replicas=2,
        annotations={"keptn.sh/pre-deployment-tasks": "notify", "keptn.sh/metadata": "team=a"},
    )
    web["metadata"]["labels"] = {"app.kubernetes.io/name": "web", "app.kubernetes.io/version": "1.0"}
    await client.AppsV1Api(k8s_api).create_namespaced_deployment("shop", web)
    await k8s_api_server.controllers.settle()
    pods = await pods_of(k8s_api, "shop", "web")
    assert len(pods) == 2
    for pod in pods:
        assert [g.name for g in pod.spec.scheduling_gates] == [GATE]
        assert pod.status.phase == "Pending"
        assert pod.metadata.annotations == {
            "keptn.sh/workload": "web",
            "keptn.sh/version": "1.0",
            "keptn.sh/app": "web",
            "keptn.sh/pre-deployment-tasks": "notify",
            "keptn.sh/metadata": "team=a",
        }


async def test_other_namespaces_and_job_pods_are_not_gated(
    k8s_api_server: ApiServer, k8s_api: ApiClient, webhook: Running
) -> None:
    k8s_api_server.add_namespace("plain")
    k8s_api_server.add_namespace("shop", annotations=ENABLED)
    web = deployment("web", annotations={"keptn.sh/workload": "web"})
    await client.AppsV1Api(k8s_api).create_namespaced_deployment("plain", web)
    batch = job("once")
    batch["spec"]["template"]["metadata"] = {"annotations": {"keptn.sh/workload": "once"}}
    await client.BatchV1Api(k8s_api).create_namespaced_job("shop", batch)
    await k8s_api_server.controllers.settle()
    (plain,) = await pods_of(k8s_api, "plain", "web")
    assert plain.spec.scheduling_gates is None and plain.status.phase == "Running"
    (job_pod,) = (await client.CoreV1Api(k8s_api).list_namespaced_pod("shop")).items
    assert job_pod.spec.scheduling_gates is None
    messages = {
        (call["namespace"], call["object"]["metadata"]["ownerReferences"][0]["kind"])
        for call in k8s_api_server.admission.calls
    }
    assert messages == {("plain", "ReplicaSet"), ("shop", "Job")}


async def test_a_released_pod_passes_its_update(
    k8s_api_server: ApiServer, k8s_api: ApiClient, webhook: Running
) -> None:
    k8s_api_server.add_namespace("shop", annotations=ENABLED)
    await client.AppsV1Api(k8s_api).create_namespaced_deployment(
        "shop", deployment("web", annotations={"keptn.sh/workload": "web"})
    )
    await k8s_api_server.controllers.settle()
    (pod,) = await pods_of(k8s_api, "shop", "web")
    await client.CoreV1Api(k8s_api).patch_namespaced_pod(
        pod.metadata.name,
        "shop",
        {
            "metadata": {"annotations": {"keptn.sh/scheduling-gate-removed": "true"}},
            "spec": {"schedulingGates": None},
        },
        _content_type="application/merge-patch+json",
    )
    await k8s_api_server.controllers.settle()
    (released,) = await pods_of(k8s_api, "shop", "web")
    assert released.spec.scheduling_gates is None and released.status.phase == "Running"


async def test_health_and_malformed_requests(k8s_api_server: ApiServer, webhook: Running) -> None:
    context = ssl.create_default_context(cadata=k8s_api_server.ca_pem.decode())
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{webhook.url}/healthz", ssl=context) as health:
            assert health.status == 200
        async with session.post(f"{webhook.url}/mutate-v1-pod", data=b"{", ssl=context) as bad:
            assert (bad.status, await bad.text()) == (400, "the request body is not JSON\n")
        review = {
            "apiVersion": "admission.k8s.io/v1",
            "kind": "AdmissionReview",
            "request": {"operation": "CREATE"},
        }
        async with session.post(f"{webhook.url}/mutate-v1-pod", json=review, ssl=context) as no_uid:
            assert no_uid.status == 400
            assert "request.uid is missing" in await no_uid.text()


async def test_a_failed_lookup_leaves_the_decision_to_the_failure_policy(
    k8s_api_server: ApiServer, k8s_api: ApiClient, tmp_path: Path
) -> None:
    """The webhook cannot read the namespace (its API server is gone): it answers 500, so under ``Fail`` the
    API server refuses the pod rather than letting it run ungated."""
    cert, key = write_certificate(k8s_api_server, tmp_path)
    unreachable = Configuration(host=f"http://127.0.0.1:{free_port()}")
    unreachable.client_side_validation = False
    async with ApiClient(unreachable) as broken:
        running = await start_webhook(broken, cert, key)
        try:
            k8s_api_server.set_mutating_webhook(f"{running.url}/mutate-v1-pod", k8s_api_server.ca_pem, "Fail")
            with pytest.raises(kubernetes_asyncio.client.ApiException) as refused:
                await client.CoreV1Api(k8s_api).create_namespaced_pod(
                    "default",
                    {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "x"}]}},
                )
            assert refused.value.status == 500
            assert "klt cannot decide on this pod: cannot read Namespace default" in (
                refused.value.body or ""
            )
        finally:
            running.stop.set()
            await running.task


async def test_a_missing_certificate_is_one_clear_error(k8s_api: ApiClient, tmp_path: Path) -> None:
    with pytest.raises(WebhookError, match=r"cannot load the webhook certificate .*tls\.crt"):
        await serve_webhook(
            k8s_api,
            host="127.0.0.1",
            port=free_port(),
            cert_file=str(tmp_path / "tls.crt"),
            key_file=str(tmp_path / "tls.key"),
            stop=asyncio.Event(),
        )
