"""Helpers for tests that talk to the real nats-server started by the session fixture."""

from __future__ import annotations

import itertools
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from nats.aio.client import Client

from shared.runtime.natsio import connect, ensure_topology
from shared.runtime.settings import CommonSettings, common_settings

_counter = itertools.count(1)


def unique_prefix() -> str:
    """A subject/stream/bucket prefix no other test in this session uses."""
    return f"t{os.getpid()}x{next(_counter)}"


def settings_for(nats_url: str, prefix: str | None = None) -> CommonSettings:
    return common_settings({}, nats_url=nats_url, prefix=prefix or unique_prefix())


@asynccontextmanager
async def nats_client(settings: CommonSettings, name: str = "test") -> AsyncIterator[Client]:
    """A connection with klt's topology created for ``settings.prefix``."""
    nc = await connect(settings, name)
    try:
        await ensure_topology(nc.jetstream(), settings)
        yield nc
    finally:
        await nc.drain()
