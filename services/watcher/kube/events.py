"""Recording the watcher's lifecycle facts as Kubernetes Events, as KLT does (klt-facts §8.3), so
``kubectl describe keptnappversion …`` and ``kubectl get events`` show KLT's reasons and messages.

The facts (``LifecycleEvent`` on ``<prefix>.evt.lifecycle.>``) are read through a durable consumer of
this recorder's own (``kube-events``): a restart resumes after the last acknowledged fact, so nothing is
missed, and the Event's deterministic name makes the API server refuse a redelivered one (409), so
nothing is recorded twice.

``involvedObject.uid`` is read from the API (``kubectl describe`` selects Events by it). The projection
creates CRs asynchronously, so a fact about an object that is not in the cluster yet waits for it for
a few seconds before it is recorded without a uid.
"""

from __future__ import annotations

import asyncio
import logging

import msgspec
from kubernetes_asyncio.client import ApiClient
from nats.aio.msg import Msg
from nats.js import JetStreamContext

from services.watcher.kube.events_mapping import event_body
from services.watcher.kube.projection_api import (
    Body,
    CoreEvents,
    KubeConflict,
    KubeNotFound,
    KubeRejected,
    KubeUnavailable,
    LifecycleCrs,
)
from services.watcher.kube.projection_mapping import KINDS
from shared.messages import LifecycleEvent
from shared.runtime.natsio import ensure_work_consumer
from shared.runtime.outcomes import PermanentError, TemporaryError
from shared.runtime.publishing import now_rfc3339
from shared.runtime.serving import consume
from shared.subjects import Names

log = logging.getLogger(__name__)

CONSUMER = "kube-events"
"""The recorder's durable consumer on the events stream."""
CONCURRENCY = 8
"""Events created at once; KLT emits them one goroutine each, a handful per phase change."""
ACK_WAIT_S = 30.0
MAX_DELIVER = 20
"""Deliveries of one fact before it is given up (an API server down for minutes)."""
WAIT_FOR_OBJECT_S = (0.05, 0.1, 0.2, 0.4, 0.8, 1.6)
"""Pauses while a fact waits for its object's CR to appear (about 3 s in all; the projection usually
creates it within milliseconds)."""

_decoder = msgspec.json.Decoder(LifecycleEvent)


async def project_events(
    api: ApiClient,
    js: JetStreamContext,
    names: Names,
    stop: asyncio.Event,
    *,
    namespace_of_klt: str,
) -> None:
    """Record every lifecycle fact as a ``core/v1`` Event until ``stop`` is set. ``namespace_of_klt``
    receives the Events of facts that name no namespace."""
    subscription = await ensure_work_consumer(
        js,
        names.events_stream,
        CONSUMER,
        [names.events_of("lifecycle")],
        ack_wait_s=ACK_WAIT_S,
        max_deliver=MAX_DELIVER,
    )
    recorder = EventRecorder(CoreEvents(api), LifecycleCrs(api), namespace_of_klt)
    await consume(
        subscription,
        recorder.handle,
        stop,
        concurrency=CONCURRENCY,
        heartbeat_s=ACK_WAIT_S / 3,
        what="lifecycle event",
    )


class EventRecorder:
    def __init__(self, events: CoreEvents, crs: LifecycleCrs, namespace_of_klt: str) -> None:
        self.events = events
        self.crs = crs
        self.namespace_of_klt = namespace_of_klt

    async def handle(self, msg: Msg) -> None:
        try:
            event = _decoder.decode(msg.data)
        except msgspec.DecodeError as exc:
            raise PermanentError(f"the lifecycle event on {msg.subject} is unreadable: {exc}") from None
        await self.record(event)

    async def record(self, event: LifecycleEvent) -> None:
        """Create the Event for ``event``; raises TemporaryError/PermanentError for the consumer."""
        about = f"{event.kind} {event.namespace}/{event.name}"
        involved = await self._involved(event, about)
        for pause in WAIT_FOR_OBJECT_S if event.kind in KINDS and event.namespace else ():
            if involved is not None:
                break
            await asyncio.sleep(pause)
            involved = await self._involved(event, about)
        if involved is None:
            log.debug("%s is not in the cluster; its Event %s names no uid", about, event.reason)
        meta = (involved or {}).get("metadata") or {}
        namespace = event.namespace or self.namespace_of_klt
        body = event_body(
            event,
            namespace=namespace,
            involved_uid=meta.get("uid", ""),
            involved_resource_version=meta.get("resourceVersion", ""),
            now=now_rfc3339(),
        )
        what = f"Event {event.reason} about {about}"
        try:
            await self.events.create(namespace, body, what=what)
        except KubeConflict:
            log.debug("%s was recorded before", what)
        except KubeNotFound as exc:
            log.info("%s is not recorded: namespace %s is gone (%s)", what, namespace, exc)
        except KubeUnavailable as exc:
            raise TemporaryError(str(exc), 2.0) from None
        except KubeRejected as exc:
            raise PermanentError(str(exc)) from None

    async def _involved(self, event: LifecycleEvent, about: str) -> Body | None:
        info = KINDS.get(event.kind)
        if info is None or not event.namespace:
            return None
        try:
            return await self.crs.get(info.plural, event.namespace, event.name, what=about)
        except KubeNotFound:
            return None
        except KubeUnavailable as exc:
            raise TemporaryError(str(exc), 2.0) from None
        except KubeRejected as exc:
            log.warning("Cannot read %s for its Event %s: %s", about, event.reason, exc)
            return None
