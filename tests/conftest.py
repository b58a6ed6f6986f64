"""Session-wide fixtures: one real nats-server with JetStream for the whole run; each test isolates
itself with a unique prefix for subjects, streams and buckets (``klt_settings``)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from shared.runtime.embedded_nats import RunningNats, embedded_nats
from shared.runtime.settings import CommonSettings
from tests.support.natsfix import settings_for


@pytest.fixture(scope="session")
async def nats_server() -> AsyncIterator[RunningNats]:
    async with embedded_nats() as server:
        yield server


@pytest.fixture
def klt_settings(nats_server: RunningNats) -> CommonSettings:
    """Shared settings pointing at the session's nats-server with a prefix of this test's own."""
    return settings_for(nats_server.url)
