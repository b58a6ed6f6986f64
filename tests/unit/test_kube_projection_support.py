"""Sample lifecycle objects, as the watcher stores them, for the projection tests (unit and integration).

One app ``shop`` (1.0) with one workload ``web`` (0.4) in namespace ``demo``: the KeptnApp (auto-created),
its KeptnWorkload (resourceReference: ReplicaSet ``web-5d8f``), the AppVersion ``shop-1.0-6b86b273``,
the WorkloadVersion ``shop-web-0.4``, an app pre-deployment task and a workload pre-deployment
evaluation. klt's own uids are deliberately unlike any cluster uid.
"""

from __future__ import annotations

from shared.keptn.lifecycle import (
    LIFECYCLE_API,
    ItemStatus,
    KeptnAppVersion,
    KeptnAppVersionSpec,
    KeptnAppVersionStatus,
    KeptnEvaluation,
    KeptnEvaluationSpec,
    KeptnTask,
    KeptnTaskSpec,
    KeptnTaskStatus,
    KeptnWorkload,
    KeptnWorkloadSpec,
    KeptnWorkloadStatus,
    KeptnWorkloadVersion,
    KeptnWorkloadVersionSpec,
    ResourceReference,
    TaskContext,
)
from shared.keptn.meta import ObjectMeta, OwnerReference
from shared.keptn.resources import KeptnApp, KeptnAppSpec, WorkloadRef
from shared.keptn.states import CheckType, KeptnState
from shared.naming import MANAGED_BY_KEPTN, MANAGED_BY_KEY

NS = "demo"
TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
NOW = "2025-01-01T10:00:00Z"


def _owner(kind: str, name: str, uid: str) -> list[OwnerReference]:
    return [OwnerReference(api_version=LIFECYCLE_API, kind=kind, name=name, uid=uid, controller=True)]


def app(*, managed: bool = True, version: str = "1.0") -> KeptnApp:
    labels = {MANAGED_BY_KEY: MANAGED_BY_KEPTN} if managed else {}
    return KeptnApp(
        metadata=ObjectMeta(name="shop", namespace=NS, uid="klt-app", labels=labels),
        spec=KeptnAppSpec(version=version, workloads=[WorkloadRef(name="web", version="0.4")]),
    )


def workload(rs_name: str = "web-5d8f", rs_uid: str = "") -> KeptnWorkload:
    return KeptnWorkload(
        metadata=ObjectMeta(name="shop-web", namespace=NS, uid="klt-workload"),
        spec=KeptnWorkloadSpec(
            app="shop",
            version="0.4",
            pre_deployment_evaluations=["ready"],
            resource_reference=ResourceReference(uid=rs_uid, kind="ReplicaSet", name=rs_name),
        ),
        status=KeptnWorkloadStatus(current_version="0.4"),
    )


def app_version(status: KeptnState = KeptnState.PROGRESSING) -> KeptnAppVersion:
    return KeptnAppVersion(
        metadata=ObjectMeta(
            name="shop-1.0-6b86b273",
            namespace=NS,
            uid="klt-av",
            creation_timestamp=NOW,
            annotations={"traceparent": TRACEPARENT},
            owner_references=_owner("KeptnApp", "shop", "klt-app"),
        ),
        spec=KeptnAppVersionSpec(
            app_name="shop",
            version="1.0",
            workloads=[WorkloadRef(name="web", version="0.4")],
            pre_deployment_tasks=["check"],
        ),
        status=KeptnAppVersionStatus(
            pre_deployment_status=status,
            status=status,
            current_phase="AppPreDeployTasks",
            pre_deployment_task_status=[
                ItemStatus(definition_name="check", status=status, name="pre-deployment-check-12345")
            ],
            start_time=NOW,
        ),
    )


def workload_version() -> KeptnWorkloadVersion:
    return KeptnWorkloadVersion(
        metadata=ObjectMeta(
            name="shop-web-0.4",
            namespace=NS,
            uid="klt-kwv",
            creation_timestamp=NOW,
            owner_references=_owner("KeptnWorkload", "shop-web", "klt-workload"),
        ),
        spec=KeptnWorkloadVersionSpec(
            app="shop",
            version="0.4",
            pre_deployment_evaluations=["ready"],
            resource_reference=ResourceReference(kind="ReplicaSet", name="web-5d8f"),
            workload_name="shop-web",
        ),
    )


def task(status: KeptnState = KeptnState.PROGRESSING) -> KeptnTask:
    return KeptnTask(
        metadata=ObjectMeta(
            name="pre-deployment-check-12345",
            namespace=NS,
            uid="klt-task",
            labels={"team": "shop"},
            owner_references=_owner("KeptnAppVersion", "shop-1.0-6b86b273", "klt-av"),
        ),
        spec=KeptnTaskSpec(
            task_definition="check",
            context=TaskContext(app_name="shop", app_version="1.0", task_type="pre", object_type="App"),
            check_type=CheckType.PRE,
        ),
        status=KeptnTaskStatus(status=status, start_time=NOW, job_name="klt-check-12345"),
    )


def evaluation() -> KeptnEvaluation:
    return KeptnEvaluation(
        metadata=ObjectMeta(
            name="pre-eval-ready-23456",
            namespace=NS,
            uid="klt-eval",
            owner_references=_owner("KeptnWorkloadVersion", "shop-web-0.4", "klt-kwv"),
        ),
        spec=KeptnEvaluationSpec(
            app_name="shop",
            workload="shop-web",
            workload_version="0.4",
            evaluation_definition="ready",
            check_type=CheckType.PRE_EVAL,
        ),
    )
