"""Releasing pods from the ``keptn-prechecks-gate`` scheduling gate (klt-facts §3.7, with klt's fix for
KLT #3920).

A pod is released once a KeptnWorkloadVersion of its owner (``spec.resourceReference.uid`` equal to the
uid of the pod's first owner reference, its ReplicaSet, StatefulSet or DaemonSet) lets it go:

- its ``deploymentStatus`` is Progressing (WorkloadDeploy has started, so the pre-deployment phases are
  through) or completed (Succeeded, Warning, Failed), or the version has completed: a restarted pod of a
  workload that already went through its lifecycle is released at once;
- **klt's fix for KLT #3920**: a version whose *own* pre-deployment tasks or evaluations failed in blocking
  mode (a pre phase Failed, so ``deploymentStatus`` became Deprecated) keeps its pods gated. KLT counts
  Deprecated as completed and lets them run. In non-blocking mode a failed pre phase is a Warning and the
  deployment goes ahead, so the pods are released as in KLT. A version Deprecated for any other reason
  still releases its pods, as KLT does.

Releasing is event-driven in both directions: gated pods come from a list+watch of pods (the shared
``ListWatch``), workload versions from a watch of the JetStream state bucket (the system of record, where
the watcher stores them), so a pod is released the moment its version turns Progressing, not on KLT's
10-second requeue. The release is one merge patch of the pod: its scheduling gates without klt's gate
(other gates stay) and the annotation ``keptn.sh/scheduling-gate-removed: "true"`` (so the webhook never
gates it again), guarded by the pod's resourceVersion.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import aiohttp
import msgspec
from kubernetes_asyncio import client
from kubernetes_asyncio.client import ApiClient, ApiException
from nats.js.kv import KeyValue

from services.watcher.kube.listwatch import ListWatch, Resource
from shared.keptn.lifecycle import KeptnWorkloadVersion
from shared.keptn.states import KeptnState, Phase
from shared.naming import SCHEDULING_GATE, SCHEDULING_GATE_REMOVED_KEY
from shared.subjects import kind_prefix

log = logging.getLogger(__name__)

PODS = Resource(group="", version="v1", plural="pods", kind="Pod")
RETRY_S = 1.0
"""Seconds before a release that failed for a passing reason (API server unreachable) is tried again."""

PodKey = tuple[str, str]
Obj = dict[str, Any]


# --- the rule (pure) -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GateDecision:
    release: bool
    reason: str


def failed_own_pre_checks(kwv: KeptnWorkloadVersion) -> bool:
    """KLT #3920: the version's own pre-deployment tasks or evaluations failed in blocking mode."""
    status = kwv.status
    return status.deployment_status == KeptnState.DEPRECATED and KeptnState.FAILED in (
        status.pre_deployment_status,
        status.pre_deployment_evaluation_status,
    )


def releases(kwv: KeptnWorkloadVersion) -> bool:
    """Whether this version lets the pods of its workload object be scheduled."""
    if failed_own_pre_checks(kwv):
        return False
    deployment = kwv.status.deployment_status
    if deployment == KeptnState.PROGRESSING or deployment.is_completed:
        return True
    return kwv.status.current_phase == Phase.COMPLETED


def decide_gate(kwvs: Iterable[KeptnWorkloadVersion]) -> GateDecision:
    """Release when any version of the pod's owner allows it (§3.7); otherwise say why the pod waits."""
    found = sorted(kwvs, key=lambda k: k.metadata.name)
    for kwv in found:
        if releases(kwv):
            state = kwv.status.deployment_status
            return GateDecision(True, f"KeptnWorkloadVersion {kwv.metadata.name} deployment is {state.value}")
    if not found:
        return GateDecision(False, "no KeptnWorkloadVersion refers to its owner yet")
    failed = [k.metadata.name for k in found if failed_own_pre_checks(k)]
    if failed:
        return GateDecision(
            False, f"KeptnWorkloadVersion {failed[0]} failed its pre-deployment checks (blocking mode)"
        )
    return GateDecision(
        False, f"KeptnWorkloadVersion {found[0].metadata.name} has not reached WorkloadDeploy"
    )


def is_gated(pod: Obj) -> bool:
    """Whether the pod carries klt's scheduling gate."""
    gates = (pod.get("spec") or {}).get("schedulingGates") or []
    return any(isinstance(g, dict) and g.get("name") == SCHEDULING_GATE for g in gates)


def owner_uid(pod: Obj) -> str:
    """The uid of the pod's first owner reference, as KLT matches it against ``resourceReference.uid``."""
    refs = (pod.get("metadata") or {}).get("ownerReferences") or []
    return str(refs[0].get("uid") or "") if refs and isinstance(refs[0], dict) else ""


def release_patch(pod: Obj) -> Obj:
    """The merge patch that releases ``pod``: other gates kept (``null`` when none is left, as a merge
    patch removes a field), the bookkeeping annotation set, the read resourceVersion as precondition."""
    gates = (pod.get("spec") or {}).get("schedulingGates") or []
    others = [g for g in gates if not (isinstance(g, dict) and g.get("name") == SCHEDULING_GATE)]
    meta = pod.get("metadata") or {}
    metadata: Obj = {"annotations": {SCHEDULING_GATE_REMOVED_KEY: "true"}}
    if meta.get("resourceVersion"):
        metadata["resourceVersion"] = meta["resourceVersion"]
    return {"metadata": metadata, "spec": {"schedulingGates": others or None}}


# --- the I/O -------------------------------------------------------------------------------------


def _key(pod: Obj) -> PodKey:
    meta = pod.get("metadata") or {}
    return str(meta.get("namespace") or ""), str(meta.get("name") or "")


class GateKeeper:
    """Gated pods and workload versions side by side; a queue of pods to decide on."""

    def __init__(self, api: ApiClient, retry_s: float = RETRY_S) -> None:
        self.api = api
        # Untyped: the client's stubs reject ``_content_type`` and dict bodies (both valid at run time).
        self.core: Any = client.CoreV1Api(api)
        self.retry_s = retry_s
        self.pods: dict[PodKey, Obj] = {}
        self.pods_by_owner: dict[str, set[PodKey]] = {}
        self.kwvs: dict[str, KeptnWorkloadVersion] = {}
        self.kwvs_by_uid: dict[str, set[str]] = {}
        self._queue: asyncio.Queue[PodKey] = asyncio.Queue()
        self._queued: set[PodKey] = set()
        self._held: dict[PodKey, str] = {}
        self.released = 0

    # -- inputs --------------------------------------------------------------------------------
    async def on_pod(self, event: str, pod: Obj) -> None:
        key = _key(pod)
        self._forget_pod(key)
        if event == "DELETED" or not is_gated(pod):
            self._held.pop(key, None)
            return
        self.pods[key] = pod
        self.pods_by_owner.setdefault(owner_uid(pod), set()).add(key)
        self._enqueue(key)

    def on_kwv(self, key: str, kwv: KeptnWorkloadVersion | None) -> None:
        old = self.kwvs.pop(key, None)
        if old is not None:
            self.kwvs_by_uid.get(old.spec.resource_reference.uid, set()).discard(key)
        if kwv is None:
            return
        uid = kwv.spec.resource_reference.uid
        self.kwvs[key] = kwv
        self.kwvs_by_uid.setdefault(uid, set()).add(key)
        for pod_key in sorted(self.pods_by_owner.get(uid, ())):
            self._enqueue(pod_key)

    def _forget_pod(self, key: PodKey) -> None:
        old = self.pods.pop(key, None)
        if old is not None:
            self.pods_by_owner.get(owner_uid(old), set()).discard(key)

    def _enqueue(self, key: PodKey) -> None:
        if key not in self._queued:
            self._queued.add(key)
            self._queue.put_nowait(key)

    async def follow_state(self, state: KeyValue) -> None:
        """Keep ``kwvs`` in step with the state bucket (current entries, then every change)."""
        watcher = await state.watch(kind_prefix("KeptnWorkloadVersion"))
        try:
            async for entry in watcher:
                if entry is None:
                    continue  # the current entries are all in
                if entry.value is None or entry.operation is not None:
                    self.on_kwv(entry.key, None)
                    continue
                try:
                    kwv = msgspec.json.decode(entry.value, type=KeptnWorkloadVersion)
                except msgspec.DecodeError as exc:
                    log.warning("Ignoring the unreadable state entry %s: %s", entry.key, exc)
                    continue
                self.on_kwv(entry.key, kwv)
        finally:
            with contextlib.suppress(Exception):
                await watcher.stop()  # type: ignore[no-untyped-call]

    # -- deciding and releasing ----------------------------------------------------------------
    async def work(self) -> None:
        while True:
            key = await self._queue.get()
            self._queued.discard(key)
            pod = self.pods.get(key)
            if pod is None:
                continue
            uid = owner_uid(pod)
            decision = decide_gate(self.kwvs[k] for k in self.kwvs_by_uid.get(uid, ()) if k in self.kwvs)
            name = f"{key[0]}/{key[1]}"
            if not decision.release:
                if self._held.get(key) != decision.reason:
                    self._held[key] = decision.reason
                    log.info("Pod %s stays gated: %s", name, decision.reason)
                continue
            await self._release(key, pod, decision.reason)

    async def _release(self, key: PodKey, pod: Obj, reason: str) -> None:
        name = f"{key[0]}/{key[1]}"
        try:
            await self.core.patch_namespaced_pod(
                key[1], key[0], release_patch(pod), _content_type="application/merge-patch+json"
            )
        except ApiException as exc:
            if exc.status == 404:
                self._forget_pod(key)
                return
            if exc.status == 409:  # changed since read: decide again on the current pod
                await self._reread(key)
                return
            if exc.status in (400, 403, 422):
                log.warning("Pod %s cannot be released: HTTP %s %s", name, exc.status, exc.reason)
                return
            self._retry(key, f"HTTP {exc.status} {exc.reason}")
            return
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            self._retry(key, f"{type(exc).__name__}: {exc}")
            return
        self._held.pop(key, None)
        self._forget_pod(key)
        self.released += 1
        log.info("Pod %s released from %s: %s", name, SCHEDULING_GATE, reason)

    async def _reread(self, key: PodKey) -> None:
        try:
            current = await self.core.read_namespaced_pod(key[1], key[0])
        except ApiException as exc:
            if exc.status == 404:
                self._forget_pod(key)
                return
            self._retry(key, f"HTTP {exc.status} {exc.reason}")
            return
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            self._retry(key, f"{type(exc).__name__}: {exc}")
            return
        await self.on_pod("MODIFIED", self.api.sanitize_for_serialization(current))

    def _retry(self, key: PodKey, why: str) -> None:
        """Decide on the pod again after ``retry_s``, without holding up the other pods."""
        log.warning("Pod %s/%s not released yet (%s); retrying in %.1f s", *key, why, self.retry_s)
        asyncio.get_running_loop().call_later(self.retry_s, self._enqueue, key)


async def release_gates(
    api: ApiClient, state: KeyValue, stop: asyncio.Event, *, retry_s: float = RETRY_S
) -> None:
    """Release gated pods as their workload versions allow (§3.7) until ``stop`` is set.

    ``state`` is the JetStream state bucket (``Names(prefix).state_bucket``) holding the workload
    versions, keys ``keptnworkloadversion.<ns>.<name>``."""
    keeper = GateKeeper(api, retry_s)
    pods = ListWatch(api, PODS, keeper.on_pod)
    async with asyncio.TaskGroup() as group:
        tasks = [
            group.create_task(pods.run(), name="gates-pods"),
            group.create_task(keeper.follow_state(state), name="gates-state"),
            group.create_task(keeper.work(), name="gates-release"),
        ]
        await stop.wait()
        for task in tasks:
            task.cancel()
