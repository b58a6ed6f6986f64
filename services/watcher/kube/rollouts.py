"""Rollout completion as the release step of a workload version in Kubernetes mode (klt-facts §3.8).

``KubeDeployer`` has the interface of the local release steps (``services.watcher.deploying``): the
watcher starts it when a KeptnWorkloadVersion enters WorkloadDeploy and publishes its result as a
DeployFinished fact. It watches the version's ``resourceReference`` until the workload object runs:

- ReplicaSet: ``spec.replicas == status.availableReplicas``; for a ReplicaSet owned by an Argo ``Rollout``,
  the Rollout's ``status.replicas == status.updatedReplicas`` and ``status.phase == "Healthy"``;
- StatefulSet: ``spec.replicas == status.availableReplicas``;
- DaemonSet: ``status.desiredNumberScheduled == status.numberReady``;
- any other kind: Failed at once, "unsupported Resource Reference".

A status written for an older generation (``status.observedGeneration < metadata.generation``) does not
count: it describes the previous spec. If the object is not running within KeptnConfig
``observabilityTimeout`` (default 5m, passed in as ``Release.timeout_s``), the result is Failed with a
message ending in KLT's "has reached timeout". Progress is watched (list, then watch from its
resourceVersion), not polled; a watch that ends or fails is resumed or re-listed until the deadline.
After a watcher restart the step starts again with a full timeout (the local deploy command does the same).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping
from typing import Any

import aiohttp
from kubernetes_asyncio.client import ApiClient, ApiException

from services.watcher.deploying import Release
from shared.keptn.states import KeptnState
from shared.phases import DEPLOY_TIMEOUT_TEXT

log = logging.getLogger(__name__)

UNSUPPORTED_TEXT = "unsupported Resource Reference"
"""KLT's error for a resourceReference kind it cannot watch (§3.8)."""
WATCH_TIMEOUT_S = 60
"""Server-side timeout of one watch request; the watch is resumed from its resourceVersion after it."""
RETRY_S = 1.0
"""Seconds before a failed list or watch is tried again (the deadline bounds the whole wait)."""

Obj = Mapping[str, Any]


# --- readiness (pure) ----------------------------------------------------------------------------


def _int(value: Any, default: int = 0) -> int:
    return value if isinstance(value, int) else default


def _status(obj: Obj) -> Mapping[str, Any]:
    return obj.get("status") or {}


def _current(obj: Obj) -> bool:
    """Whether the status describes the current spec (no ``observedGeneration`` counts as current)."""
    observed = _status(obj).get("observedGeneration")
    generation = (obj.get("metadata") or {}).get("generation")
    return not (isinstance(observed, int) and isinstance(generation, int) and observed < generation)


def _desired_replicas(obj: Obj) -> int:
    return _int((obj.get("spec") or {}).get("replicas"), 1)  # the API server defaults it to 1


def replicas_running(obj: Obj) -> bool:
    """ReplicaSet and StatefulSet: ``spec.replicas == status.availableReplicas``."""
    return _current(obj) and _desired_replicas(obj) == _int(_status(obj).get("availableReplicas"))


def daemonset_running(obj: Obj) -> bool:
    """DaemonSet: ``status.desiredNumberScheduled == status.numberReady``."""
    status = _status(obj)
    return _current(obj) and _int(status.get("desiredNumberScheduled")) == _int(status.get("numberReady"))


def argo_rollout_running(obj: Obj) -> bool:
    """Argo Rollout: ``status.replicas == status.updatedReplicas`` and ``status.phase == "Healthy"``."""
    status = _status(obj)
    return (
        _int(status.get("replicas")) == _int(status.get("updatedReplicas"))
        and status.get("phase") == "Healthy"
    )


def rollout_owner(rs: Obj) -> str | None:
    """The name of the Argo Rollout owning a ReplicaSet, if one does."""
    for ref in (rs.get("metadata") or {}).get("ownerReferences") or []:
        if isinstance(ref, dict) and ref.get("kind") == "Rollout" and ref.get("name"):
            return str(ref["name"])
    return None


def progress(kind: str, obj: Obj | None) -> str:
    """How far the object is, for the failure message."""
    if obj is None:
        return "it does not exist"
    status = _status(obj)
    if kind == "DaemonSet":
        return f"{_int(status.get('numberReady'))} of {_int(status.get('desiredNumberScheduled'))} pods ready"
    if kind == "Rollout":
        return (
            f"{_int(status.get('updatedReplicas'))} of {_int(status.get('replicas'))} replicas updated, "
            f"phase {status.get('phase') or 'unknown'}"
        )
    return f"{_int(status.get('availableReplicas'))} of {_desired_replicas(obj)} replicas available"


RUNNING: dict[str, Callable[[Obj], bool]] = {
    "ReplicaSet": replicas_running,
    "StatefulSet": replicas_running,
    "DaemonSet": daemonset_running,
    "Rollout": argo_rollout_running,
}
_COLLECTIONS = {
    "ReplicaSet": "/apis/apps/v1/namespaces/{ns}/replicasets",
    "StatefulSet": "/apis/apps/v1/namespaces/{ns}/statefulsets",
    "DaemonSet": "/apis/apps/v1/namespaces/{ns}/daemonsets",
    "Rollout": "/apis/argoproj.io/v1alpha1/namespaces/{ns}/rollouts",
}


# --- watching one object -------------------------------------------------------------------------


class _Relist(Exception):
    """The watch cannot go on from its resourceVersion (410, error, dead connection): list again."""


class KubeDeployer:
    """The release step in Kubernetes mode: Succeeded once the workload object runs, Failed after the
    deadline. kubernetes-asyncio and aiohttp errors stay in here (they are retried until the deadline)."""

    def __init__(
        self, api: ApiClient, *, retry_s: float = RETRY_S, watch_timeout_s: int = WATCH_TIMEOUT_S
    ) -> None:
        self.api = api
        self.retry_s = retry_s
        self.watch_timeout_s = watch_timeout_s

    async def run(self, release: Release) -> tuple[KeptnState, str]:
        kind = release.resource_kind
        if kind not in RUNNING or kind == "Rollout":
            return KeptnState.FAILED, f"{kind} {release.resource_name}: {UNSUPPORTED_TEXT}"
        watched: list[tuple[str, Obj | None]] = [(kind, None)]
        try:
            async with asyncio.timeout(release.timeout_s):
                await self._until_running(release, watched)
        except TimeoutError:
            last_kind, last = watched[-1]
            name = (last or {}).get("metadata", {}).get("name") or release.resource_name
            return (
                KeptnState.FAILED,
                f"{last_kind} {release.namespace}/{name} is not running ({progress(last_kind, last)}): "
                f"{DEPLOY_TIMEOUT_TEXT}",
            )
        return KeptnState.SUCCEEDED, ""

    async def _until_running(self, release: Release, watched: list[tuple[str, Obj | None]]) -> None:
        """Return once the object runs; ``watched`` keeps the last state seen, for the failure message."""
        kind, ns = release.resource_kind, release.namespace
        async with contextlib.aclosing(self.states(kind, ns, release.resource_name)) as states:
            async for obj in states:
                watched[-1] = (kind, obj)
                if obj is None:
                    continue
                owner = rollout_owner(obj) if kind == "ReplicaSet" else None
                if owner is not None:
                    watched.append(("Rollout", None))
                    async with contextlib.aclosing(self.states("Rollout", ns, owner)) as rollouts:
                        async for rollout in rollouts:
                            watched[-1] = ("Rollout", rollout)
                            if rollout is not None and argo_rollout_running(rollout):
                                return
                if RUNNING[kind](obj):
                    return

    async def states(self, kind: str, namespace: str, name: str) -> AsyncGenerator[Obj | None, None]:
        """The object's state now and after every change (None while it does not exist), forever."""
        path = _COLLECTIONS[kind].format(ns=namespace)
        selector = ("fieldSelector", f"metadata.name={name}")
        while True:
            try:
                listing = await self._get(path, [selector])
                items = listing.get("items") or []
                yield items[0] if items else None
                version = str((listing.get("metadata") or {}).get("resourceVersion") or "")
                while True:  # a watch that ends cleanly resumes from its last resourceVersion
                    query = [
                        selector,
                        ("watch", "true"),
                        ("allowWatchBookmarks", "true"),
                        ("resourceVersion", version),
                        ("timeoutSeconds", self.watch_timeout_s),
                    ]
                    response = await self._open(path, query)
                    try:
                        async for line in _lines(response):
                            event = json.loads(line)
                            obj = event.get("object") or {}
                            if event.get("type") == "ERROR":
                                raise _Relist(f"watch error: {obj.get('message') or obj.get('code')}")
                            version = str((obj.get("metadata") or {}).get("resourceVersion") or version)
                            if event.get("type") in ("ADDED", "MODIFIED"):
                                yield obj
                            elif event.get("type") == "DELETED":
                                yield None
                    finally:
                        response.release()
            except (_Relist, ApiException, aiohttp.ClientError, OSError, TimeoutError, ValueError) as exc:
                log.debug("Watch of %s %s/%s interrupted (%s); listing again", kind, namespace, name, exc)
                await asyncio.sleep(self.retry_s)

    async def _open(self, path: str, query: list[tuple[str, Any]]) -> Any:
        response = await self.api.call_api(
            path,
            "GET",
            query_params=query,
            header_params={"Accept": "application/json"},
            auth_settings=["BearerToken"],
            _preload_content=False,
            _request_timeout=aiohttp.ClientTimeout(sock_connect=30.0, sock_read=self.watch_timeout_s + 30.0),
        )
        if not 200 <= response.status < 300:
            text = await response.text()
            response.release()
            raise _Relist(f"HTTP {response.status}: {text[:200]}")
        return response

    async def _get(self, path: str, query: list[tuple[str, Any]]) -> dict[str, Any]:
        response = await self._open(path, query)
        try:
            body = await response.json(content_type=None)
        finally:
            response.release()
        if not isinstance(body, dict):
            raise _Relist("the list answer is not an object")
        return body


async def _lines(response: Any) -> AsyncIterator[bytes]:
    """The non-empty lines of a watch stream, however long (one object per line)."""
    buffer = b""
    async for chunk in response.content.iter_any():
        buffer += chunk
        while b"\n" in buffer:
            line, buffer = buffer.split(b"\n", 1)
            if line.strip():
                yield line
    if buffer.strip():
        yield buffer
