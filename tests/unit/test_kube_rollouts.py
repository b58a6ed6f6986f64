"""When a workload object counts as running (klt-facts §3.8), and what a timeout message says."""

from __future__ import annotations

from typing import Any

import pytest

from services.watcher.deploying import Release
from services.watcher.kube.rollouts import (
    KubeDeployer,
    argo_rollout_running,
    daemonset_running,
    progress,
    replicas_running,
    rollout_owner,
)
from shared.keptn.states import KeptnState


def obj(
    spec: dict[str, Any] | None = None, status: dict[str, Any] | None = None, **meta: Any
) -> dict[str, Any]:
    return {"metadata": {"name": "x", **meta}, "spec": spec or {}, "status": status or {}}


@pytest.mark.parametrize(
    ("spec", "status", "running"),
    [
        ({"replicas": 2}, {"availableReplicas": 2}, True),
        ({"replicas": 2}, {"availableReplicas": 1, "readyReplicas": 2}, False),
        ({"replicas": 0}, {}, True),
        ({}, {"availableReplicas": 1}, True),  # replicas defaults to 1
        ({}, {}, False),
    ],
)
def test_replicasets_and_statefulsets_run_when_all_replicas_are_available(
    spec: dict[str, Any], status: dict[str, Any], running: bool
) -> None:
    assert replicas_running(obj(spec, status)) is running


def test_a_status_of_an_older_generation_does_not_count() -> None:
    stale = obj({"replicas": 1}, {"availableReplicas": 1, "observedGeneration": 1}, generation=2)
    assert not replicas_running(stale)
    assert replicas_running(
        obj({"replicas": 1}, {"availableReplicas": 1, "observedGeneration": 2}, generation=2)
    )
    assert not daemonset_running(
        obj(status={"desiredNumberScheduled": 0, "numberReady": 0, "observedGeneration": 1}, generation=3)
    )


@pytest.mark.parametrize(
    ("status", "running"),
    [
        ({"desiredNumberScheduled": 3, "numberReady": 3}, True),
        ({"desiredNumberScheduled": 3, "numberReady": 2, "numberAvailable": 3}, False),
    ],
)
def test_daemonsets_run_when_every_scheduled_pod_is_ready(status: dict[str, Any], running: bool) -> None:
    assert daemonset_running(obj(status=status)) is running


@pytest.mark.parametrize(
    ("status", "running"),
    [
        ({"replicas": 3, "updatedReplicas": 3, "phase": "Healthy"}, True),
        ({"replicas": 3, "updatedReplicas": 3, "phase": "Progressing"}, False),
        ({"replicas": 4, "updatedReplicas": 3, "phase": "Healthy"}, False),
        ({}, False),
    ],
)
def test_argo_rollouts_run_when_updated_and_healthy(status: dict[str, Any], running: bool) -> None:
    assert argo_rollout_running(obj(status=status)) is running


def test_a_replicaset_owned_by_a_rollout_is_recognised() -> None:
    owned = obj(ownerReferences=[{"kind": "Rollout", "name": "shop", "uid": "1"}])
    assert rollout_owner(owned) == "shop"
    assert rollout_owner(obj(ownerReferences=[{"kind": "Deployment", "name": "web", "uid": "1"}])) is None


def test_progress_describes_how_far_the_object_got() -> None:
    assert (
        progress("ReplicaSet", obj({"replicas": 2}, {"availableReplicas": 1})) == "1 of 2 replicas available"
    )
    assert progress("DaemonSet", obj(status={"desiredNumberScheduled": 2})) == "0 of 2 pods ready"
    assert (
        progress("Rollout", obj(status={"replicas": 2, "updatedReplicas": 1, "phase": "Degraded"}))
        == "1 of 2 replicas updated, phase Degraded"
    )
    assert progress("StatefulSet", None) == "it does not exist"


@pytest.mark.parametrize("kind", ["Deployment", "Job", "Rollout", ""])
async def test_other_kinds_fail_at_once(kind: str) -> None:
    release = Release(
        namespace="shop",
        app="web",
        workload="web",
        version="1",
        workload_version="web-web-1",
        resource_kind=kind,
        resource_name="web",
        timeout_s=300,
    )
    status, message = await KubeDeployer(api=None).run(release)  # type: ignore[arg-type]  # never called
    assert (status, message) == (KeptnState.FAILED, f"{kind} web: unsupported Resource Reference")
