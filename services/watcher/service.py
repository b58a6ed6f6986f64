"""The watcher's NATS wiring: the desired-state watch, the durable consumer of worker events, the
state bucket, and the commands, lifecycle events and release results it publishes.

This is the only module of the service that touches NATS (besides the state store adapter).

Kubernetes mode (``config.kubernetes``) adds, on the same NATS wiring, what ``kube.wiring`` starts: the
cluster as the source of desired state, the pod webhook, scheduling-gate release and the projection of
the state bucket into KLT's CRs; and KLT's app-creation window before an auto-created app is written
(``appwindow``). The first derive waits until every watched kind has been listed once.

Start-up, in order: fill the index from the state bucket (and keep following it, so what another
replica stores is seen and reconciled here too); (local source) write the manifests of
``source_paths`` into the desired bucket; read the desired state and sync it; recover what a crash may
have interrupted (re-send commands of items not yet started, with the same message ids, which
JetStream de-duplicates; restart release steps that never reported; reconcile every object that may
still move); then consume worker events. Everything needed after a restart is in KV or a stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
import nats.errors
import nats.js.errors
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.kv import KeyValue

from services.watcher.appwindow import AppCreationWindow
from services.watcher.config import WatcherConfig
from services.watcher.deadlines import Deadlines
from services.watcher.deploying import Release, ReleaseStep, release_step
from services.watcher.driving import Driver, run_evaluation_command, run_task_command
from services.watcher.handlers import decode_desired, desired_view
from services.watcher.index import Index, Key
from services.watcher.notifying import forward_cloudevents
from services.watcher.pruning import Pruner
from services.watcher.store import StateStore
from services.watcher.syncing import sync_desired
from services.watcher.telemetry import export_traces
from shared.keptn.lifecycle import KeptnEvaluation, KeptnTask, KeptnWorkloadVersion
from shared.keptn.states import KeptnState
from shared.manifests import load_paths
from shared.messages import DeployFinished, LifecycleEvent, RunEvaluation, RunTask, worker_event_decoder
from shared.phases import is_terminal
from shared.runtime.desired import APPLIED_MARKER, put_desired
from shared.runtime.natsio import connect, ensure_topology, ensure_work_consumer
from shared.runtime.outcomes import PermanentError
from shared.runtime.publishing import now_rfc3339, publish
from shared.runtime.serving import consume
from shared.runtime.settings import CommonSettings
from shared.subjects import Names, object_key

log = logging.getLogger(__name__)

SOURCE = "klt/watcher"
"""CloudEvents ``source`` of what the watcher publishes."""


class JetStreamOutbox:
    """Commands and lifecycle events, each with its deterministic id as ``Nats-Msg-Id``."""

    def __init__(self, js: JetStreamContext, names: Names) -> None:
        self.js = js
        self.names = names

    async def run_task(self, command: RunTask) -> None:
        subject = self.names.command("task", "run", command.namespace, command.name)
        await publish(self.js, subject, command, command.msg_id, SOURCE)

    async def run_evaluation(self, command: RunEvaluation) -> None:
        subject = self.names.command("evaluation", "run", command.namespace, command.name)
        await publish(self.js, subject, command, command.msg_id, SOURCE)

    async def lifecycle_event(self, event: LifecycleEvent) -> None:
        level = logging.WARNING if event.event_type == "Warning" else logging.INFO
        log.log(level, "%s: %s", event.reason, event.message)
        subject = self.names.lifecycle_event(event.kind, event.namespace, event.name)
        await publish(self.js, subject, event, event.id, SOURCE, event.annotations.get("traceparent", ""))

    async def deploy_finished(self, event: DeployFinished) -> None:
        subject = self.names.event("deploy", "finished", event.namespace, event.name)
        await publish(self.js, subject, event, event.msg_id, SOURCE)


class BackgroundReleases:
    """Runs release steps as owned background tasks; each publishes its DeployFinished."""

    def __init__(self, step: ReleaseStep, report: Callable[[DeployFinished], Awaitable[None]]) -> None:
        self.step = step
        self.report = report
        self._running: dict[str, asyncio.Task[None]] = {}

    def start(self, kwv: KeptnWorkloadVersion, timeout_s: float) -> None:
        uid = kwv.metadata.uid
        if uid in self._running:
            return
        release = Release.of(kwv, timeout_s)
        task = asyncio.create_task(self._run(uid, release), name=f"release-{kwv.metadata.name}")
        self._running[uid] = task
        task.add_done_callback(lambda _: self._running.pop(uid, None))

    async def _run(self, uid: str, release: Release) -> None:
        log.info("Release step of %s/%s started", release.namespace, release.workload_version)
        try:
            status, message = await self.step.run(release)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the step is the user's: report its failure, do not crash
            status, message = KeptnState.FAILED, f"the release step could not run: {exc}"
        if status == KeptnState.FAILED:
            log.warning(
                "Release step of %s/%s failed: %s", release.namespace, release.workload_version, message
            )
        event = DeployFinished(
            namespace=release.namespace,
            name=release.workload_version,
            uid=uid,
            status=status,
            message=message,
        )
        while True:
            try:
                await self.report(event)
                return
            except (nats.errors.Error, TimeoutError) as exc:
                log.warning(
                    "Could not report the release of %s yet (%s); retrying", release.workload_version, exc
                )
                await asyncio.sleep(1.0)

    async def close(self) -> None:
        tasks = list(self._running.values())
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def _follow_desired(
    kv: KeyValue,
    on_change: Callable[[list[tuple[str, msgspec.Struct]]], Awaitable[None]],
    ready: asyncio.Event,
    stop: asyncio.Event,
    settle_s: float,
) -> None:
    """Watch the desired bucket: the initial values, then every change (re-derived once quiet)."""
    watcher = await kv.watchall()
    desired: dict[str, tuple[str, msgspec.Struct]] = {}
    dirty = False
    try:
        while not stop.is_set():
            try:
                entry = await watcher.updates(timeout=settle_s if dirty else 0.5)  # type: ignore[no-untyped-call]
            except (nats.errors.TimeoutError, TimeoutError):
                if dirty:
                    dirty = False
                    await on_change(list(desired.values()))
                continue
            if entry is None:  # the initial values are all in
                dirty = False
                await on_change(list(desired.values()))
                ready.set()
                continue
            if entry.key == APPLIED_MARKER:  # a writer finished a whole set: no need to wait for quiet
                dirty = False
                await on_change(list(desired.values()))
                continue
            if entry.value is None or entry.operation is not None:
                desired.pop(entry.key, None)
            else:
                try:
                    decoded = decode_desired(entry.key, entry.value)
                except (msgspec.DecodeError, KeyError) as exc:
                    log.warning("Ignoring the unreadable desired-state entry %s: %s", entry.key, exc)
                    continue
                if decoded is not None:
                    desired[entry.key] = decoded
            dirty = True
    finally:
        with contextlib.suppress(Exception):
            await watcher.stop()  # type: ignore[no-untyped-call]


async def _already_reported(js: JetStreamContext, names: Names, kwv: KeptnWorkloadVersion) -> bool:
    """Whether the events stream already holds this workload version's DeployFinished."""
    subject = names.event("deploy", "finished", kwv.metadata.namespace, kwv.metadata.name)
    try:
        msg = await js.get_last_msg(names.events_stream, subject)
    except nats.js.errors.NotFoundError:
        return False
    try:
        event = worker_event_decoder.decode(msg.data or b"")
    except msgspec.DecodeError:
        return False
    return isinstance(event, DeployFinished) and event.uid == kwv.metadata.uid


async def _recover(
    driver: Driver, outbox: JetStreamOutbox, releases: BackgroundReleases, js: JetStreamContext, names: Names
) -> None:
    """Re-send what a crash may have left unsent, and restart release steps that never reported."""
    index = driver.index

    def parent_moves(item: KeptnTask | KeptnEvaluation) -> bool:
        for ref in item.metadata.owner_references:
            parent = index.get((ref.kind, item.metadata.namespace, ref.name))
            if parent is not None and not is_terminal(parent.obj):
                return True
        return False

    resent = 0
    for task in index.all("KeptnTask"):
        if task.status.status == KeptnState.PENDING and parent_moves(task):
            await outbox.run_task(run_task_command(task))
            resent += 1
    for evaluation in index.all("KeptnEvaluation"):
        if evaluation.status.overall_status == KeptnState.PENDING and parent_moves(evaluation):
            await outbox.run_evaluation(run_evaluation_command(evaluation))
            resent += 1
    restarted = 0
    view = driver.view
    timeout_s = view.observability_timeout_s if view else 300.0
    for kwv in index.all("KeptnWorkloadVersion"):
        if kwv.status.deployment_status != KeptnState.PROGRESSING or is_terminal(kwv):
            continue
        if await _already_reported(js, names, kwv):
            continue
        releases.start(kwv, timeout_s)
        restarted += 1
    if resent or restarted:
        log.info("Recovered: re-sent %d command(s), restarted %d release step(s)", resent, restarted)


async def _record_forgetter(js: JetStreamContext, names: Names) -> Callable[[str, str, str], Awaitable[None]]:
    """How the retention limit deletes the workers' records of an item: a task's attempt book and log,
    an evaluation's progress (keys ``object_key(kind, namespace, name)``, as the workers write them)."""
    buckets = {
        "KeptnTask": [await js.key_value(names.task_runs_bucket), await js.key_value(names.task_logs_bucket)],
        "KeptnEvaluation": [await js.key_value(names.evaluation_runs_bucket)],
    }

    async def forget(kind: str, namespace: str, name: str) -> None:
        for kv in buckets.get(kind, []):
            await kv.delete(object_key(kind, namespace, name))

    return forget


async def serve(
    common: CommonSettings,
    config: WatcherConfig,
    stop: asyncio.Event,
    *,
    kube_configuration: Any | None = None,
) -> None:
    """Run the watcher until ``stop`` is set. In Kubernetes mode the API client is built from
    ``kube_configuration`` (a kubernetes-asyncio ``Configuration``; tests point it at the API test
    server) when given, else from the settings."""
    names = Names(common.prefix)
    kube: Any | None = None
    if config.kubernetes:
        from services.watcher.kube import wiring  # local mode never loads kubernetes-asyncio

        kube = await wiring.open_client(config, kube_configuration)
    nc = await connect(common, "klt-watcher")
    releases: BackgroundReleases | None = None
    resync = _Resync()
    try:
        js = nc.jetstream()
        await ensure_topology(js, common)
        state_kv = await js.key_value(names.state_bucket)
        desired_kv = await js.key_value(names.desired_bucket)
        if config.source_paths:
            manifests = load_paths(list(config.source_paths), config.default_namespace)
            changed = await put_desired(desired_kv, manifests)
            log.info(
                "Local source: %d desired object(s) written from %s", changed, ", ".join(config.source_paths)
            )
        store = StateStore(state_kv, Index())
        outbox = JetStreamOutbox(js, names)
        step = wiring.release_step(kube, config) if kube is not None else release_step(config.deploy_command)
        releases = BackgroundReleases(step, outbox.deploy_finished)
        driver = Driver(store, outbox, releases, now_rfc3339)
        deadlines = Deadlines(config.stuck_deadline_s, lambda key: driver.settle([key]))
        driver.decided = deadlines.note
        pruner = Pruner(store, config.keep_finished_versions, await _record_forgetter(js, names))
        driver.finished = pruner.after_finish
        moved_elsewhere: asyncio.Queue[Key] = asyncio.Queue()

        window = AppCreationWindow() if config.kubernetes else None
        sync_lock = asyncio.Lock()

        async def on_desired(objects: list[tuple[str, msgspec.Struct]]) -> None:
            async with sync_lock:
                view = desired_view(
                    objects, common.keptn_namespace, config.promotion_tasks_enabled, config.stuck_deadline_s
                )
                wait_s = window.hold(view, driver.index) if window is not None else None
                await sync_desired(driver, view)
            if wait_s is not None:  # an app waits for its creation window: sync again when it closes
                resync.after(wait_s, lambda: on_desired(objects))

        async def on_event(msg: Msg) -> None:
            try:
                event = worker_event_decoder.decode(msg.data)
            except msgspec.DecodeError as exc:
                raise PermanentError(f"the event on {msg.subject} cannot be decoded: {exc}") from None
            await driver.apply(event)

        async def follow_other_replicas() -> None:
            """Reconcile what another replica moved, with what it stored (a decision that saw an older
            copy and found nothing to do could otherwise be the last word)."""
            while True:
                keys = [await moved_elsewhere.get()]
                while not moved_elsewhere.empty():
                    keys.append(moved_elsewhere.get_nowait())
                await driver.settle(driver.affected(keys))

        loaded, ready = asyncio.Event(), asyncio.Event()
        source: Any | None = None
        async with asyncio.TaskGroup() as group:
            background = [group.create_task(store.follow(loaded, moved_elsewhere.put_nowait))]
            group.create_task(forward_cloudevents(js, names, stop), name="cloudevents")  # ends on stop
            group.create_task(export_traces(js, names, stop), name="traces")  # ends on stop
            if kube is not None:
                source, source_task = await wiring.start(group, kube, js, common, config, stop)
                background.append(source_task)
                await _until_either(source.synced, stop)
            await _until_either(loaded, stop)
            background.append(group.create_task(follow_other_replicas()))
            background.append(group.create_task(deadlines.run()))
            background.append(
                group.create_task(_follow_desired(desired_kv, on_desired, ready, stop, config.settle_s))
            )
            await _until_either(ready, stop)
            if not stop.is_set():
                await _recover(driver, outbox, releases, js, names)
                await pruner.sweep()
                subscription = await ensure_work_consumer(
                    js,
                    names.events_stream,
                    names.watcher_consumer,
                    [names.events_of("task"), names.events_of("evaluation"), names.events_of("deploy")],
                    ack_wait_s=config.ack_wait_s,
                    max_deliver=config.max_deliver,
                )
                log.info("Watcher ready: %d version(s) still in progress", len(driver.non_terminal()))
                try:
                    await consume(
                        subscription,
                        on_event,
                        stop,
                        concurrency=config.concurrency,
                        heartbeat_s=config.heartbeat_s,
                        what="worker event",
                    )
                finally:
                    # Messages that arrived after the last fetch would hold up draining; the durable
                    # keeps them for the next start.
                    with contextlib.suppress(Exception):
                        await subscription.unsubscribe()
            if source is not None:
                source.close()
            for task in background:
                task.cancel()  # they run until cancelled
    finally:
        await resync.close()
        if releases is not None:
            await releases.close()
        with contextlib.suppress(Exception):
            await nc.drain()
        if kube is not None:
            await kube.close()


class _Resync:
    """One pending "sync again in N seconds" (the app-creation window); a newer request replaces it."""

    def __init__(self) -> None:
        self._task: asyncio.Task[None] | None = None

    def after(self, seconds: float, action: Callable[[], Awaitable[None]]) -> None:
        if self._task is not None:
            self._task.cancel()
        self._task = asyncio.create_task(self._run(seconds + 0.01, action), name="app-window-resync")

    @staticmethod
    async def _run(seconds: float, action: Callable[[], Awaitable[None]]) -> None:
        await asyncio.sleep(seconds)
        try:
            await action()
        except (nats.errors.Error, TimeoutError) as exc:
            log.warning("Could not sync after an app-creation window (%s); the next change syncs again", exc)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


async def _until_either(first: asyncio.Event, second: asyncio.Event) -> None:
    waits = [asyncio.create_task(first.wait()), asyncio.create_task(second.wait())]
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in waits:
            task.cancel()
        await asyncio.gather(*waits, return_exceptions=True)
