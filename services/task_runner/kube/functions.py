"""deno/python tasks as KLT-style Jobs (klt-facts §4.3), used when ``KLT_TASK_RUNNER_FUNCTION_JOBS`` is on.

The Job runs KLT's runner image with container ``keptn-function-runner`` and KLT's five variables, except
that ``SECURE_DATA`` is a ``secretKeyRef`` (the value never leaves the cluster's Secret). The code is
written to ConfigMap ``keptnfn-<definition>`` (key ``code``) and mounted at ``/var/data/function.ts|py``;
an ``httpRef`` script is passed as the URL in ``SCRIPT`` and fetched by the runner image. Unlike KLT, a
``configMapRef`` is copied into ``keptnfn-<definition>`` too, so the Job always mounts a ConfigMap of its
own namespace whatever namespace the definition and its ConfigMap live in.
"""

from __future__ import annotations

from services.task_runner.contract import (
    CMD_ARGS,
    DATA,
    KEPTN_CONTEXT,
    SCRIPT,
    SECURE_DATA,
    Runtime,
    context_json,
    data_json,
)
from services.task_runner.kube.jobs import JobRequest, Obj, job_object
from services.task_runner.resolving import CODE_KEY, SourceKind, TaskPlan

CONTAINER_NAME = "keptn-function-runner"
VOLUME_NAME = "function-mount"
MOUNT_DIR = "/var/data"
CONFIG_MAP_PREFIX = "keptnfn-"
CONFIG_MAP_NAME_MAX = 245
"""KLT truncates ``keptnfn-<definition>`` to 245 characters (§4.3)."""


def config_map_name(definition: str) -> str:
    return f"{CONFIG_MAP_PREFIX}{definition}"[:CONFIG_MAP_NAME_MAX]


def script_path(runtime: Runtime) -> str:
    return f"{MOUNT_DIR}/function.{'py' if runtime is Runtime.PYTHON else 'ts'}"


def code_config_map(namespace: str, plan: TaskPlan) -> Obj | None:
    """The ConfigMap that holds the plan's code, or None for an ``httpRef`` script."""
    if plan.source.kind is SourceKind.HTTP:
        return None
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": config_map_name(plan.definition), "namespace": namespace},
        "data": {CODE_KEY: plan.source.code},
    }


def function_job(request: JobRequest, plan: TaskPlan, image: str) -> Obj:
    """The runner-image Job for a deno/python plan; KLT's variable order: DATA, KEPTN_CONTEXT, CMD_ARGS,
    SECURE_DATA, SCRIPT (§4.3)."""
    env: list[Obj] = []
    if plan.parameters:
        env.append({"name": DATA, "value": data_json(plan.parameters)})
    env.append({"name": KEPTN_CONTEXT, "value": context_json(request.context)})
    env.append({"name": CMD_ARGS, "value": plan.cmd_args})
    if plan.secret:
        env.append(
            {"name": SECURE_DATA, "valueFrom": {"secretKeyRef": {"name": plan.secret, "key": SECURE_DATA}}}
        )
    container: Obj = {"name": CONTAINER_NAME, "image": image, "imagePullPolicy": "IfNotPresent", "env": env}
    pod: Obj = {"containers": [container]}
    if plan.source.kind is SourceKind.HTTP:
        env.append({"name": SCRIPT, "value": plan.source.url})
    else:
        path = script_path(plan.runtime)
        env.append({"name": SCRIPT, "value": path})
        container["volumeMounts"] = [
            {"name": VOLUME_NAME, "mountPath": path, "subPath": CODE_KEY, "readOnly": True}
        ]
        pod["volumes"] = [{"name": VOLUME_NAME, "configMap": {"name": config_map_name(plan.definition)}}]
    return job_object(request, pod)
