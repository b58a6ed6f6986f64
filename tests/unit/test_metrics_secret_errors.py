"""A provider Secret that cannot be read becomes the metric's ``errMsg`` (klt-facts §6.2), never an
exception out of the fetch: a malformed manifest locally, a refused or unreachable API in a cluster."""

from __future__ import annotations

from pathlib import Path

import aiohttp

from services.metrics_provider.fetching import fetch_metric
from services.metrics_provider.providers import ProviderContext
from shared.keptn.meta import ObjectMeta
from shared.keptn.resources import (
    KeptnMetric,
    KeptnMetricSpec,
    KeptnMetricsProvider,
    KeptnMetricsProviderSpec,
    NameRef,
    SecretKeyRef,
)
from shared.runtime.secrets import LocalSecretSource


async def test_an_unreadable_secret_source_is_the_metrics_error(tmp_path: Path) -> None:
    manifest = tmp_path / "secrets.yaml"
    manifest.write_text("apiVersion: v1\nkind: Secret\nmetadata: [not, a, mapping]\n")
    provider = KeptnMetricsProvider(
        metadata=ObjectMeta(name="prom", namespace="default"),
        spec=KeptnMetricsProviderSpec(
            type="prometheus", target_server="http://127.0.0.1:9", secret_key_ref=SecretKeyRef(name="creds")
        ),
    )
    metric = KeptnMetric(
        metadata=ObjectMeta(name="cpu", namespace="default"),
        spec=KeptnMetricSpec(provider=NameRef(name="prom"), query="up", fetch_interval_seconds=5),
    )
    async with aiohttp.ClientSession() as session:
        context = ProviderContext(session=session, secrets=LocalSecretSource([str(manifest)]))
        outcome = await fetch_metric(metric, provider, context)
    assert outcome.value == ""
    assert "secrets.yaml" in outcome.error
