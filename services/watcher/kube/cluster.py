"""The cluster's objects as klt's desired state: pure decisions, no I/O (``source`` does the watching).

``ClusterState`` keeps every watched object converted to its v1 model (``shared.manifests``) and
``desired()`` says what the desired-state bucket must hold:

- Workloads (Deployments, StatefulSets, DaemonSets, bare ReplicaSets) only from namespaces annotated
  ``keptn.sh/lifecycle-toolkit: enabled`` (§2.1, §2.2 step 1); Keptn objects and ConfigMaps (for
  ``configMapRef``) from those namespaces and from the Keptn namespace (§0). Secrets are never watched:
  their values never go on NATS.
- A Deployment is written together with its *current* ReplicaSet (the one, controlled by it, whose pod
  template is the Deployment's), because KLT's KeptnWorkload names the pod's ReplicaSet
  (``resourceReference``, §1.5, §3.7) and derivation reads it from there. Until the controller has made the
  ReplicaSet of a new template, the previous Deployment/ReplicaSet pair stays desired: no KeptnWorkload
  is derived for a pod template that has no pods yet (KLT's webhook creates it when the first pod is
  admitted). ReplicaSets controlled by a Deployment or an Argo Rollout are no workloads of their own.
- Objects stored at an older version carry fields the v1 schema no longer has: a KeptnTaskDefinition's
  ``spec.function`` (the old name of ``spec.deno``) and a KeptnApp's check lists (an implied
  KeptnAppContext, unless an explicit one exists). They are converted as the older version would be.
- ``metadata.resourceVersion`` is dropped, so a status update (a rollout's counters) rewrites nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import msgspec

from shared.keptn.workloads import WORKLOAD_KINDS, Workload
from shared.manifests import Converted, convert_object, encode_object, metadata_of
from shared.naming import NAMESPACE_ENABLED_KEY
from shared.subjects import object_key

log = logging.getLogger(__name__)

Key = tuple[str, str, str]
"""(kind, namespace, name) of a cluster object."""

_APP_CHECK_LISTS = (
    "preDeploymentTasks",
    "postDeploymentTasks",
    "preDeploymentEvaluations",
    "postDeploymentEvaluations",
)
_RS_PARENTS = frozenset({"Deployment", "Rollout"})
_TEMPLATE_HASH = "pod-template-hash"
_encoder = msgspec.json.Encoder()


def enabled(namespace: Mapping[str, Any]) -> bool:
    """Whether a Namespace object opts in (the annotation, not a label, §2.1)."""
    annotations = (namespace.get("metadata") or {}).get("annotations") or {}
    return annotations.get(NAMESPACE_ENABLED_KEY) == "enabled"


def legacy_version(obj: Mapping[str, Any]) -> str | None:
    """The older version a stored object must be read as, when it still carries pre-v1 fields."""
    raw = obj.get("spec")
    spec: Mapping[str, Any] = raw if isinstance(raw, dict) else {}
    kind = obj.get("kind")
    if kind == "KeptnTaskDefinition" and "function" in spec and spec.get("deno") is None:
        return "v1beta1"
    if kind == "KeptnApp" and any(key in spec for key in _APP_CHECK_LISTS):
        return "v1alpha3"
    return None


def convert(obj: Mapping[str, Any]) -> list[Converted]:
    """The v1 objects of one cluster object (an old KeptnApp also yields its implied context); logs and
    returns nothing for an object klt cannot read, naming it and the field."""
    data = dict(obj)
    older = legacy_version(data)
    if older is not None:
        group = str(data.get("apiVersion", "")).rpartition("/")[0]
        data["apiVersion"] = f"{group}/{older}"
    converted, errors = convert_object(data, "cluster")
    for error in errors:
        log.warning("Ignoring the cluster object: %s", error)
    if errors:
        return []
    for item in converted:
        metadata_of(item.obj).resource_version = ""
    return converted


@dataclass
class _Entry:
    converted: list[Converted]


def _template(workload: Workload) -> bytes:
    """A pod template as compared between a Deployment and its ReplicaSets (without the hash label)."""
    template = msgspec.to_builtins(workload.spec.template)
    labels = (template.get("metadata") or {}).get("labels") or {}
    labels.pop(_TEMPLATE_HASH, None)
    return _encoder.encode(template)


def _controller(workload: Workload) -> tuple[str, str]:
    for ref in workload.metadata.owner_references:
        if ref.controller:
            return ref.kind, ref.uid
    return "", ""


@dataclass
class ClusterState:
    """Every watched object, converted, and the Deployment/ReplicaSet pairs last made desired."""

    keptn_namespace: str
    objects: dict[Key, _Entry] = field(default_factory=dict)
    namespaces: set[str] = field(default_factory=set)
    """Opted-in namespaces."""
    published: dict[tuple[str, str], tuple[Workload, Workload]] = field(default_factory=dict)
    """Deployment (namespace, name) → the Deployment and current ReplicaSet last written."""

    def apply(self, event_type: str, obj: Mapping[str, Any]) -> None:
        """Take one watch event (``ADDED``/``MODIFIED``/``DELETED``) into the state."""
        kind = str(obj.get("kind", ""))
        meta = obj.get("metadata") or {}
        key: Key = (kind, str(meta.get("namespace") or ""), str(meta.get("name") or ""))
        if kind == "Namespace":
            if event_type != "DELETED" and enabled(obj):
                self.namespaces.add(key[2])
            else:
                self.namespaces.discard(key[2])
        if event_type == "DELETED":
            self.objects.pop(key, None)
            return
        self.objects[key] = _Entry(convert(obj))

    def desired(self) -> dict[str, tuple[str, bytes]]:
        """What the desired bucket must hold: key → (kind, encoded v1 object)."""
        definition_namespaces = self.namespaces | {self.keptn_namespace}
        wanted: dict[str, tuple[str, bytes]] = {}
        explicit_contexts = {(ns, name) for (kind, ns, name) in self.objects if kind == "KeptnAppContext"}
        replica_sets: dict[str, list[Workload]] = {}
        deployments: list[Workload] = []

        def put(kind: str, obj: msgspec.Struct) -> None:
            meta = metadata_of(obj)
            wanted[object_key(kind, meta.namespace, meta.name)] = (kind, encode_object(obj))

        for (kind, ns, _), entry in self.objects.items():
            for item in entry.converted:
                obj = item.obj
                if kind == "Namespace":
                    if metadata_of(obj).name in self.namespaces:
                        put(item.kind, obj)
                elif kind in WORKLOAD_KINDS:
                    if ns not in self.namespaces or not isinstance(obj, Workload):
                        continue
                    parent, uid = _controller(obj)
                    if kind == "Deployment":
                        deployments.append(obj)
                    elif kind == "ReplicaSet" and parent in _RS_PARENTS:
                        if parent == "Deployment":
                            replica_sets.setdefault(uid, []).append(obj)
                    else:
                        put(item.kind, obj)
                elif ns in definition_namespaces:
                    if item.implied and (ns, metadata_of(obj).name) in explicit_contexts:
                        continue
                    put(item.kind, obj)
        current: set[tuple[str, str]] = set()
        for deployment in deployments:
            meta = deployment.metadata
            template = _template(deployment)
            match = next(
                (rs for rs in replica_sets.get(meta.uid, []) if _template(rs) == template),
                None,
            )
            pair_key = (meta.namespace, meta.name)
            earlier = self.published.get(pair_key)
            if earlier is not None and earlier[0].metadata.uid != meta.uid:
                del self.published[pair_key]  # deleted and created again: the old pair is not its past
            if match is not None:
                self.published[pair_key] = (deployment, match)
            current.add(pair_key)
        for pair_key in [k for k in self.published if k not in current]:
            del self.published[pair_key]
        for deployment, replica_set in self.published.values():
            put("Deployment", deployment)
            put("ReplicaSet", replica_set)
        return wanted
