"""Helpers for the task-runner integration tests (no tests here): a harness over the real nats-server
that stores definitions, publishes RunTask commands and collects the facts the runner publishes."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import msgspec
from nats.aio.client import Client
from nats.aio.msg import Msg

from services.task_runner.config import TaskRunnerConfig
from services.task_runner.service import serve
from shared.keptn.lifecycle import TaskContext
from shared.keptn.meta import ObjectMeta
from shared.keptn.resources import (
    InlineCode,
    KeptnTaskDefinition,
    KeptnTaskDefinitionSpec,
    ParameterMap,
    RuntimeSpec,
    SecureParameters,
)
from shared.keptn.states import CheckType
from shared.messages import RunTask, TaskFinished, TaskStarted, worker_event_decoder
from shared.runtime.publishing import publish
from shared.runtime.secrets import SecretSource
from shared.runtime.settings import CommonSettings
from shared.subjects import Names, object_key
from tests.support.natsfix import nats_client

NS = "demo"
WAITER_CONTEXT = TaskContext(
    workload_name="waiter-waiter",
    app_name="waiter",
    workload_version="0.4",
    task_type="pre",
    object_type="Workload",
)


def definition(
    name: str,
    code: str = "",
    *,
    runtime: str = "deno",
    parameters: dict[str, str] | None = None,
    secret: str = "",
    namespace: str = NS,
    **runtime_fields: Any,
) -> KeptnTaskDefinition:
    spec = RuntimeSpec(
        inline=InlineCode(code=code) if code else None,
        parameters=ParameterMap(map=parameters or {}),
        secure_parameters=SecureParameters(secret=secret),
        **runtime_fields,
    )
    runtimes: dict[str, Any] = {runtime: spec}
    return KeptnTaskDefinition(
        metadata=ObjectMeta(name=name, namespace=namespace), spec=KeptnTaskDefinitionSpec(**runtimes)
    )


def run_task(definition_name: str, *, retries: int = 0, timeout: str = "30s", **fields: Any) -> RunTask:
    suffix = uuid.uuid4().hex[:5]
    return RunTask(
        namespace=NS,
        name=f"pre-{definition_name}-{suffix}",
        uid=uuid.uuid4().hex,
        task_definition=definition_name,
        check_type=CheckType.PRE,
        context=WAITER_CONTEXT,
        retries=retries,
        timeout=timeout,
        **fields,
    )


@dataclass
class Harness:
    settings: CommonSettings
    nc: Client
    names: Names
    events: list[TaskStarted | TaskFinished] = field(default_factory=list)
    raw: list[bytes] = field(default_factory=list)
    arrived: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def _on_event(self, msg: Msg) -> None:
        event = worker_event_decoder.decode(msg.data)
        assert isinstance(event, TaskStarted | TaskFinished)
        async with self.arrived:
            self.raw.append(msg.data)
            self.events.append(event)
            self.arrived.notify_all()

    async def put(self, kind: str, namespace: str, name: str, value: object) -> None:
        kv = await self.nc.jetstream().key_value(self.names.desired_bucket)
        await kv.put(object_key(kind, namespace, name), msgspec.json.encode(value))

    async def put_definition(self, value: KeptnTaskDefinition) -> None:
        await self.put("KeptnTaskDefinition", value.metadata.namespace, value.metadata.name, value)

    async def send(self, command: RunTask, msg_id: str | None = None) -> None:
        subject = self.names.command("task", "run", command.namespace, command.name)
        await publish(self.nc.jetstream(), subject, command, msg_id or command.msg_id, "test")

    def started(self, command: RunTask) -> list[int]:
        return [e.attempt for e in self.events if isinstance(e, TaskStarted) and e.uid == command.uid]

    def finished(self, command: RunTask) -> list[TaskFinished]:
        return [e for e in self.events if isinstance(e, TaskFinished) and e.uid == command.uid]

    async def wait_for(self, predicate: Any, timeout: float = 30.0) -> None:
        async with asyncio.timeout(timeout), self.arrived:
            await self.arrived.wait_for(predicate)

    async def wait_finished(self, command: RunTask, timeout: float = 30.0, count: int = 1) -> TaskFinished:
        await self.wait_for(lambda: len(self.finished(command)) >= count, timeout)
        return self.finished(command)[-1]

    async def logs(self, command: RunTask) -> dict[str, Any]:
        kv = await self.nc.jetstream().key_value(self.names.task_logs_bucket)
        entry = await kv.get(object_key("KeptnTask", command.namespace, command.name))
        assert entry.value is not None
        stored: dict[str, Any] = json.loads(entry.value)
        return stored

    async def raw_logs(self, command: RunTask) -> bytes:
        kv = await self.nc.jetstream().key_value(self.names.task_logs_bucket)
        entry = await kv.get(object_key("KeptnTask", command.namespace, command.name))
        return entry.value or b""


@contextlib.asynccontextmanager
async def harness(settings: CommonSettings) -> AsyncIterator[Harness]:
    async with nats_client(settings) as nc:
        names = Names(settings.prefix)
        found = Harness(settings=settings, nc=nc, names=names)
        subscription = await nc.subscribe(names.events_of("task"), cb=found._on_event)
        try:
            yield found
        finally:
            await subscription.unsubscribe()


@contextlib.asynccontextmanager
async def running_service(
    settings: CommonSettings, config: TaskRunnerConfig, secrets: SecretSource | None = None
) -> AsyncIterator[None]:
    """``serve()`` in a task for the duration of the block; stopped and awaited after it."""
    stop = asyncio.Event()
    task = asyncio.create_task(serve(settings, config, stop, secrets=secrets))
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
