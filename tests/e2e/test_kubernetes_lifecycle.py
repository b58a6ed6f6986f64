"""Kubernetes mode end to end against the API test server: a Deployment in an opted-in namespace is gated by
the webhook, released after its pre-deployment task, rolled out, and its KeptnWorkloadVersion and
KeptnAppVersion CRs show KLT's statuses; a failing workload pre-task keeps the pod gated (KLT #3920 fixed);
a version bump makes a new KeptnWorkloadVersion; a watcher restarted mid-lifecycle converges."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from shared.runtime.settings import CommonSettings
from tests.e2e.kube_stack import (
    ENABLED,
    KubeStack,
    deployment,
    eventually,
    is_gated,
    kube_stack,
    released,
    task_definition,
)
from tests.k8s.fixtures import k8s_api_server
from tests.k8s.server import ApiServer

__all__ = ["k8s_api_server"]

NS = "simplenode-dev"
LC = "lifecycle.keptn.sh/v1"


@pytest.fixture
async def stack(
    k8s_api_server: ApiServer, klt_settings: CommonSettings, tmp_path: Path
) -> AsyncIterator[KubeStack]:
    k8s_api_server.add_namespace(NS, annotations=ENABLED)
    async with kube_stack(k8s_api_server, klt_settings, tmp_path) as running:
        yield running


def seed_tasks(stack: KubeStack) -> None:
    stack.store.create(f"{LC}/keptntaskdefinitions", task_definition("pre-check", "console.log('ready')"), NS)
    stack.store.create(f"{LC}/keptntaskdefinitions", task_definition("post-check", "console.log('done')"), NS)
    stack.store.create(
        f"{LC}/keptntaskdefinitions", task_definition("broken", "throw new Error('not ready')"), NS
    )


def completed(stack: KubeStack, name: str) -> Any:
    kwv = stack.cr("keptnworkloadversions", NS, name)
    status = (kwv or {}).get("status") or {}
    return kwv if status.get("currentPhase") == "Completed" else None


async def test_a_deployment_is_gated_released_and_completed(stack: KubeStack) -> None:
    seed_tasks(stack)
    stack.store.create(
        "deployments.apps", deployment("simplenode", "1.0.0", pre="pre-check", post="post-check"), NS
    )
    kwv = await eventually(
        lambda: completed(stack, "simplenode-simplenode-1.0.0"), what="the KWV to complete"
    )
    status = kwv["status"]
    assert status["status"] == "Succeeded"
    for phase in ("preDeploymentStatus", "deploymentStatus", "postDeploymentStatus"):
        assert status[phase] == "Succeeded", phase
    assert [t["definitionName"] for t in status["preDeploymentTaskStatus"]] == ["pre-check"]
    assert [t["definitionName"] for t in status["postDeploymentTaskStatus"]] == ["post-check"]
    reference = kwv["spec"]["resourceReference"]
    rs = stack.store.list("replicasets.apps", NS)[0]
    assert (reference["kind"], reference["name"], reference["uid"]) == (
        "ReplicaSet",
        rs["metadata"]["name"],
        rs["metadata"]["uid"],
    )

    pods = stack.pods(NS, "simplenode")
    assert len(pods) == 1 and released(pods[0])
    await eventually(
        lambda: (
            (stack.store.get("replicasets.apps", NS, rs["metadata"]["name"]).get("status") or {}).get(
                "availableReplicas"
            )
            == 1
        ),
        what="the ReplicaSet to become available",
    )
    app_versions = await eventually(
        lambda: [
            av
            for av in stack.crs("keptnappversions", NS)
            if (av.get("status") or {}).get("status") == "Succeeded"
        ],
        what="the AppVersion to succeed",
    )
    assert app_versions[0]["spec"]["appName"] == "simplenode"
    assert stack.cr("keptnworkloads", NS, "simplenode-simplenode") is not None


async def test_a_failing_workload_pre_task_keeps_the_pod_gated(stack: KubeStack) -> None:
    seed_tasks(stack)
    stack.store.create("deployments.apps", deployment("blocked", "1.0.0", pre="broken"), NS)

    def failed() -> Any:
        kwv = stack.cr("keptnworkloadversions", NS, "blocked-blocked-1.0.0")
        status = (kwv or {}).get("status") or {}
        return kwv if status.get("preDeploymentStatus") == "Failed" else None

    kwv = await eventually(failed, what="the pre-deployment task to fail")
    assert kwv["status"]["deploymentStatus"] == "Deprecated"
    await asyncio.sleep(0.5)  # the gate keeper has had time to act on the failure
    pods = stack.pods(NS, "blocked")
    assert pods and all(is_gated(p) and p["status"]["phase"] == "Pending" for p in pods)


async def test_a_version_bump_makes_a_new_workload_version(stack: KubeStack) -> None:
    seed_tasks(stack)
    stack.store.create("deployments.apps", deployment("bumped", "1.0.0", pre="pre-check"), NS)
    await eventually(lambda: completed(stack, "bumped-bumped-1.0.0"), what="version 1.0.0 to complete")
    live = stack.store.get("deployments.apps", NS, "bumped")
    live["spec"]["template"] = deployment("bumped", "2.0.0", pre="pre-check")["spec"]["template"]
    stack.store.replace("deployments.apps", live)
    kwv = await eventually(lambda: completed(stack, "bumped-bumped-2.0.0"), what="version 2.0.0 to complete")
    assert kwv["spec"]["previousVersion"] == "1.0.0"
    new_rs = max(
        stack.store.list("replicasets.apps", NS),
        key=lambda rs: int(rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"]),
    )
    assert kwv["spec"]["resourceReference"]["uid"] == new_rs["metadata"]["uid"]
    assert all(released(p) for p in stack.pods(NS, "bumped"))


async def test_a_watcher_restarted_mid_lifecycle_converges(stack: KubeStack) -> None:
    seed_tasks(stack)
    stack.store.create(
        f"{LC}/keptntaskdefinitions",
        task_definition("slow", "await new Promise((r) => setTimeout(r, 1500)); console.log('ok')"),
        NS,
    )
    stack.store.create(
        "deployments.apps", deployment("restarted", "1.0.0", pre="slow", post="post-check"), NS
    )
    await eventually(
        lambda: stack.cr("keptnworkloadversions", NS, "restarted-restarted-1.0.0"), what="the KWV CR"
    )
    await stack.stop_watcher()  # the slow task is running or queued; its result waits in JetStream
    await asyncio.sleep(0.5)
    await stack.start_watcher()
    kwv = await eventually(lambda: completed(stack, "restarted-restarted-1.0.0"), what="the KWV to complete")
    assert kwv["status"]["status"] == "Succeeded"
    assert all(released(p) for p in stack.pods(NS, "restarted"))
