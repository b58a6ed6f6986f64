"""The workload controllers: Deployment → ReplicaSet → Pods, StatefulSet → Pods, DaemonSet → Pods.

Simplifications (the watcher only observes their results): a Deployment's rollout keeps the old
ReplicaSets at their size until the new one is fully available, then scales them to 0 (what RollingUpdate
does for one replica with the default surge); ``Recreate`` scales the old ones to 0 at once. StatefulSets
create pods in ordinal order (``OrderedReady``) or all at once (``Parallel``) and replace outdated pods from
the highest ordinal, one at a time, when all are ready. DaemonSets run one pod on each Node object.
``minReadySeconds`` is ignored: a ready pod counts as available.
"""

from __future__ import annotations

import copy
from typing import Any

from tests.k8s.errors import ApiError
from tests.k8s.gateway import Gateway
from tests.k8s.objects import (
    is_ready,
    is_terminal,
    is_terminating,
    merge_conditions,
    owned,
    owner_reference,
    record_event,
    set_status,
    template_hash,
)
from tests.k8s.store import Obj, Store

REVISION = "deployment.kubernetes.io/revision"
_SA = "system:serviceaccount:kube-system:{}-controller"


class Workloads:
    def __init__(self, store: Store, gateway: Gateway) -> None:
        self.store = store
        self.gateway = gateway

    async def step(self) -> None:
        for deployment in self.store.list("deployments.apps"):
            if not is_terminating(deployment):
                await self._deployment(deployment)
        for rs in self.store.list("replicasets.apps"):
            if not is_terminating(rs):
                await self._replicaset(rs)
        for sts in self.store.list("statefulsets.apps"):
            if not is_terminating(sts):
                await self._statefulset(sts)
        for ds in self.store.list("daemonsets.apps"):
            if not is_terminating(ds):
                await self._daemonset(ds)

    # -- pods ------------------------------------------------------------------------------------------

    async def _create_pod(
        self,
        owner: Obj,
        template: dict[str, Any],
        controller: str,
        *,
        name: str | None = None,
        extra_labels: dict[str, str] | None = None,
        spec_extra: dict[str, Any] | None = None,
    ) -> None:
        meta = copy.deepcopy(template.get("metadata") or {})
        meta["labels"] = {**(meta.get("labels") or {}), **(extra_labels or {})}
        meta["ownerReferences"] = [owner_reference(owner)]
        meta["namespace"] = owner["metadata"]["namespace"]
        if name:
            meta["name"] = name
        else:
            meta["generateName"] = f"{owner['metadata']['name']}-"
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": meta,
            "spec": {**copy.deepcopy(template["spec"]), **(spec_extra or {})},
        }
        try:
            await self.gateway.create("pods", pod, user=_SA.format(controller))
        except ApiError as exc:
            record_event(
                self.store,
                owner,
                "FailedCreate",
                f"Error creating: {exc.message}",
                kind="Warning",
                component=f"{controller}-controller",
            )

    def _live_pods(self, owner: Obj) -> list[Obj]:
        return [p for p in owned(self.store, "pods", owner) if not is_terminating(p) and not is_terminal(p)]

    # -- Deployment ------------------------------------------------------------------------------------

    async def _deployment(self, deployment: Obj) -> None:
        spec = deployment["spec"]
        desired = int(spec.get("replicas", 1))
        template_key = template_hash(spec["template"])
        sets = owned(self.store, "replicasets.apps", deployment)
        revisions = [int(rs["metadata"].get("annotations", {}).get(REVISION, "0")) for rs in sets]
        new = next(
            (rs for rs in sets if rs["metadata"].get("labels", {}).get("pod-template-hash") == template_key),
            None,
        )
        top = max(revisions, default=0)
        if new is None:
            template = copy.deepcopy(spec["template"])
            template.setdefault("metadata", {}).setdefault("labels", {})["pod-template-hash"] = template_key
            selector = copy.deepcopy(spec["selector"])
            selector.setdefault("matchLabels", {})["pod-template-hash"] = template_key
            rs_meta = {
                "name": f"{deployment['metadata']['name']}-{template_key}",
                "namespace": deployment["metadata"]["namespace"],
                "labels": dict(template["metadata"]["labels"]),
                "annotations": {
                    REVISION: str(top + 1),
                    "deployment.kubernetes.io/desired-replicas": str(desired),
                    "deployment.kubernetes.io/max-replicas": str(desired + 1),
                },
                "ownerReferences": [owner_reference(deployment)],
            }
            new = await self.gateway.create(
                "replicasets.apps",
                {
                    "apiVersion": "apps/v1",
                    "kind": "ReplicaSet",
                    "metadata": rs_meta,
                    "spec": {"replicas": desired, "selector": selector, "template": template},
                },
            )
            sets.append(new)
            top += 1
        elif int(new["metadata"].get("annotations", {}).get(REVISION, "0")) < top:
            new["metadata"].setdefault("annotations", {})[REVISION] = str(top + 1)
            new = self.store.replace("replicasets.apps", new)
            top += 1
        if new["spec"].get("replicas") != desired:
            new["spec"]["replicas"] = desired
            new = self.store.replace("replicasets.apps", new)
        new_available = int((new.get("status") or {}).get("availableReplicas", 0))
        recreate = (spec.get("strategy") or {}).get("type") == "Recreate"
        for rs in sets:
            if (
                rs["metadata"]["uid"] != new["metadata"]["uid"]
                and rs["spec"].get("replicas", 0) != 0
                and (recreate or new_available >= desired)
            ):
                rs["spec"]["replicas"] = 0
                self.store.replace("replicasets.apps", rs)
        if deployment["metadata"].get("annotations", {}).get(REVISION) != str(top):
            deployment["metadata"].setdefault("annotations", {})[REVISION] = str(top)
            deployment = self.store.replace("deployments.apps", deployment)
        self._deployment_status(deployment, new, owned(self.store, "replicasets.apps", deployment), desired)

    def _deployment_status(self, deployment: Obj, new: Obj, sets: list[Obj], desired: int) -> None:
        def total(key: str) -> int:
            return sum(int((rs.get("status") or {}).get(key, 0)) for rs in sets)

        new_now = next((rs for rs in sets if rs["metadata"]["uid"] == new["metadata"]["uid"]), new)
        updated = int((new_now.get("status") or {}).get("replicas", 0))
        available = total("availableReplicas")
        complete = (
            updated == desired
            and int((new_now.get("status") or {}).get("availableReplicas", 0)) == desired
            and total("replicas") == desired
        )
        now = self.store.clock.timestamp()
        old = (deployment.get("status") or {}).get("conditions")
        rs_name = new["metadata"]["name"]
        conditions = [
            {
                "type": "Available",
                "status": "True" if available >= desired else "False",
                "reason": "MinimumReplicasAvailable"
                if available >= desired
                else "MinimumReplicasUnavailable",
                "message": "Deployment has minimum availability."
                if available >= desired
                else "Deployment does not have minimum availability.",
                "lastUpdateTime": now,
            },
            {
                "type": "Progressing",
                "status": "True",
                "reason": "NewReplicaSetAvailable" if complete else "ReplicaSetUpdated",
                "message": f'ReplicaSet "{rs_name}" has successfully progressed.'
                if complete
                else f'ReplicaSet "{rs_name}" is progressing.',
                "lastUpdateTime": now,
            },
        ]
        status: dict[str, Any] = {
            "observedGeneration": deployment["metadata"].get("generation", 1),
            "replicas": total("replicas"),
            "updatedReplicas": updated,
            "readyReplicas": total("readyReplicas"),
            "availableReplicas": available,
            "conditions": merge_conditions(old, conditions, now),
        }
        if desired - available > 0:
            status["unavailableReplicas"] = desired - available
        set_status(self.store, "deployments.apps", deployment, status)

    # -- ReplicaSet ------------------------------------------------------------------------------------

    async def _replicaset(self, rs: Obj) -> None:
        desired = int(rs["spec"].get("replicas", 1))
        pods = self._live_pods(rs)
        for _ in range(desired - len(pods)):
            await self._create_pod(rs, rs["spec"]["template"], "replicaset")
        if len(pods) > desired:
            doomed = sorted(pods, key=lambda p: (is_ready(p), p["metadata"]["creationTimestamp"]))
            for pod in doomed[: len(pods) - desired]:
                self.store.delete("pods", pod["metadata"]["namespace"], pod["metadata"]["name"])
        pods = self._live_pods(rs)
        ready = sum(1 for p in pods if is_ready(p))
        status = {
            "replicas": len(pods),
            "fullyLabeledReplicas": len(pods),
            "readyReplicas": ready,
            "availableReplicas": ready,
            "observedGeneration": rs["metadata"].get("generation", 1),
        }
        set_status(
            self.store,
            "replicasets.apps",
            self.store.get("replicasets.apps", rs["metadata"]["namespace"], rs["metadata"]["name"]),
            status,
        )

    # -- StatefulSet -----------------------------------------------------------------------------------

    async def _statefulset(self, sts: Obj) -> None:
        name, ns = sts["metadata"]["name"], sts["metadata"]["namespace"]
        desired = int(sts["spec"].get("replicas", 1))
        revision = f"{name}-{template_hash(sts['spec']['template'])}"
        pods = {p["metadata"]["name"]: p for p in self._live_pods(sts)}
        ordered = sts["spec"].get("podManagementPolicy", "OrderedReady") == "OrderedReady"
        for ordinal in range(desired):
            pod_name = f"{name}-{ordinal}"
            if pod_name in pods:
                if ordered and not is_ready(pods[pod_name]):
                    break
                continue
            labels = {
                "controller-revision-hash": revision,
                "statefulset.kubernetes.io/pod-name": pod_name,
                "apps.kubernetes.io/pod-index": str(ordinal),
            }
            extra = {
                "hostname": pod_name,
                **({"subdomain": sts["spec"]["serviceName"]} if sts["spec"].get("serviceName") else {}),
            }
            await self._create_pod(
                sts,
                sts["spec"]["template"],
                "statefulset",
                name=pod_name,
                extra_labels=labels,
                spec_extra=extra,
            )
            if ordered:
                break
        for pod_name in sorted(pods, key=lambda n: -int(n.rsplit("-", 1)[1])):
            if int(pod_name.rsplit("-", 1)[1]) >= desired:
                self.store.delete("pods", ns, pod_name)
                pods.pop(pod_name)
                break
        outdated = [
            p for p in pods.values() if p["metadata"]["labels"].get("controller-revision-hash") != revision
        ]
        if outdated and len(pods) == desired and all(is_ready(p) for p in pods.values()):
            last = max(outdated, key=lambda p: int(p["metadata"]["name"].rsplit("-", 1)[1]))
            self.store.delete("pods", ns, last["metadata"]["name"])
        pods = {p["metadata"]["name"]: p for p in self._live_pods(sts)}
        ready = sum(1 for p in pods.values() if is_ready(p))
        updated = sum(
            1 for p in pods.values() if p["metadata"]["labels"].get("controller-revision-hash") == revision
        )
        current = (sts.get("status") or {}).get("currentRevision", revision)
        if updated == desired == len(pods):
            current = revision
        status = {
            "observedGeneration": sts["metadata"].get("generation", 1),
            "replicas": len(pods),
            "readyReplicas": ready,
            "availableReplicas": ready,
            "currentReplicas": sum(
                1 for p in pods.values() if p["metadata"]["labels"].get("controller-revision-hash") == current
            ),
            "updatedReplicas": updated,
            "currentRevision": current,
            "updateRevision": revision,
            "collisionCount": 0,
        }
        set_status(self.store, "statefulsets.apps", self.store.get("statefulsets.apps", ns, name), status)

    # -- DaemonSet -------------------------------------------------------------------------------------

    async def _daemonset(self, ds: Obj) -> None:
        ns, name = ds["metadata"]["namespace"], ds["metadata"]["name"]
        nodes = [n["metadata"]["name"] for n in self.store.list("nodes")]
        revision = template_hash(ds["spec"]["template"])
        pods = self._live_pods(ds)
        on_node = {
            p["spec"]
            .get("affinity", {})
            .get("nodeAffinity", {})
            .get("requiredDuringSchedulingIgnoredDuringExecution", {})
            .get("nodeSelectorTerms", [{}])[0]
            .get("matchFields", [{}])[0]
            .get("values", [""])[0]: p
            for p in pods
        }
        for node in nodes:
            if node not in on_node:
                affinity = {
                    "nodeAffinity": {
                        "requiredDuringSchedulingIgnoredDuringExecution": {
                            "nodeSelectorTerms": [
                                {
                                    "matchFields": [
                                        {"key": "metadata.name", "operator": "In", "values": [node]}
                                    ]
                                }
                            ]
                        }
                    }
                }
                await self._create_pod(
                    ds,
                    ds["spec"]["template"],
                    "daemon-set",
                    extra_labels={
                        "controller-revision-hash": revision,
                        "pod-template-generation": str(ds["metadata"].get("generation", 1)),
                    },
                    spec_extra={"affinity": affinity},
                )
        outdated = [p for p in pods if p["metadata"]["labels"].get("controller-revision-hash") != revision]
        if outdated and all(is_ready(p) for p in pods):
            self.store.delete("pods", ns, outdated[0]["metadata"]["name"])
        pods = self._live_pods(ds)
        ready = sum(1 for p in pods if is_ready(p))
        updated = sum(1 for p in pods if p["metadata"]["labels"].get("controller-revision-hash") == revision)
        status = {
            "observedGeneration": ds["metadata"].get("generation", 1),
            "desiredNumberScheduled": len(nodes),
            "currentNumberScheduled": len(pods),
            "numberMisscheduled": 0,
            "numberReady": ready,
            "numberAvailable": ready,
            "updatedNumberScheduled": updated,
        }
        if len(nodes) - ready > 0:
            status["numberUnavailable"] = len(nodes) - ready
        set_status(self.store, "daemonsets.apps", self.store.get("daemonsets.apps", ns, name), status)
