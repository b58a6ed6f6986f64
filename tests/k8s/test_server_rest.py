"""The test server's REST semantics, seen through the unmodified kubernetes-asyncio client."""

from __future__ import annotations

import json
from typing import Any

import kubernetes_asyncio
import pytest
from kubernetes_asyncio.client import ApiException
from kubernetes_asyncio.dynamic import DynamicClient

from tests.k8s.helpers import deployment, keptn_workload_version, pod
from tests.k8s.server import ApiServer

#: The generated client, untyped here: its stubs reject dict bodies and ``_content_type``, both valid.
client: Any = kubernetes_asyncio.client

LC = ("lifecycle.keptn.sh", "v1")


def reason(exc: ApiException) -> tuple[int, str, str]:
    body = json.loads(exc.body or b"")
    assert body["kind"] == "Status"
    return exc.status, body["reason"], body["message"]


async def test_discovery_serves_core_apps_batch_and_keptn_groups(k8s_api: Any) -> None:
    groups = await client.ApisApi(k8s_api).get_api_versions()
    names = {g.name: g.preferred_version.version for g in groups.groups}
    assert names["apps"] == "v1" and names["batch"] == "v1"
    assert names["lifecycle.keptn.sh"] == "v1" and names["metrics.keptn.sh"] == "v1"
    assert names["options.keptn.sh"] == "v1alpha1"
    dynamic = await DynamicClient(k8s_api)
    kwv = await dynamic.resources.get(api_version="lifecycle.keptn.sh/v1", kind="KeptnWorkloadVersion")
    assert kwv.name == "keptnworkloadversions" and kwv.namespaced
    old = await dynamic.resources.get(api_version="lifecycle.keptn.sh/v1alpha3", kind="KeptnApp")
    assert old.name == "keptnapps"
    pods = await dynamic.resources.get(api_version="v1", kind="Pod")
    assert "status" in pods.subresources and "log" in pods.subresources


async def test_create_get_list_replace_patch_delete_round_trip(k8s_api: Any) -> None:
    core = client.CoreV1Api(k8s_api)
    made = await core.create_namespaced_config_map(
        "default", {"metadata": {"name": "conf"}, "data": {"a": "1"}}
    )
    assert made.metadata.uid and made.metadata.creation_timestamp is not None
    got = await core.read_namespaced_config_map("conf", "default")
    assert got.data == {"a": "1"} and got.metadata.resource_version == made.metadata.resource_version
    listed = await core.list_namespaced_config_map("default")
    assert [c.metadata.name for c in listed.items] == ["conf"]
    assert int(listed.metadata.resource_version) >= int(made.metadata.resource_version)
    got.data = {"a": "2"}
    replaced = await core.replace_namespaced_config_map("conf", "default", got)
    assert int(replaced.metadata.resource_version) > int(made.metadata.resource_version)
    patched = await core.patch_namespaced_config_map("conf", "default", {"data": {"b": "3"}})
    assert patched.data == {"a": "2", "b": "3"}
    await core.delete_namespaced_config_map("conf", "default")
    with pytest.raises(ApiException) as gone:
        await core.read_namespaced_config_map("conf", "default")
    assert reason(gone.value) == (404, "NotFound", 'configmaps "conf" not found')


async def test_create_errors_already_exists_missing_namespace_and_bad_names(k8s_api: Any) -> None:
    apps = client.AppsV1Api(k8s_api)
    await apps.create_namespaced_deployment("default", deployment("web"))
    with pytest.raises(ApiException) as twice:
        await apps.create_namespaced_deployment("default", deployment("web"))
    assert reason(twice.value) == (409, "AlreadyExists", 'deployments.apps "web" already exists')
    with pytest.raises(ApiException) as nowhere:
        await apps.create_namespaced_deployment("absent", deployment("web"))
    assert reason(nowhere.value)[:2] == (404, "NotFound")
    with pytest.raises(ApiException) as bad:
        await apps.create_namespaced_deployment("default", deployment("Web_1"))
    assert reason(bad.value)[:2] == (422, "Invalid")


async def test_generate_name_uid_and_one_global_resource_version(k8s_api: Any) -> None:
    core = client.CoreV1Api(k8s_api)
    one = await core.create_namespaced_pod("default", {**pod(""), "metadata": {"generateName": "worker-"}})
    two = await core.create_namespaced_config_map("default", {"metadata": {"generateName": "worker-"}})
    assert one.metadata.name.startswith("worker-") and len(one.metadata.name) == len("worker-") + 5
    assert one.metadata.uid != two.metadata.uid
    assert int(two.metadata.resource_version) == int(one.metadata.resource_version) + 1
    assert one.metadata.generation == 1 and one.status.phase == "Pending"


async def test_replace_with_a_stale_resource_version_is_a_conflict(k8s_api: Any) -> None:
    apps = client.AppsV1Api(k8s_api)
    first = await apps.create_namespaced_deployment("default", deployment("web"))
    await apps.patch_namespaced_deployment("web", "default", {"spec": {"replicas": 3}})
    first.spec.replicas = 5
    with pytest.raises(ApiException) as stale:
        await apps.replace_namespaced_deployment("web", "default", first)
    code, why, message = reason(stale.value)
    assert (code, why) == (409, "Conflict") and "the object has been modified" in message
    custom = client.CustomObjectsApi(k8s_api)
    kwv = await custom.create_namespaced_custom_object(
        *LC, "default", "keptnworkloadversions", keptn_workload_version("w")
    )
    kwv["metadata"]["resourceVersion"] = "1"
    with pytest.raises(ApiException) as cr_stale:
        await custom.replace_namespaced_custom_object(*LC, "default", "keptnworkloadversions", "w", kwv)
    assert reason(cr_stale.value)[:2] == (409, "Conflict")


async def test_generation_changes_only_with_the_spec(k8s_api: Any) -> None:
    custom = client.CustomObjectsApi(k8s_api)
    args = (*LC, "default", "keptnworkloadversions", "w")
    made = await custom.create_namespaced_custom_object(
        *LC, "default", "keptnworkloadversions", keptn_workload_version("w")
    )
    assert made["metadata"]["generation"] == 1
    merge = "application/merge-patch+json"
    labelled = await custom.patch_namespaced_custom_object(
        *args, {"metadata": {"labels": {"x": "y"}}}, _content_type=merge
    )
    assert labelled["metadata"]["generation"] == 1
    assert labelled["metadata"]["resourceVersion"] != made["metadata"]["resourceVersion"]
    status = await custom.patch_namespaced_custom_object_status(
        *args, {"status": {"status": "Progressing"}}, _content_type=merge
    )
    assert status["metadata"]["generation"] == 1
    bumped = await custom.patch_namespaced_custom_object(
        *args, {"spec": {"version": "0.5"}}, _content_type=merge
    )
    assert bumped["metadata"]["generation"] == 2
    same = await custom.patch_namespaced_custom_object(
        *args, {"spec": {"version": "0.5"}}, _content_type=merge
    )
    assert same["metadata"]["resourceVersion"] == bumped["metadata"]["resourceVersion"], (
        "a no-op write is no write"
    )


async def test_status_subresource_isolation(k8s_api: Any) -> None:
    custom = client.CustomObjectsApi(k8s_api)
    args = (*LC, "default", "keptnworkloadversions", "w")
    merge = "application/merge-patch+json"
    created = await custom.create_namespaced_custom_object(
        *LC,
        "default",
        "keptnworkloadversions",
        {**keptn_workload_version("w"), "status": {"status": "Succeeded"}},
    )
    assert "status" not in created, "status is dropped on create"
    main = await custom.patch_namespaced_custom_object(
        *args, {"spec": {"version": "1"}, "status": {"status": "Failed"}}, _content_type=merge
    )
    assert main["spec"]["version"] == "1" and "status" not in main
    on_status = await custom.patch_namespaced_custom_object_status(
        *args, {"spec": {"version": "2"}, "status": {"currentPhase": "WorkloadDeploy"}}, _content_type=merge
    )
    assert on_status["spec"]["version"] == "1" and on_status["status"] == {"currentPhase": "WorkloadDeploy"}
    on_status["status"]["currentPhase"] = "Completed"
    replaced = await custom.replace_namespaced_custom_object_status(*args, on_status)
    assert replaced["status"]["currentPhase"] == "Completed"


async def test_patch_flavours_and_the_custom_object_dict_patch_trap(k8s_api: Any) -> None:
    core = client.CoreV1Api(k8s_api)
    await core.create_namespaced_pod(
        "default",
        {
            **pod("p"),
            "spec": {
                "schedulingGates": [{"name": "a"}, {"name": "b"}],
                "containers": [{"name": "main", "image": "x:1"}],
            },
        },
    )
    with pytest.raises(ApiException) as frozen:
        await core.patch_namespaced_pod(
            "p", "default", {"spec": {"containers": [{"name": "side", "image": "y:1"}]}}
        )
    assert reason(frozen.value)[:2] == (422, "Invalid"), "a pod's spec is immutable but for a few fields"
    with pytest.raises(ApiException) as new_gate:
        await core.patch_namespaced_pod(
            "p", "default", [{"op": "add", "path": "/spec/schedulingGates/-", "value": {"name": "c"}}]
        )
    assert "only deletion is allowed" in reason(new_gate.value)[2]
    apps = client.AppsV1Api(k8s_api)
    await apps.create_namespaced_deployment("default", deployment("web"))
    smp = await apps.patch_namespaced_deployment(
        "web", "default", {"spec": {"template": {"spec": {"containers": [{"name": "side", "image": "y:1"}]}}}}
    )
    assert [c.name for c in smp.spec.template.spec.containers] == ["web", "side"], (
        "strategic merge merges by name"
    )
    ops = [
        {"op": "test", "path": "/spec/schedulingGates/0/name", "value": "a"},
        {"op": "remove", "path": "/spec/schedulingGates/0"},
        {"op": "add", "path": "/metadata/labels", "value": {"gate": "b"}},
        {"op": "replace", "path": "/metadata/labels/gate", "value": "only-b"},
    ]
    jp = await core.patch_namespaced_pod("p", "default", ops)
    assert [g.name for g in jp.spec.scheduling_gates] == ["b"] and jp.metadata.labels == {"gate": "only-b"}
    with pytest.raises(ApiException) as failed_test:
        await core.patch_namespaced_pod(
            "p", "default", [{"op": "test", "path": "/metadata/name", "value": "q"}]
        )
    assert failed_test.value.status == 422
    cleared = await core.patch_namespaced_pod("p", "default", {"spec": {"schedulingGates": None}})
    assert cleared.spec.scheduling_gates is None
    custom = client.CustomObjectsApi(k8s_api)
    await custom.create_namespaced_custom_object(
        *LC, "default", "keptnworkloadversions", keptn_workload_version("w")
    )
    with pytest.raises(
        ApiException
    ) as trap:  # a dict body is sent as json-patch unless _content_type is given
        await custom.patch_namespaced_custom_object(
            *LC, "default", "keptnworkloadversions", "w", {"spec": {}}
        )
    assert trap.value.status == 400


async def test_label_and_field_selectors(k8s_api: Any) -> None:
    core = client.CoreV1Api(k8s_api)
    for name, labels in [
        ("a", {"tier": "web", "env": "prod"}),
        ("b", {"tier": "db", "env": "prod"}),
        ("c", {"tier": "web"}),
        ("d", {}),
    ]:
        await core.create_namespaced_pod("default", pod(name, labels))

    async def names(**selector: str) -> list[str]:
        return [p.metadata.name for p in (await core.list_namespaced_pod("default", **selector)).items]

    assert await names(label_selector="tier=web") == ["a", "c"]
    assert await names(label_selector="tier==web,env=prod") == ["a"]
    assert await names(label_selector="tier!=web") == ["b", "d"]
    assert await names(label_selector="tier in (web, db),env") == ["a", "b"]
    assert await names(label_selector="tier notin (web)") == ["b", "d"]
    assert await names(label_selector="!env") == ["c", "d"]
    assert await names(field_selector="metadata.name=b") == ["b"]
    assert await names(field_selector="metadata.namespace=default,metadata.name!=a") == ["b", "c", "d"]
    with pytest.raises(ApiException) as unsupported:
        await names(field_selector="spec.containers=x")
    assert reason(unsupported.value)[:2] == (400, "BadRequest")


async def test_all_namespaces_list_pagination_and_builtin_list_items(
    k8s_api_server: ApiServer, k8s_api: Any
) -> None:
    k8s_api_server.add_namespace("team")
    apps = client.AppsV1Api(k8s_api)
    for ns, name in [("default", "a"), ("team", "b"), ("team", "c")]:
        await apps.create_namespaced_deployment(ns, deployment(name))
    every = await apps.list_deployment_for_all_namespaces()
    assert [(d.metadata.namespace, d.metadata.name) for d in every.items] == [
        ("default", "a"),
        ("team", "b"),
        ("team", "c"),
    ]
    page = await apps.list_deployment_for_all_namespaces(limit=2)
    assert len(page.items) == 2 and page.metadata.remaining_item_count == 1
    rest = await apps.list_deployment_for_all_namespaces(limit=2, _continue=page.metadata._continue)
    assert [d.metadata.name for d in rest.items] == ["c"] and rest.metadata._continue is None
    raw = await apps.list_deployment_for_all_namespaces(_preload_content=False)
    assert "kind" not in json.loads(await raw.read())["items"][0], "built-in list items carry no kind"


async def test_finalizers_hold_deletion_until_removed(k8s_api: Any) -> None:
    custom = client.CustomObjectsApi(k8s_api)
    args = (*LC, "default", "keptnworkloadversions")
    kwv = keptn_workload_version("w")
    kwv["metadata"]["finalizers"] = ["keptn.sh/finalizer"]
    await custom.create_namespaced_custom_object(*args, kwv)
    await custom.delete_namespaced_custom_object(*args, "w")
    held = await custom.get_namespaced_custom_object(*args, "w")
    assert held["metadata"]["deletionTimestamp"]
    await custom.patch_namespaced_custom_object(
        *args, "w", {"metadata": {"finalizers": None}}, _content_type="application/merge-patch+json"
    )
    with pytest.raises(ApiException) as gone:
        await custom.get_namespaced_custom_object(*args, "w")
    assert gone.value.status == 404


async def test_dry_run_writes_nothing(k8s_api: Any) -> None:
    core = client.CoreV1Api(k8s_api)
    answer = await core.create_namespaced_config_map("default", {"metadata": {"name": "dry"}}, dry_run="All")
    assert answer.metadata.name == "dry"
    assert (await core.list_namespaced_config_map("default")).items == []


async def test_events_can_be_created_and_listed_by_involved_object(k8s_api: Any) -> None:
    core = client.CoreV1Api(k8s_api)
    kwv = {
        "kind": "KeptnWorkloadVersion",
        "namespace": "default",
        "name": "waiter-waiter-0.4",
        "uid": "u1",
        "apiVersion": "lifecycle.keptn.sh/v1",
    }
    await core.create_namespaced_event(
        "default",
        {
            "metadata": {"generateName": "waiter-waiter-0.4."},
            "involvedObject": kwv,
            "reason": "AppPreDeployTasksStarted",
            "message": "Started",
            "type": "Normal",
            "source": {"component": "klt-watcher"},
        },
    )
    await core.create_namespaced_event(
        "default",
        {
            "metadata": {"name": "other"},
            "involvedObject": {**kwv, "name": "x"},
            "reason": "Other",
            "type": "Normal",
        },
    )
    found = await core.list_namespaced_event(
        "default", field_selector="involvedObject.name=waiter-waiter-0.4"
    )
    assert [(e.reason, e.source.component) for e in found.items] == [
        ("AppPreDeployTasksStarted", "klt-watcher")
    ]
