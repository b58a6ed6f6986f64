"""The phases of each kind in KLT's order, and where each keeps its state (§3.1, §1.3, §1.6).

One table drives both kinds: a phase is a *task* phase, an *evaluation* phase, or a *deploy* phase
(AppDeploy waits for the workload versions, WorkloadDeploy for the release step). For task and
evaluation phases the table names the spec list of definitions, the status list of items and the
status field holding the phase's rolled-up state.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from shared.keptn.states import CheckType, Phase


class PhaseKind(Enum):
    TASKS = "tasks"
    EVALUATIONS = "evaluations"
    DEPLOY = "deploy"


@dataclass(frozen=True, slots=True)
class PhaseSpec:
    phase: Phase
    kind: PhaseKind
    state_field: str
    """Status field with the phase's state, e.g. ``pre_deployment_status``."""
    check_type: CheckType | None = None
    definitions_field: str = ""
    """Spec field listing definition names, e.g. ``pre_deployment_tasks``."""
    items_field: str = ""
    """Status field with the items, e.g. ``pre_deployment_task_status``."""


def _tasks(phase: Phase, check: CheckType, stem: str, state_field: str) -> PhaseSpec:
    return PhaseSpec(phase, PhaseKind.TASKS, state_field, check, f"{stem}_tasks", f"{stem}_task_status")


def _evaluations(phase: Phase, check: CheckType, stem: str, state_field: str) -> PhaseSpec:
    return PhaseSpec(
        phase,
        PhaseKind.EVALUATIONS,
        state_field,
        check,
        f"{stem}_evaluations",
        f"{stem}_evaluation_task_status",
    )


APP_TABLE: tuple[PhaseSpec, ...] = (
    _tasks(Phase.APP_PRE_DEPLOY_TASKS, CheckType.PRE, "pre_deployment", "pre_deployment_status"),
    _evaluations(
        Phase.APP_PRE_DEPLOY_EVALUATIONS,
        CheckType.PRE_EVAL,
        "pre_deployment",
        "pre_deployment_evaluation_status",
    ),
    PhaseSpec(Phase.APP_DEPLOY, PhaseKind.DEPLOY, "workload_overall_status"),
    _tasks(Phase.APP_POST_DEPLOY_TASKS, CheckType.POST, "post_deployment", "post_deployment_status"),
    _evaluations(
        Phase.APP_POST_DEPLOY_EVALUATIONS,
        CheckType.POST_EVAL,
        "post_deployment",
        "post_deployment_evaluation_status",
    ),
    PhaseSpec(
        Phase.PROMOTION_TASKS,
        PhaseKind.TASKS,
        "promotion_status",
        CheckType.PROMOTION,
        "promotion_tasks",
        "promotion_task_status",
    ),
)
"""Every app phase, PromotionTasks included (the deprecation table of §3.4 covers it even when off)."""

WORKLOAD_TABLE: tuple[PhaseSpec, ...] = (
    _tasks(Phase.WORKLOAD_PRE_DEPLOY_TASKS, CheckType.PRE, "pre_deployment", "pre_deployment_status"),
    _evaluations(
        Phase.WORKLOAD_PRE_DEPLOY_EVALUATIONS,
        CheckType.PRE_EVAL,
        "pre_deployment",
        "pre_deployment_evaluation_status",
    ),
    PhaseSpec(Phase.WORKLOAD_DEPLOY, PhaseKind.DEPLOY, "deployment_status"),
    _tasks(Phase.WORKLOAD_POST_DEPLOY_TASKS, CheckType.POST, "post_deployment", "post_deployment_status"),
    _evaluations(
        Phase.WORKLOAD_POST_DEPLOY_EVALUATIONS,
        CheckType.POST_EVAL,
        "post_deployment",
        "post_deployment_evaluation_status",
    ),
)


def app_phases(promotion_tasks_enabled: bool) -> tuple[PhaseSpec, ...]:
    """The app phases that run: PromotionTasks only when enabled (§3.1)."""
    return APP_TABLE if promotion_tasks_enabled else APP_TABLE[:-1]


def phases_after(table: tuple[PhaseSpec, ...], phase: Phase) -> tuple[PhaseSpec, ...]:
    """The phases of ``table`` that come after ``phase`` (what a failure of ``phase`` deprecates, §3.4)."""
    for index, spec in enumerate(table):
        if spec.phase == phase:
            return table[index + 1 :]
    return ()
