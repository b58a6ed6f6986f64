"""What the API server does to an object on the way in: validation of names and labels, server-side
defaults for the kinds the controllers run, and the initial status.

Only the defaults and checks the watcher and task runner can observe are implemented; the rest of the
OpenAPI validation is not (an object with a misspelt spec field is accepted here, as a CRD with
``x-kubernetes-preserve-unknown-fields`` would accept it).
"""

from __future__ import annotations

import re
from typing import Any

from tests.k8s.errors import invalid
from tests.k8s.resources import ResourceType
from tests.k8s.selectors import labels_match, selector_from_spec

_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_QUALIFIED = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")


def validate_metadata(resource: ResourceType, obj: dict[str, Any]) -> None:
    """Names must be RFC 1123 subdomains (namespaces: labels); label keys and values as Kubernetes says."""
    meta = obj["metadata"]
    name = meta["name"]
    if resource.plural == "namespaces":
        if len(name) > 63 or not _LABEL_NAME.match(name):
            raise invalid(
                resource,
                name,
                "metadata.name",
                f'Invalid value: "{name}": a lowercase RFC 1123 label '
                "must consist of lower case alphanumeric characters or '-', and must start and end "
                "with an alphanumeric character",
            )
    elif len(name) > 253 or not _SUBDOMAIN.match(name):
        raise invalid(
            resource,
            name,
            "metadata.name",
            f'Invalid value: "{name}": a lowercase RFC 1123 subdomain '
            "must consist of lower case alphanumeric characters, '-' or '.', and must start and end "
            "with an alphanumeric character",
        )
    for key, value in (meta.get("labels") or {}).items():
        prefix, _, local = key.rpartition("/")
        if (
            not local
            or len(local) > 63
            or not _QUALIFIED.match(local)
            or (prefix and not _SUBDOMAIN.match(prefix))
        ):
            raise invalid(
                resource,
                name,
                "metadata.labels",
                f'Invalid value: "{key}": name part must be 63 '
                "characters or less and consist of alphanumeric characters, '-', '_' or '.'",
            )
        if not isinstance(value, str) or len(value) > 63 or not _LABEL_VALUE.match(value):
            raise invalid(
                resource,
                name,
                "metadata.labels",
                f'Invalid value: "{value}": a valid label must be '
                "an empty string or consist of alphanumeric characters, '-', '_' or '.', and must "
                "start and end with an alphanumeric character (at most 63 characters)",
            )


def _default_pod_spec(spec: dict[str, Any]) -> None:
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("securityContext", {})
    for container in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]:
        image = container.get("image", "")
        tag = image.rsplit(":", 1)[1] if ":" in image.rsplit("/", 1)[-1] else ""
        container.setdefault("imagePullPolicy", "Always" if tag in ("", "latest") else "IfNotPresent")
        container.setdefault("terminationMessagePath", "/dev/termination-log")
        container.setdefault("terminationMessagePolicy", "File")
        container.setdefault("resources", {})


def _check_template(resource: ResourceType, obj: dict[str, Any]) -> None:
    spec = obj.get("spec") or {}
    name = obj["metadata"]["name"]
    template = spec.get("template") or {}
    if not (template.get("spec") or {}).get("containers"):
        raise invalid(resource, name, "spec.template.spec.containers", "Required value")
    selector = selector_from_spec(spec.get("selector"))
    if not selector:
        raise invalid(resource, name, "spec.selector", "Required value")
    if not labels_match(selector, template):
        raise invalid(
            resource,
            name,
            "spec.template.metadata.labels",
            "Invalid value: `selector` does not match template `labels`",
        )


def default_object(resource: ResourceType, obj: dict[str, Any], *, creating: bool) -> None:
    """Apply the server-side defaults and checks for one kind, in place."""
    kind = resource.kind if resource.builtin else ""
    spec = obj.get("spec")
    if kind == "Namespace":
        obj["metadata"].setdefault("labels", {})["kubernetes.io/metadata.name"] = obj["metadata"]["name"]
        obj.setdefault("spec", {"finalizers": ["kubernetes"]})
        if creating:
            obj["status"] = {"phase": "Active"}
    elif kind == "Pod":
        if not isinstance(spec, dict) or not spec.get("containers"):
            raise invalid(resource, obj["metadata"]["name"], "spec.containers", "Required value")
        _default_pod_spec(spec)
        if creating:
            obj["status"] = {"phase": "Pending", "qosClass": "BestEffort"}
    elif kind in ("Deployment", "ReplicaSet", "StatefulSet", "DaemonSet", "Job"):
        if not isinstance(spec, dict):
            raise invalid(resource, obj["metadata"]["name"], "spec", "Required value")
        if kind == "Job":
            _default_job(resource, obj, spec, creating=creating)
        _check_template(resource, obj)
        _default_pod_spec(spec["template"]["spec"])
        if kind in ("Deployment", "ReplicaSet", "StatefulSet"):
            spec.setdefault("replicas", 1)
        if kind in ("Deployment", "StatefulSet", "DaemonSet"):
            spec.setdefault("revisionHistoryLimit", 10)
        if kind == "Deployment":
            spec.setdefault("progressDeadlineSeconds", 600)
            spec.setdefault(
                "strategy",
                {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
            )
        if kind == "StatefulSet":
            spec.setdefault("podManagementPolicy", "OrderedReady")
            spec.setdefault("updateStrategy", {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}})
        if kind == "DaemonSet":
            spec.setdefault(
                "updateStrategy",
                {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}},
            )
        if creating:
            obj["status"] = dict(_INITIAL_STATUS.get(kind, {}))


#: Status fields Go serialises even when zero (no ``omitempty``); typed clients require some of them.
_INITIAL_STATUS: dict[str, dict[str, Any]] = {
    "ReplicaSet": {"replicas": 0},
    "StatefulSet": {"replicas": 0, "availableReplicas": 0},
    "DaemonSet": {
        "currentNumberScheduled": 0,
        "numberMisscheduled": 0,
        "desiredNumberScheduled": 0,
        "numberReady": 0,
    },
}


def _default_job(
    resource: ResourceType, obj: dict[str, Any], spec: dict[str, Any], *, creating: bool
) -> None:
    """Jobs get a selector on their own uid and the job-name labels on their pod template."""
    spec.setdefault("backoffLimit", 6)
    spec.setdefault("completions", 1)
    spec.setdefault("parallelism", 1)
    spec.setdefault("completionMode", "NonIndexed")
    spec.setdefault("suspend", False)
    policy = ((spec.get("template") or {}).get("spec") or {}).get("restartPolicy")
    if policy not in ("Never", "OnFailure"):
        raise invalid(
            resource,
            obj["metadata"]["name"],
            "spec.template.spec.restartPolicy",
            f'Unsupported value: "{policy}": supported values: "OnFailure", "Never"',
        )
    if creating and not spec.get("manualSelector"):
        uid, name = obj["metadata"]["uid"], obj["metadata"]["name"]
        spec["selector"] = {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}
        labels = spec["template"].setdefault("metadata", {}).setdefault("labels", {})
        labels.update(
            {
                "batch.kubernetes.io/controller-uid": uid,
                "batch.kubernetes.io/job-name": name,
                "controller-uid": uid,
                "job-name": name,
            }
        )


_POD_MUTABLE = (
    "spec.containers[*].image, spec.initContainers[*].image, spec.activeDeadlineSeconds, "
    "spec.tolerations (only additions to existing tolerations), spec.terminationGracePeriodSeconds, "
    "spec.schedulingGates (only deletion)"
)


def _pod_spec_frozen(spec: dict[str, Any]) -> dict[str, Any]:
    """A pod spec with the fields an update may change blanked out."""
    out = {
        k: v
        for k, v in spec.items()
        if k
        not in ("activeDeadlineSeconds", "terminationGracePeriodSeconds", "tolerations", "schedulingGates")
    }
    for key in ("containers", "initContainers"):
        if key in out:
            out[key] = [{k: v for k, v in c.items() if k != "image"} for c in out[key]]
    return out


def validate_update(resource: ResourceType, old: dict[str, Any], new: dict[str, Any]) -> None:
    """The immutable fields a watcher could trip over: a pod's spec (gates may only be removed), a
    workload's selector, a Job's template."""
    kind = resource.kind if resource.builtin else ""
    name = new["metadata"]["name"]
    old_spec, new_spec = old.get("spec") or {}, new.get("spec") or {}
    if kind == "Pod":
        old_gates = [g.get("name") for g in old_spec.get("schedulingGates") or []]
        added = [
            g.get("name") for g in new_spec.get("schedulingGates") or [] if g.get("name") not in old_gates
        ]
        if added:
            raise invalid(
                resource,
                name,
                "spec.schedulingGates",
                f"Forbidden: only deletion is allowed, but found new scheduling gate '{added[0]}'",
            )
        if _pod_spec_frozen(old_spec) != _pod_spec_frozen(new_spec):
            raise invalid(
                resource,
                name,
                "spec",
                f"Forbidden: pod updates may not change fields other than {_POD_MUTABLE}",
            )
    elif kind in ("Deployment", "ReplicaSet", "StatefulSet", "DaemonSet", "Job"):
        if old_spec.get("selector") != new_spec.get("selector"):
            raise invalid(resource, name, "spec.selector", "Invalid value: field is immutable")
        if kind == "Job" and old_spec.get("template") != new_spec.get("template"):
            raise invalid(resource, name, "spec.template", "Invalid value: field is immutable")
