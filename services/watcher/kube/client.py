"""The one place that builds the watcher's kubernetes-asyncio ``ApiClient``.

Every Kubernetes adapter of the watcher (source, webhook, gates, rollouts, projection) receives the
client built here as a parameter, so they all share one connection pool and one configuration. Where the
configuration comes from is ``shared.runtime.kube``'s rule (a kubeconfig path, else in-cluster, else the
default kubeconfig); tests pass an explicit ``Configuration`` pointing at the API test server.
"""

from __future__ import annotations

from kubernetes_asyncio.client import ApiClient, Configuration

from shared.runtime.kube import KubeConfigError, kube_configuration

__all__ = ["KubeConfigError", "api_client"]


async def api_client(kubeconfig: str = "", configuration: Configuration | None = None) -> ApiClient:
    """An ``ApiClient`` for ``configuration`` when given, else for ``kubeconfig`` (empty: in-cluster).

    Client-side validation is always off: the typed models reject partial objects (a merge patch, a
    Status), and the API server validates anyway. Raises ``KubeConfigError`` naming the source. The
    caller closes the client (``await client.close()``)."""
    config = configuration if configuration is not None else await kube_configuration(kubeconfig)
    config.client_side_validation = False
    return ApiClient(config)
