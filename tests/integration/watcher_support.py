"""Helpers for the watcher's integration tests: manifests in a folder, the watcher in a task, and a
stand-in for the task-runner and evaluator that answers every command the way the test says."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import msgspec
from nats.aio.client import Client
from nats.aio.msg import Msg

from services.watcher.config import WatcherConfig, watcher_config
from services.watcher.service import serve
from shared.keptn.lifecycle import KeptnAppVersion, KeptnTask, KeptnWorkloadVersion
from shared.keptn.states import KeptnState
from shared.manifests import load_paths
from shared.messages import (
    EvaluationFinished,
    LifecycleEvent,
    RunEvaluation,
    RunTask,
    TaskFinished,
    any_decoder,
    command_decoder,
)
from shared.runtime.desired import put_desired
from shared.runtime.natsio import get_entry
from shared.runtime.publishing import now_rfc3339, publish
from shared.runtime.settings import CommonSettings
from shared.subjects import Names, object_key

NS = "demo"
TERMINAL = (KeptnState.SUCCEEDED, KeptnState.FAILED, KeptnState.DEPRECATED)


def manifests(
    *,
    version: str = "1.0",
    app_pre_tasks: tuple[str, ...] = (),
    app_pre_evaluations: tuple[str, ...] = (),
    app_post_tasks: tuple[str, ...] = (),
    workload_pre_tasks: tuple[str, ...] = (),
    workload_post_evaluations: tuple[str, ...] = (),
    block_deployment: bool = True,
    observability_timeout: str = "5m",
    app_revision: int | None = None,
) -> str:
    """One app ``shop`` with one workload ``web``, its context and the definitions it names."""
    names = {*app_pre_tasks, *app_post_tasks, *workload_pre_tasks}
    evaluations = {*app_pre_evaluations, *workload_post_evaluations}
    docs = [
        f"""apiVersion: lifecycle.keptn.sh/v1
kind: KeptnTaskDefinition
metadata: {{name: {name}, namespace: {NS}}}
spec:
  deno:
    inline: {{code: "console.log('hi')"}}
"""
        for name in sorted(names)
    ]
    docs += [
        f"""apiVersion: lifecycle.keptn.sh/v1
kind: KeptnEvaluationDefinition
metadata: {{name: {name}, namespace: {NS}}}
spec:
  retries: 3
  retryInterval: 1s
  objectives:
    - keptnMetricRef: {{name: cpu}}
      evaluationTarget: "<5"
"""
        for name in sorted(evaluations)
    ]
    docs.append(
        f"""apiVersion: lifecycle.keptn.sh/v1
kind: KeptnAppContext
metadata: {{name: shop, namespace: {NS}}}
spec:
  preDeploymentTasks: {list(app_pre_tasks)}
  preDeploymentEvaluations: {list(app_pre_evaluations)}
  postDeploymentTasks: {list(app_post_tasks)}
  metadata: {{team: shop}}
"""
    )
    if app_revision is not None:
        docs.append(
            f"""apiVersion: lifecycle.keptn.sh/v1
kind: KeptnApp
metadata: {{name: shop, namespace: {NS}}}
spec:
  version: "{version}"
  revision: {app_revision}
  workloads: [{{name: web, version: "{version}"}}]
"""
        )
    docs.append(
        f"""apiVersion: options.keptn.sh/v1alpha1
kind: KeptnConfig
metadata: {{name: config, namespace: {NS}}}
spec:
  blockDeployment: {str(block_deployment).lower()}
  observabilityTimeout: {observability_timeout}
"""
    )
    docs.append(
        f"""apiVersion: apps/v1
kind: Deployment
metadata: {{name: web, namespace: {NS}}}
spec:
  template:
    metadata:
      annotations:
        keptn.sh/app: shop
        keptn.sh/workload: web
        keptn.sh/version: "{version}"
        keptn.sh/pre-deployment-tasks: "{",".join(workload_pre_tasks)}"
        keptn.sh/post-deployment-evaluations: "{",".join(workload_post_evaluations)}"
    spec:
      containers: [{{name: web, image: "shop/web:{version}"}}]
"""
    )
    return "---\n".join(docs)


async def put_manifests(nc: Client, settings: CommonSettings, folder: Path, text: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "app.yaml").write_text(text)
    kv = await nc.jetstream().key_value(Names(settings.prefix).desired_bucket)
    await put_desired(kv, load_paths([str(folder)]))


@contextlib.asynccontextmanager
async def running_watcher(
    settings: CommonSettings, config: WatcherConfig | None = None
) -> AsyncIterator[None]:
    stop = asyncio.Event()
    task = asyncio.create_task(serve(settings, config or watcher_config({}), stop))
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=15)


_decoders = {
    "KeptnAppVersion": msgspec.json.Decoder(KeptnAppVersion),
    "KeptnWorkloadVersion": msgspec.json.Decoder(KeptnWorkloadVersion),
    "KeptnTask": msgspec.json.Decoder(KeptnTask),
}


async def stored(nc: Client, settings: CommonSettings, kind: str, name: str) -> msgspec.Struct | None:
    kv = await nc.jetstream().key_value(Names(settings.prefix).state_bucket)
    entry = await get_entry(kv, object_key(kind, NS, name))
    return None if entry is None else _decoders[kind].decode(entry.value)


async def wait_terminal(
    nc: Client, settings: CommonSettings, kind: str, name: str, timeout: float = 20
) -> msgspec.Struct:
    """Poll the state bucket until the object's overall status is final."""
    async with asyncio.timeout(timeout):
        while True:
            obj = await stored(nc, settings, kind, name)
            if obj is not None and obj.status.status in TERMINAL:  # type: ignore[attr-defined]
                return obj
            await asyncio.sleep(0.02)


@dataclass
class Workers:
    """Plays the task-runner and evaluator: answers each command; definitions in ``failing`` fail.
    With ``paused`` set, commands are received (and counted) but not answered until it is cleared."""

    nc: Client
    settings: CommonSettings
    failing: set[str] = field(default_factory=set)
    msg_ids: list[str] = field(default_factory=list)
    commands: list[RunTask | RunEvaluation] = field(default_factory=list)
    paused: asyncio.Event = field(default_factory=asyncio.Event)
    held: list[RunTask | RunEvaluation] = field(default_factory=list)

    async def run(self, stop: asyncio.Event) -> None:
        names = Names(self.settings.prefix)
        js = self.nc.jetstream()
        sub = await js.pull_subscribe(
            names.commands_all, durable="test-workers", stream=names.commands_stream
        )
        try:
            while not stop.is_set():
                try:
                    msgs = await sub.fetch(10, timeout=0.1)
                except (TimeoutError, Exception):  # nats' fetch timeout, or the connection closing
                    msgs = []
                for msg in msgs:
                    await self._handle(msg)
                if not self.paused.is_set():
                    while self.held:
                        await self._answer(self.held.pop(0))
        finally:
            # Replies that arrived after the last fetch would otherwise hold up draining.
            await sub.unsubscribe()

    async def _handle(self, msg: Msg) -> None:
        command = command_decoder.decode(msg.data)
        self.msg_ids.append(msg.headers["Nats-Msg-Id"] if msg.headers else "")
        self.commands.append(command)
        await msg.ack()
        if self.paused.is_set():
            self.held.append(command)
        else:
            await self._answer(command)

    async def _answer(self, command: RunTask | RunEvaluation) -> None:
        names = Names(self.settings.prefix)
        js = self.nc.jetstream()
        now = now_rfc3339()
        if isinstance(command, RunTask):
            ok = command.task_definition not in self.failing
            event: TaskFinished | EvaluationFinished = TaskFinished(
                namespace=command.namespace,
                name=command.name,
                uid=command.uid,
                status=KeptnState.SUCCEEDED if ok else KeptnState.FAILED,
                attempts=1,
                start_time=now,
                end_time=now,
                message="" if ok else "exit code 1",
            )
            subject = names.event("task", "finished", command.namespace, command.name)
        else:
            ok = command.evaluation_definition not in self.failing
            event = EvaluationFinished(
                namespace=command.namespace,
                name=command.name,
                uid=command.uid,
                overall_status=KeptnState.SUCCEEDED if ok else KeptnState.FAILED,
                retry_count=1,
                evaluation_status={},
                start_time=now,
                end_time=now,
            )
            subject = names.event("evaluation", "finished", command.namespace, command.name)
        await publish(js, subject, event, event.msg_id, "test/workers")


@contextlib.asynccontextmanager
async def answering(workers: Workers) -> AsyncIterator[Workers]:
    stop = asyncio.Event()
    task = asyncio.create_task(workers.run(stop))
    try:
        yield workers
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=5)


@contextlib.asynccontextmanager
async def lifecycle_events(nc: Client, settings: CommonSettings) -> AsyncIterator[list[LifecycleEvent]]:
    """Every LifecycleEvent the watcher publishes while the context is open."""
    seen: list[LifecycleEvent] = []

    async def collect(msg: Msg) -> None:
        decoded = any_decoder.decode(msg.data)
        if isinstance(decoded, LifecycleEvent):
            seen.append(decoded)

    sub = await nc.subscribe(Names(settings.prefix).events_of("lifecycle"), cb=collect)
    try:
        yield seen
    finally:
        await sub.unsubscribe()
