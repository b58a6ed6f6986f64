"""Crash safety: a task-runner SIGKILLed mid-task; its successor continues the task and the killed run
counts, so no task ever runs more than ``retries + 1`` times (KLT #667)."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from shared.keptn.states import KeptnState
from shared.runtime.settings import CommonSettings
from tests.integration.test_task_runner_support import definition, harness, run_task

REPO = Path(__file__).resolve().parents[2]

SLEEP_ON_FIRST_RUN = """
import json, os, time
data = json.loads(os.environ["DATA"])
with open(data["runs"], "a") as f:
    f.write(f"{os.getpid()}\\n")
if len(open(data["runs"]).read().splitlines()) == 1:
    time.sleep(60)
    open(data["runs"] + ".woke", "w").write("the first run outlived its runner")
print("done")
"""


@asynccontextmanager
async def runner_process(
    settings: CommonSettings, work: Path, log: Path
) -> AsyncIterator[asyncio.subprocess.Process]:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("KLT_")},
        "KLT_NATS_URL": settings.nats_url,
        "KLT_PREFIX": settings.prefix,
        "KLT_TASK_RUNNER_ACK_WAIT_S": "2",
        "KLT_TASK_RUNNER_HEARTBEAT_S": "0.5",
        "KLT_TASK_RUNNER_WORK_DIR": str(work),
    }
    with log.open("ab") as sink:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "services.task_runner", "--concurrency", "2",
            cwd=REPO, env=env, stdout=sink, stderr=sink,
        )  # fmt: skip
    try:
        yield process
    finally:
        if process.returncode is None:
            process.terminate()
            await asyncio.wait_for(process.wait(), 20)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split(") ", 1)[1].startswith("Z"))


async def test_a_runner_killed_mid_task_is_resumed_without_extra_runs(
    klt_settings: CommonSettings, tmp_path: Path
) -> None:
    runs = tmp_path / "runs.txt"
    log = tmp_path / "runner.log"
    async with harness(klt_settings) as h:
        await h.put_definition(definition("sleeper", SLEEP_ON_FIRST_RUN, runtime="python",
                                          parameters={"runs": str(runs)}))  # fmt: skip
        command = run_task("sleeper", retries=2, timeout="60s")
        async with runner_process(klt_settings, tmp_path / "work", log) as first:
            await h.send(command)
            await h.wait_for(lambda: h.started(command) == [1], timeout=30)
            async with asyncio.timeout(10):
                while not runs.exists() or not runs.read_text():
                    await asyncio.sleep(0.05)
            first.send_signal(signal.SIGKILL)
            await first.wait()
        first_run = int(runs.read_text().split()[0])
        async with asyncio.timeout(5):
            while alive(first_run):  # the orphaned run dies with its runner
                await asyncio.sleep(0.05)

        async with runner_process(klt_settings, tmp_path / "work", log):
            finished = await h.wait_finished(command, timeout=30)

        assert finished.status == KeptnState.SUCCEEDED, log.read_text()
        assert finished.attempts == 2
        assert h.started(command) == [1, 2]
        assert len(runs.read_text().splitlines()) == 2  # <= retries + 1
        assert not (tmp_path / "runs.txt.woke").exists()
        logs = await h.logs(command)
        assert [a["outcome"] for a in logs["attempts"]] == [
            "interrupted: the task-runner stopped during this attempt",
            "succeeded",
        ]
        assert logs["attempts"][1]["stdout"] == "done\n"
