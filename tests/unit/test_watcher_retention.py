"""The retention limit's selection (KLT #621): which finished versions go, and which never do."""

from __future__ import annotations

from services.watcher.retention import Version, expired
from shared.keptn.lifecycle import KeptnAppVersion
from shared.keptn.states import KeptnState
from tests.unit.phases_harness import app_version

S, F, D, G = KeptnState.SUCCEEDED, KeptnState.FAILED, KeptnState.DEPRECATED, KeptnState.PROGRESSING


def _av(version: str, created: str, status: KeptnState) -> KeptnAppVersion:
    av = app_version(version=version, created=created, uid=f"uid-{version}")
    av.status.status = status
    av.status.current_phase = "Completed" if status == S else "AppDeploy"
    return av


HISTORY = [
    _av("1", "2026-01-01T00:00:01Z", S),
    _av("2", "2026-01-01T00:00:02Z", F),
    _av("3", "2026-01-01T00:00:03Z", D),
    _av("4", "2026-01-01T00:00:04Z", S),
    _av("5", "2026-01-01T00:00:05Z", G),
]


def _names(found: list[Version]) -> list[str]:
    return [v.spec.version for v in found]


def test_the_oldest_finished_beyond_the_limit_go_oldest_first() -> None:
    assert _names(expired(HISTORY, 2)) == ["1", "2"]
    assert _names(expired(HISTORY, 1)) == ["1", "2", "3"]


def test_a_running_version_is_never_deleted_nor_counted() -> None:
    assert "5" not in _names(expired(HISTORY, 1))
    assert expired(HISTORY, 4) == []


def test_zero_keeps_everything() -> None:
    assert expired(HISTORY, 0) == []


def test_the_current_version_is_spared_even_when_timestamps_order_it_older() -> None:
    protected = {HISTORY[0].metadata.name}
    assert _names(expired(HISTORY, 1, protected)) == ["2", "3"]


def test_order_is_by_creation_time_not_by_input_order() -> None:
    assert _names(expired(list(reversed(HISTORY)), 3)) == ["1"]


def test_a_succeeded_version_not_yet_completed_is_still_running() -> None:
    av = _av("9", "2026-01-01T00:00:00Z", S)
    av.status.current_phase = "AppPostDeployTasks"
    assert expired([av, *HISTORY[3:4]], 1) == []
