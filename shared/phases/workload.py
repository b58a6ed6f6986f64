"""Reconciling a KeptnWorkloadVersion (§3.1, §3.2, §3.6, §3.8).

Before its first phase a workload version waits at the start gate: the newest non-Deprecated
AppVersion listing it must have its pre-deployment evaluations exactly Succeeded (§3.6). Deliberate
difference: in non-blocking mode a Warning opens the gate too. KLT keeps it shut (the ⚠ of §3.6), so a
failed app pre-evaluation in non-blocking mode leaves every workload unstarted and the AppVersion in
AppDeploy forever, the opposite of what non-blocking mode promises (§3.9). Then: WorkloadPreDeployTasks →
WorkloadPreDeployEvaluations → WorkloadDeploy → WorkloadPostDeployTasks →
WorkloadPostDeployEvaluations → Completed.

WorkloadDeploy starts the release step (``Outcome.start_deploy``): ``deploymentStartTime`` is set and
``deploymentStatus`` becomes Progressing; the result arrives as a DeployFinished event, applied with
``apply_deploy_finished``. The deadline (KeptnConfig ``observabilityTimeout``) is kept by whoever runs
the release step, which then reports Failed with KLT's message "has reached timeout".
"""

from __future__ import annotations

from shared.keptn.lifecycle import KeptnWorkloadVersion
from shared.keptn.states import KeptnState, Phase, PhaseState
from shared.phases.driver import Run, clone, drive, finish, is_terminal
from shared.phases.items import run_items, warnings
from shared.phases.reporting import WARNING
from shared.phases.table import WORKLOAD_TABLE, PhaseKind, PhaseSpec
from shared.phases.world import Options, Outcome, WorkloadWorld

DEPLOY_TIMEOUT_TEXT = "has reached timeout"
"""KLT's message when a deployment is not running within ``observabilityTimeout`` (§3.8)."""


def reconcile_workload_version(
    wv: KeptnWorkloadVersion, world: WorkloadWorld, options: Options
) -> Outcome[KeptnWorkloadVersion]:
    """Advance ``wv`` as far as ``world`` allows. A Failed, Deprecated or Completed one is returned
    unchanged."""
    if is_terminal(wv):
        return Outcome(obj=wv, changed=False)
    work = clone(wv)
    assert isinstance(work, KeptnWorkloadVersion)
    if work.status.start_time is None:
        work.status.start_time = world.now
    run = Run(obj=work, world=world, options=options, table=WORKLOAD_TABLE, old_message=wv.status.message)
    if work.status.current_phase or _gate_open(run, work, world):
        drive(run, WORKLOAD_TABLE, Phase.WORKLOAD_COMPLETED, _run_phase)
    outcome: Outcome[KeptnWorkloadVersion] = finish(run, wv, warnings(run))
    return outcome


def _gate_open(run: Run, wv: KeptnWorkloadVersion, world: WorkloadWorld) -> bool:
    """KLT's ``checkPreEvaluationStatusOfApp``: only an AppVersion whose pre-deployment evaluations
    Succeeded lets the workload version start; its metadata then becomes ``appContextMetadata`` and
    its AppDeploy trace context the workload's ``traceId``."""
    av = world.app_version
    gate_phase = Phase.APP_PRE_DEPLOY_EVALUATIONS
    if av is None:
        run.note(
            f"{wv.metadata.name} is waiting: no KeptnAppVersion of app '{wv.spec.app}' lists workload "
            f"'{wv.spec.workload_name}' at version '{wv.spec.version}'",
            phase=gate_phase,
            state="AppVersionNotFound",
            event_text="has failed since app could not be found",
        )
        return False
    gate = av.status.pre_deployment_evaluation_status
    if gate == KeptnState.FAILED:
        run.note(
            f"{wv.metadata.name} will not start: KeptnAppVersion '{av.metadata.name}' failed its "
            "pre-deployment checks",
            phase=gate_phase,
            state=PhaseState.FAILED,
            event_text="has failed since app has failed",
            detail=av.metadata.uid,
        )
        return False
    passed = gate == KeptnState.SUCCEEDED
    if gate == KeptnState.WARNING and not run.options.block_deployment:
        passed = True  # klt difference, see the module docstring
    if not passed:
        return False
    wv.status.app_context_metadata = dict(av.spec.metadata)
    if not wv.spec.trace_id:
        wv.spec.trace_id = dict(av.status.phase_trace_i_ds.get(Phase.APP_DEPLOY.value) or av.spec.trace_id)
    return True


def _run_phase(run: Run, spec: PhaseSpec) -> KeptnState:
    if spec.kind == PhaseKind.DEPLOY:
        return _run_deploy(run)
    return run_items(run, spec)


def _run_deploy(run: Run) -> KeptnState:
    """WorkloadDeploy: start the release step once, then wait for its result."""
    wv = run.obj
    assert isinstance(wv, KeptnWorkloadVersion)
    status = wv.status
    if status.deployment_status == KeptnState.PENDING:
        status.deployment_start_time = run.now
        status.deployment_status = KeptnState.PROGRESSING
        run.start_deploy = True
        return KeptnState.PROGRESSING
    if status.deployment_status == KeptnState.FAILED:
        run.failure = status.message or f"Deployment of {wv.metadata.name} failed"
        if status.message.endswith(DEPLOY_TIMEOUT_TEXT):
            run.emit(Phase.WORKLOAD_DEPLOY, PhaseState.FINISHED, WARNING, DEPLOY_TIMEOUT_TEXT)
    return status.deployment_status
