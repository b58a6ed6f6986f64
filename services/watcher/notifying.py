"""Forwarding lifecycle facts as CloudEvents to the KeptnConfig's endpoint (klt-facts §8.4): the I/O.

A durable consumer of its own on the lifecycle facts (so notifying never holds up the watcher's work,
and replicas share the load) posts each fact to the endpoint that is current when it is handled. The
endpoint is followed with a watch on the desired-state bucket's KeptnConfigs, so changing it takes
effect without a restart. KLT only logs a failed delivery; klt retries a few times with backoff, then
logs and drops it: a dead endpoint never stops a lifecycle nor piles up work. With no endpoint
configured every fact is acknowledged and skipped.

On stop, facts already published are still posted for a short while (``klt run`` stops the moment its
lifecycle ends, right after the last facts were published).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import aiohttp
import msgspec
import nats.errors
import nats.js.errors
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.kv import KeyValue
from yarl import URL

from services.watcher.cloudevents import CloudEventRequest, Endpoints, to_cloudevent
from shared.keptn.resources import KeptnConfig
from shared.manifests import decode_object
from shared.messages import LifecycleEvent, any_decoder
from shared.runtime.natsio import ensure_work_consumer
from shared.runtime.outcomes import PermanentError
from shared.runtime.serving import consume
from shared.subjects import Names, kind_prefix

log = logging.getLogger(__name__)

_RETRY_STATUSES = frozenset({404, 408, 413, 425, 429, 500, 502, 503, 504})
"""Answers worth another try (the receiver may be starting or overloaded); others are final."""


class _Undelivered(Exception):
    """One failed attempt; ``final`` when trying again cannot help."""

    def __init__(self, reason: str, *, final: bool = False) -> None:
        super().__init__(reason)
        self.final = final


def _shown(endpoint: str) -> str:
    """The endpoint as logs may show it: without credentials or query (they may hold a token)."""
    try:
        url = URL(endpoint)
        return str(url.with_user(None).with_query(None).with_fragment(None))
    except ValueError:
        return "<an unparseable URL>"


async def _post(session: aiohttp.ClientSession, endpoint: str, request: CloudEventRequest) -> None:
    try:
        async with session.post(endpoint, data=request.body, headers=request.headers) as response:
            await response.read()
            if response.status < 300:
                return
            raise _Undelivered(f"HTTP {response.status}", final=response.status not in _RETRY_STATUSES)
    except (aiohttp.InvalidURL, ValueError) as exc:
        raise _Undelivered(f"the endpoint is not a usable URL ({type(exc).__name__})", final=True) from None
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise _Undelivered(str(exc) or type(exc).__name__) from None


async def deliver(
    session: aiohttp.ClientSession,
    endpoint: str,
    event: LifecycleEvent,
    *,
    attempts: int,
    backoff_s: float,
) -> bool:
    """Post ``event`` to ``endpoint``, trying up to ``attempts`` times with doubling pauses; whether it
    was delivered. Failures are logged, never raised."""
    request = to_cloudevent(event)
    for attempt in range(1, attempts + 1):
        try:
            await _post(session, endpoint, request)
            return True
        except _Undelivered as exc:
            if exc.final or attempt == attempts:
                log.warning(
                    "CloudEvent %s about %s %s/%s was not delivered to %s after %d attempt(s): %s",
                    request.headers["ce-type"],
                    event.kind,
                    event.namespace,
                    event.name,
                    _shown(endpoint),
                    attempt,
                    exc,
                )
                return False
        await asyncio.sleep(backoff_s * 2 ** (attempt - 1))
    return False


async def _follow_configs(kv: KeyValue, endpoints: Endpoints, ready: asyncio.Event) -> None:
    """Keep ``endpoints`` up to date with the desired state's KeptnConfigs; ``ready`` once the initial
    values are in (so the first facts already go to a configured endpoint)."""
    watcher = await kv.watch(kind_prefix("KeptnConfig"))
    try:
        while True:
            try:
                entry = await watcher.updates(timeout=5.0)  # type: ignore[no-untyped-call]
            except (nats.errors.TimeoutError, TimeoutError):
                continue
            if entry is None:
                ready.set()
                continue
            if entry.value is None or entry.operation is not None:
                endpoints.delete(entry.key)
                continue
            try:
                config = decode_object("KeptnConfig", entry.value)
            except (msgspec.DecodeError, KeyError) as exc:
                log.warning("Ignoring the unreadable KeptnConfig %s: %s", entry.key, exc)
                continue
            if isinstance(config, KeptnConfig):
                endpoints.put(entry.key, config)
    finally:
        with contextlib.suppress(Exception):
            await watcher.stop()  # type: ignore[no-untyped-call]


async def _stop_when_flushed(
    js: JetStreamContext, names: Names, stop: asyncio.Event, done: asyncio.Event, flush_s: float
) -> None:
    """Set ``done`` once ``stop`` is set and the consumer has had nothing left for two looks in a row
    (facts decided just before the stop may still be on their way), at most ``flush_s`` later."""
    await stop.wait()
    try:
        async with asyncio.timeout(flush_s):
            quiet = 0
            while quiet < 2:
                await asyncio.sleep(0.1)
                info = await js.consumer_info(names.events_stream, names.cloudevents_consumer)
                quiet = quiet + 1 if not info.num_pending and not info.num_ack_pending else 0
    except (TimeoutError, nats.errors.Error, nats.js.errors.Error):
        pass
    finally:
        done.set()


async def forward_cloudevents(
    js: JetStreamContext,
    names: Names,
    stop: asyncio.Event,
    *,
    attempts: int = 4,
    backoff_s: float = 0.1,
    request_timeout_s: float = 5.0,
    concurrency: int = 8,
    flush_s: float = 3.0,
) -> None:
    """Post every lifecycle fact as a CloudEvent to the current KeptnConfig endpoint until ``stop``.

    ``attempts`` and ``backoff_s`` bound a failing delivery (0.1 + 0.2 + 0.4 s of pauses by default,
    each attempt at most ``request_timeout_s``); ``concurrency`` facts are posted at once, so one slow
    receiver does not delay the rest (KLT sends each event from its own goroutine: no order either).
    """
    desired = await js.key_value(names.desired_bucket)
    endpoints = Endpoints()
    ready, done = asyncio.Event(), asyncio.Event()
    timeout = aiohttp.ClientTimeout(total=request_timeout_s)
    async with asyncio.TaskGroup() as group, aiohttp.ClientSession(timeout=timeout) as session:
        follower = group.create_task(_follow_configs(desired, endpoints, ready), name="keptnconfig-follow")
        flusher = group.create_task(_stop_when_flushed(js, names, stop, done, flush_s), name="ce-flush")
        ready_wait = group.create_task(ready.wait())
        await asyncio.wait([ready_wait, flusher], return_when=asyncio.FIRST_COMPLETED)
        ready_wait.cancel()
        subscription = await ensure_work_consumer(
            js,
            names.events_stream,
            names.cloudevents_consumer,
            [names.events_of("lifecycle")],
            ack_wait_s=attempts * (request_timeout_s + backoff_s * 2**attempts) + 5.0,
            max_deliver=3,
        )

        async def on_fact(msg: Msg) -> None:
            endpoint = endpoints.current
            if not endpoint:
                return
            try:
                fact = any_decoder.decode(msg.data)
            except msgspec.DecodeError as exc:
                raise PermanentError(f"the fact on {msg.subject} cannot be decoded: {exc}") from None
            if not isinstance(fact, LifecycleEvent):
                raise PermanentError(f"the fact on {msg.subject} is not a lifecycle event")
            await deliver(session, endpoint, fact, attempts=attempts, backoff_s=backoff_s)

        try:
            await consume(
                subscription,
                on_fact,
                done,
                concurrency=concurrency,
                heartbeat_s=request_timeout_s,
                grace_s=flush_s,
                what="CloudEvent of the lifecycle fact",
            )
        finally:
            follower.cancel()
            flusher.cancel()
