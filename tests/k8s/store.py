"""The object store: the API server's storage semantics, with no HTTP.

One global resourceVersion counter (as etcd's revision) stamps every write; each write is an event kept
in a bounded history, which watches replay from a resourceVersion. The methods are synchronous, so
reading state and subscribing to later events happen in one step of the event loop, with nothing in
between: that is what makes "list, then watch from the list's resourceVersion" lossless here, as it is
on a real cluster.

Semantics kept: AlreadyExists, NotFound, Conflict on a stale ``metadata.resourceVersion``, ``generateName``,
uid and creationTimestamp, ``metadata.generation`` bumped only when the object outside ``metadata``
(and ``status``, for kinds with a status subresource) changes, status writes only through the status
subresource, no-op writes that neither bump the resourceVersion nor emit an event, finalizers
(``deletionTimestamp`` first, removal when the last finalizer goes), garbage collection of dependents
by ``ownerReferences`` (background, or orphaning), and namespace deletion removing its contents.
"""

from __future__ import annotations

import asyncio
import builtins
import copy
import secrets
import uuid
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tests.k8s import errors
from tests.k8s.clock import Clock
from tests.k8s.defaults import default_object, validate_metadata, validate_update
from tests.k8s.resources import ResourceTable, ResourceType
from tests.k8s.selectors import Requirement, labels_match, parse_label_selector

Obj = dict[str, Any]
Key = tuple[str, str]  # (namespace, name); namespace "" for cluster-scoped objects
_NAME_CHARS = "bcdfghjklmnpqrstvwxz2456789"
_SYSTEM_META = ("uid", "creationTimestamp", "generation", "deletionTimestamp", "deletionGracePeriodSeconds")


@dataclass(frozen=True)
class StoredEvent:
    """One write: ``obj`` is the state after it (the last state for DELETED), ``old`` the state before."""

    rv: int
    type: str
    storage: tuple[str, str]
    namespace: str
    obj: Obj
    old: Obj | None


@dataclass(eq=False)
class Subscription:
    """A watch's feed of every later write; ``None`` on the queue means the server dropped the watch."""

    queue: asyncio.Queue[StoredEvent | None] = field(default_factory=asyncio.Queue)
    abort: bool = False


def random_suffix(length: int = 5) -> str:
    return "".join(secrets.choice(_NAME_CHARS) for _ in range(length))


def _copy(obj: Obj) -> Obj:
    return copy.deepcopy(obj)


def _without(obj: Mapping[str, Any], *keys: str) -> Obj:
    return {k: v for k, v in obj.items() if k not in keys}


class Store:
    """All objects of all kinds, the resourceVersion counter, the event history and the watch feeds."""

    def __init__(
        self,
        table: ResourceTable,
        clock: Clock,
        *,
        history_limit: int = 10_000,
        strict_namespaces: bool = True,
    ) -> None:
        self.table = table
        self.clock = clock
        self.history_limit = history_limit
        self.strict_namespaces = strict_namespaces
        self._objects: dict[tuple[str, str], dict[Key, Obj]] = {}
        self._rv = 0
        self._history: deque[StoredEvent] = deque()
        self._compacted = 0
        self._subscribers: set[Subscription] = set()
        self._listeners: list[Callable[[StoredEvent], None]] = []

    # -- reading ---------------------------------------------------------------------------------------

    @property
    def resource_version(self) -> int:
        """The last resourceVersion issued (the list resourceVersion of every collection)."""
        return self._rv

    @property
    def oldest_watchable(self) -> int:
        """A watch from a resourceVersion below this gets 410 Gone."""
        return self._compacted

    def resource(self, resource: ResourceType | str) -> ResourceType:
        return resource if isinstance(resource, ResourceType) else self.table.lookup(resource)

    def find(self, resource: ResourceType | str, namespace: str | None, name: str) -> Obj | None:
        res = self.resource(resource)
        found = self._bucket(res).get(((namespace or "") if res.namespaced else "", name))
        return None if found is None else _copy(found)

    def get(self, resource: ResourceType | str, namespace: str | None, name: str) -> Obj:
        res = self.resource(resource)
        found = self.find(res, namespace, name)
        if found is None:
            raise errors.not_found(res, name)
        return found

    def list(
        self,
        resource: ResourceType | str,
        namespace: str | None = None,
        label_selector: str | builtins.list[Requirement] | None = None,
        predicate: Callable[[Obj], bool] | None = None,
    ) -> builtins.list[Obj]:
        """Current objects sorted by namespace and name (etcd key order), optionally filtered."""
        res = self.resource(resource)
        reqs = (
            parse_label_selector(label_selector) if isinstance(label_selector, str) else label_selector or []
        )
        out = []
        for (ns, _name), obj in sorted(self._bucket(res).items()):
            if namespace and ns != namespace:
                continue
            if labels_match(reqs, obj) and (predicate is None or predicate(obj)):
                out.append(_copy(obj))
        return out

    def dependents(self, uid: str) -> builtins.list[tuple[ResourceType, Obj]]:
        """Objects whose ownerReferences name ``uid`` (any kind)."""
        out = []
        for res in self._storage_types():
            for obj in self._bucket(res).values():
                if any(ref.get("uid") == uid for ref in obj["metadata"].get("ownerReferences") or []):
                    out.append((res, _copy(obj)))
        return out

    # -- writing ---------------------------------------------------------------------------------------

    def create(
        self, resource: ResourceType | str, obj: Obj, namespace: str | None = None, *, dry_run: bool = False
    ) -> Obj:
        res = self.resource(resource)
        new = _copy(obj)
        meta = new.setdefault("metadata", {})
        ns = self._namespace_for(res, meta, namespace)
        if (
            res.namespaced
            and self.strict_namespaces
            and ("", ns) not in self._bucket(self.resource("namespaces"))
        ):
            raise errors.namespace_not_found(ns)
        if not meta.get("name"):
            if not meta.get("generateName"):
                raise errors.invalid(
                    res, "", "metadata.name", "Required value: name or generateName is required"
                )
            meta["name"] = meta["generateName"] + random_suffix()
        self._check_type(res, new)
        validate_metadata(res, new)
        if (ns, meta["name"]) in self._bucket(res):
            raise errors.already_exists(res, meta["name"])
        for key in (*_SYSTEM_META, "resourceVersion", "managedFields", "selfLink"):
            meta.pop(key, None)
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = self.clock.timestamp()
        if res.generation:
            meta["generation"] = 1
        if res.status:
            new.pop("status", None)
        new["apiVersion"], new["kind"] = res.api_version, res.kind
        default_object(res, new, creating=True)
        if dry_run:
            return new
        return self._write("ADDED", res, ns, new, None)

    def replace(
        self,
        resource: ResourceType | str,
        obj: Obj,
        namespace: str | None = None,
        *,
        subresource: str | None = None,
        dry_run: bool = False,
    ) -> Obj:
        """PUT: the body's ``metadata.resourceVersion`` is a precondition (409 when stale)."""
        res = self.resource(resource)
        body = _copy(obj)
        meta = body.setdefault("metadata", {})
        ns = self._namespace_for(res, meta, namespace)
        name = meta.get("name") or ""
        current = self._bucket(res).get((ns, name))
        if current is None:
            raise errors.not_found(res, name)
        wanted = meta.get("resourceVersion")
        if wanted in (None, "") and not res.builtin:
            raise errors.invalid(
                res, name, "metadata.resourceVersion", "Invalid value: 0x0: must be specified for an update"
            )
        if wanted not in (None, "") and str(wanted) != current["metadata"]["resourceVersion"]:
            raise errors.conflict(res, name)
        if subresource == "status":
            new = _copy(current)
            if "status" in body:
                new["status"] = body["status"]
            else:
                new.pop("status", None)
        else:
            self._check_type(res, body)
            new = body
            for key in _SYSTEM_META:
                if key in current["metadata"]:
                    new["metadata"][key] = current["metadata"][key]
                else:
                    new["metadata"].pop(key, None)
            if res.status:
                if "status" in current:
                    new["status"] = current["status"]
                else:
                    new.pop("status", None)
            new["apiVersion"], new["kind"] = res.api_version, res.kind
            validate_metadata(res, new)
            default_object(res, new, creating=False)
            validate_update(res, current, new)
        new["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
        if res.generation and self._spec_of(res, new) != self._spec_of(res, current):
            new["metadata"]["generation"] = current["metadata"].get("generation", 1) + 1
        if new == current or dry_run:
            return _copy(new)
        if new["metadata"].get("deletionTimestamp") and not new["metadata"].get("finalizers"):
            return self._remove(res, ns, new, current)
        return self._write("MODIFIED", res, ns, new, current)

    def write_system(self, resource: ResourceType | str, obj: Obj) -> Obj:
        """A write by the cluster itself (scheduler binding, kubelet and controller status): spec and status
        as given, no precondition, no generation bump; a write that changes nothing is skipped."""
        res = self.resource(resource)
        meta = obj["metadata"]
        ns = (meta.get("namespace") or "") if res.namespaced else ""
        current = self._bucket(res).get((ns, meta["name"]))
        if current is None:
            raise errors.not_found(res, meta["name"])
        new = _copy(obj)
        new["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
        for key in _SYSTEM_META:
            if key in current["metadata"]:
                new["metadata"][key] = current["metadata"][key]
        if new == current:
            return _copy(current)
        return self._write("MODIFIED", res, ns, new, current)

    def delete(
        self,
        resource: ResourceType | str,
        namespace: str | None,
        name: str,
        *,
        propagation: str | None = None,
        preconditions: Mapping[str, Any] | None = None,
        dry_run: bool = False,
    ) -> Obj:
        """DELETE: returns the object's last state (with ``deletionTimestamp`` if finalizers hold it)."""
        res = self.resource(resource)
        ns = (namespace or "") if res.namespaced else ""
        current = self._bucket(res).get((ns, name))
        if current is None:
            raise errors.not_found(res, name)
        pre = preconditions or {}
        if pre.get("uid") and pre["uid"] != current["metadata"]["uid"]:
            raise errors.precondition_failed(
                res,
                name,
                f"UID in precondition: {pre['uid']}, UID in object meta: {current['metadata']['uid']}",
            )
        if (
            pre.get("resourceVersion")
            and str(pre["resourceVersion"]) != current["metadata"]["resourceVersion"]
        ):
            raise errors.precondition_failed(
                res,
                name,
                f"ResourceVersion in precondition: "
                f"{pre['resourceVersion']}, ResourceVersion in object meta: "
                f"{current['metadata']['resourceVersion']}",
            )
        if dry_run:
            return _copy(current)
        if current["metadata"].get("finalizers"):
            if current["metadata"].get("deletionTimestamp"):
                return _copy(current)
            new = _copy(current)
            new["metadata"]["deletionTimestamp"] = self.clock.timestamp()
            new["metadata"]["deletionGracePeriodSeconds"] = 0
            return self._write("MODIFIED", res, ns, new, current)
        if res.plural == "namespaces" and not res.group:
            self._empty_namespace(name)
        policy = propagation or ("Orphan" if res.storage == ("batch", "jobs") else "Background")
        return self._remove(res, ns, _copy(current), current, policy=policy)

    def compact(self, upto: int | None = None) -> int:
        """Forget history up to ``upto`` (default: everything so far); watches from before it get 410."""
        upto = self._rv if upto is None else min(upto, self._rv)
        while self._history and self._history[0].rv <= upto:
            self._history.popleft()
        self._compacted = max(self._compacted, upto)
        return self._compacted

    # -- watching --------------------------------------------------------------------------------------

    def subscribe(self, after: int | None) -> tuple[builtins.list[StoredEvent], Subscription]:
        """Events after resourceVersion ``after`` (none if ``after`` is None) and a feed of later ones."""
        if after is not None and after < self._compacted:
            raise errors.expired(after, self._compacted + 1)
        replay = [e for e in self._history if after is not None and e.rv > after]
        sub = Subscription()
        self._subscribers.add(sub)
        return replay, sub

    def unsubscribe(self, sub: Subscription) -> None:
        self._subscribers.discard(sub)

    def drop_watches(self, *, abort: bool = False) -> int:
        """End every open watch: cleanly (as a server-side timeout does) or by cutting the connection."""
        subs = list(self._subscribers)
        for sub in subs:
            sub.abort = abort
            sub.queue.put_nowait(None)
            self._subscribers.discard(sub)
        return len(subs)

    def add_listener(self, listener: Callable[[StoredEvent], None]) -> None:
        """Call ``listener`` synchronously after every write (the controllers use it to wake up)."""
        self._listeners.append(listener)

    # -- internals -------------------------------------------------------------------------------------

    def _bucket(self, res: ResourceType) -> dict[Key, Obj]:
        return self._objects.setdefault(res.storage, {})

    def _storage_types(self) -> builtins.list[ResourceType]:
        seen: dict[tuple[str, str], ResourceType] = {}
        for res in self.table:
            seen.setdefault(res.storage, res)
        return list(seen.values())

    @staticmethod
    def _namespace_for(res: ResourceType, meta: Obj, namespace: str | None) -> str:
        if not res.namespaced:
            meta.pop("namespace", None)
            return ""
        given = meta.get("namespace")
        if namespace and given and given != namespace:
            raise errors.bad_request(
                "the namespace of the provided object does not match the namespace sent on the request"
            )
        ns = namespace or given or "default"
        meta["namespace"] = ns
        return str(ns)

    @staticmethod
    def _check_type(res: ResourceType, obj: Obj) -> None:
        if obj.get("kind") not in (None, "", res.kind):
            raise errors.bad_request(
                f"the kind in the data ({obj['kind']}) does not match the expected kind ({res.kind})"
            )
        version = obj.get("apiVersion")
        if version not in (None, "") and version.split("/")[0] != (res.group or version.split("/")[0]):
            raise errors.bad_request(
                f"the API version in the data ({version}) does not match the expected API "
                f"version ({res.api_version})"
            )

    @staticmethod
    def _spec_of(res: ResourceType, obj: Obj) -> Obj:
        return (
            _without(obj, "metadata", "status", "apiVersion", "kind")
            if res.status
            else _without(obj, "metadata", "apiVersion", "kind")
        )

    def _next_rv(self) -> int:
        self._rv += 1
        return self._rv

    def _write(self, kind: str, res: ResourceType, ns: str, new: Obj, old: Obj | None) -> Obj:
        rv = self._next_rv()
        new["metadata"]["resourceVersion"] = str(rv)
        self._bucket(res)[(ns, new["metadata"]["name"])] = new
        self._emit(StoredEvent(rv, kind, res.storage, ns, new, old))
        return _copy(new)

    def _remove(self, res: ResourceType, ns: str, last: Obj, old: Obj, *, policy: str = "Background") -> Obj:
        rv = self._next_rv()
        last["metadata"]["resourceVersion"] = str(rv)
        del self._bucket(res)[(ns, last["metadata"]["name"])]
        self._emit(StoredEvent(rv, "DELETED", res.storage, ns, last, old))
        self._collect_garbage(last["metadata"]["uid"], policy)
        return _copy(last)

    def _collect_garbage(self, uid: str, policy: str) -> None:
        for dep_res, dep in self.dependents(uid):
            meta = dep["metadata"]
            ns = meta.get("namespace")
            if self.find(dep_res, ns, meta["name"]) is None:
                continue
            if policy == "Orphan":
                meta["ownerReferences"] = [r for r in meta["ownerReferences"] if r.get("uid") != uid]
                if not meta["ownerReferences"]:
                    del meta["ownerReferences"]
                self.replace(dep_res, dep, ns)
            else:
                self.delete(dep_res, ns, meta["name"], propagation="Background")

    def _empty_namespace(self, namespace: str) -> None:
        """Delete everything in a namespace being deleted (objects with finalizers stay, terminating)."""
        for res in self._storage_types():
            if res.namespaced:
                for ns, name in [key for key in self._bucket(res) if key[0] == namespace]:
                    if (ns, name) in self._bucket(res):
                        self.delete(res, ns, name)

    def _emit(self, event: StoredEvent) -> None:
        self._history.append(event)
        while len(self._history) > self.history_limit:
            self._compacted = self._history.popleft().rv
        for sub in self._subscribers:
            sub.queue.put_nowait(event)
        for listener in self._listeners:
            listener(event)
