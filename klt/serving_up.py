"""``klt up``: the whole stack, long running, for local use.

NATS is embedded (on a fixed port, so that ``klt get`` and friends find it) unless ``--nats-url`` is given.
With ``--watch PATH...`` the manifests there are kept applied: they are re-read when a file changes, the way
a GitOps tool keeps a cluster in line with a folder.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import sys
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

from nats.aio.client import Client

from klt.inputs import InputError, check_input
from klt.stack import StackOptions, running_services
from shared.runtime.desired import put_desired
from shared.runtime.embedded_nats import embedded_nats
from shared.runtime.natsio import connect, ensure_topology
from shared.runtime.serving import install_stop_signals
from shared.runtime.settings import CommonSettings, common_settings
from shared.runtime.waiting import wait_set
from shared.subjects import Names

log = logging.getLogger(__name__)

WATCH_POLL_S = 1.0


def _default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "klt" / "nats"


@contextlib.asynccontextmanager
async def _nats(args: argparse.Namespace) -> AsyncIterator[str]:
    if args.nats_url:
        yield args.nats_url
        return
    data_dir = Path(args.data_dir) if args.data_dir else _default_data_dir()
    async with embedded_nats(data_dir, port=args.port) as server:
        yield server.url


async def up(args: argparse.Namespace) -> int:
    stop = asyncio.Event()
    install_stop_signals(stop)
    async with _nats(args) as nats_url:
        settings = common_settings(nats_url=nats_url, prefix=args.prefix)
        options = StackOptions(
            deploy_command=args.deploy_command,
            secret_paths=(*args.secrets, *args.watch),
            task_concurrency=args.concurrency,
            metrics_http_port=args.metrics_port,
        )
        nc = await connect(settings, "klt-up")
        await ensure_topology(nc.jetstream(), settings)
        try:
            async with running_services(settings, options):
                sys.stdout.write(f"klt is up: NATS at {nats_url} (prefix {settings.prefix})\n")
                if args.metrics_port:
                    sys.stdout.write(f"metrics at http://127.0.0.1:{args.metrics_port}/metrics\n")
                sys.stdout.write("Stop with Ctrl-C.\n")
                sys.stdout.flush()
                if args.watch:
                    await _keep_applied(settings, nc, args.watch, stop)
                else:
                    await stop.wait()
        finally:
            await nc.drain()
    return 0


def _fingerprint(paths: Sequence[str]) -> tuple[tuple[str, float, int], ...]:
    """Name, mtime and size of every file under ``paths``: cheap to compute, changes when a file does."""
    seen = []
    for root in paths:
        base = Path(root)
        files = [base] if base.is_file() else sorted(p for p in base.rglob("*") if p.is_file())
        for file in files:
            stat = file.stat()
            seen.append((str(file), stat.st_mtime, stat.st_size))
    return tuple(seen)


async def _keep_applied(
    settings: CommonSettings, nc: Client, paths: Sequence[str], stop: asyncio.Event
) -> None:
    kv = await nc.jetstream().key_value(Names(settings.prefix).desired_bucket)
    applied: tuple[tuple[str, float, int], ...] = ()
    while not stop.is_set():
        current = _fingerprint(paths)
        if current != applied:
            applied = current
            try:
                checked = check_input(paths, None, settings.keptn_namespace)
            except InputError as exc:
                log.error(
                    "The watched manifests have problems; keeping the last good state:\n  %s",
                    "\n  ".join(exc.problems),
                )
            else:
                changed = await put_desired(kv, checked.manifests)
                sys.stdout.write(f"Applied the watched manifests: {changed} object(s) changed\n")
                sys.stdout.flush()
        await wait_set(stop, WATCH_POLL_S)
