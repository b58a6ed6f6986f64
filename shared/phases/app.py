"""Reconciling a KeptnAppVersion (§3.1 to §3.6).

Phases: AppPreDeployTasks → AppPreDeployEvaluations → AppDeploy → AppPostDeployTasks →
AppPostDeployEvaluations (→ PromotionTasks when enabled) → Completed. AppDeploy waits for the
KeptnWorkloadVersions the app lists, found by name ``<app>-<workload>-<version>``; their overall
state is rolled up without the non-blocking downgrade (§3.6).
"""

from __future__ import annotations

from shared.keptn.lifecycle import KeptnAppVersion, KeptnWorkloadVersion, WorkloadStatus
from shared.keptn.states import KeptnState, Phase, PhaseState
from shared.naming import resource_name
from shared.phases.driver import Run, clone, drive, finish, is_terminal
from shared.phases.items import run_items, warnings
from shared.phases.rollup import rollup
from shared.phases.table import APP_TABLE, PhaseKind, PhaseSpec, app_phases
from shared.phases.world import AppWorld, Options, Outcome


def reconcile_app_version(av: KeptnAppVersion, world: AppWorld, options: Options) -> Outcome[KeptnAppVersion]:
    """Advance ``av`` as far as ``world`` allows. A Failed, Deprecated or Completed AppVersion is
    returned unchanged."""
    if is_terminal(av):
        return Outcome(obj=av, changed=False)
    work = clone(av)
    assert isinstance(work, KeptnAppVersion)
    if work.status.start_time is None:
        work.status.start_time = world.now
    run = Run(obj=work, world=world, options=options, table=APP_TABLE, old_message=av.status.message)
    drive(run, app_phases(options.promotion_tasks_enabled), Phase.APP_COMPLETED, _run_phase)
    outcome: Outcome[KeptnAppVersion] = finish(run, av, warnings(run))
    return outcome


def _run_phase(run: Run, spec: PhaseSpec) -> KeptnState:
    if spec.kind == PhaseKind.DEPLOY:
        return _run_workloads(run)
    return run_items(run, spec)


def _run_workloads(run: Run) -> KeptnState:
    """AppDeploy: each listed workload's state is its KeptnWorkloadVersion's ``status``; a missing one
    counts as Pending and is reported (``ReconcileWorkloadNotFound``, §3.6)."""
    av = run.obj
    assert isinstance(av, KeptnAppVersion)
    world = run.world
    assert isinstance(world, AppWorld)
    statuses: list[WorkloadStatus] = []
    failed: list[str] = []
    for workload in av.spec.workloads:
        name = resource_name(av.spec.app_name, workload.name, workload.version)
        found = world.workload_versions.get(name)
        state = found.status.status if found is not None else KeptnState.PENDING
        if found is None:
            run.missing.append(f"KeptnWorkloadVersion '{name}' not found")
            run.note(
                f"AppDeploy of {av.metadata.name} is waiting: KeptnWorkloadVersion '{name}' not found",
                phase=Phase.RECONCILE_WORKLOAD,
                state=PhaseState.NOT_FOUND,
                event_text=f"could not find KeptnWorkloadVersion for KeptnWorkload: {workload.name}",
                detail=name,
            )
        elif state in (KeptnState.FAILED, KeptnState.DEPRECATED):
            failed.append(_workload_failure(found))
        statuses.append(WorkloadStatus(workload=workload, status=state))
    overall = rollup([s.status for s in statuses], len(av.spec.workloads))
    av.status.workload_status = statuses
    av.status.workload_overall_status = overall
    if overall == KeptnState.FAILED:
        run.failure = "; ".join(failed)
    return overall


def _workload_failure(kwv: KeptnWorkloadVersion) -> str:
    why = kwv.status.message or f"status {kwv.status.status.value}"
    return f"Workload version '{kwv.metadata.name}' failed: {why}"


def deprecate_app_version(av: KeptnAppVersion, now: str) -> Outcome[KeptnAppVersion]:
    """The ``Deprecated`` pseudo-phase (§3.4, §3.5): every sub-state and the overall status become
    Deprecated (``currentPhase`` is kept). Used when a newer generation of the same app version
    appears. An AppVersion already Deprecated is returned unchanged.

    KLT records no event for a successful deprecation; klt emits ``DeprecateAppVersionFinished`` so
    the history shows why the AppVersion stopped.
    """
    if av.status.status == KeptnState.DEPRECATED:
        return Outcome(obj=av, changed=False)
    work = clone(av)
    assert isinstance(work, KeptnAppVersion)
    for spec in APP_TABLE:
        setattr(work.status, spec.state_field, KeptnState.DEPRECATED)
    work.status.status = KeptnState.DEPRECATED
    run = Run(obj=work, world=AppWorld(now=now), options=Options(), table=APP_TABLE, old_message="")
    run.emit(
        Phase.DEPRECATE_APP_VERSION,
        PhaseState.FINISHED,
        "Normal",
        "has been deprecated by a newer generation of the same version",
    )
    work.status.message = (
        f"{av.metadata.name} was deprecated by a newer generation of version {av.spec.version}"
    )
    return Outcome(obj=work, changed=True, events=tuple(run.events))
