"""The stuck deadline: how long a phase may wait for something that does not exist (DESIGN §8).

KLT lets a phase wait forever for a missing KeptnWorkloadVersion (AppDeploy, §3.6) or a missing task
or evaluation definition (§3.3 rule 5): the object sits in Pending/Progressing and nobody is told
(KLT #1878, #3680). klt keeps that KLT-visible state and says what is missing (``status.message``, a
NotFound event), and with ``Options.stuck_deadline_s`` > 0 it gives up after that long: the phase
fails as any failed phase does (§3.4: ``Failed``, later phases Deprecated, ``<Phase>Failed``).

The countdown starts when the phase first finds something missing and is kept in the object itself
(``status.waitingSince``), so it lives in the same compare-and-set as the state it belongs to: a
watcher restart neither forgets it nor starts it again. It stops (the field is cleared) as soon as
nothing is missing. A deadline fails the phase in non-blocking mode too: a missing definition is a
configuration error, not a failed check that mode may let through.
"""

from __future__ import annotations

import datetime as dt

from shared.keptn.lifecycle import KeptnAppVersion, KeptnWorkloadVersion

Phased = KeptnAppVersion | KeptnWorkloadVersion


def parse_time(text: str) -> dt.datetime:
    """An RFC 3339 timestamp as the watcher writes it (``2026-01-02T03:04:05Z``), timezone-aware."""
    parsed = dt.datetime.fromisoformat(text)
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=dt.UTC)


def gives_up_at(obj: Phased, deadline_s: float) -> dt.datetime | None:
    """When ``obj``'s waiting phase fails, or None if it waits for nothing or the deadline is off (0)."""
    since = obj.status.waiting_since
    if deadline_s <= 0 or not since:
        return None
    return parse_time(since) + dt.timedelta(seconds=deadline_s)


def given_up(obj: Phased, now: str, deadline_s: float) -> bool:
    """Whether the deadline of ``obj``'s waiting phase has passed at ``now``."""
    due = gives_up_at(obj, deadline_s)
    return due is not None and parse_time(now) >= due


def seconds_text(seconds: float) -> str:
    """``600`` → ``600s``, ``1.5`` → ``1.5s`` (how the failure message states the deadline)."""
    return f"{seconds:g}s"
