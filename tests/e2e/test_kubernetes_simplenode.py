"""The seed's simplenode-dev example in Kubernetes mode: its manifests (``app/`` and
``passing-evaluations/``) applied to the API test server through the kubernetes-asyncio client as a user
applies them, with the four services running in Kubernetes mode.

The manifests are staged by the demo's own ``stage_example`` (the KeptnMetricsProvider pointed at the
session's real Prometheus, the ``notify`` task's webhook at a local receiver), so this test and the demo
cannot drift apart. The user sees: the pod created gated, the pre-deployment ``notify`` task and
evaluation run, the pod released and rolled out, the post-deployment checks run, the CRs
Completed/Succeeded, the receiver's two notifications and KLT's Kubernetes Events.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from shared.runtime.settings import CommonSettings
from tests.e2e.kube_stack import (
    KubeStack,
    apply_objects,
    events,
    eventually,
    is_gated,
    kube_stack,
    released,
)
from tests.k8s.fixtures import k8s_api, k8s_api_server
from tests.k8s.server import ApiServer
from tests.support.prometheus import PrometheusHandle

__all__ = ["k8s_api", "k8s_api_server"]

EXAMPLE_DIR = Path(__file__).resolve().parents[2] / "examples" / "simplenode-dev"
NS = "simplenode-dev"
KWV = "simplenode-simplenode-1.0.2"


def _load_demo() -> ModuleType:
    """demo.py lives in a folder whose name is not a module name, so load it from its path."""
    spec = importlib.util.spec_from_file_location("simplenode_demo_kube", EXAMPLE_DIR / "demo.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while being defined
    spec.loader.exec_module(module)
    return module


demo = _load_demo()


def manifests(*folders: Path) -> list[dict[str, Any]]:
    """Every object of the folders' YAML files, Namespace first (as ``kubectl apply`` must order them)."""
    objects = [
        obj
        for folder in folders
        for path in sorted(folder.glob("*.yaml"))
        for obj in yaml.safe_load_all(path.read_text())
        if obj
    ]
    return sorted(objects, key=lambda obj: obj["kind"] != "Namespace")


@pytest.fixture
async def receiver() -> AsyncIterator[Any]:
    async with demo.running_receiver(echo=False) as running:
        yield running


@pytest.fixture
async def stack(
    k8s_api_server: ApiServer, klt_settings: CommonSettings, tmp_path: Path
) -> AsyncIterator[KubeStack]:
    async with kube_stack(
        k8s_api_server, klt_settings, tmp_path, kube_task_runner=True, evaluations=True
    ) as running:
        yield running


def _kwv_completed(stack: KubeStack) -> Any:
    kwv = stack.cr("keptnworkloadversions", NS, KWV)
    return kwv if ((kwv or {}).get("status") or {}).get("currentPhase") == "Completed" else None


async def test_simplenode_dev_goes_through_every_phase(
    stack: KubeStack,
    k8s_api: Any,
    receiver: Any,
    prometheus: PrometheusHandle,
    tmp_path: Path,
) -> None:
    await demo.wait_for_cpu_count(prometheus.url)
    staged = demo.stage_example(tmp_path / "staged", prometheus.url, receiver.url)
    await apply_objects(k8s_api, manifests(staged / "app", staged / "passing-evaluations"))

    # The pod is created gated by the webhook, before anything else happens to it.
    first = await eventually(lambda: stack.pods(NS, "simplenode"), what="the simplenode pod")
    assert is_gated(first[0]), first[0]["spec"]

    kwv = await eventually(lambda: _kwv_completed(stack), timeout=60, what="the KWV to complete")
    status = kwv["status"]
    assert status["status"] == "Succeeded", status
    for phase in (
        "preDeploymentStatus",
        "preDeploymentEvaluationStatus",
        "deploymentStatus",
        "postDeploymentStatus",
        "postDeploymentEvaluationStatus",
    ):
        assert status[phase] == "Succeeded", (phase, status)
    assert [t["definitionName"] for t in status["preDeploymentTaskStatus"]] == ["notify"]
    assert [e["definitionName"] for e in status["preDeploymentEvaluationTaskStatus"]] == [
        "evaluate-dependencies"
    ]
    assert [t["definitionName"] for t in status["postDeploymentTaskStatus"]] == ["notify"]
    assert [e["definitionName"] for e in status["postDeploymentEvaluationTaskStatus"]] == [
        "evaluate-deployment"
    ]

    pods = stack.pods(NS, "simplenode")
    assert len(pods) == 1 and released(pods[0])
    await eventually(
        lambda: stack.pods(NS, "simplenode")[0]["status"].get("phase") == "Running",
        what="the pod to run",
    )

    app_version = await eventually(
        lambda: next(
            (
                av
                for av in stack.crs("keptnappversions", NS)
                if (av.get("status") or {}).get("status") == "Succeeded"
            ),
            None,
        ),
        what="the AppVersion to succeed",
    )
    assert app_version["spec"]["appName"] == "simplenode"
    assert app_version["status"]["currentPhase"] == "Completed"

    notes = receiver.notifications
    assert sorted(note.fields["Task type"] for note in notes) == ["post", "pre"]
    for note in notes:
        assert note.fields["Workload"] == "simplenode-simplenode"
        assert note.fields["Version"] == "1.0.2"

    wanted = {
        "WorkloadPreDeployTasksStarted",
        "WorkloadPreDeployTasksFinished",
        "WorkloadDeployStarted",
        "WorkloadPostDeployEvaluationsFinished",
        "WorkloadCompletedFinished",
        "AppPreDeployTasksStarted",
        "AppCompletedFinished",
    }
    recorded = await eventually(
        lambda: wanted <= {e["reason"] for e in events(stack.server, NS)} and events(stack.server, NS),
        what=f"Events with reasons {sorted(wanted)}",
    )
    started = next(e for e in recorded if e["reason"] == "WorkloadPreDeployTasksStarted")
    assert started["involvedObject"]["kind"] == "KeptnWorkloadVersion"
    assert started["involvedObject"]["name"] == KWV
    assert started["source"]["component"] == "keptnworkloadversion-controller"
