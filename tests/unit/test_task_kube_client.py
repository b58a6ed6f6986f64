"""``shared.runtime.kube``: a kubeconfig file reaches the API test server over HTTPS; errors are wrapped."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from kubernetes_asyncio.client import CoreV1Api

from shared.runtime.kube import KubeConfigError, KubeError, kube_configuration, kube_error, open_api_client
from tests.k8s.fixtures import k8s_api_server
from tests.k8s.server import ApiServer

__all__ = ["k8s_api_server"]


async def test_kubeconfig_file_reaches_the_server_and_errors_are_wrapped(
    k8s_api_server: ApiServer, tmp_path: Path
) -> None:
    path = tmp_path / "kubeconfig.yaml"
    path.write_text(yaml.safe_dump(k8s_api_server.kubeconfig()))
    async with open_api_client(str(path)) as client:
        core = CoreV1Api(client)
        namespaces = await core.list_namespace()
        assert "default" in [n.metadata.name for n in namespaces.items]
        with pytest.raises(Exception) as caught:
            await core.read_namespaced_secret("missing", "default")
    error = kube_error(caught.value, "Secret 'default/missing'")
    assert isinstance(error, KubeError)
    assert error.not_found and error.reason == "NotFound"
    assert str(error).startswith("Secret 'default/missing': 404 ")
    assert 'secrets "missing" not found' in str(error)


async def test_missing_or_broken_kubeconfig_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(KubeConfigError, match="does not exist"):
        await kube_configuration(str(tmp_path / "nope.yaml"))
    broken = tmp_path / "broken.yaml"
    broken.write_text("apiVersion: v1\nkind: Config\ncurrent-context: nowhere\n")
    with pytest.raises(KubeConfigError, match="unusable"):
        await kube_configuration(str(broken))
