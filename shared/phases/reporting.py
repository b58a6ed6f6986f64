"""Lifecycle events as KLT records them (§8.3), built without I/O.

Reason ``<Phase><State>`` (e.g. ``AppPreDeployTasksStarted``), type Normal or Warning, message
``"<LongName>: <msg> / Namespace: <ns>, Name: <name>[, Version: <v>]"`` and KLT's annotations
(namespace, name, phase, the per-kind keys, traceparent). The id is deterministic: the object's uid
and the reason (plus a detail where one reason can happen more than once), so an event decided twice
is published once (JetStream de-duplicates by ``Nats-Msg-Id``).
"""

from __future__ import annotations

from shared.keptn.lifecycle import (
    KeptnAppVersion,
    KeptnEvaluation,
    KeptnTask,
    KeptnWorkloadVersion,
)
from shared.keptn.states import Phase
from shared.messages import LifecycleEvent

Reported = KeptnAppVersion | KeptnWorkloadVersion | KeptnTask | KeptnEvaluation

NORMAL = "Normal"
WARNING = "Warning"


def kind_annotations(obj: Reported) -> dict[str, str]:
    """KLT's ``GetEventAnnotations`` of each kind."""
    if isinstance(obj, KeptnAppVersion):
        return {
            "appName": obj.spec.app_name,
            "appVersion": obj.spec.version,
            "appVersionName": obj.metadata.name,
        }
    if isinstance(obj, KeptnWorkloadVersion):
        return {
            "appName": obj.spec.app,
            "workloadName": obj.spec.workload_name,
            "workloadVersion": obj.spec.version,
            "workloadVersionName": obj.metadata.name,
        }
    if isinstance(obj, KeptnTask):
        context = obj.spec.context
        return {
            "appName": context.app_name,
            "appVersion": context.app_version,
            "workloadName": context.workload_name,
            "workloadVersion": context.workload_version,
            "taskName": obj.metadata.name,
            "taskDefinitionName": obj.spec.task_definition,
        }
    return {
        "appName": obj.spec.app_name,
        "appVersion": obj.spec.app_version,
        "workloadName": obj.spec.workload,
        "workloadVersion": obj.spec.workload_version,
        "evaluationName": obj.metadata.name,
        "evaluationDefinitionName": obj.spec.evaluation_definition,
    }


def lifecycle_event(
    obj: Reported,
    phase: Phase,
    state: str,
    event_type: str,
    text: str,
    *,
    version: str,
    now: str,
    detail: str = "",
) -> LifecycleEvent:
    """One event about ``obj``; ``version`` is the parent's version as KLT passes it (may be empty)."""
    meta = obj.metadata
    reason = f"{phase.value}{state}"
    message = f"{phase.long_name}: {text} / Namespace: {meta.namespace}, Name: {meta.name}"
    if version:
        message += f", Version: {version}"
    annotations = {"namespace": meta.namespace, "name": meta.name, "phase": phase.value}
    annotations.update(kind_annotations(obj))
    traceparent = meta.annotations.get("traceparent", "")
    if traceparent:
        annotations["traceparent"] = traceparent
    event_id = f"{meta.uid}:{reason}" + (f":{detail}" if detail else "")
    return LifecycleEvent(
        reason=reason,
        event_type=event_type,
        message=message,
        kind=obj.kind,
        namespace=meta.namespace,
        name=meta.name,
        phase=phase.value,
        long_name=phase.long_name,
        state=state,
        annotations=annotations,
        timestamp=now,
        id=event_id,
    )
