"""Building a task attempt's Job (klt-facts §4.2, §4.4) and reading its outcome (§4.5): pure functions.

klt runs **one Job per attempt** with ``backoffLimit: 0`` and ``restartPolicy: Never``; the runner's
attempt book decides whether another attempt starts. KLT instead runs a single Job with
``backoffLimit = retries`` and ``restartPolicy: OnFailure``, where an in-place container restart does not
count against the limit, so a task could run more than ``retries + 1`` times (KLT #667). One Job per
attempt keeps klt's guarantee of at most ``retries + 1`` runs, and a crashed runner finds the current
attempt's Job again by its name, which is derived from the task uid and attempt number.
"""

from __future__ import annotations

import copy
import hashlib
import math
from dataclasses import dataclass, field
from typing import Any

from services.task_runner.contract import KEPTN_CONTEXT, context_json
from shared.keptn.lifecycle import TaskContext
from shared.keptn.resources import KeptnTaskDefinition
from shared.naming import APP_KEY, TASK_NAME_KEY, VERSION_KEY, WORKLOAD_KEY, resource_name

Obj = dict[str, Any]

DEFAULT_EMPTY_DIR_SIZE = "1Gi"
"""``sizeLimit`` of the container runtime's memory volume when the container sets no memory limit (§4.4)."""
KEPTN_TASK_API_VERSION = "lifecycle.keptn.sh/v1"


class JobSpecError(ValueError):
    """The definition cannot become a Job; the message names the definition and the field."""


@dataclass(frozen=True, slots=True)
class JobRequest:
    """What every attempt's Job is built from, whichever runtime it runs."""

    namespace: str
    task_name: str
    task_uid: str
    attempt: int
    definition: KeptnTaskDefinition
    context: TaskContext
    deadline_s: int | None = None
    """``activeDeadlineSeconds``: the task's remaining time, whole seconds; None for no deadline."""
    owner: Obj | None = None
    """An owner reference to the KeptnTask CR, when it exists in the cluster."""
    extra_labels: dict[str, str] = field(default_factory=dict)


def attempt_suffix(task_uid: str, attempt: int) -> str:
    """Five digits in KLT's random range [10000, 99998), fixed by the task and attempt: a redelivered
    command derives the same Job name and so adopts the Job instead of starting a second one."""
    digest = hashlib.sha256(f"{task_uid}:{attempt}".encode()).digest()
    return str(10000 + int.from_bytes(digest[:8], "big") % (99998 - 10000))


def job_name(task_name: str, task_uid: str, attempt: int) -> str:
    """``CreateResourceName(253, 80, taskName, rand5)`` (§4.2) with a deterministic suffix."""
    return resource_name(task_name, attempt_suffix(task_uid, attempt))


def active_deadline_seconds(remaining_s: float | None) -> int | None:
    """The remaining task time in whole seconds, rounded up and at least 1 (the API rejects 0)."""
    if remaining_s is None:
        return None
    return max(1, math.ceil(remaining_s))


def job_annotations(definition: KeptnTaskDefinition, context: TaskContext, task_name: str) -> dict[str, str]:
    """The definition's annotations plus KLT's keys (§4.2), which win over a user value of the same key."""
    annotations = dict(definition.metadata.annotations)
    annotations[APP_KEY] = context.app_name
    if context.workload_name:
        annotations[WORKLOAD_KEY] = context.workload_name
        annotations[VERSION_KEY] = context.workload_version
    else:
        annotations[VERSION_KEY] = context.app_version
    annotations[TASK_NAME_KEY] = task_name
    return annotations


def owner_reference(task: Obj) -> Obj | None:
    """A controller reference to a KeptnTask CR (as ``SetControllerReference`` writes it), or None."""
    meta = task.get("metadata") or {}
    if not meta.get("name") or not meta.get("uid"):
        return None
    return {
        "apiVersion": task.get("apiVersion") or KEPTN_TASK_API_VERSION,
        "kind": "KeptnTask",
        "name": meta["name"],
        "uid": meta["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def job_object(request: JobRequest, pod_spec: Obj) -> Obj:
    """The Job around ``pod_spec`` (its containers and volumes), with the definition's pod settings."""
    definition = request.definition
    spec = definition.spec
    labels = {**definition.metadata.labels, **request.extra_labels}
    annotations = job_annotations(definition, request.context, request.task_name)
    pod = dict(pod_spec)
    pod["restartPolicy"] = "Never"
    if spec.service_account is not None and spec.service_account.name:
        pod["serviceAccountName"] = spec.service_account.name
    token = spec.automount_service_account_token
    if token is not None and token.type is not None:
        pod["automountServiceAccountToken"] = token.type
    pull_secrets = [{"name": ref.name} for ref in spec.image_pull_secrets if ref.name]
    if pull_secrets:
        pod["imagePullSecrets"] = pull_secrets
    metadata: Obj = {
        "name": job_name(request.task_name, request.task_uid, request.attempt),
        "namespace": request.namespace,
        "labels": labels,
        "annotations": annotations,
    }
    if request.owner is not None:
        metadata["ownerReferences"] = [request.owner]
    job_spec: Obj = {
        "backoffLimit": 0,
        "ttlSecondsAfterFinished": spec.ttl_seconds_after_finished,
        "template": {"metadata": {"labels": dict(labels), "annotations": dict(annotations)}, "spec": pod},
    }
    if request.deadline_s is not None:
        job_spec["activeDeadlineSeconds"] = request.deadline_s
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": metadata, "spec": job_spec}


def with_context(env: list[Obj], context: str) -> list[Obj]:
    """``env`` with ``KEPTN_CONTEXT`` set: an existing entry is overwritten in place, else one is appended."""
    result: list[Obj] = []
    found = False
    for entry in env:
        if isinstance(entry, dict) and entry.get("name") == KEPTN_CONTEXT:
            result.append({"name": KEPTN_CONTEXT, "value": context})
            found = True
        else:
            result.append(entry)
    if not found:
        result.append({"name": KEPTN_CONTEXT, "value": context})
    return result


def container_job(request: JobRequest) -> Obj:
    """The container runtime (§4.4): the user's container verbatim, only ``KEPTN_CONTEXT`` injected, and
    a memory ``emptyDir`` named after the first volume mount (sized by the memory limit, else 1Gi)."""
    where = f"KeptnTaskDefinition '{request.definition.metadata.name}'"
    raw = request.definition.spec.container
    if not isinstance(raw, dict):
        raise JobSpecError(f"{where} has no spec.container")
    container: Obj = copy.deepcopy(raw)
    for key in ("name", "image"):
        if not isinstance(container.get(key), str) or not container[key]:
            raise JobSpecError(f"{where}: spec.container.{key} is required")
    env = container.get("env") or []
    if not isinstance(env, list):
        raise JobSpecError(f"{where}: spec.container.env must be a list")
    container["env"] = with_context(env, context_json(request.context))
    pod: Obj = {"containers": [container]}
    mounts = container.get("volumeMounts") or []
    if mounts:
        first = mounts[0] if isinstance(mounts, list) else None
        if not isinstance(first, dict) or not first.get("name"):
            raise JobSpecError(f"{where}: spec.container.volumeMounts[0].name is required")
        limits = (container.get("resources") or {}).get("limits") or {}
        size = limits.get("memory") or DEFAULT_EMPTY_DIR_SIZE
        pod["volumes"] = [{"name": first["name"], "emptyDir": {"medium": "Memory", "sizeLimit": size}}]
    return job_object(request, pod)


@dataclass(frozen=True, slots=True)
class JobRun:
    """One attempt's Job, and how to report on it."""

    job: Obj
    container: str
    """The container whose exit code and log describe the attempt."""
    wait_s: float | None
    """How long to wait for an outcome (the task's remaining time plus a grace); None: no limit."""
    secret: str | None = None
    """A value masked in the pod's log."""


@dataclass(frozen=True, slots=True)
class JobOutcome:
    """How a finished Job ended (§4.5): ``succeeded``, else its failure condition's reason and message."""

    succeeded: bool
    reason: str = ""
    message: str = ""

    @property
    def deadline_exceeded(self) -> bool:
        return self.reason == "DeadlineExceeded"


_SUCCESS = ("Complete", "SuccessCriteriaMet")
_FAILURE = ("Failed", "FailureTarget")


def job_outcome(job: Obj) -> JobOutcome | None:
    """The outcome the Job's conditions decide, or None while it runs. As KLT, any true ``Complete`` or
    ``SuccessCriteriaMet`` is success; else any true ``Failed``/``FailureTarget`` is failure."""
    conditions = [c for c in (job.get("status") or {}).get("conditions") or [] if c.get("status") == "True"]
    if any(c.get("type") in _SUCCESS for c in conditions):
        return JobOutcome(True)
    for cond in conditions:
        if cond.get("type") in _FAILURE:
            return JobOutcome(False, str(cond.get("reason") or ""), str(cond.get("message") or ""))
    return None


def pod_exit_code(pod: Obj, container: str = "") -> int | None:
    """The exit code of ``container`` (else the first terminated one) in a finished pod, if it has one."""
    for status in (pod.get("status") or {}).get("containerStatuses") or []:
        if container and status.get("name") != container:
            continue
        terminated = (status.get("state") or {}).get("terminated") or {}
        if "exitCode" in terminated:
            return int(terminated["exitCode"])
    return None
