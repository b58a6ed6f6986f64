"""Retries and deadline decisions of the task-runner (klt-facts §4.2, §4.5; KLT #667)."""

from __future__ import annotations

from services.task_runner.handlers import (
    BACKOFF_MESSAGE,
    BACKOFF_REASON,
    DEADLINE_MESSAGE,
    DEADLINE_REASON,
    Finish,
    StartAttempt,
    after_attempt,
    current_record,
    deadline_epoch,
    max_runs,
    next_step,
)
from services.task_runner.records import TaskRunRecord
from shared.keptn.lifecycle import TaskContext
from shared.keptn.states import CheckType, KeptnState
from shared.messages import RunTask


def record(attempts: int, start: float = 1000.0) -> TaskRunRecord:
    return TaskRunRecord(uid="u1", attempts=attempts, first_start_time="t", first_start_epoch=start)


def simulate(retries: int, exit_codes: list[int]) -> tuple[int, Finish]:
    """Drive the decisions the way the executor does; return the runs started and the end."""
    current = record(0)
    codes = iter(exit_codes)
    while True:
        step = next_step(current, retries, 1001.0, None)
        if isinstance(step, Finish):
            return current.attempts, step
        current = record(step.attempt)
        code = next(codes)
        end = after_attempt(step.attempt, retries, code == 0, False, f"exit code {code}")
        if end is not None:
            return current.attempts, end


def test_retries_two_means_at_most_three_runs() -> None:
    runs, end = simulate(2, [1, 1, 1, 1, 1])
    assert runs == 3
    assert end == Finish(KeptnState.FAILED, BACKOFF_REASON, f"{BACKOFF_MESSAGE}: exit code 1")


def test_a_later_success_ends_the_task_succeeded() -> None:
    runs, end = simulate(10, [1, 0])
    assert (runs, end.status) == (2, KeptnState.SUCCEEDED)


def test_zero_and_negative_retries_allow_one_run() -> None:
    assert max_runs(0) == 1
    assert max_runs(-3) == 1
    assert simulate(0, [2])[0] == 1


def test_an_interrupted_last_run_counts_and_ends_the_task() -> None:
    step = next_step(record(3), 2, 1001.0, None)
    assert isinstance(step, Finish)
    assert step.reason == BACKOFF_REASON
    assert "attempt 3 was interrupted" in step.message
    assert next_step(record(2), 2, 1001.0, None) == StartAttempt(3)


def test_the_deadline_counts_from_the_first_start_across_attempts() -> None:
    first = record(1, start=1000.0)
    deadline = deadline_epoch(first, 30.0)
    assert deadline == 1030.0
    assert next_step(first, 10, 1029.0, deadline) == StartAttempt(2)
    assert next_step(first, 10, 1030.0, deadline) == Finish(
        KeptnState.FAILED, DEADLINE_REASON, DEADLINE_MESSAGE
    )
    assert deadline_epoch(first, 0.0) is None


def test_a_timed_out_attempt_fails_with_klts_deadline_condition() -> None:
    assert after_attempt(1, 10, False, True, "deadline exceeded") == Finish(
        KeptnState.FAILED, DEADLINE_REASON, DEADLINE_MESSAGE
    )


def test_a_record_of_another_task_with_the_same_name_is_ignored() -> None:
    command = RunTask(
        namespace="ns", name="pre-x-1", uid="u2", task_definition="x", check_type=CheckType.PRE,
        context=TaskContext(),
    )  # fmt: skip
    assert current_record(command, record(2)) is None
    assert current_record(command, TaskRunRecord(uid="u2", attempts=1)) is not None
