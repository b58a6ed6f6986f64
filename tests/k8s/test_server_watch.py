"""Watch semantics the watcher relies on, through kubernetes-asyncio's own ``Watch``.

What the client does (observed here with kubernetes-asyncio 36.1, and asserted):
- a watch from an expired resourceVersion gets an ERROR event carrying Status 410 ``Expired``; with
  ``timeout_seconds`` the client raises ``ApiException(410)`` at once; without it, the client retries once
  with the same stale resourceVersion and then raises, so two requests reach the server;
- a stream the server ends cleanly is re-opened by the client itself (when no ``timeout_seconds`` was given)
  from the last resourceVersion it saw, so nothing is missed;
- a connection cut mid-stream raises out of the iteration (``aiohttp.ClientPayloadError``); re-watching from
  the last seen resourceVersion misses nothing;
- bookmark events arrive as plain dicts and move ``Watch.resource_version`` forward.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

import aiohttp
import kubernetes_asyncio
import pytest
from kubernetes_asyncio import watch
from kubernetes_asyncio.client import ApiException

from tests.k8s.helpers import deployment, keptn_workload_version, pod
from tests.k8s.server import ApiServer

#: The generated client, untyped here: its stubs reject dict bodies and ``_content_type``, both valid.
client: Any = kubernetes_asyncio.client


async def eventually(check: Callable[[], bool], timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not check():
            await asyncio.sleep(0.01)


class Recorder:
    """Runs one ``Watch().stream(...)`` in a task and keeps what it yields (type, name, resourceVersion)."""

    def __init__(self, func: Any, *args: Any, **kwargs: Any) -> None:
        self.watch = watch.Watch()
        self.events: list[tuple[str, str, str]] = []
        self.raw: list[dict[str, Any]] = []
        self.error: BaseException | None = None
        self.ended = False
        self._task = asyncio.get_running_loop().create_task(self._run(func, *args, **kwargs))

    async def _run(self, func: Any, *args: Any, **kwargs: Any) -> None:
        try:
            async for event in self.watch.stream(func, *args, **kwargs):
                self.raw.append(event)
                obj = event["raw_object"]
                if event["type"] != "BOOKMARK":
                    self.events.append(
                        (event["type"], obj["metadata"]["name"], obj["metadata"]["resourceVersion"])
                    )
        except Exception as exc:  # recorded for the test to assert on
            self.error = exc
        finally:
            self.ended = True
            await self.watch.close()

    def seen(self) -> list[tuple[str, str]]:
        return [(kind, name) for kind, name, _rv in self.events]

    @property
    def last_rv(self) -> str:
        return self.events[-1][2]

    async def close(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


def watch_requests(server: ApiServer, path_end: str) -> list[dict[str, str]]:
    return [
        q
        for m, p, q in server.requests
        if m == "GET" and p.endswith(path_end) and q.get("watch", "").lower() == "true"
    ]


async def test_list_then_watch_from_its_resource_version_sees_every_change_once(k8s_api: Any) -> None:
    core = client.CoreV1Api(k8s_api)
    await core.create_namespaced_config_map("default", {"metadata": {"name": "a"}})
    await core.create_namespaced_config_map("default", {"metadata": {"name": "c"}})
    listed = await core.list_namespaced_config_map("default")
    await core.create_namespaced_config_map("default", {"metadata": {"name": "b"}})  # between list and watch
    await core.patch_namespaced_config_map("a", "default", {"data": {"k": "1"}})
    recorder = Recorder(
        core.list_namespaced_config_map,
        "default",
        resource_version=listed.metadata.resource_version,
        timeout_seconds=10,
    )
    await core.delete_namespaced_config_map("c", "default")
    await core.create_namespaced_config_map("default", {"metadata": {"name": "d"}})
    await core.patch_namespaced_config_map("d", "default", {"data": {"k": "2"}})
    await eventually(lambda: len(recorder.events) >= 5)
    await asyncio.sleep(0.1)
    await recorder.close()
    assert recorder.seen() == [
        ("ADDED", "b"),
        ("MODIFIED", "a"),
        ("DELETED", "c"),
        ("ADDED", "d"),
        ("MODIFIED", "d"),
    ]
    rvs = [int(rv) for _t, _n, rv in recorder.events]
    assert rvs == sorted(set(rvs)) and rvs[0] > int(listed.metadata.resource_version)


async def test_watch_without_resource_version_starts_with_the_current_objects(k8s_api: Any) -> None:
    custom = client.CustomObjectsApi(k8s_api)
    args = ("lifecycle.keptn.sh", "v1", "default", "keptnworkloadversions")
    for name in ("x", "y"):
        await custom.create_namespaced_custom_object(*args, keptn_workload_version(name))
    recorder = Recorder(custom.list_namespaced_custom_object, *args, timeout_seconds=10)
    await eventually(lambda: len(recorder.events) == 2)
    await custom.patch_namespaced_custom_object_status(
        *args, "x", {"status": {"status": "Progressing"}}, _content_type="application/merge-patch+json"
    )
    await eventually(lambda: len(recorder.events) == 3)
    await recorder.close()
    assert recorder.seen() == [("ADDED", "x"), ("ADDED", "y"), ("MODIFIED", "x")]
    assert recorder.raw[-1]["object"]["status"] == {"status": "Progressing"}
    assert recorder.raw[-1]["object"]["apiVersion"] == "lifecycle.keptn.sh/v1"


async def test_bookmarks_arrive_as_dicts_and_advance_the_resource_version(
    k8s_api_server: ApiServer, k8s_api: Any
) -> None:
    apps = client.AppsV1Api(k8s_api)
    await apps.create_namespaced_deployment("default", deployment("web"))
    listed = await apps.list_deployment_for_all_namespaces()
    k8s_api_server.store.create("configmaps", {"metadata": {"name": "elsewhere", "namespace": "default"}})
    recorder = Recorder(
        apps.list_deployment_for_all_namespaces,
        resource_version=listed.metadata.resource_version,
        allow_watch_bookmarks=True,
        timeout_seconds=10,
    )
    await eventually(lambda: any(e["type"] == "BOOKMARK" for e in recorder.raw))
    await recorder.close()
    bookmark = next(e for e in recorder.raw if e["type"] == "BOOKMARK")
    assert isinstance(bookmark["object"], dict)
    assert bookmark["object"]["kind"] == "Deployment"
    assert int(bookmark["object"]["metadata"]["resourceVersion"]) == k8s_api_server.store.resource_version
    assert recorder.watch.resource_version == bookmark["object"]["metadata"]["resourceVersion"]
    assert recorder.events == []


async def test_expired_resource_version_is_410_and_the_client_retries_once_then_raises(
    k8s_api_server: ApiServer, k8s_api: Any
) -> None:
    core = client.CoreV1Api(k8s_api)
    first = await core.create_namespaced_config_map("default", {"metadata": {"name": "a"}})
    await core.create_namespaced_config_map("default", {"metadata": {"name": "b"}})
    k8s_api_server.compact()
    stale = first.metadata.resource_version

    with_timeout = Recorder(
        core.list_namespaced_config_map, "default", resource_version=stale, timeout_seconds=5
    )
    await eventually(lambda: with_timeout.ended)
    assert isinstance(with_timeout.error, ApiException) and with_timeout.error.status == 410
    assert "Expired" in str(with_timeout.error.reason)
    assert [q["resourceVersion"] for q in watch_requests(k8s_api_server, "/configmaps")] == [stale]

    k8s_api_server.requests.clear()
    forever = Recorder(core.list_namespaced_config_map, "default", resource_version=stale)
    await eventually(lambda: forever.ended)
    assert isinstance(forever.error, ApiException) and forever.error.status == 410
    assert [q["resourceVersion"] for q in watch_requests(k8s_api_server, "/configmaps")] == [stale, stale]

    relisted = await core.list_namespaced_config_map("default")
    fresh = Recorder(
        core.list_namespaced_config_map,
        "default",
        resource_version=relisted.metadata.resource_version,
        timeout_seconds=10,
    )
    await core.create_namespaced_config_map("default", {"metadata": {"name": "c"}})
    await eventually(lambda: fresh.seen() == [("ADDED", "c")])
    await fresh.close()


async def test_history_window_expires_old_resource_versions(k8s_api_server: ApiServer, k8s_api: Any) -> None:
    k8s_api_server.store.history_limit = 3
    core = client.CoreV1Api(k8s_api)
    first = await core.create_namespaced_config_map("default", {"metadata": {"name": "a"}})
    for name in "bcde":
        await core.create_namespaced_config_map("default", {"metadata": {"name": name}})
    recorder = Recorder(
        core.list_namespaced_config_map,
        "default",
        resource_version=first.metadata.resource_version,
        timeout_seconds=5,
    )
    await eventually(lambda: recorder.ended)
    assert isinstance(recorder.error, ApiException) and recorder.error.status == 410


async def test_a_cleanly_dropped_watch_is_resumed_by_the_client_without_loss(
    k8s_api_server: ApiServer, k8s_api: Any
) -> None:
    core = client.CoreV1Api(k8s_api)
    listed = await core.list_namespaced_config_map("default")
    recorder = Recorder(
        core.list_namespaced_config_map, "default", resource_version=listed.metadata.resource_version
    )
    await core.create_namespaced_config_map("default", {"metadata": {"name": "one"}})
    await eventually(lambda: recorder.seen() == [("ADDED", "one")])
    assert k8s_api_server.drop_watches() == 1
    await core.create_namespaced_config_map("default", {"metadata": {"name": "two"}})
    await core.delete_namespaced_config_map("one", "default")
    await eventually(lambda: len(recorder.events) == 3)
    await asyncio.sleep(0.1)
    await recorder.close()
    assert recorder.seen() == [("ADDED", "one"), ("ADDED", "two"), ("DELETED", "one")]
    resumed = watch_requests(k8s_api_server, "/configmaps")[-1]
    assert resumed["resourceVersion"] == recorder.events[0][2], (
        "the client resumed from the last event it saw"
    )


async def test_a_cut_connection_raises_and_rewatching_from_the_last_seen_version_misses_nothing(
    k8s_api_server: ApiServer, k8s_api: Any
) -> None:
    core = client.CoreV1Api(k8s_api)
    listed = await core.list_namespaced_pod("default")
    first = Recorder(
        core.list_namespaced_pod,
        "default",
        resource_version=listed.metadata.resource_version,
        timeout_seconds=30,
    )
    await core.create_namespaced_pod("default", pod("a"))
    await eventually(lambda: len(first.events) == 1)
    assert k8s_api_server.drop_watches(abort=True) == 1
    await core.create_namespaced_pod("default", pod("b"))
    await core.patch_namespaced_pod("a", "default", {"metadata": {"labels": {"x": "y"}}})
    await eventually(lambda: first.ended)
    assert isinstance(first.error, aiohttp.ClientPayloadError), repr(first.error)
    second = Recorder(core.list_namespaced_pod, "default", resource_version=first.last_rv, timeout_seconds=30)
    await eventually(lambda: len(second.events) == 2)
    await asyncio.sleep(0.1)
    await second.close()
    assert first.seen() + second.seen() == [("ADDED", "a"), ("ADDED", "b"), ("MODIFIED", "a")]


async def test_selector_watch_sees_objects_enter_and_leave_the_selection(k8s_api: Any) -> None:
    core = client.CoreV1Api(k8s_api)
    recorder = Recorder(core.list_namespaced_pod, "default", label_selector="tier=web", timeout_seconds=10)
    await asyncio.sleep(0.05)
    await core.create_namespaced_pod("default", pod("a", {"tier": "web"}))
    await core.create_namespaced_pod("default", pod("b", {"tier": "db"}))
    await core.patch_namespaced_pod("a", "default", {"metadata": {"labels": {"tier": "db"}}})
    await core.patch_namespaced_pod("b", "default", {"metadata": {"labels": {"tier": "web"}}})
    await core.delete_namespaced_pod("b", "default")
    await eventually(lambda: len(recorder.events) == 4)
    await asyncio.sleep(0.1)
    await recorder.close()
    assert recorder.seen() == [("ADDED", "a"), ("DELETED", "a"), ("ADDED", "b"), ("DELETED", "b")]


async def test_timeout_seconds_ends_the_stream(k8s_api: Any) -> None:
    core = client.CoreV1Api(k8s_api)
    recorder = Recorder(core.list_namespaced_config_map, "default", timeout_seconds=1)
    await eventually(lambda: recorder.ended, timeout=5)
    assert recorder.error is None and recorder.events == []


async def test_watch_from_a_future_version_waits_for_it(k8s_api_server: ApiServer, k8s_api: Any) -> None:
    core = client.CoreV1Api(k8s_api)
    future = str(k8s_api_server.store.resource_version + 1)
    recorder = Recorder(
        core.list_namespaced_config_map, "default", resource_version=future, timeout_seconds=10
    )
    await core.create_namespaced_config_map("default", {"metadata": {"name": "at-future"}})
    await core.create_namespaced_config_map("default", {"metadata": {"name": "after"}})
    await eventually(lambda: len(recorder.events) == 1)
    await asyncio.sleep(0.1)
    await recorder.close()
    assert recorder.seen() == [("ADDED", "after")]


@pytest.mark.parametrize("tls", [False])
async def test_plain_http_mode(tls: bool) -> None:
    async with ApiServer(tls=tls) as server:
        assert server.url.startswith("http://")
        async with client.ApiClient(server.client_configuration()) as api:
            names = [n.metadata.name for n in (await client.CoreV1Api(api).list_namespace()).items]
    assert names == ["default", "kube-node-lease", "kube-public", "kube-system"]


async def test_send_initial_events_ends_with_an_annotated_bookmark(k8s_api: Any) -> None:
    core = client.CoreV1Api(k8s_api)
    await core.create_namespaced_config_map("default", {"metadata": {"name": "a"}})
    recorder = Recorder(
        core.list_namespaced_config_map,
        "default",
        send_initial_events=True,
        resource_version_match="NotOlderThan",
        allow_watch_bookmarks=True,
        timeout_seconds=10,
    )
    await eventually(lambda: any(e["type"] == "BOOKMARK" for e in recorder.raw))
    await recorder.close()
    assert recorder.raw[0]["type"] == "ADDED"
    marker = recorder.raw[1]["object"]["metadata"]
    assert marker["annotations"] == {"k8s.io/initial-events-end": "true"}


async def test_the_kubeconfig_loads_with_the_client_loader(k8s_api_server: ApiServer) -> None:
    from kubernetes_asyncio import config

    configuration = client.Configuration()
    await config.load_kube_config_from_dict(k8s_api_server.kubeconfig(), client_configuration=configuration)
    async with client.ApiClient(configuration) as api:
        found = await client.CoreV1Api(api).read_namespace("default")
    assert found.metadata.labels == {"kubernetes.io/metadata.name": "default"}
