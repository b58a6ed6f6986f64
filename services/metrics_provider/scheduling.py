"""Keeping every KeptnMetric fresh: one refresh loop per metric, restarted when its spec changes.

A loop fetches at once and then every ``fetchIntervalSeconds``; it can be woken early (a provider
appeared or changed), which KLT cannot do — it retries a metric with a missing provider after 10 s.
klt also drops KLT's 10 s requeue floor (§6.1 step 6): a metric asking for 2 s gets 2 s, down to the
configured minimum that only keeps ``fetchIntervalSeconds: 0`` from spinning.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field

from shared.runtime.waiting import wait_set

log = logging.getLogger(__name__)

MetricId = tuple[str, str]
"""(namespace, name) of a KeptnMetric."""


@dataclass(slots=True)
class _Loop:
    fingerprint: Hashable
    task: asyncio.Task[None]
    wake: asyncio.Event = field(default_factory=asyncio.Event)


class RefreshScheduler:
    """Owns the refresh tasks: ``close()`` cancels and awaits them all, so none outlives the service."""

    def __init__(self, refresh: Callable[[MetricId], Awaitable[None]], min_interval_s: float) -> None:
        self._refresh = refresh
        self._min_interval_s = min_interval_s
        self._loops: dict[MetricId, _Loop] = {}
        self._retired: set[asyncio.Task[None]] = set()

    def __contains__(self, metric: MetricId) -> bool:
        return metric in self._loops

    def upsert(self, metric: MetricId, interval_s: float, fingerprint: Hashable) -> None:
        """Start refreshing ``metric``, or restart it when its spec (``fingerprint``) changed."""
        current = self._loops.get(metric)
        if current is not None and current.fingerprint == fingerprint:
            return
        if current is not None:
            self._retire(current.task)
        wake = asyncio.Event()
        period = max(float(interval_s), self._min_interval_s)
        task = asyncio.create_task(self._run(metric, period, wake), name=f"refresh {metric[0]}/{metric[1]}")
        self._loops[metric] = _Loop(fingerprint=fingerprint, task=task, wake=wake)

    def remove(self, metric: MetricId) -> None:
        loop = self._loops.pop(metric, None)
        if loop is not None:
            self._retire(loop.task)

    def _retire(self, task: asyncio.Task[None]) -> None:
        """Cancel a loop and keep it until it has ended, so ``close()`` can wait for it."""
        task.cancel()
        self._retired.add(task)
        task.add_done_callback(self._retired.discard)

    def wake(self, metrics: list[MetricId]) -> None:
        """Refresh these metrics now instead of at their next interval."""
        for metric in metrics:
            loop = self._loops.get(metric)
            if loop is not None:
                loop.wake.set()

    async def close(self) -> None:
        tasks = [loop.task for loop in self._loops.values()] + list(self._retired)
        self._loops = {}
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self, metric: MetricId, period_s: float, wake: asyncio.Event) -> None:
        while True:
            wake.clear()
            try:
                await self._refresh(metric)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("Refreshing KeptnMetric %s/%s failed unexpectedly", *metric)
            await wait_set(wake, period_s)
