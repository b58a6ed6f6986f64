"""The pure Job builders of the task-runner's Kubernetes mode, field by field (klt-facts §4.2-§4.5)."""

from __future__ import annotations

from typing import Any

import pytest

from services.task_runner.contract import Runtime, context_json
from services.task_runner.kube.functions import code_config_map, config_map_name, function_job
from services.task_runner.kube.jobs import (
    JobOutcome,
    JobRequest,
    JobSpecError,
    active_deadline_seconds,
    container_job,
    job_name,
    job_outcome,
    owner_reference,
    pod_exit_code,
)
from services.task_runner.resolving import CodeSource, SourceKind, TaskPlan
from shared.keptn.lifecycle import TaskContext
from shared.keptn.meta import ObjectMeta
from shared.keptn.resources import (
    AutomountServiceAccountToken,
    KeptnTaskDefinition,
    KeptnTaskDefinitionSpec,
    NameRef,
)

WORKLOAD = TaskContext(
    workload_name="waiter-waiter", app_name="waiter", workload_version="0.4", task_type="pre",
    object_type="Workload",
)  # fmt: skip
APP = TaskContext(app_name="waiter", app_version="1.2", task_type="pre", object_type="App")


def definition(container: dict[str, Any] | None = None, **spec: Any) -> KeptnTaskDefinition:
    return KeptnTaskDefinition(
        metadata=ObjectMeta(name="check", namespace="demo", labels={"l": "1"}, annotations={"a": "x"}),
        spec=KeptnTaskDefinitionSpec(container=container, **spec),
    )


def request(
    container: dict[str, Any] | None = None, context: TaskContext = WORKLOAD, **kw: Any
) -> JobRequest:
    fields: dict[str, Any] = {"deadline_s": 300, **kw}
    return JobRequest(
        namespace="demo", task_name="pre-check-12345", task_uid="uid-1", attempt=1,
        definition=definition(container), context=context, **fields,
    )  # fmt: skip


def test_job_name_is_the_task_name_and_a_stable_five_digit_suffix_per_attempt() -> None:
    first = job_name("pre-check-12345", "uid-1", 1)
    prefix, _, suffix = first.rpartition("-")
    assert prefix == "pre-check-12345" and len(suffix) == 5 and 10000 <= int(suffix) < 99998
    assert job_name("pre-check-12345", "uid-1", 1) == first
    assert job_name("pre-check-12345", "uid-1", 2) != first
    assert job_name("pre-check-12345", "uid-2", 1) != first
    long = job_name("t" * 300, "uid-1", 1)
    assert len(long) == 253 and long.endswith(f"-{suffix}")  # the task name is cut, never the suffix


def test_container_job_keeps_the_container_and_injects_only_keptn_context() -> None:
    container = {
        "name": "c", "image": "busybox", "args": ["a"],
        "env": [
            {"name": "A", "value": "1"},
            {"name": "KEPTN_CONTEXT", "value": "mine"},
            {"name": "B", "value": "2"},
        ],
    }  # fmt: skip
    job = container_job(request(container))
    [run] = job["spec"]["template"]["spec"]["containers"]
    assert run["env"] == [
        {"name": "A", "value": "1"},
        {"name": "KEPTN_CONTEXT", "value": context_json(WORKLOAD)},
        {"name": "B", "value": "2"},
    ]
    assert {k: v for k, v in run.items() if k != "env"} == {"name": "c", "image": "busybox", "args": ["a"]}
    assert container["env"][1]["value"] == "mine"  # the definition is not changed
    bare = container_job(request({"name": "c", "image": "busybox"}))
    assert bare["spec"]["template"]["spec"]["containers"][0]["env"] == [
        {"name": "KEPTN_CONTEXT", "value": context_json(WORKLOAD)}
    ]
    assert "volumes" not in bare["spec"]["template"]["spec"]


@pytest.mark.parametrize(
    ("resources", "size"),
    [({"limits": {"memory": "128Mi"}}, "128Mi"), ({"requests": {"memory": "1Mi"}}, "1Gi"), ({}, "1Gi")],
)
def test_a_volume_mount_gets_a_memory_empty_dir_sized_by_the_memory_limit(
    resources: dict[str, Any], size: str
) -> None:
    mounts = [{"name": "first", "mountPath": "/a"}, {"name": "second", "mountPath": "/b"}]
    job = container_job(request({"name": "c", "image": "i", "resources": resources, "volumeMounts": mounts}))
    assert job["spec"]["template"]["spec"]["volumes"] == [
        {"name": "first", "emptyDir": {"medium": "Memory", "sizeLimit": size}}
    ]


def test_job_metadata_and_spec_follow_the_definition() -> None:
    spec_fields = {
        "service_account": NameRef(name="sa"),
        "automount_service_account_token": AutomountServiceAccountToken(type=True),
        "ttl_seconds_after_finished": 60,
        "image_pull_secrets": [NameRef(name="r1"), NameRef(name="r2")],
    }
    req = JobRequest(
        namespace="demo", task_name="pre-check-12345", task_uid="uid-1", attempt=2,
        definition=definition({"name": "c", "image": "i"}, **spec_fields), context=WORKLOAD, deadline_s=42,
        owner={"kind": "KeptnTask"},
    )  # fmt: skip
    job = container_job(req)
    assert (job["apiVersion"], job["kind"]) == ("batch/v1", "Job")
    meta = job["metadata"]
    assert (meta["name"], meta["namespace"]) == (job_name("pre-check-12345", "uid-1", 2), "demo")
    assert meta["labels"] == {"l": "1"}
    assert meta["annotations"] == {
        "a": "x", "keptn.sh/app": "waiter", "keptn.sh/workload": "waiter-waiter", "keptn.sh/version": "0.4",
        "keptn.sh/task-name": "pre-check-12345",
    }  # fmt: skip
    assert meta["ownerReferences"] == [{"kind": "KeptnTask"}]
    spec = job["spec"]
    assert (spec["backoffLimit"], spec["activeDeadlineSeconds"], spec["ttlSecondsAfterFinished"]) == (
        0,
        42,
        60,
    )
    pod = spec["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    assert (pod["serviceAccountName"], pod["automountServiceAccountToken"]) == ("sa", True)
    assert pod["imagePullSecrets"] == [{"name": "r1"}, {"name": "r2"}]
    assert spec["template"]["metadata"]["labels"] == {"l": "1"}


def test_app_task_annotations_carry_the_app_version_and_no_workload() -> None:
    job = container_job(request({"name": "c", "image": "i"}, context=APP, deadline_s=None))
    annotations = job["metadata"]["annotations"]
    assert (annotations["keptn.sh/version"], "keptn.sh/workload" in annotations) == ("1.2", False)
    assert "activeDeadlineSeconds" not in job["spec"]
    assert "ownerReferences" not in job["metadata"]
    pod = job["spec"]["template"]["spec"]
    assert not {"serviceAccountName", "automountServiceAccountToken", "imagePullSecrets"} & set(pod)


@pytest.mark.parametrize(
    ("container", "message"),
    [
        (None, "KeptnTaskDefinition 'check' has no spec.container"),
        ({"image": "i"}, "KeptnTaskDefinition 'check': spec.container.name is required"),
        ({"name": "c"}, "KeptnTaskDefinition 'check': spec.container.image is required"),
        ({"name": "c", "image": "i", "env": "x"}, "spec.container.env must be a list"),
        ({"name": "c", "image": "i", "volumeMounts": [{}]}, "volumeMounts[0].name is required"),
    ],
)
def test_a_container_that_cannot_be_a_job_is_a_clear_error(
    container: dict[str, Any] | None, message: str
) -> None:
    with pytest.raises(JobSpecError, match=message.replace("[", r"\[").replace("]", r"\]")):
        container_job(request(container))


def test_deadline_is_rounded_up_to_whole_seconds_and_never_zero() -> None:
    assert [active_deadline_seconds(s) for s in (None, 0.0, 0.2, 29.01, 30.0)] == [None, 1, 1, 30, 30]


def test_owner_reference_points_at_the_keptn_task() -> None:
    task = {"apiVersion": "lifecycle.keptn.sh/v1", "metadata": {"name": "t", "uid": "u"}}
    assert owner_reference(task) == {
        "apiVersion": "lifecycle.keptn.sh/v1", "kind": "KeptnTask", "name": "t", "uid": "u",
        "controller": True, "blockOwnerDeletion": True,
    }  # fmt: skip
    assert owner_reference({"metadata": {"name": "t"}}) is None


def cond(kind: str, status: str = "True", reason: str = "", message: str = "") -> dict[str, str]:
    return {"type": kind, "status": status, "reason": reason, "message": message}


def test_job_outcome_from_conditions_as_klt_reads_them() -> None:
    assert job_outcome({"status": {}}) is None
    assert job_outcome({"status": {"conditions": [cond("Suspended")]}}) is None
    assert job_outcome({"status": {"conditions": [cond("SuccessCriteriaMet")]}}) == JobOutcome(True)
    assert job_outcome({"status": {"conditions": [cond("Complete")]}}) == JobOutcome(True)
    assert job_outcome({"status": {"conditions": [cond("Complete", "False")]}}) is None
    deadline = "Job was active longer than specified deadline"
    outcome = job_outcome(
        {"status": {"conditions": [cond("FailureTarget", reason="DeadlineExceeded", message=deadline)]}}
    )
    assert outcome == JobOutcome(False, "DeadlineExceeded", deadline) and outcome.deadline_exceeded
    failed = job_outcome({"status": {"conditions": [cond("Failed", reason="BackoffLimitExceeded")]}})
    assert failed is not None and not failed.succeeded and not failed.deadline_exceeded


def test_pod_exit_code_of_the_named_container() -> None:
    pod = {"status": {"containerStatuses": [
        {"name": "side", "state": {"terminated": {"exitCode": 0}}},
        {"name": "main", "state": {"terminated": {"exitCode": 3}}},
    ]}}  # fmt: skip
    assert (pod_exit_code(pod, "main"), pod_exit_code(pod), pod_exit_code({"status": {}})) == (3, 0, None)
    running = {"status": {"containerStatuses": [{"name": "main", "state": {"running": {}}}]}}
    assert pod_exit_code(running, "main") is None


def plan(source: CodeSource, runtime: Runtime = Runtime.DENO, **kw: Any) -> TaskPlan:
    return TaskPlan(definition="notify", runtime=runtime, source=source, resolved=definition(), **kw)


def test_function_job_has_klts_variables_in_order_and_a_secret_reference() -> None:
    p = plan(CodeSource(SourceKind.INLINE, code="console.log(1)"), parameters={"b": "2", "a": "1"},
             cmd_args="-u", secret="token")  # fmt: skip
    job = function_job(request(), p, "deno-image:1")
    pod = job["spec"]["template"]["spec"]
    [run] = pod["containers"]
    assert (run["name"], run["image"], run["imagePullPolicy"]) == (
        "keptn-function-runner",
        "deno-image:1",
        "IfNotPresent",
    )
    assert run["env"] == [
        {"name": "DATA", "value": '{"a":"1","b":"2"}'},
        {"name": "KEPTN_CONTEXT", "value": context_json(WORKLOAD)},
        {"name": "CMD_ARGS", "value": "-u"},
        {"name": "SECURE_DATA", "valueFrom": {"secretKeyRef": {"name": "token", "key": "SECURE_DATA"}}},
        {"name": "SCRIPT", "value": "/var/data/function.ts"},
    ]
    assert run["volumeMounts"] == [
        {"name": "function-mount", "mountPath": "/var/data/function.ts", "subPath": "code", "readOnly": True}
    ]
    assert pod["volumes"] == [{"name": "function-mount", "configMap": {"name": "keptnfn-notify"}}]
    assert code_config_map("demo", p) == {
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "keptnfn-notify", "namespace": "demo"},
        "data": {"code": "console.log(1)"},
    }  # fmt: skip


def test_function_job_for_a_url_passes_it_as_script_and_mounts_nothing() -> None:
    p = plan(CodeSource(SourceKind.HTTP, url="https://example.com/f.py"), Runtime.PYTHON)
    job = function_job(request(), p, "py-image")
    [run] = job["spec"]["template"]["spec"]["containers"]
    assert [e["name"] for e in run["env"]] == ["KEPTN_CONTEXT", "CMD_ARGS", "SCRIPT"]
    assert run["env"][-1] == {"name": "SCRIPT", "value": "https://example.com/f.py"}
    assert "volumeMounts" not in run and "volumes" not in job["spec"]["template"]["spec"]
    assert code_config_map("demo", p) is None
    assert len(config_map_name("d" * 300)) == 245
