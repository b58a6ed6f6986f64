"""The state bucket projected into CRs on the API test server (tests/k8s), with the session nats-server:
CRs as KLT shows them, owners by cluster uid, status changes, deletions, and a restart that converges
after the CRs were changed behind the projector's back."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import msgspec
import pytest
from kubernetes_asyncio.client import ApiClient, AppsV1Api, CustomObjectsApi
from kubernetes_asyncio.client.exceptions import ApiException
from nats.js import JetStreamContext
from nats.js.kv import KeyValue

from services.watcher.kube.projection import project_state
from shared.keptn.states import KeptnState
from shared.runtime.settings import CommonSettings
from shared.subjects import Names, object_key
from tests.k8s.fixtures import k8s_api, k8s_api_server
from tests.k8s.server import ApiServer
from tests.support.natsfix import nats_client
from tests.unit import test_kube_projection_support as samples

__all__ = ["k8s_api", "k8s_api_server"]

NS = samples.NS
GROUP, VERSION = "lifecycle.keptn.sh", "v1"
MERGE = "application/merge-patch+json"
_encoder = msgspec.json.Encoder()


async def eventually(check: Callable[[], Awaitable[Any]], timeout: float = 10.0) -> Any:
    """Poll ``check`` until it returns something truthy without raising; return that."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        try:
            result = await check()
            if result:
                return result
            error: BaseException | None = None
        except (AssertionError, ApiException) as exc:
            error = exc
        if loop.time() > deadline:
            raise AssertionError(f"not reached in {timeout}s: {error!r}")
        await asyncio.sleep(0.05)


class Cluster:
    """Reads and writes of lifecycle CRs, as a user with kubectl would."""

    def __init__(self, api: ApiClient) -> None:
        self.crs = CustomObjectsApi(api)
        self.apps = AppsV1Api(api)

    async def get(self, plural: str, name: str) -> dict[str, Any]:
        found: dict[str, Any] = await self.crs.get_namespaced_custom_object(GROUP, VERSION, NS, plural, name)
        return found

    async def absent(self, plural: str, name: str) -> bool:
        try:
            await self.get(plural, name)
        except ApiException as exc:
            return exc.status == 404
        return False

    async def names(self, plural: str) -> set[str]:
        listed = await self.crs.list_namespaced_custom_object(GROUP, VERSION, NS, plural)
        return {item["metadata"]["name"] for item in listed["items"]}

    async def patch(self, plural: str, name: str, body: dict[str, Any], *, status: bool = False) -> None:
        call = (
            self.crs.patch_namespaced_custom_object_status
            if status
            else self.crs.patch_namespaced_custom_object
        )
        await call(GROUP, VERSION, NS, plural, name, body, _content_type=MERGE)  # type: ignore[call-arg]

    async def create(self, plural: str, body: dict[str, Any]) -> dict[str, Any]:
        created: dict[str, Any] = await self.crs.create_namespaced_custom_object(
            GROUP, VERSION, NS, plural, body
        )
        return created

    async def delete(self, plural: str, name: str) -> None:
        await self.crs.delete_namespaced_custom_object(GROUP, VERSION, NS, plural, name)

    async def replica_set(self, name: str) -> str:
        body = {
            "metadata": {"name": name},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "web", "image": "ghcr.io/example/web:0.4"}]},
                },
            },
        }
        created = await self.apps.create_namespaced_replica_set(NS, body)  # type: ignore[arg-type]
        return str(created.metadata.uid)


@contextlib.asynccontextmanager
async def projector(api: ApiClient, js: JetStreamContext, names: Names) -> AsyncIterator[None]:
    stop = asyncio.Event()
    task = asyncio.create_task(project_state(api, js, names, stop))
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=10)


async def put(kv: KeyValue, obj: Any) -> None:
    await kv.put(object_key(obj.kind, obj.metadata.namespace, obj.metadata.name), _encoder.encode(obj))


@pytest.fixture
async def env(
    klt_settings: CommonSettings, k8s_api_server: ApiServer, k8s_api: ApiClient
) -> AsyncIterator[tuple[JetStreamContext, KeyValue, Names, Cluster]]:
    k8s_api_server.add_namespace(NS)
    names = Names(klt_settings.prefix)
    async with nats_client(klt_settings) as nc:
        js = nc.jetstream()
        yield js, await js.key_value(names.state_bucket), names, Cluster(k8s_api)


def _owner_uids(cr: dict[str, Any]) -> list[tuple[str, str, bool]]:
    return [
        (ref["kind"], ref["uid"], bool(ref.get("controller")))
        for ref in cr["metadata"].get("ownerReferences", [])
    ]


async def _put_all(kv: KeyValue, rs_uid: str) -> None:
    # Children first: the projector has to wait for each owner's CR to learn its cluster uid.
    for obj in (
        samples.evaluation(),
        samples.task(),
        samples.workload_version(),
        samples.app_version(),
        samples.workload(rs_uid=rs_uid),
        samples.app(),
    ):
        await put(kv, obj)


async def test_state_becomes_crs_with_klt_owners_and_status(env: Any, k8s_api: ApiClient) -> None:
    js, kv, names, cluster = env
    rs_uid = await cluster.replica_set("web-5d8f")
    await _put_all(kv, rs_uid)
    async with projector(k8s_api, js, names):
        kwv = await eventually(lambda: cluster.get("keptnworkloadversions", "shop-web-0.4"))
        evaluation = await eventually(lambda: cluster.get("keptnevaluations", "pre-eval-ready-23456"))
        task = await eventually(lambda: cluster.get("keptntasks", "pre-deployment-check-12345"))

        async def av_with_status() -> dict[str, Any] | None:
            av = await cluster.get("keptnappversions", "shop-1.0-6b86b273")
            return av if av.get("status", {}).get("currentPhase") else None

        av = await eventually(av_with_status)
        app = await cluster.get("keptnapps", "shop")
        workload = await cluster.get("keptnworkloads", "shop-web")

        # Owners are the owners' cluster uids, never klt's own.
        assert _owner_uids(workload) == [("ReplicaSet", rs_uid, False)]
        assert _owner_uids(av) == [("KeptnApp", app["metadata"]["uid"], True)]
        assert _owner_uids(kwv) == [("KeptnWorkload", workload["metadata"]["uid"], True)]
        assert _owner_uids(task) == [("KeptnAppVersion", av["metadata"]["uid"], True)]
        assert _owner_uids(evaluation) == [("KeptnWorkloadVersion", kwv["metadata"]["uid"], True)]

        # What kubectl's printer columns read (deploy/crds).
        assert (kwv["spec"]["app"], kwv["spec"]["workloadName"], kwv["spec"]["version"]) == (
            "shop",
            "shop-web",
            "0.4",
        )
        assert av["spec"]["appName"] == "shop" and av["spec"]["version"] == "1.0"
        assert av["status"]["currentPhase"] == "AppPreDeployTasks"
        assert av["status"]["preDeploymentStatus"] == "Progressing"
        assert av["metadata"]["annotations"] == {"traceparent": samples.TRACEPARENT}
        assert app["metadata"]["labels"] == {"app.kubernetes.io/managed-by": "keptn"}
        assert app["spec"]["version"] == "1.0"
        assert task["metadata"]["labels"] == {"team": "shop"}
        assert task["spec"]["context"]["appName"] == "shop"

        async def app_status() -> bool:
            return bool((await cluster.get("keptnapps", "shop")).get("status") == {"currentVersion": "1.0"})

        await eventually(app_status)

        async def workload_status() -> bool:
            workload = await cluster.get("keptnworkloads", "shop-web")
            return bool(workload.get("status") == {"currentVersion": "0.4"})

        await eventually(workload_status)

        # A status change is projected; several within milliseconds end at the latest.
        for state in (KeptnState.PROGRESSING, KeptnState.FAILED, KeptnState.SUCCEEDED):
            await put(kv, samples.task(status=state))
            await put(kv, samples.app_version(status=state))

        async def succeeded() -> bool:
            task = await cluster.get("keptntasks", "pre-deployment-check-12345")
            av = await cluster.get("keptnappversions", "shop-1.0-6b86b273")
            return bool(task["status"]["status"] == "Succeeded" and av["status"]["status"] == "Succeeded")

        await eventually(succeeded)
        task = await cluster.get("keptntasks", "pre-deployment-check-12345")
        assert task["status"]["jobName"] == "klt-check-12345"

        # A deleted state entry deletes its CR.
        await kv.delete(object_key("KeptnTask", NS, "pre-deployment-check-12345"))
        await eventually(lambda: cluster.absent("keptntasks", "pre-deployment-check-12345"))


async def test_restart_converges_crs_changed_behind_its_back(env: Any, k8s_api: ApiClient) -> None:
    js, kv, names, cluster = env
    rs_uid = await cluster.replica_set("web-5d8f")
    await _put_all(kv, rs_uid)
    async with projector(k8s_api, js, names):
        await eventually(lambda: cluster.get("keptnevaluations", "pre-eval-ready-23456"))
        await eventually(lambda: cluster.get("keptntasks", "pre-deployment-check-12345"))
    av_uid = (await cluster.get("keptnappversions", "shop-1.0-6b86b273"))["metadata"]["uid"]

    # While the projector is away: users and accidents change the CRs, and the state moves on.
    await cluster.patch("keptnworkloadversions", "shop-web-0.4", {"spec": {"version": "9.9", "extra": "x"}})
    await cluster.patch(
        "keptnappversions", "shop-1.0-6b86b273", {"status": {"currentPhase": "Hacked"}}, status=True
    )
    await cluster.patch("keptntasks", "pre-deployment-check-12345", {"metadata": {"ownerReferences": None}})
    await cluster.delete(
        "keptnworkloads", "shop-web"
    )  # the garbage collector takes the WorkloadVersion along
    orphan = samples.app_version()
    await cluster.create(
        "keptnappversions",
        {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "KeptnAppVersion",
            "metadata": {"name": "shop-0.9-6b86b273"},
            "spec": {"appName": "shop", "version": "0.9"},
        },
    )
    await cluster.create(
        "keptntasks",
        {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "KeptnTask",
            "metadata": {"name": "standalone-by-a-user"},
            "spec": {"taskDefinition": "check", "checkType": "pre"},
        },
    )
    await put(kv, samples.app_version(status=KeptnState.SUCCEEDED))
    await kv.delete(object_key("KeptnEvaluation", NS, "pre-eval-ready-23456"))
    assert orphan.metadata.name == "shop-1.0-6b86b273"

    async with projector(k8s_api, js, names):

        async def converged() -> bool:
            av = await cluster.get("keptnappversions", "shop-1.0-6b86b273")
            kwv = await cluster.get("keptnworkloadversions", "shop-web-0.4")
            task = await cluster.get("keptntasks", "pre-deployment-check-12345")
            workload = await cluster.get("keptnworkloads", "shop-web")
            return bool(
                av["status"]["currentPhase"] == "AppPreDeployTasks"
                and av["status"]["status"] == "Succeeded"
                and kwv["spec"]["version"] == "0.4"
                and "extra" not in kwv["spec"]
                and _owner_uids(kwv) == [("KeptnWorkload", workload["metadata"]["uid"], True)]
                and _owner_uids(task) == [("KeptnAppVersion", av_uid, True)]
                and await cluster.absent("keptnappversions", "shop-0.9-6b86b273")
                and await cluster.absent("keptnevaluations", "pre-eval-ready-23456")
            )

        await eventually(converged)
        assert "standalone-by-a-user" in await cluster.names("keptntasks")
        assert await cluster.names("keptnappversions") == {"shop-1.0-6b86b273"}


async def test_user_app_keeps_its_spec_and_gets_current_version(env: Any, k8s_api: ApiClient) -> None:
    js, kv, names, cluster = env
    user_app = await cluster.create(
        "keptnapps",
        {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "KeptnApp",
            "metadata": {"name": "shop", "labels": {"team": "shop"}},
            "spec": {"version": "1.0", "workloads": [{"name": "web", "version": "0.4"}], "userField": "kept"},
        },
    )
    await put(kv, samples.app(managed=False))
    await put(kv, samples.app_version())
    async with projector(k8s_api, js, names):

        async def current_version() -> dict[str, Any] | None:
            app = await cluster.get("keptnapps", "shop")
            return app if app.get("status", {}).get("currentVersion") == "1.0" else None

        app = await eventually(current_version)
        av = await eventually(lambda: cluster.get("keptnappversions", "shop-1.0-6b86b273"))
        assert app["spec"]["userField"] == "kept"
        assert app["metadata"]["labels"] == {"team": "shop"}
        assert _owner_uids(av) == [("KeptnApp", user_app["metadata"]["uid"], True)]
        # Its state entry going away never deletes a user's app.
        await kv.delete(object_key("KeptnApp", NS, "shop"))
        await kv.delete(object_key("KeptnAppVersion", NS, "shop-1.0-6b86b273"))
        await eventually(lambda: cluster.absent("keptnappversions", "shop-1.0-6b86b273"))
        assert not await cluster.absent("keptnapps", "shop")


async def test_user_app_missing_in_the_cluster_is_not_created(env: Any, k8s_api: ApiClient) -> None:
    js, kv, names, cluster = env
    await put(kv, samples.app(managed=False))
    await put(kv, samples.workload())
    async with projector(k8s_api, js, names):
        workload = await eventually(lambda: cluster.get("keptnworkloads", "shop-web"))
        # The ReplicaSet is not in the cluster: no owner reference that would get the CR collected.
        assert "ownerReferences" not in workload["metadata"]
        assert await cluster.absent("keptnapps", "shop")
