"""Session-wide fixtures: one real nats-server with JetStream and one real Prometheus for the whole run.
Each test isolates itself with a unique prefix for subjects, streams and buckets (``klt_settings``)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from shared.runtime.embedded_nats import RunningNats, embedded_nats
from shared.runtime.settings import CommonSettings
from tests.support.natsfix import settings_for
from tests.support.prometheus import PrometheusHandle, running_prometheus


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
