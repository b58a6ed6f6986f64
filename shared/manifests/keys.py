"""The Keptn keys of a workload object, read the way KLT's pod webhook reads them (klt-facts §2.1, §2.2).

The webhook looks at the pod, i.e. the workload's pod template. If the pod has no workload key, the
webhook copies the keys of the pod's parent (the Deployment, StatefulSet, DaemonSet or ReplicaSet
object's own labels and annotations) onto the pod, provided the parent has a workload key; the pod is
then a Keptn workload too, and when the parent has no version key the version is derived from the
pod's containers. A bare ReplicaSet is no parent: the webhook copies from a ReplicaSet's owning
Deployment, and a ReplicaSet in a folder has none. Each value found remembers the field it came
from, for error messages.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from shared.keptn.workloads import Workload
from shared.manifests.paths import Path
from shared.naming import (
    APP_KEY,
    CONTAINER_KEY,
    COPIED_KEYS,
    K8S_WORKLOAD_KEY,
    METADATA_KEY,
    POST_DEPLOYMENT_EVALUATIONS_KEY,
    POST_DEPLOYMENT_TASKS_KEY,
    PRE_DEPLOYMENT_EVALUATIONS_KEY,
    PRE_DEPLOYMENT_TASKS_KEY,
    VERSION_KEY,
    WORKLOAD_KEY,
    parse_metadata,
    split_list,
)

_POD: Path = ("spec", "template", "metadata")
_PARENT: Path = ("metadata",)


@dataclass(frozen=True)
class WorkloadKeys:
    """What the webhook would see on the workload's pods. ``version`` is ``None`` when it must be
    derived from the containers. ``fields`` maps a primary key to the path it was read from."""

    workload: str
    app: str | None
    version: str | None
    pre_deployment_tasks: list[str]
    post_deployment_tasks: list[str]
    pre_deployment_evaluations: list[str]
    post_deployment_evaluations: list[str]
    metadata: dict[str, str]
    container: str | None
    from_parent: bool
    fields: dict[str, Path] = field(default_factory=dict)


def _find(
    labels: Mapping[str, str], annotations: Mapping[str, str], base: Path, primary: str, fallback: str | None
) -> tuple[str, Path] | None:
    """``get_label_or_annotation`` that also says where the value was."""
    for key in (primary,) if not fallback else (primary, fallback):
        for where, source in (("annotations", annotations), ("labels", labels)):
            value = source.get(key)
            if value:
                return value, (*base, where, key)
    return None


def workload_keys(workload: Workload) -> WorkloadKeys | None:
    """The Keptn keys of ``workload``'s pods, or ``None`` when neither the pod template nor the
    object has a workload key (``keptn.sh/workload`` or ``app.kubernetes.io/name``)."""
    pod_meta = workload.spec.template.metadata
    pod_labels, pod_annotations = pod_meta.labels, pod_meta.annotations
    found: dict[str, tuple[str, Path]] = {}
    if _find(pod_labels, pod_annotations, _POD, WORKLOAD_KEY, K8S_WORKLOAD_KEY):
        from_parent = False
        for primary, fallback in COPIED_KEYS:
            hit = _find(pod_labels, pod_annotations, _POD, primary, fallback)
            if hit:
                found[primary] = hit
    else:
        parent = workload.metadata
        if workload.kind == "ReplicaSet":
            return None  # a ReplicaSet's pods get their parent's keys only from an owning Deployment
        if not _find(parent.labels, parent.annotations, _PARENT, WORKLOAD_KEY, K8S_WORKLOAD_KEY):
            return None
        from_parent = True
        for primary, fallback in COPIED_KEYS:
            hit = _find(parent.labels, parent.annotations, _PARENT, primary, fallback)
            if hit:
                found[primary] = hit
            elif primary != VERSION_KEY:
                # Not copied: the pod's own value (if any) stays. The version is the exception: the
                # webhook writes a derived version when the parent has none.
                own = _find(pod_labels, pod_annotations, _POD, primary, fallback)
                if own:
                    found[primary] = own
    container = _find(pod_labels, pod_annotations, _POD, CONTAINER_KEY, None)
    if container:
        found[CONTAINER_KEY] = container

    def value(key: str) -> str | None:
        hit = found.get(key)
        return hit[0] if hit else None

    return WorkloadKeys(
        workload=found[WORKLOAD_KEY][0],
        app=value(APP_KEY),
        version=value(VERSION_KEY),
        pre_deployment_tasks=split_list(value(PRE_DEPLOYMENT_TASKS_KEY)),
        post_deployment_tasks=split_list(value(POST_DEPLOYMENT_TASKS_KEY)),
        pre_deployment_evaluations=split_list(value(PRE_DEPLOYMENT_EVALUATIONS_KEY)),
        post_deployment_evaluations=split_list(value(POST_DEPLOYMENT_EVALUATIONS_KEY)),
        metadata=parse_metadata(value(METADATA_KEY)),
        container=value(CONTAINER_KEY),
        from_parent=from_parent,
        fields={key: hit[1] for key, hit in found.items()},
    )
