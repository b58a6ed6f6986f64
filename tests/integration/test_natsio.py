"""The NATS runtime against a real nats-server: topology, compare-and-set, listing."""

from __future__ import annotations

import pytest

from shared.runtime.natsio import RevisionConflictError, get_entry, list_entries, put_if
from shared.runtime.settings import CommonSettings
from shared.subjects import Names
from tests.support.natsfix import nats_client


async def test_compare_and_set_refuses_a_stale_revision(klt_settings: CommonSettings) -> None:
    async with nats_client(klt_settings) as nc:
        kv = await nc.jetstream().key_value(Names(klt_settings.prefix).state_bucket)
        first = await put_if(kv, "keptntask.ns.a", b"one", None)
        await put_if(kv, "keptntask.ns.a", b"two", first)
        with pytest.raises(RevisionConflictError):
            await put_if(kv, "keptntask.ns.a", b"three", first)
        with pytest.raises(RevisionConflictError):
            await put_if(kv, "keptntask.ns.a", b"again", None)
        entry = await get_entry(kv, "keptntask.ns.a")
        assert entry is not None
        assert entry.value == b"two"


async def test_list_entries_filters_by_kind_and_handles_empty(klt_settings: CommonSettings) -> None:
    async with nats_client(klt_settings) as nc:
        kv = await nc.jetstream().key_value(Names(klt_settings.prefix).state_bucket)
        assert await list_entries(kv, "keptntask.>") == {}
        await put_if(kv, "keptntask.ns.a", b"a", None)
        await put_if(kv, "keptnevaluation.ns.b", b"b", None)
        assert set(await list_entries(kv, "keptntask.>")) == {"keptntask.ns.a"}
