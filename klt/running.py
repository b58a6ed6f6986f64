"""``klt run``: one release lifecycle, end to end, as a CI gate.

It checks the input, starts NATS (embedded unless ``--nats-url``) and the four services in this process,
stores the desired state, follows the state bucket until every AppVersion has finished, prints a summary
(or a ``kind: List`` of KLT objects) and returns the exit code: 0 all succeeded, 1 any failed or timed
out, 2 bad input (then nothing was started).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import msgspec
from nats.js.kv import KeyValue

from klt.inputs import CheckedInput, InputError, check_input
from klt.narration import summary
from klt.objects import TERMINAL, Snapshot, decode_state_entry
from klt.stack import StackOptions, running_services
from klt.views import ProgressView, choose_view
from shared.keptn.lifecycle import KeptnAppVersion, KeptnEvaluation, KeptnTask
from shared.keptn.states import KeptnState
from shared.runtime.desired import put_desired
from shared.runtime.embedded_nats import embedded_nats
from shared.runtime.natsio import connect, ensure_topology
from shared.runtime.settings import CommonSettings, common_settings
from shared.subjects import Names

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2


@dataclass(frozen=True)
class RunRequest:
    paths: list[str]
    timeout_s: float = 600.0
    output: str = "text"
    nats_url: str | None = None
    data_dir: str | None = None
    deploy_command: str | None = None
    namespace: str | None = None
    task_concurrency: int = 4
    live: bool | None = None


async def run(request: RunRequest, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    base = common_settings()
    try:
        checked = check_input(request.paths, request.namespace, base.keptn_namespace)
    except InputError as exc:
        err.write("klt run: the input has problems; nothing was run:\n")
        for problem in exc.problems:
            err.write(f"  {problem}\n")
        return EXIT_BAD_INPUT
    progress_out = err if request.output == "json" else out
    view = choose_view(progress_out, request.live if request.output == "text" else False)
    async with _nats(request) as (nats_url, prefix):
        settings = msgspec.structs.replace(base, nats_url=nats_url, prefix=prefix)
        snapshot, finished = await _follow_and_run(request, settings, checked, view)
    view.close()
    if request.output == "json":
        out.write(json.dumps(_as_list(snapshot), indent=2) + "\n")
    else:
        out.write("\n" + "\n".join(summary(snapshot)) + "\n")
    if not finished:
        err.write(f"klt run: timed out after {request.timeout_s:g}s before every AppVersion finished\n")
        return EXIT_FAILED
    app_versions = snapshot.of_kind(KeptnAppVersion)
    return EXIT_OK if all(av.status.status is KeptnState.SUCCEEDED for av in app_versions) else EXIT_FAILED


@contextlib.asynccontextmanager
async def _nats(request: RunRequest) -> AsyncIterator[tuple[str, str]]:
    """The NATS URL and prefix to use: an embedded server with klt's own prefix, or the given server with a
    prefix of this run's own so that runs sharing a server never see each other's state."""
    if request.nats_url:
        yield request.nats_url, f"kltrun{secrets.token_hex(4)}"
        return
    async with embedded_nats(Path(request.data_dir) if request.data_dir else None) as server:
        yield server.url, common_settings().prefix


async def _follow_and_run(
    request: RunRequest, settings: CommonSettings, checked: CheckedInput, view: ProgressView
) -> tuple[Snapshot, bool]:
    names = Names(settings.prefix)
    expected = set(checked.expected_app_versions())
    snapshot = Snapshot()
    all_done = asyncio.Event()
    nc = await connect(settings, "klt-run")
    try:
        js = nc.jetstream()
        await ensure_topology(js, settings)
        state = await js.key_value(names.state_bucket)
        follower = asyncio.create_task(_follow(state, snapshot, view, expected, all_done))
        options = StackOptions(
            deploy_command=request.deploy_command,
            secret_paths=tuple(request.paths),
            default_namespace=request.namespace,
            task_concurrency=request.task_concurrency,
            metrics_http_port=0,
        )
        async with running_services(settings, options):
            await put_desired(await js.key_value(names.desired_bucket), checked.manifests)
            try:
                await asyncio.wait_for(all_done.wait(), timeout=request.timeout_s)
                finished = True
            except TimeoutError:
                finished = False
            await _let_items_settle(snapshot, grace_s=3.0)
        follower.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await follower
    finally:
        await nc.drain()
    return snapshot, finished


async def _follow(
    state: KeyValue,
    snapshot: Snapshot,
    view: ProgressView,
    expected: set[tuple[str, str]],
    all_done: asyncio.Event,
) -> None:
    watcher = await state.watchall()
    try:
        async for entry in watcher:
            if entry is None or entry.value is None or entry.operation is not None:
                continue
            obj = decode_state_entry(entry.key, entry.value)
            if obj is None:
                continue
            previous = snapshot.add(obj)
            view.changed(previous, obj, snapshot)
            if _every_app_version_finished(snapshot, expected):
                all_done.set()
    finally:
        await watcher.stop()  # type: ignore[no-untyped-call]


def _every_app_version_finished(snapshot: Snapshot, expected: set[tuple[str, str]]) -> bool:
    finished = {
        (av.metadata.namespace, av.metadata.name)
        for av in snapshot.of_kind(KeptnAppVersion)
        if av.status.status in TERMINAL
    }
    return expected <= finished


async def _let_items_settle(snapshot: Snapshot, grace_s: float) -> None:
    """Give tasks and evaluations still running when the outcome was decided a moment to report, so the
    summary shows their end rather than 'Progressing' (the outcome itself no longer depends on them)."""
    loop = asyncio.get_running_loop()
    give_up = loop.time() + grace_s
    while loop.time() < give_up:
        if all(_item_finished(obj) for obj in snapshot.objects.values()):
            return
        await asyncio.sleep(0.05)


def _item_finished(obj: object) -> bool:
    if isinstance(obj, KeptnTask):
        return obj.status.status.is_completed
    if isinstance(obj, KeptnEvaluation):
        return obj.status.overall_status.is_completed
    return True


def _as_list(snapshot: Snapshot) -> dict[str, object]:
    """KLT's objects as ``kubectl get -o json`` would print them."""
    items = [msgspec.to_builtins(obj) for obj in snapshot.ordered()]
    return {"apiVersion": "v1", "kind": "List", "items": items, "metadata": {"resourceVersion": ""}}
