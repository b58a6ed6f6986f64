"""The task-runner in Kubernetes mode against the API test server and the session nats-server: container
tasks run as one Job per attempt (klt-facts §4.2, §4.4, §4.5), a restarted runner adopts the running Job,
and deno tasks read ``SECURE_DATA`` from the cluster's Secrets."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
import yaml

from services.task_runner.config import TaskRunnerConfig, task_runner_config
from services.task_runner.contract import context_json
from services.task_runner.kube.jobs import job_name
from services.task_runner.service import serve
from shared.keptn.meta import ObjectMeta
from shared.keptn.resources import (
    AutomountServiceAccountToken,
    KeptnTaskDefinition,
    KeptnTaskDefinitionSpec,
    NameRef,
)
from shared.keptn.states import KeptnState
from shared.messages import RunTask
from shared.runtime.settings import CommonSettings
from tests.integration.test_task_runner_support import (
    NS,
    WAITER_CONTEXT,
    definition,
    harness,
    run_task,
    running_service,
)
from tests.k8s.fixtures import k8s_api_server
from tests.k8s.kubelet import PodPlan
from tests.k8s.server import ApiServer

__all__ = ["k8s_api_server"]

JOBS = "jobs.batch"


@pytest.fixture
async def cluster(k8s_api_server: ApiServer) -> AsyncIterator[ApiServer]:
    """The API test server with namespace ``demo`` and its controllers running in the background."""
    k8s_api_server.add_namespace(NS)
    k8s_api_server.controllers.start(0.02)
    try:
        yield k8s_api_server
    finally:
        await k8s_api_server.controllers.stop()


@pytest.fixture
def config(cluster: ApiServer, tmp_path: Path) -> TaskRunnerConfig:
    kubeconfig = tmp_path / "kubeconfig.yaml"
    kubeconfig.write_text(yaml.safe_dump(cluster.kubeconfig()))
    return task_runner_config(
        {"KLT_TASK_RUNNER_KUBERNETES": "true", "KLT_TASK_RUNNER_KUBECONFIG": str(kubeconfig)},
        work_dir=str(tmp_path / "work"),
        ack_wait_s=2.0,
        heartbeat_s=0.5,
    )


def container_definition(name: str, container: dict[str, Any], **spec: Any) -> KeptnTaskDefinition:
    return KeptnTaskDefinition(
        metadata=ObjectMeta(
            name=name,
            namespace=NS,
            labels={"team": "payments"},
            annotations={"owner": "ops", "keptn.sh/app": "overridden"},
        ),
        spec=KeptnTaskDefinitionSpec(container=container, **spec),
    )


def task_jobs(server: ApiServer, command: RunTask) -> list[dict[str, Any]]:
    return server.store.list(
        JOBS, NS, predicate=lambda j: j["metadata"]["annotations"].get("keptn.sh/task-name") == command.name
    )


async def wait_job(server: ApiServer, name: str, timeout: float = 20.0) -> dict[str, Any]:
    async with asyncio.timeout(timeout):
        while (job := server.store.find(JOBS, NS, name)) is None:
            await asyncio.sleep(0.02)
    return job


async def put_task_cr(server: ApiServer, command: RunTask) -> dict[str, Any]:
    """The KeptnTask CR as the watcher projects it; the Job is then owned by it."""
    return server.store.create(
        "keptntasks",
        {
            "apiVersion": "lifecycle.keptn.sh/v1",
            "kind": "KeptnTask",
            "metadata": {"name": command.name, "namespace": NS},
            "spec": {"taskDefinition": command.task_definition, "checkType": "pre"},
        },
        NS,
    )


async def test_container_task_runs_as_a_job_with_klts_spec(
    klt_settings: CommonSettings, config: TaskRunnerConfig, cluster: ApiServer
) -> None:
    container = {
        "name": "testy-test",
        "image": "busybox:1.36.1",
        "command": ["sh", "-c", "echo hello"],
        "env": [{"name": "KEPTN_CONTEXT", "value": "user value"}],
        "resources": {"limits": {"memory": "64Mi"}},
        "volumeMounts": [{"name": "scratch", "mountPath": "/scratch"}],
    }
    task_def = container_definition(
        "container-check",
        container,
        service_account=NameRef(name="task-sa"),
        automount_service_account_token=AutomountServiceAccountToken(type=False),
        ttl_seconds_after_finished=120,
        image_pull_secrets=[NameRef(name="regcred")],
    )
    command = run_task("container-check", timeout="30s")
    name = job_name(command.name, command.uid, 1)
    cluster.controllers.script_job(NS, name, [0], logs=["hello from the job\n"])
    cr = await put_task_cr(cluster, command)
    async with harness(klt_settings) as h, running_service(klt_settings, config):
        await h.put_definition(task_def)
        await h.send(command)
        finished = await h.wait_finished(command)
        logs = await h.logs(command)

    assert (finished.status, finished.attempts, finished.reason) == (KeptnState.SUCCEEDED, 1, "")
    [job] = task_jobs(cluster, command)
    assert job["metadata"]["name"] == name
    assert job["metadata"]["labels"] == {"team": "payments"}
    assert job["metadata"]["annotations"] == {
        "owner": "ops",
        "keptn.sh/app": "waiter",
        "keptn.sh/workload": "waiter-waiter",
        "keptn.sh/version": "0.4",
        "keptn.sh/task-name": command.name,
    }
    [owner] = job["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["name"], owner["uid"], owner["controller"]) == (
        "KeptnTask", command.name, cr["metadata"]["uid"], True
    )  # fmt: skip
    spec = job["spec"]
    assert (spec["backoffLimit"], spec["ttlSecondsAfterFinished"]) == (0, 120)
    assert 25 <= spec["activeDeadlineSeconds"] <= 30
    pod = spec["template"]["spec"]
    assert (pod["restartPolicy"], pod["serviceAccountName"], pod["automountServiceAccountToken"]) == (
        "Never", "task-sa", False
    )  # fmt: skip
    assert pod["imagePullSecrets"] == [{"name": "regcred"}]
    [run] = pod["containers"]
    assert run["env"] == [{"name": "KEPTN_CONTEXT", "value": context_json(WAITER_CONTEXT)}]
    assert {k: run[k] for k in ("name", "image", "command", "volumeMounts")} == {
        k: container[k] for k in ("name", "image", "command", "volumeMounts")
    }
    assert pod["volumes"] == [{"name": "scratch", "emptyDir": {"medium": "Memory", "sizeLimit": "64Mi"}}]
    assert logs["runtime"] == "container"
    [attempt] = logs["attempts"]
    assert (attempt["exitCode"], attempt["outcome"], attempt["stdout"]) == (
        0,
        "succeeded",
        "hello from the job\n",
    )


async def test_failing_container_task_runs_retries_plus_one_jobs(
    klt_settings: CommonSettings, config: TaskRunnerConfig, cluster: ApiServer
) -> None:
    command = run_task("fails", retries=2)
    for attempt in (1, 2, 3):
        cluster.controllers.script_job(NS, job_name(command.name, command.uid, attempt), [1], logs=["boom\n"])
    async with harness(klt_settings) as h, running_service(klt_settings, config):
        await h.put_definition(container_definition("fails", {"name": "c", "image": "busybox"}))
        await h.send(command)
        finished = await h.wait_finished(command)
        logs = await h.logs(command)

    assert (finished.status, finished.attempts, finished.reason) == (
        KeptnState.FAILED,
        3,
        "BackoffLimitExceeded",
    )
    assert finished.message == "Job has reached the specified backoff limit: exit code 1"
    jobs = task_jobs(cluster, command)
    assert sorted(j["metadata"]["name"] for j in jobs) == sorted(
        job_name(command.name, command.uid, a) for a in (1, 2, 3)
    )
    assert all(j["metadata"].get("ownerReferences") is None for j in jobs)  # no KeptnTask CR: no owner
    assert [(a["attempt"], a["exitCode"], a["stdout"]) for a in logs["attempts"]] == [
        (1, 1, "boom\n"), (2, 1, "boom\n"), (3, 1, "boom\n")
    ]  # fmt: skip


async def test_container_task_past_its_deadline_fails_with_deadline_exceeded(
    klt_settings: CommonSettings, config: TaskRunnerConfig, cluster: ApiServer
) -> None:
    command = run_task("sleeps", retries=3, timeout="30s")
    name = job_name(command.name, command.uid, 1)
    cluster.controllers.script_job(NS, name, [None])
    async with harness(klt_settings) as h, running_service(klt_settings, config):
        await h.put_definition(container_definition("sleeps", {"name": "c", "image": "busybox"}))
        await h.send(command)
        await wait_job(cluster, name)
        cluster.clock.advance(31)
        finished = await h.wait_finished(command)

    assert (finished.status, finished.attempts) == (KeptnState.FAILED, 1)
    assert (finished.reason, finished.message) == (
        "DeadlineExceeded", "Job was active longer than specified deadline"
    )  # fmt: skip
    assert len(task_jobs(cluster, command)) == 1


async def test_restarted_runner_adopts_the_running_job(
    klt_settings: CommonSettings, config: TaskRunnerConfig, cluster: ApiServer
) -> None:
    hold = True
    cluster.controllers.plan_pods(lambda pod: PodPlan(exit_code=None) if hold else None)
    command = run_task("long", retries=2, timeout="60s")
    name = job_name(command.name, command.uid, 1)
    async with harness(klt_settings) as h:
        await h.put_definition(container_definition("long", {"name": "c", "image": "busybox"}))
        # The first runner gives its tasks no grace: cancelling it is as abrupt as a killed pod.
        abrupt = msgspec.structs.replace(config, stop_grace_s=0.1)
        first = asyncio.create_task(serve(klt_settings, abrupt, asyncio.Event()))
        await h.send(command)
        await wait_job(cluster, name)
        await h.wait_for(lambda: h.started(command) == [1])
        first.cancel()  # killed mid-Job: the Job keeps running in the cluster
        await asyncio.gather(first, return_exceptions=True)
        async with running_service(klt_settings, config):
            await asyncio.sleep(0.5)  # the redelivered command is being watched, not re-run
            hold = False
            finished = await h.wait_finished(command)

    assert (finished.status, finished.attempts) == (KeptnState.SUCCEEDED, 1)
    assert [j["metadata"]["name"] for j in task_jobs(cluster, command)] == [name]
    creates = [r for r in cluster.requests if r[0] == "POST" and r[1].endswith("/jobs")]
    assert len(creates) == 2  # the second runner's create met 409 AlreadyExists and adopted the Job
    assert set(h.started(command)) == {1}


async def test_deno_task_reads_secure_data_from_a_kubernetes_secret(
    klt_settings: CommonSettings, config: TaskRunnerConfig, cluster: ApiServer, tmp_path: Path
) -> None:
    secret_value = "cluster-s3cret-77"
    cluster.store.create(
        "secrets",
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "notify-token", "namespace": NS},
            "data": {"SECURE_DATA": base64.b64encode(secret_value.encode()).decode()},
        },
        NS,
    )
    out = tmp_path / "secret.json"
    code = """
await Deno.writeTextFile(JSON.parse(Deno.env.get("DATA")!).out, JSON.stringify(Deno.env.get("SECURE_DATA")));
console.log(`token ${Deno.env.get("SECURE_DATA")}`);
"""
    command = run_task("notify")
    async with harness(klt_settings) as h, running_service(klt_settings, config):
        await h.put_definition(
            definition("notify", code, parameters={"out": str(out)}, secret="notify-token")
        )
        await h.send(command)
        finished = await h.wait_finished(command)
        raw_logs = await h.raw_logs(command)

    assert (finished.status, finished.reason) == (KeptnState.SUCCEEDED, "")
    assert json.loads(out.read_text()) == secret_value
    assert b"token ***" in raw_logs and secret_value.encode() not in raw_logs
    assert cluster.store.list(JOBS, NS) == []  # deno tasks run inside the runner by default


async def test_missing_kubernetes_secret_fails_the_task_by_name(
    klt_settings: CommonSettings, config: TaskRunnerConfig, cluster: ApiServer
) -> None:
    command = run_task("notify")
    async with harness(klt_settings) as h, running_service(klt_settings, config):
        await h.put_definition(definition("notify", "console.log(1)", secret="absent-token"))
        await h.send(command)
        finished = await h.wait_finished(command)
    assert (finished.status, finished.reason) == (KeptnState.FAILED, "TaskSetupFailed")
    assert finished.message == f"Secret 'absent-token' was not found in namespace '{NS}'"


async def test_function_jobs_run_deno_tasks_with_the_runner_image_and_a_code_config_map(
    klt_settings: CommonSettings, config: TaskRunnerConfig, cluster: ApiServer
) -> None:
    function_config = msgspec.structs.replace(config, function_jobs=True, deno_runner_image="my/deno:1")
    command = run_task("notify")
    name = job_name(command.name, command.uid, 1)
    cluster.controllers.script_job(NS, name, [0], logs=["token secret-in-log\n"])
    cluster.store.create(
        "secrets",
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "notify-token", "namespace": NS},
         "data": {"SECURE_DATA": base64.b64encode(b"secret-in-log").decode()}},
        NS,
    )  # fmt: skip
    async with harness(klt_settings) as h, running_service(klt_settings, function_config):
        task_def = definition("notify", "console.log(1)", parameters={"a": "1"}, secret="notify-token")
        await h.put_definition(task_def)
        await h.send(command)
        finished = await h.wait_finished(command)
        logs = await h.logs(command)
        config_map = cluster.store.get("configmaps", NS, "keptnfn-notify")
        await h.put_definition(definition("notify", "console.log(2)"))
        again = run_task("notify")
        await h.send(again)
        assert (await h.wait_finished(again)).status is KeptnState.SUCCEEDED

    assert (finished.status, finished.attempts) == (KeptnState.SUCCEEDED, 1)
    assert config_map["data"] == {"code": "console.log(1)"}
    updated = cluster.store.get("configmaps", NS, "keptnfn-notify")
    assert updated["data"] == {"code": "console.log(2)"}  # a changed definition's code replaces the old
    job = cluster.store.get(JOBS, NS, name)
    [run] = job["spec"]["template"]["spec"]["containers"]
    assert (run["name"], run["image"]) == ("keptn-function-runner", "my/deno:1")
    assert [e["name"] for e in run["env"]] == ["DATA", "KEPTN_CONTEXT", "CMD_ARGS", "SECURE_DATA", "SCRIPT"]
    assert run["env"][3] == {
        "name": "SECURE_DATA", "valueFrom": {"secretKeyRef": {"name": "notify-token", "key": "SECURE_DATA"}}
    }  # fmt: skip
    assert "secret-in-log" not in json.dumps(job)
    assert logs["attempts"][0]["stdout"] == "token ***\n"


async def test_a_job_deleted_before_it_completed_is_a_failed_attempt(
    klt_settings: CommonSettings, config: TaskRunnerConfig, cluster: ApiServer
) -> None:
    command = run_task("deleted", retries=0)
    name = job_name(command.name, command.uid, 1)
    cluster.controllers.script_job(NS, name, [None])
    async with harness(klt_settings) as h, running_service(klt_settings, config):
        await h.put_definition(container_definition("deleted", {"name": "c", "image": "busybox"}))
        await h.send(command)
        await wait_job(cluster, name)
        await h.wait_for(lambda: h.started(command) == [1])
        cluster.store.delete(JOBS, NS, name)
        finished = await h.wait_finished(command)

    assert (finished.status, finished.attempts, finished.reason) == (
        KeptnState.FAILED,
        1,
        "BackoffLimitExceeded",
    )
    assert finished.message.endswith(f"Job '{NS}/{name}' was deleted before it completed")
