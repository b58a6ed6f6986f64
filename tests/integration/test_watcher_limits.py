"""The watcher's two limits against a real nats-server: the stuck deadline (a phase waiting for
something that never comes fails, DESIGN §8, KLT #1878) and the retention limit (old finished versions
are deleted with their items and records, KLT #621)."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

from nats.aio.client import Client

from services.watcher.config import watcher_config
from services.watcher.index import Index, key_of
from services.watcher.store import StateStore
from shared.keptn.lifecycle import KeptnAppVersion
from shared.keptn.states import KeptnState
from shared.naming import app_version_name
from shared.runtime.natsio import ensure_topology, get_entry, list_entries
from shared.runtime.settings import CommonSettings
from shared.subjects import Names, kind_prefix, object_key
from tests.integration.watcher_support import (
    NS,
    Workers,
    answering,
    lifecycle_events,
    manifests,
    put_manifests,
    running_watcher,
    stored,
    wait_terminal,
)
from tests.support.natsfix import nats_client
from tests.unit.phases_harness import app_version

S, F, D, G = KeptnState.SUCCEEDED, KeptnState.FAILED, KeptnState.DEPRECATED, KeptnState.PROGRESSING
AV = app_version_name("shop", "1.0", 1)

GHOST_APP = f"""---
apiVersion: lifecycle.keptn.sh/v1
kind: KeptnApp
metadata: {{name: shop, namespace: {NS}}}
spec:
  version: "1.0"
  workloads: [{{name: web, version: "1.0"}}, {{name: ghost, version: "1.0"}}]
"""
"""A user-defined app listing a workload ``ghost`` that no manifest provides."""


def _without_task_definitions(text: str) -> str:
    return "---\n".join(doc for doc in text.split("---\n") if "kind: KeptnTaskDefinition" not in doc)


async def _waiting_since(nc: Client, settings: CommonSettings, name: str) -> str:
    async with asyncio.timeout(10):
        while True:
            av = await stored(nc, settings, "KeptnAppVersion", name)
            if isinstance(av, KeptnAppVersion) and av.status.waiting_since:
                return av.status.waiting_since
            await asyncio.sleep(0.02)


async def test_an_app_version_waiting_for_a_workload_that_never_comes_fails_at_the_deadline(
    klt_settings: CommonSettings, tmp_path: Path
) -> None:
    config = watcher_config({}, stuck_deadline_s=1.0)
    async with (
        nats_client(klt_settings) as nc,
        lifecycle_events(nc, klt_settings) as events,
        answering(Workers(nc, klt_settings)),
        running_watcher(klt_settings, config),
    ):
        await put_manifests(nc, klt_settings, tmp_path, manifests() + GHOST_APP)
        av = await wait_terminal(nc, klt_settings, "KeptnAppVersion", AV)
        kwv = await wait_terminal(nc, klt_settings, "KeptnWorkloadVersion", "shop-web-1.0")
        await asyncio.sleep(0.1)
    assert isinstance(av, KeptnAppVersion)
    status = av.status
    assert (status.status, status.current_phase, status.workload_overall_status) == (F, "AppDeploy", F)
    assert (status.post_deployment_status, status.post_deployment_evaluation_status) == (D, D)
    assert (
        status.message
        == f"AppDeploy of {AV} gave up after 1s: KeptnWorkloadVersion 'shop-ghost-1.0' not found"
    )
    assert kwv.status.status == S  # type: ignore[attr-defined]  # the workload that exists went through
    reasons = [e.reason for e in events]
    assert "ReconcileWorkloadNotFound" in reasons  # said while it waited
    (failed,) = [e for e in events if e.reason == "AppDeployFailed"]
    assert failed.event_type == "Warning" and "gave up after 1s" in failed.message


async def test_a_definition_that_appears_before_the_deadline_lets_the_release_proceed(
    klt_settings: CommonSettings, tmp_path: Path
) -> None:
    text = manifests(app_pre_tasks=("notify",))
    config = watcher_config({}, stuck_deadline_s=30.0)
    async with (
        nats_client(klt_settings) as nc,
        answering(Workers(nc, klt_settings)),
        running_watcher(klt_settings, config),
    ):
        await put_manifests(nc, klt_settings, tmp_path, _without_task_definitions(text))
        await _waiting_since(nc, klt_settings, AV)
        waiting = await stored(nc, klt_settings, "KeptnAppVersion", AV)
        await put_manifests(nc, klt_settings, tmp_path / "fixed", text)
        av = await wait_terminal(nc, klt_settings, "KeptnAppVersion", AV)
    assert isinstance(waiting, KeptnAppVersion)
    assert (waiting.status.status, waiting.status.pre_deployment_status) == (G, KeptnState.PENDING)
    assert "KeptnTaskDefinition 'notify' not found" in waiting.status.message
    assert isinstance(av, KeptnAppVersion)
    assert (av.status.status, av.status.waiting_since, av.status.message) == (S, None, "")


async def test_the_deadline_survives_a_watcher_restart(klt_settings: CommonSettings, tmp_path: Path) -> None:
    """The countdown is the stored ``waitingSince``: the second watcher neither forgets it (nothing else
    will ever move this AppVersion, only its timer) nor starts it again."""
    config = watcher_config({}, stuck_deadline_s=2.0)
    async with nats_client(klt_settings) as nc, answering(Workers(nc, klt_settings)):
        async with running_watcher(klt_settings, config):
            await put_manifests(nc, klt_settings, tmp_path, manifests() + GHOST_APP)
            since = await _waiting_since(nc, klt_settings, AV)
        async with running_watcher(klt_settings, config):
            av = await wait_terminal(nc, klt_settings, "KeptnAppVersion", AV)
    assert isinstance(av, KeptnAppVersion)
    assert (av.status.status, av.status.waiting_since) == (F, since)
    assert "gave up after 2s: KeptnWorkloadVersion 'shop-ghost-1.0' not found" in av.status.message


async def _keys(nc: Client, bucket: str, kind: str) -> set[str]:
    kv = await nc.jetstream().key_value(bucket)
    return set(await list_entries(kv, kind_prefix(kind, NS)))


async def test_retention_deletes_the_older_release_with_its_items_and_records(
    klt_settings: CommonSettings, tmp_path: Path
) -> None:
    names = Names(klt_settings.prefix)
    config = watcher_config({}, keep_finished_versions=1)
    first = manifests(app_pre_tasks=("notify",), workload_pre_tasks=("migrate",))
    second = manifests(version="2.0", app_pre_tasks=("notify",), workload_pre_tasks=("migrate",))
    av2 = app_version_name("shop", "2.0", 2)
    async with nats_client(klt_settings) as nc:
        js = nc.jetstream()
        workers = Workers(nc, klt_settings)
        async with answering(workers), running_watcher(klt_settings, config):
            await put_manifests(nc, klt_settings, tmp_path, first)
            await wait_terminal(nc, klt_settings, "KeptnAppVersion", AV)
            await wait_terminal(nc, klt_settings, "KeptnWorkloadVersion", "shop-web-1.0")
            old_tasks = await _keys(nc, names.state_bucket, "KeptnTask")
            assert len(old_tasks) == 2
            # What the task-runner keeps for them (the stand-in workers write none).
            logs, runs = (
                await js.key_value(names.task_logs_bucket),
                await js.key_value(names.task_runs_bucket),
            )
            for key in old_tasks:
                await logs.put(key, b'{"stdout": "hi"}')
                await runs.put(key, b"{}")

            workers.paused.set()  # the second release runs and is held in its first phase
            await put_manifests(nc, klt_settings, tmp_path, second)
            async with asyncio.timeout(10):
                while len(workers.commands) < 3:
                    await asyncio.sleep(0.02)
            running = await stored(nc, klt_settings, "KeptnAppVersion", av2)
            kept_meanwhile = await stored(nc, klt_settings, "KeptnAppVersion", AV)

            workers.paused.clear()
            done = await wait_terminal(nc, klt_settings, "KeptnAppVersion", av2)
            await wait_terminal(nc, klt_settings, "KeptnWorkloadVersion", "shop-web-2.0")
            async with asyncio.timeout(10):
                while await stored(nc, klt_settings, "KeptnWorkloadVersion", "shop-web-1.0") is not None:
                    await asyncio.sleep(0.02)
            app_versions = await _keys(nc, names.state_bucket, "KeptnAppVersion")
            workload_versions = await _keys(nc, names.state_bucket, "KeptnWorkloadVersion")
            tasks = await _keys(nc, names.state_bucket, "KeptnTask")
            old_logs = [await get_entry(logs, key) for key in old_tasks]
            old_runs = [await get_entry(runs, key) for key in old_tasks]
    # While the second release ran, the finished first one was kept (a running one does not count).
    assert isinstance(running, KeptnAppVersion) and running.status.status == G
    assert isinstance(kept_meanwhile, KeptnAppVersion) and kept_meanwhile.status.status == S
    assert isinstance(done, KeptnAppVersion) and done.status.status == S
    assert app_versions == {object_key("KeptnAppVersion", NS, av2)}
    assert workload_versions == {object_key("KeptnWorkloadVersion", NS, "shop-web-2.0")}
    assert len(tasks) == 2 and not tasks & old_tasks
    assert old_logs == [None, None] and old_runs == [None, None]


async def test_a_deletion_by_another_replica_leaves_this_replicas_index(klt_settings: CommonSettings) -> None:
    """Retention on one watcher replica must not leave another one holding (and reconciling) the deleted
    objects; a deletion older than what the index holds is ignored."""
    names = Names(klt_settings.prefix)
    async with nats_client(klt_settings) as nc:
        js = nc.jetstream()
        await ensure_topology(js, klt_settings)
        kv = await js.key_value(names.state_bucket)
        mine, theirs = StateStore(kv, Index()), StateStore(kv, Index())
        av = app_version()
        loaded, changed = asyncio.Event(), asyncio.Event()
        follower = asyncio.create_task(mine.follow(loaded, lambda key: changed.set()))
        try:
            await loaded.wait()
            await theirs.save(av, None)
            async with asyncio.timeout(5):
                while mine.index.get(key_of(av)) is None:
                    await asyncio.sleep(0.01)
            await theirs.delete(key_of(av))
            async with asyncio.timeout(5):
                while mine.index.get(key_of(av)) is not None:
                    await asyncio.sleep(0.01)
            assert theirs.index.get(key_of(av)) is None
        finally:
            follower.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await follower
