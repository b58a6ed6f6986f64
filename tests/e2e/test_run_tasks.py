"""`klt run` end to end with tasks: real services, real nats-server, real deno and python."""

from __future__ import annotations

import json
from pathlib import Path

from tests.e2e import cases
from tests.e2e.conftest import KltRun

RECORD = """
const data = JSON.parse(Deno.env.get("DATA") ?? "{}");
const context = JSON.parse(Deno.env.get("KEPTN_CONTEXT") ?? "{}");
await Deno.writeTextFile(data.out, JSON.stringify({data, context}) + "\\n", { append: true });
if (data.fail === "yes") { console.error("failing on purpose"); Deno.exit(3); }
"""


def runs(path: Path) -> list[dict[str, object]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


async def test_success_runs_pre_and_post_tasks_once_each(tmp_path: Path, klt_run: KltRun) -> None:
    out = tmp_path / "runs.jsonl"
    cases.write(
        tmp_path / "m",
        "all.yaml",
        cases.namespace(),
        cases.deployment("web", version="2.1.0", pre_tasks="record", post_tasks="record"),
        cases.deno_task("record", RECORD, params={"out": str(out)}),
    )
    result = await klt_run(tmp_path / "m")
    assert result.code == 0, result.err
    av = result.one("KeptnAppVersion")
    assert av["metadata"]["name"] == "web-2.1.0-6b86b273"
    assert av["status"]["status"] == "Succeeded"
    assert av["status"]["currentPhase"] == "Completed"
    wv = result.one("KeptnWorkloadVersion")
    assert wv["metadata"]["name"] == "web-web-2.1.0"
    assert wv["status"]["preDeploymentStatus"] == "Succeeded"
    assert wv["status"]["deploymentStatus"] == "Succeeded"
    assert wv["status"]["postDeploymentStatus"] == "Succeeded"
    contexts = [r["context"] for r in runs(out)]
    assert sorted(c["taskType"] for c in contexts) == ["post", "pre"]
    assert contexts[0]["workloadName"] == "web-web"
    assert contexts[0]["objectType"] == "Workload"
    assert contexts[0]["workloadVersion"] == "2.1.0"
    tasks = result.of_kind("KeptnTask")
    assert {t["spec"]["checkType"] for t in tasks} == {"pre", "post"}
    assert all(t["status"]["status"] == "Succeeded" for t in tasks)


async def test_failing_pre_task_runs_retries_plus_one_times_and_deprecates_the_rest(
    tmp_path: Path, klt_run: KltRun
) -> None:
    out = tmp_path / "runs.jsonl"
    cases.write(
        tmp_path / "m",
        "all.yaml",
        cases.namespace(),
        cases.deployment("web", pre_tasks="flaky", post_tasks="flaky"),
        cases.deno_task("flaky", RECORD, params={"out": str(out), "fail": "yes"}, extra_spec="retries: 2"),
    )
    result = await klt_run(tmp_path / "m")
    assert result.code == 1
    assert len(runs(out)) == 3, "retries: 2 means at most 3 runs"
    wv = result.one("KeptnWorkloadVersion")
    assert wv["status"]["status"] == "Failed"
    assert wv["status"]["preDeploymentStatus"] == "Failed"
    for later in (
        "preDeploymentEvaluationStatus",
        "deploymentStatus",
        "postDeploymentStatus",
        "postDeploymentEvaluationStatus",
    ):
        assert wv["status"][later] == "Deprecated", later
    task = result.one("KeptnTask")
    assert task["status"]["status"] == "Failed"
    assert task["status"]["attempts"] == 3
    assert result.one("KeptnAppVersion")["status"]["status"] == "Failed"


async def test_task_timeout_fails_with_deadline_exceeded(tmp_path: Path, klt_run: KltRun) -> None:
    cases.write(
        tmp_path / "m",
        "all.yaml",
        cases.namespace(),
        cases.deployment("web", pre_tasks="slow"),
        cases.deno_task("slow", "await new Promise((r) => setTimeout(r, 60000));", extra_spec="timeout: 2s"),
    )
    result = await klt_run(tmp_path / "m")
    assert result.code == 1
    task = result.one("KeptnTask")
    assert task["status"]["status"] == "Failed"
    assert task["status"]["reason"] == "DeadlineExceeded"


async def test_python_task_gets_its_secret_and_can_import_yaml(tmp_path: Path, klt_run: KltRun) -> None:
    out = tmp_path / "python.txt"
    code = f"""
import json, os, yaml
secret = json.loads(os.environ["SECURE_DATA"])
found = {{"token": secret["token"], "args": os.environ.get("CMD_ARGS", "")}}
open({str(out)!r}, "w").write(yaml.safe_dump(found))
"""
    cases.write(
        tmp_path / "m",
        "all.yaml",
        cases.namespace(),
        cases.deployment("web", post_tasks="py"),
        f"""
apiVersion: lifecycle.keptn.sh/v1
kind: KeptnTaskDefinition
metadata:
  name: py
  namespace: shop
spec:
  python:
    secureParameters:
      secret: api-token
    inline:
      code: |
{chr(10).join("        " + line for line in code.strip().splitlines())}
""",
        cases.secret("api-token", '{"token": "s3cr3t-value"}', encoded=True),
    )
    result = await klt_run(tmp_path / "m")
    assert result.code == 0, result.err
    assert "token: s3cr3t-value" in out.read_text()
    assert "s3cr3t-value" not in result.out + result.err


async def test_function_ref_merges_parameters_child_first(tmp_path: Path, klt_run: KltRun) -> None:
    out = tmp_path / "runs.jsonl"
    cases.write(
        tmp_path / "m",
        "all.yaml",
        cases.namespace(),
        cases.deployment("web", pre_tasks="child"),
        cases.deno_task(
            "parent",
            RECORD,
            params={"user": "myotheruser", "data": "myotherdata", "other": "data", "out": str(out)},
        ),
        """
apiVersion: lifecycle.keptn.sh/v1
kind: KeptnTaskDefinition
metadata:
  name: child
  namespace: shop
spec:
  deno:
    functionRef:
      name: parent
    parameters:
      map:
        user: myuser
        data: mydata
""",
    )
    result = await klt_run(tmp_path / "m")
    assert result.code == 0, result.err
    (run,) = runs(out)
    assert run["data"] == {"data": "mydata", "other": "data", "user": "myuser", "out": str(out)}


async def test_statefulset_and_daemonset_are_workloads_of_one_app(tmp_path: Path, klt_run: KltRun) -> None:
    cases.write(
        tmp_path / "m",
        "all.yaml",
        cases.namespace(),
        cases.deployment("db", app="store", kind="StatefulSet", version="14.1"),
        cases.deployment("agent", app="store", kind="DaemonSet", version="0.9"),
    )
    result = await klt_run(tmp_path / "m")
    assert result.code == 0, result.err
    av = result.one("KeptnAppVersion")
    assert av["spec"]["appName"] == "store"
    assert sorted(w["name"] for w in av["spec"]["workloads"]) == ["agent", "db"]
    kinds = sorted(w["spec"]["resourceReference"]["kind"] for w in result.of_kind("KeptnWorkloadVersion"))
    assert kinds == ["DaemonSet", "StatefulSet"]
