"""One evaluation round, pure (klt-facts §5): sticky objectives, retry counting, KLT's messages."""

from __future__ import annotations

from services.evaluator.handlers import (
    EvaluationProgress,
    MetricReading,
    evaluate_round,
    failure_message,
    finished_event,
    metric_namespaces,
    pending_objectives,
    start,
)
from shared.keptn.lifecycle import EvaluationStatusItem
from shared.keptn.meta import ObjectMeta
from shared.keptn.resources import (
    KeptnEvaluationDefinition,
    KeptnEvaluationDefinitionSpec,
    MetricRef,
    Objective,
)
from shared.keptn.states import CheckType, KeptnState
from shared.messages import RunEvaluation


def _definition(*targets: tuple[str, str]) -> KeptnEvaluationDefinition:
    return KeptnEvaluationDefinition(
        metadata=ObjectMeta(name="my-eval", namespace="ns"),
        spec=KeptnEvaluationDefinitionSpec(
            objectives=[
                Objective(keptn_metric_ref=MetricRef(name=m), evaluation_target=t) for m, t in targets
            ]
        ),
    )


def _command(retries: int = 3) -> RunEvaluation:
    return RunEvaluation(
        namespace="ns", name="pre-eval-my-eval-12345", uid="u1", evaluation_definition="my-eval",
        check_type=CheckType.PRE_EVAL, retries=retries, retry_interval="1s",
    )  # fmt: skip


def _round(
    definition: KeptnEvaluationDefinition, progress: EvaluationProgress, retries: int = 3, **values: str
) -> EvaluationProgress:
    readings = {name.replace("_", "-"): MetricReading(value=v) for name, v in values.items()}
    return evaluate_round(definition, progress, readings, retries=retries, now="t", next_round_at=99.0)


def test_all_objectives_met_succeeds_in_one_round() -> None:
    definition = _definition(("cpus", ">0"), ("mem", "<=10"))
    after = _round(definition, start(_command(), "t0"), cpus="2", mem="10")
    assert after.overall_status == KeptnState.SUCCEEDED
    assert after.retry_count == 1
    assert after.finished
    assert after.evaluation_status["cpus"] == EvaluationStatusItem(
        value="2", status=KeptnState.SUCCEEDED, message="value '2' met objective '>0'"
    )
    assert after.start_time == "t0"
    assert after.end_time == "t"
    assert after.message == ""


def test_unmet_objective_progresses_then_fails_when_retries_are_used_up() -> None:
    definition = _definition(("cpus", ">1000"))
    progress = start(_command(), "t0")
    for expected_count in (1, 2):
        progress = _round(definition, progress, cpus="2")
        assert progress.overall_status == KeptnState.PROGRESSING
        assert progress.retry_count == expected_count
        assert progress.next_round_at == 99.0
    progress = _round(definition, progress, cpus="2")
    assert progress.overall_status == KeptnState.FAILED
    assert progress.retry_count == 3
    assert progress.message == (
        "evaluation failed\n"
        "evaluation of 'cpus' failed with value: '2' and reason: 'value '2' did not meet objective '>1000''"
    )


def test_a_passed_objective_stays_passed_and_is_not_read_again() -> None:
    definition = _definition(("a", ">5"), ("b", ">0"))
    progress = _round(definition, start(_command(), "t0"), a="10", b="0")
    assert progress.evaluation_status["a"].status == KeptnState.SUCCEEDED
    assert progress.evaluation_status["b"].status == KeptnState.FAILED
    assert [o.keptn_metric_ref.name for o in pending_objectives(definition, progress)] == ["b"]
    # "a" dropped to 0, but it already passed: only "b" decides the next round.
    progress = _round(definition, progress, a="0", b="1")
    assert progress.overall_status == KeptnState.SUCCEEDED
    assert progress.evaluation_status["a"].value == "10"


def test_missing_value_is_a_failed_item_with_klt_message() -> None:
    definition = _definition(("cpus", ">0"))
    progress = evaluate_round(definition, start(_command(1), "t0"), {}, retries=1, now="t", next_round_at=0.0)
    assert progress.evaluation_status["cpus"] == EvaluationStatusItem(
        value="", status=KeptnState.FAILED, message="empty value for: cpus"
    )
    reading = {"cpus": MetricReading(error="no values in query result")}
    progress = evaluate_round(
        definition, start(_command(1), "t0"), reading, retries=1, now="t", next_round_at=0
    )
    assert progress.evaluation_status["cpus"].message == "empty value for: cpus (no values in query result)"


def test_invalid_target_fails_the_objective_naming_definition_and_objective() -> None:
    definition = _definition(("cpus", "about 5"))
    progress = _round(definition, start(_command(1), "t0"), retries=1, cpus="2")
    item = progress.evaluation_status["cpus"]
    assert item.status == KeptnState.FAILED
    assert "KeptnEvaluationDefinition 'my-eval', objective 'cpus': invalid evaluationTarget" in item.message
    assert "about 5" in item.message


def test_comparison_operators() -> None:
    cases = {"<=2": True, ">=2": True, "==2": True, "!=2": False, "<2": False, ">2": False, "!=3": True}
    for target, met in cases.items():
        progress = _round(_definition(("m", target)), start(_command(1), "t0"), retries=1, m="2")
        assert (progress.evaluation_status["m"].status == KeptnState.SUCCEEDED) is met, target


def test_failure_message_lists_only_failed_objectives_in_definition_order() -> None:
    statuses = {
        "b": EvaluationStatusItem(value="1", status=KeptnState.FAILED, message="x"),
        "a": EvaluationStatusItem(value="2", status=KeptnState.SUCCEEDED, message="y"),
        "c": EvaluationStatusItem(value="", status=KeptnState.FAILED, message="empty value for: c"),
    }
    assert failure_message(statuses) == (
        "evaluation failed\n"
        "evaluation of 'b' failed with value: '1' and reason: 'x'\n"
        "evaluation of 'c' failed with value: '' and reason: 'empty value for: c'"
    )


def test_metric_namespace_order() -> None:
    assert metric_namespaces(MetricRef(name="m", namespace="other"), "ns", "keptn") == ["other"]
    assert metric_namespaces(MetricRef(name="m"), "ns", "keptn") == ["ns", "keptn"]
    assert metric_namespaces(MetricRef(name="m"), "keptn", "keptn") == ["keptn"]


def test_no_objectives_succeeds_and_finished_event_carries_the_progress() -> None:
    command = _command()
    progress = _round(_definition(), start(command, "t0"))
    event = finished_event(command, progress)
    assert event.overall_status == KeptnState.SUCCEEDED
    assert (event.retry_count, event.start_time, event.end_time) == (1, "t0", "t")
    assert event.msg_id == "u1:finished"
