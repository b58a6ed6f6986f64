"""The task-runner's NATS wiring: the shared work consumer, the KV buckets and the published facts.

This is the only module of the service that touches NATS; ``executing`` decides everything through
the small ports implemented here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from typing import TYPE_CHECKING

import msgspec
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.kv import KeyValue

from services.task_runner.config import TaskRunnerConfig
from services.task_runner.executing import TaskExecutor
from services.task_runner.records import (
    RecordConflictError,
    TaskLogs,
    TaskRunRecord,
    encode,
    encode_logs_within,
    run_record_decoder,
    task_logs_decoder,
)
from shared.messages import RunTask, TaskFinished, TaskStarted, command_decoder
from shared.runtime.binaries import find_binary
from shared.runtime.natsio import (
    KV_VALUE_MAX_BYTES,
    RevisionConflictError,
    connect,
    ensure_topology,
    ensure_work_consumer,
    get_entry,
    put_if,
)
from shared.runtime.outcomes import PermanentError
from shared.runtime.publishing import publish
from shared.runtime.secrets import LocalSecretSource, SecretSource
from shared.runtime.serving import consume
from shared.runtime.settings import CommonSettings
from shared.subjects import Names, object_key

if TYPE_CHECKING:
    from services.task_runner.kube.runner import KubeJobs

log = logging.getLogger(__name__)

SOURCE = "klt/task-runner"
"""CloudEvents ``source`` of the facts this service publishes."""
_LOGS_BUDGET = KV_VALUE_MAX_BYTES - 16 * 1024


class _KvDesired:
    def __init__(self, kv: KeyValue) -> None:
        self.kv = kv

    async def get(self, kind: str, namespace: str, name: str) -> bytes | None:
        entry = await get_entry(self.kv, object_key(kind, namespace, name))
        return None if entry is None else entry.value


class _KvRunBook:
    def __init__(self, kv: KeyValue) -> None:
        self.kv = kv

    async def load(self, key: str) -> tuple[TaskRunRecord | None, int | None]:
        entry = await get_entry(self.kv, key)
        if entry is None:
            return None, None
        try:
            return run_record_decoder.decode(entry.value), entry.revision
        except msgspec.DecodeError:
            log.warning("The attempt record %s is unreadable; the task starts over", key)
            return None, entry.revision

    async def save(self, key: str, record: TaskRunRecord, revision: int | None) -> int:
        try:
            return await put_if(self.kv, key, encode(record), revision)
        except RevisionConflictError:
            raise RecordConflictError(key) from None


class _KvLogBook:
    def __init__(self, kv: KeyValue) -> None:
        self.kv = kv

    async def load(self, key: str) -> TaskLogs | None:
        entry = await get_entry(self.kv, key)
        if entry is None:
            return None
        try:
            return task_logs_decoder.decode(entry.value)
        except msgspec.DecodeError:
            return None

    async def save(self, key: str, logs: TaskLogs) -> None:
        await self.kv.put(key, encode_logs_within(logs, _LOGS_BUDGET))


class _JetStreamEvents:
    def __init__(self, js: JetStreamContext, names: Names) -> None:
        self.js = js
        self.names = names

    async def started(self, message: TaskStarted, traceparent: str) -> None:
        subject = self.names.event("task", "started", message.namespace, message.name)
        await publish(self.js, subject, message, message.msg_id, SOURCE, traceparent)

    async def finished(self, message: TaskFinished, traceparent: str) -> None:
        subject = self.names.event("task", "finished", message.namespace, message.name)
        await publish(self.js, subject, message, message.msg_id, SOURCE, traceparent)


def _decode(msg: Msg) -> RunTask:
    try:
        command = command_decoder.decode(msg.data)
    except msgspec.DecodeError as exc:
        raise PermanentError(f"the command on {msg.subject} cannot be decoded: {exc}") from None
    if not isinstance(command, RunTask):
        raise PermanentError(f"the command on {msg.subject} is a {type(command).__name__}, not a RunTask")
    return command


async def serve(
    common: CommonSettings,
    config: TaskRunnerConfig,
    stop: asyncio.Event,
    *,
    secrets: SecretSource | None = None,
) -> None:
    """Run tasks from the shared ``task-runner`` consumer until ``stop`` is set, then drain.

    ``secrets`` defaults to the Secret manifests named by ``config.secret_paths`` in local mode, and to
    the cluster's Secrets in Kubernetes mode (``config.kubernetes``), where container tasks run as Jobs.
    """
    async with contextlib.AsyncExitStack() as stack:
        jobs: KubeJobs | None = None
        if config.kubernetes:
            # Imported here: local mode never loads the Kubernetes client.
            from services.task_runner.kube.runner import KubeJobs
            from shared.runtime.kube import open_api_client
            from shared.runtime.secrets import KubernetesSecretSource

            api = await stack.enter_async_context(open_api_client(config.kubeconfig))
            jobs = KubeJobs(api, max_log_bytes=config.max_output_bytes)
            secrets = secrets or KubernetesSecretSource(api)
            log.info("Task runner in Kubernetes mode: container tasks run as Jobs")
        await _serve(common, config, stop, secrets, jobs)


async def _serve(
    common: CommonSettings,
    config: TaskRunnerConfig,
    stop: asyncio.Event,
    secrets: SecretSource | None,
    jobs: KubeJobs | None,
) -> None:
    names = Names(common.prefix)
    deno = find_binary("deno", "deno")
    nc = await connect(common, "klt-task-runner")
    try:
        js = nc.jetstream()
        await ensure_topology(js, common)
        executor = TaskExecutor(
            config=config,
            keptn_namespace=common.keptn_namespace,
            desired=_KvDesired(await js.key_value(names.desired_bucket)),
            secrets=secrets or LocalSecretSource(config.secret_paths, config.default_namespace),
            runs=_KvRunBook(await js.key_value(names.task_runs_bucket)),
            logs=_KvLogBook(await js.key_value(names.task_logs_bucket)),
            events=_JetStreamEvents(js, names),
            deno=deno,
            python=sys.executable,
            jobs=jobs,
        )
        subscription = await ensure_work_consumer(
            js,
            names.commands_stream,
            names.task_runner_consumer,
            [names.commands_of("task")],
            ack_wait_s=config.ack_wait_s,
            max_deliver=config.max_deliver,
        )

        async def handle(msg: Msg) -> None:
            command = _decode(msg)
            try:
                await executor.execute(command)
            except asyncio.CancelledError:
                # Stopping: hand the command back now, so another replica continues after this attempt.
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(msg.nak(), 2.0)
                raise

        log.info(
            "Task runner ready: up to %d tasks at once from %s", config.concurrency, names.commands_of("task")
        )
        await consume(
            subscription,
            handle,
            stop,
            concurrency=config.concurrency,
            heartbeat_s=config.heartbeat_s,
            grace_s=config.stop_grace_s,
            what="Task command",
        )
    finally:
        await nc.drain()
