"""Kubernetes mode end to end, app level: a user-defined KeptnApp + KeptnAppContext whose pre-deployment
task fails keeps its workloads from starting and their pods gated; a generation bump of a user KeptnApp
makes a new AppVersion and deprecates the older one (§3.5); workloads naming an app no KeptnApp defines
are gathered into one auto-created KeptnApp after ``keptnAppCreationRequestTimeoutSeconds`` (§2.3)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from shared.naming import app_version_name, compute_version_from_workloads
from shared.runtime.settings import CommonSettings
from tests.e2e.kube_stack import (
    ENABLED,
    LC,
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

NS = "shop-dev"


@pytest.fixture
async def stack(
    k8s_api_server: ApiServer, klt_settings: CommonSettings, tmp_path: Path
) -> AsyncIterator[KubeStack]:
    k8s_api_server.add_namespace(NS, annotations=ENABLED)
    async with kube_stack(k8s_api_server, klt_settings, tmp_path) as running:
        yield running


def keptn_app(name: str, version: str, workloads: dict[str, str], revision: int = 1) -> dict[str, Any]:
    return {
        "apiVersion": LC,
        "kind": "KeptnApp",
        "metadata": {"name": name},
        "spec": {
            "version": version,
            "revision": revision,
            "workloads": [{"name": w, "version": v} for w, v in workloads.items()],
        },
    }


def app_context(name: str, **checks: list[str]) -> dict[str, Any]:
    return {"apiVersion": LC, "kind": "KeptnAppContext", "metadata": {"name": name}, "spec": checks}


def status_of(stack: KubeStack, plural: str, name: str) -> dict[str, Any]:
    return dict((stack.cr(plural, NS, name) or {}).get("status") or {})


async def test_a_failing_app_pre_task_keeps_every_workload_gated(stack: KubeStack) -> None:
    stack.store.create(f"{LC}/keptntaskdefinitions", task_definition("broken", "throw new Error('no')"), NS)
    stack.store.create(f"{LC}/keptnapps", keptn_app("shop", "1.0.0", {"front": "1.0.0", "back": "1.0.0"}), NS)
    stack.store.create(f"{LC}/keptnappcontexts", app_context("shop", preDeploymentTasks=["broken"]), NS)
    stack.store.create("deployments.apps", deployment("front", "1.0.0", app="shop"), NS)
    stack.store.create("deployments.apps", deployment("back", "1.0.0", app="shop"), NS)

    name = app_version_name("shop", "1.0.0", 1)
    status = await eventually(
        lambda: (s := status_of(stack, "keptnappversions", name)).get("status") == "Failed" and s,
        what=f"AppVersion {name} to fail",
    )
    assert status["currentPhase"] == "AppPreDeployTasks"
    assert status["preDeploymentStatus"] == "Failed"
    assert [t["definitionName"] for t in status["preDeploymentTaskStatus"]] == ["broken"]
    assert status["workloadOverallStatus"] == "Deprecated"

    await asyncio.sleep(1.0)  # time for anything wrongly started to show
    for workload in ("front", "back"):
        kwv = status_of(stack, "keptnworkloadversions", f"shop-{workload}-1.0.0")
        assert kwv.get("currentPhase", "") == "" and kwv.get("preDeploymentStatus", "Pending") == "Pending", (
            kwv
        )
        assert not [t for t in stack.crs("keptntasks", NS) if t["spec"].get("workload") == f"shop-{workload}"]
        pods = stack.pods(NS, workload)
        assert pods and all(is_gated(p) and p["status"]["phase"] == "Pending" for p in pods), workload


async def test_a_generation_bump_of_the_app_deprecates_the_older_app_version(stack: KubeStack) -> None:
    stack.store.create(f"{LC}/keptntaskdefinitions", task_definition("ok", "console.log('ok')"), NS)
    stack.store.create(f"{LC}/keptnapps", keptn_app("shop", "1.0.0", {"front": "1.0.0"}), NS)
    stack.store.create(f"{LC}/keptnappcontexts", app_context("shop", preDeploymentTasks=["ok"]), NS)
    stack.store.create("deployments.apps", deployment("front", "1.0.0", app="shop"), NS)

    first, second = app_version_name("shop", "1.0.0", 1), app_version_name("shop", "1.0.0", 2)
    await eventually(
        lambda: status_of(stack, "keptnappversions", first).get("status") == "Succeeded",
        what=f"AppVersion {first} to succeed",
    )
    app = stack.store.get(f"{LC}/keptnapps", NS, "shop")
    app["spec"]["revision"] = 2  # same version, new revision: a spec change, so generation 2
    stack.store.replace(f"{LC}/keptnapps", app)
    assert stack.store.get(f"{LC}/keptnapps", NS, "shop")["metadata"]["generation"] == 2

    await eventually(
        lambda: status_of(stack, "keptnappversions", first).get("status") == "Deprecated",
        what=f"AppVersion {first} to be deprecated",
    )
    newer = await eventually(
        lambda: (s := status_of(stack, "keptnappversions", second)).get("status") == "Succeeded" and s,
        what=f"AppVersion {second} to succeed",
    )
    assert newer["currentPhase"] == "Completed"
    spec = stack.cr("keptnappversions", NS, second)["spec"]  # type: ignore[index]
    assert (spec["appName"], spec["version"], spec["revision"]) == ("shop", "1.0.0", 2)
    assert sorted(av["metadata"]["name"] for av in stack.crs("keptnappversions", NS)) == sorted(
        [first, second]
    )
    assert all(released(p) for p in stack.pods(NS, "front"))


async def test_workloads_naming_one_app_get_one_app_after_the_creation_window(stack: KubeStack) -> None:
    config = {
        "apiVersion": "options.keptn.sh/v1alpha1",
        "kind": "KeptnConfig",
        "metadata": {"name": "klt-config"},
        "spec": {"keptnAppCreationRequestTimeoutSeconds": 2},
    }
    stack.store.create("options.keptn.sh/v1alpha1/keptnconfigs", config, stack.settings.keptn_namespace)
    await asyncio.sleep(0.3)  # the watcher reads the config before the workloads arrive
    stack.store.create("deployments.apps", deployment("cart", "1.0.0", app="store"), NS)
    stack.store.create("deployments.apps", deployment("pay", "2.0.0", app="store"), NS)

    await eventually(lambda: len(stack.crs("keptnworkloads", NS)) == 2, what="both KeptnWorkloads")
    await asyncio.sleep(1.0)
    assert stack.crs("keptnapps", NS) == [], "the app was created before the 2 s window ended"

    app = await eventually(lambda: stack.cr("keptnapps", NS, "store"), what="the auto-created KeptnApp")
    assert app["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "keptn"
    assert sorted((w["name"], w["version"]) for w in app["spec"]["workloads"]) == [
        ("cart", "1.0.0"),
        ("pay", "2.0.0"),
    ]
    version = compute_version_from_workloads([("store-cart", "1.0.0"), ("store-pay", "2.0.0")])
    assert app["spec"]["version"] == version

    name = app_version_name("store", version, 1)
    await eventually(
        lambda: status_of(stack, "keptnappversions", name).get("status") == "Succeeded",
        what=f"AppVersion {name} to succeed",
    )
    assert [av["metadata"]["name"] for av in stack.crs("keptnappversions", NS)] == [name]
    assert len(stack.crs("keptnapps", NS)) == 1
