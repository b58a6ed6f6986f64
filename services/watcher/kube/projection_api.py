"""The few API calls the projection and the event recorder make, with kubernetes-asyncio's exceptions
turned into four of our own, so the callers decide on meaning (absent, exists, try later, refused) and
never see a client exception.

Custom resources are plain dicts. Merge patches need ``_content_type="application/merge-patch+json"``:
without it the client sends a dict body as a JSON patch and the API server answers 400
(tests/k8s/README.md, "Client traps").
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
from kubernetes_asyncio.client import ApiClient, ApiException, CoreV1Api, CustomObjectsApi

from shared.runtime.waiting import wait_set

Body = dict[str, Any]

MERGE_PATCH = "application/merge-patch+json"
LIST_PAGE = 500
"""Objects per list page: a busy cluster in a few requests, no huge single response."""
REQUEST_TIMEOUT_S = 30.0
"""Client-side limit of one request, so a hung API server shows up as a retryable error."""


class KubeError(Exception):
    """A request the API server did not carry out; the message names the object."""


class KubeNotFound(KubeError):
    """404: the object (or its namespace) does not exist."""


class KubeConflict(KubeError):
    """409: the object exists already (create), or was changed meanwhile."""


class KubeUnavailable(KubeError):
    """5xx, 429, a timeout or a connection problem: worth trying again later."""


class KubeRejected(KubeError):
    """Any other 4xx: the request itself is wrong (invalid object, forbidden); retrying will not help."""


def _reason(exc: ApiException) -> str:
    body = exc.body
    if isinstance(body, bytes | str) and body:
        text = body.decode(errors="replace") if isinstance(body, bytes) else body
        return text[:300]
    return str(exc.reason or exc.status)


@contextlib.contextmanager
def wrapped(what: str) -> Iterator[None]:
    """Translate the client's exceptions for a request about ``what`` (e.g. ``KeptnTask demo/x``)."""
    try:
        yield
    except ApiException as exc:
        status = exc.status or 0
        detail = f"{what}: HTTP {status} {_reason(exc)}"
        if status == 404:
            raise KubeNotFound(detail) from None
        if status == 409:
            raise KubeConflict(detail) from None
        if status >= 500 or status in (0, 408, 429):
            raise KubeUnavailable(detail) from None
        raise KubeRejected(detail) from None
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        raise KubeUnavailable(f"{what}: the API server could not be reached: {exc!r}") from None


class LifecycleCrs:
    """``lifecycle.keptn.sh`` (and owner-kind) objects through ``CustomObjectsApi``."""

    def __init__(
        self,
        api: ApiClient,
        *,
        field_manager: str = "klt-watcher",
        group: str = "lifecycle.keptn.sh",
        version: str = "v1",
    ) -> None:
        # Any: the client's stubs reject dict bodies and ``_content_type``, both valid at run time.
        self._api: Any = CustomObjectsApi(api)
        self.group = group
        self.field_manager = field_manager
        self.version = version

    async def get(
        self,
        plural: str,
        namespace: str,
        name: str,
        *,
        what: str,
        group_version: tuple[str, str] | None = None,
    ) -> Body:
        group, version = group_version or (self.group, self.version)
        with wrapped(what):
            found: Body = await self._api.get_namespaced_custom_object(
                group, version, namespace, plural, name, _request_timeout=REQUEST_TIMEOUT_S
            )
        return found

    async def create(self, plural: str, namespace: str, body: Body, *, what: str) -> Body:
        with wrapped(what):
            created: Body = await self._api.create_namespaced_custom_object(
                self.group,
                self.version,
                namespace,
                plural,
                body,
                field_manager=self.field_manager,
                _request_timeout=REQUEST_TIMEOUT_S,
            )
        return created

    async def patch(self, plural: str, namespace: str, name: str, patch: Body, *, what: str) -> Body:
        with wrapped(what):
            patched: Body = await self._api.patch_namespaced_custom_object(
                self.group,
                self.version,
                namespace,
                plural,
                name,
                patch,
                field_manager=self.field_manager,
                _content_type=MERGE_PATCH,
                _request_timeout=REQUEST_TIMEOUT_S,
            )
        return patched

    async def patch_status(self, plural: str, namespace: str, name: str, status: Body, *, what: str) -> Body:
        with wrapped(what):
            patched: Body = await self._api.patch_namespaced_custom_object_status(
                self.group,
                self.version,
                namespace,
                plural,
                name,
                {"status": status},
                field_manager=self.field_manager,
                _content_type=MERGE_PATCH,
                _request_timeout=REQUEST_TIMEOUT_S,
            )
        return patched

    async def delete(self, plural: str, namespace: str, name: str, *, what: str) -> None:
        with wrapped(what):
            await self._api.delete_namespaced_custom_object(
                self.group,
                self.version,
                namespace,
                plural,
                name,
                propagation_policy="Background",
                _request_timeout=REQUEST_TIMEOUT_S,
            )

    async def list_all(self, plural: str) -> AsyncIterator[Body]:
        """Every object of ``plural`` in every namespace, page by page."""
        token = ""
        while True:
            with wrapped(f"the list of {plural}"):
                page: Body = await self._api.list_cluster_custom_object(
                    self.group,
                    self.version,
                    plural,
                    limit=LIST_PAGE,
                    _continue=token or None,
                    _request_timeout=REQUEST_TIMEOUT_S,
                )
            for item in page.get("items") or []:
                yield item
            token = (page.get("metadata") or {}).get("continue") or ""
            if not token:
                return


class CoreEvents:
    """``core/v1`` Events."""

    def __init__(self, api: ApiClient) -> None:
        self._api: Any = CoreV1Api(api)  # Any: the stubs want a CoreV1Event; a dict is sent as is

    async def create(self, namespace: str, body: Body, *, what: str) -> None:
        with wrapped(what):
            await self._api.create_namespaced_event(namespace, body, _request_timeout=REQUEST_TIMEOUT_S)


async def sleep_or_stop(stop: asyncio.Event, seconds: float) -> bool:
    """Wait ``seconds`` unless ``stop`` is set first; True when stopped."""
    return await wait_set(stop, seconds)
