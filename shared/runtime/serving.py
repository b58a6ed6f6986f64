"""Running a service: stop on SIGTERM/SIGINT, and consuming a durable pull consumer with bounded
concurrency, heartbeats for long work and one mapping from outcomes to acks.

The habits are Temporal's worker and nats.py's micro services: the consumer loop owns its tasks in a
``TaskGroup``; on stop it stops fetching, lets in-flight work finish for a grace period, then cancels.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable

import nats.errors
from nats.aio.msg import Msg
from nats.js import JetStreamContext

from shared.runtime.outcomes import PermanentError, TemporaryError

log = logging.getLogger(__name__)

Handler = Callable[[Msg], Awaitable[None]]


def install_stop_signals(stop: asyncio.Event) -> None:
    """Set ``stop`` on SIGTERM or SIGINT (the way Kubernetes and a terminal ask a process to end)."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)


async def _heartbeat(msg: Msg, every_s: float) -> None:
    """Tell JetStream the message is still being worked on, so ``ack_wait`` does not redeliver it."""
    while True:
        await asyncio.sleep(every_s)
        with contextlib.suppress(Exception):
            await msg.in_progress()


async def settle(msg: Msg, handler: Handler, heartbeat_s: float, what: str) -> None:
    """Run ``handler`` on ``msg`` and acknowledge according to its outcome."""
    beat = asyncio.create_task(_heartbeat(msg, heartbeat_s))
    try:
        await handler(msg)
    except TemporaryError as exc:
        log.warning("%s will be retried in %.1fs: %s", what, exc.delay_s, exc)
        await msg.nak(delay=exc.delay_s)
    except PermanentError as exc:
        log.error("%s was rejected: %s", what, exc)
        await msg.term()
    except asyncio.CancelledError:
        raise
    except Exception:
        delivered = msg.metadata.num_delivered if msg.metadata else 1
        delay = min(30.0, 0.5 * 2 ** min(delivered, 6))
        log.exception("%s failed unexpectedly; redelivering in %.1fs", what, delay)
        await msg.nak(delay=delay)
    else:
        await msg.ack()
    finally:
        beat.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await beat


async def _fetch(subscription: JetStreamContext.PullSubscription, batch: int, wait_s: float) -> list[Msg]:
    """Up to ``batch`` messages; none when nothing came within ``wait_s`` (nats-py raises two kinds)."""
    try:
        return await subscription.fetch(batch=batch, timeout=wait_s)
    except (nats.errors.TimeoutError, TimeoutError):
        return []


async def consume(
    subscription: JetStreamContext.PullSubscription,
    handler: Handler,
    stop: asyncio.Event,
    *,
    concurrency: int,
    heartbeat_s: float,
    grace_s: float = 10.0,
    what: str = "message",
) -> None:
    """Fetch and handle messages until ``stop`` is set, at most ``concurrency`` at a time.

    The loop only fetches as many messages as it has free slots, so a busy replica leaves work on the
    server for its peers (the shared durable hands it to whoever asks).
    """
    slots = asyncio.Semaphore(concurrency)
    in_flight: set[asyncio.Task[None]] = set()

    async def run_one(msg: Msg) -> None:
        try:
            await settle(msg, handler, heartbeat_s, f"{what} {msg.subject}")
        finally:
            slots.release()

    def dispatch(msg: Msg) -> None:
        task = asyncio.create_task(run_one(msg))
        in_flight.add(task)
        task.add_done_callback(in_flight.discard)

    try:
        while not stop.is_set():
            await slots.acquire()
            # Long-poll for exactly one message: nats-py's fetch(batch>1) keeps waiting for the rest of the
            # batch until its timeout once the first message came in, which would delay that message.
            try:
                first = await _fetch(subscription, 1, wait_s=0.5)
            except nats.errors.ConnectionClosedError:
                slots.release()
                break
            if not first:
                slots.release()
                continue
            dispatch(first[0])
            # Then take, without lingering, whatever else is already waiting, up to the free slots.
            extra = 0
            while extra < concurrency - 1 and not slots.locked():
                await slots.acquire()
                extra += 1
            if extra:
                try:
                    more = await _fetch(subscription, extra, wait_s=0.005)
                except nats.errors.ConnectionClosedError:
                    more = []
                for _ in range(extra - len(more)):
                    slots.release()
                for msg in more:
                    dispatch(msg)
    finally:
        if in_flight:
            _, pending = await asyncio.wait(set(in_flight), timeout=grace_s)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending)
        # nats-py's drain() waits for a pull subscription's queue that fetch() never marks done (up to
        # its 30 s drain timeout); unsubscribing first lets a service stop at once. The durable stays.
        with contextlib.suppress(Exception):
            await subscription.unsubscribe()
