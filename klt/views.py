"""How ``klt run`` shows progress: plain lines when piped, a live table on a terminal."""

from __future__ import annotations

import datetime as dt
import sys
from typing import Protocol, TextIO

from klt.narration import describe_change
from klt.objects import Snapshot
from shared.keptn.lifecycle import KeptnAppVersion, KeptnWorkloadVersion, LifecycleObject


class ProgressView(Protocol):
    def changed(
        self, previous: LifecycleObject | None, current: LifecycleObject, snapshot: Snapshot
    ) -> None: ...

    def close(self) -> None: ...


def _stamp() -> str:
    return dt.datetime.now(dt.UTC).astimezone().strftime("%H:%M:%S")


class LineView:
    """One timestamped line per meaningful change; for pipes, CI logs and ``--output json`` (on stderr)."""

    def __init__(self, out: TextIO) -> None:
        self._out = out

    def changed(self, previous: LifecycleObject | None, current: LifecycleObject, snapshot: Snapshot) -> None:
        line = describe_change(previous, current)
        if line:
            self._out.write(f"{_stamp()} {line}\n")
            self._out.flush()

    def close(self) -> None:
        self._out.flush()


class LiveView:
    """A table of AppVersions and WorkloadVersions redrawn in place, with the latest happenings below it."""

    def __init__(self, out: TextIO, history: int = 8) -> None:
        self._out = out
        self._history: list[str] = []
        self._keep = history
        self._drawn = 0

    def changed(self, previous: LifecycleObject | None, current: LifecycleObject, snapshot: Snapshot) -> None:
        line = describe_change(previous, current)
        if line:
            self._history = [*self._history, f"{_stamp()} {line}"][-self._keep :]
        self._redraw(snapshot)

    def _redraw(self, snapshot: Snapshot) -> None:
        rows = [("KIND", "NAME", "PHASE", "STATUS")]
        for av in snapshot.of_kind(KeptnAppVersion):
            rows.append(("AppVersion", av.metadata.name, av.status.current_phase or "-", av.status.status))
        for wv in snapshot.of_kind(KeptnWorkloadVersion):
            rows.append(
                ("WorkloadVersion", wv.metadata.name, wv.status.current_phase or "-", wv.status.status)
            )
        widths = [max(len(str(row[i])) for row in rows) for i in range(4)]
        lines = ["  ".join(str(cell).ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in rows]
        lines += ["", *self._history]
        if self._drawn:
            self._out.write(f"\x1b[{self._drawn}F\x1b[J")
        self._out.write("\n".join(lines) + "\n")
        self._out.flush()
        self._drawn = len(lines)

    def close(self) -> None:
        self._out.write("\n")
        self._out.flush()


def choose_view(out: TextIO = sys.stdout, live: bool | None = None) -> ProgressView:
    """Live on a terminal, lines otherwise (``live`` forces one or the other)."""
    use_live = out.isatty() if live is None else live
    return LiveView(out) if use_live else LineView(out)
