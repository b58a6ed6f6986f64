"""The objects klt derives and drives, in KLT's exact shape (klt-facts §1.3 to §1.10).

The watcher keeps these in the JetStream state bucket; ``klt run --output json`` prints them and
Kubernetes mode projects them as CRs, so field names and defaults are KLT's. Timestamps are RFC 3339
strings in UTC, as the Kubernetes API writes them.
"""

from __future__ import annotations

import msgspec

from shared.keptn.meta import ObjectMeta
from shared.keptn.resources import LIFECYCLE_GROUP, WorkloadRef
from shared.keptn.states import CheckType, KeptnState

LIFECYCLE_API = f"{LIFECYCLE_GROUP}/v1"


class _Part(msgspec.Struct, kw_only=True, rename="camel", omit_defaults=True):
    """Base for spec parts: camelCase names, empty optional fields left out."""


class _StatusPart(msgspec.Struct, kw_only=True, rename="camel"):
    """Base for status parts: every field written, as KLT's status always shows its states."""


class ItemStatus(_StatusPart, kw_only=True):
    """One task or evaluation of a phase, as listed in the parent's status (§1.3)."""

    definition_name: str
    status: KeptnState = KeptnState.PENDING
    name: str = ""
    start_time: str | None = None
    end_time: str | None = None


class WorkloadStatus(_StatusPart, kw_only=True):
    workload: WorkloadRef
    status: KeptnState = KeptnState.PENDING


# --- KeptnWorkload (§1.5) -----------------------------------------------------------------------


class ResourceReference(_Part, kw_only=True):
    uid: str = ""
    kind: str
    name: str


class KeptnWorkloadSpec(_Part, kw_only=True):
    app: str
    version: str
    pre_deployment_tasks: list[str] = msgspec.field(default_factory=list)
    post_deployment_tasks: list[str] = msgspec.field(default_factory=list)
    pre_deployment_evaluations: list[str] = msgspec.field(default_factory=list)
    post_deployment_evaluations: list[str] = msgspec.field(default_factory=list)
    resource_reference: ResourceReference
    metadata: dict[str, str] = msgspec.field(default_factory=dict)


class KeptnWorkloadStatus(_StatusPart, kw_only=True):
    current_version: str = ""


class KeptnWorkload(msgspec.Struct, kw_only=True, rename="camel"):
    api_version: str = LIFECYCLE_API
    kind: str = "KeptnWorkload"
    metadata: ObjectMeta
    spec: KeptnWorkloadSpec
    status: KeptnWorkloadStatus = msgspec.field(default_factory=KeptnWorkloadStatus)


# --- KeptnAppVersion (§1.3) ---------------------------------------------------------------------


class KeptnAppVersionSpec(_Part, kw_only=True):
    app_name: str
    version: str
    revision: int = 1
    workloads: list[WorkloadRef] = msgspec.field(default_factory=list)
    pre_deployment_tasks: list[str] = msgspec.field(default_factory=list)
    post_deployment_tasks: list[str] = msgspec.field(default_factory=list)
    pre_deployment_evaluations: list[str] = msgspec.field(default_factory=list)
    post_deployment_evaluations: list[str] = msgspec.field(default_factory=list)
    promotion_tasks: list[str] = msgspec.field(default_factory=list)
    metadata: dict[str, str] = msgspec.field(default_factory=dict)
    span_links: list[str] = msgspec.field(default_factory=list)
    previous_version: str = ""
    trace_id: dict[str, str] = msgspec.field(default_factory=dict)


class KeptnAppVersionStatus(_StatusPart, kw_only=True):
    pre_deployment_status: KeptnState = KeptnState.PENDING
    pre_deployment_evaluation_status: KeptnState = KeptnState.PENDING
    workload_overall_status: KeptnState = KeptnState.PENDING
    post_deployment_status: KeptnState = KeptnState.PENDING
    post_deployment_evaluation_status: KeptnState = KeptnState.PENDING
    promotion_status: KeptnState = KeptnState.PENDING
    status: KeptnState = KeptnState.PENDING
    workload_status: list[WorkloadStatus] = msgspec.field(default_factory=list)
    current_phase: str = ""
    pre_deployment_task_status: list[ItemStatus] = msgspec.field(default_factory=list)
    post_deployment_task_status: list[ItemStatus] = msgspec.field(default_factory=list)
    promotion_task_status: list[ItemStatus] = msgspec.field(default_factory=list)
    pre_deployment_evaluation_task_status: list[ItemStatus] = msgspec.field(default_factory=list)
    post_deployment_evaluation_task_status: list[ItemStatus] = msgspec.field(default_factory=list)
    phase_trace_i_ds: dict[str, dict[str, str]] = msgspec.field(default_factory=dict, name="phaseTraceIDs")
    start_time: str | None = None
    end_time: str | None = None
    message: str = ""
    """klt addition: why the object is where it is (e.g. the failed objective); empty when all is well."""
    waiting_since: str | None = None
    """klt addition: when the current phase began waiting for something that does not exist (a
    KeptnWorkloadVersion AppDeploy lists, a task or evaluation definition); None when nothing is missing.
    The watcher's stuck deadline counts from here, so a restart neither forgets nor restarts it."""


class KeptnAppVersion(msgspec.Struct, kw_only=True, rename="camel"):
    api_version: str = LIFECYCLE_API
    kind: str = "KeptnAppVersion"
    metadata: ObjectMeta
    spec: KeptnAppVersionSpec
    status: KeptnAppVersionStatus = msgspec.field(default_factory=KeptnAppVersionStatus)


# --- KeptnWorkloadVersion (§1.6) ----------------------------------------------------------------


class KeptnWorkloadVersionSpec(KeptnWorkloadSpec, kw_only=True):
    workload_name: str
    previous_version: str = ""
    trace_id: dict[str, str] = msgspec.field(default_factory=dict)


class KeptnWorkloadVersionStatus(_StatusPart, kw_only=True):
    pre_deployment_status: KeptnState = KeptnState.PENDING
    pre_deployment_evaluation_status: KeptnState = KeptnState.PENDING
    deployment_status: KeptnState = KeptnState.PENDING
    post_deployment_status: KeptnState = KeptnState.PENDING
    post_deployment_evaluation_status: KeptnState = KeptnState.PENDING
    status: KeptnState = KeptnState.PENDING
    current_phase: str = ""
    pre_deployment_task_status: list[ItemStatus] = msgspec.field(default_factory=list)
    post_deployment_task_status: list[ItemStatus] = msgspec.field(default_factory=list)
    pre_deployment_evaluation_task_status: list[ItemStatus] = msgspec.field(default_factory=list)
    post_deployment_evaluation_task_status: list[ItemStatus] = msgspec.field(default_factory=list)
    phase_trace_i_ds: dict[str, dict[str, str]] = msgspec.field(default_factory=dict, name="phaseTraceIDs")
    app_context_metadata: dict[str, str] = msgspec.field(default_factory=dict)
    start_time: str | None = None
    end_time: str | None = None
    deployment_start_time: str | None = None
    message: str = ""
    """klt addition: why the object is where it is; empty when all is well."""
    waiting_since: str | None = None
    """klt addition: when the current phase began waiting for a task or evaluation definition that does
    not exist; None when nothing is missing (the stuck deadline counts from here)."""


class KeptnWorkloadVersion(msgspec.Struct, kw_only=True, rename="camel"):
    api_version: str = LIFECYCLE_API
    kind: str = "KeptnWorkloadVersion"
    metadata: ObjectMeta
    spec: KeptnWorkloadVersionSpec
    status: KeptnWorkloadVersionStatus = msgspec.field(default_factory=KeptnWorkloadVersionStatus)


# --- KeptnTask (§1.8) ---------------------------------------------------------------------------


class TaskContext(msgspec.Struct, kw_only=True, rename="camel"):
    """What a task is told about the release it runs for. Field order is KLT's and is part of the
    ``KEPTN_CONTEXT`` contract; the first six are always written, ``metadata`` only when non-empty."""

    workload_name: str = msgspec.field(default="", name="workloadName")
    app_name: str = msgspec.field(default="", name="appName")
    app_version: str = msgspec.field(default="", name="appVersion")
    workload_version: str = msgspec.field(default="", name="workloadVersion")
    task_type: str = msgspec.field(default="", name="taskType")
    object_type: str = msgspec.field(default="", name="objectType")
    metadata: dict[str, str] | msgspec.UnsetType = msgspec.UNSET


class KeptnTaskSpec(_Part, kw_only=True):
    task_definition: str
    context: TaskContext = msgspec.field(default_factory=TaskContext)
    parameters: dict[str, dict[str, str]] = msgspec.field(default_factory=dict)
    """KLT's ``parameters.map`` shape: ``{"map": {...}}``."""
    secure_parameters: dict[str, str] = msgspec.field(default_factory=dict)
    """KLT's ``secureParameters`` shape: ``{"secret": "<name>"}``."""
    check_type: CheckType
    retries: int = 10
    timeout: str = "5m"


class KeptnTaskStatus(_StatusPart, kw_only=True):
    job_name: str = ""
    status: KeptnState = KeptnState.PENDING
    message: str = ""
    start_time: str | None = None
    end_time: str | None = None
    reason: str = ""
    attempts: int = 0
    """klt addition: how many times the task ran (at most ``retries + 1``)."""


class KeptnTask(msgspec.Struct, kw_only=True, rename="camel"):
    api_version: str = LIFECYCLE_API
    kind: str = "KeptnTask"
    metadata: ObjectMeta
    spec: KeptnTaskSpec
    status: KeptnTaskStatus = msgspec.field(default_factory=KeptnTaskStatus)


# --- KeptnEvaluation (§1.10) --------------------------------------------------------------------


class EvaluationStatusItem(_StatusPart, kw_only=True):
    value: str = ""
    status: KeptnState = KeptnState.PENDING
    message: str = ""


class KeptnEvaluationSpec(_Part, kw_only=True):
    workload: str = ""
    workload_version: str = ""
    app_name: str = ""
    app_version: str = ""
    evaluation_definition: str
    check_type: CheckType
    retries: int = 10
    retry_interval: str = "5s"


class KeptnEvaluationStatus(_StatusPart, kw_only=True):
    retry_count: int = 0
    evaluation_status: dict[str, EvaluationStatusItem] = msgspec.field(default_factory=dict)
    overall_status: KeptnState = KeptnState.PENDING
    start_time: str | None = None
    end_time: str | None = None


class KeptnEvaluation(msgspec.Struct, kw_only=True, rename="camel"):
    api_version: str = LIFECYCLE_API
    kind: str = "KeptnEvaluation"
    metadata: ObjectMeta
    spec: KeptnEvaluationSpec
    status: KeptnEvaluationStatus = msgspec.field(default_factory=KeptnEvaluationStatus)


LifecycleObject = KeptnAppVersion | KeptnWorkloadVersion | KeptnTask | KeptnEvaluation
