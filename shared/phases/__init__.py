"""The lifecycle phase machine: pure functions from (object, world, options) to an ``Outcome``.

It follows KLT's behaviour exactly (klt-facts §3): phase order, ``currentPhase``/``status`` updates and
events, item creation, roll-up, deprecation of remaining phases, non-blocking mode, the
AppVersion/WorkloadVersion coupling. The watcher is its only caller: it gathers a world, reconciles
whenever something relevant changed (event-driven, not on a timer), and stores and sends what the
outcome says. See ``world`` for the inputs and outputs.

Public API::

    reconcile_app_version(av, world: AppWorld, options) -> Outcome[KeptnAppVersion]
    reconcile_workload_version(wv, world: WorkloadWorld, options) -> Outcome[KeptnWorkloadVersion]
    deprecate_app_version(av, now) -> Outcome[KeptnAppVersion]
    apply_task_event(task, TaskStarted | TaskFinished) -> KeptnTask | None
    apply_evaluation_event(ev, EvaluationProgressed | EvaluationFinished) -> KeptnEvaluation | None
    apply_deploy_finished(wv, DeployFinished) -> KeptnWorkloadVersion | None
    rollup(item_states, total) -> KeptnState
    is_terminal(av_or_wv) -> bool
    gives_up_at(av_or_wv, deadline_s) -> datetime | None   (the stuck deadline, ``waiting``)
"""

from shared.phases.app import deprecate_app_version, reconcile_app_version
from shared.phases.applying import apply_deploy_finished, apply_evaluation_event, apply_task_event
from shared.phases.driver import is_terminal
from shared.phases.items import item_seed, item_uid, task_context
from shared.phases.rollup import rollup, unblocked
from shared.phases.table import APP_TABLE, WORKLOAD_TABLE, PhaseKind, PhaseSpec, app_phases
from shared.phases.waiting import gives_up_at
from shared.phases.workload import DEPLOY_TIMEOUT_TEXT, reconcile_workload_version
from shared.phases.world import AppWorld, Options, Outcome, WorkloadWorld, World

__all__ = [
    "APP_TABLE",
    "DEPLOY_TIMEOUT_TEXT",
    "WORKLOAD_TABLE",
    "AppWorld",
    "Options",
    "Outcome",
    "PhaseKind",
    "PhaseSpec",
    "WorkloadWorld",
    "World",
    "app_phases",
    "apply_deploy_finished",
    "apply_evaluation_event",
    "apply_task_event",
    "deprecate_app_version",
    "gives_up_at",
    "is_terminal",
    "item_seed",
    "item_uid",
    "reconcile_app_version",
    "reconcile_workload_version",
    "rollup",
    "task_context",
    "unblocked",
]
