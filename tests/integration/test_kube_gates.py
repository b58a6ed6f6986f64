"""Gate release (klt-facts §3.7 with klt's fix for KLT #3920): the pure rule, then the release of real
gated pods on the API test server, driven by workload versions stored in a real JetStream state bucket."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import kubernetes_asyncio
import msgspec
import pytest
from kubernetes_asyncio.client import ApiClient
from nats.js.kv import KeyValue

from services.watcher.kube.gates import decide_gate, is_gated, release_gates, release_patch
from shared.keptn.lifecycle import KeptnWorkloadVersion, KeptnWorkloadVersionSpec, ResourceReference
from shared.keptn.meta import ObjectMeta
from shared.keptn.states import KeptnState
from shared.runtime.natsio import get_entry, put_if
from shared.runtime.settings import CommonSettings
from shared.subjects import Names, object_key
from tests.k8s.fixtures import k8s_api, k8s_api_server
from tests.k8s.helpers import deployment
from tests.k8s.server import ApiServer
from tests.support.natsfix import nats_client

__all__ = ["k8s_api", "k8s_api_server"]

client: Any = kubernetes_asyncio.client
GATE = "keptn-prechecks-gate"
S = KeptnState


def kwv(
    name: str = "web-web-1.0",
    uid: str = "rs-1",
    *,
    deployment: KeptnState = S.PENDING,
    pre: KeptnState = S.PENDING,
    pre_eval: KeptnState = S.PENDING,
    status: KeptnState = S.PENDING,
    phase: str = "",
) -> KeptnWorkloadVersion:
    version = KeptnWorkloadVersion(
        metadata=ObjectMeta(name=name, namespace="default", uid=f"uid-{name}"),
        spec=KeptnWorkloadVersionSpec(
            app="web",
            version="1.0",
            workload_name="web-web",
            resource_reference=ResourceReference(uid=uid, kind="ReplicaSet", name="web-1"),
        ),
    )
    version.status.deployment_status = deployment
    version.status.pre_deployment_status = pre
    version.status.pre_deployment_evaluation_status = pre_eval
    version.status.status = status
    version.status.current_phase = phase
    return version


# --- the rule ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("version", "release"),
    [
        (kwv(), False),
        (kwv(pre=S.SUCCEEDED, phase="WorkloadPreDeployEvaluations", status=S.PROGRESSING), False),
        (kwv(deployment=S.PROGRESSING, pre=S.SUCCEEDED, pre_eval=S.SUCCEEDED), True),
        (kwv(deployment=S.SUCCEEDED), True),
        (kwv(deployment=S.FAILED), True),
        (kwv(deployment=S.PROGRESSING, pre=S.WARNING), True),  # non-blocking mode: a failed pre phase
        (kwv(deployment=S.DEPRECATED, pre=S.FAILED, status=S.FAILED), False),  # KLT #3920 fix
        (kwv(deployment=S.DEPRECATED, pre=S.SUCCEEDED, pre_eval=S.FAILED, status=S.FAILED), False),
        (kwv(deployment=S.DEPRECATED, pre=S.SUCCEEDED, pre_eval=S.SUCCEEDED, status=S.DEPRECATED), True),
        (kwv(deployment=S.SUCCEEDED, status=S.SUCCEEDED, phase="Completed"), True),
    ],
    ids=[
        "not started",
        "in pre-evaluations",
        "progressing",
        "deployed",
        "deploy timed out",
        "non-blocking warning",
        "own pre-tasks failed",
        "own pre-evaluations failed",
        "deprecated otherwise",
        "completed",
    ],
)
def test_the_release_rule(version: KeptnWorkloadVersion, release: bool) -> None:
    assert decide_gate([version]).release is release


def test_any_version_of_the_owner_releases_and_the_reason_names_it() -> None:
    failed = kwv("web-web-1.0", deployment=S.DEPRECATED, pre=S.FAILED)
    assert decide_gate([failed]).reason == (
        "KeptnWorkloadVersion web-web-1.0 failed its pre-deployment checks (blocking mode)"
    )
    assert decide_gate([]).reason == "no KeptnWorkloadVersion refers to its owner yet"
    both = decide_gate([failed, kwv("web-web-1.0-b", deployment=S.PROGRESSING)])
    assert both == decide_gate([kwv("web-web-1.0-b", deployment=S.PROGRESSING)])
    assert both.release and both.reason == "KeptnWorkloadVersion web-web-1.0-b deployment is Progressing"


def test_the_release_patch_keeps_other_gates() -> None:
    pod: dict[str, Any] = {
        "metadata": {"name": "p", "resourceVersion": "7"},
        "spec": {"schedulingGates": [{"name": "quota"}, {"name": GATE}]},
    }
    assert is_gated(pod)
    assert release_patch(pod) == {
        "metadata": {"annotations": {"keptn.sh/scheduling-gate-removed": "true"}, "resourceVersion": "7"},
        "spec": {"schedulingGates": [{"name": "quota"}]},
    }
    pod["spec"]["schedulingGates"] = [{"name": GATE}]
    assert release_patch(pod)["spec"] == {"schedulingGates": None}


# --- against the API test server and JetStream --------------------------------------------------


def gated_deployment(name: str) -> dict[str, Any]:
    """A Deployment whose pods are created with klt's gate (what the webhook would add)."""
    obj: dict[str, Any] = deployment(name)
    obj["spec"]["template"]["spec"]["schedulingGates"] = [{"name": GATE}]
    return obj


async def pods_of(api: ApiClient, app: str) -> list[Any]:
    return list(
        (await client.CoreV1Api(api).list_namespaced_pod("default", label_selector=f"app={app}")).items
    )


async def rs_uid(api: ApiClient, app: str) -> str:
    (rs,) = (
        await client.AppsV1Api(api).list_namespaced_replica_set("default", label_selector=f"app={app}")
    ).items
    return str(rs.metadata.uid)


async def store(kv: KeyValue, version: KeptnWorkloadVersion) -> None:
    key = object_key("KeptnWorkloadVersion", "default", version.metadata.name)
    found = await get_entry(kv, key)
    await put_if(kv, key, msgspec.json.encode(version), found.revision if found else None)


async def until_released(api: ApiClient, app: str) -> list[Any]:
    """Wait (bounded) until every pod of ``app`` has lost its gates."""
    async with asyncio.timeout(10):
        while True:
            pods = await pods_of(api, app)
            if pods and all(not p.spec.scheduling_gates for p in pods):
                return pods
            await asyncio.sleep(0.02)


@pytest.fixture
async def state(klt_settings: CommonSettings) -> AsyncIterator[KeyValue]:
    async with nats_client(klt_settings) as nc:
        yield await nc.jetstream().key_value(Names(klt_settings.prefix).state_bucket)


@contextlib.asynccontextmanager
async def gate_keeper(api: ApiClient, kv: KeyValue) -> AsyncIterator[None]:
    stop = asyncio.Event()
    task = asyncio.create_task(release_gates(api, kv, stop))
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)


async def test_pods_are_released_when_deployment_starts_and_kept_after_own_pre_checks_failed(
    k8s_api_server: ApiServer, k8s_api: ApiClient, state: KeyValue
) -> None:
    apps = client.AppsV1Api(k8s_api)
    for app in ("early", "waiting", "failed"):
        await apps.create_namespaced_deployment("default", gated_deployment(app))
    await k8s_api_server.controllers.settle()
    await store(state, kwv("early-early-1", await rs_uid(k8s_api, "early"), deployment=S.PROGRESSING))
    waiting = kwv("waiting-waiting-1", await rs_uid(k8s_api, "waiting"), pre=S.PROGRESSING)
    await store(state, waiting)
    failed_uid = await rs_uid(k8s_api, "failed")
    await store(
        state, kwv("failed-failed-1", failed_uid, pre=S.FAILED, deployment=S.DEPRECATED, status=S.FAILED)
    )

    async with gate_keeper(k8s_api, state):
        (early,) = await until_released(k8s_api, "early")
        assert early.metadata.annotations == {"keptn.sh/scheduling-gate-removed": "true"}
        (still,) = await pods_of(k8s_api, "waiting")
        assert [g.name for g in still.spec.scheduling_gates] == [GATE]

        waiting.status.pre_deployment_status = S.SUCCEEDED
        waiting.status.pre_deployment_evaluation_status = S.SUCCEEDED
        waiting.status.deployment_status = S.PROGRESSING
        await store(state, waiting)
        await until_released(k8s_api, "waiting")

        await k8s_api_server.controllers.settle()
        (running,) = await pods_of(k8s_api, "waiting")
        assert (running.status.phase, running.spec.node_name) == ("Running", "node-1")
        (failed,) = await pods_of(k8s_api, "failed")
        assert [g.name for g in failed.spec.scheduling_gates] == [GATE], "KLT #3920: its own checks failed"
        assert failed.status.phase == "Pending"


async def test_a_restarted_pod_of_a_completed_workload_is_released_at_once(
    k8s_api_server: ApiServer, k8s_api: ApiClient, state: KeyValue
) -> None:
    await client.AppsV1Api(k8s_api).create_namespaced_deployment("default", gated_deployment("web"))
    await k8s_api_server.controllers.settle()
    done = kwv("web-web-1", await rs_uid(k8s_api, "web"), deployment=S.SUCCEEDED, status=S.SUCCEEDED)
    done.status.current_phase = "Completed"
    await store(state, done)
    async with gate_keeper(k8s_api, state):
        (first,) = await until_released(k8s_api, "web")
        await client.CoreV1Api(k8s_api).delete_namespaced_pod(first.metadata.name, "default")
        await k8s_api_server.controllers.settle()
        (replacement,) = await until_released(k8s_api, "web")
        assert replacement.metadata.name != first.metadata.name
        await k8s_api_server.controllers.settle()
        (running,) = await pods_of(k8s_api, "web")
        assert running.status.phase == "Running"
