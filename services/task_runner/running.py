"""Running one attempt of a task as a subprocess: its own process group, a deadline, bounded output.

The process group is what a container is to KLT: when the attempt ends (exit, deadline or the runner
stopping) everything it started is killed. On Linux the child is also asked to die with the runner
(``PR_SET_PDEATHSIG``), so a runner killed with SIGKILL leaves no task behind to repeat side effects.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import logging
import os
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass

from services.task_runner.records import MASK

log = logging.getLogger(__name__)

_READ_CHUNK = 64 * 1024
_PIPE_DRAIN_S = 2.0
"""After the attempt ended, how long to wait for its pipes to close (a daemonised grandchild may hold one)."""


@dataclass(frozen=True, slots=True)
class Invocation:
    argv: list[str]
    env: dict[str, str]
    cwd: str


@dataclass(frozen=True, slots=True)
class ProcessResult:
    exit_code: int | None
    """The exit status, or None when the process ended by a signal."""
    signal: int | None
    timed_out: bool
    stdout: str
    stderr: str
    stdout_truncated: bool
    stderr_truncated: bool
    error: str = ""
    """Why the attempt could not even start (e.g. its script could not be downloaded)."""

    @property
    def succeeded(self) -> bool:
        return self.exit_code == 0 and not self.timed_out and not self.error

    @classmethod
    def not_started(cls, error: str, *, timed_out: bool = False) -> ProcessResult:
        return cls(None, None, timed_out, "", error, False, False, error=error)

    def describe(self) -> str:
        """``exit code 1`` / ``killed by signal 9`` / ``deadline exceeded``, for logs and messages."""
        if self.error:
            return self.error
        if self.timed_out:
            return "deadline exceeded"
        if self.exit_code is not None:
            return f"exit code {self.exit_code}"
        return f"killed by signal {self.signal}"


class TailBuffer:
    """The last ``limit`` bytes of a stream, with a secret value masked even where the cut falls."""

    def __init__(self, limit: int, secret: bytes = b"") -> None:
        self._limit = limit
        self._secret = secret
        self._keep = limit + len(secret)
        self._data = bytearray()
        self._seen = 0

    def feed(self, chunk: bytes) -> None:
        self._seen += len(chunk)
        self._data += chunk
        if len(self._data) > 2 * self._keep:
            del self._data[: len(self._data) - self._keep]

    @property
    def truncated(self) -> bool:
        return self._seen > self._limit

    def text(self) -> str:
        data = bytes(self._data)
        start = max(0, len(data) - self._limit)
        secret = self._secret
        if secret and start:
            # An occurrence that straddles the cut is kept whole, so that it is masked whole.
            found = data.find(secret, max(0, start - len(secret) + 1))
            if -1 < found < start:
                start = found
        window = data[start:]
        if secret:
            window = window.replace(secret, MASK.encode())
        return window.decode("utf-8", errors="replace")


def _die_with_parent() -> Callable[[], None] | None:
    """A ``preexec_fn`` that makes the child receive SIGKILL when the runner dies (Linux only)."""
    if sys.platform != "linux":
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    except OSError:
        return None
    prctl = libc.prctl
    pr_set_pdeathsig = 1

    def set_parent_death_signal() -> None:
        prctl(pr_set_pdeathsig, int(signal.SIGKILL), 0, 0, 0)

    return set_parent_death_signal


_PREEXEC = _die_with_parent()


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


async def _pump(stream: asyncio.StreamReader | None, sink: TailBuffer) -> None:
    if stream is None:
        return
    while chunk := await stream.read(_READ_CHUNK):
        sink.feed(chunk)


async def _stop_group(process: asyncio.subprocess.Process, grace_s: float) -> None:
    """SIGTERM the group, then SIGKILL whatever is left after ``grace_s`` (as a pod deletion would)."""
    _signal_group(process.pid, signal.SIGTERM)
    try:
        await asyncio.wait_for(process.wait(), grace_s)
    except TimeoutError:
        pass
    _signal_group(process.pid, signal.SIGKILL)
    await process.wait()


async def run_process(
    invocation: Invocation,
    *,
    timeout_s: float | None,
    max_output_bytes: int,
    secret: str | None = None,
    kill_grace_s: float = 2.0,
) -> ProcessResult:
    """Run ``invocation`` to its end or ``timeout_s``; cancelling this kills the process group."""
    secret_bytes = secret.encode("utf-8", errors="surrogateescape") if secret else b""
    out, err = TailBuffer(max_output_bytes, secret_bytes), TailBuffer(max_output_bytes, secret_bytes)
    try:
        process = await asyncio.create_subprocess_exec(
            *invocation.argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=invocation.env,
            cwd=invocation.cwd,
            start_new_session=True,
            preexec_fn=_PREEXEC,
        )
    except OSError as exc:
        return ProcessResult.not_started(f"could not start {invocation.argv[0]}: {exc.strerror or exc}")
    pumps = [asyncio.create_task(_pump(process.stdout, out)), asyncio.create_task(_pump(process.stderr, err))]
    timed_out = False
    try:
        try:
            await asyncio.wait_for(process.wait(), timeout_s)
        except TimeoutError:
            timed_out = True
            await _stop_group(process, kill_grace_s)
        _signal_group(process.pid, signal.SIGKILL)  # whatever the task left running in its group
        _, pending = await asyncio.wait(pumps, timeout=_PIPE_DRAIN_S)
        for pump in pending:
            pump.cancel()
    except asyncio.CancelledError:
        _signal_group(process.pid, signal.SIGKILL)
        for pump in pumps:
            pump.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.shield(process.wait())
        raise
    finally:
        await asyncio.gather(*pumps, return_exceptions=True)
    code = process.returncode
    return ProcessResult(
        exit_code=code if code is not None and code >= 0 else None,
        signal=-code if code is not None and code < 0 else None,
        timed_out=timed_out,
        stdout=out.text(),
        stderr=err.text(),
        stdout_truncated=out.truncated,
        stderr_truncated=err.truncated,
    )
