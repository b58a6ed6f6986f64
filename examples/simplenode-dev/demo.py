"""Run the simplenode-dev example end to end on this machine, with nothing but klt and real parts.

What it starts: a webhook receiver standing in for Slack (it prints every message the ``notify`` task
posts), and a real Prometheus scraping a real exporter, so the ``available-cpus`` metric is this
machine's true CPU count. Then it runs the example twice with ``klt run``, as a user would:

1. with the tutorial's own evaluations (``>4`` CPUs): on a machine with 4 cores or fewer the
   pre-deployment evaluation fails, so the workload is never deployed and klt exits 1;
2. with evaluations any machine passes (``>=1``): every phase succeeds, the receiver gets the pre- and
   post-deployment notifications, and klt exits 0.

Run it from the repository root: ``.venv/bin/python examples/simplenode-dev/demo.py``. It exits 0 when
both runs ended as expected. The pieces (receiver, staging, running klt) are importable so the e2e test
uses the very same code.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import os
import shutil
import socket
import sys
import tempfile
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

EXAMPLE_DIR = Path(__file__).resolve().parent
REPO_ROOT = EXAMPLE_DIR.parents[1]
if str(REPO_ROOT) not in sys.path:  # run as a script: make `tests.support` importable
    sys.path.insert(0, str(REPO_ROOT))

#: The addresses the committed manifests carry; the demo swaps in the ones it really listens on.
DEFAULT_PROMETHEUS_URL = "http://127.0.0.1:9090"
DEFAULT_WEBHOOK_URL = "http://127.0.0.1:8765/hooks/simplenode"
WEBHOOK_PATH = "/hooks/simplenode"
CPU_QUERY = "sum(kube_node_status_capacity{resource='cpu'})"
#: The folders a user passes to ``klt run``, as shipped in this example.
VARIANTS = ("app", "seed-evaluations", "passing-evaluations")


# --- the webhook receiver -------------------------------------------------------------------------


@dataclass(frozen=True)
class Notification:
    """One message the ``notify`` task posted: its headline and its labelled fields (``Workload``,
    ``Version``, ``App``, ``Task type``), read back from the Block Kit sections."""

    headline: str
    fields: dict[str, str]

    @classmethod
    def from_slack_body(cls, body: Any) -> Notification:
        fields: dict[str, str] = {}
        blocks = body.get("blocks", []) if isinstance(body, dict) else []
        for block in blocks:
            for item in block.get("fields", []) if isinstance(block, dict) else []:
                label, _, value = str(item.get("text", "")).partition("\n")
                fields[label.strip("*")] = value
        headline = str(body.get("text", "")) if isinstance(body, dict) else ""
        return cls(headline=headline, fields=fields)

    def describe(self) -> str:
        details = ", ".join(f"{label}: {value}" for label, value in self.fields.items())
        return f"{self.headline}  [{details}]"


@dataclass
class WebhookReceiver:
    """What the local stand-in for Slack has received so far."""

    url: str
    echo: bool
    notifications: list[Notification] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except ValueError:
            return web.Response(status=400, text="expected a JSON body")
        note = Notification.from_slack_body(body)
        self.notifications.append(note)
        if self.echo:
            print(f"    >>> webhook received: {note.describe()}")
        return web.Response(text="ok")  # what Slack answers, too


@contextlib.asynccontextmanager
async def running_receiver(echo: bool = True) -> AsyncIterator[WebhookReceiver]:
    """Serve ``POST /hooks/simplenode`` on a free loopback port for the duration of the context."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port: int = sock.getsockname()[1]
    receiver = WebhookReceiver(url=f"http://127.0.0.1:{port}{WEBHOOK_PATH}", echo=echo)
    app = web.Application()
    app.router.add_post(WEBHOOK_PATH, receiver.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.SockSite(runner, sock).start()
    try:
        yield receiver
    finally:
        await runner.cleanup()


# --- staging the manifests ------------------------------------------------------------------------


def stage_example(destination: Path, prometheus_url: str, webhook_url: str) -> Path:
    """Copy the example's manifest folders into ``destination`` with the real Prometheus and webhook
    addresses in place of the documented defaults. Fails loudly if a default is no longer where the demo
    expects it, so the committed manifests and the demo cannot drift apart silently."""
    replacements = {DEFAULT_PROMETHEUS_URL: prometheus_url, DEFAULT_WEBHOOK_URL: webhook_url}
    seen = dict.fromkeys(replacements, 0)
    for variant in VARIANTS:
        shutil.copytree(EXAMPLE_DIR / variant, destination / variant)
        for manifest in (destination / variant).glob("*.yaml"):
            text = manifest.read_text()
            for old, new in replacements.items():
                seen[old] += text.count(old)
                text = text.replace(old, new)
            manifest.write_text(text)
    missing = [old for old, count in seen.items() if count == 0]
    if missing:
        raise RuntimeError(f"the example's manifests no longer mention {', '.join(missing)}")
    return destination


# --- Prometheus -----------------------------------------------------------------------------------


async def wait_for_cpu_count(prometheus_url: str, timeout_s: float = 60.0) -> float:
    """The value of the example's query once Prometheus has scraped the exporter (its first scrape comes
    a few seconds after start); klt's evaluations would otherwise see an empty metric at first."""
    loop = asyncio.get_running_loop()
    give_up = loop.time() + timeout_s
    async with aiohttp.ClientSession() as session:
        while True:
            with contextlib.suppress(aiohttp.ClientError, KeyError, IndexError, ValueError):
                async with session.get(f"{prometheus_url}/api/v1/query", params={"query": CPU_QUERY}) as resp:
                    payload = await resp.json()
                    return float(payload["data"]["result"][0]["value"][1])
            if loop.time() > give_up:
                raise RuntimeError(
                    f"Prometheus at {prometheus_url} had no value for {CPU_QUERY} after {timeout_s:.0f}s"
                )
            await asyncio.sleep(0.5)


# --- running klt ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class KltRun:
    exit_code: int
    output: str


def klt_command() -> list[str]:
    """The ``klt`` script installed next to this interpreter (what a user types), else ``python -m klt``."""
    script = Path(sys.executable).parent / "klt"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "klt"]


async def run_klt(paths: Sequence[Path], *extra: str, echo: bool = True) -> KltRun:
    """Run ``klt run PATH... EXTRA...`` as a subprocess, showing its output live (indented) when ``echo``."""
    process = await asyncio.create_subprocess_exec(
        *klt_command(),
        "run",
        *(str(path) for path in paths),
        *extra,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert process.stdout is not None
    lines: list[str] = []
    async for raw in process.stdout:
        line = raw.decode(errors="replace").rstrip("\n")
        lines.append(line)
        if echo:
            print(f"    {line}")
    return KltRun(exit_code=await process.wait(), output="\n".join(lines))


# --- the demo itself ------------------------------------------------------------------------------


def check_blocked(run: KltRun, cpus: float, notes: Sequence[Notification]) -> list[str]:
    """What is wrong with the run of the tutorial's evaluations (empty when it went as expected). The
    pre-deployment ``notify`` runs before the evaluations, so only its message may have arrived."""
    if cpus > 4:
        return [] if run.exit_code == 0 else [f"klt exited {run.exit_code}, expected 0 with {cpus:g} CPUs"]
    problems = []
    task_types = [note.fields.get("Task type", "?") for note in notes]
    if task_types != ["pre"]:
        problems.append(f"the receiver got notifications {task_types}, expected only ['pre']")
    if run.exit_code != 1:
        problems.append(f"klt exited {run.exit_code}, expected 1")
    objective = f"value '{cpus:g}' did not meet objective '>4'"
    if objective not in run.output or "evaluate-dependencies" not in run.output:
        problems.append(f"the output does not say that evaluate-dependencies failed with {objective!r}")
    if "Deprecated" not in run.output:
        problems.append("the output does not show the later phases as Deprecated")
    return problems


def check_passed(run: KltRun, notes: Sequence[Notification]) -> list[str]:
    """What is wrong with the run of the passing evaluations (empty when it went as expected)."""
    problems = []
    if run.exit_code != 0:
        problems.append(f"klt exited {run.exit_code}, expected 0")
    task_types = sorted(note.fields.get("Task type", "?") for note in notes)
    if task_types != ["post", "pre"]:
        problems.append(f"the receiver got notifications {task_types}, expected ['post', 'pre']")
    return problems


async def demo(timeout_s: float) -> int:
    from tests.support.prometheus import running_prometheus  # the project's real-Prometheus harness

    klt_options = ["--timeout", f"{timeout_s:g}"]
    print("Starting a webhook receiver (standing in for Slack) and a real Prometheus ...")
    async with running_receiver() as receiver, running_prometheus() as prometheus:
        cpus = await wait_for_cpu_count(prometheus.url)
        print(f"  receiver: {receiver.url}")
        print(f"  Prometheus: {prometheus.url} reports {CPU_QUERY} = {cpus:g}")
        with tempfile.TemporaryDirectory(prefix="simplenode-dev-") as tmp:
            staged = stage_example(Path(tmp), prometheus.url, receiver.url)

            print("\n=== Run 1: the tutorial's evaluations (more than 4 CPUs) ===")
            if cpus <= 4:
                print(
                    f"This machine has {cpus:g} CPUs, so evaluate-dependencies cannot pass. Its v1alpha3\n"
                    "definition takes KLT's defaults: 10 tries 5 s apart, so expect about 50 s of waiting\n"
                    "before klt gives up and marks the later phases Deprecated."
                )
            blocked = await run_klt([staged / "app", staged / "seed-evaluations"], *klt_options)
            first_problems = check_blocked(blocked, cpus, receiver.notifications)

            print("\n=== Run 2: the same release, with evaluations any machine passes (>=1 CPU) ===")
            receiver.notifications.clear()
            passed = await run_klt([staged / "app", staged / "passing-evaluations"], *klt_options)
            second_problems = check_passed(passed, receiver.notifications)

    print()
    problems = first_problems + second_problems
    if not problems:
        print(
            f"Demo OK. With the tutorial's target '>4' on a {cpus:g}-CPU machine, klt exited "
            f"{blocked.exit_code}: the pre-deployment checks "
            + ("held the release back, as KLT holds the pod Pending" if cpus <= 4 else "passed")
            + ". With '>=1' klt exited 0: every phase succeeded, and the notify task sent the pre- and "
            "post-deployment messages to the webhook receiver."
        )
        return 0
    print("Demo FAILED: " + "; ".join(problems) + ".")
    return 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument(
        "--timeout", type=float, default=300.0, help="seconds each klt run may take (default 300)"
    )
    args = parser.parse_args(argv)
    if isinstance(sys.stdout, io.TextIOWrapper):
        sys.stdout.reconfigure(line_buffering=True)  # interleave our lines with klt's when piped
    return asyncio.run(demo(args.timeout))


if __name__ == "__main__":
    sys.exit(main())
