"""Task and evaluation phases: creating items and following their state (§4.1, §3.3, §5).

For every definition a phase lists (all in parallel, in one pass):
- an item already Succeeded or Failed is frozen;
- an item whose task/evaluation exists takes that object's state (and its end time once completed);
- an item whose object has vanished gets it re-created under the same name;
- a definition with no item gets a new KeptnTask/KeptnEvaluation, unless the definition does not
  resolve: then the phase gets no item for it and stays Pending (§3.3 rule 5). klt says so in
  ``status.message`` and with a ``CreateTaskNotFound``/``CreateEvaluationNotFound`` event.

Item names follow KLT (``<checkType>-<definition>-<5 digits>``) but the digits come from a seed (the
parent's uid, the phase and the definition) instead of a random draw, and the item's uid is a UUIDv5
of the same seed: deciding twice creates the same item, which is what makes a crash between storing
an item and storing its parent harmless.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from typing import Any

from shared.keptn.lifecycle import (
    LIFECYCLE_API,
    ItemStatus,
    KeptnAppVersion,
    KeptnEvaluation,
    KeptnEvaluationSpec,
    KeptnTask,
    KeptnTaskSpec,
    TaskContext,
)
from shared.keptn.meta import ObjectMeta, OwnerReference
from shared.keptn.resources import KeptnEvaluationDefinition, KeptnTaskDefinition
from shared.keptn.states import CheckType, KeptnState, ObjectType, Phase, PhaseState
from shared.naming import evaluation_name, task_name
from shared.phases.driver import Phased, Run
from shared.phases.reporting import WARNING
from shared.phases.rollup import rollup, unblocked
from shared.phases.table import PhaseKind, PhaseSpec

_UID_NAMESPACE = uuid.UUID("5d1f6a52-7a0e-4c1e-9a53-6b6c74000001")

Item = KeptnTask | KeptnEvaluation


def item_seed(parent: Phased, phase: Phase, definition: str) -> str:
    """What an item's name digits and uid derive from."""
    return f"{parent.metadata.uid}:{phase.value}:{definition}"


def item_uid(seed: str) -> str:
    return str(uuid.uuid5(_UID_NAMESPACE, seed))


def item_state(item: Item) -> KeptnState:
    if isinstance(item, KeptnTask):
        return item.status.status
    return item.status.overall_status


def _owned_by(item: Item, parent: Phased) -> bool:
    return any(ref.uid == parent.metadata.uid for ref in item.metadata.owner_references)


def _owner(parent: Phased) -> list[OwnerReference]:
    return [
        OwnerReference(
            api_version=LIFECYCLE_API,
            kind=parent.kind,
            name=parent.metadata.name,
            uid=parent.metadata.uid,
            controller=True,
        )
    ]


def task_context(parent: Phased, check_type: CheckType) -> TaskContext:
    """``KEPTN_CONTEXT`` of a task (§4.1): App tasks name the app and its version; Workload tasks the
    full KeptnWorkload name, the app and the workload version. ``metadata`` only when non-empty."""
    if isinstance(parent, KeptnAppVersion):
        metadata = dict(parent.spec.metadata)
        context = TaskContext(
            app_name=parent.spec.app_name,
            app_version=parent.spec.version,
            task_type=check_type.value,
            object_type=ObjectType.APP.value,
        )
    else:
        metadata = {**parent.status.app_context_metadata, **parent.spec.metadata}
        context = TaskContext(
            workload_name=parent.spec.workload_name,
            app_name=parent.spec.app,
            workload_version=parent.spec.version,
            task_type=check_type.value,
            object_type=ObjectType.WORKLOAD.value,
        )
    if metadata:
        context.metadata = metadata
    return context


def _new_task(
    parent: Phased, check_type: CheckType, definition: KeptnTaskDefinition, name: str, uid: str, now: str
) -> KeptnTask:
    """A KeptnTask as KLT's ``GenerateTask`` makes it: labels and annotations from the definition,
    retries and timeout copied from it (§1.7, §1.8)."""
    return KeptnTask(
        metadata=ObjectMeta(
            name=name,
            namespace=parent.metadata.namespace,
            uid=uid,
            creation_timestamp=now,
            labels=dict(definition.metadata.labels),
            annotations=dict(definition.metadata.annotations),
            owner_references=_owner(parent),
        ),
        spec=KeptnTaskSpec(
            task_definition=definition.metadata.name,
            context=task_context(parent, check_type),
            check_type=check_type,
            retries=definition.spec.retries,
            timeout=definition.spec.timeout,
        ),
    )


def _new_evaluation(
    parent: Phased,
    check_type: CheckType,
    definition: KeptnEvaluationDefinition,
    name: str,
    uid: str,
    now: str,
) -> KeptnEvaluation:
    """A KeptnEvaluation as KLT's ``GenerateEvaluation`` makes it: retries and retryInterval from the
    definition (§1.10)."""
    if isinstance(parent, KeptnAppVersion):
        who = {"app_name": parent.spec.app_name, "app_version": parent.spec.version}
    else:
        who = {
            "app_name": parent.spec.app,
            "workload": parent.spec.workload_name,
            "workload_version": parent.spec.version,
        }
    return KeptnEvaluation(
        metadata=ObjectMeta(
            name=name,
            namespace=parent.metadata.namespace,
            uid=uid,
            creation_timestamp=now,
            owner_references=_owner(parent),
        ),
        spec=KeptnEvaluationSpec(
            evaluation_definition=definition.metadata.name,
            check_type=check_type,
            retries=definition.spec.retries,
            retry_interval=definition.spec.retry_interval,
            **who,
        ),
    )


def _free_name(
    make: Callable[[str], str], seed: str, uid: str, *taken: Mapping[str, Item] | dict[str, Item]
) -> str:
    """The seeded name, re-seeded while another object already holds it (five digits collide)."""
    attempt = 0
    while True:
        name = make(seed if attempt == 0 else f"{seed}#{attempt}")
        holder = next((t[name] for t in taken if name in t), None)
        if holder is None or holder.metadata.uid == uid:
            return name
        attempt += 1


def _unique(names: list[str]) -> list[str]:
    return list(dict.fromkeys(names))


def describe_failure(parent: Phased, definition: str, found: Item | None) -> str:
    """One sentence naming a failed item and why it failed."""
    owner = parent.metadata.name
    if isinstance(found, KeptnTask):
        why = found.status.message or found.status.reason or "no reason given"
        return f"Task '{definition}' of {owner} failed: {why}"
    if isinstance(found, KeptnEvaluation):
        why = "; ".join(objective_failures(found)) or "retries exhausted"
        return f"Evaluation '{definition}' of {owner} failed: {why}"
    return f"'{definition}' of {owner} failed"


def objective_failures(evaluation: KeptnEvaluation) -> list[str]:
    """KLT's lines for failed objectives (§5), in metric-name order."""
    return [
        f"evaluation of '{metric}' failed with value: '{item.value}' and reason: '{item.message}'"
        for metric, item in sorted(evaluation.status.evaluation_status.items())
        if item.status == KeptnState.FAILED
    ]


def failed_items(run: Run, spec: PhaseSpec) -> list[str]:
    """Descriptions of the phase's failed items."""
    lookup: Mapping[str, Item] = run.world.tasks if spec.kind == PhaseKind.TASKS else run.world.evaluations
    return [
        describe_failure(run.obj, item.definition_name, lookup.get(item.name))
        for item in getattr(run.obj.status, spec.items_field)
        if item.status == KeptnState.FAILED
    ]


def run_items(run: Run, spec: PhaseSpec) -> KeptnState:
    """Reconcile one task or evaluation phase; returns its state (already written to the status)."""
    assert spec.check_type is not None
    parent, status = run.obj, run.obj.status
    tasks = spec.kind == PhaseKind.TASKS
    lookup: Mapping[str, Any] = run.world.tasks if tasks else run.world.evaluations
    definitions = _unique(getattr(parent.spec, spec.definitions_field))
    previous = {item.definition_name: item for item in getattr(status, spec.items_field)}
    items: list[ItemStatus] = []
    for definition_name in definitions:
        item = previous.get(definition_name) or ItemStatus(definition_name=definition_name)
        if item.status.is_completed:
            items.append(item)
            continue
        seed = item_seed(parent, spec.phase, definition_name)
        uid = item_uid(seed)
        if item.name:
            found = lookup.get(item.name)
            if found is not None and _owned_by(found, parent):
                _follow(run, item, found)
                items.append(item)
                continue
            if found is None:
                _recreate(run, spec, definition_name, item.name, uid)
                items.append(item)
                continue
            item.name = ""  # the name is someone else's now: make a new item
        if not _create(run, spec, definition_name, seed, uid, item):
            continue
        items.append(item)
    setattr(status, spec.items_field, items)
    state = unblocked(rollup([item.status for item in items], len(definitions)), run.options.block_deployment)
    setattr(status, spec.state_field, state)
    if state == KeptnState.FAILED:
        run.failure = "; ".join(failed_items(run, spec))
    return state


def _follow(run: Run, item: ItemStatus, found: Item) -> None:
    state = item_state(found)
    was_completed = item.status.is_completed
    item.status = state
    if state.is_completed and not was_completed:
        item.end_time = found.status.end_time or run.now
        if isinstance(found, KeptnEvaluation) and state == KeptnState.FAILED:
            text = "\n".join(["evaluation failed", *objective_failures(found)])
            run.emit(Phase.RECONCILE_EVALUATION, PhaseState.FAILED, WARNING, text, about=found)


def _definition(
    run: Run, spec: PhaseSpec, name: str
) -> KeptnTaskDefinition | KeptnEvaluationDefinition | None:
    if spec.kind == PhaseKind.TASKS:
        return run.world.task_definitions.get(name)
    return run.world.evaluation_definitions.get(name)


def _build(run: Run, spec: PhaseSpec, definition: Any, name: str, uid: str) -> None:
    assert spec.check_type is not None
    if spec.kind == PhaseKind.TASKS:
        run.new_tasks.append(_new_task(run.obj, spec.check_type, definition, name, uid, run.now))
    else:
        run.new_evaluations.append(_new_evaluation(run.obj, spec.check_type, definition, name, uid, run.now))


def _create(run: Run, spec: PhaseSpec, definition_name: str, seed: str, uid: str, item: ItemStatus) -> bool:
    definition = _definition(run, spec, definition_name)
    if definition is None:
        _missing(run, spec, definition_name)
        return False
    assert spec.check_type is not None
    check = spec.check_type
    if spec.kind == PhaseKind.TASKS:
        name = _free_name(
            lambda s: task_name(check, definition_name, s),
            seed,
            uid,
            run.world.tasks,
            {t.metadata.name: t for t in run.new_tasks},
        )
    else:
        name = _free_name(
            lambda s: evaluation_name(check, definition_name, s),
            seed,
            uid,
            run.world.evaluations,
            {e.metadata.name: e for e in run.new_evaluations},
        )
    _build(run, spec, definition, name, uid)
    item.name = name
    item.status = KeptnState.PENDING
    item.start_time = run.now
    return True


def _recreate(run: Run, spec: PhaseSpec, definition_name: str, name: str, uid: str) -> None:
    """The item's object vanished (KLT clears the name and creates a new one, §4.1); klt re-creates the
    same object, so a command already on its way still matches it."""
    definition = _definition(run, spec, definition_name)
    if definition is None:
        _missing(run, spec, definition_name)
        return
    _build(run, spec, definition, name, uid)


def _missing(run: Run, spec: PhaseSpec, definition_name: str) -> None:
    kind = "KeptnTaskDefinition" if spec.kind == PhaseKind.TASKS else "KeptnEvaluationDefinition"
    phase = Phase.CREATE_TASK if spec.kind == PhaseKind.TASKS else Phase.CREATE_EVALUATION
    run.missing.append(f"{kind} '{definition_name}' not found")
    run.note(
        f"{spec.phase.value} of {run.obj.metadata.name} is waiting: {kind} '{definition_name}' not found",
        phase=phase,
        state=PhaseState.NOT_FOUND,
        event_text=f"could not find {kind}: {definition_name}",
        detail=f"{spec.phase.value}:{definition_name}",
    )


def warnings(run: Run) -> list[str]:
    """Failures that non-blocking mode let through (phases in Warning), for ``status.message``."""
    found: list[str] = []
    for spec in run.table:
        if spec.kind == PhaseKind.DEPLOY:
            continue
        if getattr(run.obj.status, spec.state_field) == KeptnState.WARNING:
            found.extend(f"{text} (non-blocking)" for text in failed_items(run, spec))
    return found
