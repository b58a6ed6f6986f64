"""``KubernetesSecretSource`` against the API test server: live values, a short cache, no value in errors."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from shared.runtime.secrets import KubernetesSecretSource, SecretSourceError
from tests.k8s.fixtures import k8s_api, k8s_api_server
from tests.k8s.server import ApiServer

__all__ = ["k8s_api", "k8s_api_server"]


def secret(value: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "token", "namespace": "default"},
        "data": {"SECURE_DATA": base64.b64encode(value.encode()).decode()},
    }


async def test_values_are_read_live_with_a_short_cache(k8s_api_server: ApiServer, k8s_api: Any) -> None:
    now = [100.0]
    source = KubernetesSecretSource(k8s_api, max_age_s=5.0, clock=lambda: now[0])
    assert await source.get("default", "token") is None  # missing: not cached
    k8s_api_server.store.create("secrets", secret("first"), "default")
    values = await source.get("default", "token")
    assert values is not None and dict(values) == {"SECURE_DATA": "first"}
    assert "first" not in repr(values) and "first" not in repr(source)
    stored = k8s_api_server.store.get("secrets", "default", "token")
    stored["data"] = secret("second")["data"]
    k8s_api_server.store.replace("secrets", stored)
    now[0] += 4.0
    assert dict(await source.get("default", "token") or {}) == {"SECURE_DATA": "first"}
    now[0] += 2.0
    assert dict(await source.get("default", "token") or {}) == {"SECURE_DATA": "second"}
    k8s_api_server.store.delete("secrets", "default", "token")
    now[0] += 6.0
    assert await source.get("default", "token") is None


async def test_an_unreachable_api_is_an_error_naming_the_secret(
    k8s_api_server: ApiServer, k8s_api: Any
) -> None:
    source = KubernetesSecretSource(k8s_api)
    await k8s_api_server.stop()
    with pytest.raises(SecretSourceError, match="Secret 'token' in namespace 'default' could not be read"):
        await source.get("default", "token")
