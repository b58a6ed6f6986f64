"""The simplenode-dev example, end to end, with the demo's own pieces: the webhook receiver, a real
Prometheus scraping a real exporter, and ``klt run`` as a subprocess, exactly as a user runs it.

The ``notify`` task's Deno code is also run on its own with real deno, to pin down what it sends and how
it fails, without the stack around it.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from shared.runtime.binaries import find_binary
from tests.support.prometheus import PrometheusHandle

EXAMPLE_DIR = Path(__file__).resolve().parents[2] / "examples" / "simplenode-dev"
WORKLOAD_CONTEXT = {
    "workloadName": "simplenode-simplenode",
    "appName": "simplenode",
    "appVersion": "",
    "workloadVersion": "1.0.2",
    "taskType": "pre",
    "objectType": "Workload",
}


def _load_demo() -> ModuleType:
    """demo.py lives in a folder whose name is not a module name, so load it from its path."""
    spec = importlib.util.spec_from_file_location("simplenode_demo", EXAMPLE_DIR / "demo.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while being defined
    spec.loader.exec_module(module)
    return module


demo = _load_demo()


# --- the notify task's code on its own (real deno, no klt) ------------------------------------------


def _notify_code() -> str:
    definition = yaml.safe_load((EXAMPLE_DIR / "app" / "keptn-tasks.yaml").read_text())
    code: str = definition["spec"]["function"]["inline"]["code"]
    return code


async def _run_notify(tmp_path: Path, context: dict[str, Any], secure_data: str) -> tuple[int, str]:
    """Run the task's code as KLT's deno runtime does (same permission flags and variables)."""
    script = tmp_path / "function.ts"
    script.write_text(_notify_code())
    process = await asyncio.create_subprocess_exec(
        find_binary("deno", "deno"),
        "run",
        "--allow-net",
        "--allow-write",
        "--allow-read",
        "--allow-env=DATA,SECURE_DATA,KEPTN_CONTEXT",
        str(script),
        env={"KEPTN_CONTEXT": json.dumps(context), "SECURE_DATA": secure_data, "NO_COLOR": "1"},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await process.communicate()
    return await process.wait(), out.decode()


async def test_notify_posts_the_workload_release_step(tmp_path: Path) -> None:
    async with demo.running_receiver(echo=False) as receiver:
        secure = json.dumps({"webhook_url": receiver.url, "text": "Deployed Simplenode"})
        code, output = await _run_notify(tmp_path, WORKLOAD_CONTEXT, secure)
    assert code == 0, output
    [note] = receiver.notifications
    assert note.fields == {
        "Workload": "simplenode-simplenode",
        "Version": "1.0.2",
        "App": "simplenode",
        "Task type": "pre",
    }
    assert "pre-deployment" in note.headline


async def test_notify_handles_app_level_tasks(tmp_path: Path) -> None:
    """KLT sends objectType "App" (older releases "Application"); the tutorial's code only knew the latter."""
    context = {**WORKLOAD_CONTEXT, "workloadName": "", "workloadVersion": "", "appVersion": "0.1.0"}
    async with demo.running_receiver(echo=False) as receiver:
        for object_type in ("App", "Application"):
            context.update(objectType=object_type, taskType="post")
            code, output = await _run_notify(tmp_path, context, json.dumps({"webhook_url": receiver.url}))
            assert code == 0, output
    assert [note.fields for note in receiver.notifications] == [
        {"App": "simplenode", "Version": "0.1.0", "Task type": "post"}
    ] * 2


async def test_notify_fails_when_the_webhook_refuses_and_keeps_the_address_secret(tmp_path: Path) -> None:
    async with demo.running_receiver(echo=False) as receiver:
        wrong_path = receiver.url.replace("/hooks/simplenode", "/hooks/s3cr3t-token")
        code, output = await _run_notify(tmp_path, WORKLOAD_CONTEXT, json.dumps({"webhook_url": wrong_path}))
    assert code == 1
    assert "answered HTTP 404" in output
    assert "s3cr3t-token" not in output


async def test_notify_names_a_secret_without_a_webhook(tmp_path: Path) -> None:
    code, output = await _run_notify(tmp_path, WORKLOAD_CONTEXT, json.dumps({"text": "hello"}))
    assert code == 1
    assert "SECURE_DATA has neither 'webhook_url' nor 'slack_hook'" in output


# --- the whole example through `klt run` ------------------------------------------------------------


@dataclass
class Stack:
    receiver: Any
    prometheus_url: str
    cpus: float
    staged: Path


@pytest.fixture(scope="module")
async def stack(
    prometheus: PrometheusHandle, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Stack]:
    """The demo's receiver and staged manifests, pointed at the session's real Prometheus (the same
    ``running_prometheus()`` the demo starts)."""
    async with demo.running_receiver(echo=False) as receiver:
        cpus = await demo.wait_for_cpu_count(prometheus.url)
        staged = demo.stage_example(tmp_path_factory.mktemp("simplenode"), prometheus.url, receiver.url)
        yield Stack(receiver=receiver, prometheus_url=prometheus.url, cpus=cpus, staged=staged)


@pytest.mark.slow
async def test_passing_variant_succeeds_and_notifies_before_and_after(stack: Stack) -> None:
    stack.receiver.notifications.clear()
    run = await demo.run_klt(
        [stack.staged / "app", stack.staged / "passing-evaluations"], "--timeout", "90", echo=False
    )
    assert run.exit_code == 0, run.output
    notes = stack.receiver.notifications
    assert sorted(note.fields["Task type"] for note in notes) == ["post", "pre"], run.output
    for note in notes:
        assert note.fields["Workload"] == "simplenode-simplenode"
        assert note.fields["App"] == "simplenode"
        assert note.fields["Version"] == "1.0.2"
    assert "Failed" not in run.output


@pytest.mark.slow
async def test_seed_variant_blocks_on_a_small_machine(stack: Stack, tmp_path: Path) -> None:
    """The tutorial's `>4` target, made quick: the same definitions as v1 with 2 tries 1 s apart."""
    if stack.cpus > 4:
        pytest.skip(f"this machine has {stack.cpus:g} CPUs: the tutorial's '>4' target passes here")
    quick = tmp_path / "seed-evaluations"
    quick.mkdir()
    definitions = list(
        yaml.safe_load_all((EXAMPLE_DIR / "seed-evaluations" / "keptn-evaluations.yaml").read_text())
    )
    for definition in definitions:
        definition["apiVersion"] = "lifecycle.keptn.sh/v1"
        definition["spec"].update(retries=2, retryInterval="1s")
    (quick / "keptn-evaluations.yaml").write_text(yaml.safe_dump_all(definitions))

    stack.receiver.notifications.clear()
    run = await demo.run_klt([stack.staged / "app", quick], "--timeout", "90", echo=False)

    assert run.exit_code == 1, run.output
    assert "evaluate-dependencies" in run.output
    assert f"value '{stack.cpus:g}' did not meet objective '>4'" in run.output
    assert "Deprecated" in run.output
    # The pre-deployment notify ran before the evaluations; the post-deployment one never did.
    assert [note.fields["Task type"] for note in stack.receiver.notifications] == ["pre"]
