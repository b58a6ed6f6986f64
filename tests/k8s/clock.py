"""The test server's clock: wall time plus an offset a test can advance.

Deadlines the controllers honour (a Job's ``activeDeadlineSeconds``) are measured on this clock, so a
test can jump past a deadline with ``advance()`` instead of sleeping.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


class Clock:
    def __init__(self) -> None:
        self._offset = 0.0

    def now(self) -> datetime:
        return datetime.now(UTC) + timedelta(seconds=self._offset)

    def advance(self, seconds: float) -> None:
        """Move the server's time forward (never backward)."""
        self._offset += max(0.0, seconds)

    def timestamp(self) -> str:
        """RFC 3339 with seconds precision and ``Z``, as ``metav1.Time`` is serialised."""
        return format_time(self.now())


def format_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
