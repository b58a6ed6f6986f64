"""The watcher's own settings, from ``KLT_WATCHER_*`` environment variables (closed world)."""

from __future__ import annotations

import os
from collections.abc import Mapping

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

    def __post_init__(self) -> None:
        for field in ("concurrency", "max_deliver"):
            if getattr(self, field) < 1:
                raise SettingsError(f"{ENV_PREFIX}{field.upper()} must be at least 1")
        for field in ("ack_wait_s", "heartbeat_s"):
            if getattr(self, field) <= 0:
                raise SettingsError(f"{ENV_PREFIX}{field.upper()} must be greater than 0")
        if self.settle_s < 0:
            raise SettingsError(f"{ENV_PREFIX}SETTLE_S must not be negative")
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
