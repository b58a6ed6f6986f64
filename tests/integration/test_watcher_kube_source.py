"""The Kubernetes source against the API test server and a real nats-server: the desired-state bucket
follows the cluster (opt-in namespaces, the Keptn namespace, current ReplicaSets, legacy fields), and
derivation names a Deployment's pods' ReplicaSet as KLT does."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

from nats.js.kv import KeyValue

from services.watcher.handlers import decode_desired, desired_view
from services.watcher.kube.source import ClusterSource
from shared.runtime.desired import APPLIED_MARKER
from shared.runtime.natsio import list_entries
from shared.runtime.settings import CommonSettings
from shared.subjects import Names
from tests.k8s.fixtures import k8s_api, k8s_api_server
from tests.k8s.server import ApiServer
from tests.support.natsfix import nats_client

__all__ = ["k8s_api", "k8s_api_server"]

LC = "lifecycle.keptn.sh/v1"


def app_deployment(name: str, version: str, *, tasks: str = "") -> dict[str, Any]:
    annotations = {"keptn.sh/app": "shop", "keptn.sh/workload": name, "keptn.sh/version": version}
    if tasks:
        annotations["keptn.sh/pre-deployment-tasks"] = tasks
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}, "annotations": annotations},
                "spec": {"containers": [{"name": name, "image": f"ghcr.io/example/{name}:{version}"}]},
            },
        },
    }


def task_definition(name: str, *, legacy: bool = False) -> dict[str, Any]:
    runtime = {"inline": {"code": "console.log('hi')"}}
    return {
        "apiVersion": LC,
        "kind": "KeptnTaskDefinition",
        "metadata": {"name": name},
        "spec": {"function": runtime} if legacy else {"deno": runtime},
    }


async def eventually(check: Callable[[], Any], timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while True:
            if await check():
                return
            await asyncio.sleep(0.02)


@contextlib.asynccontextmanager
async def source_running(
    klt_settings: CommonSettings, k8s_api: Any
) -> AsyncIterator[tuple[ClusterSource, KeyValue]]:
    async with nats_client(klt_settings) as nc:
        kv = await nc.jetstream().key_value(Names(klt_settings.prefix).desired_bucket)
        source = ClusterSource(k8s_api, kv, klt_settings.keptn_namespace, settle_s=0.01)
        task = asyncio.create_task(source.run())
        try:
            await asyncio.wait_for(source.synced.wait(), 5)
            yield source, kv
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def desired(kv: KeyValue) -> dict[str, Any]:
    entries = await list_entries(kv, ">")
    found = {}
    for key, entry in entries.items():
        if key == APPLIED_MARKER or entry.value is None:
            continue
        decoded = decode_desired(key, entry.value)
        assert decoded is not None
        found[key] = decoded
    return found


def names_of(found: dict[str, Any], kind: str) -> set[str]:
    return {f"{obj.metadata.namespace}/{obj.metadata.name}" for k, obj in found.values() if k == kind}


async def test_desired_state_follows_opted_in_namespaces(
    klt_settings: CommonSettings, k8s_api_server: ApiServer, k8s_api: Any
) -> None:
    server, store = k8s_api_server, k8s_api_server.store
    server.add_namespace("shop", annotations={"keptn.sh/lifecycle-toolkit": "enabled"})
    server.add_namespace("other")
    server.add_namespace(klt_settings.keptn_namespace)
    store.create("deployments.apps", app_deployment("cart", "1.0", tasks="check"), "shop")
    store.create("deployments.apps", app_deployment("ignored", "1.0"), "other")
    store.create(f"{LC}/keptntaskdefinitions", task_definition("check", legacy=True), "shop")
    store.create(f"{LC}/keptntaskdefinitions", task_definition("global"), klt_settings.keptn_namespace)
    store.create(f"{LC}/keptntaskdefinitions", task_definition("elsewhere"), "other")
    store.create("configmaps", {"metadata": {"name": "code"}, "data": {"code": "1"}}, "shop")
    store.create("secrets", {"metadata": {"name": "token"}, "stringData": {"SECURE_DATA": "s3cr3t"}}, "shop")
    old_app = {
        "apiVersion": "lifecycle.keptn.sh/v1alpha3",
        "kind": "KeptnApp",
        "metadata": {"name": "shop"},
        "spec": {
            "version": "1",
            "workloads": [{"name": "cart", "version": "1.0"}],
            "preDeploymentTasks": ["check"],
        },
    }
    store.create(f"{LC}/keptnapps", old_app, "shop")
    await server.controllers.settle()
    rs = store.list("replicasets.apps", "shop")[0]

    async with source_running(klt_settings, k8s_api) as (_, kv):
        found = await desired(kv)
        assert names_of(found, "Deployment") == {"shop/cart"}
        assert names_of(found, "ReplicaSet") == {f"shop/{rs['metadata']['name']}"}
        assert names_of(found, "KeptnTaskDefinition") == {
            "shop/check",
            f"{klt_settings.keptn_namespace}/global",
        }
        assert names_of(found, "ConfigMap") == {"shop/code"}
        assert names_of(found, "Namespace") == {"/shop"}
        assert not any(key.startswith("secret") for key in found)
        check = next(
            obj for k, obj in found.values() if k == "KeptnTaskDefinition" and obj.metadata.name == "check"
        )
        assert check.spec.deno.inline.code == "console.log('hi')"  # spec.function read as deno
        context = next(obj for k, obj in found.values() if k == "KeptnAppContext")
        assert context.spec.pre_deployment_tasks == ["check"]  # the stored app's check lists

        view = desired_view(found.values(), klt_settings.keptn_namespace, False)
        kw = view.derived.workloads[("shop", "shop-cart")]
        reference = kw.spec.resource_reference
        assert (reference.kind, reference.name, reference.uid) == (
            "ReplicaSet",
            rs["metadata"]["name"],
            rs["metadata"]["uid"],
        )

        # Opting out removes the workload; opting the other namespace in adds its objects.
        ns = store.get("namespaces", None, "other")
        ns["metadata"]["annotations"] = {"keptn.sh/lifecycle-toolkit": "enabled"}
        store.replace("namespaces", ns)
        store.delete(f"{LC}/keptntaskdefinitions", "shop", "check")

        async def moved() -> bool:
            now = await desired(kv)
            return "other/ignored" in names_of(now, "Deployment") and "shop/check" not in names_of(
                now, "KeptnTaskDefinition"
            )

        await eventually(moved)
        assert "other/elsewhere" in names_of(await desired(kv), "KeptnTaskDefinition")


async def test_a_new_template_is_desired_once_its_replica_set_exists(
    klt_settings: CommonSettings, k8s_api_server: ApiServer, k8s_api: Any
) -> None:
    server, store = k8s_api_server, k8s_api_server.store
    server.add_namespace("shop", annotations={"keptn.sh/lifecycle-toolkit": "enabled"})
    store.create("deployments.apps", app_deployment("cart", "1.0"), "shop")
    await server.controllers.settle()
    first = store.list("replicasets.apps", "shop")[0]

    async with source_running(klt_settings, k8s_api) as (source, kv):
        bumped = store.get("deployments.apps", "shop", "cart")
        bumped["spec"]["template"] = app_deployment("cart", "2.0")["spec"]["template"]
        store.replace("deployments.apps", bumped)
        await asyncio.sleep(0.2)  # the source has seen the new template, but no ReplicaSet has it yet
        found = await desired(kv)
        deployment = next(obj for k, obj in found.values() if k == "Deployment")
        assert deployment.spec.template.metadata.annotations["keptn.sh/version"] == "1.0"
        assert names_of(found, "ReplicaSet") == {f"shop/{first['metadata']['name']}"}

        await server.controllers.settle()
        second = next(
            rs
            for rs in store.list("replicasets.apps", "shop")
            if rs["metadata"]["uid"] != first["metadata"]["uid"]
        )

        async def bumped_with_new_rs() -> bool:
            now = await desired(kv)
            return names_of(now, "ReplicaSet") == {f"shop/{second['metadata']['name']}"}

        await eventually(bumped_with_new_rs)
        view = desired_view((await desired(kv)).values(), klt_settings.keptn_namespace, False)
        kw = view.derived.workloads[("shop", "shop-cart")]
        assert (kw.spec.version, kw.spec.resource_reference.uid) == ("2.0", second["metadata"]["uid"])
        assert source.state.published
