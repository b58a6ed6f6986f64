"""ListWatch against the API test server: list then watch, 410 → re-list and reconcile, reconnect after a
cut connection without losing an object, bookmarks moving the resourceVersion, custom resources."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

from services.watcher.kube.listwatch import Backoff, ListWatch, Resource
from tests.k8s.fixtures import k8s_api, k8s_api_server
from tests.k8s.server import ApiServer

__all__ = ["k8s_api", "k8s_api_server"]

CONFIGMAPS = Resource("", "v1", "configmaps", "ConfigMap")
KEPTN_APPS = Resource("lifecycle.keptn.sh", "v1", "keptnapps", "KeptnApp")
FAST = Backoff(initial_s=0.01, max_s=0.05)


async def eventually(check: Callable[[], bool], timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not check():
            await asyncio.sleep(0.01)


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []

    async def __call__(self, kind: str, obj: dict[str, Any]) -> None:
        self.events.append((kind, obj["metadata"]["name"]))


@contextlib.asynccontextmanager
async def running(lw: ListWatch) -> AsyncIterator[ListWatch]:
    task = asyncio.create_task(lw.run())
    try:
        await asyncio.wait_for(lw.synced.wait(), 5)
        yield lw
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def configmap(name: str, value: str = "1") -> dict[str, Any]:
    return {"metadata": {"name": name}, "data": {"v": value}}


async def test_lists_then_watches_every_change(k8s_api_server: ApiServer, k8s_api: Any) -> None:
    store = k8s_api_server.store
    store.create("configmaps", configmap("before"), "default")
    seen = Recorder()
    async with running(ListWatch(k8s_api, CONFIGMAPS, seen, backoff=FAST)) as lw:
        assert seen.events == [("ADDED", "before")]
        store.create("configmaps", configmap("after"), "kube-system")
        store.replace("configmaps", {**store.get("configmaps", "default", "before"), "data": {"v": "2"}})
        store.delete("configmaps", "kube-system", "after")
        await eventually(lambda: len(seen.events) == 4)
        assert seen.events[1:] == [("ADDED", "after"), ("MODIFIED", "before"), ("DELETED", "after")]
        assert set(lw.cache) == {("default", "before")}
        assert lw.cache[("default", "before")]["data"] == {"v": "2"}


async def test_expired_history_relists_and_reports_what_vanished(
    k8s_api_server: ApiServer, k8s_api: Any
) -> None:
    store = k8s_api_server.store
    for name in ("kept", "changed", "gone"):
        store.create("configmaps", configmap(name), "default")
    seen = Recorder()
    lw = ListWatch(k8s_api, CONFIGMAPS, seen, backoff=FAST)
    async with running(lw):
        pass
    # While the watcher is away: one object deleted, one changed, one added; then the history is lost.
    store.delete("configmaps", "default", "gone")
    store.replace("configmaps", {**store.get("configmaps", "default", "changed"), "data": {"v": "2"}})
    store.create("configmaps", configmap("new"), "default")
    k8s_api_server.compact()
    seen.events.clear()
    async with running(lw):
        await eventually(lambda: lw.lists == 2)
        await eventually(lambda: len(seen.events) == 3)
    assert sorted(seen.events) == [("ADDED", "new"), ("DELETED", "gone"), ("MODIFIED", "changed")]
    assert set(lw.cache) == {("default", "kept"), ("default", "changed"), ("default", "new")}


async def test_a_cut_connection_reconnects_without_losing_objects(
    k8s_api_server: ApiServer, k8s_api: Any
) -> None:
    store = k8s_api_server.store
    seen = Recorder()
    async with running(ListWatch(k8s_api, CONFIGMAPS, seen, backoff=FAST)) as lw:
        store.create("configmaps", configmap("one"), "default")
        await eventually(lambda: seen.events == [("ADDED", "one")])
        for round_ in range(3):
            assert k8s_api_server.drop_watches(abort=round_ % 2 == 0) >= 1
            # Written while no watch is open: the next watch resumes from the last version seen.
            store.create("configmaps", configmap(f"gap-{round_}"), "default")
            expected = ("ADDED", f"gap-{round_}")
            await eventually(lambda: expected in seen.events)  # noqa: B023
        assert lw.lists == 1
        assert [name for _, name in seen.events] == ["one", "gap-0", "gap-1", "gap-2"]


async def test_bookmarks_move_the_resource_version_past_compaction(
    k8s_api_server: ApiServer, k8s_api: Any
) -> None:
    store = k8s_api_server.store
    seen = Recorder()
    async with running(ListWatch(k8s_api, CONFIGMAPS, seen, backoff=FAST)) as lw:
        listed = int(lw.resource_version)
        for i in range(5):  # other kinds move the global resourceVersion; no configmap event follows
            store.create("secrets", {"metadata": {"name": f"s{i}"}, "data": {}}, "default")
        head = store.resource_version
        await eventually(lambda: int(lw.resource_version) >= head)
        assert int(lw.resource_version) > listed
        assert seen.events == []
        k8s_api_server.compact()
        k8s_api_server.drop_watches()
        store.create("configmaps", configmap("late"), "default")
        await eventually(lambda: seen.events == [("ADDED", "late")])
        assert lw.lists == 1  # resumed from the bookmark's version: no 410, no re-list


async def test_custom_resources_are_plain_dicts(k8s_api_server: ApiServer, k8s_api: Any) -> None:
    seen = Recorder()
    app = {
        "apiVersion": "lifecycle.keptn.sh/v1",
        "kind": "KeptnApp",
        "metadata": {"name": "podtato-head"},
        "spec": {"version": "0.1.0", "workloads": [{"name": "entry", "version": "0.1.0"}]},
    }
    k8s_api_server.store.create("lifecycle.keptn.sh/v1/keptnapps", app, "default")
    async with running(ListWatch(k8s_api, KEPTN_APPS, seen, backoff=FAST)) as lw:
        assert seen.events == [("ADDED", "podtato-head")]
        stored = lw.cache[("default", "podtato-head")]
        assert stored["kind"] == "KeptnApp"
        assert stored["spec"]["workloads"] == [{"name": "entry", "version": "0.1.0"}]


async def test_a_collection_not_served_is_retried(k8s_api_server: ApiServer, k8s_api: Any) -> None:
    """A collection that is not served yet (e.g. a CRD not installed) is retried, not fatal."""
    missing = Resource("lifecycle.keptn.sh", "v1", "keptnnothings", "KeptnNothing")
    lw = ListWatch(k8s_api, missing, Recorder(), backoff=FAST)
    task = asyncio.create_task(lw.run())
    try:
        await eventually(lambda: len([r for r in k8s_api_server.requests if "keptnnothings" in r[1]]) >= 3)
        assert not lw.synced.is_set()
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
