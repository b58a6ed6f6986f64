"""The evaluator's decisions, pure: one evaluation round given the metric values (klt-facts §5).

A round evaluates every objective of the KeptnEvaluationDefinition that has not yet succeeded — an
objective that passed stays passed across retries (sticky) — and counts one more try. All objectives
met → Succeeded. Otherwise, once ``retryCount`` reaches ``retries`` → Failed; else another round
follows after ``retryInterval``. Unlike KLT, which notices the exhausted retries only at its next
reconcile (one ``retryInterval`` later), klt fails right after the last round; and a round always runs
at least once, even with ``retries: 0``.

``EvaluationProgress`` is what the service persists between rounds, so a crash or redelivery resumes
the evaluation where it stopped instead of restarting it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import msgspec

from shared.keptn.lifecycle import EvaluationStatusItem
from shared.keptn.resources import KeptnEvaluationDefinition, MetricRef, Objective
from shared.keptn.states import KeptnState
from shared.messages import EvaluationFinished, EvaluationProgressed, RunEvaluation
from shared.targets import TargetError, parse_target


class EvaluationProgress(msgspec.Struct, kw_only=True, rename="camel"):
    """The evaluator's durable book-keeping for one KeptnEvaluation (evaluation-runs bucket)."""

    uid: str
    retry_count: int = 0
    evaluation_status: dict[str, EvaluationStatusItem] = msgspec.field(default_factory=dict)
    overall_status: KeptnState = KeptnState.PENDING
    start_time: str = ""
    end_time: str = ""
    next_round_at: float = 0.0
    """Epoch seconds at which the next round is due (wall clock, so it survives a restart)."""
    message: str = ""

    @property
    def finished(self) -> bool:
        return self.overall_status in (KeptnState.SUCCEEDED, KeptnState.FAILED)


progress_decoder = msgspec.json.Decoder(EvaluationProgress)
progress_encoder = msgspec.json.Encoder()


@dataclass(frozen=True, slots=True)
class MetricReading:
    """A KeptnMetric's current value as the evaluator found it; ``value`` is ``""`` when there is none,
    and ``error`` then says why (not found, the provider failed, the metrics-provider did not answer)."""

    value: str = ""
    error: str = ""


def start(command: RunEvaluation, now: str) -> EvaluationProgress:
    """The progress of an evaluation that has not run a round yet (KLT's ``SetStartTime``)."""
    return EvaluationProgress(uid=command.uid, start_time=now)


def metric_namespaces(ref: MetricRef, evaluation_namespace: str, keptn_namespace: str) -> list[str]:
    """Where to look for an objective's KeptnMetric: its ref's namespace if set, else the evaluation's,
    then the Keptn namespace (§5)."""
    if ref.namespace:
        return [ref.namespace]
    return list(dict.fromkeys([evaluation_namespace, keptn_namespace]))


def pending_objectives(
    definition: KeptnEvaluationDefinition, progress: EvaluationProgress
) -> list[Objective]:
    """The objectives this round must read a value for (the ones that have not succeeded yet)."""
    return [
        objective
        for objective in definition.spec.objectives
        if not _succeeded(progress.evaluation_status.get(objective.keptn_metric_ref.name))
    ]


def _succeeded(item: EvaluationStatusItem | None) -> bool:
    return item is not None and item.status == KeptnState.SUCCEEDED


def evaluate_objective(
    definition_name: str, objective: Objective, reading: MetricReading
) -> EvaluationStatusItem:
    """Check one objective's value against its ``evaluationTarget`` (KLT's messages, §5)."""
    metric = objective.keptn_metric_ref.name
    if not reading.value:
        message = f"empty value for: {metric}"
        if reading.error:
            message += f" ({reading.error})"
        return EvaluationStatusItem(status=KeptnState.FAILED, message=message)
    try:
        target = parse_target(objective.evaluation_target)
    except TargetError as exc:
        return EvaluationStatusItem(
            value=reading.value,
            status=KeptnState.FAILED,
            message=(
                f"KeptnEvaluationDefinition '{definition_name}', objective '{metric}': "
                f"invalid evaluationTarget: {exc}"
            ),
        )
    met, message = target.check(reading.value)
    return EvaluationStatusItem(
        value=reading.value, status=KeptnState.SUCCEEDED if met else KeptnState.FAILED, message=message
    )


def evaluate_round(
    definition: KeptnEvaluationDefinition,
    progress: EvaluationProgress,
    readings: Mapping[str, MetricReading],
    *,
    retries: int,
    now: str,
    next_round_at: float,
) -> EvaluationProgress:
    """One round: the progress after it (``finished`` tells whether it was the last)."""
    statuses: dict[str, EvaluationStatusItem] = {}
    all_met = True
    for objective in definition.spec.objectives:
        metric = objective.keptn_metric_ref.name
        previous = progress.evaluation_status.get(metric)
        if _succeeded(previous):
            assert previous is not None
            statuses[metric] = previous
            continue
        item = evaluate_objective(definition.metadata.name, objective, readings.get(metric, MetricReading()))
        statuses[metric] = item
        all_met = all_met and item.status == KeptnState.SUCCEEDED
    retry_count = progress.retry_count + 1
    if all_met:
        return msgspec.structs.replace(
            progress,
            retry_count=retry_count,
            evaluation_status=statuses,
            overall_status=KeptnState.SUCCEEDED,
            end_time=now,
            next_round_at=0.0,
            message="",
        )
    if retry_count >= retries:
        return msgspec.structs.replace(
            progress,
            retry_count=retry_count,
            evaluation_status=statuses,
            overall_status=KeptnState.FAILED,
            end_time=now,
            next_round_at=0.0,
            message=failure_message(statuses),
        )
    return msgspec.structs.replace(
        progress,
        retry_count=retry_count,
        evaluation_status=statuses,
        overall_status=KeptnState.PROGRESSING,
        next_round_at=next_round_at,
    )


def fail(progress: EvaluationProgress, message: str, now: str) -> EvaluationProgress:
    """End an evaluation that cannot run at all (e.g. a ``retryInterval`` that is no duration)."""
    return msgspec.structs.replace(
        progress, overall_status=KeptnState.FAILED, end_time=now, next_round_at=0.0, message=message
    )


def failure_message(statuses: Mapping[str, EvaluationStatusItem]) -> str:
    """KLT's Warning text for a failed evaluation: ``evaluation failed`` and one line per failed objective."""
    lines = ["evaluation failed"]
    for metric, item in statuses.items():
        if item.status == KeptnState.FAILED:
            lines.append(
                f"evaluation of '{metric}' failed with value: '{item.value}' and reason: '{item.message}'"
            )
    return "\n".join(lines)


def progressed_event(command: RunEvaluation, progress: EvaluationProgress) -> EvaluationProgressed:
    return EvaluationProgressed(
        namespace=command.namespace,
        name=command.name,
        uid=command.uid,
        retry_count=progress.retry_count,
        evaluation_status=progress.evaluation_status,
        start_time=progress.start_time,
    )


def finished_event(command: RunEvaluation, progress: EvaluationProgress) -> EvaluationFinished:
    return EvaluationFinished(
        namespace=command.namespace,
        name=command.name,
        uid=command.uid,
        overall_status=progress.overall_status,
        retry_count=progress.retry_count,
        evaluation_status=progress.evaluation_status,
        start_time=progress.start_time,
        end_time=progress.end_time,
        message=progress.message,
    )
