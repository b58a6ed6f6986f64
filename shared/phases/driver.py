"""The generic phase handler both kinds share (KLT's ``HandlePhase`` loop, §3.2).

One call walks the phases in order. A phase whose state already passes is skipped; otherwise it is
entered (``<Phase>Started``, ``currentPhase`` set), run, and then either finishes (``<Phase>Finished``,
and the walk *continues in the same call*, KLT's Continue=true, so a phase without items passes at
once), fails (``status=Failed``, ``endTime``, ``<Phase>Failed``, later phases Deprecated, §3.4), or is
still running (``status=Progressing``, the walk stops until the next event). After the last phase the
object is ``Completed``/``Succeeded``.

``Run`` is the scratch state of one call: the working copy of the object and everything the call
decides besides it (new items, events, the klt ``status.message``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import msgspec

from shared.keptn.lifecycle import KeptnAppVersion, KeptnEvaluation, KeptnTask, KeptnWorkloadVersion
from shared.keptn.states import KeptnState, Phase, PhaseState
from shared.messages import LifecycleEvent
from shared.phases.reporting import NORMAL, WARNING, Reported, lifecycle_event
from shared.phases.table import PhaseKind, PhaseSpec, phases_after
from shared.phases.waiting import given_up, seconds_text
from shared.phases.world import Options, Outcome, World

Phased = KeptnAppVersion | KeptnWorkloadVersion

_encoder = msgspec.json.Encoder()
_decoders: dict[type[Any], msgspec.json.Decoder[Any]] = {}


def clone(obj: Phased) -> Phased:
    """A deep copy (the machine never modifies its input)."""
    kind = type(obj)
    decoder = _decoders.get(kind)
    if decoder is None:
        decoder = _decoders[kind] = msgspec.json.Decoder(kind)
    copy: Phased = decoder.decode(_encoder.encode(obj))
    return copy


def is_terminal(obj: Phased) -> bool:
    """Failed and Deprecated objects never move again; a Completed one has nothing left to do."""
    status = obj.status
    if status.status in (KeptnState.FAILED, KeptnState.DEPRECATED):
        return True
    return status.status == KeptnState.SUCCEEDED and status.current_phase == Phase.COMPLETED


def passes(state: KeptnState, spec: PhaseSpec, options: Options) -> bool:
    """Whether a phase in ``state`` is done and skipped: Succeeded, or in non-blocking mode a Warning of
    a task or evaluation phase; deploy phases always need Succeeded (§3.2)."""
    if state == KeptnState.SUCCEEDED:
        return True
    return state == KeptnState.WARNING and spec.kind != PhaseKind.DEPLOY and not options.block_deployment


@dataclass
class Run:
    """Scratch state of one reconcile call."""

    obj: Phased
    world: World
    options: Options
    table: tuple[PhaseSpec, ...]
    old_message: str
    events: list[LifecycleEvent] = field(default_factory=list)
    new_tasks: list[KeptnTask] = field(default_factory=list)
    new_evaluations: list[KeptnEvaluation] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    """What the current phase waits for that does not exist (``KeptnTaskDefinition 'x' not found``)."""
    failure: str = ""
    start_deploy: bool = False

    @property
    def now(self) -> str:
        return self.world.now

    def emit(
        self,
        phase: Phase,
        state: str,
        event_type: str,
        text: str,
        *,
        about: Reported | None = None,
        detail: str = "",
    ) -> LifecycleEvent:
        event = lifecycle_event(
            about if about is not None else self.obj,
            phase,
            state,
            event_type,
            text,
            version=self.obj.spec.version,
            now=self.now,
            detail=detail,
        )
        self.events.append(event)
        return event

    def note(self, text: str, *, phase: Phase, state: str, event_text: str, detail: str = "") -> None:
        """Record something that holds the object up (it goes into ``status.message``) and emit its
        Warning event the first time it appears (the old message is the memory of what was said)."""
        self.notes.append(text)
        if text not in self.old_message:
            self.emit(phase, state, WARNING, event_text, detail=detail)


PhaseRunner = Callable[[Run, PhaseSpec], KeptnState]


def drive(run: Run, phases: tuple[PhaseSpec, ...], completed: Phase, run_phase: PhaseRunner) -> None:
    """Walk ``phases`` as KLT's reconcilers do, calling ``run_phase`` for each phase not yet passed."""
    status = run.obj.status
    for spec in phases:
        if passes(getattr(status, spec.state_field), spec, run.options):
            if status.current_phase == spec.phase:
                # Passed by a fact applied outside this walk (the release step's DeployFinished):
                # it still gets its Finished event, once, as the walk moves on from it.
                run.emit(spec.phase, PhaseState.FINISHED, NORMAL, "has finished")
            continue
        if status.current_phase != spec.phase:
            run.emit(spec.phase, PhaseState.STARTED, NORMAL, "has started")
            status.current_phase = spec.phase.value
        state = run_phase(run, spec)
        failed_text = "has failed"
        if not state.is_completed:
            if not _waited_too_long(run):
                status.status = KeptnState.PROGRESSING
                return
            state = KeptnState.FAILED
            setattr(status, spec.state_field, state)
            deadline = seconds_text(run.options.stuck_deadline_s)
            failed_text = f"gave up after {deadline}: {'; '.join(run.missing)}"
            run.failure = f"{spec.phase.value} of {run.obj.metadata.name} {failed_text}"
        if state == KeptnState.FAILED:
            status.end_time = run.now
            status.status = KeptnState.FAILED
            run.emit(spec.phase, PhaseState.FAILED, WARNING, failed_text)
            for later in phases_after(run.table, spec.phase):
                setattr(status, later.state_field, KeptnState.DEPRECATED)
            run.emit(completed, PhaseState.FAILED, WARNING, "has failed")
            return
        run.emit(spec.phase, PhaseState.FINISHED, NORMAL, "has finished")
    status.current_phase = Phase.COMPLETED.value
    status.status = KeptnState.SUCCEEDED
    status.end_time = run.now
    run.emit(completed, PhaseState.FINISHED, NORMAL, "has finished")


def _waited_too_long(run: Run) -> bool:
    """Start (or keep) the stuck countdown while the phase misses something; True once it ran out."""
    if not run.missing:
        return False
    status = run.obj.status
    if not status.waiting_since:
        status.waiting_since = run.now
    return given_up(run.obj, run.now, run.options.stuck_deadline_s)


def finish(run: Run, original: Phased, warnings: list[str]) -> Outcome[Any]:
    """Set ``status.message`` (klt addition: the failure, or what holds the object up, or the failures
    non-blocking mode let through; empty when all is well) and package the outcome."""
    status = run.obj.status
    if not run.missing:
        status.waiting_since = None  # nothing missing (any more): the stuck countdown stops
    if status.status == KeptnState.FAILED:
        status.message = run.failure or status.message
    else:
        status.message = "; ".join([*run.notes, *warnings])
    changed = _encoder.encode(run.obj) != _encoder.encode(original)
    return Outcome(
        obj=run.obj,
        changed=changed,
        new_tasks=tuple(run.new_tasks),
        new_evaluations=tuple(run.new_evaluations),
        start_deploy=run.start_deploy,
        events=tuple(run.events),
    )
