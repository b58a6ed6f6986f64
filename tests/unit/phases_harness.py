"""Builders and a tiny in-memory world for driving the pure phase machine in tests.

``Harness`` plays the watcher's part without NATS: it keeps the tasks, evaluations and workload
versions, hands the machine a world, stores what the outcome creates, and lets a test answer items.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from shared.keptn.lifecycle import (
    EvaluationStatusItem,
    KeptnAppVersion,
    KeptnAppVersionSpec,
    KeptnEvaluation,
    KeptnTask,
    KeptnWorkloadVersion,
    KeptnWorkloadVersionSpec,
    ResourceReference,
)
from shared.keptn.meta import ObjectMeta
from shared.keptn.resources import (
    KeptnEvaluationDefinition,
    KeptnEvaluationDefinitionSpec,
    KeptnTaskDefinition,
    KeptnTaskDefinitionSpec,
    RuntimeSpec,
    WorkloadRef,
)
from shared.keptn.states import KeptnState
from shared.messages import DeployFinished, EvaluationFinished, LifecycleEvent, TaskFinished
from shared.phases import (
    AppWorld,
    Options,
    Outcome,
    WorkloadWorld,
    apply_deploy_finished,
    apply_evaluation_event,
    apply_task_event,
    reconcile_app_version,
    reconcile_workload_version,
)

NS = "demo"


def task_definition(name: str, retries: int = 10, timeout: str = "5m") -> KeptnTaskDefinition:
    return KeptnTaskDefinition(
        metadata=ObjectMeta(name=name, namespace=NS, labels={"team": "qa"}),
        spec=KeptnTaskDefinitionSpec(deno=RuntimeSpec(), retries=retries, timeout=timeout),
    )


def evaluation_definition(name: str, retries: int = 10, interval: str = "5s") -> KeptnEvaluationDefinition:
    return KeptnEvaluationDefinition(
        metadata=ObjectMeta(name=name, namespace=NS),
        spec=KeptnEvaluationDefinitionSpec(retries=retries, retry_interval=interval),
    )


def app_version(
    *,
    app: str = "shop",
    version: str = "1.0",
    workloads: list[tuple[str, str]] | None = None,
    pre_tasks: list[str] | None = None,
    pre_evaluations: list[str] | None = None,
    post_tasks: list[str] | None = None,
    post_evaluations: list[str] | None = None,
    promotion_tasks: list[str] | None = None,
    metadata: dict[str, str] | None = None,
    uid: str = "uid-av",
    created: str = "2025-01-01T00:00:00Z",
) -> KeptnAppVersion:
    refs = [WorkloadRef(name=n, version=v) for n, v in (workloads if workloads is not None else [])]
    return KeptnAppVersion(
        metadata=ObjectMeta(
            name=f"{app}-{version}-6b86b273", namespace=NS, uid=uid, creation_timestamp=created
        ),
        spec=KeptnAppVersionSpec(
            app_name=app,
            version=version,
            workloads=refs,
            pre_deployment_tasks=pre_tasks or [],
            pre_deployment_evaluations=pre_evaluations or [],
            post_deployment_tasks=post_tasks or [],
            post_deployment_evaluations=post_evaluations or [],
            promotion_tasks=promotion_tasks or [],
            metadata=metadata or {},
        ),
    )


def workload_version(
    *,
    app: str = "shop",
    workload: str = "web",
    version: str = "1.0",
    pre_tasks: list[str] | None = None,
    pre_evaluations: list[str] | None = None,
    post_tasks: list[str] | None = None,
    post_evaluations: list[str] | None = None,
    metadata: dict[str, str] | None = None,
    uid: str = "uid-wv",
) -> KeptnWorkloadVersion:
    return KeptnWorkloadVersion(
        metadata=ObjectMeta(name=f"{app}-{workload}-{version}", namespace=NS, uid=uid),
        spec=KeptnWorkloadVersionSpec(
            app=app,
            version=version,
            workload_name=f"{app}-{workload}",
            pre_deployment_tasks=pre_tasks or [],
            pre_deployment_evaluations=pre_evaluations or [],
            post_deployment_tasks=post_tasks or [],
            post_deployment_evaluations=post_evaluations or [],
            resource_reference=ResourceReference(kind="Deployment", name=workload, uid="rs-1"),
            metadata=metadata or {},
        ),
    )


def task_finished(task: KeptnTask, status: KeptnState, message: str = "") -> TaskFinished:
    return TaskFinished(
        namespace=task.metadata.namespace,
        name=task.metadata.name,
        uid=task.metadata.uid,
        status=status,
        attempts=1,
        start_time="2025-01-01T00:00:01Z",
        end_time="2025-01-01T00:00:02Z",
        message=message,
    )


def _verdict(status: KeptnState) -> str:
    return "met" if status == KeptnState.SUCCEEDED else "did not meet"


def evaluation_finished(
    evaluation: KeptnEvaluation, status: KeptnState, value: str = "1"
) -> EvaluationFinished:
    objective = EvaluationStatusItem(
        value=value,
        status=status,
        message=f"value '{value}' {_verdict(status)} objective '<5'",
    )
    return EvaluationFinished(
        namespace=evaluation.metadata.namespace,
        name=evaluation.metadata.name,
        uid=evaluation.metadata.uid,
        overall_status=status,
        retry_count=1,
        evaluation_status={"cpu": objective},
        start_time="2025-01-01T00:00:01Z",
        end_time="2025-01-01T00:00:02Z",
    )


def deploy_finished(wv: KeptnWorkloadVersion, status: KeptnState, message: str = "") -> DeployFinished:
    return DeployFinished(
        namespace=wv.metadata.namespace,
        name=wv.metadata.name,
        uid=wv.metadata.uid,
        status=status,
        message=message,
    )


@dataclass
class Harness:
    """An in-memory stand-in for the watcher's state: reconcile, store what was created, answer items."""

    options: Options = field(default_factory=Options)
    task_definitions: dict[str, KeptnTaskDefinition] = field(default_factory=dict)
    evaluation_definitions: dict[str, KeptnEvaluationDefinition] = field(default_factory=dict)
    tasks: dict[str, KeptnTask] = field(default_factory=dict)
    evaluations: dict[str, KeptnEvaluation] = field(default_factory=dict)
    workload_versions: dict[str, KeptnWorkloadVersion] = field(default_factory=dict)
    app_version: KeptnAppVersion | None = None
    events: list[LifecycleEvent] = field(default_factory=list)
    deploys_started: int = 0
    _clock: itertools.count[int] = field(default_factory=lambda: itertools.count(10))

    def define(self, *tasks: str, evaluations: tuple[str, ...] = ()) -> Harness:
        for name in tasks:
            self.task_definitions[name] = task_definition(name)
        for name in evaluations:
            self.evaluation_definitions[name] = evaluation_definition(name)
        return self

    def now(self) -> str:
        return f"2025-01-01T00:{next(self._clock) % 60:02d}:00Z"

    def _absorb(self, outcome: Outcome[KeptnAppVersion] | Outcome[KeptnWorkloadVersion]) -> None:
        for task in outcome.new_tasks:
            self.tasks.setdefault(task.metadata.name, task)
        for evaluation in outcome.new_evaluations:
            self.evaluations.setdefault(evaluation.metadata.name, evaluation)
        self.events.extend(outcome.events)
        self.deploys_started += outcome.start_deploy

    def reconcile_app(self, av: KeptnAppVersion) -> Outcome[KeptnAppVersion]:
        world = AppWorld(
            now=self.now(),
            tasks=self.tasks,
            evaluations=self.evaluations,
            task_definitions=self.task_definitions,
            evaluation_definitions=self.evaluation_definitions,
            workload_versions=self.workload_versions,
        )
        outcome = reconcile_app_version(av, world, self.options)
        self._absorb(outcome)
        return outcome

    def reconcile_workload(self, wv: KeptnWorkloadVersion) -> Outcome[KeptnWorkloadVersion]:
        world = WorkloadWorld(
            now=self.now(),
            tasks=self.tasks,
            evaluations=self.evaluations,
            task_definitions=self.task_definitions,
            evaluation_definitions=self.evaluation_definitions,
            app_version=self.app_version,
        )
        outcome = reconcile_workload_version(wv, world, self.options)
        self._absorb(outcome)
        if outcome.changed:
            self.workload_versions[wv.metadata.name] = outcome.obj
        return outcome

    def finish_task(self, definition: str, status: KeptnState, message: str = "") -> None:
        task = self.task_of(definition)
        updated = apply_task_event(task, task_finished(task, status, message))
        assert updated is not None
        self.tasks[task.metadata.name] = updated

    def finish_evaluation(self, definition: str, status: KeptnState, value: str = "1") -> None:
        evaluation = self.evaluation_of(definition)
        updated = apply_evaluation_event(evaluation, evaluation_finished(evaluation, status, value))
        assert updated is not None
        self.evaluations[evaluation.metadata.name] = updated

    def finish_deploy(
        self, wv: KeptnWorkloadVersion, status: KeptnState, message: str = ""
    ) -> KeptnWorkloadVersion:
        updated = apply_deploy_finished(wv, deploy_finished(wv, status, message))
        assert updated is not None
        return updated

    def task_of(self, definition: str) -> KeptnTask:
        (task,) = [t for t in self.tasks.values() if t.spec.task_definition == definition]
        return task

    def evaluation_of(self, definition: str) -> KeptnEvaluation:
        (evaluation,) = [e for e in self.evaluations.values() if e.spec.evaluation_definition == definition]
        return evaluation

    def reasons(self) -> list[str]:
        return [event.reason for event in self.events]
