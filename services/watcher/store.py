"""Lifecycle state in the JetStream state bucket: every write a compare-and-set, mirrored in the index.

Two watcher replicas can therefore never both advance one object: the second write fails with
``RevisionConflictError`` (after this store has re-read the entry into the index), and the caller
decides again from what is stored now.
"""

from __future__ import annotations

import logging
from typing import Any

import msgspec
from nats.js.kv import KeyValue

from services.watcher.index import Index, Key, Stored, decode_stored, key_of
from shared.runtime.natsio import RevisionConflictError, get_entry, list_entries, put_if
from shared.subjects import object_key

log = logging.getLogger(__name__)

_encoder = msgspec.json.Encoder()


class StateStore:
    def __init__(self, kv: KeyValue, index: Index) -> None:
        self.kv = kv
        self.index = index

    async def load(self) -> int:
        """Fill the index from the bucket; returns how many objects were read."""
        count = 0
        for key, entry in (await list_entries(self.kv, ">")).items():
            try:
                obj = decode_stored(key, entry.value)
            except msgspec.DecodeError as exc:
                log.warning("Ignoring the unreadable state entry %s: %s", key, exc)
                continue
            if obj is not None:
                self.index.put(obj, entry.revision)
                count += 1
        return count

    async def refresh(self, key: Key) -> Stored | None:
        """Re-read one object from the bucket into the index."""
        kind, ns, name = key
        entry = await get_entry(self.kv, object_key(kind, ns, name))
        if entry is None:
            self.index.forget(key)
            return None
        obj = decode_stored(object_key(kind, ns, name), entry.value)
        self.index.put(obj, entry.revision)
        return self.index.get(key)

    async def save(self, obj: Any, revision: int | None) -> int:
        """Write ``obj`` if the stored entry is still at ``revision`` (None: only if absent)."""
        key = key_of(obj)
        try:
            new_revision = await put_if(self.kv, object_key(*key), _encoder.encode(obj), revision)
        except RevisionConflictError:
            await self.refresh(key)
            raise
        self.index.put(obj, new_revision)
        return new_revision

    async def create_item(self, obj: Any) -> None:
        """Create a task or evaluation; one with the same uid already stored is the same decision made
        before (a retry or another replica), so that is fine. Another object under the name is a
        conflict the caller resolves by deciding again."""
        try:
            await self.save(obj, None)
        except RevisionConflictError:
            found = self.index.get(key_of(obj))
            if found is None or found.obj.metadata.uid != obj.metadata.uid:
                raise
