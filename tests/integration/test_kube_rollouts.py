"""The Kubernetes release step against the API test server's controllers (klt-facts §3.8): Succeeded once
the ReplicaSet, StatefulSet, DaemonSet or owning Argo Rollout runs; Failed with KLT's "has reached
timeout" when the pods never get ready."""

from __future__ import annotations

import asyncio
from typing import Any

import kubernetes_asyncio
from kubernetes_asyncio.client import ApiClient

from services.watcher.deploying import Release
from services.watcher.kube.rollouts import KubeDeployer
from shared.keptn.states import KeptnState
from tests.k8s.fixtures import k8s_api, k8s_api_server
from tests.k8s.helpers import deployment, pod_template
from tests.k8s.kubelet import PodPlan
from tests.k8s.server import ApiServer

__all__ = ["k8s_api", "k8s_api_server"]

client: Any = kubernetes_asyncio.client


def release(kind: str, name: str, timeout_s: float = 10.0) -> Release:
    return Release(
        namespace="default",
        app="web",
        workload="web",
        version="1",
        workload_version="web-web-1",
        resource_kind=kind,
        resource_name=name,
        timeout_s=timeout_s,
    )


async def replicaset_of(api: ApiClient, app: str) -> Any:
    (rs,) = (
        await client.AppsV1Api(api).list_namespaced_replica_set("default", label_selector=f"app={app}")
    ).items
    return rs


async def test_a_replicaset_succeeds_once_its_pods_are_available(
    k8s_api_server: ApiServer, k8s_api: ApiClient
) -> None:
    k8s_api_server.controllers.plan_pods(lambda pod: PodPlan(start=False))
    await client.AppsV1Api(k8s_api).create_namespaced_deployment("default", deployment("web", replicas=2))
    await k8s_api_server.controllers.settle()
    rs = await replicaset_of(k8s_api, "web")
    running = asyncio.create_task(KubeDeployer(k8s_api).run(release("ReplicaSet", rs.metadata.name)))
    await k8s_api_server.controllers.settle()
    assert not running.done()
    k8s_api_server.controllers.plan_pods(None)
    await k8s_api_server.controllers.settle()
    assert await asyncio.wait_for(running, 10) == (KeptnState.SUCCEEDED, "")


async def test_pods_that_never_get_ready_reach_the_timeout(
    k8s_api_server: ApiServer, k8s_api: ApiClient
) -> None:
    k8s_api_server.controllers.plan_pods(lambda pod: PodPlan(waiting_reason="ErrImagePull"))
    await client.AppsV1Api(k8s_api).create_namespaced_deployment("default", deployment("web", image="nope:0"))
    k8s_api_server.controllers.start()
    await k8s_api_server.controllers.settle()
    rs = await replicaset_of(k8s_api, "web")
    status, message = await KubeDeployer(k8s_api).run(release("ReplicaSet", rs.metadata.name, timeout_s=0.3))
    assert status == KeptnState.FAILED
    expected = f"ReplicaSet default/{rs.metadata.name} is not running (0 of 1 replicas available)"
    assert message == f"{expected}: has reached timeout"


async def test_a_missing_object_reaches_the_timeout(k8s_api: ApiClient) -> None:
    status, message = await KubeDeployer(k8s_api).run(release("StatefulSet", "gone", timeout_s=0.2))
    assert (status, message) == (
        KeptnState.FAILED,
        "StatefulSet default/gone is not running (it does not exist): has reached timeout",
    )


async def test_statefulsets_and_daemonsets_succeed_when_ready(
    k8s_api_server: ApiServer, k8s_api: ApiClient
) -> None:
    apps = client.AppsV1Api(k8s_api)
    k8s_api_server.add_node("node-2")
    selector = {"matchLabels": {"app": "db"}}
    await apps.create_namespaced_stateful_set(
        "default",
        {
            "metadata": {"name": "db"},
            "spec": {
                "replicas": 2,
                "serviceName": "db",
                "selector": selector,
                "template": pod_template("db"),
            },
        },
    )
    await apps.create_namespaced_daemon_set(
        "default",
        {
            "metadata": {"name": "agent"},
            "spec": {"selector": {"matchLabels": {"app": "agent"}}, "template": pod_template("agent")},
        },
    )
    deployer = KubeDeployer(k8s_api)
    runs = [
        asyncio.create_task(deployer.run(release("StatefulSet", "db"))),
        asyncio.create_task(deployer.run(release("DaemonSet", "agent"))),
    ]
    k8s_api_server.controllers.start()
    assert await asyncio.wait_for(asyncio.gather(*runs), 10) == [(KeptnState.SUCCEEDED, "")] * 2
    daemon = await apps.read_namespaced_daemon_set("agent", "default")
    assert daemon.status.number_ready == 2


async def test_a_replicaset_of_an_argo_rollout_waits_for_the_rollout(
    k8s_api_server: ApiServer, k8s_api: ApiClient
) -> None:
    custom = client.CustomObjectsApi(k8s_api)
    rollout = await custom.create_namespaced_custom_object(
        "argoproj.io",
        "v1alpha1",
        "default",
        "rollouts",
        {
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "Rollout",
            "metadata": {"name": "shop"},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": {"app": "shop"}},
                "template": pod_template("shop"),
            },
        },
    )
    owner = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "name": "shop",
        "uid": rollout["metadata"]["uid"],
        "controller": True,
    }
    await client.AppsV1Api(k8s_api).create_namespaced_replica_set(
        "default",
        {
            "metadata": {"name": "shop-abc", "ownerReferences": [owner]},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": {"app": "shop"}},
                "template": pod_template("shop"),
            },
        },
    )
    await k8s_api_server.controllers.settle()
    rs = await client.AppsV1Api(k8s_api).read_namespaced_replica_set("shop-abc", "default")
    assert rs.status.available_replicas == 1, "the ReplicaSet itself is ready"
    running = asyncio.create_task(KubeDeployer(k8s_api).run(release("ReplicaSet", "shop-abc")))
    await asyncio.sleep(0.1)  # room to (wrongly) finish on the ReplicaSet's own readiness
    assert not running.done()
    await custom.patch_namespaced_custom_object_status(
        "argoproj.io",
        "v1alpha1",
        "default",
        "rollouts",
        "shop",
        {"status": {"replicas": 1, "updatedReplicas": 1, "phase": "Healthy"}},
        _content_type="application/merge-patch+json",
    )
    assert await asyncio.wait_for(running, 10) == (KeptnState.SUCCEEDED, "")
