"""Crash safety with the services as separate processes: SIGKILL the watcher or the task-runner in the
middle of a lifecycle, start it again, and the lifecycle completes from what JetStream kept."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import msgspec
from nats.js.kv import KeyValue

from shared.keptn.lifecycle import KeptnTask, KeptnWorkloadVersion
from shared.runtime.embedded_nats import RunningNats
from shared.runtime.natsio import get_entry, list_entries
from shared.subjects import Names, object_key
from tests.e2e import cases
from tests.support.natsfix import nats_client, settings_for

SLOW_RECORD = """
const data = JSON.parse(Deno.env.get("DATA") ?? "{}");
const context = JSON.parse(Deno.env.get("KEPTN_CONTEXT") ?? "{}");
await Deno.writeTextFile(data.out, context.taskType + "\\n", { append: true });
await new Promise((resolve) => setTimeout(resolve, Number(data.sleep_ms ?? "0")));
"""


class Services:
    """The services as child processes on one prefix, each startable and killable on its own."""

    def __init__(self, nats_url: str, prefix: str, manifests: Path) -> None:
        self.env = {
            **os.environ,
            "KLT_NATS_URL": nats_url,
            "KLT_PREFIX": prefix,
            "KLT_WATCHER_SOURCE_PATHS": str(manifests),
            "KLT_SECRETS_PATHS": str(manifests),
            "KLT_LOG_LEVEL": "WARNING",
            # a killed replica's command comes back after ack_wait: keep it short so the test is quick
            "KLT_TASK_RUNNER_ACK_WAIT_S": "3",
            "KLT_TASK_RUNNER_HEARTBEAT_S": "1",
        }
        self.processes: dict[str, asyncio.subprocess.Process] = {}

    async def start(self, name: str) -> None:
        self.processes[name] = await asyncio.create_subprocess_exec(
            sys.executable, "-m", f"services.{name}", env=self.env,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip

    async def kill(self, name: str) -> None:
        process = self.processes.pop(name)
        process.send_signal(signal.SIGKILL)
        await process.wait()

    async def stop_all(self) -> None:
        for process in self.processes.values():
            if process.returncode is None:
                process.terminate()
        for process in self.processes.values():
            await asyncio.wait_for(process.wait(), 30)


@asynccontextmanager
async def services(nats_server: RunningNats, prefix: str, manifests: Path) -> AsyncIterator[Services]:
    running = Services(nats_server.url, prefix, manifests)
    try:
        yield running
    finally:
        await running.stop_all()


async def wait_for(check: Callable[[], object], seconds: float = 60) -> None:
    loop = asyncio.get_running_loop()
    give_up = loop.time() + seconds
    while not await check():  # type: ignore[misc]
        assert loop.time() < give_up, "condition not met in time"
        await asyncio.sleep(0.05)


def _manifests(folder: Path, out: Path, sleep_ms: int, retries: int) -> Path:
    cases.write(
        folder,
        "all.yaml",
        cases.namespace(),
        cases.deployment("web", version="1.0.0", pre_tasks="slow", post_tasks="slow"),
        cases.deno_task("slow", SLOW_RECORD, params={"out": str(out), "sleep_ms": str(sleep_ms)},
                        extra_spec=f"retries: {retries}"),
    )  # fmt: skip
    return folder


async def test_watcher_killed_mid_lifecycle_resumes_from_jetstream(
    nats_server: RunningNats, tmp_path: Path
) -> None:
    out = tmp_path / "runs.txt"
    settings = settings_for(nats_server.url)
    names = Names(settings.prefix)
    folder = _manifests(tmp_path / "m", out, sleep_ms=1500, retries=0)
    async with nats_client(settings) as nc, services(nats_server, settings.prefix, folder) as stack:
        state = await nc.jetstream().key_value(names.state_bucket)

        async def workload_version() -> KeptnWorkloadVersion | None:
            entry = await get_entry(state, object_key("KeptnWorkloadVersion", "shop", "web-web-1.0.0"))
            return None if entry is None else msgspec.json.decode(entry.value, type=KeptnWorkloadVersion)

        async def pre_task_running() -> bool:
            return out.exists() and out.read_text().splitlines() == ["pre"]

        await stack.start("task_runner")
        await stack.start("watcher")
        await wait_for(pre_task_running)
        await stack.kill("watcher")  # the pre task is still running; its result arrives while no watcher runs
        await asyncio.sleep(2.0)
        await stack.start("watcher")

        async def completed() -> bool:
            wv = await workload_version()
            return wv is not None and wv.status.status == "Succeeded"

        await wait_for(completed)
        assert out.read_text().splitlines() == ["pre", "post"], "each task ran exactly once"
        wv = await workload_version()
        assert wv is not None
        assert wv.status.current_phase == "Completed"


async def test_task_runner_killed_mid_task_runs_it_at_most_retries_plus_one_times(
    nats_server: RunningNats, tmp_path: Path
) -> None:
    out = tmp_path / "runs.txt"
    settings = settings_for(nats_server.url)
    names = Names(settings.prefix)
    folder = _manifests(tmp_path / "m", out, sleep_ms=3000, retries=1)
    async with nats_client(settings) as nc, services(nats_server, settings.prefix, folder) as stack:
        state = await nc.jetstream().key_value(names.state_bucket)
        await stack.start("watcher")
        await stack.start("task_runner")

        async def pre_task_running() -> bool:
            return out.exists() and out.read_text().splitlines() == ["pre"]

        await wait_for(pre_task_running)
        await stack.kill("task_runner")  # SIGKILL: its deno child dies with it
        await stack.start("task_runner")

        async def finished() -> bool:
            entry = await get_entry(state, object_key("KeptnWorkloadVersion", "shop", "web-web-1.0.0"))
            wv = None if entry is None else msgspec.json.decode(entry.value, type=KeptnWorkloadVersion)
            return wv is not None and wv.status.status in ("Succeeded", "Failed")

        await wait_for(finished, seconds=90)
        runs = out.read_text().splitlines()
        assert runs.count("pre") == 2, "the killed run counts: retries 1 allows one more"
        tasks = [
            msgspec.json.decode(e.value, type=KeptnTask)
            for e in [await get_entry(state, k) for k in await _task_keys(state)]
            if e is not None
        ]
        pre = next(t for t in tasks if t.spec.check_type == "pre")
        assert pre.status.status == "Succeeded"
        assert pre.status.attempts == 2


async def _task_keys(state: KeyValue) -> list[str]:
    return list(await list_entries(state, "keptntask.>"))
