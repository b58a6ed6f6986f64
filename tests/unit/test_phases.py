"""The phase machine against KLT's documented behaviour (klt-facts §3, §4.1, §5, §8.3)."""

from __future__ import annotations

import re

import msgspec
import pytest

from shared.keptn.lifecycle import KeptnAppVersion, KeptnTask
from shared.keptn.meta import ObjectMeta
from shared.keptn.states import KeptnState, Phase
from shared.phases import (
    APP_TABLE,
    Options,
    apply_deploy_finished,
    apply_evaluation_event,
    apply_task_event,
    deprecate_app_version,
    rollup,
)
from tests.unit.phases_harness import (
    NS,
    Harness,
    app_version,
    deploy_finished,
    evaluation_finished,
    task_finished,
    workload_version,
)

S, F, P, G, W, D, U = (
    KeptnState.SUCCEEDED,
    KeptnState.FAILED,
    KeptnState.PENDING,
    KeptnState.PROGRESSING,
    KeptnState.WARNING,
    KeptnState.DEPRECATED,
    KeptnState.UNKNOWN,
)


def _ids(tasks: tuple[KeptnTask, ...]) -> list[tuple[str, str]]:
    return [(t.metadata.name, t.metadata.uid) for t in tasks]


# --- §3.3 roll-up ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("items", "total", "expected"),
    [
        ([], 0, S),  # a phase without items passes at once
        ([S, S], 2, S),
        ([S, F, G], 3, F),  # Failed wins over everything
        ([S, D], 2, F),  # Deprecated counts as Failed
        ([S, G, P], 3, G),
        ([S, P], 2, P),
        (["", S], 2, P),  # '' is Pending
        ([S, U], 2, U),
        ([S], 2, P),  # a definition never found: fewer items than listed
        ([S, W], 2, P),  # Warning is not counted at all
        ([W], 1, P),  # ... so a lone Warning item leaves the phase Pending
    ],
)
def test_rollup_follows_get_overall_state(
    items: list[KeptnState | str], total: int, expected: KeptnState
) -> None:
    assert rollup(items, total) == expected


# --- app version: the happy path ------------------------------------------------------------------


def test_app_without_items_or_workloads_completes_in_one_call() -> None:
    h = Harness()
    outcome = h.reconcile_app(app_version())
    av = outcome.obj
    assert outcome.changed
    assert (av.status.current_phase, av.status.status) == ("Completed", S)
    assert av.status.start_time and av.status.end_time
    assert h.reasons() == [
        "AppPreDeployTasksStarted",
        "AppPreDeployTasksFinished",
        "AppPreDeployEvaluationsStarted",
        "AppPreDeployEvaluationsFinished",
        "AppDeployStarted",
        "AppDeployFinished",
        "AppPostDeployTasksStarted",
        "AppPostDeployTasksFinished",
        "AppPostDeployEvaluationsStarted",
        "AppPostDeployEvaluationsFinished",
        "AppCompletedFinished",
    ]
    assert h.events[0].message == (
        "App Pre-Deployment Tasks: has started / Namespace: demo, Name: shop-1.0-6b86b273, Version: 1.0"
    )
    assert h.events[0].annotations == {
        "namespace": NS,
        "name": "shop-1.0-6b86b273",
        "phase": "AppPreDeployTasks",
        "appName": "shop",
        "appVersion": "1.0",
        "appVersionName": "shop-1.0-6b86b273",
    }
    assert h.events[0].id == "uid-av:AppPreDeployTasksStarted"
    assert av.status.promotion_status == P  # PromotionTasks is off by default
    again = h.reconcile_app(av)
    assert not again.changed and again.events == ()


def test_promotion_phase_runs_only_when_enabled() -> None:
    h = Harness(options=Options(promotion_tasks_enabled=True)).define("promote")
    av = h.reconcile_app(app_version(promotion_tasks=["promote"])).obj
    assert (av.status.current_phase, av.status.status) == ("PromotionTasks", G)
    assert h.task_of("promote").spec.check_type == "promotion"
    h.finish_task("promote", S)
    av = h.reconcile_app(av).obj
    assert (av.status.promotion_status, av.status.status) == (S, S)

    off = Harness().define("promote")
    av = off.reconcile_app(app_version(promotion_tasks=["promote"])).obj
    assert av.status.status == S and off.tasks == {}


def test_pre_tasks_are_created_together_with_klt_specs() -> None:
    h = Harness().define("check-a", "check-b")
    h.task_definitions["check-b"].spec.retries = 2
    h.task_definitions["check-b"].spec.timeout = "30s"
    outcome = h.reconcile_app(app_version(pre_tasks=["check-a", "check-b"], metadata={"team": "shop"}))
    av = outcome.obj
    assert (av.status.current_phase, av.status.status, av.status.pre_deployment_status) == (
        "AppPreDeployTasks",
        G,
        P,
    )
    assert [t.spec.task_definition for t in outcome.new_tasks] == ["check-a", "check-b"]
    b = h.task_of("check-b")
    assert re.fullmatch(r"pre-check-b-\d{5}", b.metadata.name)
    assert (b.spec.retries, b.spec.timeout, b.spec.check_type) == (2, "30s", "pre")
    assert b.metadata.labels == {"team": "qa"}  # copied from the definition
    assert b.metadata.owner_references[0].uid == "uid-av"
    assert b.metadata.owner_references[0].kind == "KeptnAppVersion"
    context = b.spec.context
    assert (context.object_type, context.app_name, context.app_version, context.task_type) == (
        "App",
        "shop",
        "1.0",
        "pre",
    )
    assert (context.workload_name, context.workload_version) == ("", "")
    assert context.metadata == {"team": "shop"}
    items = av.status.pre_deployment_task_status
    assert [(i.definition_name, i.name, i.status) for i in items] == [
        ("check-a", h.task_of("check-a").metadata.name, P),
        ("check-b", b.metadata.name, P),
    ]
    assert all(i.start_time for i in items)
    # Deciding again from the same input gives the same items (deterministic names and uids).
    redo = h.reconcile_app(app_version(pre_tasks=["check-a", "check-b"], metadata={"team": "shop"}))
    assert _ids(redo.new_tasks) == _ids(outcome.new_tasks)
    # Once stored, nothing new is created while they run.
    assert h.reconcile_app(av).new_tasks == ()


def test_tasks_succeeding_move_the_app_to_its_workloads() -> None:
    h = Harness().define("check-a", "check-b")
    av = h.reconcile_app(app_version(workloads=[("web", "1.0")], pre_tasks=["check-a", "check-b"])).obj
    h.finish_task("check-a", S)
    av = h.reconcile_app(av).obj
    assert (av.status.current_phase, av.status.pre_deployment_status) == ("AppPreDeployTasks", P)
    h.finish_task("check-b", S)
    outcome = h.reconcile_app(av)
    av = outcome.obj
    assert (av.status.pre_deployment_status, av.status.pre_deployment_evaluation_status) == (S, S)
    assert av.status.current_phase == "AppDeploy"
    assert av.status.workload_overall_status == P
    assert all(i.status == S and i.end_time for i in av.status.pre_deployment_task_status)
    assert "ReconcileWorkloadNotFound" in [e.reason for e in outcome.events]
    assert "KeptnWorkloadVersion 'shop-web-1.0' not found" in av.status.message


# --- failure, §3.4 -----------------------------------------------------------------------------------

_DEPRECATED_AFTER = {
    # KLT's DeprecateRemainingPhases table, literally (§3.4).
    Phase.APP_PRE_DEPLOY_TASKS: {
        "pre_deployment_evaluation_status",
        "workload_overall_status",
        "post_deployment_status",
        "post_deployment_evaluation_status",
        "promotion_status",
    },
    Phase.APP_PRE_DEPLOY_EVALUATIONS: {
        "workload_overall_status",
        "post_deployment_status",
        "post_deployment_evaluation_status",
        "promotion_status",
    },
    Phase.APP_DEPLOY: {"post_deployment_status", "post_deployment_evaluation_status", "promotion_status"},
    Phase.APP_POST_DEPLOY_TASKS: {"post_deployment_evaluation_status", "promotion_status"},
    Phase.APP_POST_DEPLOY_EVALUATIONS: {"promotion_status"},
}


def _fail_app_in(phase: Phase) -> tuple[Harness, KeptnAppVersion]:
    h = Harness().define("t", evaluations=("e",))
    h.workload_versions["shop-web-1.0"] = workload_version()
    kwargs: dict[str, list[str]] = {
        Phase.APP_PRE_DEPLOY_TASKS: {"pre_tasks": ["t"]},
        Phase.APP_PRE_DEPLOY_EVALUATIONS: {"pre_evaluations": ["e"]},
        Phase.APP_DEPLOY: {},
        Phase.APP_POST_DEPLOY_TASKS: {"post_tasks": ["t"]},
        Phase.APP_POST_DEPLOY_EVALUATIONS: {"post_evaluations": ["e"]},
    }[phase]
    av = app_version(workloads=[("web", "1.0")], **kwargs)
    if phase == Phase.APP_DEPLOY:
        h.workload_versions["shop-web-1.0"].status.status = F
        h.workload_versions[
            "shop-web-1.0"
        ].status.message = "Task 'migrate' of shop-web-1.0 failed: exit code 3"
    else:
        h.workload_versions["shop-web-1.0"].status.status = S
    av = h.reconcile_app(av).obj
    if phase in (Phase.APP_PRE_DEPLOY_TASKS, Phase.APP_POST_DEPLOY_TASKS):
        h.finish_task("t", F, "exit code 1")
    elif phase != Phase.APP_DEPLOY:
        h.finish_evaluation("e", F, value="9")
    return h, h.reconcile_app(av).obj


@pytest.mark.parametrize("phase", list(_DEPRECATED_AFTER))
def test_a_failed_app_phase_deprecates_exactly_the_later_ones(phase: Phase) -> None:
    h, av = _fail_app_in(phase)
    status = av.status
    assert (status.status, status.current_phase) == (F, phase.value)
    assert status.end_time
    failed_field = next(spec.state_field for spec in APP_TABLE if spec.phase == phase)
    assert getattr(status, failed_field) == F
    deprecated = {spec.state_field for spec in APP_TABLE if getattr(status, spec.state_field) == D}
    assert deprecated == _DEPRECATED_AFTER[phase]
    assert h.reasons()[-2:] == [f"{phase.value}Failed", "AppCompletedFailed"]
    assert h.events[-1].message.startswith("App Completed: has failed")
    assert h.events[-1].event_type == "Warning"
    # Nothing moves a failed AppVersion again.
    again = h.reconcile_app(av)
    assert not again.changed and again.events == () and again.new_tasks == ()


def test_failure_messages_name_the_item_and_the_reason() -> None:
    _, av = _fail_app_in(Phase.APP_PRE_DEPLOY_TASKS)
    assert av.status.message == "Task 't' of shop-1.0-6b86b273 failed: exit code 1"
    h, av = _fail_app_in(Phase.APP_PRE_DEPLOY_EVALUATIONS)
    assert av.status.message == (
        "Evaluation 'e' of shop-1.0-6b86b273 failed: evaluation of 'cpu' failed with value: '9' "
        "and reason: 'value '9' did not meet objective '<5''"
    )
    failed_event = next(e for e in h.events if e.reason == "ReconcileEvaluationFailed")
    assert failed_event.kind == "KeptnEvaluation"
    assert failed_event.message.startswith(
        "Reconcile Evaluation: evaluation failed\nevaluation of 'cpu' failed with value: '9'"
    )
    assert failed_event.annotations["evaluationDefinitionName"] == "e"
    _, av = _fail_app_in(Phase.APP_DEPLOY)
    assert av.status.workload_status[0].status == F
    assert av.status.message == (
        "Workload version 'shop-web-1.0' failed: Task 'migrate' of shop-web-1.0 failed: exit code 3"
    )


def test_non_blocking_mode_turns_failed_checks_into_warnings() -> None:
    h = Harness(options=Options(block_deployment=False)).define("t", evaluations=("e",))
    av = h.reconcile_app(app_version(pre_tasks=["t"], post_evaluations=["e"])).obj
    h.finish_task("t", F, "exit code 1")
    av = h.reconcile_app(av).obj
    assert av.status.pre_deployment_status == W
    assert av.status.pre_deployment_task_status[0].status == F  # the item still shows Failed
    assert av.status.current_phase == "AppPostDeployEvaluations"
    h.finish_evaluation("e", F)
    av = h.reconcile_app(av).obj
    assert (av.status.status, av.status.current_phase) == (S, "Completed")
    assert av.status.post_deployment_evaluation_status == W
    assert "AppPreDeployTasksFinished" in h.reasons()
    assert "Task 't' of shop-1.0-6b86b273 failed: exit code 1 (non-blocking)" in av.status.message


def test_non_blocking_mode_still_needs_every_workload_to_succeed() -> None:
    h = Harness(options=Options(block_deployment=False))
    h.workload_versions["shop-web-1.0"] = workload_version()
    h.workload_versions["shop-web-1.0"].status.status = F
    av = h.reconcile_app(app_version(workloads=[("web", "1.0")])).obj
    assert (av.status.status, av.status.workload_overall_status) == (F, F)


# --- missing definitions (§3.3 rule 5) ----------------------------------------------------------------


def test_a_missing_definition_keeps_the_phase_pending_and_says_so_once() -> None:
    h = Harness().define("present")
    av = h.reconcile_app(app_version(pre_tasks=["present", "absent"])).obj
    assert (av.status.pre_deployment_status, av.status.status) == (P, G)
    assert [i.definition_name for i in av.status.pre_deployment_task_status] == ["present"]
    assert av.status.message == (
        "AppPreDeployTasks of shop-1.0-6b86b273 is waiting: KeptnTaskDefinition 'absent' not found"
    )
    (not_found,) = [e for e in h.events if e.reason == "CreateTaskNotFound"]
    assert not_found.message.startswith("Create Task: could not find KeptnTaskDefinition: absent")
    h.finish_task("present", S)
    av = h.reconcile_app(av).obj
    assert av.status.pre_deployment_status == P  # one item of two: still Pending
    assert h.reasons().count("CreateTaskNotFound") == 1
    h.define("absent")
    av = h.reconcile_app(av).obj
    assert av.status.message == ""
    h.finish_task("absent", S)
    assert h.reconcile_app(av).obj.status.status == S


def test_a_missing_evaluation_definition_is_reported_too() -> None:
    h = Harness()
    av = h.reconcile_app(app_version(pre_evaluations=["slo"])).obj
    assert av.status.pre_deployment_evaluation_status == P
    assert "CreateEvaluationNotFound" in h.reasons()
    assert "KeptnEvaluationDefinition 'slo' not found" in av.status.message


def test_evaluations_take_retries_from_their_definition() -> None:
    h = Harness().define(evaluations=("slo",))
    h.evaluation_definitions["slo"].spec.retries = 3
    h.evaluation_definitions["slo"].spec.retry_interval = "2s"
    h.reconcile_app(app_version(pre_evaluations=["slo"]))
    evaluation = h.evaluation_of("slo")
    assert re.fullmatch(r"pre-eval-slo-\d{5}", evaluation.metadata.name)
    spec = evaluation.spec
    assert (spec.retries, spec.retry_interval, spec.check_type) == (3, "2s", "pre-eval")
    assert (spec.app_name, spec.app_version, spec.workload, spec.workload_version) == ("shop", "1.0", "", "")


def test_an_item_name_held_by_another_object_is_not_reused() -> None:
    h = Harness().define("t")
    first = h.reconcile_app(app_version(pre_tasks=["t"])).new_tasks[0]
    stranger = first.metadata.name
    h.tasks[stranger] = msgspec.structs.replace(
        first, metadata=ObjectMeta(name=stranger, namespace=NS, uid="someone-else")
    )
    created = h.reconcile_app(app_version(pre_tasks=["t"])).new_tasks[0]
    assert created.metadata.name != stranger
    assert created.metadata.uid == first.metadata.uid


def test_a_vanished_task_is_recreated_under_its_name() -> None:
    h = Harness().define("t")
    outcome = h.reconcile_app(app_version(pre_tasks=["t"]))
    h.tasks.clear()
    again = h.reconcile_app(outcome.obj)
    assert _ids(again.new_tasks) == _ids(outcome.new_tasks)
    assert not again.changed


# --- workload versions ------------------------------------------------------------------------------


def test_workload_waits_for_its_app_version_and_reports_why() -> None:
    h = Harness()
    wv = h.reconcile_workload(workload_version()).obj
    assert (wv.status.current_phase, wv.status.status) == ("", P)
    assert wv.status.start_time
    assert "AppPreDeployEvaluationsAppVersionNotFound" in h.reasons()
    assert "no KeptnAppVersion of app 'shop' lists workload 'shop-web'" in wv.status.message

    h.app_version = app_version(workloads=[("web", "1.0")])
    h.app_version.status.pre_deployment_evaluation_status = G
    wv = h.reconcile_workload(wv).obj
    assert (wv.status.current_phase, wv.status.message) == ("", "")

    h.app_version.status.pre_deployment_evaluation_status = W  # a Warning does not open the gate
    assert h.reconcile_workload(wv).obj.status.current_phase == ""

    h.options = Options(block_deployment=False)  # klt opens the gate on a Warning in non-blocking mode only
    assert h.reconcile_workload(wv).obj.status.current_phase == "WorkloadDeploy"
    h.options = Options()

    h.app_version.status.pre_deployment_evaluation_status = F
    wv = h.reconcile_workload(wv).obj
    assert wv.status.current_phase == ""
    assert "AppPreDeployEvaluationsFailed" in h.reasons()
    assert "failed its pre-deployment checks" in wv.status.message


def test_workload_starts_after_app_pre_evaluations_with_its_context() -> None:
    h = Harness().define("wl-check")
    h.app_version = app_version(workloads=[("web", "1.0")], metadata={"env": "prod", "team": "app"})
    h.app_version.status.pre_deployment_evaluation_status = S
    wv = h.reconcile_workload(workload_version(pre_tasks=["wl-check"], metadata={"team": "web"})).obj
    assert wv.status.current_phase == "WorkloadPreDeployTasks"
    assert wv.status.app_context_metadata == {"env": "prod", "team": "app"}
    context = h.task_of("wl-check").spec.context
    assert (context.object_type, context.workload_name, context.app_name, context.workload_version) == (
        "Workload",
        "shop-web",
        "shop",
        "1.0",
    )
    assert context.app_version == ""
    assert context.metadata == {"env": "prod", "team": "web"}  # the workload's own metadata wins


def test_workload_deploy_phase_starts_the_release_step_once_and_waits() -> None:
    h = Harness()
    h.app_version = app_version(workloads=[("web", "1.0")])
    h.app_version.status.pre_deployment_evaluation_status = S
    outcome = h.reconcile_workload(workload_version())
    wv = outcome.obj
    assert outcome.start_deploy
    assert (wv.status.current_phase, wv.status.deployment_status, wv.status.status) == (
        "WorkloadDeploy",
        G,
        G,
    )
    assert wv.status.deployment_start_time
    assert not h.reconcile_workload(wv).start_deploy
    wv = h.finish_deploy(wv, S)
    wv = h.reconcile_workload(wv).obj
    assert (wv.status.current_phase, wv.status.status, wv.status.deployment_status) == ("Completed", S, S)
    assert h.reasons()[-1] == "WorkloadCompletedFinished"


def test_a_failed_release_step_fails_the_workload_and_deprecates_post_phases() -> None:
    h = Harness()
    h.app_version = app_version(workloads=[("web", "1.0")])
    h.app_version.status.pre_deployment_evaluation_status = S
    wv = h.reconcile_workload(workload_version()).obj
    wv = h.finish_deploy(wv, F, "exit code 2: rollout failed")
    wv = h.reconcile_workload(wv).obj
    status = wv.status
    assert (status.status, status.deployment_status, status.current_phase) == (F, F, "WorkloadDeploy")
    assert (status.post_deployment_status, status.post_deployment_evaluation_status) == (D, D)
    assert (status.pre_deployment_status, status.pre_deployment_evaluation_status) == (S, S)
    assert status.message == "Deployment of shop-web-1.0 failed: exit code 2: rollout failed"
    assert h.reasons()[-2:] == ["WorkloadDeployFailed", "WorkloadCompletedFailed"]


def test_a_release_step_timeout_is_reported_as_klt_does() -> None:
    h = Harness()
    h.app_version = app_version(workloads=[("web", "1.0")])
    h.app_version.status.pre_deployment_evaluation_status = S
    wv = h.reconcile_workload(workload_version()).obj
    wv = h.reconcile_workload(h.finish_deploy(wv, F, "has reached timeout")).obj
    timeout = next(e for e in h.events if e.reason == "WorkloadDeployFinished")
    assert (timeout.event_type, timeout.message.split(" / ")[0]) == (
        "Warning",
        "Workload Deployment: has reached timeout",
    )
    assert wv.status.status == F


def test_a_failed_workload_pre_task_deprecates_the_deploy_phase() -> None:
    h = Harness().define("wl-check")
    h.app_version = app_version(workloads=[("web", "1.0")])
    h.app_version.status.pre_deployment_evaluation_status = S
    wv = h.reconcile_workload(workload_version(pre_tasks=["wl-check"])).obj
    h.finish_task("wl-check", F, "exit code 1")
    outcome = h.reconcile_workload(wv)
    status = outcome.obj.status
    assert not outcome.start_deploy and h.deploys_started == 0
    assert (status.status, status.pre_deployment_status) == (F, F)
    assert (status.pre_deployment_evaluation_status, status.deployment_status) == (D, D)
    assert (status.post_deployment_status, status.post_deployment_evaluation_status) == (D, D)


# --- deprecation of older generations (§3.5) ---------------------------------------------------------


def test_deprecating_an_app_version_marks_everything_deprecated() -> None:
    h = Harness().define("t")
    av = h.reconcile_app(app_version(pre_tasks=["t"])).obj
    outcome = deprecate_app_version(av, "2025-01-01T01:00:00Z")
    status = outcome.obj.status
    assert outcome.changed and status.status == D
    assert all(getattr(status, spec.state_field) == D for spec in APP_TABLE)
    assert status.current_phase == "AppPreDeployTasks"  # kept, as in KLT's restartable-app test
    assert [e.reason for e in outcome.events] == ["DeprecateAppVersionFinished"]
    assert not deprecate_app_version(outcome.obj, "later").changed
    h.finish_task("t", S)
    assert not h.reconcile_app(outcome.obj).changed


# --- applying worker events ----------------------------------------------------------------------------


def test_task_events_apply_once_and_final_states_are_frozen() -> None:
    from shared.messages import TaskStarted

    h = Harness().define("t")
    h.reconcile_app(app_version(pre_tasks=["t"]))
    task = h.task_of("t")
    started = TaskStarted(
        namespace=NS, name=task.metadata.name, uid=task.metadata.uid, attempt=1, start_time="T1", job_name="j"
    )
    running = apply_task_event(task, started)
    assert running is not None and running.status.status == G and running.status.attempts == 1
    assert apply_task_event(running, started) is None
    done = apply_task_event(running, task_finished(task, S))
    assert done is not None and done.status.status == S and done.status.start_time == "T1"
    assert apply_task_event(done, task_finished(task, F)) is None
    assert apply_task_event(done, started) is None
    other = TaskStarted(namespace=NS, name=task.metadata.name, uid="other", attempt=5, start_time="T")
    assert apply_task_event(task, other) is None
    assert task.status.status == P  # inputs are never modified


def test_evaluation_and_deploy_events_apply_once() -> None:
    h = Harness().define(evaluations=("slo",))
    h.reconcile_app(app_version(pre_evaluations=["slo"]))
    evaluation = h.evaluation_of("slo")
    done = apply_evaluation_event(evaluation, evaluation_finished(evaluation, S))
    assert done is not None and done.status.overall_status == S
    assert apply_evaluation_event(done, evaluation_finished(evaluation, F)) is None

    wv = workload_version()
    assert apply_deploy_finished(wv, deploy_finished(wv, S)) is None  # deploy not started
    wv.status.deployment_status = G
    deployed = apply_deploy_finished(wv, deploy_finished(wv, S))
    assert deployed is not None and deployed.status.deployment_status == S
    assert apply_deploy_finished(deployed, deploy_finished(wv, F)) is None
