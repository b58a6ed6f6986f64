"""The metrics-provider's and evaluator's settings: defaults, environment, and clear errors."""

from __future__ import annotations

import pytest

from services.evaluator.config import evaluator_config
from services.metrics_provider.config import metrics_provider_config
from shared.runtime.settings import SettingsError


def test_metrics_provider_defaults_and_environment() -> None:
    config = metrics_provider_config({})
    assert (config.http_port, config.query_timeout_s) == (9999, 20.0)
    env = {"KLT_METRICS_PROVIDER_HTTP_PORT": "0", "KLT_SECRETS_PATHS": "/a:/b"}
    config = metrics_provider_config(env)
    assert config.http_port == 0
    assert config.secret_paths == ("/a", "/b")


def test_metrics_provider_kubernetes_mode_settings() -> None:
    assert (metrics_provider_config({}).kubernetes, metrics_provider_config({}).kubeconfig) == (False, "")
    env = {"KLT_METRICS_PROVIDER_KUBERNETES": "true", "KLT_METRICS_PROVIDER_KUBECONFIG": "/k/config"}
    config = metrics_provider_config(env)
    assert (config.kubernetes, config.kubeconfig) == (True, "/k/config")
    with pytest.raises(
        SettingsError, match="KLT_METRICS_PROVIDER_KUBECONFIG needs KLT_METRICS_PROVIDER_KUBERNETES=true"
    ):
        metrics_provider_config({"KLT_METRICS_PROVIDER_KUBECONFIG": "/k/config"})
    with pytest.raises(SettingsError, match="KLT_METRICS_PROVIDER_KUBERNETES='maybe'"):
        metrics_provider_config({"KLT_METRICS_PROVIDER_KUBERNETES": "maybe"})


def test_metrics_provider_rejects_unknown_and_bad_values() -> None:
    with pytest.raises(
        SettingsError, match="unknown metrics-provider setting KLT_METRICS_PROVIDER_HTTP_PROT"
    ):
        metrics_provider_config({"KLT_METRICS_PROVIDER_HTTP_PROT": "1"})
    with pytest.raises(SettingsError, match="KLT_METRICS_PROVIDER_HTTP_PORT='x' is not a valid int"):
        metrics_provider_config({"KLT_METRICS_PROVIDER_HTTP_PORT": "x"})
    with pytest.raises(SettingsError, match="HTTP_PORT must be between 0 and 65535"):
        metrics_provider_config({"KLT_METRICS_PROVIDER_HTTP_PORT": "70000"})


def test_evaluator_settings() -> None:
    assert evaluator_config({}).definition_retry_s == 10.0
    assert evaluator_config({"KLT_EVALUATOR_CONCURRENCY": "8"}).concurrency == 8
    with pytest.raises(SettingsError, match="HEARTBEAT_S must be shorter"):
        evaluator_config({"KLT_EVALUATOR_HEARTBEAT_S": "40"})
    with pytest.raises(SettingsError, match="unknown evaluator setting"):
        evaluator_config({"KLT_EVALUATOR_RETRIES": "3"})
