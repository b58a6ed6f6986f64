"""Connecting to NATS, creating klt's streams and buckets, and the KV compare-and-set helpers.

Every service calls ``ensure_topology`` at start: creating a stream or bucket that exists with the same
configuration is a no-op, so the services can start in any order.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    KeyValueConfig,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)
from nats.js.kv import KeyValue

from shared.runtime.settings import CommonSettings
from shared.subjects import Names

log = logging.getLogger(__name__)

KV_VALUE_MAX_BYTES = 1024 * 1024
"""Largest value a bucket accepts; task logs are bounded below it."""


class RevisionConflictError(Exception):
    """Someone else updated the KV entry since it was read: re-read and decide again."""


async def connect(settings: CommonSettings, name: str) -> Client:
    """Connect with reconnects on, named after the service so ``nats server report`` shows who is who."""
    return await nats.connect(
        settings.nats_url,
        name=name,
        max_reconnect_attempts=-1,
        reconnect_time_wait=0.5,
        connect_timeout=5,
    )


async def ensure_topology(js: JetStreamContext, settings: CommonSettings) -> None:
    """Create (or confirm) the events and commands streams and every KV bucket."""
    names = Names(settings.prefix)
    replicas = settings.stream_replicas
    streams = [
        StreamConfig(
            name=names.events_stream,
            subjects=[names.events_all],
            retention=RetentionPolicy.LIMITS,
            storage=StorageType.FILE,
            max_age=settings.events_max_age_s,
            duplicate_window=120.0,
            num_replicas=replicas,
        ),
        StreamConfig(
            name=names.commands_stream,
            subjects=[names.commands_all],
            retention=RetentionPolicy.WORK_QUEUE,
            storage=StorageType.FILE,
            duplicate_window=120.0,
            num_replicas=replicas,
        ),
    ]
    for config in streams:
        try:
            await js.add_stream(config)
        except nats.js.errors.BadRequestError:
            await js.update_stream(config)
    for bucket in (
        names.desired_bucket,
        names.state_bucket,
        names.task_runs_bucket,
        names.task_logs_bucket,
        names.evaluation_runs_bucket,
        names.metrics_bucket,
        names.timers_bucket,
    ):
        await js.create_key_value(
            KeyValueConfig(
                bucket=bucket,
                history=1,
                storage=StorageType.FILE,
                replicas=replicas,
                max_value_size=KV_VALUE_MAX_BYTES,
            )
        )


async def ensure_work_consumer(
    js: JetStreamContext,
    stream: str,
    durable: str,
    filter_subjects: list[str],
    *,
    ack_wait_s: float,
    max_deliver: int,
    max_ack_pending: int = 1000,
) -> JetStreamContext.PullSubscription:
    """Create (or confirm) a shared durable pull consumer and bind to it.

    Every replica of a service binds to the same durable, so adding replicas adds capacity.
    """
    config = ConsumerConfig(
        durable_name=durable,
        deliver_policy=DeliverPolicy.ALL,
        ack_policy=AckPolicy.EXPLICIT,
        ack_wait=ack_wait_s,
        max_deliver=max_deliver,
        max_ack_pending=max_ack_pending,
        filter_subjects=filter_subjects if len(filter_subjects) > 1 else None,
        filter_subject=filter_subjects[0] if len(filter_subjects) == 1 else None,
    )
    try:
        await js.add_consumer(stream, config)
    except nats.js.errors.BadRequestError:
        log.debug("Consumer %s on %s exists with another configuration; keeping it", durable, stream)
    return await js.pull_subscribe_bind(durable=durable, stream=stream)


@dataclass(frozen=True, slots=True)
class Entry:
    """A KV value and the revision it was read at (for compare-and-set)."""

    value: bytes
    revision: int


async def get_entry(kv: KeyValue, key: str) -> Entry | None:
    """The current entry, or None when the key was never written or was deleted."""
    try:
        found = await kv.get(key)
    except nats.js.errors.KeyNotFoundError:
        return None
    if found.value is None or found.operation is not None:
        return None
    return Entry(value=found.value, revision=found.revision or 0)


async def put_if(kv: KeyValue, key: str, value: bytes, revision: int | None) -> int:
    """Write ``value`` only if the entry is still at ``revision`` (None: only if it does not exist).

    Raises ``RevisionConflictError`` otherwise; returns the new revision.
    """
    try:
        if revision is None:
            return await kv.create(key, value)
        return await kv.update(key, value, last=revision)
    except nats.js.errors.KeyWrongLastSequenceError as exc:
        raise RevisionConflictError(key) from exc


async def list_entries(kv: KeyValue, key_filter: str) -> dict[str, Entry]:
    """Every live entry whose key matches ``key_filter`` (a NATS wildcard, e.g. ``keptntask.>``)."""
    entries: dict[str, Entry] = {}
    try:
        watcher = await kv.watch(key_filter, ignore_deletes=True)
    except nats.js.errors.NotFoundError:
        return entries
    try:
        async for update in watcher:
            if update is None:
                break
            if update.value is not None and update.operation is None:
                entries[update.key] = Entry(value=update.value, revision=update.revision or 0)
    finally:
        await watcher.stop()  # type: ignore[no-untyped-call]
    return entries


def headers_with_id(msg_id: str, extra: dict[str, str] | None = None) -> dict[str, Any]:
    """Headers for a JetStream publish that the server de-duplicates by ``msg_id``."""
    headers: dict[str, Any] = {"Nats-Msg-Id": msg_id}
    if extra:
        headers.update(extra)
    return headers
