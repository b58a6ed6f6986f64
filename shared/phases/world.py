"""What the phase machine reads and what it answers (DESIGN §3).

The machine is a pure function: the watcher gathers everything one reconcile may look at into a frozen
*world* (current time, the tasks and evaluations of the object's namespace, the definitions that
resolve, the related workload or app versions), calls ``reconcile_*``, and then stores and sends what
the ``Outcome`` says. Nothing here does I/O, reads a clock or draws random numbers, so the same input
always gives the same output; that is what makes replays and the property tests possible.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from shared.keptn.lifecycle import (
    KeptnAppVersion,
    KeptnEvaluation,
    KeptnTask,
    KeptnWorkloadVersion,
)
from shared.keptn.resources import KeptnEvaluationDefinition, KeptnTaskDefinition
from shared.messages import LifecycleEvent


@dataclass(frozen=True, slots=True)
class Options:
    """Process-wide switches that change how phases pass.

    ``block_deployment`` is KeptnConfig ``spec.blockDeployment`` (default true, §1.11): when false, a
    failed task or evaluation phase becomes ``Warning`` and the next phase runs (§3.9).
    ``promotion_tasks_enabled`` is KLT's ``PROMOTION_TASKS_ENABLED`` (default false, §3.1).
    ``stuck_deadline_s`` is the stuck deadline of ``shared.phases.waiting``.
    """

    block_deployment: bool = True
    promotion_tasks_enabled: bool = False
    stuck_deadline_s: float = 0.0
    """klt addition (``waiting``): seconds a phase may wait for a missing KeptnWorkloadVersion or
    definition before it fails; 0 waits forever, as KLT does."""


@dataclass(frozen=True, slots=True)
class World:
    """What reconciling any phased object may read.

    ``tasks`` / ``evaluations``: the KeptnTasks / KeptnEvaluations of the object's namespace, by name.
    They must hold at least the items the object's status lists; holding the whole namespace also lets
    the machine avoid giving a new item a name another object's item already has.
    ``task_definitions`` / ``evaluation_definitions``: the definitions that resolve for this namespace
    (KLT looks in the object's namespace first, then in the Keptn namespace, §0), by name. A name the
    object lists but the mapping lacks is a *missing definition*: its phase stays Pending (§3.3 rule 5).
    """

    now: str
    tasks: Mapping[str, KeptnTask] = field(default_factory=dict)
    evaluations: Mapping[str, KeptnEvaluation] = field(default_factory=dict)
    task_definitions: Mapping[str, KeptnTaskDefinition] = field(default_factory=dict)
    evaluation_definitions: Mapping[str, KeptnEvaluationDefinition] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AppWorld(World):
    """World of a KeptnAppVersion: also the KeptnWorkloadVersions of its namespace, by name (§3.6)."""

    workload_versions: Mapping[str, KeptnWorkloadVersion] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class WorkloadWorld(World):
    """World of a KeptnWorkloadVersion.

    ``app_version`` is the start gate of §3.6: the newest (by creationTimestamp) non-Deprecated
    KeptnAppVersion of the same app that lists this workload at this version, or None if there is none.
    It is only read while the workload version has not started (``currentPhase == ""``).
    """

    app_version: KeptnAppVersion | None = None


PhasedObject = TypeVar("PhasedObject", KeptnAppVersion, KeptnWorkloadVersion)


@dataclass(frozen=True, slots=True)
class Outcome(Generic[PhasedObject]):
    """The result of one reconcile.

    ``obj``: the new object (a copy; the input is never modified); ``changed`` tells whether it differs
    from the input and must be stored (compare-and-set). ``new_tasks`` / ``new_evaluations``: items to
    store *before* the object and then send as RunTask / RunEvaluation; their names and uids are
    deterministic (derived from the parent's uid, the phase and the definition), so deciding twice
    gives the same items. ``start_deploy``: the workload version has just entered WorkloadDeploy and its
    release step must start (its result comes back as DeployFinished). ``events``: what KLT would record
    as Kubernetes Events (§8.3), with deterministic ids.
    """

    obj: PhasedObject
    changed: bool
    new_tasks: tuple[KeptnTask, ...] = ()
    new_evaluations: tuple[KeptnEvaluation, ...] = ()
    start_deploy: bool = False
    events: tuple[LifecycleEvent, ...] = ()
