"""How much time klt itself adds to a release, beside what the parts it stands on cost in the same run.

Prints, for N workloads with no tasks and for M workloads with one Deno pre-deployment task each:
per-workload orchestration time (p50/p99), throughput, and the per-phase overhead — the time from the
moment a task's result is published to the moment the watcher has stored the workload's next phase.
Beside them, measured in the same run on the same nats-server: raw JetStream publish+ack, KV
compare-and-set, and a bare ``deno run`` of the task's script. The last line is one JSON object.

Run: ``.venv/bin/python bench/lifecycle.py [--workloads 300] [--task-workloads 30]`` (or ``make bench``).
Timings here are measurements, never pass/fail conditions.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import msgspec
from nats.aio.client import Client
from nats.aio.msg import Msg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from klt.inputs import check_input
from klt.stack import StackOptions, running_services
from shared.keptn.lifecycle import KeptnTask, KeptnWorkloadVersion
from shared.manifests import encode_object
from shared.runtime.binaries import find_binary
from shared.runtime.desired import APPLIED_MARKER
from shared.runtime.embedded_nats import embedded_nats
from shared.runtime.natsio import connect, ensure_topology, list_entries, put_if
from shared.runtime.settings import CommonSettings, common_settings
from shared.subjects import Names, object_key

SCRIPT = (
    'const context = JSON.parse(Deno.env.get("KEPTN_CONTEXT") ?? "{}");\nconsole.log(context.workloadName);\n'
)
ms = 1000.0


def percentile(values: Sequence[float], pct: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


def write_workloads(folder: Path, count: int, with_task: bool) -> None:
    docs = []
    for i in range(count):
        tasks = '\n        keptn.sh/pre-deployment-tasks: "hello"' if with_task else ""
        docs.append(
            f"""apiVersion: apps/v1
kind: Deployment
metadata:
  name: w{i}
  namespace: bench
spec:
  replicas: 1
  template:
    metadata:
      annotations:
        keptn.sh/workload: "w{i}"
        keptn.sh/version: "1.0.{i}"{tasks}
    spec:
      containers:
        - name: w{i}
          image: example/w:1
"""
        )
    if with_task:
        code = "\n".join("        " + line for line in SCRIPT.splitlines())
        docs.append(
            f"""apiVersion: lifecycle.keptn.sh/v1
kind: KeptnTaskDefinition
metadata:
  name: hello
  namespace: bench
spec:
  retries: 0
  deno:
    inline:
      code: |
{code}
"""
        )
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "workloads.yaml").write_text("---\n".join(docs))


async def jetstream_baselines(nc: Client, settings: CommonSettings, rounds: int) -> dict[str, float]:
    """Raw JetStream publish+ack and KV compare-and-set on the same server, one at a time."""
    js = nc.jetstream()
    names = Names(settings.prefix)
    publish = []
    for i in range(rounds):
        start = time.perf_counter()
        await js.publish(f"{names.prefix}.evt.bench.baseline.x.y", b"{}", headers={"Nats-Msg-Id": f"b{i}"})
        publish.append((time.perf_counter() - start) * ms)
    kv = await js.key_value(names.timers_bucket)
    revision = await kv.put("bench.cas", b"0")
    cas = []
    for i in range(rounds):
        start = time.perf_counter()
        revision = await put_if(kv, "bench.cas", str(i).encode(), revision)
        cas.append((time.perf_counter() - start) * ms)
    return {"jetstream_rtt_ms_p50": statistics.median(publish), "kv_cas_ms_p50": statistics.median(cas)}


def bare_deno(rounds: int) -> list[float]:
    """``deno run`` of the task's script with KLT's flags and the same environment, nothing around it."""
    deno = find_binary("deno", "deno")
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "hello.ts"
        script.write_text(SCRIPT)
        env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": tmp,
            "DENO_DIR": str(Path(tmp) / "deno"),
            "NO_COLOR": "1",
            "KEPTN_CONTEXT": '{"workloadName":"bench"}',
        }
        flags = [
            "run",
            "--allow-net",
            "--allow-write",
            "--allow-read",
            "--allow-env=DATA,SECURE_DATA,KEPTN_CONTEXT",
        ]
        subprocess.run([deno, *flags, "--no-prompt", str(script)], env=env, capture_output=True, check=True)
        times = []
        for _ in range(rounds):
            start = time.perf_counter()
            subprocess.run(
                [deno, *flags, "--no-prompt", str(script)], env=env, capture_output=True, check=True
            )
            times.append((time.perf_counter() - start) * ms)
    return times


class Observer:
    """Receipt times (this process's clock) of state changes and task results, for one prefix."""

    def __init__(self) -> None:
        self.first_seen: dict[str, float] = {}
        self.completed: dict[str, float] = {}
        self.pre_tasks_done: dict[str, float] = {}
        self.task_finished: dict[str, float] = {}
        self.task_started: dict[str, float] = {}
        """When the RunTask command was published: the task's cost is everything the runner does for it."""
        self.changed = asyncio.Event()
        self._decoder = msgspec.json.Decoder(KeptnWorkloadVersion)

    def on_state(self, key: str, value: bytes | None, now: float) -> None:
        if value is None or not key.startswith("keptnworkloadversion."):
            return
        wv = self._decoder.decode(value)
        name = wv.metadata.name
        self.first_seen.setdefault(name, now)
        if wv.status.pre_deployment_status == "Succeeded":
            self.pre_tasks_done.setdefault(name, now)
        if wv.status.status in ("Succeeded", "Failed"):
            self.completed.setdefault(name, now)
        self.changed.set()

    def on_task_event(self, msg: Msg, now: float) -> None:
        event = json.loads(msg.data)
        task = event.get("name", "")
        if event.get("type") == "task.finished":
            self.task_finished[task] = now
        elif event.get("type") == "task.run":
            self.task_started.setdefault(task, now)


class Stack:
    """The four services in this process on one prefix, with an observer of what they store and publish."""

    def __init__(self, settings: CommonSettings, concurrency: int) -> None:
        self.settings = settings
        self.names = Names(settings.prefix)
        self.concurrency = concurrency
        self.observer = Observer()

    async def __aenter__(self) -> Stack:
        self.nc = await connect(self.settings, "bench")
        self.js = self.nc.jetstream()
        await ensure_topology(self.js, self.settings)
        self.desired = await self.js.key_value(self.names.desired_bucket)

        async def on_task(msg: Msg) -> None:
            self.observer.on_task_event(msg, time.perf_counter())

        await self.nc.subscribe(self.names.events_of("task"), cb=on_task)
        await self.nc.subscribe(self.names.commands_of("task"), cb=on_task)
        self.follower = asyncio.create_task(self._follow())
        self.services = running_services(
            self.settings, StackOptions(task_concurrency=self.concurrency, metrics_http_port=0)
        )
        await self.services.__aenter__()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.services.__aexit__(None, None, None)
        self.follower.cancel()
        await self.nc.drain()

    async def _follow(self) -> None:
        kv = await self.js.key_value(self.names.state_bucket)
        watcher = await kv.watchall()
        async for entry in watcher:
            if entry is not None:
                self.observer.on_state(entry.key, entry.value, time.perf_counter())

    async def put(self, objects: list[tuple[str, str, str, msgspec.Struct]]) -> None:
        for kind, namespace, name, obj in objects:
            await self.desired.put(object_key(kind, namespace, name), encode_object(obj))
        await self.desired.put(APPLIED_MARKER, b"1")  # as klt run / klt apply do after a set

    async def wait_completed(self, count: int, within_s: float = 600) -> None:
        loop = asyncio.get_running_loop()
        give_up = loop.time() + within_s
        while len(self.observer.completed) < count:
            self.observer.changed.clear()
            await asyncio.wait_for(self.observer.changed.wait(), timeout=give_up - loop.time())


def load(count: int, with_task: bool, folder: Path) -> tuple[list[Any], list[Any]]:
    """(definitions, workloads) of a generated folder, as (kind, namespace, name, object) tuples."""
    write_workloads(folder, count, with_task)
    checked = check_input([str(folder)], None, "keptn-system")
    objects = list(checked.manifests.objects())
    workloads = [o for o in objects if o[0] == "Deployment"]
    others = [o for o in objects if o[0] != "Deployment"]
    return others, workloads


async def throughput_round(settings: CommonSettings, count: int) -> dict[str, float]:
    """``count`` workloads with no tasks stored at once: how many workload versions per second finish."""
    with tempfile.TemporaryDirectory() as tmp:
        others, workloads = load(count, False, Path(tmp))
        async with Stack(settings, 4) as stack:
            await stack.put(others)
            started = time.perf_counter()
            await stack.put(workloads)
            await stack.wait_completed(count)
            elapsed = time.perf_counter() - started
    return {"workloads": count, "elapsed_s": elapsed, "workloads_per_s": count / elapsed}


async def one_at_a_time_round(settings: CommonSettings, count: int, with_task: bool) -> dict[str, float]:
    """Workloads stored one after the other, each after the previous finished: klt's latency, not queueing."""
    with tempfile.TemporaryDirectory() as tmp:
        others, workloads = load(count, with_task, Path(tmp))
        async with Stack(settings, 1) as stack:
            await stack.put(others)
            stored_at: dict[str, float] = {}
            for i, item in enumerate(workloads):
                stored_at[f"w{i}-w{i}-1.0.{i}"] = time.perf_counter()
                await stack.put([item])
                await stack.wait_completed(i + 1)
            owners = await _task_owners(stack)
        observer = stack.observer
    latency = [(observer.completed[n] - stored_at[n]) * ms for n in stored_at if n in observer.completed]
    result = {"workload_ms_p50": percentile(latency, 50), "workload_ms_p99": percentile(latency, 99)}
    if with_task:
        advance = [
            (observer.pre_tasks_done[wv] - observer.task_finished[task]) * ms
            for task, wv in owners.items()
            if task in observer.task_finished and wv in observer.pre_tasks_done
        ]
        durations = [
            (observer.task_finished[task] - observer.task_started[task]) * ms
            for task in owners
            if task in observer.task_finished and task in observer.task_started
        ]
        result |= {
            "phase_overhead_ms_p50": percentile(advance, 50),
            "phase_overhead_ms_p99": percentile(advance, 99),
            "deno_task_ms_p50": percentile(durations, 50),
        }
    return result


async def _task_owners(stack: Stack) -> dict[str, str]:
    """Task name → the WorkloadVersion that owns it, from the state bucket."""
    kv = await stack.js.key_value(stack.names.state_bucket)
    owners = {}
    for entry in (await list_entries(kv, "keptntask.>")).values():
        task = msgspec.json.decode(entry.value, type=KeptnTask)
        if task.metadata.owner_references:
            owners[task.metadata.name] = task.metadata.owner_references[0].name
    return owners


async def main(args: argparse.Namespace) -> None:
    async with embedded_nats() as server:
        base = common_settings({}, nats_url=server.url)

        def on(prefix: str) -> CommonSettings:
            return msgspec.structs.replace(base, prefix=prefix)

        nc = await connect(on("benchbase"), "bench")
        await ensure_topology(nc.jetstream(), on("benchbase"))
        baselines = await jetstream_baselines(nc, on("benchbase"), 500)
        await nc.drain()
        bulk = await throughput_round(on("benchbulk"), args.workloads)
        plain = await one_at_a_time_round(on("benchplain"), args.sequential, with_task=False)
        tasked = await one_at_a_time_round(on("benchtask"), args.sequential, with_task=True)
    deno = bare_deno(args.deno_rounds)
    print(f"nats-server {server.url} on loopback, {os.cpu_count()} CPUs; all four services in this process")
    print(f"baseline   JetStream publish+ack        p50 {baselines['jetstream_rtt_ms_p50']:.2f} ms")
    print(f"baseline   KV compare-and-set           p50 {baselines['kv_cas_ms_p50']:.2f} ms")
    print(f"baseline   bare deno run                p50 {statistics.median(deno):.1f} ms")
    print(
        f"throughput {bulk['workloads']:.0f} workloads, no tasks, stored at once: {bulk['elapsed_s']:.2f} s, "
        f"{bulk['workloads_per_s']:.0f} workload versions/s"
    )
    print(
        f"latency    {args.sequential} workloads, no tasks, one at a time: stored → Completed p50 "
        f"{plain['workload_ms_p50']:.2f} ms, p99 {plain['workload_ms_p99']:.2f} ms"
    )
    print(
        f"one task   {args.sequential} workloads, one deno pre-task each, one at a time: task result → next "
        f"phase stored p50 {tasked['phase_overhead_ms_p50']:.2f} ms, "
        f"p99 {tasked['phase_overhead_ms_p99']:.2f} ms; "
        f"deno task (command → result) p50 {tasked['deno_task_ms_p50']:.1f} ms; "
        f"stored → Completed p50 {tasked['workload_ms_p50']:.1f} ms"
    )
    summary = {
        "phase_overhead_ms_p50": tasked["phase_overhead_ms_p50"],
        "phase_overhead_ms_p99": tasked["phase_overhead_ms_p99"],
        "jetstream_rtt_ms_p50": baselines["jetstream_rtt_ms_p50"],
        "kv_cas_ms_p50": baselines["kv_cas_ms_p50"],
        "workloads_per_s": bulk["workloads_per_s"],
        "workload_ms_p50": plain["workload_ms_p50"],
        "workload_ms_p99": plain["workload_ms_p99"],
        "task_workload_ms_p50": tasked["workload_ms_p50"],
        "deno_task_ms_p50": tasked["deno_task_ms_p50"],
        "bare_deno_ms_p50": statistics.median(deno),
    }
    print(json.dumps({k: round(v, 3) for k, v in summary.items()}))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--workloads", type=int, default=300, help="workloads stored at once (throughput)")
    parser.add_argument("--sequential", type=int, default=30, help="workloads stored one at a time (latency)")
    parser.add_argument("--deno-rounds", type=int, default=15)
    asyncio.run(main(parser.parse_args()))
