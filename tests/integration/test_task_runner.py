"""The task-runner against a real nats-server, real deno and real python: what it publishes and stores."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import yaml
from aiohttp import web

from services.task_runner.config import TaskRunnerConfig, task_runner_config
from services.task_runner.contract import context_json, data_json
from shared.keptn.resources import HttpRef, NameRef
from shared.keptn.states import KeptnState
from shared.runtime.secrets import LocalSecretSource
from shared.runtime.settings import CommonSettings
from tests.integration.test_task_runner_support import (
    NS,
    WAITER_CONTEXT,
    definition,
    harness,
    run_task,
    running_service,
)

SECRET_VALUE = "s3cr3t-value-42"


@pytest.fixture
def config(tmp_path: Path) -> TaskRunnerConfig:
    return task_runner_config({}, work_dir=str(tmp_path / "work"), http_max_bytes=1000, http_timeout_s=5.0)


@pytest.fixture
def secrets(tmp_path: Path) -> LocalSecretSource:
    folder = tmp_path / "secrets"
    folder.mkdir()
    (folder / "secret.yaml").write_text(
        f"apiVersion: v1\nkind: Secret\nmetadata:\n  name: notify-token\n  namespace: {NS}\n"
        f"stringData:\n  SECURE_DATA: {SECRET_VALUE}\n"
        f"---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: other-secret\n  namespace: {NS}\n"
        f"stringData:\n  token: abc\n"
    )
    return LocalSecretSource([str(folder)])


async def test_deno_task_gets_data_context_and_secret_and_its_logs_are_masked(
    klt_settings: CommonSettings, config: TaskRunnerConfig, secrets: LocalSecretSource, tmp_path: Path
) -> None:
    out = tmp_path / "deno-out.json"
    code = """
const out = JSON.parse(Deno.env.get("DATA")!).out;
await Deno.writeTextFile(out, JSON.stringify({
  data: Deno.env.get("DATA"), context: Deno.env.get("KEPTN_CONTEXT"), secret: Deno.env.get("SECURE_DATA"),
}));
console.log(`token is ${Deno.env.get("SECURE_DATA")}`);
console.error(`stderr sees ${Deno.env.get("SECURE_DATA")} too`);
"""
    parameters = {"out": str(out), "greeting": "hello <world>"}
    async with harness(klt_settings) as h, running_service(klt_settings, config, secrets):
        await h.put_definition(definition("notify", code, parameters=parameters, secret="notify-token"))
        command = run_task("notify")
        await h.send(command)
        finished = await h.wait_finished(command)

        assert (finished.status, finished.attempts, finished.reason) == (KeptnState.SUCCEEDED, 1, "")
        assert h.started(command) == [1]
        written = json.loads(out.read_text())
        assert written == {"data": data_json(parameters), "context": context_json(WAITER_CONTEXT),
                           "secret": SECRET_VALUE}  # fmt: skip
        logs = await h.logs(command)
        assert logs["status"] == "Succeeded"
        assert logs["runtime"] == "deno"
        [attempt] = logs["attempts"]
        assert (attempt["exitCode"], attempt["stdout"]) == (0, "token is ***\n")
        assert "stderr sees *** too" in attempt["stderr"]
        assert SECRET_VALUE.encode() not in await h.raw_logs(command)
        assert not any(SECRET_VALUE.encode() in raw for raw in h.raw)


async def test_a_failing_task_with_two_retries_runs_exactly_three_times(
    klt_settings: CommonSettings, config: TaskRunnerConfig, tmp_path: Path
) -> None:
    runs = tmp_path / "runs.txt"
    code = "const f = JSON.parse(Deno.env.get('DATA')!).runs;\n"
    code += "await Deno.writeTextFile(f, 'run\\n', {append: true});\nconsole.log('failing');\nDeno.exit(1);\n"
    async with harness(klt_settings) as h, running_service(klt_settings, config):
        await h.put_definition(definition("flaky", code, parameters={"runs": str(runs)}))
        command = run_task("flaky", retries=2)
        await h.send(command)
        finished = await h.wait_finished(command)

        assert finished.status == KeptnState.FAILED
        assert finished.reason == "BackoffLimitExceeded"
        assert finished.message == "Job has reached the specified backoff limit: exit code 1"
        assert finished.attempts == 3
        assert runs.read_text().splitlines() == ["run", "run", "run"]
        assert h.started(command) == [1, 2, 3]
        logs = await h.logs(command)
        assert [a["exitCode"] for a in logs["attempts"]] == [1, 1, 1]
        assert logs["reason"] == "BackoffLimitExceeded"


async def test_the_timeout_bounds_the_whole_task(
    klt_settings: CommonSettings, config: TaskRunnerConfig
) -> None:
    code = "await new Promise((resolve) => setTimeout(resolve, 60000));\n"
    async with harness(klt_settings) as h, running_service(klt_settings, config):
        await h.put_definition(definition("sleepy", code))
        command = run_task("sleepy", retries=10, timeout="2s")
        await h.send(command)
        finished = await h.wait_finished(command, timeout=20)

        assert finished.status == KeptnState.FAILED
        assert finished.reason == "DeadlineExceeded"
        assert finished.message == "Job was active longer than specified deadline"
        assert h.started(command) == [1]
        assert (await h.logs(command))["attempts"][0]["outcome"] == "deadline exceeded"


async def test_python_task_with_secret_cmd_args_and_yaml(
    klt_settings: CommonSettings, config: TaskRunnerConfig, secrets: LocalSecretSource, tmp_path: Path
) -> None:
    out = tmp_path / "py-out.yaml"
    code = """
import json, os, sys
import requests, yaml
environ = open("/proc/self/environ", "rb").read().split(b"\\0")
names = sorted(item.split(b"=", 1)[0].decode() for item in environ if item)
data = json.loads(os.environ["DATA"])
with open(data["out"], "w") as f:
    yaml.safe_dump({"env": names, "secret": os.environ["SECURE_DATA"],
                    "no_bytecode": sys.flags.dont_write_bytecode,
                    "script_is_argv0": os.environ["SCRIPT"] == sys.argv[0]}, f)
print("secret:", os.environ["SECURE_DATA"])
"""
    async with harness(klt_settings) as h, running_service(klt_settings, config, secrets):
        await h.put_definition(
            definition("py-check", code, runtime="python", parameters={"out": str(out)}, cmd_parameters="-B")
        )
        command = run_task("py-check", secure_parameters_secret="notify-token")
        await h.send(command)
        finished = await h.wait_finished(command)

        assert finished.status == KeptnState.SUCCEEDED, (await h.logs(command))["attempts"][0]["stderr"]

        written = yaml.safe_load(out.read_text())
        assert written == {
            "env": ["CMD_ARGS", "DATA", "KEPTN_CONTEXT", "PATH", "SCRIPT", "SECURE_DATA"],
            "secret": SECRET_VALUE,
            "no_bytecode": 1,
            "script_is_argv0": True,
        }
        assert (await h.logs(command))["attempts"][0]["stdout"] == "secret: ***\n"


async def test_function_ref_runs_the_parents_code_with_merged_parameters(
    klt_settings: CommonSettings, config: TaskRunnerConfig
) -> None:
    async with harness(klt_settings) as h, running_service(klt_settings, config):
        parent_params = {"user": "myotheruser", "data": "myotherdata", "other": "data"}
        await h.put_definition(
            definition("parent", 'console.log(Deno.env.get("DATA"));', parameters=parent_params)
        )
        await h.put_definition(
            definition(
                "child", parameters={"user": "myuser", "data": "mydata"}, function_ref=NameRef(name="parent")
            )
        )
        command = run_task("child")
        await h.send(command)
        finished = await h.wait_finished(command)

        assert finished.status == KeptnState.SUCCEEDED
        stdout = (await h.logs(command))["attempts"][0]["stdout"]
        assert stdout == '{"data":"mydata","other":"data","user":"myuser"}\n'


async def test_code_from_a_config_map(klt_settings: CommonSettings, config: TaskRunnerConfig) -> None:
    async with harness(klt_settings) as h, running_service(klt_settings, config):
        config_map = {
            "metadata": {"name": "fn-code", "namespace": NS},
            "data": {"code": "print('from the map')"},
        }
        await h.put("ConfigMap", NS, "fn-code", config_map)
        await h.put_definition(definition("cm", runtime="python", config_map_ref=NameRef(name="fn-code")))
        command = run_task("cm")
        await h.send(command)
        finished = await h.wait_finished(command)

        assert finished.status == KeptnState.SUCCEEDED
        assert (await h.logs(command))["attempts"][0]["stdout"] == "from the map\n"


@pytest.fixture
async def script_server() -> AsyncIterator[str]:
    async def small(_: web.Request) -> web.Response:
        return web.Response(text="import os\nprint('downloaded from', os.environ['SCRIPT'])\n")

    async def big(_: web.Request) -> web.Response:
        return web.Response(text="#" * 5000)

    app = web.Application()
    app.router.add_get("/task.py", small)
    app.router.add_get("/big.py", big)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


async def test_code_from_an_http_ref_and_a_too_large_script(
    klt_settings: CommonSettings, config: TaskRunnerConfig, script_server: str
) -> None:
    async with harness(klt_settings) as h, running_service(klt_settings, config):
        await h.put_definition(
            definition("web", runtime="python", http_ref=HttpRef(url=f"{script_server}/task.py"))
        )
        await h.put_definition(
            definition("huge", runtime="python", http_ref=HttpRef(url=f"{script_server}/big.py"))
        )
        small, huge = run_task("web"), run_task("huge")
        await h.send(small)
        await h.send(huge)
        ok = await h.wait_finished(small)
        failed = await h.wait_finished(huge)

        assert ok.status == KeptnState.SUCCEEDED
        assert (await h.logs(small))["attempts"][0]["stdout"] == f"downloaded from {script_server}/task.py\n"
        assert failed.status == KeptnState.FAILED
        assert failed.message == (
            "Job has reached the specified backoff limit: could not download "
            f"{script_server}/big.py: it is 5000 bytes, larger than the limit of 1000 bytes"
        )


async def test_tasks_that_cannot_start_fail_at_once_with_a_clear_message(
    klt_settings: CommonSettings, config: TaskRunnerConfig, secrets: LocalSecretSource
) -> None:
    async with harness(klt_settings) as h, running_service(klt_settings, config, secrets):
        await h.put_definition(definition("needs-secret", "console.log(1)", secret="no-such-secret"))
        await h.put_definition(definition("wrong-key", "console.log(1)", secret="other-secret"))
        missing_definition = run_task("ghost")
        missing_secret = run_task("needs-secret")
        missing_key = run_task("wrong-key")
        for command in (missing_definition, missing_secret, missing_key):
            await h.send(command)
        no_definition = await h.wait_finished(missing_definition)
        no_secret = await h.wait_finished(missing_secret)
        no_key = await h.wait_finished(missing_key)

        assert (no_definition.status, no_definition.reason) == (KeptnState.FAILED, "TaskSetupFailed")
        assert no_definition.message == (
            f"KeptnTaskDefinition 'ghost' was not found in namespace '{NS}' or 'keptn-system'"
        )
        assert no_secret.message == f"Secret 'no-such-secret' was not found in namespace '{NS}'"
        assert no_key.message == f"Secret 'other-secret' in namespace '{NS}' has no key 'SECURE_DATA'"
        assert no_key.reason == "TaskSetupFailed"
        assert h.started(missing_definition) == h.started(missing_secret) == []
        assert (no_definition.attempts, no_secret.attempts) == (0, 0)


async def test_a_redelivered_finished_task_only_republishes_its_result(
    klt_settings: CommonSettings, config: TaskRunnerConfig, tmp_path: Path
) -> None:
    runs = tmp_path / "runs.txt"
    code = "await Deno.writeTextFile(JSON.parse(Deno.env.get('DATA')!).runs, 'run\\n', {append: true});\n"
    async with harness(klt_settings) as h, running_service(klt_settings, config):
        await h.put_definition(definition("once", code, parameters={"runs": str(runs)}))
        command = run_task("once")
        await h.send(command)
        first = await h.wait_finished(command)
        await h.send(command, msg_id=f"{command.uid}:again")  # a second delivery of the same task
        again = await h.wait_finished(command, count=2)

        assert again == first
        assert h.started(command) == [1]
        assert runs.read_text() == "run\n"


async def test_a_stopping_runner_kills_its_task_and_hands_the_command_back(
    klt_settings: CommonSettings, tmp_path: Path
) -> None:
    runs = tmp_path / "runs.txt"
    code = """
import json, os, time
path = json.loads(os.environ["DATA"])["runs"]
with open(path, "a") as f:
    f.write("run\\n")
if len(open(path).read().splitlines()) == 1:
    time.sleep(60)
"""
    config = task_runner_config({}, work_dir=str(tmp_path / "work"), stop_grace_s=0.2)
    async with harness(klt_settings) as h:
        await h.put_definition(definition("slow", code, runtime="python", parameters={"runs": str(runs)}))
        command = run_task("slow", retries=1)
        async with running_service(klt_settings, config):
            await h.send(command)
            await h.wait_for(lambda: h.started(command) == [1])
        async with running_service(klt_settings, config):
            finished = await h.wait_finished(command, timeout=20)

        assert (finished.status, finished.attempts) == (KeptnState.SUCCEEDED, 2)
        assert runs.read_text().splitlines() == ["run", "run"]
