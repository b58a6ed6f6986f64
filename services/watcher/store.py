"""Lifecycle state in the JetStream state bucket: every write a compare-and-set, mirrored in the index.

Two watcher replicas can therefore never both advance one object: the second write fails with
``RevisionConflictError`` (after this store has re-read the entry into the index), and the caller
decides again from what is stored now.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import msgspec
from nats.js.kv import KeyValue

from services.watcher.index import Index, Key, Stored, decode_stored, key_from_entry, key_of
from shared.runtime.natsio import RevisionConflictError, get_entry, put_if
from shared.subjects import object_key

log = logging.getLogger(__name__)

_encoder = msgspec.json.Encoder()


class StateStore:
    def __init__(self, kv: KeyValue, index: Index) -> None:
        self.kv = kv
        self.index = index
        self._writing: dict[Key, bytes] = {}
        """Values of our writes still in flight: the watch may deliver such a write before its ack does,
        and it must not be taken for another replica's change."""

    async def follow(self, loaded: asyncio.Event, changed: Callable[[Key], None]) -> None:
        """Keep the index in step with the bucket: the current entries (then ``loaded`` is set), and
        afterwards every write, so what another replica stored is seen within a watch round trip.
        ``changed`` is told about objects someone else moved (our own writes are already known)."""
        watcher = await self.kv.watchall()
        try:
            async for entry in watcher:
                if entry is None:
                    loaded.set()
                    continue
                if entry.value is None or entry.operation is not None:
                    self._deleted(entry.key, entry.revision or 0)
                    continue
                try:
                    obj = decode_stored(entry.key, entry.value)
                except msgspec.DecodeError as exc:
                    log.warning("Ignoring the unreadable state entry %s: %s", entry.key, exc)
                    continue
                if obj is None:
                    continue
                key = key_of(obj)
                known = self.index.get(key)
                if known is not None and known.revision >= (entry.revision or 0):
                    continue
                self.index.put(obj, entry.revision or 0)
                if loaded.is_set() and self._writing.get(key) != entry.value:
                    changed(key)
        finally:
            await watcher.stop()  # type: ignore[no-untyped-call]

    def _deleted(self, entry_key: str, revision: int) -> None:
        """Someone (the retention limit here or on another replica) deleted an object: forget it, unless
        what the index holds was written after the deletion."""
        key = key_from_entry(entry_key)
        if key is None:
            return
        known = self.index.get(key)
        if known is not None and known.revision < revision:
            self.index.forget(key)

    async def delete(self, key: Key) -> None:
        """Delete one object (the Kubernetes projection then deletes its CR)."""
        await self.kv.delete(object_key(*key))
        self.index.forget(key)

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
        value = _encoder.encode(obj)
        self._writing[key] = value
        try:
            new_revision = await put_if(self.kv, object_key(*key), value, revision)
        except RevisionConflictError:
            await self.refresh(key)
            raise
        finally:
            if self._writing.get(key) is value:
                del self._writing[key]
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
