"""Kubernetes mode end to end with KeptnConfig ``blockDeployment: false`` (§1.11, §3.2): a workload whose
pre-deployment task fails is deployed anyway. Its pod is released and rolled out, and the
KeptnWorkloadVersion ends Succeeded with ``preDeploymentStatus: Warning``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from shared.runtime.settings import CommonSettings
from tests.e2e.kube_stack import (
    ENABLED,
    LC,
    KubeStack,
    deployment,
    eventually,
    kube_stack,
    released,
    task_definition,
)
from tests.k8s.fixtures import k8s_api_server
from tests.k8s.server import ApiServer

__all__ = ["k8s_api_server"]

NS = "lenient-dev"


@pytest.fixture
async def stack(
    k8s_api_server: ApiServer, klt_settings: CommonSettings, tmp_path: Path
) -> AsyncIterator[KubeStack]:
    k8s_api_server.add_namespace(NS, annotations=ENABLED)
    async with kube_stack(k8s_api_server, klt_settings, tmp_path) as running:
        yield running


async def test_non_blocking_mode_releases_the_pod_of_a_failed_pre_task(stack: KubeStack) -> None:
    config = {
        "apiVersion": "options.keptn.sh/v1alpha1",
        "kind": "KeptnConfig",
        "metadata": {"name": "klt-config"},
        "spec": {"blockDeployment": False},
    }
    stack.store.create("options.keptn.sh/v1alpha1/keptnconfigs", config, stack.settings.keptn_namespace)
    stack.store.create(
        f"{LC}/keptntaskdefinitions", task_definition("broken", "throw new Error('not ready')"), NS
    )
    await asyncio.sleep(0.3)  # the watcher reads the config before the workload arrives
    stack.store.create("deployments.apps", deployment("lenient", "1.0.0", pre="broken"), NS)

    def completed() -> Any:
        kwv = stack.cr("keptnworkloadversions", NS, "lenient-lenient-1.0.0")
        status = (kwv or {}).get("status") or {}
        return status if status.get("currentPhase") == "Completed" else None

    status = await eventually(completed, what="the KWV to complete")
    assert status["status"] == "Succeeded", status
    assert status["preDeploymentStatus"] == "Warning", status
    assert [(t["definitionName"], t["status"]) for t in status["preDeploymentTaskStatus"]] == [
        ("broken", "Failed")
    ]
    assert status["deploymentStatus"] == "Succeeded"
    pods = stack.pods(NS, "lenient")
    assert pods and all(released(p) for p in pods)
    await eventually(
        lambda: all(p["status"].get("phase") == "Running" for p in stack.pods(NS, "lenient")),
        what="the pod to run",
    )
