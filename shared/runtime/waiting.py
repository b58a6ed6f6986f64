"""Waiting for an event with a time limit, safely under cancellation.

On Python 3.11 ``asyncio.wait_for`` can swallow a cancellation that arrives just as the awaited event
completes; a loop that waits that way may then never stop. ``asyncio.timeout`` has no such gap, so every
"wait for this, but at most that long" in klt goes through here.
"""

from __future__ import annotations

import asyncio
import contextlib


async def wait_set(event: asyncio.Event, seconds: float) -> bool:
    """Wait until ``event`` is set or ``seconds`` have passed; True when it is set."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await event.wait()
    return event.is_set()
