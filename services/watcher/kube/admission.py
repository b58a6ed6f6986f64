"""What the pod mutating webhook answers, as pure functions (klt-facts §2.2).

The webhook module does the I/O (HTTPS, looking up the namespace and the pod's owners); everything it
decides is here, so every rule is unit-tested without a server:

1. A namespace without the annotation ``keptn.sh/lifecycle-toolkit: enabled`` → allowed unchanged,
   "namespace is not enabled for lifecycle operator".
2. The pod's owner is the **last** owner reference of kind ReplicaSet, Deployment, StatefulSet, DaemonSet
   or Rollout; none (a bare pod, a Job's pod) → allowed unchanged, "owner of pod is not supported by
   lifecycle operator".
3. A pod without a workload key of its own gets its parent's Keptn keys (workload, version, app, the four
   check lists, metadata) copied onto its annotations, under the primary key names; the parent is the
   ReplicaSet's Deployment or Argo Rollout, the StatefulSet or the DaemonSet.
4. A pod that now has a workload key and no ``keptn.sh/scheduling-gate-removed`` annotation gets the
   ``keptn-prechecks-gate`` scheduling gate, and ``keptn.sh/app=<workload>`` when it names no app (a
   single-service app, as KLT's auto app creation expects).

Differences from KLT, both because the API server would refuse otherwise: other scheduling gates the pod
already has are kept (KLT replaces the list), and an UPDATE never adds the gate (Kubernetes lets a pod's
gates only be removed after creation).

KLT's webhook also creates the KeptnWorkload and a KeptnAppCreationRequest at admission. klt does not:
its watcher derives workloads and apps from the workload objects themselves, so the webhook has no side
effects at all (``sideEffects: None``; a dry-run request is answered like any other).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from shared.naming import (
    APP_KEY,
    COPIED_KEYS,
    K8S_APP_KEY,
    K8S_WORKLOAD_KEY,
    NAMESPACE_ENABLED_KEY,
    SCHEDULING_GATE,
    SCHEDULING_GATE_REMOVED_KEY,
    WORKLOAD_KEY,
    get_label_or_annotation,
)

ADMISSION_API_VERSION = "admission.k8s.io/v1"
NOT_ENABLED_MESSAGE = "namespace is not enabled for lifecycle operator"
UNSUPPORTED_OWNER_MESSAGE = "owner of pod is not supported by lifecycle operator"
SUPPORTED_OWNER_KINDS = frozenset({"ReplicaSet", "Deployment", "StatefulSet", "DaemonSet", "Rollout"})
"""Owner kinds KLT's ``GetOwnerReference`` accepts (§2.2 step 2)."""


class AdmissionError(ValueError):
    """The request is not an AdmissionReview the webhook can answer; the message says what is wrong."""


@dataclass(frozen=True, slots=True)
class AdmissionRequest:
    """The parts of an AdmissionReview request the webhook reads."""

    uid: str
    operation: str
    namespace: str
    pod: Mapping[str, Any]
    dry_run: bool = False

    @property
    def pod_name(self) -> str:
        """The pod's name, or its ``generateName`` prefix (controllers' pods have no name yet)."""
        meta = self.pod.get("metadata") or {}
        return str(meta.get("name") or meta.get("generateName") or "")


@dataclass(frozen=True, slots=True)
class OwnerRef:
    kind: str
    name: str
    uid: str = ""
    api_version: str = ""


@dataclass(frozen=True, slots=True)
class Parent:
    """The workload object whose keys a pod inherits."""

    kind: str
    name: str
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Decision:
    """The answer: always allowed; ``patch`` is a JSON patch (empty: the pod is left as it is)."""

    message: str = ""
    patch: tuple[dict[str, Any], ...] = ()


def parse_review(body: object) -> AdmissionRequest:
    """Read an ``admission.k8s.io/v1`` AdmissionReview; raise ``AdmissionError`` naming the bad field."""
    if not isinstance(body, dict):
        raise AdmissionError("the body is not a JSON object")
    if body.get("apiVersion") != ADMISSION_API_VERSION or body.get("kind") != "AdmissionReview":
        raise AdmissionError(
            f"expected an AdmissionReview of {ADMISSION_API_VERSION}, got kind {body.get('kind')!r} "
            f"of {body.get('apiVersion')!r}"
        )
    request = body.get("request")
    if not isinstance(request, dict):
        raise AdmissionError("the AdmissionReview has no request")
    uid = request.get("uid")
    if not isinstance(uid, str) or not uid:
        raise AdmissionError("request.uid is missing")
    operation = request.get("operation")
    if not isinstance(operation, str) or not operation:
        raise AdmissionError("request.operation is missing")
    pod = request.get("object")
    if operation in ("CREATE", "UPDATE"):
        if not isinstance(pod, dict) or not isinstance(pod.get("metadata") or {}, dict):
            raise AdmissionError(f"request.object of the {operation} request is not an object")
        if pod.get("kind", "Pod") != "Pod":
            raise AdmissionError(f"request.object is a {pod.get('kind')}, not a Pod")
    namespace = request.get("namespace") or ((pod or {}).get("metadata") or {}).get("namespace") or ""
    return AdmissionRequest(
        uid=uid,
        operation=operation,
        namespace=str(namespace),
        pod=pod if isinstance(pod, dict) else {},
        dry_run=bool(request.get("dryRun")),
    )


def namespace_enabled(annotations: Mapping[str, str] | None) -> bool:
    """A namespace opts in with the *annotation* ``keptn.sh/lifecycle-toolkit: enabled`` (§2.1)."""
    return (annotations or {}).get(NAMESPACE_ENABLED_KEY) == "enabled"


def supported_owner(metadata: Mapping[str, Any] | None) -> OwnerRef | None:
    """KLT's ``GetOwnerReference``: the last owner reference of a supported kind, or None."""
    found: OwnerRef | None = None
    for ref in (metadata or {}).get("ownerReferences") or []:
        if isinstance(ref, dict) and ref.get("kind") in SUPPORTED_OWNER_KINDS:
            found = OwnerRef(
                kind=str(ref["kind"]),
                name=str(ref.get("name") or ""),
                uid=str(ref.get("uid") or ""),
                api_version=str(ref.get("apiVersion") or ""),
            )
    return found


def _meta(pod: Mapping[str, Any]) -> Mapping[str, Any]:
    return pod.get("metadata") or {}


def workload_of(labels: Mapping[str, str] | None, annotations: Mapping[str, str] | None) -> str | None:
    return get_label_or_annotation(labels, annotations, WORKLOAD_KEY, K8S_WORKLOAD_KEY)


def needs_parent(pod: Mapping[str, Any]) -> bool:
    """Whether the pod has no workload key of its own, so its parent's keys must be looked up."""
    meta = _meta(pod)
    return workload_of(meta.get("labels"), meta.get("annotations")) is None


def copied_keys(parent: Parent) -> dict[str, str]:
    """The Keptn keys a pod inherits from ``parent`` (§2.2 step 3), under their primary names; nothing
    when the parent has no workload key itself."""
    keys = {
        primary: value
        for primary, fallback in COPIED_KEYS
        if (value := get_label_or_annotation(parent.labels, parent.annotations, primary, fallback))
    }
    return keys if WORKLOAD_KEY in keys else {}


def mutate(
    request: AdmissionRequest,
    namespace_annotations: Mapping[str, str] | None,
    parent: Parent | None,
) -> Decision:
    """Decide the answer for ``request``; ``parent`` is the looked-up workload object, if any."""
    if request.operation not in ("CREATE", "UPDATE"):
        return Decision()
    if not namespace_enabled(namespace_annotations):
        return Decision(message=NOT_ENABLED_MESSAGE)
    meta = _meta(request.pod)
    if supported_owner(meta) is None:
        return Decision(message=UNSUPPORTED_OWNER_MESSAGE)
    labels: Mapping[str, str] = meta.get("labels") or {}
    original: dict[str, str] = dict(meta.get("annotations") or {})
    annotations = dict(original)
    if workload_of(labels, annotations) is None and parent is not None:
        annotations.update(copied_keys(parent))
    workload = workload_of(labels, annotations)
    if workload is None or SCHEDULING_GATE_REMOVED_KEY in annotations:
        # Not a Keptn workload, or already released: allowed as it is.
        return Decision()
    if get_label_or_annotation(labels, annotations, APP_KEY, K8S_APP_KEY) is None:
        annotations[APP_KEY] = workload
    patch = annotation_patch(meta.get("annotations"), annotations)
    if request.operation == "CREATE":
        patch += gate_patch(request.pod.get("spec") or {})
    return Decision(patch=tuple(patch))


def escape_pointer(token: str) -> str:
    """One JSON-pointer reference token (RFC 6901): ``~`` → ``~0``, ``/`` → ``~1``."""
    return token.replace("~", "~0").replace("/", "~1")


def annotation_patch(current: Mapping[str, str] | None, wanted: Mapping[str, str]) -> list[dict[str, Any]]:
    """JSON-patch operations turning the pod's annotations ``current`` into ``wanted`` (additions and
    changes only; the webhook never removes an annotation)."""
    changed = {k: v for k, v in wanted.items() if (current or {}).get(k) != v}
    if not changed:
        return []
    if current is None:
        return [{"op": "add", "path": "/metadata/annotations", "value": dict(wanted)}]
    return [
        {"op": "add", "path": f"/metadata/annotations/{escape_pointer(k)}", "value": v}
        for k, v in changed.items()
    ]


def gate_patch(spec: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Add klt's scheduling gate, keeping any other gate the pod has."""
    gates = spec.get("schedulingGates") or []
    if any(isinstance(g, dict) and g.get("name") == SCHEDULING_GATE for g in gates):
        return []
    gate = {"name": SCHEDULING_GATE}
    if not gates:
        return [{"op": "add", "path": "/spec/schedulingGates", "value": [gate]}]
    return [{"op": "add", "path": "/spec/schedulingGates/-", "value": gate}]


def review_response(uid: str, decision: Decision) -> dict[str, Any]:
    """The AdmissionReview v1 the webhook sends back: allowed, the request's uid echoed, and the patch
    (``JSONPatch``, base64 of its JSON) when there is one."""
    response: dict[str, Any] = {"uid": uid, "allowed": True}
    if decision.message:
        response["status"] = {"code": 200, "message": decision.message}
    if decision.patch:
        response["patchType"] = "JSONPatch"
        response["patch"] = base64.b64encode(json.dumps(list(decision.patch)).encode()).decode()
    return {"apiVersion": ADMISSION_API_VERSION, "kind": "AdmissionReview", "response": response}
