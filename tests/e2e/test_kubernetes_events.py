"""Kubernetes mode end to end: the Kubernetes Events a user reads with ``kubectl get events`` for one
workload's lifecycle, with KLT's reasons, types and recorders (klt-facts §8.3): every phase of the
KeptnWorkloadVersion emits ``<Phase>Started`` and ``<Phase>Finished``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from shared.runtime.settings import CommonSettings
from tests.e2e.kube_stack import (
    ENABLED,
    LC,
    KubeStack,
    deployment,
    events,
    eventually,
    kube_stack,
    task_definition,
)
from tests.k8s.fixtures import k8s_api_server
from tests.k8s.server import ApiServer

__all__ = ["k8s_api_server"]

NS = "events-dev"
KWV = "told-told-1.0.0"


@pytest.fixture
async def stack(
    k8s_api_server: ApiServer, klt_settings: CommonSettings, tmp_path: Path
) -> AsyncIterator[KubeStack]:
    k8s_api_server.add_namespace(NS, annotations=ENABLED)
    async with kube_stack(k8s_api_server, klt_settings, tmp_path) as running:
        yield running


async def released_and_completed(stack: KubeStack) -> set[str]:
    """Run one workload with a pre-task through its lifecycle; the reasons of its KWV's Events."""
    stack.store.create(f"{LC}/keptntaskdefinitions", task_definition("check", "console.log('ok')"), NS)
    stack.store.create("deployments.apps", deployment("told", "1.0.0", pre="check"), NS)

    def reasons() -> set[str]:
        return {
            e["reason"]
            for e in events(stack.server, NS)
            if e["involvedObject"]["kind"] == "KeptnWorkloadVersion" and e["involvedObject"]["name"] == KWV
        }

    await eventually(lambda: "WorkloadCompletedFinished" in reasons(), what="WorkloadCompletedFinished")
    return reasons()


async def test_the_workload_version_records_its_phases(stack: KubeStack) -> None:
    reasons = await released_and_completed(stack)
    assert {
        "WorkloadPreDeployTasksStarted",
        "WorkloadPreDeployTasksFinished",
        "WorkloadDeployStarted",
        "WorkloadCompletedFinished",
    } <= reasons, reasons
    completed = next(
        e
        for e in events(stack.server, NS)
        if e["reason"] == "WorkloadCompletedFinished" and e["involvedObject"]["name"] == KWV
    )
    assert completed["type"] == "Normal"
    assert completed["source"]["component"] == "keptnworkloadversion-controller"
    assert completed["message"].startswith("Workload Completed: has finished / Namespace: events-dev")


async def test_a_successful_rollout_records_workload_deploy_finished(stack: KubeStack) -> None:
    assert "WorkloadDeployFinished" in await released_and_completed(stack)
