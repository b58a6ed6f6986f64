"""The span plan of a stored lifecycle (klt-facts §8.1), exported through the SDK into memory: names,
parents, attributes, events and status for a release that succeeds and one that fails."""

from __future__ import annotations

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from services.watcher.index import Index
from services.watcher.telemetry import SpanSink, klt_resource
from services.watcher.tracing import APP_TRACER, WORKLOAD_TRACER, plan
from shared.keptn.lifecycle import (
    ItemStatus,
    KeptnAppVersion,
    KeptnAppVersionSpec,
    KeptnAppVersionStatus,
    KeptnTask,
    KeptnTaskSpec,
    KeptnTaskStatus,
    KeptnWorkloadVersion,
    KeptnWorkloadVersionSpec,
    KeptnWorkloadVersionStatus,
    ResourceReference,
    TaskContext,
)
from shared.keptn.meta import ObjectMeta, OwnerReference
from shared.keptn.resources import WorkloadRef
from shared.keptn.states import CheckType, KeptnState

S, F, P, D = KeptnState.SUCCEEDED, KeptnState.FAILED, KeptnState.PENDING, KeptnState.DEPRECATED
AV_NAME, KWV_NAME, TASK_NAME = "shop-1.0-6b86b273", "shop-web-1.0.0", "pre-check-shop-1.0-6b86b273"
LINK = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def t(second: int) -> str:
    return f"2026-01-02T03:04:{second:02d}Z"


def app_version(*, failed: bool = False) -> KeptnAppVersion:
    pre = ItemStatus(
        definition_name="pre-check", name=TASK_NAME, status=F if failed else S, start_time=t(1), end_time=t(3)
    )
    return KeptnAppVersion(
        metadata=ObjectMeta(name=AV_NAME, namespace="shop", uid="av-uid", creation_timestamp=t(0)),
        spec=KeptnAppVersionSpec(
            app_name="shop",
            version="1.0",
            workloads=[WorkloadRef(name="web", version="1.0.0")],
            pre_deployment_tasks=["pre-check"],
            metadata={"commit": "abc123"},
            span_links=[LINK],
        ),
        status=KeptnAppVersionStatus(
            pre_deployment_status=F if failed else S,
            pre_deployment_evaluation_status=D if failed else S,
            workload_overall_status=D if failed else S,
            post_deployment_status=D if failed else S,
            post_deployment_evaluation_status=D if failed else S,
            promotion_status=D if failed else P,
            status=F if failed else S,
            current_phase="AppPreDeployTasks" if failed else "Completed",
            pre_deployment_task_status=[pre],
            start_time=t(1),
            end_time=t(4 if failed else 9),
        ),
    )


def workload_version() -> KeptnWorkloadVersion:
    return KeptnWorkloadVersion(
        metadata=ObjectMeta(name=KWV_NAME, namespace="shop", uid="kwv-uid", creation_timestamp=t(0)),
        spec=KeptnWorkloadVersionSpec(
            app="shop",
            version="1.0.0",
            workload_name="shop-web",
            resource_reference=ResourceReference(kind="Deployment", name="web"),
        ),
        status=KeptnWorkloadVersionStatus(
            pre_deployment_status=S,
            pre_deployment_evaluation_status=S,
            deployment_status=S,
            post_deployment_status=S,
            post_deployment_evaluation_status=S,
            status=S,
            current_phase="Completed",
            start_time=t(4),
            deployment_start_time=t(5),
            end_time=t(7),
        ),
    )


def task(*, failed: bool = False) -> KeptnTask:
    return KeptnTask(
        metadata=ObjectMeta(
            name=TASK_NAME,
            namespace="shop",
            uid="task-uid",
            owner_references=[OwnerReference(kind="KeptnAppVersion", name=AV_NAME)],
        ),
        spec=KeptnTaskSpec(
            task_definition="pre-check",
            check_type=CheckType.PRE,
            context=TaskContext(app_name="shop", app_version="1.0", task_type="pre", object_type="App"),
        ),
        status=KeptnTaskStatus(
            status=F if failed else S,
            message="exit code 1" if failed else "",
            start_time=t(1),
            end_time=t(3),
        ),
    )


def export(*objects: object) -> dict[str, ReadableSpan]:
    index = Index()
    for revision, obj in enumerate(objects, 1):
        index.put(obj, revision)
    memory = InMemorySpanExporter()
    sink = SpanSink(klt_resource(), processor_for=SimpleSpanProcessor)
    sink.endpoint, sink._processor = "memory", SimpleSpanProcessor(memory)
    for obj in objects:
        sink.emit(plan(obj, index))
    spans = {span.name: span for span in memory.get_finished_spans()}
    assert len(spans) == len(memory.get_finished_spans()), "span names are unique here"
    return spans


def parent_of(span: ReadableSpan) -> int | None:
    return None if span.parent is None else span.parent.span_id


def test_a_successful_release_forms_klts_span_tree() -> None:
    spans = export(task(), workload_version(), app_version())

    root = spans[AV_NAME]
    assert root.parent is None
    assert root.instrumentation_scope is not None and root.instrumentation_scope.name == APP_TRACER
    assert root.resource.attributes["service.name"] == "lifecycle-operator"
    assert root.kind == SpanKind.CONSUMER
    assert dict(root.attributes or {}) == {
        "keptn.deployment.app.name": "shop",
        "keptn.deployment.app.version": "1.0",
        "keptn.deployment.app.namespace": "shop",
        "commit": "abc123",
    }
    assert root.status.status_code == StatusCode.OK
    assert [e.name for e in root.events] == [
        "App Version Pre-Deployment Tasks started",
        f"{AV_NAME} has finished",
    ]
    (link,) = root.links
    assert f"{link.context.trace_id:032x}" == "0af7651916cd43dd8448eb211c80319c"
    assert dict(link.attributes or {}) == {"opentracing.ref_type": "follows-from"}

    app_phases = [
        "AppPreDeployTasks",
        "AppPreDeployEvaluations",
        "AppDeploy",
        "AppPostDeployTasks",
        "AppPostDeployEvaluations",
    ]
    workload_phases = [
        f"shop-web/{phase}"
        for phase in (
            "WorkloadPreDeployTasks",
            "WorkloadPreDeployEvaluations",
            "WorkloadDeploy",
            "WorkloadPostDeployTasks",
            "WorkloadPostDeployEvaluations",
        )
    ]
    assert sorted(spans) == sorted([AV_NAME, KWV_NAME, TASK_NAME, *app_phases, *workload_phases])
    assert {span.context.trace_id for span in spans.values()} == {root.context.trace_id}
    for name in app_phases:
        assert parent_of(spans[name]) == root.context.span_id
        assert spans[name].status.status_code == StatusCode.OK
    assert [e.name for e in spans["AppDeploy"].events] == ["App Deployment has succeeded"]
    assert spans["AppDeploy"].end_time == spans[KWV_NAME].end_time  # AppDeploy ends with its workload

    workload = spans[KWV_NAME]
    assert parent_of(workload) == spans["AppDeploy"].context.span_id
    assert workload.instrumentation_scope is not None
    assert workload.instrumentation_scope.name == WORKLOAD_TRACER
    assert dict(workload.attributes or {}) == {
        "keptn.deployment.app.name": "shop",
        "keptn.deployment.workload.name": "shop-web",
        "keptn.deployment.workload.version": "1.0.0",
        "keptn.deployment.workload.namespace": "shop",
    }
    for name in workload_phases:
        assert parent_of(spans[name]) == workload.context.span_id
    deploy = spans["shop-web/WorkloadDeploy"]
    assert deploy.start_time is not None and deploy.end_time is not None
    assert (deploy.end_time - deploy.start_time) // 1_000_000_000 == 2  # deploymentStartTime to the end

    pre_check = spans[TASK_NAME]
    assert parent_of(pre_check) == spans["AppPreDeployTasks"].context.span_id
    assert dict(pre_check.attributes or {}) == {
        "keptn.deployment.app.name": "shop",
        "keptn.deployment.app.version": "1.0",
        "keptn.deployment.task.name": TASK_NAME,
        "keptn.deployment.task.type": "pre",
    }
    assert pre_check.status.status_code == StatusCode.OK


def test_a_failed_pre_deployment_task_fails_its_phase_and_the_app_version() -> None:
    spans = export(task(failed=True), app_version(failed=True))

    assert sorted(spans) == sorted([AV_NAME, "AppPreDeployTasks", TASK_NAME])  # deprecated phases: no span
    root, phase, failed = spans[AV_NAME], spans["AppPreDeployTasks"], spans[TASK_NAME]
    assert root.status.status_code == StatusCode.ERROR and root.status.description == "Failed"
    assert root.events[-1].name == f"{AV_NAME} has failed"
    assert phase.status.status_code == StatusCode.ERROR
    assert [e.name for e in phase.events] == [
        "App Pre-Deployment Tasks has failed",
        "task 'pre-check' failed with reason: 'exit code 1'",
    ]
    assert failed.status.status_code == StatusCode.ERROR and failed.status.description == "Failed"
    assert [e.name for e in failed.events] == [f"{TASK_NAME} has failed"]


def test_nothing_is_planned_while_a_version_moves_and_ids_are_stable() -> None:
    moving = app_version()
    moving.status.status, moving.status.current_phase, moving.status.end_time = S, "AppDeploy", None
    index = Index()
    index.put(moving, 1)
    assert plan(moving, index) == []

    done = app_version()
    index.put(done, 2)
    first, again = plan(done, index), plan(done, index)
    assert [(s.trace_id, s.span_id) for s in first] == [(s.trace_id, s.span_id) for s in again]
    assert len({s.span_id for s in first}) == len(first)
