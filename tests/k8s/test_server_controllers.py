"""The built-in controllers: Deployment → ReplicaSet → Pods, StatefulSet, DaemonSet, Job outcomes, garbage
collection and events, driven step by step by the test."""

from __future__ import annotations

import asyncio
from typing import Any

import kubernetes_asyncio
from kubernetes_asyncio import watch

from tests.k8s.helpers import deployment, job, pod_template
from tests.k8s.kubelet import PodPlan
from tests.k8s.server import ApiServer

#: The generated client, untyped here: its stubs reject dict bodies and ``_content_type``, both valid.
client: Any = kubernetes_asyncio.client

REVISION = "deployment.kubernetes.io/revision"


async def test_deployment_replicaset_pods_readiness_flow(k8s_api_server: ApiServer, k8s_api: Any) -> None:
    apps, core = client.AppsV1Api(k8s_api), client.CoreV1Api(k8s_api)
    made = await apps.create_namespaced_deployment("default", deployment("web", replicas=2))
    await k8s_api_server.controllers.settle()
    [rs] = (await apps.list_namespaced_replica_set("default")).items
    owner = rs.metadata.owner_references[0]
    assert (owner.kind, owner.uid, owner.controller) == ("Deployment", made.metadata.uid, True)
    assert rs.metadata.name == f"web-{rs.metadata.labels['pod-template-hash']}"
    assert rs.metadata.annotations[REVISION] == "1"
    assert (rs.spec.replicas, rs.status.available_replicas, rs.status.ready_replicas) == (2, 2, 2)
    pods = (await core.list_namespaced_pod("default")).items
    assert len(pods) == 2
    assert {p.metadata.owner_references[0].uid for p in pods} == {rs.metadata.uid}
    assert all(
        p.metadata.labels["pod-template-hash"] == rs.metadata.labels["pod-template-hash"] for p in pods
    )
    assert all(p.status.phase == "Running" for p in pods)
    done = await apps.read_namespaced_deployment("web", "default")
    assert (done.status.replicas, done.status.updated_replicas, done.status.available_replicas) == (2, 2, 2)
    assert done.status.observed_generation == done.metadata.generation == 1
    assert done.metadata.annotations[REVISION] == "1"


async def test_a_changed_template_makes_a_new_replicaset_and_retires_the_old(
    k8s_api_server: ApiServer, k8s_api: Any
) -> None:
    apps = client.AppsV1Api(k8s_api)
    await apps.create_namespaced_deployment("default", deployment("web"))
    await k8s_api_server.controllers.settle()
    k8s_api_server.controllers.plan_pods(
        lambda p: PodPlan(start=False) if "2.0" in p["spec"]["containers"][0]["image"] else None
    )
    await apps.patch_namespaced_deployment(
        "web",
        "default",
        {
            "spec": {
                "template": {"spec": {"containers": [{"name": "web", "image": "ghcr.io/example/app:2.0"}]}}
            }
        },
    )
    await k8s_api_server.controllers.settle()
    sets = {
        rs.metadata.annotations[REVISION]: rs
        for rs in (await apps.list_namespaced_replica_set("default")).items
    }
    assert set(sets) == {"1", "2"}
    assert (sets["1"].spec.replicas, sets["2"].spec.replicas, sets["2"].status.available_replicas) == (
        1,
        1,
        0,
    )
    rolling = await apps.read_namespaced_deployment("web", "default")
    assert (
        rolling.metadata.generation,
        rolling.status.updated_replicas,
        rolling.status.available_replicas,
    ) == (2, 1, 1)
    k8s_api_server.controllers.plan_pods(None)
    await k8s_api_server.controllers.settle()
    sets = {
        rs.metadata.annotations[REVISION]: rs
        for rs in (await apps.list_namespaced_replica_set("default")).items
    }
    assert (sets["1"].spec.replicas, sets["2"].status.available_replicas) == (0, 1)
    pods = (await client.CoreV1Api(k8s_api).list_namespaced_pod("default")).items
    assert [p.spec.containers[0].image for p in pods] == ["ghcr.io/example/app:2.0"]


async def test_a_non_existent_image_keeps_the_pod_waiting(k8s_api_server: ApiServer, k8s_api: Any) -> None:
    k8s_api_server.controllers.plan_pods(lambda p: PodPlan(waiting_reason="ErrImagePull"))
    await client.AppsV1Api(k8s_api).create_namespaced_deployment("default", deployment("web", image="nope:0"))
    await k8s_api_server.controllers.settle()
    [stuck] = (await client.CoreV1Api(k8s_api).list_namespaced_pod("default")).items
    assert stuck.status.phase == "Pending"
    assert stuck.status.container_statuses[0].state.waiting.reason == "ErrImagePull"
    [rs] = (await client.AppsV1Api(k8s_api).list_namespaced_replica_set("default")).items
    assert rs.status.available_replicas == 0


async def test_statefulset_and_daemonset_status(k8s_api_server: ApiServer, k8s_api: Any) -> None:
    apps = client.AppsV1Api(k8s_api)
    k8s_api_server.add_node("node-2")
    await apps.create_namespaced_stateful_set(
        "default",
        {
            "metadata": {"name": "db"},
            "spec": {
                "replicas": 2,
                "serviceName": "db",
                "selector": {"matchLabels": {"app": "db"}},
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
    await k8s_api_server.controllers.step()
    first = await apps.read_namespaced_stateful_set("db", "default")
    assert first.status.replicas == 1, "OrderedReady creates db-0 first"
    await k8s_api_server.controllers.settle()
    sts = await apps.read_namespaced_stateful_set("db", "default")
    assert (sts.spec.replicas, sts.status.available_replicas, sts.status.ready_replicas) == (2, 2, 2)
    assert sts.status.current_revision == sts.status.update_revision
    ds = await apps.read_namespaced_daemon_set("agent", "default")
    assert (ds.status.desired_number_scheduled, ds.status.number_ready) == (2, 2)
    pods = (
        await client.CoreV1Api(k8s_api).list_namespaced_pod("default", label_selector="app in (db, agent)")
    ).items
    assert sorted(p.metadata.name for p in pods if p.metadata.labels["app"] == "db") == ["db-0", "db-1"]
    assert sorted(p.spec.node_name for p in pods if p.metadata.labels["app"] == "agent") == [
        "node-1",
        "node-2",
    ]


async def test_job_success_with_its_pod_log(k8s_api_server: ApiServer, k8s_api: Any) -> None:
    k8s_api_server.controllers.script_job("default", "task", [0], logs=["hello from the task\n"])
    await client.BatchV1Api(k8s_api).create_namespaced_job("default", job("task"))
    await k8s_api_server.controllers.settle()
    done = await client.BatchV1Api(k8s_api).read_namespaced_job("task", "default")
    assert [c.type for c in done.status.conditions] == ["SuccessCriteriaMet", "Complete"]
    assert done.status.succeeded == 1 and done.status.completion_time is not None
    core = client.CoreV1Api(k8s_api)
    [run] = (await core.list_namespaced_pod("default", label_selector="job-name=task")).items
    assert run.status.phase == "Succeeded"
    assert await core.read_namespaced_pod_log(run.metadata.name, "default") == "hello from the task\n"


async def test_job_failure_after_the_backoff_limit(k8s_api_server: ApiServer, k8s_api: Any) -> None:
    k8s_api_server.controllers.script_job("default", "task", [1, 2, 0])
    await client.BatchV1Api(k8s_api).create_namespaced_job("default", job("task", backoff_limit=1))
    await k8s_api_server.controllers.settle()
    failed = await client.BatchV1Api(k8s_api).read_namespaced_job("task", "default")
    assert [(c.type, c.reason) for c in failed.status.conditions] == [
        ("FailureTarget", "BackoffLimitExceeded"),
        ("Failed", "BackoffLimitExceeded"),
    ]
    assert failed.status.conditions[0].message == "Job has reached the specified backoff limit"
    assert failed.status.failed == 2 and not failed.status.succeeded
    events = (
        await client.CoreV1Api(k8s_api).list_namespaced_event(
            "default", field_selector="involvedObject.name=task"
        )
    ).items
    assert [e.reason for e in events] == ["BackoffLimitExceeded"]


async def test_job_deadline_on_the_server_clock(k8s_api_server: ApiServer, k8s_api: Any) -> None:
    k8s_api_server.controllers.script_job("default", "task", [None])
    await client.BatchV1Api(k8s_api).create_namespaced_job("default", job("task", deadline=30))
    await k8s_api_server.controllers.settle()
    running = await client.BatchV1Api(k8s_api).read_namespaced_job("task", "default")
    assert running.status.active == 1 and not running.status.conditions
    k8s_api_server.clock.advance(31)
    await k8s_api_server.controllers.settle()
    failed = await client.BatchV1Api(k8s_api).read_namespaced_job("task", "default")
    assert (failed.status.conditions[0].reason, failed.status.conditions[0].message) == (
        "DeadlineExceeded",
        "Job was active longer than specified deadline",
    )
    assert not (await client.CoreV1Api(k8s_api).list_namespaced_pod("default")).items


async def test_deleting_a_deployment_collects_its_replicasets_and_pods(
    k8s_api_server: ApiServer, k8s_api: Any
) -> None:
    apps, core = client.AppsV1Api(k8s_api), client.CoreV1Api(k8s_api)
    await apps.create_namespaced_deployment("default", deployment("web", replicas=2))
    await k8s_api_server.controllers.settle()
    await apps.delete_namespaced_deployment("web", "default")
    assert (await apps.list_namespaced_replica_set("default")).items == []
    assert (await core.list_namespaced_pod("default")).items == []


async def test_background_controllers_roll_out_while_a_client_watches(
    k8s_api_server: ApiServer, k8s_api: Any
) -> None:
    apps = client.AppsV1Api(k8s_api)
    k8s_api_server.controllers.start(interval=0.05)
    listed = await apps.list_namespaced_replica_set("default")
    await apps.create_namespaced_deployment("default", deployment("web", replicas=3))
    stream = watch.Watch()
    async with asyncio.timeout(10):
        async for event in stream.stream(
            apps.list_namespaced_replica_set,
            "default",
            resource_version=listed.metadata.resource_version,
            timeout_seconds=10,
        ):
            rs = event["object"]
            if rs.status and rs.status.available_replicas == rs.spec.replicas == 3:
                break
    await stream.close()
    await k8s_api_server.controllers.stop()


async def test_deleting_a_job_orphans_its_pods_unless_propagation_is_asked_for(
    k8s_api_server: ApiServer, k8s_api: Any
) -> None:
    batch, core = client.BatchV1Api(k8s_api), client.CoreV1Api(k8s_api)
    for name in ("kept", "cleaned"):
        await batch.create_namespaced_job("default", job(name))
    await k8s_api_server.controllers.settle()
    await batch.delete_namespaced_job("kept", "default")
    await batch.delete_namespaced_job("cleaned", "default", propagation_policy="Background")
    left = (await core.list_namespaced_pod("default")).items
    assert [p.metadata.labels["job-name"] for p in left] == ["kept"], "batch/v1 Jobs orphan by default"
    assert left[0].metadata.owner_references is None
