"""Watch streams: newline-delimited JSON events over a chunked HTTP response, as the API server sends.

- ``resourceVersion`` unset or ``"0"``: an ADDED event for every current object, then every later change.
- ``resourceVersion=N``: every retained change after N, then live ones; if N is older than the retained
  history, the stream is one ``ERROR`` event carrying a ``Status`` with code 410 and reason ``Expired``
  (the HTTP status stays 200, as on a real cluster).
- ``allowWatchBookmarks=true``: a ``BOOKMARK`` event (an object of the kind with only
  ``metadata.resourceVersion``) every ``bookmark_interval`` seconds while the stream is idle.
- ``sendInitialEvents=true``: after the initial ADDED events, a bookmark annotated
  ``k8s.io/initial-events-end: "true"``.
- ``timeoutSeconds``: the stream ends cleanly after that long.
- Label and field selectors apply to both sides of a change: an object that stops matching is sent as
  DELETED (its previous state), one that starts matching as ADDED.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from tests.k8s.errors import ApiError
from tests.k8s.resources import ResourceType
from tests.k8s.store import Obj, Store, StoredEvent, Subscription

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WatchRequest:
    resource: ResourceType
    namespace: str | None
    matches: Callable[[Obj], bool]
    resource_version: str | None
    bookmarks: bool
    initial_events_end: bool
    timeout: float | None


def served(resource: ResourceType, obj: Obj) -> Obj:
    """The object as served at the requested version (no field conversion, only ``apiVersion``)."""
    out = dict(obj)
    out["apiVersion"], out["kind"] = resource.api_version, resource.kind
    return out


def _in_scope(req: WatchRequest, event: StoredEvent) -> bool:
    return event.storage == req.resource.storage and (not req.namespace or event.namespace == req.namespace)


def translate(req: WatchRequest, event: StoredEvent) -> tuple[str, Obj] | None:
    """What a watcher with this request's selectors sees of one stored change, if anything."""
    if not _in_scope(req, event):
        return None
    if event.type == "ADDED":
        return ("ADDED", event.obj) if req.matches(event.obj) else None
    if event.type == "DELETED":
        return ("DELETED", event.obj) if req.matches(event.old or event.obj) else None
    now, before = req.matches(event.obj), event.old is not None and req.matches(event.old)
    if now and before:
        return "MODIFIED", event.obj
    if now:
        return "ADDED", event.obj
    if before and event.old is not None:
        gone = {**event.old, "metadata": {**event.old["metadata"], "resourceVersion": str(event.rv)}}
        return "DELETED", gone
    return None


def _line(kind: str, obj: Obj) -> bytes:
    return json.dumps({"type": kind, "object": obj}, separators=(",", ":")).encode() + b"\n"


def _bookmark(req: WatchRequest, rv: int, *, initial_end: bool = False) -> bytes:
    meta: dict[str, Any] = {"resourceVersion": str(rv)}
    if initial_end:
        meta["annotations"] = {"k8s.io/initial-events-end": "true"}
    return _line(
        "BOOKMARK", {"kind": req.resource.kind, "apiVersion": req.resource.api_version, "metadata": meta}
    )


async def serve_watch(
    request: web.Request, store: Store, req: WatchRequest, bookmark_interval: float
) -> web.StreamResponse:
    """Stream events until the timeout, a drop by the test, or the client going away."""
    response = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
    response.enable_chunked_encoding()
    initial: list[bytes] = []
    try:
        after = None if req.resource_version in (None, "", "0") else int(req.resource_version or 0)
        replay, sub = store.subscribe(after)
    except ValueError:
        raise ApiError(400, "BadRequest", f"invalid resource version: {req.resource_version!r}") from None
    except ApiError as exc:
        await response.prepare(request)
        await response.write(_line("ERROR", exc.status()))
        await response.write_eof()
        return response
    if after is None:
        initial = [
            _line("ADDED", served(req.resource, o))
            for o in store.list(req.resource, req.namespace, predicate=req.matches)
        ]
        if req.initial_events_end and req.bookmarks:
            initial.append(_bookmark(req, store.resource_version, initial_end=True))
    for event in replay:
        seen = translate(req, event)
        if seen is not None:
            initial.append(_line(seen[0], served(req.resource, seen[1])))
    try:
        await response.prepare(request)
        for line in initial:
            await response.write(line)
        await _follow(response, store, req, sub, bookmark_interval, after or 0)
        store.unsubscribe(sub)
        if sub.abort:
            if request.transport is not None:
                request.transport.abort()
            return response
        await response.write_eof()
    except (ConnectionResetError, asyncio.CancelledError) as exc:
        store.unsubscribe(sub)
        if isinstance(exc, asyncio.CancelledError):
            raise
    return response


async def _follow(
    response: web.StreamResponse,
    store: Store,
    req: WatchRequest,
    sub: Subscription,
    bookmark_interval: float,
    after: int,
) -> None:
    """Send live events (only those after ``after``: a watch from a future version waits for it) and
    bookmarks, until the timeout or a drop."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + req.timeout if req.timeout else None
    next_bookmark = loop.time() + bookmark_interval if req.bookmarks else None
    while True:
        waits = [t - loop.time() for t in (deadline, next_bookmark) if t is not None]
        try:
            event = await asyncio.wait_for(sub.queue.get(), max(0.0, min(waits)) if waits else None)
        except TimeoutError:
            if deadline is not None and loop.time() >= deadline:
                return
            if next_bookmark is not None and loop.time() >= next_bookmark:
                if sub.queue.empty():
                    await response.write(_bookmark(req, store.resource_version))
                next_bookmark = loop.time() + bookmark_interval
            continue
        if event is None:
            return
        if event.rv <= after:
            continue
        seen = translate(req, event)
        if seen is not None:
            await response.write(_line(seen[0], served(req.resource, seen[1])))
