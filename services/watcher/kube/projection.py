"""Projecting the state bucket into ``lifecycle.keptn.sh/v1`` CRs, so ``kubectl get`` shows what KLT
would show. JetStream stays the system of record (DESIGN §2); the CRs follow it.

How it stays fast and correct:
- The KV watch loop only records the latest value of each key and makes sure one writer task runs for
  that key: an object that changes several times within milliseconds is written once, with its newest
  state, and a slow API server never holds the watch up.
- Writers wait for the first list of every kind (the live CRs) and then compare: absent → create
  (status follows through the status subresource), different → merge patch of what differs. So a
  restart of the watcher re-converges whatever changed while it was away, and CRs with no state entry
  left are deleted (only those klt writes, see ``projection_mapping.is_projected``).
- Owner references need the owner's cluster uid: a writer whose owner CR does not exist yet waits for
  the next creation (or a short back-off) and tries again, so parents are created first whatever the
  order of the watch.
- 5xx, timeouts and connection errors are retried with capped exponential back-off; a request the API
  server refuses (422, 403) is logged, naming the object, and retried only when the state changes.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from dataclasses import dataclass

import msgspec
from kubernetes_asyncio.client import ApiClient
from nats.js import JetStreamContext
from nats.js.kv import KeyValue

from services.watcher.index import decode_stored
from services.watcher.kube.projection_api import (
    Body,
    KubeConflict,
    KubeError,
    KubeNotFound,
    KubeRejected,
    LifecycleCrs,
)
from services.watcher.kube.projection_mapping import (
    KINDS,
    OwnerLink,
    Projectable,
    Projected,
    create_body,
    is_projected,
    metadata_patch,
    project,
    spec_patch,
    status_patch,
)
from shared.keptn.lifecycle import LIFECYCLE_API
from shared.runtime.waiting import wait_set
from shared.subjects import Names, untoken

log = logging.getLogger(__name__)

Key = tuple[str, str, str]
"""(kind, namespace, name)."""

CONCURRENCY = 16
"""API requests in flight at once: enough to keep up with hundreds of objects per second on a real API
server, few enough not to trip its priority-and-fairness limits."""
RETRY_FIRST_S = 0.2
RETRY_MAX_S = 10.0
"""Back-off bounds after a failed write (doubling), for an API server that is busy or restarting."""

_KIND_OF_KEY = {kind.lower(): kind for kind in KINDS}


async def project_state(
    api: ApiClient,
    js: JetStreamContext,
    names: Names,
    stop: asyncio.Event,
    *,
    field_manager: str = "klt-watcher",
) -> None:
    """Keep the CRs of every lifecycle object in the state bucket of ``names`` in step with it, until
    ``stop`` is set."""
    kv = await js.key_value(names.state_bucket)
    projector = StateProjector(LifecycleCrs(api, field_manager=field_manager))
    await projector.run(kv, stop)


def key_of_entry(key: str) -> Key | None:
    """The (kind, namespace, name) of a state-bucket key, or None for a kind that is not projected."""
    parts = key.split(".")
    if len(parts) != 3:
        return None
    kind = _KIND_OF_KEY.get(parts[0])
    return None if kind is None else (kind, untoken(parts[1]), untoken(parts[2]))


def _describe(key: Key) -> str:
    return f"{key[0]} {key[1]}/{key[2]}"


@dataclass(frozen=True, slots=True)
class _Want:
    obj: Projectable | None
    """None: the state entry was deleted."""
    serial: int


class _OwnerMissing(Exception):
    """The owner CR does not exist (yet)."""


class StateProjector:
    """The latest wanted state per key, the live CRs as last seen, and one writer per dirty key."""

    def __init__(self, crs: LifecycleCrs, *, concurrency: int = CONCURRENCY) -> None:
        self.crs = crs
        self.wanted: dict[Key, _Want] = {}
        self.live: dict[Key, Body] = {}
        self.loaded = asyncio.Event()
        """The KV watch delivered every current entry."""
        self.primed = asyncio.Event()
        """Every kind was listed once, so ``live`` is complete as of the start."""
        self._writers: dict[Key, asyncio.Task[None]] = {}
        self._foreign_uids: dict[Key, str] = {}
        self._serials = itertools.count(1)
        self._slots = asyncio.Semaphore(concurrency)
        self._created = asyncio.Event()
        self._tg: asyncio.TaskGroup | None = None
        self._stopping = False

    async def run(self, kv: KeyValue, stop: asyncio.Event) -> None:
        async with asyncio.TaskGroup() as tg:
            self._tg = tg
            loops = [
                tg.create_task(self._follow(kv), name="projection-follow"),
                tg.create_task(self._prime(), name="projection-prime"),
                tg.create_task(self._sweep(), name="projection-sweep"),
            ]
            await stop.wait()
            self._stopping = True
            for task in [*loops, *self._writers.values()]:
                task.cancel()

    # --- intake -----------------------------------------------------------------------------------

    async def _follow(self, kv: KeyValue) -> None:
        watcher = await kv.watchall()
        try:
            async for entry in watcher:
                if entry is None:
                    self.loaded.set()
                    continue
                key = key_of_entry(entry.key)
                if key is None:
                    continue
                if entry.value is None or entry.operation is not None:
                    self.offer(key, None)
                    continue
                try:
                    obj = decode_stored(entry.key, entry.value)
                except msgspec.DecodeError as exc:
                    log.warning("Not projecting the unreadable state entry %s: %s", entry.key, exc)
                    continue
                self.offer(key, obj)
        finally:
            await watcher.stop()  # type: ignore[no-untyped-call]

    def offer(self, key: Key, obj: Projectable | None) -> None:
        """Record the newest wanted state of ``key`` (None: gone) and make sure a writer runs for it."""
        self.wanted[key] = _Want(obj, next(self._serials))
        if key not in self._writers and self._tg is not None and not self._stopping:
            self._writers[key] = self._tg.create_task(self._write(key), name=f"projection-{key[0]}")

    async def _prime(self) -> None:
        for kind, info in KINDS.items():
            delay = RETRY_FIRST_S
            while True:
                try:
                    async for item in self.crs.list_all(info.plural):
                        meta = item.get("metadata") or {}
                        self.live[(kind, meta.get("namespace", ""), meta.get("name", ""))] = item
                    break
                except KubeError as exc:
                    log.warning(
                        "Cannot list the %s CRs (are klt's CRDs installed?), trying again in %.1fs: %s",
                        kind,
                        delay,
                        exc,
                    )
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, RETRY_MAX_S)
        log.info("Projection: %d lifecycle CRs found in the cluster", len(self.live))
        self.primed.set()

    async def _sweep(self) -> None:
        """Once both the state and the CRs are known, delete the CRs klt wrote whose state is gone."""
        await self.loaded.wait()
        await self.primed.wait()
        orphans = [
            key for key, body in self.live.items() if key not in self.wanted and is_projected(key[0], body)
        ]
        if orphans:
            log.info("Projection: %d CRs have no lifecycle state any more and will be deleted", len(orphans))
        for key in orphans:
            if key not in self.wanted:
                self.offer(key, None)

    # --- writing ----------------------------------------------------------------------------------

    async def _write(self, key: Key) -> None:
        """Bring the CR of ``key`` to the newest wanted state, until no newer one is waiting."""
        delay = RETRY_FIRST_S
        try:
            await self.primed.wait()
            while True:
                want = self.wanted.get(key)
                if want is None:
                    return
                try:
                    if want.obj is None:
                        await self._remove(key)
                    else:
                        await self._apply(project(want.obj))
                except _OwnerMissing as exc:
                    log.debug("%s waits for its owner %s", _describe(key), exc)
                    await self._wait_for_creation(delay)
                    delay = min(delay * 2, RETRY_MAX_S)
                    continue
                except KubeNotFound as exc:
                    # Deleted behind our back (or its namespace is gone): forget it and look again.
                    self.live.pop(key, None)
                    log.info("%s vanished from the cluster; projecting it again: %s", _describe(key), exc)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, RETRY_MAX_S)
                    continue
                except KubeRejected as exc:
                    log.error("The API server refused the projection of %s: %s", _describe(key), exc)
                except KubeError as exc:  # unavailable, or a conflict that a re-read resolves
                    log.warning("Projection of %s failed, retrying in %.1fs: %s", _describe(key), delay, exc)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, RETRY_MAX_S)
                    continue
                except Exception:
                    log.exception(
                        "Projection of %s failed unexpectedly; retrying in %.1fs", _describe(key), delay
                    )
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, RETRY_MAX_S)
                    continue
                delay = RETRY_FIRST_S
                if self.wanted.get(key) is want:
                    if want.obj is None:
                        del self.wanted[key]
                    return
        finally:
            self._writers.pop(key, None)

    async def _apply(self, p: Projected) -> None:
        key: Key = (p.kind, p.namespace, p.name)
        owner_refs = [ref for link in p.owners if (ref := await self._owner_reference(p, link)) is not None]
        async with self._slots:
            live = self.live.get(key)
            if live is None:
                live = await self._create(p, owner_refs)
                if live is None:
                    return
            meta = metadata_patch(p, live, owner_refs)
            spec = spec_patch(p, live)
            if meta is not None or spec is not None:
                patch: Body = {}
                if meta is not None:
                    patch["metadata"] = meta
                if spec is not None:
                    patch["spec"] = spec
                live = await self.crs.patch(p.plural, p.namespace, p.name, patch, what=p.describe())
                self.live[key] = live
                log.debug("Patched %s: %s", p.describe(), sorted(patch))
            status = status_patch(p, live)
            if status is not None:
                live = await self.crs.patch_status(p.plural, p.namespace, p.name, status, what=p.describe())
                self.live[key] = live
                log.debug("Patched the status of %s", p.describe())

    async def _create(self, p: Projected, owner_refs: list[Body]) -> Body | None:
        """Create the CR (or adopt the one someone created meanwhile); None for a user's KeptnApp that
        is not in the cluster, which klt never creates."""
        key: Key = (p.kind, p.namespace, p.name)
        if not p.managed:
            live = await self._fetch(key)
            if live is None:
                log.debug("%s is not in the cluster; klt does not create a user's KeptnApp", p.describe())
            return live
        body = create_body(p, owner_refs)
        try:
            live = await self.crs.create(p.plural, p.namespace, body, what=p.describe())
            log.info("Created %s", p.describe())
        except KubeConflict:
            live = await self.crs.get(p.plural, p.namespace, p.name, what=p.describe())
        self.live[key] = live
        self._signal_creation()
        return live

    async def _remove(self, key: Key) -> None:
        live = self.live.get(key)
        if live is None or not is_projected(key[0], live):
            return  # never written by klt (a user's KeptnApp), or not in the cluster
        kind, namespace, name = key
        async with self._slots:
            with contextlib.suppress(KubeNotFound):
                await self.crs.delete(KINDS[kind].plural, namespace, name, what=_describe(key))
                log.info("Deleted %s: its lifecycle state is gone", _describe(key))
        self.live.pop(key, None)

    # --- owners -----------------------------------------------------------------------------------

    async def _owner_reference(self, p: Projected, link: OwnerLink) -> Body | None:
        """The ownerReferences entry for ``link``; raises ``_OwnerMissing`` while a lifecycle owner is
        not in the cluster. A KeptnWorkload whose workload object is gone gets no owner reference
        (one naming a missing uid would make the garbage collector delete it)."""
        okey: Key = (link.kind, p.namespace, link.name)
        if link.api_version == LIFECYCLE_API:
            live = self.live.get(okey)
            if live is None:
                live = await self._fetch(okey)
            uid = ((live or {}).get("metadata") or {}).get("uid")
            if not uid:
                raise _OwnerMissing(_describe(okey))
            return link.reference(uid)
        uid = self._foreign_uids.get(okey)
        if uid is None:
            try:
                found = await self.crs.get(
                    link.plural,
                    p.namespace,
                    link.name,
                    what=_describe(okey),
                    group_version=link.group_version,
                )
            except KubeNotFound:
                log.info(
                    "%s gets no owner reference: %s is not in the cluster", p.describe(), _describe(okey)
                )
                return None
            uid = (found.get("metadata") or {}).get("uid") or link.uid_hint
            self._foreign_uids[okey] = uid
        return link.reference(uid)

    async def _fetch(self, key: Key) -> Body | None:
        kind, namespace, name = key
        try:
            live = await self.crs.get(KINDS[kind].plural, namespace, name, what=_describe(key))
        except KubeNotFound:
            return None
        self.live[key] = live
        return live

    def _signal_creation(self) -> None:
        created, self._created = self._created, asyncio.Event()
        created.set()

    async def _wait_for_creation(self, timeout_s: float) -> None:
        await wait_set(self._created, timeout_s)
