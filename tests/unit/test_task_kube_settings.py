"""Selecting Kubernetes mode: the task-runner's settings and the container runtime in the plan (§4.4)."""

from __future__ import annotations

import pytest

from services.task_runner.config import (
    DEFAULT_DENO_RUNNER_IMAGE,
    DEFAULT_PYTHON_RUNNER_IMAGE,
    task_runner_config,
)
from services.task_runner.contract import Runtime
from services.task_runner.resolving import SourceKind, TaskSetupError, plan_task
from shared.keptn.lifecycle import TaskContext
from shared.keptn.resources import InlineCode, RuntimeSpec
from shared.keptn.states import CheckType
from shared.messages import RunTask
from shared.runtime.settings import SettingsError
from tests.unit.test_task_resolving import KEPTN_NS, Desired


def test_kubernetes_mode_is_off_by_default_and_set_from_the_environment() -> None:
    default = task_runner_config({})
    assert (default.kubernetes, default.kubeconfig, default.function_jobs) == (False, "", False)
    assert (default.deno_runner_image, default.python_runner_image) == (
        DEFAULT_DENO_RUNNER_IMAGE, DEFAULT_PYTHON_RUNNER_IMAGE
    )  # fmt: skip
    config = task_runner_config({
        "KLT_TASK_RUNNER_KUBERNETES": "true", "KLT_TASK_RUNNER_KUBECONFIG": "/k/config",
        "KLT_TASK_RUNNER_FUNCTION_JOBS": "yes", "FUNCTION_RUNNER_IMAGE": "my/deno:1",
        "PYTHON_RUNNER_IMAGE": "my/python:1", "KLT_TASK_RUNNER_PYTHON_RUNNER_IMAGE": "klt/python:2",
    })  # fmt: skip
    assert (config.kubernetes, config.kubeconfig, config.function_jobs) == (True, "/k/config", True)
    assert (config.deno_runner_image, config.python_runner_image) == ("my/deno:1", "klt/python:2")


def test_function_jobs_need_kubernetes_mode() -> None:
    with pytest.raises(SettingsError, match="KLT_TASK_RUNNER_FUNCTION_JOBS needs KLT_TASK_RUNNER_KUBERNETES"):
        task_runner_config({"KLT_TASK_RUNNER_FUNCTION_JOBS": "true"})
    with pytest.raises(SettingsError, match="KLT_TASK_RUNNER_JOB_GRACE_S must be greater than 0"):
        task_runner_config({"KLT_TASK_RUNNER_JOB_GRACE_S": "0"})


def command(definition: str) -> RunTask:
    return RunTask(
        namespace="app", name=f"pre-{definition}-12345", uid="u", task_definition=definition,
        check_type=CheckType.PRE, context=TaskContext(app_name="a"),
    )  # fmt: skip


async def test_a_container_definition_plans_as_the_container_runtime_in_kubernetes_mode() -> None:
    desired = Desired()
    desired.definition("box", container={"name": "c", "image": "busybox"})
    with pytest.raises(TaskSetupError, match="'box': container runtime needs Kubernetes mode"):
        await plan_task(command("box"), desired, KEPTN_NS)
    plan = await plan_task(command("box"), desired, KEPTN_NS, containers=True)
    assert (plan.runtime, plan.source.kind, plan.definition) == (
        Runtime.CONTAINER,
        SourceKind.CONTAINER,
        "box",
    )
    assert plan.resolved is not None and plan.resolved.spec.container == {"name": "c", "image": "busybox"}


async def test_a_deno_plan_carries_its_definition_for_function_jobs() -> None:
    desired = Desired()
    desired.definition("fn", deno=RuntimeSpec(inline=InlineCode(code="1")))
    plan = await plan_task(command("fn"), desired, KEPTN_NS, containers=True)
    assert plan.runtime is Runtime.DENO
    assert plan.resolved is not None and plan.resolved.metadata.name == "fn"
