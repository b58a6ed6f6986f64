"""The stuck-deadline timer: reconcile an object when its waiting phase is due to give up.

Progress is event-driven, but "nothing happened for 10 minutes" is not an event, so something must
reconcile a stuck object when its deadline comes (``shared.phases.waiting`` decides; this only wakes
it up). The due time is not kept here: it is derived from the object's ``status.waitingSince``, which
lives in the state bucket with the object. Every decision the driver stores or re-reads passes its
object to ``note``; at start-up the watcher reconciles every object that may still move, so the timers
of a restarted watcher are rebuilt from the state, with the countdown where it was (an overdue one
fails at once). Timers firing early or twice cost one reconcile that changes nothing.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from services.watcher.index import Key, key_of
from shared.phases import gives_up_at, is_terminal

log = logging.getLogger(__name__)

SLACK_S = 0.05
"""Seconds past a due time before reconciling: timestamps have second precision, so a reconcile a
moment after the due second is sure to see it passed."""


class Deadlines:
    """Due times of stuck objects, in memory, rebuilt from the state; ``run`` fires them."""

    def __init__(
        self,
        deadline_s: float,
        reconcile: Callable[[Key], Awaitable[None]],
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self.deadline_s = deadline_s
        self.reconcile = reconcile
        self.clock = clock
        self._due: dict[Key, dt.datetime] = {}
        self._changed = asyncio.Event()

    def note(self, obj: Any) -> None:
        """Track (or stop tracking) ``obj``'s deadline, from what it says now."""
        key = key_of(obj)
        due = None if is_terminal(obj) else gives_up_at(obj, self.deadline_s)
        if due is None:
            self._due.pop(key, None)
            return
        if self._due.get(key) != due:
            self._due[key] = due
            self._changed.set()

    def pending(self) -> dict[Key, dt.datetime]:
        """The tracked deadlines (for tests and logs)."""
        return dict(self._due)

    async def run(self) -> None:
        """Until cancelled: sleep to the earliest due time (or a new one), then reconcile what is due."""
        while True:
            self._changed.clear()
            wait_s = None
            if self._due:
                earliest = min(self._due.values())
                wait_s = max(0.0, (earliest - self.clock()).total_seconds() + SLACK_S)
            if wait_s is None or wait_s > 0:
                try:
                    async with asyncio.timeout(wait_s):
                        await self._changed.wait()
                    continue
                except TimeoutError:
                    pass
            now = self.clock()
            for key in [k for k, due in self._due.items() if due <= now]:
                self._due.pop(key, None)
                try:
                    await self.reconcile(key)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # a NATS hiccup: try again shortly
                    log.warning("Could not reconcile %s %s/%s at its deadline (%s); retrying", *key, exc)
                    self._due[key] = now + dt.timedelta(seconds=1)
