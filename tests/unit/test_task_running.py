"""Running one attempt as a subprocess: exit status, bounded and masked output, deadline, cancellation."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest

from services.task_runner.running import Invocation, TailBuffer, run_process


def python(code: str, cwd: Path) -> Invocation:
    return Invocation(argv=[sys.executable, "-I", "-c", code], env={"PATH": os.defpath}, cwd=str(cwd))


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); it is gone for our purposes.
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split(") ", 1)[1].startswith("Z"))


def test_tail_buffer_keeps_the_tail_and_masks_a_secret_straddling_the_cut() -> None:
    buffer = TailBuffer(10, b"SECRET")
    buffer.feed(b"x" * 20 + b"SECRET" + b"abcd")
    text = buffer.text()
    assert buffer.truncated
    assert "S" not in text.replace("***", "")
    assert text.endswith("***abcd")


def test_tail_buffer_masks_every_occurrence_in_small_output() -> None:
    buffer = TailBuffer(100, b"pw")
    buffer.feed(b"pw=pw\n")
    assert buffer.text() == "***=***\n"
    assert not buffer.truncated


async def test_exit_code_and_output_are_reported(tmp_path: Path) -> None:
    result = await run_process(
        python("import sys; print('out'); print('err', file=sys.stderr); sys.exit(3)", tmp_path),
        timeout_s=20,
        max_output_bytes=1024,
    )
    assert (result.exit_code, result.stdout, result.stderr) == (3, "out\n", "err\n")
    assert result.describe() == "exit code 3"
    assert not result.succeeded


async def test_output_is_bounded_to_its_tail(tmp_path: Path) -> None:
    result = await run_process(
        python("print('a' * 100000 + 'END')", tmp_path), timeout_s=20, max_output_bytes=1000
    )
    assert result.succeeded
    assert result.stdout_truncated
    assert len(result.stdout) == 1000
    assert result.stdout.endswith("END\n")


async def test_the_deadline_kills_the_whole_process_group(tmp_path: Path) -> None:
    code = (
        "import subprocess, sys, time\n"
        f"child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        f"open({str(tmp_path / 'pid')!r}, 'w').write(str(child.pid))\n"
        "time.sleep(60)\n"
    )
    result = await run_process(python(code, tmp_path), timeout_s=1.0, max_output_bytes=1024, kill_grace_s=0.5)
    assert result.timed_out
    assert result.describe() == "deadline exceeded"
    grandchild = int((tmp_path / "pid").read_text())
    for _ in range(50):
        if not alive(grandchild):
            break
        await asyncio.sleep(0.05)
    assert not alive(grandchild)


async def test_cancelling_kills_the_task(tmp_path: Path) -> None:
    code = f"import os, time\nopen({str(tmp_path / 'pid')!r}, 'w').write(str(os.getpid()))\ntime.sleep(60)\n"
    running = asyncio.create_task(run_process(python(code, tmp_path), timeout_s=None, max_output_bytes=1024))
    for _ in range(200):
        if (tmp_path / "pid").exists() and (tmp_path / "pid").read_text():
            break
        await asyncio.sleep(0.02)
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running
    assert not alive(int((tmp_path / "pid").read_text()))


async def test_a_missing_interpreter_fails_the_attempt_with_a_clear_error(tmp_path: Path) -> None:
    invocation = Invocation(argv=[str(tmp_path / "no-such-deno"), "run"], env={}, cwd=str(tmp_path))
    result = await run_process(invocation, timeout_s=5, max_output_bytes=1024)
    assert not result.succeeded
    assert result.describe() == f"could not start {tmp_path / 'no-such-deno'}: No such file or directory"
