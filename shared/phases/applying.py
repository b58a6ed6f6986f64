"""Applying a worker's fact to the object it is about (task, evaluation, workload version).

Each function returns the new object, or None when the event changes nothing: it is about another
incarnation (uid differs), it was applied already (an attempt or round not newer than the one
recorded), or the object is already final (a Succeeded or Failed item is frozen, §4.1). That is what
makes redelivery and replay harmless: applying an event twice changes state once.
"""

from __future__ import annotations

import msgspec

from shared.keptn.lifecycle import KeptnEvaluation, KeptnTask, KeptnWorkloadVersion
from shared.keptn.states import KeptnState
from shared.messages import (
    DeployFinished,
    EvaluationFinished,
    EvaluationProgressed,
    TaskFinished,
    TaskStarted,
)

_FINAL = (KeptnState.SUCCEEDED, KeptnState.FAILED)


def _final(state: KeptnState) -> KeptnState:
    """A worker's end state: Succeeded, or Failed for anything else it might say."""
    return KeptnState.SUCCEEDED if state == KeptnState.SUCCEEDED else KeptnState.FAILED


def apply_task_event(task: KeptnTask, event: TaskStarted | TaskFinished) -> KeptnTask | None:
    """TaskStarted: the task is Progressing, ``attempts`` counts the attempt, ``startTime`` is the first
    attempt's. TaskFinished: the task's final status, times, reason and message."""
    if event.uid != task.metadata.uid or task.status.status in _FINAL:
        return None
    status = task.status
    if isinstance(event, TaskStarted):
        if event.attempt <= status.attempts:
            return None
        new_status = msgspec.structs.replace(
            status,
            status=KeptnState.PROGRESSING,
            attempts=event.attempt,
            start_time=status.start_time or event.start_time,
            job_name=event.job_name or status.job_name,
        )
    else:
        new_status = msgspec.structs.replace(
            status,
            status=_final(event.status),
            attempts=max(event.attempts, status.attempts),
            start_time=status.start_time or event.start_time,
            end_time=event.end_time,
            reason=event.reason,
            message=event.message,
        )
    return msgspec.structs.replace(task, status=new_status)


def apply_evaluation_event(
    evaluation: KeptnEvaluation, event: EvaluationProgressed | EvaluationFinished
) -> KeptnEvaluation | None:
    """EvaluationProgressed: a round ended without a final result (Progressing, ``retryCount``, the
    per-objective states). EvaluationFinished: the final ``overallStatus``."""
    status = evaluation.status
    if event.uid != evaluation.metadata.uid or status.overall_status in _FINAL:
        return None
    if isinstance(event, EvaluationProgressed):
        if event.retry_count <= status.retry_count and status.overall_status == KeptnState.PROGRESSING:
            return None
        new_status = msgspec.structs.replace(
            status,
            overall_status=KeptnState.PROGRESSING,
            retry_count=max(event.retry_count, status.retry_count),
            evaluation_status=dict(event.evaluation_status),
            start_time=status.start_time or event.start_time,
        )
    else:
        new_status = msgspec.structs.replace(
            status,
            overall_status=_final(event.overall_status),
            retry_count=max(event.retry_count, status.retry_count),
            evaluation_status=dict(event.evaluation_status),
            start_time=status.start_time or event.start_time,
            end_time=event.end_time,
        )
    return msgspec.structs.replace(evaluation, status=new_status)


def apply_deploy_finished(wv: KeptnWorkloadVersion, event: DeployFinished) -> KeptnWorkloadVersion | None:
    """The release step's result becomes ``deploymentStatus`` (only while it is Progressing); a failure
    is explained in ``status.message``. The next reconcile finishes or fails WorkloadDeploy."""
    status = wv.status
    if event.uid != wv.metadata.uid or status.deployment_status != KeptnState.PROGRESSING:
        return None
    if status.status in (KeptnState.FAILED, KeptnState.DEPRECATED):
        return None
    result = _final(event.status)
    message = status.message
    if result == KeptnState.FAILED:
        message = f"Deployment of {wv.metadata.name} failed: {event.message or 'no reason given'}"
    new_status = msgspec.structs.replace(status, deployment_status=result, message=message)
    return msgspec.structs.replace(wv, status=new_status)
