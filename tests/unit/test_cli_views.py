"""What `klt run` prints as it goes: a line per change when piped, a table redrawn in place on a terminal."""

from __future__ import annotations

import io

from klt.objects import Snapshot
from klt.views import LineView, LiveView, choose_view
from shared.keptn.lifecycle import KeptnAppVersion, KeptnAppVersionSpec
from shared.keptn.meta import ObjectMeta
from shared.keptn.states import KeptnState


def _app_version(phase: str, status: KeptnState) -> KeptnAppVersion:
    av = KeptnAppVersion(
        metadata=ObjectMeta(name="shop-1.0-6b86b273", namespace="demo"),
        spec=KeptnAppVersionSpec(app_name="shop", version="1.0"),
    )
    av.status.current_phase = phase
    av.status.status = status
    return av


def test_piped_output_gets_one_timestamped_line_per_change() -> None:
    out = io.StringIO()
    view = LineView(out)
    snapshot = Snapshot()
    first = _app_version("AppPreDeployTasks", KeptnState.PROGRESSING)
    snapshot.add(first)
    view.changed(None, first, snapshot)
    view.changed(first, first, snapshot)  # nothing changed: nothing printed
    lines = out.getvalue().splitlines()
    assert len(lines) == 1
    assert lines[0].endswith("AppVersion shop-1.0-6b86b273: AppPreDeployTasks Progressing")
    assert "\x1b[" not in out.getvalue()


def test_a_terminal_gets_a_table_redrawn_in_place() -> None:
    out = io.StringIO()
    view = LiveView(out)
    snapshot = Snapshot()
    first = _app_version("AppPreDeployTasks", KeptnState.PROGRESSING)
    snapshot.add(first)
    view.changed(None, first, snapshot)
    second = _app_version("Completed", KeptnState.SUCCEEDED)
    snapshot.add(second)
    view.changed(first, second, snapshot)
    text = out.getvalue()
    first_frame, second_frame = text.split("\x1b[", 1)
    assert "AppVersion  shop-1.0-6b86b273  AppPreDeployTasks  Progressing" in first_frame
    assert second_frame.startswith("4F\x1b[J")  # cursor up over the previous frame's 4 lines, then clear
    assert "AppVersion  shop-1.0-6b86b273  Completed  Succeeded" in second_frame


def test_the_view_follows_the_terminal_unless_told() -> None:
    assert isinstance(choose_view(io.StringIO()), LineView)
    assert isinstance(choose_view(io.StringIO(), live=True), LiveView)
