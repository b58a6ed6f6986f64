"""Turning changes of lifecycle objects into the sentences ``klt run`` shows, and the final summary.

Pure functions of (previous, current) objects, so what the user reads is unit-tested without a stack.
"""

from __future__ import annotations

from klt.objects import Snapshot
from shared.keptn.lifecycle import (
    ItemStatus,
    KeptnAppVersion,
    KeptnEvaluation,
    KeptnTask,
    KeptnWorkloadVersion,
    LifecycleObject,
)
from shared.keptn.states import KeptnState


def describe_change(previous: LifecycleObject | None, current: LifecycleObject) -> str | None:
    """One line about what changed in ``current`` since ``previous``, or None when nothing worth saying."""
    if isinstance(current, KeptnAppVersion | KeptnWorkloadVersion):
        return _phase_change(previous, current)
    if isinstance(current, KeptnTask):
        return _task_change(previous if isinstance(previous, KeptnTask) else None, current)
    return _evaluation_change(previous if isinstance(previous, KeptnEvaluation) else None, current)


def _phase_change(
    previous: LifecycleObject | None, current: KeptnAppVersion | KeptnWorkloadVersion
) -> str | None:
    before = (
        (previous.status.current_phase, previous.status.status)
        if isinstance(previous, KeptnAppVersion | KeptnWorkloadVersion)
        else ("", None)
    )
    now = (current.status.current_phase, current.status.status)
    if now == before or not current.status.current_phase:
        return None
    label = "AppVersion" if isinstance(current, KeptnAppVersion) else "WorkloadVersion"
    line = f"{label} {current.metadata.name}: {current.status.current_phase} {current.status.status}"
    if current.status.message and current.status.status is not KeptnState.SUCCEEDED:
        line += f" ({current.status.message})"
    return line


def _task_change(previous: KeptnTask | None, current: KeptnTask) -> str | None:
    status = current.status
    if previous is not None and previous.status.status == status.status:
        return None
    subject = f"Task {current.metadata.name} ({_task_owner(current)})"
    if status.status is KeptnState.SUCCEEDED:
        runs = "run" if status.attempts == 1 else "runs"
        return f"{subject}: Succeeded after {status.attempts} {runs}"
    if status.status is KeptnState.FAILED:
        detail = ": ".join(part for part in (status.reason, status.message) if part)
        return f"{subject}: Failed after {status.attempts} runs" + (f": {detail}" if detail else "")
    if status.status is KeptnState.PROGRESSING:
        return f"{subject}: running"
    return None


def _task_owner(task: KeptnTask) -> str:
    context = task.spec.context
    target = context.workload_name or context.app_name
    return f"{task.spec.task_definition}, {task.spec.check_type} of {target}"


def _evaluation_change(previous: KeptnEvaluation | None, current: KeptnEvaluation) -> str | None:
    status = current.status
    if previous is not None and (previous.status.overall_status, previous.status.retry_count) == (
        status.overall_status,
        status.retry_count,
    ):
        return None
    subject = f"Evaluation {current.metadata.name} ({current.spec.evaluation_definition})"
    findings = objective_findings(current)
    if status.overall_status is KeptnState.SUCCEEDED:
        return f"{subject}: Succeeded" + (f": {findings}" if findings else "")
    if status.overall_status is KeptnState.FAILED:
        return f"{subject}: Failed after {status.retry_count} of {current.spec.retries} tries: {findings}"
    if status.retry_count:
        return (
            f"{subject}: try {status.retry_count} of {current.spec.retries} not met yet, "
            f"next in {current.spec.retry_interval}: {findings}"
        )
    return None


def objective_findings(evaluation: KeptnEvaluation) -> str:
    """``metric: message`` for every objective.

    e.g. ``available-cpus: value '2' did not meet objective '>4'``."""
    parts = []
    for metric, item in sorted(evaluation.status.evaluation_status.items()):
        parts.append(f"{metric}: {item.message or item.status}")
    return "; ".join(parts)


# --- final summary --------------------------------------------------------------------------------


def summary(snapshot: Snapshot) -> list[str]:
    """The closing report: each AppVersion, its phases, its WorkloadVersions, every failed item and why."""
    lines: list[str] = []
    for av in snapshot.of_kind(KeptnAppVersion):
        lines.append(
            f"AppVersion {av.metadata.name} (app {av.spec.app_name}, version {av.spec.version}): "
            f"{av.status.status} in phase {av.status.current_phase or '-'}"
        )
        lines.append("  " + _app_phases(av))
        lines.extend("  " + line for line in _failed_items(av, snapshot))
        for ref in av.spec.workloads:
            wv = _workload_version(snapshot, av, ref.name, ref.version)
            if wv is None:
                lines.append(f"  Workload {ref.name} {ref.version}: not started")
                continue
            lines.append(
                f"  WorkloadVersion {wv.metadata.name}: {wv.status.status} "
                f"in phase {wv.status.current_phase or '-'}"
            )
            lines.append("    " + _workload_phases(wv))
            lines.extend("    " + line for line in _failed_items(wv, snapshot))
    succeeded = sum(1 for av in snapshot.of_kind(KeptnAppVersion) if av.status.status is KeptnState.SUCCEEDED)
    total = len(snapshot.of_kind(KeptnAppVersion))
    lines.append(f"{succeeded} of {total} AppVersions succeeded.")
    return lines


def _app_phases(av: KeptnAppVersion) -> str:
    s = av.status
    return (
        f"pre-deployment tasks {s.pre_deployment_status}, pre-deployment evaluations "
        f"{s.pre_deployment_evaluation_status}, workloads {s.workload_overall_status}, post-deployment tasks "
        f"{s.post_deployment_status}, post-deployment evaluations {s.post_deployment_evaluation_status}"
    )


def _workload_phases(wv: KeptnWorkloadVersion) -> str:
    s = wv.status
    return (
        f"pre-deployment tasks {s.pre_deployment_status}, pre-deployment evaluations "
        f"{s.pre_deployment_evaluation_status}, deployment {s.deployment_status}, post-deployment tasks "
        f"{s.post_deployment_status}, post-deployment evaluations {s.post_deployment_evaluation_status}"
    )


def _workload_version(
    snapshot: Snapshot, av: KeptnAppVersion, workload: str, version: str
) -> KeptnWorkloadVersion | None:
    for wv in snapshot.of_kind(KeptnWorkloadVersion):
        if (
            wv.metadata.namespace == av.metadata.namespace
            and wv.spec.app == av.spec.app_name
            and wv.spec.workload_name == f"{av.spec.app_name}-{workload}"
            and wv.spec.version == version
        ):
            return wv
    return None


def _failed_items(obj: KeptnAppVersion | KeptnWorkloadVersion, snapshot: Snapshot) -> list[str]:
    items: list[ItemStatus] = [
        *obj.status.pre_deployment_task_status,
        *obj.status.pre_deployment_evaluation_task_status,
        *obj.status.post_deployment_task_status,
        *obj.status.post_deployment_evaluation_task_status,
    ]
    if isinstance(obj, KeptnAppVersion):
        items.extend(obj.status.promotion_task_status)
    lines = []
    namespace = obj.metadata.namespace
    for item in items:
        if item.status is not KeptnState.FAILED:
            continue
        task = snapshot.objects.get(("KeptnTask", namespace, item.name))
        evaluation = snapshot.objects.get(("KeptnEvaluation", namespace, item.name))
        if isinstance(task, KeptnTask):
            why = ": ".join(p for p in (task.status.reason, task.status.message) if p)
            lines.append(f"✗ task {item.name} ({item.definition_name}) failed: {why or 'no reason given'}")
        elif isinstance(evaluation, KeptnEvaluation):
            lines.append(
                f"✗ evaluation {item.name} ({item.definition_name}) failed: {objective_findings(evaluation)}"
            )
        else:
            lines.append(f"✗ {item.name} ({item.definition_name}) failed")
    if not lines and obj.status.message and obj.status.status is not KeptnState.SUCCEEDED:
        lines.append(f"! {obj.status.message}")  # only when no failed item above already says why
    return lines
