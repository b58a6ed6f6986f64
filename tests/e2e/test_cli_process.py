"""The `klt` command as a user runs it: a separate process, its exit codes and what it prints."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import pytest

from shared.runtime.embedded_nats import free_port
from tests.e2e import cases

HELLO = """
const data = JSON.parse(Deno.env.get("DATA") ?? "{}");
console.log(`hello from ${data.who}`);
"""


async def klt(*args: str, timeout: float = 90) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "klt", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "NO_COLOR": "1"},
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), timeout)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


def _folder(tmp_path: Path) -> Path:
    folder = tmp_path / "m"
    cases.write(
        folder,
        "all.yaml",
        cases.namespace(),
        cases.deployment("web", version="1.2.3", pre_tasks="hello"),
        cases.deno_task("hello", HELLO, params={"who": "klt"}),
    )
    return folder


async def test_run_prints_progress_and_a_summary_and_exits_zero(tmp_path: Path) -> None:
    code, out, err = await klt("run", str(_folder(tmp_path)))
    assert code == 0, err
    assert "AppVersion web-1.2.3-6b86b273: AppDeploy Progressing" in out
    assert "WorkloadVersion web-web-1.2.3: WorkloadPreDeployTasks" in out
    assert "Task pre-hello-" in out
    assert "1 of 1 AppVersions succeeded." in out


async def test_run_json_output_is_a_kubernetes_list(tmp_path: Path) -> None:
    code, out, err = await klt("run", "--output", "json", str(_folder(tmp_path)))
    assert code == 0, err
    document = json.loads(out)
    assert document["kind"] == "List"
    kinds = [item["kind"] for item in document["items"]]
    assert kinds == ["KeptnAppVersion", "KeptnWorkloadVersion", "KeptnTask"]
    assert all(item["apiVersion"] == "lifecycle.keptn.sh/v1" for item in document["items"])


async def test_run_with_bad_input_exits_two(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    (folder / "bad.yaml").write_text("kind: Deployment\napiVersion: apps/v1\nmetadata: [\n")
    code, out, err = await klt("run", str(folder))
    assert code == 2
    assert "bad.yaml" in err
    assert out == ""


@pytest.mark.slow
async def test_up_apply_get_logs_events_against_a_running_stack(tmp_path: Path) -> None:
    port = free_port()
    url = f"nats://127.0.0.1:{port}"
    up = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "klt", "up", "--port", str(port), "--data-dir", str(tmp_path / "nats"),
        "--metrics-port", "0",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        assert up.stdout is not None
        first = await asyncio.wait_for(up.stdout.readline(), 30)
        assert b"klt is up" in first
        code, out, err = await klt("apply", "--nats-url", url, "-f", str(_folder(tmp_path)))
        assert code == 0, err
        for _ in range(100):
            code, out, err = await klt("get", "appversions", "--nats-url", url)
            if "Succeeded" in out:
                break
            await asyncio.sleep(0.2)
        assert code == 0, err
        assert "web-1.2.3-6b86b273" in out
        assert "Completed" in out
        code, out, err = await klt("get", "tasks", "--nats-url", url, "-o", "json")
        task_name = json.loads(out)["items"][0]["metadata"]["name"]
        code, out, err = await klt("logs", task_name, "--nats-url", url)
        assert code == 0, err
        assert "hello from klt" in out
        code, out, err = await klt("events", "--nats-url", url)
        assert code == 0, err
        assert "WorkloadPreDeployTasksStarted" in out
        assert "AppCompletedFinished" in out
        code, out, err = await klt("describe", "workloadversion", "web-web-1.2.3", "--nats-url", url)
        assert code == 0, err
        assert "currentPhase: Completed" in out
    finally:
        up.terminate()
        await asyncio.wait_for(up.wait(), 30)
