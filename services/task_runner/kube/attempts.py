"""One task attempt as a Kubernetes Job, through the ``JobPort`` the service implements (``KubeJobs``).

``executing`` calls ``run_job_attempt`` instead of starting a subprocess when the plan runs as a Job:
always for the container runtime, and for deno/python with ``function_jobs``. The Job's name depends only
on the task and the attempt number, so a redelivered command re-running an attempt adopts its Job.
"""

from __future__ import annotations

from typing import Protocol

from services.task_runner.config import TaskRunnerConfig
from services.task_runner.contract import Runtime
from services.task_runner.kube.functions import CONTAINER_NAME, code_config_map, function_job
from services.task_runner.kube.jobs import (
    JobRequest,
    JobRun,
    JobSpecError,
    Obj,
    active_deadline_seconds,
    container_job,
    owner_reference,
)
from services.task_runner.resolving import TaskPlan, TaskSetupError
from services.task_runner.running import ProcessResult
from shared.messages import RunTask
from shared.runtime.kube import KubeError
from shared.runtime.outcomes import TemporaryError


class JobPort(Protocol):
    """Kubernetes Jobs (``kube.runner.KubeJobs`` in the service); only in Kubernetes mode."""

    async def task_owner(self, namespace: str, name: str) -> Obj | None: ...

    async def apply_config_map(self, config_map: Obj) -> None: ...

    async def run(self, run: JobRun) -> ProcessResult: ...


def runs_as_job(plan: TaskPlan, config: TaskRunnerConfig, jobs: JobPort | None) -> bool:
    """Container tasks always run as Jobs; deno/python ones only with ``function_jobs``."""
    if jobs is None:
        return False
    return plan.runtime is Runtime.CONTAINER or config.function_jobs


def build_job(
    command: RunTask,
    plan: TaskPlan,
    config: TaskRunnerConfig,
    attempt: int,
    remaining: float | None,
    owner: Obj | None = None,
) -> Obj:
    """The attempt's Job (§4.2-§4.4); raises ``TaskSetupError`` for a definition that cannot be one."""
    definition = plan.resolved
    if definition is None:
        raise TaskSetupError(f"KeptnTaskDefinition '{plan.definition}' was not resolved")
    request = JobRequest(
        namespace=command.namespace,
        task_name=command.name,
        task_uid=command.uid,
        attempt=attempt,
        definition=definition,
        context=command.context,
        deadline_s=active_deadline_seconds(remaining),
        owner=owner,
    )
    try:
        if plan.runtime is Runtime.CONTAINER:
            return container_job(request)
        image = config.python_runner_image if plan.runtime is Runtime.PYTHON else config.deno_runner_image
        return function_job(request, plan, image)
    except JobSpecError as exc:
        raise TaskSetupError(str(exc)) from None


async def run_job_attempt(
    jobs: JobPort,
    command: RunTask,
    plan: TaskPlan,
    config: TaskRunnerConfig,
    *,
    attempt: int,
    secure_data: str | None,
    remaining: float | None,
    name: str,
) -> ProcessResult:
    """Create (or adopt) the attempt's Job and wait for its outcome. An unreachable API raises
    ``TemporaryError``: the attempt is on record, and the redelivery adopts its Job once the API answers.
    ``name`` is how log lines and errors name the task."""
    try:
        task = await jobs.task_owner(command.namespace, command.name)
        job = build_job(command, plan, config, attempt, remaining, owner_reference(task) if task else None)
        if plan.runtime is Runtime.CONTAINER:
            container = str(job["spec"]["template"]["spec"]["containers"][0]["name"])
        else:
            container = CONTAINER_NAME
            config_map = code_config_map(command.namespace, plan)
            if config_map is not None:
                await jobs.apply_config_map(config_map)
        wait_s = None if remaining is None else remaining + config.job_grace_s
        return await jobs.run(JobRun(job=job, container=container, wait_s=wait_s, secret=secure_data))
    except KubeError as exc:
        raise TemporaryError(f"{name} attempt {attempt}: {exc}", config.ack_wait_s) from None
    except TaskSetupError as exc:
        return ProcessResult.not_started(str(exc))
