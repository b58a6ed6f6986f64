"""Kubernetes mode end to end with the task-runner in Kubernetes mode: a workload post-deployment task
with ``spec.container`` runs as a Kubernetes Job (§4.2, §4.4) whose container carries exactly one
variable, ``KEPTN_CONTEXT``; how the Job's pod ends (decided by the API test server's kubelet) decides the
task, the post-deployment phase and the KeptnWorkloadVersion (§4.5).

The test decides a Job's outcome only once it has read the Job: Job names end in a suffix derived from
klt's task uid, unknown in advance, so the pod planner holds Job pods in ``ContainerCreating`` until then
(``script_job`` binds a script when the pod is created, which is too early for a name not yet known)."""

from __future__ import annotations

import json
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
)
from tests.k8s.fixtures import k8s_api_server
from tests.k8s.kubelet import PodPlan
from tests.k8s.server import ApiServer

__all__ = ["k8s_api_server"]

NS = "jobs-dev"
IMAGE = "ghcr.io/example/smoke-test:1.0"


class JobOutcomes:
    """The pod planner: a Job's pods wait until the test says how its attempt ends."""

    def __init__(self) -> None:
        self.decided: dict[str, PodPlan] = {}

    def __call__(self, pod: dict[str, Any]) -> PodPlan | None:
        jobs = [r["name"] for r in pod["metadata"].get("ownerReferences") or [] if r.get("kind") == "Job"]
        if not jobs:
            return None
        return self.decided.get(jobs[0], PodPlan(start=False))


@pytest.fixture
async def stack(
    k8s_api_server: ApiServer, klt_settings: CommonSettings, tmp_path: Path
) -> AsyncIterator[KubeStack]:
    k8s_api_server.add_namespace(NS, annotations=ENABLED)
    async with kube_stack(k8s_api_server, klt_settings, tmp_path, kube_task_runner=True) as running:
        yield running


def container_task(name: str) -> dict[str, Any]:
    return {
        "apiVersion": LC,
        "kind": "KeptnTaskDefinition",
        "metadata": {"name": name},
        "spec": {
            "retries": 0,
            "container": {"name": "smoke", "image": IMAGE, "command": ["sh", "-c", "./smoke-test.sh"]},
        },
    }


async def start_release(stack: KubeStack, outcomes: JobOutcomes) -> dict[str, Any]:
    """Apply a Deployment with a container post-task; return its Job once the task-runner created it."""
    stack.server.controllers.plan_pods(outcomes)
    stack.store.create(f"{LC}/keptntaskdefinitions", container_task("smoke-test"), NS)
    stack.store.create("deployments.apps", deployment("jobbed", "1.0.0", post="smoke-test"), NS)
    jobs = await eventually(lambda: stack.store.list("jobs.batch", NS), what="the task's Job")
    assert len(jobs) == 1, [j["metadata"]["name"] for j in jobs]
    return dict(jobs[0])


def kwv_finished(stack: KubeStack) -> Any:
    kwv = stack.cr("keptnworkloadversions", NS, "jobbed-jobbed-1.0.0")
    status = (kwv or {}).get("status") or {}
    return status if status.get("status") in ("Succeeded", "Failed") else None


async def test_a_container_post_task_runs_as_a_job_with_only_the_keptn_context(stack: KubeStack) -> None:
    outcomes = JobOutcomes()
    job = await start_release(stack, outcomes)

    [container] = job["spec"]["template"]["spec"]["containers"]
    assert (container["name"], container["image"]) == ("smoke", IMAGE)
    assert container["command"] == ["sh", "-c", "./smoke-test.sh"]
    assert [entry["name"] for entry in container["env"]] == ["KEPTN_CONTEXT"]
    context = json.loads(container["env"][0]["value"])
    assert context["workloadName"] == "jobbed-jobbed"
    assert context["workloadVersion"] == "1.0.0"
    assert (context["taskType"], context["objectType"]) == ("post", "Workload")
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"
    assert all(released(p) for p in stack.pods(NS, "jobbed"))  # post tasks run after the rollout

    outcomes.decided[job["metadata"]["name"]] = PodPlan(exit_code=0, log="smoke test passed")
    status = await eventually(lambda: kwv_finished(stack), what="the KWV to finish")
    assert status["status"] == "Succeeded", status
    assert status["postDeploymentStatus"] == "Succeeded"
    [task] = status["postDeploymentTaskStatus"]
    assert (task["definitionName"], task["status"]) == ("smoke-test", "Succeeded")
    finished = stack.store.get("jobs.batch", NS, job["metadata"]["name"])
    assert any(c["type"] == "Complete" and c["status"] == "True" for c in finished["status"]["conditions"])


async def test_a_failing_container_post_task_fails_the_workload_version(stack: KubeStack) -> None:
    outcomes = JobOutcomes()
    job = await start_release(stack, outcomes)

    outcomes.decided[job["metadata"]["name"]] = PodPlan(exit_code=3, log="smoke test failed: 3 errors")
    status = await eventually(lambda: kwv_finished(stack), what="the KWV to finish")
    assert status["status"] == "Failed", status
    assert status["postDeploymentStatus"] == "Failed"
    [task] = status["postDeploymentTaskStatus"]
    assert (task["definitionName"], task["status"]) == ("smoke-test", "Failed")
    assert len(stack.store.list("jobs.batch", NS)) == 1  # retries: 0, one attempt
    assert status["message"] == (
        "Task 'smoke-test' of jobbed-jobbed-1.0.0 failed: "
        "Job has reached the specified backoff limit: exit code 3"
    )


async def test_the_keptn_task_names_its_job(stack: KubeStack) -> None:
    outcomes = JobOutcomes()
    job = await start_release(stack, outcomes)
    outcomes.decided[job["metadata"]["name"]] = PodPlan(exit_code=0)
    await eventually(lambda: kwv_finished(stack), what="the KWV to finish")
    [task] = stack.crs("keptntasks", NS)
    assert task["status"]["jobName"] == job["metadata"]["name"]
