"""What the task-runner writes down: the attempt book (crash safety) and the task logs (``klt logs``).

Both live in KV buckets keyed ``object_key("KeptnTask", namespace, name)``. The attempt book is written
with compare-and-set *before* an attempt starts, so a runner that dies mid-attempt leaves a record that
the next delivery reads: the killed run counts, and at most ``retries + 1`` runs ever start (KLT #667).

Task logs, as stored (JSON, camelCase)::

    {"namespace": "...", "name": "...", "uid": "...", "taskDefinition": "...", "runtime": "deno",
     "status": "Progressing|Succeeded|Failed", "reason": "...", "message": "...",
     "attempts": [{"attempt": 1, "startTime": "...", "endTime": "...", "exitCode": 1,
                   "outcome": "exit code 1", "stdout": "...", "stderr": "...",
                   "stdoutTruncated": false, "stderrTruncated": false}]}

Output is the tail of each stream, with the task's secret value replaced by ``***``.
"""

from __future__ import annotations

import msgspec

from shared.messages import TaskFinished

MASK = "***"


class RecordConflictError(Exception):
    """The attempt book changed since it was read: another replica is working on the task."""


class TaskRunRecord(msgspec.Struct, kw_only=True, rename="camel", frozen=True):
    """How far one task got: attempts started so far, when the first began, and the result once done."""

    uid: str
    attempts: int = 0
    first_start_time: str = ""
    """RFC 3339, as TaskFinished reports it."""
    first_start_epoch: float = 0.0
    """Seconds since the epoch; the whole-task deadline counts from here, across restarts."""
    finished: TaskFinished | None = None


class AttemptLog(msgspec.Struct, kw_only=True, rename="camel"):
    attempt: int
    start_time: str
    end_time: str | None = None
    exit_code: int | None = None
    outcome: str = "running"
    stdout: str = ""
    stderr: str = ""
    stdout_truncated: bool = False
    stderr_truncated: bool = False


class TaskLogs(msgspec.Struct, kw_only=True, rename="camel"):
    namespace: str
    name: str
    uid: str
    task_definition: str
    runtime: str = ""
    status: str = "Progressing"
    reason: str = ""
    message: str = ""
    attempts: list[AttemptLog] = msgspec.field(default_factory=list)


run_record_decoder = msgspec.json.Decoder(TaskRunRecord)
task_logs_decoder = msgspec.json.Decoder(TaskLogs)
_encoder = msgspec.json.Encoder()


def encode(value: TaskRunRecord | TaskLogs) -> bytes:
    return _encoder.encode(value)


def mask_secret(text: str, secret: str | None) -> str:
    """Replace every occurrence of the secret value with ``***``."""
    if not secret:
        return text
    return text.replace(secret, MASK)


def encode_logs_within(logs: TaskLogs, budget: int) -> bytes:
    """Encode the logs in at most ``budget`` bytes, dropping the oldest attempts' output first.

    Each attempt's output is already bounded; many attempts together may still not fit a KV value,
    and the latest attempts are the ones a user reads first.
    """
    encoded = encode(logs)
    for entry in logs.attempts:
        if len(encoded) <= budget:
            break
        if entry.stdout or entry.stderr:
            entry.stdout_truncated = entry.stdout_truncated or bool(entry.stdout)
            entry.stderr_truncated = entry.stderr_truncated or bool(entry.stderr)
            entry.stdout = entry.stderr = ""
            encoded = encode(logs)
    return encoded
