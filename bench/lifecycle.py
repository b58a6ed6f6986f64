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

import msgspec
from nats.aio.client import Client
from nats.aio.msg import Msg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from klt.inputs import check_input  # noqa: E402
from klt.stack import StackOptions, running_services  # noqa: E402
from shared.keptn.lifecycle import KeptnWorkloadVersion  # noqa: E402
from shared.runtime.binaries import find_binary  # noqa: E402
from shared.runtime.desired import put_desired  # noqa: E402
from shared.runtime.embedded_nats import embedded_nats  # noqa: E402
from shared.runtime.natsio import connect, ensure_topology, put_if  # noqa: E402
from shared.runtime.settings import CommonSettings, common_settings  # noqa: E402
from shared.subjects import Names  # noqa: E402

SCRIPT = 'const context = JSON.parse(Deno.env.get("KEPTN_CONTEXT") ?? "{}");\nconsole.log(context.workloadName);\n'
WORKLOAD_PHASES_AFTER_PRE_TASKS = "WorkloadPreDeployEvaluations"
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
        flags = ["run", "--allow-net", "--allow-write", "--allow-read", "--allow-env=DATA,SECURE_DATA,KEPTN_CONTEXT"]
        subprocess.run([deno, *flags, "--no-prompt", str(script)], env=env, capture_output=True, check=True)
        times = []
        for _ in range(rounds):
            start = time.perf_counter()
            subprocess.run([deno, *flags, "--no-prompt", str(script)], env=env, capture_output=True, check=True)
            times.append((time.perf_counter() - start) * ms)
    return times


class Observer:
    """Receipt times (this process's clock) of state changes and task results, for one prefix."""

    def __init__(self) -> None:
        self.first_seen: dict[str, float] = {}
        self.completed: dict[str, float] = {}
        self.next_phase_after_tasks: dict[str, float] = {}
        self.task_finished: dict[str, float] = {}
        self.task_started: dict[str, float] = {}
        self.task_duration_ms: list[float] = []
        self._decoder = msgspec.json.Decoder(KeptnWorkloadVersion)

    def on_state(self, key: str, value: bytes | None, now: float) -> None:
        if value is None or not key.startswith("keptnworkloadversion."):
            return
        wv = self._decoder.decode(value)
        name = wv.metadata.name
        self.first_seen.setdefault(name, now)
        if wv.status.current_phase == WORKLOAD_PHASES_AFTER_PRE_TASKS:
            self.next_phase_after_tasks.setdefault(name, now)
        if wv.status.status in ("Succeeded", "Failed"):
            self.completed.setdefault(name, now)

    def on_task_event(self, msg: Msg, now: float) -> None:
        event = json.loads(msg.data)
        workload = event.get("name", "")
        if event.get("type") == "task.finished":
            self.task_finished[workload] = now
        elif event.get("type") == "task.started":
            self.task_started[workload] = now


async def lifecycle_round(settings: CommonSettings, count: int, with_task: bool, concurrency: int) -> dict[str, object]:
    names = Names(settings.prefix)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "m"
        write_workloads(folder, count, with_task)
        checked = check_input([str(folder)], None, settings.keptn_namespace)
        nc = await connect(settings, "bench")
        js = nc.jetstream()
        await ensure_topology(js, settings)
        observer = Observer()
        done = asyncio.Event()

        async def follow_state() -> None:
            kv = await js.key_value(names.state_bucket)
            watcher = await kv.watchall()
            async for entry in watcher:
                if entry is None:
                    continue
                observer.on_state(entry.key, entry.value, time.perf_counter())
                if len(observer.completed) >= count:
                    done.set()

        async def on_task(msg: Msg) -> None:
            observer.on_task_event(msg, time.perf_counter())

        await nc.subscribe(names.events_of("task"), cb=on_task)
        follower = asyncio.create_task(follow_state())
        options = StackOptions(task_concurrency=concurrency, metrics_http_port=0)
        async with running_services(settings, options):
            started = time.perf_counter()
            await put_desired(await js.key_value(names.desired_bucket), checked.manifests)
            await asyncio.wait_for(done.wait(), timeout=600)
            elapsed = time.perf_counter() - started
        follower.cancel()
        await nc.drain()
    per_workload = [(observer.completed[n] - observer.first_seen[n]) * ms for n in observer.completed]
    result: dict[str, object] = {
        "workloads": count,
        "elapsed_s": elapsed,
        "workloads_per_s": count / elapsed,
        "workload_ms_p50": percentile(per_workload, 50),
        "workload_ms_p99": percentile(per_workload, 99),
    }
    if with_task:
        # task names are per workload version; pair each task's finish with its workload by order of names
        tasks = await _task_owners(settings)
        advance = []
        durations = []
        for task, workload in tasks.items():
            if task in observer.task_finished and workload in observer.next_phase_after_tasks:
                advance.append((observer.next_phase_after_tasks[workload] - observer.task_finished[task]) * ms)
            if task in observer.task_finished and task in observer.task_started:
                durations.append((observer.task_finished[task] - observer.task_started[task]) * ms)
        result["phase_overhead_ms_p50"] = percentile(advance, 50)
        result["phase_overhead_ms_p99"] = percentile(advance, 99)
        result["deno_task_ms_p50"] = percentile(durations, 50)
    return result


async def _task_owners(settings: CommonSettings) -> dict[str, str]:
    """Task name → the WorkloadVersion that owns it, from the state bucket."""
    from shared.keptn.lifecycle import KeptnTask
    from shared.runtime.natsio import list_entries

    nc = await connect(settings, "bench-owners")
    kv = await nc.jetstream().key_value(Names(settings.prefix).state_bucket)
    owners = {}
    for entry in (await list_entries(kv, "keptntask.>")).values():
        task = msgspec.json.decode(entry.value, type=KeptnTask)
        if task.metadata.owner_references:
            owners[task.metadata.name] = task.metadata.owner_references[0].name
    await nc.drain()
    return owners


async def main(args: argparse.Namespace) -> None:
    async with embedded_nats() as server:
        base = common_settings({}, nats_url=server.url)
        nc = await connect(msgspec.structs.replace(base, prefix="benchbase"), "bench")
        await ensure_topology(nc.jetstream(), msgspec.structs.replace(base, prefix="benchbase"))
        baselines = await jetstream_baselines(nc, msgspec.structs.replace(base, prefix="benchbase"), 500)
        await nc.drain()
        no_tasks = await lifecycle_round(msgspec.structs.replace(base, prefix="benchplain"), args.workloads, False, 4)
        with_tasks = await lifecycle_round(
            msgspec.structs.replace(base, prefix="benchtask"), args.task_workloads, True, args.concurrency
        )
    deno = bare_deno(args.deno_rounds)
    print(f"nats-server on loopback, {os.cpu_count()} CPUs")
    print(f"baseline  JetStream publish+ack p50 {baselines['jetstream_rtt_ms_p50']:.2f} ms")
    print(f"baseline  KV compare-and-set    p50 {baselines['kv_cas_ms_p50']:.2f} ms")
    print(f"baseline  bare deno run         p50 {statistics.median(deno):.1f} ms")
    print(
        f"no tasks  {no_tasks['workloads']} workloads in {no_tasks['elapsed_s']:.2f} s: "
        f"{no_tasks['workloads_per_s']:.0f} workload versions/s; per workload p50 "
        f"{no_tasks['workload_ms_p50']:.1f} ms, p99 {no_tasks['workload_ms_p99']:.1f} ms"
    )
    print(
        f"one task  {with_tasks['workloads']} workloads in {with_tasks['elapsed_s']:.2f} s "
        f"(concurrency {args.concurrency}): task result → next phase stored p50 "
        f"{with_tasks['phase_overhead_ms_p50']:.2f} ms, p99 {with_tasks['phase_overhead_ms_p99']:.2f} ms; "
        f"deno task p50 {with_tasks['deno_task_ms_p50']:.1f} ms"
    )
    summary = {
        "phase_overhead_ms_p50": with_tasks["phase_overhead_ms_p50"],
        "phase_overhead_ms_p99": with_tasks["phase_overhead_ms_p99"],
        "jetstream_rtt_ms_p50": baselines["jetstream_rtt_ms_p50"],
        "kv_cas_ms_p50": baselines["kv_cas_ms_p50"],
        "workloads_per_s": no_tasks["workloads_per_s"],
        "workload_ms_p50": no_tasks["workload_ms_p50"],
        "workload_ms_p99": no_tasks["workload_ms_p99"],
        "deno_task_ms_p50": with_tasks["deno_task_ms_p50"],
        "bare_deno_ms_p50": statistics.median(deno),
    }
    print(json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in summary.items()}))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workloads", type=int, default=300)
    parser.add_argument("--task-workloads", type=int, default=30)
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--deno-rounds", type=int, default=15)
    asyncio.run(main(parser.parse_args()))
