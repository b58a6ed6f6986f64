"""Carrying out the retention limit (``retention`` decides): delete finished versions beyond it.

A version goes with everything klt keeps for it: its KeptnTasks and KeptnEvaluations (the items it
owns) in the state bucket, and for each item the task-runner's attempt book and task log, or the
evaluator's progress record (``forget_records``, wired by ``service``). Items go first and the version
last, so a crash half-way leaves the version in place and the next pass (the next version that
finishes, or the sweep at start-up) finds what is left. The Kubernetes projection deletes the CR of
every state entry deleted here.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from services.watcher.index import Key, key_of
from services.watcher.retention import Version, expired, siblings
from services.watcher.store import StateStore
from shared.keptn.lifecycle import KeptnAppVersion

log = logging.getLogger(__name__)

ITEM_KINDS = ("KeptnTask", "KeptnEvaluation")


class Pruner:
    def __init__(
        self,
        store: StateStore,
        keep: int,
        forget_records: Callable[[str, str, str], Awaitable[None]],
    ) -> None:
        self.store = store
        self.keep = keep
        self.forget_records = forget_records

    async def after_finish(self, version: Version) -> None:
        """A version of this app or workload finished: apply the limit to its siblings."""
        if self.keep <= 0:
            return
        versions, current = siblings(self.store.index, version)
        for old in expired(versions, self.keep, current):
            await self._delete(old)

    async def sweep(self) -> None:
        """Apply the limit to every app and workload (at start-up: a crash may have cut a pass short)."""
        if self.keep <= 0:
            return
        index = self.store.index
        seen: set[tuple[str, str, str]] = set()
        versions: list[Version] = [*index.all("KeptnAppVersion"), *index.all("KeptnWorkloadVersion")]
        for version in versions:
            owner = (
                version.spec.app_name if isinstance(version, KeptnAppVersion) else version.spec.workload_name
            )
            group = (version.kind, version.metadata.namespace, owner)
            if group not in seen:
                seen.add(group)
                await self.after_finish(version)

    async def _delete(self, version: Version) -> None:
        index = self.store.index
        ns, uid = version.metadata.namespace, version.metadata.uid
        items: list[Key] = [
            key_of(item)
            for kind in ITEM_KINDS
            for item in list(index.objects(kind, ns).values())
            if any(ref.uid == uid for ref in item.metadata.owner_references)
        ]
        for kind, _, name in items:
            await self.forget_records(kind, ns, name)
            await self.store.delete((kind, ns, name))
        await self.store.delete(key_of(version))
        log.info(
            "Retention: deleted %s %s/%s (%s) with its %d task(s) and evaluation(s); %d finished kept",
            version.kind,
            ns,
            version.metadata.name,
            version.status.status.value,
            len(items),
            self.keep,
        )
