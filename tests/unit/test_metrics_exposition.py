"""The Prometheus text that ``GET /metrics`` serves, and the provider factory's choices (§6.2, §6.3)."""

from __future__ import annotations

import aiohttp
import pytest

from services.metrics_provider.exposition import gauge_name, render
from services.metrics_provider.providers import ProviderContext, ProviderError, new_provider
from services.metrics_provider.providers.prometheus import matrix_values, vector_value
from shared.keptn.meta import ObjectMeta
from shared.keptn.resources import KeptnMetricsProvider, KeptnMetricsProviderSpec


def test_gauge_name_replaces_runs_of_non_alphanumerics() -> None:
    assert gauge_name("available-cpus") == "available_cpus"
    assert gauge_name("a.b--c") == "a_b_c"
    assert gauge_name("9lives") == "_9lives"


def test_render_one_gauge_per_metric_skipping_non_numbers() -> None:
    text = render([("ns", "available-cpus", "4"), ("ns", "not-yet", ""), ("ns", "big", "1500000")])
    assert text == (
        "# HELP available_cpus available-cpus\n# TYPE available_cpus gauge\navailable_cpus 4\n"
        "# HELP big big\n# TYPE big gauge\nbig 1.5e+06\n"
    )
    assert render([]) == ""


def _provider(type_: str, name: str = "my-provider") -> KeptnMetricsProvider:
    return KeptnMetricsProvider(
        metadata=ObjectMeta(name=name, namespace="ns"),
        spec=KeptnMetricsProviderSpec(type=type_, target_server="http://127.0.0.1:1"),
    )


async def test_factory_knows_prometheus_family_and_names_unsupported_types() -> None:
    async with aiohttp.ClientSession() as session:
        context = ProviderContext(session=session)
        for type_ in ("prometheus", "thanos", "Cortex"):
            assert new_provider(_provider(type_), context) is not None
        # An empty type falls back to the object's name (§1.13).
        assert new_provider(_provider("", name="prometheus"), context) is not None
        with pytest.raises(ProviderError, match=r"^provider influx not supported$"):
            new_provider(_provider("influx"), context)


def test_vector_and_matrix_extraction_use_klt_messages() -> None:
    assert vector_value("vector", b'[{"metric":{},"value":[1.5,"2"]}]') == ("2", b'"2"')
    with pytest.raises(ProviderError, match=r"^no values in query result$"):
        vector_value("vector", b"[]")
    with pytest.raises(ProviderError, match=r"^too many values in query result$"):
        vector_value("vector", b'[{"metric":{},"value":[1,"1"]},{"metric":{},"value":[1,"2"]}]')
    with pytest.raises(ProviderError, match=r"^could not cast result$"):
        vector_value("scalar", b'[1.5,"2"]')
    assert matrix_values("matrix", b'[{"metric":{},"values":[[1,"3"],[2,"1"]]}]') == ["3", "1"]
    with pytest.raises(ProviderError, match=r"^could not cast result$"):
        matrix_values("vector", b"[]")
