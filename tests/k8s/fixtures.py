"""pytest fixtures for the Kubernetes API test server.

Use them from a test module or a conftest with ``from tests.k8s.fixtures import k8s_api_server, k8s_api``.
Each test gets its own server (starting one takes a few milliseconds), so tests never share objects,
resourceVersions or open watches.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.k8s.server import ApiServer

#: Bookmarks every 0.2 s in tests: frequent enough to be seen in a short test, rare enough not to flood.
TEST_BOOKMARK_INTERVAL = 0.2


@pytest.fixture
async def k8s_api_server(tmp_path: Path) -> AsyncIterator[ApiServer]:
    """An HTTPS API test server on a free loopback port; its controllers run only when the test steps them
    (``await server.controllers.settle()``) or starts them (``server.controllers.start()``)."""
    server = ApiServer(tls=True, bookmark_interval=TEST_BOOKMARK_INTERVAL, workdir=tmp_path)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
async def k8s_api(k8s_api_server: ApiServer) -> AsyncIterator[Any]:
    """A kubernetes-asyncio ``ApiClient`` connected to ``k8s_api_server``."""
    from kubernetes_asyncio.client import ApiClient

    async with ApiClient(k8s_api_server.client_configuration()) as client:
        yield client
