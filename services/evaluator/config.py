"""The evaluator's own settings, from ``KLT_EVALUATOR_*`` environment variables.

Closed world: a misspelt ``KLT_EVALUATOR_`` variable is an error, not a silently ignored setting.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import msgspec

from shared.runtime.settings import SettingsError, field_types, read_env

ENV_PREFIX = "KLT_EVALUATOR_"


class EvaluatorConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    concurrency: int = 64
    """``KLT_EVALUATOR_CONCURRENCY``: evaluations one replica runs at once. An evaluation spends almost
    all its time waiting for its next round (``retryInterval``), so many fit in one process."""
    ack_wait_s: float = 30.0
    """Seconds JetStream waits for an ack or heartbeat before handing a command to another replica;
    short enough that a crashed replica's evaluation resumes quickly."""
    heartbeat_s: float = 10.0
    """Seconds between ``in_progress()`` heartbeats while an evaluation waits; a third of ``ack_wait_s``."""
    max_deliver: int = 360
    """Deliveries of one command before JetStream gives up. A missing KeptnEvaluationDefinition is
    retried every ``definition_retry_s``, so 360 deliveries keep trying for about an hour."""
    definition_retry_s: float = 10.0
    """Seconds before a command whose KeptnEvaluationDefinition is missing is tried again (KLT's 10 s)."""
    fetch_timeout_s: float = 25.0
    """Seconds to wait for the metrics-provider's on-demand fetch: its provider timeout (20 s) plus margin."""
    stop_grace_s: float = 10.0
    """Seconds in-flight evaluations get to reach a safe point when the service stops."""

    def __post_init__(self) -> None:
        for name in ("concurrency", "max_deliver"):
            if getattr(self, name) < 1:
                raise SettingsError(f"{ENV_PREFIX}{name.upper()} must be at least 1")
        for name in ("ack_wait_s", "heartbeat_s", "definition_retry_s", "fetch_timeout_s"):
            if getattr(self, name) <= 0:
                raise SettingsError(f"{ENV_PREFIX}{name.upper()} must be greater than 0")
        if self.heartbeat_s >= self.ack_wait_s:
            raise SettingsError(f"{ENV_PREFIX}HEARTBEAT_S must be shorter than {ENV_PREFIX}ACK_WAIT_S")


def evaluator_config(env: Mapping[str, str] | None = None, **overrides: object) -> EvaluatorConfig:
    """Build the config from the environment, then apply explicit overrides (CLI flags, tests)."""
    source = os.environ if env is None else env
    types = field_types(EvaluatorConfig)
    known = {f"{ENV_PREFIX}{name.upper()}" for name in types}
    unknown = sorted(k for k in source if k.startswith(ENV_PREFIX) and k not in known)
    if unknown:
        raise SettingsError(f"unknown evaluator setting {unknown[0]} (known: {', '.join(sorted(known))})")
    values = read_env(source, ENV_PREFIX, types)
    values.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return EvaluatorConfig(**values)  # type: ignore[arg-type]
    except TypeError as exc:
        raise SettingsError(f"evaluator settings: {exc}") from exc
