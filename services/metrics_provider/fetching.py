"""Fetching one KeptnMetric from its provider: KLT's controller steps 2 to 4 (§6.1) without the storage.

The outcome is data (a value, or an error message for ``errMsg``), never an exception: a metric that
cannot be fetched is reported on the metric, and fetched again at its next interval.
"""

from __future__ import annotations

import logging

from services.metrics_provider.aggregation import AggregationError, aggregate_strings
from services.metrics_provider.providers import ProviderContext, ProviderError, new_provider
from services.metrics_provider.status import FetchOutcome
from shared.keptn.resources import KeptnMetric, KeptnMetricsProvider

log = logging.getLogger(__name__)


def missing_provider_message(metric: KeptnMetric) -> str:
    """KLT only looks in the metric's own namespace for its provider (§6.1 step 2)."""
    return (
        f"KeptnMetricsProvider '{metric.spec.provider.name}' not found in namespace "
        f"'{metric.metadata.namespace}'"
    )


async def fetch_metric(
    metric: KeptnMetric, provider: KeptnMetricsProvider | None, context: ProviderContext
) -> FetchOutcome:
    """Ask ``provider`` for ``metric``'s value: a step query is aggregated, anything else is one value."""
    what = f"KeptnMetric '{metric.metadata.name}' in namespace '{metric.metadata.namespace}'"
    if provider is None:
        return FetchOutcome(error=missing_provider_message(metric))
    try:
        backend = new_provider(provider, context)
        metric_range = metric.spec.range
        if metric_range is not None and metric_range.step:
            values, raw = await backend.evaluate_query_for_step(metric)
            return FetchOutcome(value=aggregate_strings(values, metric_range.aggregation), raw=raw)
        value, raw = await backend.evaluate_query(metric)
        return FetchOutcome(value=value, raw=raw)
    except (ProviderError, AggregationError) as exc:
        log.info("%s could not be fetched: %s", what, exc)
        return FetchOutcome(error=str(exc))
