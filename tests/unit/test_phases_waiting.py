"""The stuck deadline (DESIGN §8, KLT #1878/#3680): a phase waiting for a missing KeptnWorkloadVersion
or definition fails once the deadline has passed, counted from ``status.waitingSince``."""

from __future__ import annotations

from shared.keptn.lifecycle import KeptnAppVersion, KeptnWorkloadVersion
from shared.keptn.states import KeptnState
from shared.phases import (
    AppWorld,
    Options,
    WorkloadWorld,
    gives_up_at,
    reconcile_app_version,
    reconcile_workload_version,
)
from tests.unit.phases_harness import app_version, task_definition, workload_version

S, F, D, P, G = (
    KeptnState.SUCCEEDED,
    KeptnState.FAILED,
    KeptnState.DEPRECATED,
    KeptnState.PENDING,
    KeptnState.PROGRESSING,
)
T0, T1, T9, T10 = (
    "2026-01-01T00:00:00Z",
    "2026-01-01T00:00:01Z",
    "2026-01-01T00:09:59Z",
    "2026-01-01T00:10:00Z",
)
DEADLINE = Options(stuck_deadline_s=600)


def _app(av: KeptnAppVersion, now: str, options: Options = DEADLINE, **world: object) -> KeptnAppVersion:
    outcome = reconcile_app_version(av, AppWorld(now=now, **world), options)  # type: ignore[arg-type]
    return outcome.obj


def test_a_missing_workload_version_starts_the_countdown_and_keeps_it() -> None:
    av = _app(app_version(workloads=[("web", "1.0")]), T0)
    assert (av.status.current_phase, av.status.status, av.status.waiting_since) == ("AppDeploy", G, T0)
    av = _app(av, T9)
    assert (av.status.status, av.status.workload_overall_status) == (G, P)
    assert av.status.waiting_since == T0  # a later reconcile does not restart the countdown
    assert "is waiting: KeptnWorkloadVersion 'shop-web-1.0' not found" in av.status.message
    due = gives_up_at(av, 600)
    assert due is not None and due.isoformat() == "2026-01-01T00:10:00+00:00"


def test_after_the_deadline_app_deploy_fails_and_later_phases_are_deprecated() -> None:
    av = _app(app_version(workloads=[("web", "1.0")], post_tasks=["announce"]), T0)
    outcome = reconcile_app_version(av, AppWorld(now=T10), DEADLINE)
    av = outcome.obj
    status = av.status
    assert (status.status, status.current_phase, status.workload_overall_status) == (F, "AppDeploy", F)
    assert (status.post_deployment_status, status.post_deployment_evaluation_status) == (D, D)
    assert status.end_time == T10
    assert status.message == (
        "AppDeploy of shop-1.0-6b86b273 gave up after 600s: KeptnWorkloadVersion 'shop-web-1.0' not found"
    )
    (failed,) = [e for e in outcome.events if e.reason == "AppDeployFailed"]
    assert failed.event_type == "Warning"
    assert "gave up after 600s: KeptnWorkloadVersion 'shop-web-1.0' not found" in failed.message
    assert "AppCompletedFailed" in [e.reason for e in outcome.events]
    # Failed is final: nothing moves it again.
    assert not reconcile_app_version(av, AppWorld(now=T10), DEADLINE).changed


def test_deadline_zero_waits_forever_as_klt() -> None:
    av = _app(app_version(workloads=[("web", "1.0")]), T0, Options())
    av = _app(av, "2027-01-01T00:00:00Z", Options())
    assert (av.status.status, av.status.workload_overall_status) == (G, P)
    assert gives_up_at(av, 0) is None


def test_what_appears_before_the_deadline_stops_the_countdown() -> None:
    av = _app(app_version(workloads=[("web", "1.0")]), T0)
    kwv = workload_version()
    kwv.status.status = G
    av = _app(av, T9, workload_versions={"shop-web-1.0": kwv})
    assert (av.status.status, av.status.waiting_since, av.status.message) == (G, None, "")
    av = _app(av, T10, workload_versions={"shop-web-1.0": kwv})  # past the old deadline: still fine
    assert av.status.status == G
    kwv.status.status = S
    assert _app(av, T10, workload_versions={"shop-web-1.0": kwv}).status.status == S


def test_a_missing_task_definition_gives_up_too() -> None:
    av = _app(
        app_version(pre_tasks=["present", "absent"]),
        T0,
        task_definitions={"present": task_definition("present")},
    )
    assert (av.status.pre_deployment_status, av.status.waiting_since) == (P, T0)
    outcome = reconcile_app_version(
        av, AppWorld(now=T10, task_definitions={"present": task_definition("present")}), DEADLINE
    )
    status = outcome.obj.status
    assert (status.status, status.current_phase, status.pre_deployment_status) == (F, "AppPreDeployTasks", F)
    assert (status.pre_deployment_evaluation_status, status.workload_overall_status) == (D, D)
    assert status.message == (
        "AppPreDeployTasks of shop-1.0-6b86b273 gave up after 600s: KeptnTaskDefinition 'absent' not found"
    )
    assert "AppPreDeployTasksFailed" in [e.reason for e in outcome.events]


def test_a_workload_version_missing_an_evaluation_definition_gives_up_in_non_blocking_mode_too() -> None:
    gate = _app(app_version(workloads=[("web", "1.0")]), T0)
    gate.status.pre_deployment_evaluation_status = S
    options = Options(stuck_deadline_s=1, block_deployment=False)
    kwv: KeptnWorkloadVersion = workload_version(post_evaluations=["slo"])
    world = WorkloadWorld(now=T0, app_version=gate)
    kwv = reconcile_workload_version(kwv, world, options).obj
    assert kwv.status.deployment_status == G  # in WorkloadDeploy: nothing missing yet
    kwv.status.deployment_status = S
    kwv = reconcile_workload_version(kwv, world, options).obj
    assert (kwv.status.current_phase, kwv.status.waiting_since) == ("WorkloadPostDeployEvaluations", T0)
    kwv = reconcile_workload_version(kwv, WorkloadWorld(now=T1, app_version=gate), options).obj
    assert (kwv.status.status, kwv.status.post_deployment_evaluation_status) == (F, F)
    assert kwv.status.message == (
        "WorkloadPostDeployEvaluations of shop-web-1.0 gave up after 1s: "
        "KeptnEvaluationDefinition 'slo' not found"
    )
