"""Fixtures shared by integration tests (each engineer adds only their own fixture here)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.support.prometheus import PrometheusHandle, running_prometheus


@pytest.fixture(scope="session")
async def prometheus() -> AsyncIterator[PrometheusHandle]:
    """One real Prometheus (Debian binary) scraping a capacity exporter, for the whole session.

    Tests that add gauges with ``set_value`` use names of their own, since the instance is shared."""
    async with running_prometheus() as handle:
        yield handle
