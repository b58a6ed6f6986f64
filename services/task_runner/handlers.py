"""Pure decisions of the task-runner: what to do with a (re)delivered RunTask given the attempt book,
and how an attempt's outcome ends the task (klt-facts §4.2, §4.5; KLT #667).

``retries`` means at most ``retries + 1`` runs in total; ``timeout`` bounds the whole task across its
attempts, as the Job's ``activeDeadlineSeconds`` does. The failure reasons and messages are the Job
conditions KLT copies into the KeptnTask status.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.task_runner.records import TaskRunRecord
from shared.keptn.states import KeptnState
from shared.messages import RunTask, TaskFinished

DEADLINE_REASON = "DeadlineExceeded"
DEADLINE_MESSAGE = "Job was active longer than specified deadline"
BACKOFF_REASON = "BackoffLimitExceeded"
BACKOFF_MESSAGE = "Job has reached the specified backoff limit"
SETUP_REASON = "TaskSetupFailed"
"""klt's own reason for a task that could not start (no definition, no code, a missing Secret...)."""
INTERRUPTED = "interrupted: the task-runner stopped during this attempt"


def max_runs(retries: int) -> int:
    """Runs allowed in total: the first one plus ``retries`` (a negative value allows one run)."""
    return max(retries, 0) + 1


def fresh_record(command: RunTask, now_rfc3339: str, now_epoch: float) -> TaskRunRecord:
    return TaskRunRecord(uid=command.uid, first_start_time=now_rfc3339, first_start_epoch=now_epoch)


def current_record(command: RunTask, stored: TaskRunRecord | None) -> TaskRunRecord | None:
    """The stored record if it belongs to this task (a re-created task with the same name starts over)."""
    if stored is None or stored.uid != command.uid:
        return None
    return stored


def deadline_epoch(record: TaskRunRecord, timeout_s: float) -> float | None:
    """When the whole task must have ended; None for ``timeout: 0`` (no deadline)."""
    return record.first_start_epoch + timeout_s if timeout_s > 0 else None


@dataclass(frozen=True, slots=True)
class StartAttempt:
    attempt: int


@dataclass(frozen=True, slots=True)
class Finish:
    status: KeptnState
    reason: str = ""
    message: str = ""


Next = StartAttempt | Finish


def next_step(record: TaskRunRecord, retries: int, now_epoch: float, deadline: float | None) -> Next:
    """Before an attempt: start the next one, or end the task because its deadline or runs are used up.

    ``record.attempts`` counts runs that *started*; one interrupted by a crash counts too.
    """
    if deadline is not None and now_epoch >= deadline:
        return Finish(KeptnState.FAILED, DEADLINE_REASON, DEADLINE_MESSAGE)
    if record.attempts >= max_runs(retries):
        return Finish(
            KeptnState.FAILED,
            BACKOFF_REASON,
            f"{BACKOFF_MESSAGE}: attempt {record.attempts} was {INTERRUPTED}",
        )
    return StartAttempt(record.attempts + 1)


def after_attempt(
    attempt: int, retries: int, succeeded: bool, timed_out: bool, outcome: str
) -> Finish | None:
    """After an attempt: the task's end, or None to run the next one. ``outcome``: e.g. "exit code 1"."""
    if succeeded:
        return Finish(KeptnState.SUCCEEDED)
    if timed_out:
        return Finish(KeptnState.FAILED, DEADLINE_REASON, DEADLINE_MESSAGE)
    if attempt >= max_runs(retries):
        return Finish(KeptnState.FAILED, BACKOFF_REASON, f"{BACKOFF_MESSAGE}: {outcome}")
    return None


def setup_failure(message: str) -> Finish:
    return Finish(KeptnState.FAILED, SETUP_REASON, message)


def finished_message(command: RunTask, record: TaskRunRecord, finish: Finish, end_time: str) -> TaskFinished:
    return TaskFinished(
        namespace=command.namespace,
        name=command.name,
        uid=command.uid,
        status=finish.status,
        attempts=record.attempts,
        start_time=record.first_start_time or end_time,
        end_time=end_time,
        reason=finish.reason,
        message=finish.message,
    )


def describe(command: RunTask, definition: str) -> str:
    """How log lines name a task: ``Task 'pre-notify-12345' (definition notify)``."""
    return f"Task '{command.name}' (definition {definition or command.task_definition})"
