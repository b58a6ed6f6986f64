"""KLT's states, phases and check types, holding KLT's exact strings (klt-facts §1, §3.1).

They are ``StrEnum`` values so that they serialise as the plain strings KLT writes into CR status and
Kubernetes Event reasons, and compare equal to them.
"""

from __future__ import annotations

from enum import StrEnum


class KeptnState(StrEnum):
    """State of a phase, an item or a whole object (``KeptnState`` in KLT; there is no Cancelled)."""

    PENDING = "Pending"
    PROGRESSING = "Progressing"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    UNKNOWN = "Unknown"
    DEPRECATED = "Deprecated"
    WARNING = "Warning"

    @property
    def is_completed(self) -> bool:
        """KLT's ``IsCompleted``: Succeeded, Failed, Deprecated and Warning end a phase."""
        return self in _COMPLETED


_COMPLETED = frozenset({KeptnState.SUCCEEDED, KeptnState.FAILED, KeptnState.DEPRECATED, KeptnState.WARNING})


class Phase(StrEnum):
    """Phase short names as they appear in ``status.currentPhase`` and Event reasons."""

    APP_PRE_DEPLOY_TASKS = "AppPreDeployTasks"
    APP_PRE_DEPLOY_EVALUATIONS = "AppPreDeployEvaluations"
    APP_DEPLOY = "AppDeploy"
    APP_POST_DEPLOY_TASKS = "AppPostDeployTasks"
    APP_POST_DEPLOY_EVALUATIONS = "AppPostDeployEvaluations"
    PROMOTION_TASKS = "PromotionTasks"
    WORKLOAD_PRE_DEPLOY_TASKS = "WorkloadPreDeployTasks"
    WORKLOAD_PRE_DEPLOY_EVALUATIONS = "WorkloadPreDeployEvaluations"
    WORKLOAD_DEPLOY = "WorkloadDeploy"
    WORKLOAD_POST_DEPLOY_TASKS = "WorkloadPostDeployTasks"
    WORKLOAD_POST_DEPLOY_EVALUATIONS = "WorkloadPostDeployEvaluations"
    COMPLETED = "Completed"
    # Event-only phases (klt-facts §3.1, "Other").
    RECONCILE_EVALUATION = "ReconcileEvaluation"
    RECONCILE_TASK = "ReconcileTask"
    RECONCILE_WORKLOAD = "ReconcileWorkload"
    CREATE_EVALUATION = "CreateEvaluation"
    CREATE_TASK = "CreateTask"
    CREATE_WORKLOAD_VERSION = "CreateWorkloadVersion"
    CREATE_APP_VERSION = "CreateAppVersion"
    DEPRECATE_APP_VERSION = "DeprecateAppVersion"
    APP_COMPLETED = "AppCompleted"
    WORKLOAD_COMPLETED = "WorkloadCompleted"
    DEPRECATED = "Deprecated"

    @property
    def long_name(self) -> str:
        """KLT's LongName, used in Event messages and CloudEvent types."""
        return _LONG_NAMES.get(self, self.value)


_LONG_NAMES: dict[Phase, str] = {
    Phase.APP_PRE_DEPLOY_TASKS: "App Pre-Deployment Tasks",
    Phase.APP_PRE_DEPLOY_EVALUATIONS: "App Pre-Deployment Evaluations",
    Phase.APP_DEPLOY: "App Deployment",
    Phase.APP_POST_DEPLOY_TASKS: "App Post-Deployment Tasks",
    Phase.APP_POST_DEPLOY_EVALUATIONS: "App Post-Deployment Evaluations",
    Phase.PROMOTION_TASKS: "Promotion Tasks",
    Phase.WORKLOAD_PRE_DEPLOY_TASKS: "Workload Pre-Deployment Tasks",
    Phase.WORKLOAD_PRE_DEPLOY_EVALUATIONS: "Workload Pre-Deployment Evaluations",
    Phase.WORKLOAD_DEPLOY: "Workload Deployment",
    Phase.WORKLOAD_POST_DEPLOY_TASKS: "Workload Post-Deployment Tasks",
    Phase.WORKLOAD_POST_DEPLOY_EVALUATIONS: "Workload Post-Deployment Evaluations",
    Phase.COMPLETED: "Completed",
    Phase.RECONCILE_EVALUATION: "Reconcile Evaluation",
    Phase.RECONCILE_TASK: "Reconcile Task",
    Phase.RECONCILE_WORKLOAD: "Reconcile Workload",
    Phase.CREATE_EVALUATION: "Create Evaluation",
    Phase.CREATE_TASK: "Create Task",
    Phase.CREATE_WORKLOAD_VERSION: "Create WorkloadVersion",
    Phase.CREATE_APP_VERSION: "Create AppVersion",
    Phase.DEPRECATE_APP_VERSION: "Deprecate AppVersion",
    Phase.APP_COMPLETED: "App Completed",
    Phase.WORKLOAD_COMPLETED: "Workload Completed",
    Phase.DEPRECATED: "Deprecated",
}

APP_PHASES: tuple[Phase, ...] = (
    Phase.APP_PRE_DEPLOY_TASKS,
    Phase.APP_PRE_DEPLOY_EVALUATIONS,
    Phase.APP_DEPLOY,
    Phase.APP_POST_DEPLOY_TASKS,
    Phase.APP_POST_DEPLOY_EVALUATIONS,
    Phase.PROMOTION_TASKS,
)
"""App phases in order; PromotionTasks runs only when promotion tasks are enabled (§3.1)."""

WORKLOAD_PHASES: tuple[Phase, ...] = (
    Phase.WORKLOAD_PRE_DEPLOY_TASKS,
    Phase.WORKLOAD_PRE_DEPLOY_EVALUATIONS,
    Phase.WORKLOAD_DEPLOY,
    Phase.WORKLOAD_POST_DEPLOY_TASKS,
    Phase.WORKLOAD_POST_DEPLOY_EVALUATIONS,
)


class PhaseState(StrEnum):
    """Sub-states that complete an Event reason: ``<Phase><PhaseState>`` (§3.1)."""

    STARTED = "Started"
    FINISHED = "Finished"
    FAILED = "Failed"
    STATUS_CHANGED = "StatusChanged"
    RECONCILE_ERROR = "ReconcileError"
    RECONCILE_TIMEOUT = "ReconcileTimeout"
    NOT_FOUND = "NotFound"


class CheckType(StrEnum):
    """``spec.checkType`` of a KeptnTask or KeptnEvaluation; also the first part of its name."""

    PRE = "pre"
    POST = "post"
    PROMOTION = "promotion"
    PRE_EVAL = "pre-eval"
    POST_EVAL = "post-eval"


class ObjectType(StrEnum):
    """``KEPTN_CONTEXT.objectType``: which kind of object a task runs for."""

    APP = "App"
    WORKLOAD = "Workload"
