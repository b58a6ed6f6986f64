"""A reusable list+watch loop for one kind of object, across all namespaces (DESIGN §4).

``ListWatch`` lists the objects, then watches from the list's resourceVersion with bookmarks and a
server-side timeout, keeping a cache of what it has seen and calling ``on_event(type, object)`` for each
change (``ADDED``, ``MODIFIED``, ``DELETED``; objects are plain dicts as the API server sends them):

- The last resourceVersion comes from every event and bookmark, so a watch that ends (server timeout,
  dropped connection) resumes where it stopped: no object is missed across a restart.
- 410 Gone (the history was compacted: an HTTP 410 or an ``ERROR`` event carrying a 410 Status) means
  re-list, then reconcile with the cache: objects that vanished while away are reported ``DELETED``,
  changed ones ``MODIFIED``, unchanged ones not at all.
- Connection errors and other failures reconnect with capped exponential backoff.

It reads the watch stream itself rather than through kubernetes-asyncio's ``Watch()``: that one
deserialises typed objects with validation on (a partial object fails inside the stream), retries a 410
with the same stale version, and has no timeout unless told (see tests/k8s/README.md).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
from kubernetes_asyncio.client import ApiClient, ApiException

log = logging.getLogger(__name__)

Obj = dict[str, Any]
OnEvent = Callable[[str, Obj], Awaitable[None]]
ObjKey = tuple[str, str]
"""(namespace, name); the namespace is ``""`` for cluster-scoped objects."""

LIST_PAGE = 500
"""Objects per list page: large enough to list a busy cluster in a few requests, small enough not to
make the API server build one huge response."""


@dataclass(frozen=True)
class Resource:
    """One kind of object: ``group`` is ``""`` for the core group."""

    group: str
    version: str
    plural: str
    kind: str

    @property
    def path(self) -> str:
        """The all-namespaces collection path."""
        if not self.group:
            return f"/api/{self.version}/{self.plural}"
        return f"/apis/{self.group}/{self.version}/{self.plural}"

    def __str__(self) -> str:
        return f"{self.plural}.{self.group}/{self.version}" if self.group else f"{self.plural}/{self.version}"


class Gone(Exception):
    """The resourceVersion we watch from is older than the API server's history (410)."""


class WatchFailed(Exception):
    """A list or watch request failed in a way worth retrying after a pause."""


@dataclass(frozen=True)
class Backoff:
    """Capped exponential backoff between reconnects: ``initial_s`` doubled per failure up to ``max_s``."""

    initial_s: float = 0.2
    max_s: float = 30.0

    def delay(self, failures: int) -> float:
        return float(min(self.max_s, self.initial_s * 2 ** max(0, failures - 1)))


def key_of(obj: Mapping[str, Any]) -> ObjKey:
    meta = obj.get("metadata") or {}
    return str(meta.get("namespace") or ""), str(meta.get("name") or "")


def _rv_of(obj: Mapping[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("resourceVersion") or "")


class ListWatch:
    """List+watch of ``resource`` in every namespace, with a cache of the current objects.

    ``run`` loops until cancelled; ``synced`` is set once the first list has been reported."""

    def __init__(
        self,
        api: ApiClient,
        resource: Resource,
        on_event: OnEvent,
        *,
        timeout_s: int = 300,
        backoff: Backoff = Backoff(),
        label_selector: str = "",
    ) -> None:
        self.api = api
        self.resource = resource
        self.on_event = on_event
        self.timeout_s = timeout_s
        self.backoff = backoff
        self.label_selector = label_selector
        self.cache: dict[ObjKey, Obj] = {}
        self.resource_version = ""
        self.synced = asyncio.Event()
        self.lists = 0
        """How many times the collection was listed (1 + re-lists after 410s and failures)."""
        self._closing = False

    def close(self) -> None:
        """Make ``run`` return at its next step. Cancelling alone is not enough on Python 3.11, where a
        cancellation that races with a completing ``wait_for`` inside a library can be lost."""
        self._closing = True

    async def run(self) -> None:
        failures = 0
        must_list = True
        while not self._closing:
            try:
                if must_list:
                    await self._relist()
                    must_list = False
                    failures = 0
                if await self._watch_once():
                    failures = 0
            except Gone:
                log.info(
                    "Watch of %s expired at resourceVersion %s; re-listing",
                    self.resource,
                    self.resource_version,
                )
                must_list = True
            except WatchFailed as exc:
                failures += 1
                delay = self.backoff.delay(failures)
                log.warning("Watch of %s failed (%s); retrying in %.1f s", self.resource, exc, delay)
                await asyncio.sleep(delay)

    # --- list ------------------------------------------------------------------------------------
    async def _relist(self) -> None:
        """List everything, then report the difference to the cache (deletions last)."""
        items, version = await self._list_all()
        self.lists += 1
        seen: set[ObjKey] = set()
        for obj in items:
            key = key_of(obj)
            seen.add(key)
            known = self.cache.get(key)
            if known is not None and _rv_of(known) == _rv_of(obj):
                continue
            self.cache[key] = obj
            await self.on_event("MODIFIED" if known is not None else "ADDED", obj)
        for key in [k for k in self.cache if k not in seen]:
            await self.on_event("DELETED", self.cache.pop(key))
        self.resource_version = version
        self.synced.set()

    async def _list_all(self) -> tuple[list[Obj], str]:
        items: list[Obj] = []
        token = ""
        while True:
            query: list[tuple[str, Any]] = [("limit", LIST_PAGE)]
            if token:
                query.append(("continue", token))
            if self.label_selector:
                query.append(("labelSelector", self.label_selector))
            body = await self._get_json(query)
            kind = self.resource.kind
            api_version = f"{self.resource.group}/{self.resource.version}".lstrip("/")
            for item in body.get("items") or []:
                # A real API server leaves kind/apiVersion out of built-in list items.
                item.setdefault("kind", kind)
                item.setdefault("apiVersion", api_version)
                items.append(item)
            meta = body.get("metadata") or {}
            token = meta.get("continue") or ""
            if not token:
                return items, str(meta.get("resourceVersion") or "")

    async def _get_json(self, query: list[tuple[str, Any]]) -> Obj:
        try:
            response = await self._request(query, self.timeout_s + 30.0)
            try:
                text = await response.text()
            finally:
                response.release()
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise WatchFailed(f"list: {type(exc).__name__}: {exc}") from None
        if response.status == 410:
            raise Gone()
        if not 200 <= response.status < 300:
            raise WatchFailed(f"list: HTTP {response.status}: {_status_message(text)}")
        try:
            body = json.loads(text)
        except ValueError:
            raise WatchFailed("list: the answer is not JSON") from None
        if not isinstance(body, dict):
            raise WatchFailed("list: the answer is not an object list")
        return body

    async def _request(self, query: list[tuple[str, Any]], read_timeout_s: float) -> Any:
        """A GET on the collection with the client's configuration and auth; the raw aiohttp response.

        ``ApiException`` (raised by the client before any answer, e.g. a bad token refresh) is wrapped."""
        try:
            return await self.api.call_api(
                self.resource.path,
                "GET",
                query_params=query,
                header_params={"Accept": "application/json"},
                auth_settings=["BearerToken"],
                _preload_content=False,
                _request_timeout=aiohttp.ClientTimeout(sock_connect=30.0, sock_read=read_timeout_s),
            )
        except ApiException as exc:
            raise WatchFailed(f"HTTP {exc.status}: {exc.reason}") from None

    # --- watch -----------------------------------------------------------------------------------
    async def _watch_once(self) -> bool:
        """Watch from ``resource_version`` until the stream ends; True when it ended cleanly."""
        query: list[tuple[str, Any]] = [
            ("watch", "true"),
            ("resourceVersion", self.resource_version),
            ("allowWatchBookmarks", "true"),
            ("timeoutSeconds", self.timeout_s),
        ]
        if self.label_selector:
            query.append(("labelSelector", self.label_selector))
        try:
            # The server ends the stream after timeoutSeconds; the read timeout only catches a dead peer.
            response = await self._request(query, self.timeout_s + 30.0)
            try:
                if response.status == 410:
                    raise Gone()
                if not 200 <= response.status < 300:
                    text = await response.text()
                    raise WatchFailed(f"watch: HTTP {response.status}: {_status_message(text)}")
                buffer = b""
                async for chunk in response.content.iter_any():
                    if self._closing:
                        return True
                    buffer += chunk
                    while b"\n" in buffer:
                        line, buffer = buffer.split(b"\n", 1)
                        if line.strip():
                            await self._handle_line(line)
                if buffer.strip():
                    await self._handle_line(buffer)
            finally:
                response.release()
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise WatchFailed(f"watch: {type(exc).__name__}: {exc}") from None
        return True

    async def _handle_line(self, line: bytes) -> None:
        try:
            event = json.loads(line)
            kind, obj = event["type"], event["object"]
        except (ValueError, KeyError, TypeError):
            raise WatchFailed("watch: a line of the stream is not a watch event") from None
        if kind == "ERROR":
            code = obj.get("code") if isinstance(obj, dict) else None
            if code == 410:
                raise Gone()
            raise WatchFailed(f"watch: error event: {_status_message(json.dumps(obj))}")
        version = _rv_of(obj)
        if kind == "BOOKMARK":
            if version:
                self.resource_version = version
            return
        if kind not in ("ADDED", "MODIFIED", "DELETED"):
            log.debug("Ignoring a %s event on %s", kind, self.resource)
            return
        obj.setdefault("kind", self.resource.kind)
        key = key_of(obj)
        if kind == "DELETED":
            self.cache.pop(key, None)
        else:
            self.cache[key] = obj
        if version:
            self.resource_version = version
        await self.on_event(kind, obj)


def _status_message(text: str) -> str:
    """The ``message`` of a Kubernetes Status body, else the start of the body."""
    try:
        body = json.loads(text)
    except ValueError:
        return text[:200]
    if isinstance(body, dict) and body.get("message"):
        return str(body["message"])
    return text[:200]
