"""The watcher's own settings, from ``KLT_WATCHER_*`` environment variables (closed world)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import msgspec

from shared.runtime.settings import SettingsError, field_types, read_env

ENV_PREFIX = "KLT_WATCHER_"
DEFAULT_NAMESPACE_ENV = "KLT_DEFAULT_NAMESPACE"


class WatcherConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    deploy_command: str = ""
    """``KLT_WATCHER_DEPLOY_COMMAND`` (``--deploy-command``): a shell command that performs the release
    step of a workload version; its exit status decides WorkloadDeploy. Empty: the release step succeeds
    at once (local mode: the manifests describe what is being released, nothing needs rolling out). The
    command is re-run after a watcher restart for a deployment that had not reported, so it must be
    idempotent (``kubectl apply``, ``helm upgrade --install`` are)."""
    promotion_tasks_enabled: bool = False
    """``KLT_WATCHER_PROMOTION_TASKS_ENABLED``: run the PromotionTasks phase (KLT's
    ``PROMOTION_TASKS_ENABLED``, off by default as in KLT)."""
    concurrency: int = 32
    """``KLT_WATCHER_CONCURRENCY``: worker events handled at once. Handling one is a few KV round trips
    (sub-millisecond each), so a few dozen in flight keep one process busy without piling up conflicts."""
    ack_wait_s: float = 30.0
    """Seconds JetStream waits for the ack of an event before redelivering it."""
    heartbeat_s: float = 10.0
    """Seconds between ``in_progress()`` heartbeats while an event is handled (a third of ``ack_wait_s``)."""
    max_deliver: int = 50
    """Deliveries of one event before JetStream gives up on it."""
    settle_s: float = 0.05
    """Seconds the desired state must be quiet before it is derived again, so a folder written key by
    key is read as a whole rather than once per object."""
    source_paths: tuple[str, ...] = ()
    """``KLT_WATCHER_SOURCE_PATHS`` (``os.pathsep``-separated): manifest files or folders the watcher
    itself loads and writes into the desired-state bucket at start (the local source). Empty: someone
    else (``klt run``, ``klt apply``, the Kubernetes source) fills the bucket."""
    default_namespace: str = "default"
    """``KLT_WATCHER_DEFAULT_NAMESPACE`` or ``KLT_DEFAULT_NAMESPACE``: namespace of a manifest in
    ``source_paths`` that names none, as kubectl assumes."""

    stuck_deadline_s: float = 600.0
    """``KLT_WATCHER_STUCK_DEADLINE_S``: seconds a phase may wait for something that does not exist (a
    KeptnWorkloadVersion its AppDeploy lists, a task or evaluation definition) before it fails, with
    ``<Phase> of <object> gave up after <N>s: <what> not found`` (KLT #1878, #3680). Meanwhile the
    KLT-visible Pending state, ``status.message`` and a NotFound event say what is missing. 10 minutes
    leave room for an app's workloads rolled out one after another by a slow pipeline; 0 waits forever,
    as KLT does. The countdown is kept in ``status.waitingSince``, so a restart does not reset it."""
    keep_finished_versions: int = 10
    """``KLT_WATCHER_KEEP_FINISHED_VERSIONS``: finished (Succeeded, Failed or Deprecated) AppVersions kept
    per app, and WorkloadVersions per workload; older ones are deleted with their KeptnTasks,
    KeptnEvaluations, task logs and run records (KLT #621 keeps them all, forever). 10 keeps a useful
    history for ``klt get``/``kubectl get`` without letting the state bucket grow with every release;
    0 keeps all. Versions still running and the current one of each app/workload are never deleted."""

    kubernetes: bool = False
    """``KLT_WATCHER_KUBERNETES``: Kubernetes mode. The cluster is the desired state (Namespaces opted in
    with ``keptn.sh/lifecycle-toolkit: enabled``, workloads, Keptn objects, ConfigMaps), the watcher serves
    the pod webhook, releases scheduling gates, detects rollout completion and projects its state into
    KLT's CRs and Events. Off: local mode (manifests in the desired bucket; immediate or command release)."""
    kubeconfig: str = ""
    """``KLT_WATCHER_KUBECONFIG``: kubeconfig file for Kubernetes mode. Empty: the in-cluster service
    account (in a pod), else the default kubeconfig (``$KUBECONFIG``, ``~/.kube/config``)."""
    webhook_enabled: bool = True
    """``KLT_WATCHER_WEBHOOK_ENABLED``: serve the pod mutating webhook in Kubernetes mode. Off only when
    another replica or process serves it (the gates still need a webhook that adds them)."""
    webhook_host: str = "0.0.0.0"
    """``KLT_WATCHER_WEBHOOK_HOST``: address the webhook listens on; all interfaces, as the Service
    in front of the pod needs."""
    webhook_port: int = 9443
    """``KLT_WATCHER_WEBHOOK_PORT``: the webhook's HTTPS port; 9443 is what deploy/ configures (KLT's)."""
    webhook_cert_dir: str = "/tmp/k8s-webhook-server/serving-certs"
    """``KLT_WATCHER_WEBHOOK_CERT_DIR``: folder holding ``tls.crt`` and ``tls.key`` (cert-manager or the
    manifests mount them there, as controller-runtime expects); re-read when they change."""
    watch_timeout_s: int = 300
    """``KLT_WATCHER_WATCH_TIMEOUT_S``: seconds a Kubernetes watch request lasts before it is renewed from
    its last resourceVersion (server-side ``timeoutSeconds``; a real API server caps it at 5-10 minutes)."""

    @property
    def webhook_cert_file(self) -> str:
        return str(Path(self.webhook_cert_dir) / "tls.crt")

    @property
    def webhook_key_file(self) -> str:
        return str(Path(self.webhook_cert_dir) / "tls.key")

    def __post_init__(self) -> None:
        for field in ("concurrency", "max_deliver"):
            if getattr(self, field) < 1:
                raise SettingsError(f"{ENV_PREFIX}{field.upper()} must be at least 1")
        for field in ("ack_wait_s", "heartbeat_s"):
            if getattr(self, field) <= 0:
                raise SettingsError(f"{ENV_PREFIX}{field.upper()} must be greater than 0")
        if self.stuck_deadline_s < 0:
            raise SettingsError(f"{ENV_PREFIX}STUCK_DEADLINE_S must not be negative (0 waits forever)")
        if self.keep_finished_versions < 0:
            raise SettingsError(f"{ENV_PREFIX}KEEP_FINISHED_VERSIONS must not be negative (0 keeps all)")
        if self.settle_s < 0:
            raise SettingsError(f"{ENV_PREFIX}SETTLE_S must not be negative")
        if not 0 < self.webhook_port < 65536:
            raise SettingsError(f"{ENV_PREFIX}WEBHOOK_PORT must be a TCP port (1-65535)")
        if self.watch_timeout_s < 1:
            raise SettingsError(f"{ENV_PREFIX}WATCH_TIMEOUT_S must be at least 1")
        if self.kubernetes and self.deploy_command.strip():
            raise SettingsError(
                f"{ENV_PREFIX}DEPLOY_COMMAND is for local mode: in Kubernetes mode WorkloadDeploy follows "
                "the rollout of the workload object"
            )
        if self.kubernetes and self.source_paths:
            raise SettingsError(
                f"{ENV_PREFIX}SOURCE_PATHS and {ENV_PREFIX}KUBERNETES exclude each other: in Kubernetes mode "
                "the cluster is the desired state"
            )
        if self.heartbeat_s >= self.ack_wait_s:
            raise SettingsError(f"{ENV_PREFIX}HEARTBEAT_S must be shorter than {ENV_PREFIX}ACK_WAIT_S")


def watcher_config(env: Mapping[str, str] | None = None, **overrides: object) -> WatcherConfig:
    """Build the config from the environment, then apply explicit overrides (CLI flags, tests)."""
    source = os.environ if env is None else env
    known = {f"{ENV_PREFIX}{name.upper()}" for name in field_types(WatcherConfig)}
    unknown = sorted(k for k in source if k.startswith(ENV_PREFIX) and k not in known)
    if unknown:
        raise SettingsError(f"unknown watcher setting {unknown[0]} (known: {', '.join(sorted(known))})")
    scalar = {k: v for k, v in field_types(WatcherConfig).items() if k != "source_paths"}
    values = read_env(source, ENV_PREFIX, scalar)
    paths = source.get(f"{ENV_PREFIX}SOURCE_PATHS", "")
    values["source_paths"] = tuple(p for p in paths.split(os.pathsep) if p)
    if "default_namespace" not in values and source.get(DEFAULT_NAMESPACE_ENV):
        values["default_namespace"] = source[DEFAULT_NAMESPACE_ENV]
    values.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return WatcherConfig(**values)  # type: ignore[arg-type]
    except TypeError as exc:
        raise SettingsError(f"watcher settings: {exc}") from exc
