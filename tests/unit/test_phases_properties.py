"""Property tests of the phase machine (DESIGN §3): random apps and workloads, answered in any order,
with repetitions, always end where an independent model says they must, moving only forward.

The simulation plays the watcher: it stores what each outcome creates, reconciles every object after
every delivered answer (the AppVersion after a workload changes, workloads after the AppVersion
changes), and answers each task, evaluation and release step with an outcome drawn up front.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.keptn.lifecycle import KeptnAppVersion, KeptnEvaluation, KeptnTask, KeptnWorkloadVersion
from shared.keptn.states import KeptnState, Phase
from shared.messages import DeployFinished, EvaluationFinished, LifecycleEvent, TaskFinished, TaskStarted
from shared.phases import (
    APP_TABLE,
    WORKLOAD_TABLE,
    AppWorld,
    Options,
    PhaseKind,
    PhaseSpec,
    WorkloadWorld,
    app_phases,
    apply_deploy_finished,
    apply_evaluation_event,
    apply_task_event,
    reconcile_app_version,
    reconcile_workload_version,
)
from tests.unit.phases_harness import (
    app_version,
    deploy_finished,
    evaluation_definition,
    evaluation_finished,
    task_definition,
    task_finished,
    workload_version,
)

S, F = KeptnState.SUCCEEDED, KeptnState.FAILED
CHECK_PHASES = ("pre_tasks", "pre_evaluations", "post_tasks", "post_evaluations")

outcomes = st.lists(st.sampled_from([True, True, True, False]), max_size=3)
"""0-3 items per phase, each succeeding with probability 3/4."""


@dataclass
class Unit:
    """The checks of one app or workload: per phase, whether each item will succeed."""

    prefix: str
    checks: dict[str, list[bool]]
    promotion: list[bool] = field(default_factory=list)
    deploy_ok: bool = True

    def names(self, phase: str) -> list[str]:
        return [
            f"{self.prefix}-{phase.replace('_', '-')}-{i}" for i in range(len(self.checks.get(phase, [])))
        ]

    def all_checks(self) -> list[bool]:
        """Every check but promotion (which only apps have, and only when enabled)."""
        return [ok for phase in CHECK_PHASES for ok in self.checks[phase]]

    def pre_checks(self) -> list[bool]:
        return self.checks["pre_tasks"] + self.checks["pre_evaluations"]


@st.composite
def units(draw: st.DrawFn, prefix: str) -> Unit:
    return Unit(
        prefix=prefix,
        checks={phase: draw(outcomes) for phase in CHECK_PHASES},
        promotion=draw(outcomes) if prefix == "app" else [],
        deploy_ok=draw(st.sampled_from([True, True, False])),
    )


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[Options, Unit, list[Unit]]:
    options = Options(block_deployment=draw(st.booleans()), promotion_tasks_enabled=draw(st.booleans()))
    app = draw(units("app"))
    workloads = [draw(units(f"w{i}")) for i in range(draw(st.integers(0, 2)))]
    return options, app, workloads


Answer = TaskStarted | TaskFinished | EvaluationFinished | DeployFinished


class Simulation:
    """The watcher's part, in memory."""

    def __init__(self, options: Options, app: Unit, workloads: list[Unit]) -> None:
        self.options = options
        self.app = app
        self.outcome_of: dict[str, bool] = {}
        self.task_definitions = {}
        self.evaluation_definitions = {}
        for unit in [app, *workloads]:
            for phase in CHECK_PHASES:
                for name, ok in zip(unit.names(phase), unit.checks[phase], strict=True):
                    self.outcome_of[name] = ok
                    if phase.endswith("tasks"):
                        self.task_definitions[name] = task_definition(name)
                    else:
                        self.evaluation_definitions[name] = evaluation_definition(name)
        for i, ok in enumerate(app.promotion):
            name = f"app-promotion-{i}"
            self.outcome_of[name] = ok
            self.task_definitions[name] = task_definition(name)
        self.av = app_version(
            workloads=[(w.prefix, "1.0") for w in workloads],
            pre_tasks=app.names("pre_tasks"),
            pre_evaluations=app.names("pre_evaluations"),
            post_tasks=app.names("post_tasks"),
            post_evaluations=app.names("post_evaluations"),
            promotion_tasks=[f"app-promotion-{i}" for i in range(len(app.promotion))],
        )
        self.workloads = {w.prefix: w for w in workloads}
        self.kwvs = {
            f"shop-{w.prefix}-1.0": workload_version(
                workload=w.prefix,
                uid=f"uid-{w.prefix}",
                pre_tasks=w.names("pre_tasks"),
                pre_evaluations=w.names("pre_evaluations"),
                post_tasks=w.names("post_tasks"),
                post_evaluations=w.names("post_evaluations"),
            )
            for w in workloads
        }
        self.tasks: dict[str, KeptnTask] = {}
        self.evaluations: dict[str, KeptnEvaluation] = {}
        self.mailbox: list[Answer] = []
        self.delivered: list[Answer] = []
        self.events: dict[str, list[LifecycleEvent]] = {}
        self.created: list[str] = []
        self.tick = 0

    def now(self) -> str:
        self.tick += 1
        return f"2025-01-01T{self.tick // 3600 % 24:02d}:{self.tick // 60 % 60:02d}:{self.tick % 60:02d}Z"

    def _absorb(
        self, name: str, new_tasks: tuple[KeptnTask, ...], new_evals: tuple[KeptnEvaluation, ...]
    ) -> None:
        for task in new_tasks:
            assert task.metadata.name not in self.tasks, "an item was created twice"
            self.tasks[task.metadata.name] = task
            self.created.append(task.metadata.name)
            ok = self.outcome_of[task.spec.task_definition]
            start = TaskStarted(
                namespace=task.metadata.namespace,
                name=task.metadata.name,
                uid=task.metadata.uid,
                attempt=1,
                start_time="2025-01-01T00:00:00Z",
            )
            self.mailbox += [start, task_finished(task, S if ok else F, "" if ok else "exit code 1")]
        for evaluation in new_evals:
            assert evaluation.metadata.name not in self.evaluations, "an item was created twice"
            self.evaluations[evaluation.metadata.name] = evaluation
            self.created.append(evaluation.metadata.name)
            ok = self.outcome_of[evaluation.spec.evaluation_definition]
            self.mailbox.append(evaluation_finished(evaluation, S if ok else F))

    def settle(self) -> None:
        """Reconcile everything until nothing changes (the watcher's event-driven cascade)."""
        for _ in range(50):
            changed = False
            world = AppWorld(
                now=self.now(),
                tasks=self.tasks,
                evaluations=self.evaluations,
                task_definitions=self.task_definitions,
                evaluation_definitions=self.evaluation_definitions,
                workload_versions=self.kwvs,
            )
            out = reconcile_app_version(self.av, world, self.options)
            self._absorb(self.av.metadata.name, out.new_tasks, out.new_evaluations)
            self.events.setdefault(self.av.metadata.name, []).extend(out.events)
            if out.changed:
                self.av, changed = out.obj, True
            for name, kwv in list(self.kwvs.items()):
                wworld = WorkloadWorld(
                    now=self.now(),
                    tasks=self.tasks,
                    evaluations=self.evaluations,
                    task_definitions=self.task_definitions,
                    evaluation_definitions=self.evaluation_definitions,
                    app_version=self.av,
                )
                wout = reconcile_workload_version(kwv, wworld, self.options)
                self._absorb(name, wout.new_tasks, wout.new_evaluations)
                self.events.setdefault(name, []).extend(wout.events)
                if wout.start_deploy:
                    ok = self.workloads[kwv.spec.workload_name.removeprefix("shop-")].deploy_ok
                    self.mailbox.append(
                        deploy_finished(wout.obj, S if ok else F, "" if ok else "exit code 2")
                    )
                if wout.changed:
                    self.kwvs[name], changed = wout.obj, True
            if not changed:
                return
        raise AssertionError("reconciling did not settle")

    def deliver(self, answer: Answer, first: bool) -> None:
        if isinstance(answer, TaskStarted | TaskFinished):
            task = self.tasks[answer.name]
            new_task = apply_task_event(task, answer)
            self._check_once(new_task is not None, answer, first)
            if new_task is not None:
                self.tasks[answer.name] = new_task
        elif isinstance(answer, EvaluationFinished):
            new_eval = apply_evaluation_event(self.evaluations[answer.name], answer)
            self._check_once(new_eval is not None, answer, first)
            if new_eval is not None:
                self.evaluations[answer.name] = new_eval
        else:
            new_kwv = apply_deploy_finished(self.kwvs[answer.name], answer)
            self._check_once(new_kwv is not None, answer, first)
            if new_kwv is not None:
                self.kwvs[answer.name] = new_kwv
        self.settle()

    @staticmethod
    def _check_once(changed: bool, answer: Answer, first: bool) -> None:
        if not first:
            assert not changed, f"re-applying {answer} changed state again"
        elif not isinstance(answer, TaskStarted):
            assert changed, f"{answer} did not apply"  # a Started after Finished may be stale


def _expected_workload(options: Options, unit: Unit) -> KeptnState:
    if options.block_deployment:
        return S if all(unit.all_checks()) and unit.deploy_ok else F
    return S if unit.deploy_ok else F


def _app_prephase_ok(options: Options, app: Unit) -> bool:
    return all(app.pre_checks()) or not options.block_deployment


def _expected_app(options: Options, app: Unit, workloads: list[Unit]) -> KeptnState:
    checks = list(app.pre_checks()) + app.checks["post_tasks"] + app.checks["post_evaluations"]
    if options.promotion_tasks_enabled:
        checks += app.promotion
    if options.block_deployment and not all(checks):
        return F
    if any(_expected_workload(options, w) != S for w in workloads):
        return F
    return S


def _check_forward_only(events: list[LifecycleEvent], table: tuple[PhaseSpec, ...], final_phase: str) -> None:
    """Phases were entered once each, in order, none skipped, up to where the object ended."""
    order = [spec.phase.value for spec in table]
    started = [e.phase for e in events if e.reason.endswith("Started") and e.phase in order]
    assert started == order[: len(started)], f"phases entered out of order: {started}"
    if final_phase in order:
        assert started[-1] == final_phase
    elif final_phase == Phase.COMPLETED:
        assert started == order


def _check_items(obj: KeptnAppVersion | KeptnWorkloadVersion, table: tuple[PhaseSpec, ...]) -> None:
    """Every phase the object got past has an item per definition, each finished, unless a failed item
    ended the phase early (KLT's roll-up: one Failed item beats running siblings, §3.3 rule 1)."""
    phases = [spec.phase.value for spec in table]
    reached = (
        len(phases) if obj.status.current_phase == Phase.COMPLETED else phases.index(obj.status.current_phase)
    )
    for spec in table[:reached]:
        if spec.kind == PhaseKind.DEPLOY:
            continue
        items = getattr(obj.status, spec.items_field)
        assert len(items) == len(getattr(obj.spec, spec.definitions_field))
        if getattr(obj.status, spec.state_field) == KeptnState.WARNING:
            assert any(item.status == F for item in items)
        else:
            assert all(item.status == S for item in items)


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
@given(scenario=scenarios(), order=st.randoms(use_true_random=False))
def test_any_order_of_answers_ends_where_the_model_says(
    scenario: tuple[Options, Unit, list[Unit]], order: random.Random
) -> None:
    """``order`` picks which answer arrives next and when an old one is delivered again."""
    options, app, workloads = scenario
    sim = Simulation(options, app, workloads)
    sim.settle()
    while sim.mailbox:
        if sim.delivered and order.random() < 0.2:
            sim.deliver(order.choice(sim.delivered), first=False)
            continue
        answer = sim.mailbox.pop(order.randrange(len(sim.mailbox)))
        sim.delivered.append(answer)
        sim.deliver(answer, first=True)

    av = sim.av
    assert av.status.status in (S, F, KeptnState.DEPRECATED), "the AppVersion did not finish"
    assert av.status.status == _expected_app(options, app, workloads)
    assert (av.status.current_phase == Phase.COMPLETED) == (av.status.status == S)
    assert av.status.end_time
    table = app_phases(options.promotion_tasks_enabled)
    _check_forward_only(sim.events[av.metadata.name], table, av.status.current_phase)
    _check_items(av, table)
    for unit in workloads:
        kwv = sim.kwvs[f"shop-{unit.prefix}-1.0"]
        if not _app_prephase_ok(options, app):
            # KLT's gate: the app failed before AppDeploy, so the workload never starts (§3.6).
            assert (kwv.status.current_phase, kwv.status.status) == ("", KeptnState.PENDING)
            continue
        assert kwv.status.status == _expected_workload(options, unit)
        _check_forward_only(sim.events[kwv.metadata.name], WORKLOAD_TABLE, kwv.status.current_phase)
        _check_items(kwv, WORKLOAD_TABLE)
    assert len(set(sim.created)) == len(sim.created)


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
@given(scenario=scenarios())
def test_deciding_twice_from_the_same_input_gives_the_same_outcome(
    scenario: tuple[Options, Unit, list[Unit]],
) -> None:
    options, app, workloads = scenario
    first, second = Simulation(options, app, workloads), Simulation(options, app, workloads)
    first.settle()
    second.settle()
    assert first.created == second.created
    assert [e.id for e in first.events[first.av.metadata.name]] == [
        e.id for e in second.events[second.av.metadata.name]
    ]


def test_the_tables_cover_every_phase_once() -> None:
    assert [s.phase for s in APP_TABLE] == [
        Phase.APP_PRE_DEPLOY_TASKS,
        Phase.APP_PRE_DEPLOY_EVALUATIONS,
        Phase.APP_DEPLOY,
        Phase.APP_POST_DEPLOY_TASKS,
        Phase.APP_POST_DEPLOY_EVALUATIONS,
        Phase.PROMOTION_TASKS,
    ]
    assert [s.phase for s in WORKLOAD_TABLE][2] == Phase.WORKLOAD_DEPLOY
