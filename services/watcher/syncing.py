"""Making the stored lifecycle objects follow the desired state (KLT's KeptnApp and KeptnWorkload
controllers, §3.5, §3.6): write what ``plan_sync`` decided, then reconcile everything that may move.

Writes go in KLT's order of effects: apps, their new AppVersions, deprecations of older generations,
workloads, then workload versions, so a workload version finds its AppVersion at once. A conflict
(another replica synced first) re-reads and plans again.
"""

from __future__ import annotations

import logging
import uuid

from services.watcher.driving import Driver, bounded
from services.watcher.handlers import DesiredView, SyncPlan, plan_sync
from shared.keptn.lifecycle import KeptnAppVersion, KeptnWorkload, KeptnWorkloadVersion
from shared.keptn.resources import KeptnApp
from shared.runtime.natsio import RevisionConflictError

log = logging.getLogger(__name__)

MAX_PLANS = 10
WRITE_CONCURRENCY = 32
"""Independent objects written at once."""


def _new_uid() -> str:
    return str(uuid.uuid4())


async def sync_desired(driver: Driver, view: DesiredView) -> None:
    """Adopt ``view`` as the desired state, create or update what it asks for, and reconcile."""
    driver.view = view
    for problem in view.derived.problems:
        log.warning("Desired state: %s", problem)
    for _ in range(MAX_PLANS):
        plan = plan_sync(view.derived, driver.index, driver.clock(), _new_uid)
        try:
            await _write(driver, plan)
        except RevisionConflictError:
            continue
        break
    else:
        log.warning("The desired state kept changing under us; the next change will sync again")
    await driver.settle(driver.non_terminal())


async def _write(driver: Driver, plan: SyncPlan) -> None:
    """Write the plan: each app with its versions, then each workload with its version, independent
    objects side by side (each write is a KV round trip)."""
    store = driver.store

    async def save_app(app: KeptnApp, revision: int | None) -> None:
        await store.save(app, revision)
        log.info(
            "KeptnApp %s/%s is at version %s (generation %d)",
            app.metadata.namespace,
            app.metadata.name,
            app.spec.version,
            app.metadata.generation,
        )

    async def create_app_version(av: KeptnAppVersion) -> None:
        await store.save(av, None)
        log.info("Created KeptnAppVersion %s/%s", av.metadata.namespace, av.metadata.name)

    async def deprecate(ns: str, name: str) -> None:
        await driver.deprecate(ns, name)
        log.info("Deprecated KeptnAppVersion %s/%s: a newer generation of its version exists", ns, name)

    async def save_workload(workload: KeptnWorkload, revision: int | None) -> None:
        await store.save(workload, revision)

    async def create_workload_version(kwv: KeptnWorkloadVersion) -> None:
        await store.save(kwv, None)
        log.info("Created KeptnWorkloadVersion %s/%s", kwv.metadata.namespace, kwv.metadata.name)

    async def update_workload_version(kwv: KeptnWorkloadVersion, revision: int) -> None:
        await store.save(kwv, revision)
        log.info("Updated the spec of KeptnWorkloadVersion %s/%s", kwv.metadata.namespace, kwv.metadata.name)

    await bounded((save_app(app, rev) for app, rev in plan.apps), WRITE_CONCURRENCY)
    await bounded((create_app_version(av) for av in plan.app_versions), WRITE_CONCURRENCY)
    await bounded((deprecate(ns, name) for ns, name in plan.deprecate), WRITE_CONCURRENCY)
    await bounded((save_workload(w, rev) for w, rev in plan.workloads), WRITE_CONCURRENCY)
    await bounded((create_workload_version(kwv) for kwv in plan.workload_versions), WRITE_CONCURRENCY)
    await bounded(
        (update_workload_version(kwv, rev) for kwv, rev in plan.updated_workload_versions), WRITE_CONCURRENCY
    )
