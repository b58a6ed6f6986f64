"""Executing one RunTask from (re)delivery to TaskFinished, through small ports the service implements.

The order of writes is what makes a crash harmless: the attempt book is compare-and-set *before* an
attempt starts and its TaskStarted is published; the final result is written to the book before its
TaskFinished is published. A redelivered command therefore continues after the last started attempt,
or only re-publishes the result (same message id, so JetStream drops the duplicate).
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import Protocol
from urllib.parse import urlsplit

import msgspec

from services.task_runner import handlers
from services.task_runner.config import TaskRunnerConfig
from services.task_runner.contract import (
    SECURE_DATA,
    Runtime,
    deno_command,
    deno_environment,
    python_command,
    python_environment,
    task_variables,
)
from services.task_runner.downloading import DownloadError, download
from services.task_runner.handlers import Finish, StartAttempt
from services.task_runner.kube.attempts import JobPort, build_job, run_job_attempt, runs_as_job
from services.task_runner.kube.jobs import job_name
from services.task_runner.records import AttemptLog, RecordConflictError, TaskLogs, TaskRunRecord
from services.task_runner.resolving import DesiredState, SourceKind, TaskPlan, TaskSetupError, plan_task
from services.task_runner.running import Invocation, ProcessResult, run_process
from shared.durations import DurationError, parse_duration
from shared.messages import RunTask, TaskFinished, TaskStarted
from shared.runtime.outcomes import TemporaryError
from shared.runtime.publishing import now_rfc3339
from shared.runtime.secrets import SecretSource, SecretSourceError
from shared.subjects import object_key, token

log = logging.getLogger(__name__)


class RunBook(Protocol):
    async def load(self, key: str) -> tuple[TaskRunRecord | None, int | None]:
        """The stored record and its revision (the revision even if the record is unreadable)."""
        ...

    async def save(self, key: str, record: TaskRunRecord, revision: int | None) -> int:
        """Compare-and-set; raises ``RecordConflictError`` if ``revision`` is stale."""
        ...


class LogBook(Protocol):
    async def load(self, key: str) -> TaskLogs | None: ...

    async def save(self, key: str, logs: TaskLogs) -> None: ...


class EventSink(Protocol):
    async def started(self, message: TaskStarted, traceparent: str) -> None: ...

    async def finished(self, message: TaskFinished, traceparent: str) -> None: ...


class TaskExecutor:
    """Runs tasks; one instance per service, shared by every concurrent task."""

    def __init__(
        self,
        *,
        config: TaskRunnerConfig,
        keptn_namespace: str,
        desired: DesiredState,
        secrets: SecretSource,
        runs: RunBook,
        logs: LogBook,
        events: EventSink,
        deno: str,
        python: str,
        jobs: JobPort | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.keptn_namespace = keptn_namespace
        self.desired = desired
        self.secrets = secrets
        self.runs = runs
        self.logs = logs
        self.events = events
        self.deno = deno
        self.python = python
        self.jobs = jobs
        self.clock = clock
        self.work = config.work_path
        for folder in ("runs", "deno", "home"):
            (self.work / folder).mkdir(parents=True, exist_ok=True, mode=0o700)

    async def execute(self, command: RunTask) -> TaskFinished:
        """Run ``command`` to its end (or re-publish its end) and return the published TaskFinished."""
        key = object_key("KeptnTask", command.namespace, command.name)
        try:
            return await _TaskRun(self, command, key).run()
        except RecordConflictError:
            stored, _ = await self.runs.load(key)
            record = handlers.current_record(command, stored)
            if record is not None and record.finished is not None:
                await self.events.finished(record.finished, _traceparent(command))
                return record.finished
            raise TemporaryError(
                f"Task '{command.name}' is being run by another task-runner replica", self.config.ack_wait_s
            ) from None


_DENO_SUFFIXES = (".ts", ".js", ".mjs", ".mts", ".tsx", ".jsx")


def _script_name(plan: TaskPlan) -> str:
    """``function.ts``/``function.py`` as KLT mounts them; a downloaded deno script keeps its URL's suffix,
    since deno picks JavaScript or TypeScript by it."""
    if plan.runtime is Runtime.PYTHON:
        return "function.py"
    suffix = PurePosixPath(urlsplit(plan.source.url).path).suffix if plan.source.url else ""
    return f"function{suffix}" if suffix in _DENO_SUFFIXES else "function.ts"


def _traceparent(command: RunTask) -> str:
    metadata = command.context.metadata
    return metadata.get("traceparent", "") if isinstance(metadata, dict) else ""


class _TaskRun:
    """The state of one delivery of one task: its attempt book entry, revision, logs and plan."""

    def __init__(self, executor: TaskExecutor, command: RunTask, key: str) -> None:
        self.runner = executor
        self.command = command
        self.key = key
        self.name = handlers.describe(command, "")
        self.revision: int | None = None
        self.record = handlers.fresh_record(command, now_rfc3339(), executor.clock())
        self.logs = TaskLogs(
            namespace=command.namespace,
            name=command.name,
            uid=command.uid,
            task_definition=command.task_definition,
        )

    async def run(self) -> TaskFinished:
        stored, self.revision = await self.runner.runs.load(self.key)
        record = handlers.current_record(self.command, stored)
        if record is not None and record.finished is not None:
            log.info(
                "%s already finished (%s); publishing its result again", self.name, record.finished.status
            )
            await self.runner.events.finished(record.finished, _traceparent(self.command))
            return record.finished
        if record is not None:
            self.record = record
        await self._load_logs()
        try:
            timeout_s = self._timeout()
            plan = await plan_task(
                self.command,
                self.runner.desired,
                self.runner.keptn_namespace,
                containers=self.runner.jobs is not None,
            )
            secure_data = await self._secure_data(plan)
            if plan.runtime is Runtime.PYTHON:
                self._check_cmd_args(plan)
            if self._uses_jobs(plan):
                # A definition that cannot become a Job fails before any attempt starts.
                build_job(self.command, plan, self.runner.config, 1, None)
        except TaskSetupError as exc:
            log.error("%s cannot start: %s", self.name, exc)
            return await self._finish(handlers.setup_failure(str(exc)))
        self.name = handlers.describe(self.command, plan.definition)
        self.logs.runtime = str(plan.runtime)
        deadline = handlers.deadline_epoch(self.record, timeout_s)
        return await self._attempts(plan, secure_data, deadline)

    async def _attempts(
        self, plan: TaskPlan, secure_data: str | None, deadline: float | None
    ) -> TaskFinished:
        runs = handlers.max_runs(self.command.retries)
        # A Job outlives its runner: a resumed Kubernetes attempt adopts its Job instead of counting as lost.
        adopt = bool(self.record.attempts) and self._uses_jobs(plan)
        adopt = adopt and (deadline is None or self.runner.clock() < deadline)
        if adopt:
            log.warning(
                "%s resumes: adopting the Job of attempt %d/%d", self.name, self.record.attempts, runs
            )
        elif self.record.attempts:
            log.warning("%s resumes: attempt %d/%d was interrupted", self.name, self.record.attempts, runs)
        while True:
            if adopt:
                adopt = False
                attempt = self.record.attempts
                entry = self._reopen_entry(attempt)
            else:
                step = handlers.next_step(self.record, self.command.retries, self.runner.clock(), deadline)
                if not isinstance(step, StartAttempt):
                    return await self._finish(step)
                attempt = step.attempt
                self.record = msgspec.structs.replace(self.record, attempts=attempt)
                self.revision = await self.runner.runs.save(self.key, self.record, self.revision)
                entry = AttemptLog(attempt=attempt, start_time=now_rfc3339())
                self.logs.attempts.append(entry)
            started = TaskStarted(
                namespace=self.command.namespace,
                name=self.command.name,
                uid=self.command.uid,
                attempt=attempt,
                start_time=entry.start_time,
                # KLT's status.jobName: the Job this attempt runs as (named as kube/attempts names it)
                job_name=job_name(self.command.name, self.command.uid, attempt)
                if self._uses_jobs(plan)
                else "",
            )
            # The attempt is on record (above), so announcing it may overlap the run itself: the fact and
            # the log entry need not hold the process back (each is a round trip to NATS).
            announcing = asyncio.gather(
                self.runner.events.started(started, _traceparent(self.command)),
                self.runner.logs.save(self.key, self.logs),
            )
            log.info("%s attempt %d/%d started", self.name, attempt, runs)
            remaining = None if deadline is None else max(deadline - self.runner.clock(), 0.0)
            try:
                if self.runner.jobs is not None and self._uses_jobs(plan):
                    result = await run_job_attempt(
                        self.runner.jobs,
                        self.command,
                        plan,
                        self.runner.config,
                        attempt=attempt,
                        secure_data=secure_data,
                        remaining=remaining,
                        name=self.name,
                    )
                else:
                    result = await self._attempt(plan, secure_data, remaining)
            finally:
                await announcing
            self._record_attempt(entry, result)
            finish = handlers.after_attempt(
                attempt, self.command.retries, result.succeeded, result.timed_out, result.describe()
            )
            await self.runner.logs.save(self.key, self.logs)
            if not result.succeeded:
                log.warning("%s attempt %d/%d failed: %s", self.name, attempt, runs, result.describe())
            if finish is not None:
                return await self._finish(finish)

    async def _attempt(
        self, plan: TaskPlan, secure_data: str | None, remaining: float | None
    ) -> ProcessResult:
        config = self.runner.config
        folder = Path(tempfile.mkdtemp(prefix=f"{token(self.command.name)}-", dir=self.runner.work / "runs"))
        try:
            if plan.source.kind is SourceKind.HTTP:
                limit = config.http_timeout_s if remaining is None else min(config.http_timeout_s, remaining)
                try:
                    code = await download(plan.source.url, max_bytes=config.http_max_bytes, timeout_s=limit)
                except DownloadError as exc:
                    deadline_hit = exc.timed_out and limit < config.http_timeout_s
                    return ProcessResult.not_started(str(exc), timed_out=deadline_hit)
            else:
                code = plan.source.code.encode()
            script = folder / _script_name(plan)
            script.write_bytes(code)
            script_var = plan.source.url if plan.source.kind is SourceKind.HTTP else str(script)
            variables = task_variables(
                parameters=plan.parameters,
                context=self.command.context,
                cmd_args=plan.cmd_args,
                secure_data=secure_data,
                script=script_var,
            )
            if plan.runtime is Runtime.DENO:
                env = deno_environment(
                    variables, deno_dir=str(self.runner.work / "deno"), home=str(self.runner.work / "home")
                )
                argv = deno_command(self.runner.deno, str(script))
            else:
                env = python_environment(variables, path=os.environ.get("PATH", os.defpath))
                argv = python_command(self.runner.python, plan.cmd_args, str(script))
            return await run_process(
                Invocation(argv=argv, env=env, cwd=str(folder)),
                timeout_s=remaining,
                max_output_bytes=config.max_output_bytes,
                secret=secure_data,
                kill_grace_s=config.kill_grace_s,
            )
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def _uses_jobs(self, plan: TaskPlan) -> bool:
        return runs_as_job(plan, self.runner.config, self.runner.jobs)

    def _reopen_entry(self, attempt: int) -> AttemptLog:
        """The log entry of an adopted attempt, open again (``_load_logs`` closed it as interrupted)."""
        for entry in reversed(self.logs.attempts):
            if entry.attempt == attempt:
                entry.end_time, entry.outcome = None, "running"
                return entry
        entry = AttemptLog(attempt=attempt, start_time=now_rfc3339())
        self.logs.attempts.append(entry)
        return entry

    def _record_attempt(self, entry: AttemptLog, result: ProcessResult) -> None:
        entry.end_time = now_rfc3339()
        entry.exit_code = result.exit_code
        entry.outcome = "succeeded" if result.succeeded else result.describe()
        entry.stdout, entry.stderr = result.stdout, result.stderr
        entry.stdout_truncated, entry.stderr_truncated = result.stdout_truncated, result.stderr_truncated

    async def _finish(self, finish: Finish) -> TaskFinished:
        end = now_rfc3339()
        message = handlers.finished_message(self.command, self.record, finish, end)
        self.record = msgspec.structs.replace(self.record, finished=message)
        self.revision = await self.runner.runs.save(self.key, self.record, self.revision)
        self.logs.status, self.logs.reason, self.logs.message = (
            str(finish.status),
            finish.reason,
            finish.message,
        )
        await self.runner.logs.save(self.key, self.logs)
        attempts = f"{self.record.attempts} attempt{'s' if self.record.attempts != 1 else ''}"
        if finish.reason:
            log.info(
                "%s %s after %s: %s: %s", self.name, finish.status, attempts, finish.reason, finish.message
            )
        else:
            log.info("%s %s after %s", self.name, finish.status, attempts)
        await self.runner.events.finished(message, _traceparent(self.command))
        return message

    async def _load_logs(self) -> None:
        stored = await self.runner.logs.load(self.key)
        if stored is None or stored.uid != self.command.uid:
            return
        for entry in stored.attempts:
            if entry.end_time is None:
                entry.end_time = now_rfc3339()
                entry.outcome = handlers.INTERRUPTED
        self.logs = stored

    def _timeout(self) -> float:
        try:
            seconds = parse_duration(self.command.timeout)
        except DurationError as exc:
            raise TaskSetupError(f"Task '{self.command.name}': spec.timeout: {exc}") from None
        if seconds < 0:
            raise TaskSetupError(
                f"Task '{self.command.name}': spec.timeout {self.command.timeout!r} is negative"
            )
        return seconds

    def _check_cmd_args(self, plan: TaskPlan) -> None:
        try:
            python_command(self.runner.python, plan.cmd_args, "")
        except ValueError as exc:
            raise TaskSetupError(
                f"KeptnTaskDefinition '{plan.definition}': spec.python.cmdParameters cannot be split: {exc}"
            ) from None

    async def _secure_data(self, plan: TaskPlan) -> str | None:
        """The ``SECURE_DATA`` value of the named Secret, read by the runner itself (never sent on NATS)."""
        if not plan.secret:
            return None
        namespace = self.command.namespace
        try:
            values = await self.runner.secrets.get(namespace, plan.secret)
        except SecretSourceError as exc:
            raise TaskSetupError(f"Secret '{plan.secret}' could not be read: {exc}") from None
        if values is None:
            raise TaskSetupError(f"Secret '{plan.secret}' was not found in namespace '{namespace}'")
        if SECURE_DATA not in values:
            raise TaskSetupError(
                f"Secret '{plan.secret}' in namespace '{namespace}' has no key '{SECURE_DATA}'"
            )
        return values[SECURE_DATA]
