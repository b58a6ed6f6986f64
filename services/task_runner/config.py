"""The task-runner's own settings, from ``KLT_TASK_RUNNER_*`` environment variables (closed world)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

import msgspec

from shared.runtime.natsio import KV_VALUE_MAX_BYTES
from shared.runtime.secrets import DEFAULT_NAMESPACE_ENV, SECRETS_PATHS_ENV
from shared.runtime.settings import SettingsError, field_types, read_env

ENV_PREFIX = "KLT_TASK_RUNNER_"
DEFAULT_DENO_RUNNER_IMAGE = "ghcr.io/keptn/deno-runtime:v3.0.1"
DEFAULT_PYTHON_RUNNER_IMAGE = "ghcr.io/keptn/python-runtime:v1.0.8"
KLT_IMAGE_ENV = {"deno_runner_image": "FUNCTION_RUNNER_IMAGE", "python_runner_image": "PYTHON_RUNNER_IMAGE"}
"""KLT's operator variables for the runner images (§4.3), honoured when the ``KLT_`` ones are unset."""


class TaskRunnerConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    concurrency: int = 4
    """``KLT_TASK_RUNNER_CONCURRENCY`` (``--concurrency``): tasks one replica runs at once. Tasks mostly
    wait on the network, so a few per core keep a replica busy without starving its event loop."""
    ack_wait_s: float = 30.0
    """Seconds JetStream waits for an ack or heartbeat before handing a command to another replica;
    short enough that a crashed replica's task resumes quickly, long enough to ride out a GC pause."""
    heartbeat_s: float = 10.0
    """Seconds between ``in_progress()`` heartbeats while a task runs; a third of ``ack_wait_s``."""
    max_deliver: int = 100
    """Deliveries of one command before JetStream gives up. Generous: every crash of a replica costs a
    delivery, and the attempt book (not the delivery count) bounds how often a task runs."""
    stop_grace_s: float = 10.0
    """Seconds running tasks get to finish when the service stops, before they are killed."""
    kill_grace_s: float = 2.0
    """Seconds between SIGTERM and SIGKILL when a task's process group is stopped at its deadline."""
    max_output_bytes: int = 64 * 1024
    """Bytes of stdout and of stderr kept per attempt (the tail), for ``klt logs``."""
    http_max_bytes: int = 1024 * 1024
    """Largest ``httpRef`` script downloaded (bytes); scripts are code, not data."""
    http_timeout_s: float = 30.0
    """Seconds an ``httpRef`` download may take in total."""
    secret_paths: tuple[str, ...] = ()
    """``KLT_TASK_RUNNER_SECRET_PATHS`` or ``KLT_SECRETS_PATHS`` (``os.pathsep``-separated): Secret
    manifests (files or folders) for ``SECURE_DATA`` in local mode."""
    default_namespace: str = ""
    """``KLT_TASK_RUNNER_DEFAULT_NAMESPACE`` or ``KLT_DEFAULT_NAMESPACE``: namespace of a Secret manifest
    that names none. Empty: the manifest loader's rule (the folder's one Namespace, else ``default``),
    so Secrets land where ``klt run`` puts the tasks next to them."""
    work_dir: str = ""
    """Where scripts are written and deno keeps its module cache; empty means ``<tmp>/klt-task-runner``."""
    kubernetes: bool = False
    """``KLT_TASK_RUNNER_KUBERNETES``: Kubernetes mode. Container tasks run as Jobs (§4.2, §4.4) and
    ``SECURE_DATA`` is read from the API's Secrets. Off by default: local mode needs no cluster."""
    kubeconfig: str = ""
    """``KLT_TASK_RUNNER_KUBECONFIG``: kubeconfig path for Kubernetes mode; empty means the in-cluster
    service account (in a pod), else ``$KUBECONFIG`` or ``~/.kube/config``."""
    function_jobs: bool = False
    """``KLT_TASK_RUNNER_FUNCTION_JOBS``: run deno/python tasks as KLT-style Jobs with the runner images
    (§4.3) instead of inside the task-runner. Off by default: in-process runs start in milliseconds,
    a Job takes seconds, and scaling the runner Deployment scales the work as well."""
    deno_runner_image: str = DEFAULT_DENO_RUNNER_IMAGE
    """Image of deno function Jobs (KLT's ``FUNCTION_RUNNER_IMAGE`` also sets it); KLT's default."""
    python_runner_image: str = DEFAULT_PYTHON_RUNNER_IMAGE
    """Image of python function Jobs (KLT's ``PYTHON_RUNNER_IMAGE`` also sets it); KLT's default."""
    job_grace_s: float = 30.0
    """Seconds the runner keeps waiting for a Job past its task's deadline before deleting it: the Job
    controller enforces ``activeDeadlineSeconds`` itself, this only covers a controller that does not."""

    def __post_init__(self) -> None:
        for field in ("concurrency", "max_deliver", "max_output_bytes", "http_max_bytes"):
            if getattr(self, field) < 1:
                raise SettingsError(f"{ENV_PREFIX}{field.upper()} must be at least 1")
        for field in ("ack_wait_s", "heartbeat_s", "http_timeout_s", "job_grace_s"):
            if getattr(self, field) <= 0:
                raise SettingsError(f"{ENV_PREFIX}{field.upper()} must be greater than 0")
        if self.heartbeat_s >= self.ack_wait_s:
            raise SettingsError(f"{ENV_PREFIX}HEARTBEAT_S must be shorter than {ENV_PREFIX}ACK_WAIT_S")
        if self.max_output_bytes * 2 > KV_VALUE_MAX_BYTES // 2:
            raise SettingsError(f"{ENV_PREFIX}MAX_OUTPUT_BYTES must be at most {KV_VALUE_MAX_BYTES // 4}")
        if self.function_jobs and not self.kubernetes:
            raise SettingsError(f"{ENV_PREFIX}FUNCTION_JOBS needs {ENV_PREFIX}KUBERNETES=true")

    @property
    def work_path(self) -> Path:
        return Path(self.work_dir) if self.work_dir else Path(tempfile.gettempdir()) / "klt-task-runner"


def task_runner_config(env: Mapping[str, str] | None = None, **overrides: object) -> TaskRunnerConfig:
    """Build the config from the environment, then apply explicit overrides (CLI flags, tests)."""
    source = os.environ if env is None else env
    known = {f"{ENV_PREFIX}{name.upper()}" for name in field_types(TaskRunnerConfig)}
    unknown = sorted(k for k in source if k.startswith(ENV_PREFIX) and k not in known)
    if unknown:
        raise SettingsError(f"unknown task-runner setting {unknown[0]} (known: {', '.join(sorted(known))})")
    scalar = {k: v for k, v in field_types(TaskRunnerConfig).items() if k != "secret_paths"}
    values = read_env(source, ENV_PREFIX, scalar)
    paths = source.get(f"{ENV_PREFIX}SECRET_PATHS", source.get(SECRETS_PATHS_ENV, ""))
    values["secret_paths"] = tuple(p for p in paths.split(os.pathsep) if p)
    if "default_namespace" not in values and source.get(DEFAULT_NAMESPACE_ENV):
        values["default_namespace"] = source[DEFAULT_NAMESPACE_ENV]
    for field, klt_env in KLT_IMAGE_ENV.items():
        if field not in values and source.get(klt_env):
            values[field] = source[klt_env]
    values.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return TaskRunnerConfig(**values)  # type: ignore[arg-type]
    except TypeError as exc:
        raise SettingsError(f"task-runner settings: {exc}") from exc
