"""The metrics-provider in Kubernetes mode against the API test server, the session nats-server and a
real Prometheus behind basic auth: a KeptnMetricsProvider's ``secretKeyRef`` (klt-facts §6.2) is read
from the cluster's Secrets, in the provider's namespace."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import yaml

from shared.runtime.settings import CommonSettings
from tests.integration.test_metrics_provider import (
    NS,
    basic_auth_proxy,
    buckets,
    has_error,
    has_value,
    metric,
    provider,
    put,
    running_metrics_provider,
    wait_status,
)
from tests.k8s.fixtures import k8s_api_server
from tests.k8s.server import ApiServer
from tests.support.prometheus import PrometheusHandle

__all__ = ["k8s_api_server"]


def add_secret(server: ApiServer, name: str, values: dict[str, str]) -> None:
    data = {k: base64.b64encode(v.encode()).decode("ascii") for k, v in values.items()}
    server.store.create(
        "secrets", {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "data": data}, NS
    )


async def test_provider_secret_is_read_from_the_cluster(
    klt_settings: CommonSettings,
    prometheus: PrometheusHandle,
    k8s_api_server: ApiServer,
    tmp_path: Path,
) -> None:
    kubeconfig = tmp_path / "kubeconfig.yaml"
    kubeconfig.write_text(yaml.safe_dump(k8s_api_server.kubeconfig()))
    add_secret(k8s_api_server, "prom-creds", {"user": "klt", "password": "s3cret"})
    add_secret(k8s_api_server, "wrong-creds", {"user": "klt", "password": "guess"})
    async with (
        basic_auth_proxy(prometheus.url, "klt", "s3cret") as guarded,
        buckets(klt_settings) as (desired, values, _),
    ):
        await put(desired, provider("prom", guarded, secret="prom-creds"))
        await put(desired, provider("wrong", guarded, secret="wrong-creds"))
        await put(desired, provider("absent", guarded, secret="no-such-secret"))
        await put(desired, metric("with-auth", provider_name="prom"))
        await put(desired, metric("wrong-password", provider_name="wrong"))
        await put(desired, metric("missing-secret", provider_name="absent"))
        # No Secret manifests at all: only the cluster has the credentials.
        async with running_metrics_provider(klt_settings, kubernetes=True, kubeconfig=str(kubeconfig)):
            authed = await wait_status(values, "with-auth", has_value)
            refused = await wait_status(values, "wrong-password", has_error)
            missing = await wait_status(values, "missing-secret", has_error)

    assert authed["value"] == str(prometheus.cpu_count) and authed["errMsg"] == ""
    assert refused["errMsg"] == "server_error: server error: 401" and refused["value"] == ""
    assert missing["errMsg"] == 'secrets "no-such-secret" not found' and missing["value"] == ""
    reads = {path for method, path, _ in k8s_api_server.requests if method == "GET"}
    assert f"/api/v1/namespaces/{NS}/secrets/prom-creds" in reads
    assert not any(path.endswith("/secrets") for path in reads), "Secrets are read by name, never listed"
    assert "s3cret" not in json.dumps([authed, refused, missing])
    assert "guess" not in json.dumps([authed, refused, missing])
