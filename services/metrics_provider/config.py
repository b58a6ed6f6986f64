"""The metrics-provider's own settings, from ``KLT_METRICS_PROVIDER_*`` environment variables.

Closed world: a misspelt ``KLT_METRICS_PROVIDER_`` variable is an error, not a silently ignored setting.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import msgspec

from shared.runtime.secrets import DEFAULT_NAMESPACE_ENV, SECRETS_PATHS_ENV
from shared.runtime.settings import SettingsError, field_types, read_env

ENV_PREFIX = "KLT_METRICS_PROVIDER_"


class MetricsProviderConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    http_port: int = 9999
    """``KLT_METRICS_PROVIDER_HTTP_PORT``: port of ``/api/v1/metrics/…``, ``/metrics`` and ``/healthz``;
    9999 is KLT's metrics-operator port (§6.3), so dashboards and scrape configs carry over. 0 disables."""
    http_host: str = "0.0.0.0"
    """``KLT_METRICS_PROVIDER_HTTP_HOST``: address to listen on; all interfaces, so a pod is reachable."""
    query_timeout_s: float = 20.0
    """Seconds one provider request may take; KLT's 20 s (§6.2)."""
    min_fetch_interval_s: float = 1.0
    """Shortest period between two scheduled fetches of one metric (seconds). KLT requeues every 10 s
    whatever ``fetchIntervalSeconds`` says (§6.1 step 6); klt honours ``fetchIntervalSeconds`` and only
    stops a ``0`` from turning into a busy loop."""
    fetch_concurrency: int = 32
    """Provider requests in flight at once across all metrics; bounds the load on a slow backend."""
    request_queue: str = "metrics-provider"
    """Queue group of the ``fetch``/``get`` endpoints, so replicas share the requests."""
    secret_paths: tuple[str, ...] = ()
    """``KLT_METRICS_PROVIDER_SECRET_PATHS`` or ``KLT_SECRETS_PATHS`` (``os.pathsep``-separated): Secret
    manifests holding provider credentials (``user``/``password`` for Prometheus) in local mode."""
    default_namespace: str = "default"
    """Namespace of a Secret manifest that names none, as kubectl assumes."""
    kubernetes: bool = False
    """``KLT_METRICS_PROVIDER_KUBERNETES``: Kubernetes mode. A KeptnMetricsProvider's ``secretKeyRef``
    (§6.2) is read from the API's Secrets in the provider's namespace instead of from Secret manifests
    (``secret_paths`` is then unused). Off by default: local mode needs no cluster."""
    kubeconfig: str = ""
    """``KLT_METRICS_PROVIDER_KUBECONFIG``: kubeconfig path for Kubernetes mode; empty means the
    in-cluster service account (in a pod), else ``$KUBECONFIG`` or ``~/.kube/config``."""

    def __post_init__(self) -> None:
        if not 0 <= self.http_port <= 65535:
            raise SettingsError(f"{ENV_PREFIX}HTTP_PORT must be between 0 and 65535")
        for name in ("query_timeout_s", "min_fetch_interval_s"):
            if getattr(self, name) <= 0:
                raise SettingsError(f"{ENV_PREFIX}{name.upper()} must be greater than 0")
        if self.fetch_concurrency < 1:
            raise SettingsError(f"{ENV_PREFIX}FETCH_CONCURRENCY must be at least 1")
        if self.kubeconfig and not self.kubernetes:
            raise SettingsError(f"{ENV_PREFIX}KUBECONFIG needs {ENV_PREFIX}KUBERNETES=true")


def metrics_provider_config(
    env: Mapping[str, str] | None = None, **overrides: object
) -> MetricsProviderConfig:
    """Build the config from the environment, then apply explicit overrides (CLI flags, tests)."""
    source = os.environ if env is None else env
    types = field_types(MetricsProviderConfig)
    known = {f"{ENV_PREFIX}{name.upper()}" for name in types}
    unknown = sorted(k for k in source if k.startswith(ENV_PREFIX) and k not in known)
    if unknown:
        raise SettingsError(
            f"unknown metrics-provider setting {unknown[0]} (known: {', '.join(sorted(known))})"
        )
    values = read_env(source, ENV_PREFIX, {k: v for k, v in types.items() if k != "secret_paths"})
    paths = source.get(f"{ENV_PREFIX}SECRET_PATHS", source.get(SECRETS_PATHS_ENV, ""))
    values["secret_paths"] = tuple(p for p in paths.split(os.pathsep) if p)
    if "default_namespace" not in values and source.get(DEFAULT_NAMESPACE_ENV):
        values["default_namespace"] = source[DEFAULT_NAMESPACE_ENV]
    values.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return MetricsProviderConfig(**values)  # type: ignore[arg-type]
    except TypeError as exc:
        raise SettingsError(f"metrics-provider settings: {exc}") from exc
