"""The cluster as desired state: list+watch every kind klt reads and keep the desired-state bucket equal
to what ``ClusterState.desired()`` says (DESIGN §4; klt-facts §2.1, §2.2).

One ``ListWatch`` per kind, all namespaces. Changes are coalesced for ``settle_s`` (a rollout or an
``kubectl apply -f dir`` arrives as a burst of events), then the whole desired set is recomputed and
only the difference is written: changed keys put (definitions first, workloads last, as
``shared.runtime.desired`` orders them, so a lifecycle never starts before what it refers to is there),
vanished keys deleted, then the ``APPLIED_MARKER`` so the watcher derives at once. Nothing is written
before every kind has been listed once, so a start never deletes what a kind not yet listed still holds;
after a restart the first write reconciles whatever changed while the watcher was away.
"""

from __future__ import annotations

import asyncio
import logging

import nats.errors
from kubernetes_asyncio.client import ApiClient
from nats.js.kv import KeyValue

from services.watcher.kube.cluster import ClusterState
from services.watcher.kube.listwatch import ListWatch, Obj, Resource
from shared.runtime.desired import APPLIED_MARKER
from shared.runtime.natsio import list_entries

log = logging.getLogger(__name__)

LIFECYCLE, METRICS, OPTIONS = "lifecycle.keptn.sh", "metrics.keptn.sh", "options.keptn.sh"

RESOURCES: tuple[Resource, ...] = (
    Resource("", "v1", "namespaces", "Namespace"),
    Resource("", "v1", "configmaps", "ConfigMap"),
    Resource("apps", "v1", "deployments", "Deployment"),
    Resource("apps", "v1", "replicasets", "ReplicaSet"),
    Resource("apps", "v1", "statefulsets", "StatefulSet"),
    Resource("apps", "v1", "daemonsets", "DaemonSet"),
    Resource(LIFECYCLE, "v1", "keptnapps", "KeptnApp"),
    Resource(LIFECYCLE, "v1", "keptnappcontexts", "KeptnAppContext"),
    Resource(LIFECYCLE, "v1", "keptntaskdefinitions", "KeptnTaskDefinition"),
    Resource(LIFECYCLE, "v1", "keptnevaluationdefinitions", "KeptnEvaluationDefinition"),
    Resource(METRICS, "v1", "keptnmetrics", "KeptnMetric"),
    Resource(METRICS, "v1", "keptnmetricsproviders", "KeptnMetricsProvider"),
    Resource(OPTIONS, "v1alpha1", "keptnconfigs", "KeptnConfig"),
)
"""What the source watches: Keptn kinds at their storage version (v1; KeptnConfig only has v1alpha1).
Every served version of a kind is one storage, so reading the storage version sees them all."""

_WORKLOAD_KINDS = frozenset({"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet"})
_APP_KINDS = frozenset({"KeptnApp", "KeptnAppContext"})
RETRY_S = 1.0
"""Pause before writing again after NATS refused a write."""


def _order(kind: str) -> int:
    return 2 if kind in _WORKLOAD_KINDS else 1 if kind in _APP_KINDS else 0


class ClusterSource:
    """Keeps ``kv`` (the desired-state bucket) equal to the cluster's desired state until cancelled."""

    def __init__(
        self,
        api: ApiClient,
        kv: KeyValue,
        keptn_namespace: str,
        *,
        settle_s: float = 0.05,
        watch_timeout_s: int = 300,
    ) -> None:
        self.kv = kv
        self.state = ClusterState(keptn_namespace)
        self.settle_s = settle_s
        self.watches = [
            ListWatch(api, resource, self._on_event, timeout_s=watch_timeout_s) for resource in RESOURCES
        ]
        self.synced = asyncio.Event()
        """Set after the first complete write (every kind listed and the bucket reconciled)."""
        self._dirty = asyncio.Event()
        self._written: dict[str, bytes] | None = None
        self._closing = False
        self._closed = asyncio.Event()

    def close(self) -> None:
        """Make ``run`` return soon (call before cancelling it: on Python 3.11 a cancellation racing with
        a NATS request completing inside nats-py's ``wait_for`` can be lost, and the writer would wait on)."""
        self._closing = True
        self._closed.set()
        for watch in self.watches:
            watch.close()
        self._dirty.set()

    async def _on_event(self, event_type: str, obj: Obj) -> None:
        self.state.apply(event_type, obj)
        self._dirty.set()

    async def run(self) -> None:
        async with asyncio.TaskGroup() as group:
            for watch in self.watches:
                group.create_task(watch.run(), name=f"watch-{watch.resource.plural}")
            group.create_task(self._write_loop(), name="desired-writer")

    async def _write_loop(self) -> None:
        for watch in self.watches:
            if not await _either(watch.synced, self._closed):
                return
        log.info("Kubernetes source: every kind listed; writing the desired state")
        while not self._closing:
            self._dirty.clear()
            try:
                await self._write()
            except (nats.errors.Error, TimeoutError) as exc:
                log.warning("Kubernetes source: could not write the desired state (%s); retrying", exc)
                await asyncio.sleep(RETRY_S)
                self._dirty.set()
            else:
                self.synced.set()
            await self._dirty.wait()
            await asyncio.sleep(self.settle_s)

    async def _write(self) -> None:
        if self._written is None:
            entries = await list_entries(self.kv, ">")
            self._written = {
                key: entry.value or b"" for key, entry in entries.items() if key != APPLIED_MARKER
            }
        written = self._written
        wanted = self.state.desired()
        changes = sorted(
            ((kind, key, value) for key, (kind, value) in wanted.items() if written.get(key) != value),
            key=lambda change: _order(change[0]),
        )
        gone = [key for key in written if key not in wanted]
        for _kind, key, value in changes:
            await self.kv.put(key, value)
            written[key] = value
        for key in gone:
            await self.kv.delete(key)
            del written[key]
        if changes or gone:
            await self.kv.put(APPLIED_MARKER, str(len(changes) + len(gone)).encode())
            log.debug("Kubernetes source: %d desired object(s) written, %d removed", len(changes), len(gone))


async def _either(wanted: asyncio.Event, closed: asyncio.Event) -> bool:
    """Wait until ``wanted`` or ``closed`` is set; True when ``wanted`` is."""
    waits = [asyncio.create_task(wanted.wait()), asyncio.create_task(closed.wait())]
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in waits:
            task.cancel()
        await asyncio.gather(*waits, return_exceptions=True)
    return wanted.is_set()
