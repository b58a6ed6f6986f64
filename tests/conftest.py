"""Session-wide fixtures: one real nats-server with JetStream and one real Prometheus for the whole run.
Each test isolates itself with a unique prefix for subjects, streams and buckets (``klt_settings``)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from hypothesis import HealthCheck, settings

from shared.runtime.embedded_nats import RunningNats, embedded_nats
from shared.runtime.settings import CommonSettings
from tests.support.natsfix import settings_for
from tests.support.prometheus import PrometheusHandle, running_prometheus

# Property tests judge behaviour, not speed: on a loaded 2-core CI machine an example may take longer than
# Hypothesis' default 200 ms deadline, which would fail a correct run.
settings.register_profile(
    "klt", deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
settings.load_profile("klt")


@pytest.fixture(scope="session")
async def nats_server() -> AsyncIterator[RunningNats]:
    async with embedded_nats() as server:
        yield server


@pytest.fixture
def klt_settings(nats_server: RunningNats) -> CommonSettings:
    """Shared settings pointing at the session's nats-server with a prefix of this test's own."""
    return settings_for(nats_server.url)


@pytest.fixture(scope="session")
async def prometheus() -> AsyncIterator[PrometheusHandle]:
    """One real Prometheus (Debian binary) scraping a capacity exporter, for the whole session.

    Tests that add gauges with ``set_value`` use names of their own, since the instance is shared."""
    async with running_prometheus() as handle:
        yield handle
