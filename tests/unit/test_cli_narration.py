"""What `klt run` tells the user: change lines and the closing summary, from objects alone."""

from __future__ import annotations

import msgspec

from klt.narration import describe_change, summary
from klt.objects import Snapshot
from shared.keptn.lifecycle import (
    EvaluationStatusItem,
    ItemStatus,
    KeptnAppVersion,
    KeptnAppVersionSpec,
    KeptnEvaluation,
    KeptnEvaluationSpec,
    KeptnTask,
    KeptnTaskSpec,
    KeptnWorkloadVersion,
    KeptnWorkloadVersionSpec,
    ResourceReference,
    TaskContext,
)
from shared.keptn.meta import ObjectMeta
from shared.keptn.resources import WorkloadRef
from shared.keptn.states import CheckType, KeptnState


def _app_version(phase: str, status: KeptnState) -> KeptnAppVersion:
    av = KeptnAppVersion(
        metadata=ObjectMeta(name="simplenode-1.0.2-6b86b273", namespace="dev"),
        spec=KeptnAppVersionSpec(
            app_name="simplenode",
            version="1.0.2",
            workloads=[WorkloadRef(name="simplenode", version="1.0.2")],
        ),
    )
    av.status.current_phase = phase
    av.status.status = status
    return av


def _evaluation(status: KeptnState, retry_count: int) -> KeptnEvaluation:
    evaluation = KeptnEvaluation(
        metadata=ObjectMeta(name="pre-eval-evaluate-dependencies-12345", namespace="dev"),
        spec=KeptnEvaluationSpec(
            evaluation_definition="evaluate-dependencies", check_type=CheckType.PRE_EVAL
        ),
    )
    evaluation.status.overall_status = status
    evaluation.status.retry_count = retry_count
    evaluation.status.evaluation_status = {
        "available-cpus": EvaluationStatusItem(
            value="2", status=KeptnState.FAILED, message="value '2' did not meet objective '>4'"
        )
    }
    return evaluation


def test_a_phase_change_is_one_line_and_a_repeat_is_silent() -> None:
    before = _app_version("AppPreDeployTasks", KeptnState.PROGRESSING)
    after = _app_version("AppPreDeployEvaluations", KeptnState.PROGRESSING)
    assert describe_change(before, after) == (
        "AppVersion simplenode-1.0.2-6b86b273: AppPreDeployEvaluations Progressing"
    )
    assert describe_change(after, msgspec.structs.replace(after)) is None


def test_a_failed_evaluation_says_which_objective_missed_and_why() -> None:
    line = describe_change(_evaluation(KeptnState.PROGRESSING, 9), _evaluation(KeptnState.FAILED, 10))
    assert line == (
        "Evaluation pre-eval-evaluate-dependencies-12345 (evaluate-dependencies): "
        "Failed after 10 of 10 tries: available-cpus: value '2' did not meet objective '>4'"
    )


def test_a_failed_task_shows_runs_reason_and_message() -> None:
    task = KeptnTask(
        metadata=ObjectMeta(name="pre-notify-12345", namespace="dev"),
        spec=KeptnTaskSpec(
            task_definition="notify",
            check_type=CheckType.PRE,
            context=TaskContext(workload_name="simplenode-simplenode", app_name="simplenode"),
        ),
    )
    task.status.status = KeptnState.FAILED
    task.status.attempts = 3
    task.status.reason = "BackoffLimitExceeded"
    task.status.message = "Job has reached the specified backoff limit"
    assert describe_change(None, task) == (
        "Task pre-notify-12345 (notify, pre of simplenode-simplenode): Failed after 3 runs: "
        "BackoffLimitExceeded: Job has reached the specified backoff limit"
    )


def test_summary_names_the_failed_item_of_the_failed_workload() -> None:
    snapshot = Snapshot()
    av = _app_version("AppDeploy", KeptnState.FAILED)
    av.status.workload_overall_status = KeptnState.FAILED
    snapshot.add(av)
    wv = KeptnWorkloadVersion(
        metadata=ObjectMeta(name="simplenode-simplenode-1.0.2", namespace="dev"),
        spec=KeptnWorkloadVersionSpec(
            app="simplenode",
            version="1.0.2",
            workload_name="simplenode-simplenode",
            resource_reference=ResourceReference(kind="Deployment", name="simplenode"),
        ),
    )
    wv.status.status = KeptnState.FAILED
    wv.status.current_phase = "WorkloadPreDeployEvaluations"
    wv.status.pre_deployment_evaluation_status = KeptnState.FAILED
    wv.status.pre_deployment_evaluation_task_status = [
        ItemStatus(
            definition_name="evaluate-dependencies",
            status=KeptnState.FAILED,
            name="pre-eval-evaluate-dependencies-12345",
        )
    ]
    snapshot.add(wv)
    snapshot.add(_evaluation(KeptnState.FAILED, 10))
    lines = summary(snapshot)
    assert lines[0] == (
        "AppVersion simplenode-1.0.2-6b86b273 (app simplenode, version 1.0.2): Failed in phase AppDeploy"
    )
    assert (
        "  WorkloadVersion simplenode-simplenode-1.0.2: Failed in phase WorkloadPreDeployEvaluations" in lines
    )
    assert (
        "    ✗ evaluation pre-eval-evaluate-dependencies-12345 (evaluate-dependencies) failed: "
        "available-cpus: value '2' did not meet objective '>4'"
    ) in lines
    assert lines[-1] == "0 of 1 AppVersions succeeded."
