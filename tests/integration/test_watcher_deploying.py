"""The release step's deploy command, run for real in a shell."""

from __future__ import annotations

import os
from pathlib import Path

from services.watcher.deploying import ImmediateRelease, Release, release_step
from shared.keptn.states import KeptnState


def _release(timeout_s: float = 10.0) -> Release:
    return Release(
        namespace="demo",
        app="shop",
        workload="web",
        version="1.2",
        workload_version="shop-web-1.2",
        resource_kind="Deployment",
        resource_name="web-deploy",
        timeout_s=timeout_s,
    )


async def test_without_a_command_the_release_succeeds_at_once() -> None:
    step = release_step("  ")
    assert isinstance(step, ImmediateRelease)
    assert await step.run(_release()) == (KeptnState.SUCCEEDED, "")


async def test_the_command_sees_what_it_releases(tmp_path: Path) -> None:
    out = tmp_path / "env.txt"
    command = (
        f'echo "$KLT_APP|$KLT_WORKLOAD|$KLT_VERSION|$KLT_NAMESPACE|$KLT_WORKLOAD_VERSION|'
        f'$KLT_RESOURCE_KIND|$KLT_RESOURCE_NAME" > {out}'
    )
    assert await release_step(command).run(_release()) == (KeptnState.SUCCEEDED, "")
    assert out.read_text().strip() == "shop|web|1.2|demo|shop-web-1.2|Deployment|web-deploy"


async def test_a_failing_command_reports_its_exit_code_and_last_stderr_lines() -> None:
    command = "for i in 1 2 3 4 5 6 7; do echo line$i >&2; done; echo not-this; exit 4"
    status, message = await release_step(command).run(_release())
    assert status == KeptnState.FAILED
    assert message == "deploy command exited with code 4: line3 | line4 | line5 | line6 | line7"


async def test_a_command_past_its_deadline_is_killed_with_what_it_started(tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"
    command = f"sleep 60 & echo $! > {pid_file}; wait"
    status, message = await release_step(command).run(_release(timeout_s=0.5))
    assert (status, message) == (KeptnState.FAILED, "has reached timeout")
    child = int(pid_file.read_text())
    try:
        os.kill(child, 0)
    except ProcessLookupError:
        return
    # A zombie not yet reaped by init still answers kill(0); check it is not running.
    try:
        state = Path(f"/proc/{child}/stat").read_text().split()[2]
    except FileNotFoundError:
        return
    assert state == "Z"
