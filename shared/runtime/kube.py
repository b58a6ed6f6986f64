"""Connecting to the Kubernetes API: one ``ApiClient`` factory every service's Kubernetes adapter uses.

Kubernetes mode is opt-in (DESIGN: JetStream stays the system of record; Kubernetes holds desired state
and a projection of ours), so nothing here runs in local mode. The configuration comes from, in order:
an explicit kubeconfig path, the in-cluster service account (``KUBERNETES_SERVICE_HOST`` set), the
client's default kubeconfig (``$KUBECONFIG`` or ``~/.kube/config``).

Client-side validation of typed models is turned off: the API server is the judge of an object, and the
typed models reject valid objects that leave out fields Go serialises with ``omitempty``.
kubernetes-asyncio exceptions are turned into ``KubeError`` by ``kube_error`` so callers' handlers never
see the client library. The client is imported only when used, so local mode never loads it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp

IN_CLUSTER_ENV = "KUBERNETES_SERVICE_HOST"
"""Set by the kubelet in every pod: its presence means the in-cluster service account is available."""


class KubeConfigError(Exception):
    """No usable Kubernetes configuration: the message names the kubeconfig or the in-cluster source."""


class KubeError(Exception):
    """A failed Kubernetes API call: ``status`` is the HTTP status (0 when the server was not reached)."""

    def __init__(self, message: str, status: int = 0, reason: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason

    @property
    def not_found(self) -> bool:
        return self.status == 404

    @property
    def conflict(self) -> bool:
        """409: AlreadyExists on create, or a stale ``resourceVersion`` on update."""
        return self.status == 409

    @property
    def gone(self) -> bool:
        """410: a watch's resourceVersion is older than the server's history; list again."""
        return self.status == 410


def kube_error(exc: BaseException, what: str) -> KubeError:
    """A ``KubeError`` for a failed call on ``what`` (e.g. ``Job 'demo/pre-x-12345'``).

    The message is the API server's ``Status.message`` when there is one; request bodies (which may hold
    values a user wants kept out of logs) are never included.
    """
    from kubernetes_asyncio.client.exceptions import ApiException

    if isinstance(exc, ApiException):
        status = int(exc.status or 0)
        message, reason = str(exc.reason or "").strip(), ""
        with contextlib.suppress(ValueError, TypeError, AttributeError):
            body = json.loads(exc.body or b"{}")
            message = str(body.get("message") or message)
            reason = str(body.get("reason") or "")
        return KubeError(f"{what}: {status} {message}".rstrip(), status, reason)
    if isinstance(exc, aiohttp.ClientError | OSError | TimeoutError):
        return KubeError(f"{what}: the Kubernetes API could not be reached: {exc or type(exc).__name__}")
    return KubeError(f"{what}: {type(exc).__name__}: {exc}")


async def kube_configuration(kubeconfig: str = "", context: str = "") -> Any:
    """The client ``Configuration`` for ``kubeconfig`` (a path), else in-cluster, else the default one."""
    from kubernetes_asyncio import config as kube_config
    from kubernetes_asyncio.client import Configuration
    from kubernetes_asyncio.config.config_exception import ConfigException

    configuration = Configuration()
    try:
        if kubeconfig:
            if not await asyncio.to_thread(Path(kubeconfig).is_file):
                raise KubeConfigError(f"kubeconfig {kubeconfig!r} does not exist")
            await kube_config.load_kube_config(
                config_file=kubeconfig, context=context or None, client_configuration=configuration
            )
        elif os.environ.get(IN_CLUSTER_ENV):
            kube_config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
        else:
            await kube_config.load_kube_config(context=context or None, client_configuration=configuration)
    except ConfigException as exc:
        source = f"kubeconfig {kubeconfig!r}" if kubeconfig else "the in-cluster or default kubeconfig"
        raise KubeConfigError(f"Kubernetes configuration from {source} is unusable: {exc}") from None
    configuration.client_side_validation = False
    return configuration


@contextlib.asynccontextmanager
async def open_api_client(
    kubeconfig: str = "", context: str = "", *, configuration: Any = None
) -> AsyncIterator[Any]:
    """An ``ApiClient`` for the block: ``configuration`` if given (tests), else ``kube_configuration``."""
    from kubernetes_asyncio.client import ApiClient

    resolved = configuration if configuration is not None else await kube_configuration(kubeconfig, context)
    client = ApiClient(resolved)
    try:
        yield client
    finally:
        await client.close()
