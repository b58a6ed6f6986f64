"""The watcher's in-memory index of the lifecycle state it stores.

KV stays the source of truth: the index is filled from the state bucket at start and then kept up to
date from the watcher's own writes; a compare-and-set conflict (someone else wrote first) re-reads the
entry. So a reconcile reads a namespace's tasks or workload versions without listing the bucket, which
is what keeps the per-event cost near one KV round trip.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import msgspec

from services.watcher.handlers import StoredView
from shared.keptn.lifecycle import (
    KeptnAppVersion,
    KeptnEvaluation,
    KeptnTask,
    KeptnWorkload,
    KeptnWorkloadVersion,
)
from shared.keptn.resources import KeptnApp
from shared.subjects import untoken

KINDS: dict[str, type[msgspec.Struct]] = {
    "KeptnApp": KeptnApp,
    "KeptnWorkload": KeptnWorkload,
    "KeptnAppVersion": KeptnAppVersion,
    "KeptnWorkloadVersion": KeptnWorkloadVersion,
    "KeptnTask": KeptnTask,
    "KeptnEvaluation": KeptnEvaluation,
}
"""Every kind the watcher keeps in the state bucket."""

_DECODERS = {kind.lower(): (kind, msgspec.json.Decoder(model)) for kind, model in KINDS.items()}

Key = tuple[str, str, str]
"""(kind, namespace, name)."""


def decode_stored(key: str, value: bytes) -> Any | None:
    """The object stored under a state-bucket key, or None for a kind the watcher does not keep."""
    found = _DECODERS.get(key.split(".", 1)[0])
    return None if found is None else found[1].decode(value)


def key_from_entry(key: str) -> Key | None:
    """The (kind, namespace, name) of a state-bucket key, or None for a key the watcher does not keep."""
    parts = key.split(".")
    found = _DECODERS.get(parts[0])
    if found is None or len(parts) != 3:
        return None
    return (found[0], untoken(parts[1]), untoken(parts[2]))


def key_of(obj: Any) -> Key:
    return (obj.kind, obj.metadata.namespace, obj.metadata.name)


@dataclass(frozen=True, slots=True)
class Stored:
    obj: Any
    revision: int


class Index(StoredView):
    """Objects by key, by (kind, namespace) and AppVersions by app."""

    def __init__(self) -> None:
        self._entries: dict[Key, Stored] = {}
        self._by_namespace: dict[tuple[str, str], dict[str, Any]] = defaultdict(dict)
        self._app_versions: dict[tuple[str, str], dict[str, KeptnAppVersion]] = defaultdict(dict)

    def put(self, obj: Any, revision: int) -> None:
        kind, ns, name = key = key_of(obj)
        current = self._entries.get(key)
        if current is not None and current.revision > revision:
            return  # an older read arriving late
        self._entries[key] = Stored(obj, revision)
        self._by_namespace[(kind, ns)][name] = obj
        if isinstance(obj, KeptnAppVersion):
            self._app_versions[(ns, obj.spec.app_name)][name] = obj

    def forget(self, key: Key) -> None:
        kind, ns, name = key
        found = self._entries.pop(key, None)
        self._by_namespace[(kind, ns)].pop(name, None)
        if found is not None and isinstance(found.obj, KeptnAppVersion):
            self._app_versions[(ns, found.obj.spec.app_name)].pop(name, None)

    def get(self, key: Key) -> Stored | None:
        return self._entries.get(key)

    def objects(self, kind: str, namespace: str) -> Mapping[str, Any]:
        """The live mapping of one kind in one namespace, by name (read it, never keep it)."""
        return self._by_namespace[(kind, namespace)]

    def all(self, kind: str) -> Iterator[Any]:
        for (k, _), objects in list(self._by_namespace.items()):
            if k == kind:
                yield from list(objects.values())

    def app_versions_of(self, namespace: str, app: str) -> list[KeptnAppVersion]:
        return list(self._app_versions[(namespace, app)].values())

    # --- StoredView, for plan_sync ------------------------------------------------------------------
    def app(self, namespace: str, name: str) -> tuple[KeptnApp, int] | None:
        found = self._entries.get(("KeptnApp", namespace, name))
        return None if found is None else (found.obj, found.revision)

    def workload(self, namespace: str, name: str) -> tuple[KeptnWorkload, int] | None:
        found = self._entries.get(("KeptnWorkload", namespace, name))
        return None if found is None else (found.obj, found.revision)

    def app_version(self, namespace: str, name: str) -> KeptnAppVersion | None:
        found = self._entries.get(("KeptnAppVersion", namespace, name))
        return None if found is None else found.obj

    def workload_version(self, namespace: str, name: str) -> tuple[KeptnWorkloadVersion, int] | None:
        found = self._entries.get(("KeptnWorkloadVersion", namespace, name))
        return None if found is None else (found.obj, found.revision)
