"""Carrying out the phase machine's decisions: reconcile, store (compare-and-set), then announce.

For one object the order is always: decide from the index (pure ``shared.phases``), create the new
tasks and evaluations, compare-and-set the object, and only then publish their commands, the lifecycle
events and start the release step. A conflict re-reads and decides again; because item names and uids
are derived from the parent, deciding again creates the same items. Objects are reconciled one at a
time per key (a lock per object), and a change cascades: a workload version that moved makes the
AppVersions listing it reconcile; an AppVersion that moved lets the workload versions waiting at its
gate try again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Protocol

from services.watcher.handlers import (
    DesiredView,
    gate_app_version,
    listed_workload_version_names,
    lists_workload,
)
from services.watcher.index import Index, Key, key_of
from services.watcher.store import StateStore
from shared.keptn.lifecycle import KeptnAppVersion, KeptnEvaluation, KeptnTask, KeptnWorkloadVersion
from shared.messages import (
    DeployFinished,
    EvaluationFinished,
    EvaluationProgressed,
    LifecycleEvent,
    RunEvaluation,
    RunTask,
    TaskFinished,
    TaskStarted,
    WorkerEvent,
)
from shared.phases import (
    AppWorld,
    Outcome,
    WorkloadWorld,
    apply_deploy_finished,
    apply_evaluation_event,
    apply_task_event,
    deprecate_app_version,
    is_terminal,
    reconcile_app_version,
    reconcile_workload_version,
)
from shared.runtime.natsio import RevisionConflictError
from shared.runtime.outcomes import TemporaryError

log = logging.getLogger(__name__)

MAX_DECISIONS = 20
"""Decisions per reconcile before giving up on a hot object (each conflict means someone else wrote;
the event that asked is redelivered later)."""

SETTLE_CONCURRENCY = 32
"""Objects settled at once after a start or a desired-state change."""

APP_VERSION, WORKLOAD_VERSION = "KeptnAppVersion", "KeptnWorkloadVersion"


async def bounded(work: Iterable[Awaitable[None]], limit: int) -> None:
    """Await ``work`` with at most ``limit`` running at once; every item runs to its end, then the
    first error (if any) is raised."""
    slots = asyncio.Semaphore(limit)

    async def one(item: Awaitable[None]) -> None:
        async with slots:
            await item

    results = await asyncio.gather(*(one(item) for item in work), return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result


class Outbox(Protocol):
    """Where decisions are announced (JetStream, in ``service``)."""

    async def run_task(self, command: RunTask) -> None: ...

    async def run_evaluation(self, command: RunEvaluation) -> None: ...

    async def lifecycle_event(self, event: LifecycleEvent) -> None: ...


class Releases(Protocol):
    """Starts release steps in the background; each reports a DeployFinished."""

    def start(self, kwv: KeptnWorkloadVersion, timeout_s: float) -> None: ...


def run_task_command(task: KeptnTask) -> RunTask:
    return RunTask(
        namespace=task.metadata.namespace,
        name=task.metadata.name,
        uid=task.metadata.uid,
        task_definition=task.spec.task_definition,
        check_type=task.spec.check_type,
        context=task.spec.context,
        parameters=dict(task.spec.parameters.get("map", {})),
        secure_parameters_secret=task.spec.secure_parameters.get("secret", ""),
        retries=task.spec.retries,
        timeout=task.spec.timeout,
    )


def run_evaluation_command(evaluation: KeptnEvaluation) -> RunEvaluation:
    spec = evaluation.spec
    return RunEvaluation(
        namespace=evaluation.metadata.namespace,
        name=evaluation.metadata.name,
        uid=evaluation.metadata.uid,
        evaluation_definition=spec.evaluation_definition,
        check_type=spec.check_type,
        retries=spec.retries,
        retry_interval=spec.retry_interval,
        app_name=spec.app_name,
        app_version=spec.app_version,
        workload=spec.workload,
        workload_version=spec.workload_version,
    )


class Driver:
    """Reconciles AppVersions and WorkloadVersions and applies worker events to their items."""

    def __init__(
        self,
        store: StateStore,
        outbox: Outbox,
        releases: Releases,
        clock: Callable[[], str],
    ) -> None:
        self.store = store
        self.index: Index = store.index
        self.outbox = outbox
        self.releases = releases
        self.clock = clock
        self.view: DesiredView | None = None
        self._locks: dict[Key, asyncio.Lock] = {}
        self.decided: Callable[[Any], None] = lambda obj: None
        """Told every AppVersion/WorkloadVersion as decided (stored or unchanged): the stuck deadlines."""
        self.finished: Callable[[Any], Awaitable[None]] | None = None
        """Awaited when an AppVersion/WorkloadVersion has just become final: the retention limit."""

    def _lock(self, key: Key) -> asyncio.Lock:
        lock = self._locks.get(key)
        if lock is None:
            lock = self._locks[key] = asyncio.Lock()
        return lock

    # --- cascade -----------------------------------------------------------------------------------
    async def settle(self, keys: Iterable[Key]) -> None:
        """Reconcile ``keys`` and whatever their changes make worth reconciling, until quiet. Several
        keys (a start-up or a new desired state) are settled side by side, at most
        ``SETTLE_CONCURRENCY`` at a time: each is a chain of KV round trips, so the work is waiting,
        not computing, and the per-object locks keep two chains from writing one object at once."""
        unique = list(dict.fromkeys(keys))
        if len(unique) <= 1:
            await self._settle_chain(unique)
            return
        await bounded((self._settle_chain([key]) for key in unique), SETTLE_CONCURRENCY)

    async def _settle_chain(self, keys: list[Key]) -> None:
        pending = list(keys)
        while pending:
            key = pending.pop(0)
            for follow in await self.reconcile(key):
                if follow not in pending:
                    pending.append(follow)

    async def reconcile(self, key: Key) -> list[Key]:
        """Reconcile one AppVersion or WorkloadVersion; returns the keys its change affects."""
        if self.view is None:
            return []
        kind = key[0]
        if kind == APP_VERSION:
            return await self._reconcile_app_version(key, self.view)
        if kind == WORKLOAD_VERSION:
            return await self._reconcile_workload_version(key, self.view)
        return []

    def affected(self, keys: Iterable[Key]) -> list[Key]:
        """The AppVersions and WorkloadVersions to reconcile when ``keys`` moved elsewhere: themselves,
        or for a task or evaluation its parent."""
        found: list[Key] = []
        for key in keys:
            stored = self.index.get(key)
            if stored is None:
                continue
            obj = stored.obj
            if key[0] in (APP_VERSION, WORKLOAD_VERSION):
                found.append(key)
            elif key[0] in ("KeptnTask", "KeptnEvaluation"):
                found += [
                    (ref.kind, key[1], ref.name)
                    for ref in obj.metadata.owner_references
                    if ref.kind in (APP_VERSION, WORKLOAD_VERSION)
                ]
        return list(dict.fromkeys(found))

    def non_terminal(self) -> list[Key]:
        """Every AppVersion and WorkloadVersion that may still move, AppVersions first."""
        keys = [key_of(av) for av in self.index.all(APP_VERSION) if not is_terminal(av)]
        keys += [key_of(wv) for wv in self.index.all(WORKLOAD_VERSION) if not is_terminal(wv)]
        return keys

    # --- AppVersions -------------------------------------------------------------------------------
    async def _reconcile_app_version(self, key: Key, view: DesiredView) -> list[Key]:
        _, ns, _ = key

        def decide(av: KeptnAppVersion) -> Outcome[KeptnAppVersion]:
            world = AppWorld(
                now=self.clock(),
                tasks=self.index.objects("KeptnTask", ns),
                evaluations=self.index.objects("KeptnEvaluation", ns),
                task_definitions=view.task_definitions(ns),
                evaluation_definitions=view.evaluation_definitions(ns),
                workload_versions=self.index.objects(WORKLOAD_VERSION, ns),
            )
            return reconcile_app_version(av, world, view.options)

        outcome = await self._decide_and_store(key, decide)
        if outcome is None or not outcome.changed:
            return []
        return self._waiting_workloads(outcome.obj)

    def _waiting_workloads(self, av: KeptnAppVersion) -> list[Key]:
        """Workload versions of ``av`` still at their start gate."""
        ns = av.metadata.namespace
        kwvs = self.index.objects(WORKLOAD_VERSION, ns)
        return [
            (WORKLOAD_VERSION, ns, name)
            for name in listed_workload_version_names(av)
            if name in kwvs and not kwvs[name].status.current_phase
        ]

    async def deprecate(self, ns: str, name: str) -> None:
        """Deprecate an AppVersion of an older generation (§3.5), then let its workloads re-check
        their gate (another AppVersion may be the newest now)."""
        key = (APP_VERSION, ns, name)
        outcome = await self._decide_and_store(key, lambda av: deprecate_app_version(av, self.clock()))
        if outcome is not None and outcome.changed:
            await self.settle(self._waiting_workloads(outcome.obj))

    # --- WorkloadVersions --------------------------------------------------------------------------
    async def _reconcile_workload_version(self, key: Key, view: DesiredView) -> list[Key]:
        _, ns, _ = key

        def decide(wv: KeptnWorkloadVersion) -> Outcome[KeptnWorkloadVersion]:
            gate = None
            if not wv.status.current_phase:
                gate = gate_app_version(wv, self.index.app_versions_of(ns, wv.spec.app))
            world = WorkloadWorld(
                now=self.clock(),
                tasks=self.index.objects("KeptnTask", ns),
                evaluations=self.index.objects("KeptnEvaluation", ns),
                task_definitions=view.task_definitions(ns),
                evaluation_definitions=view.evaluation_definitions(ns),
                app_version=gate,
            )
            return reconcile_workload_version(wv, world, view.options)

        outcome = await self._decide_and_store(key, decide)
        if outcome is None:
            return []
        if outcome.start_deploy:
            self.releases.start(outcome.obj, view.observability_timeout_s)
        if not outcome.changed:
            return []
        wv = outcome.obj
        return [
            key_of(av)
            for av in self.index.app_versions_of(ns, wv.spec.app)
            if not is_terminal(av) and lists_workload(av, wv)
        ]

    # --- the common path ---------------------------------------------------------------------------
    async def _decide_and_store(self, key: Key, decide: Callable[[Any], Outcome[Any]]) -> Outcome[Any] | None:
        """Decide from the stored object and store the outcome, re-deciding on conflicts; then
        announce it. None when the object is unknown or gave up after conflicts."""
        async with self._lock(key):
            for _ in range(MAX_DECISIONS):
                stored = self.index.get(key) or await self.store.refresh(key)
                if stored is None:
                    return None
                outcome = decide(stored.obj)
                try:
                    for item in (*outcome.new_tasks, *outcome.new_evaluations):
                        await self.store.create_item(item)
                    if outcome.changed:
                        await self.store.save(outcome.obj, stored.revision)
                except RevisionConflictError:
                    continue
                break
            else:
                log.warning("%s %s/%s kept changing under us; leaving it for the next event", *key)
                return None
        self.decided(outcome.obj)
        await self._announce(outcome)
        if outcome.changed and self.finished is not None and is_terminal(outcome.obj):
            await self.finished(outcome.obj)
        return outcome

    async def _announce(self, outcome: Outcome[Any]) -> None:
        """Publish commands and events together: JetStream acks them in a pipeline, so a phase change
        costs about one round trip however many events it has (they are sent in order)."""
        sends: list[Awaitable[None]] = [self.outbox.run_task(run_task_command(t)) for t in outcome.new_tasks]
        sends += [self.outbox.run_evaluation(run_evaluation_command(e)) for e in outcome.new_evaluations]
        sends += [self.outbox.lifecycle_event(event) for event in outcome.events]
        if sends:
            await asyncio.gather(*sends)

    # --- worker events -----------------------------------------------------------------------------
    async def apply(self, event: WorkerEvent) -> None:
        """Apply a worker's fact to its task, evaluation or workload version, then reconcile the parent.

        The parent is reconciled even when the fact was applied before (a redelivery), so a crash
        between storing the fact and reconciling loses nothing."""
        if isinstance(event, TaskStarted | TaskFinished):
            key: Key = ("KeptnTask", event.namespace, event.name)
        elif isinstance(event, EvaluationProgressed | EvaluationFinished):
            key = ("KeptnEvaluation", event.namespace, event.name)
        else:
            key = (WORKLOAD_VERSION, event.namespace, event.name)
        obj = await self._apply_to(key, event)
        if obj is None:
            return
        if isinstance(event, DeployFinished):
            await self.settle([key])
            return
        parents = [
            (ref.kind, obj.metadata.namespace, ref.name)
            for ref in obj.metadata.owner_references
            if ref.kind in (APP_VERSION, WORKLOAD_VERSION)
        ]
        await self.settle(parents)

    async def _apply_to(self, key: Key, event: WorkerEvent) -> Any | None:
        async with self._lock(key):
            fresh = False
            for _ in range(MAX_DECISIONS):
                stored = self.index.get(key) or await self.store.refresh(key)
                if stored is None:
                    log.warning("%s for unknown %s %s/%s ignored", type(event).__name__, *key)
                    return None
                updated = _applied(stored.obj, event)
                if updated is None and not fresh:
                    # "Nothing to do" must not come from a stale copy (another replica may have moved
                    # the object since we last wrote it): read it once more before dropping the fact.
                    fresh = True
                    if (refreshed := await self.store.refresh(key)) is not None and (
                        refreshed.revision != stored.revision
                    ):
                        continue
                if updated is None:
                    return stored.obj
                try:
                    await self.store.save(updated, stored.revision)
                except RevisionConflictError:
                    continue
                _log_applied(updated, event)
                return updated
        raise TemporaryError(f"{key[0]} {key[1]}/{key[2]} kept changing under us", delay_s=0.5)


def _applied(obj: Any, event: WorkerEvent) -> Any | None:
    if isinstance(event, TaskStarted | TaskFinished):
        return apply_task_event(obj, event)
    if isinstance(event, EvaluationProgressed | EvaluationFinished):
        return apply_evaluation_event(obj, event)
    return apply_deploy_finished(obj, event)


def _log_applied(obj: Any, event: WorkerEvent) -> None:
    name = obj.metadata.name
    if isinstance(event, TaskFinished):
        log.info("Task %s (%s) %s", name, obj.spec.task_definition, event.status.value.lower())
    elif isinstance(event, EvaluationFinished):
        log.info(
            "Evaluation %s (%s) %s", name, obj.spec.evaluation_definition, event.overall_status.value.lower()
        )
    elif isinstance(event, DeployFinished):
        log.info("Release step of %s %s", name, event.status.value.lower())
