"""`klt run` end to end at the app level: KeptnApp + KeptnAppContext, several workloads, non-blocking
mode, the release step, and KLT's v1alpha3 manifests."""

from __future__ import annotations

import json
from pathlib import Path

from tests.e2e import cases
from tests.e2e.conftest import KltRun

RECORD = """
const data = JSON.parse(Deno.env.get("DATA") ?? "{}");
const context = JSON.parse(Deno.env.get("KEPTN_CONTEXT") ?? "{}");
await Deno.writeTextFile(data.out, JSON.stringify(context) + "\\n", { append: true });
if (data.fail === "yes") Deno.exit(1);
"""

APP = """
apiVersion: lifecycle.keptn.sh/v1
kind: KeptnApp
metadata:
  name: shop
  namespace: shop
spec:
  version: "3.0"
  workloads:
    - name: web
      version: 1.0.0
    - name: api
      version: 2.0.0
"""


def context(pre: str = "", post: str = "", metadata: str = "") -> str:
    return f"""
apiVersion: lifecycle.keptn.sh/v1
kind: KeptnAppContext
metadata:
  name: shop
  namespace: shop
spec:
  preDeploymentTasks: [{pre}]
  postDeploymentTasks: [{post}]
  metadata: {{{metadata}}}
"""


async def test_app_tasks_run_around_all_workloads_with_app_context(tmp_path: Path, klt_run: KltRun) -> None:
    out = tmp_path / "runs.jsonl"
    cases.write(
        tmp_path / "m",
        "all.yaml",
        cases.namespace(),
        APP,
        context(pre="record", post="record", metadata="stage: dev"),
        cases.deployment("web", app="shop", version="1.0.0", pre_tasks="record"),
        cases.deployment("api", app="shop", version="2.0.0"),
        cases.deno_task("record", RECORD, params={"out": str(out)}),
    )
    result = await klt_run(tmp_path / "m")
    assert result.code == 0, result.err
    av = result.one("KeptnAppVersion")
    assert av["metadata"]["name"] == "shop-3.0-6b86b273"
    assert av["status"]["preDeploymentStatus"] == "Succeeded"
    assert av["status"]["postDeploymentStatus"] == "Succeeded"
    assert sorted(w["status"] for w in av["status"]["workloadStatus"]) == ["Succeeded", "Succeeded"]
    assert sorted(w["metadata"]["name"] for w in result.of_kind("KeptnWorkloadVersion")) == [
        "shop-api-2.0.0",
        "shop-web-1.0.0",
    ]
    contexts = [json.loads(line) for line in out.read_text().splitlines()]
    app_runs = [c for c in contexts if c["objectType"] == "App"]
    assert sorted(c["taskType"] for c in app_runs) == ["post", "pre"]
    assert app_runs[0]["appName"] == "shop"
    assert app_runs[0]["appVersion"] == "3.0"
    assert app_runs[0]["workloadName"] == ""
    assert app_runs[0]["metadata"] == {"stage": "dev"}
    workload_runs = [c for c in contexts if c["objectType"] == "Workload"]
    assert [c["workloadName"] for c in workload_runs] == ["shop-web"]
    # order: the app's pre task ran before the workload's, the app's post task last
    assert [c["objectType"] + ":" + c["taskType"] for c in contexts] == [
        "App:pre",
        "Workload:pre",
        "App:post",
    ]


async def test_failing_app_pre_task_keeps_every_workload_from_starting(
    tmp_path: Path, klt_run: KltRun
) -> None:
    out = tmp_path / "runs.jsonl"
    cases.write(
        tmp_path / "m",
        "all.yaml",
        cases.namespace(),
        APP,
        context(pre="gate"),
        cases.deployment("web", app="shop", version="1.0.0", pre_tasks="record"),
        cases.deployment("api", app="shop", version="2.0.0"),
        cases.deno_task("record", RECORD, params={"out": str(out)}),
        cases.deno_task("gate", RECORD, params={"out": str(out), "fail": "yes"}, extra_spec="retries: 0"),
    )
    result = await klt_run(tmp_path / "m")
    assert result.code == 1
    av = result.one("KeptnAppVersion")
    assert av["status"]["preDeploymentStatus"] == "Failed"
    assert av["status"]["workloadOverallStatus"] == "Deprecated"
    assert all(wv["status"]["currentPhase"] == "" for wv in result.of_kind("KeptnWorkloadVersion"))
    assert [json.loads(line)["objectType"] for line in out.read_text().splitlines()] == ["App"]


async def test_non_blocking_mode_turns_a_failure_into_a_warning(tmp_path: Path, klt_run: KltRun) -> None:
    out = tmp_path / "runs.jsonl"
    cases.write(
        tmp_path / "m",
        "all.yaml",
        cases.namespace(),
        """
apiVersion: options.keptn.sh/v1alpha1
kind: KeptnConfig
metadata:
  name: klt-config
  namespace: shop
spec:
  blockDeployment: false
""",
        cases.deployment("web", pre_tasks="failing", post_tasks="record"),
        cases.deno_task("failing", RECORD, params={"out": str(out), "fail": "yes"}, extra_spec="retries: 1"),
        cases.deno_task("record", RECORD, params={"out": str(out)}),
    )
    result = await klt_run(tmp_path / "m")
    assert result.code == 0, result.err
    wv = result.one("KeptnWorkloadVersion")
    assert wv["status"]["preDeploymentStatus"] == "Warning"
    assert wv["status"]["status"] == "Succeeded"
    assert wv["status"]["currentPhase"] == "Completed"
    assert wv["status"]["preDeploymentTaskStatus"][0]["status"] == "Failed"
    assert len(out.read_text().splitlines()) == 3  # two failing runs, then the post task


async def test_deploy_command_failure_fails_the_deploy_phase(tmp_path: Path, klt_run: KltRun) -> None:
    cases.write(tmp_path / "m", "all.yaml", cases.namespace(), cases.deployment("web"))
    log = tmp_path / "deploy.log"
    command = f'echo "$KLT_WORKLOAD $KLT_VERSION" >> {log}; exit 4'
    result = await klt_run(tmp_path / "m", deploy_command=command)
    assert result.code == 1
    wv = result.one("KeptnWorkloadVersion")
    assert wv["status"]["deploymentStatus"] == "Failed"
    assert wv["status"]["postDeploymentStatus"] == "Deprecated"
    assert log.read_text().strip() == "web 1.0.0"


async def test_v1alpha3_folder_like_the_seed(tmp_path: Path, klt_run: KltRun) -> None:
    out = tmp_path / "runs.jsonl"
    cases.write(
        tmp_path / "m",
        "seed.yaml",
        """
apiVersion: v1
kind: Namespace
metadata:
  name: simplenode-dev
  annotations:
    keptn.sh/lifecycle-toolkit: "enabled"
""",
        cases.deployment(
            "simplenode", namespace="simplenode-dev", version="1.0.2", pre_tasks="notify", post_tasks="notify"
        ),
        f"""
apiVersion: lifecycle.keptn.sh/v1alpha3
kind: KeptnTaskDefinition
metadata:
  name: notify
spec:
  function:
    parameters:
      map:
        out: {json.dumps(str(out))}
    inline:
      code: |
{chr(10).join("        " + line for line in RECORD.strip().splitlines())}
""",
    )
    result = await klt_run(tmp_path / "m")
    assert result.code == 0, result.err
    assert result.one("KeptnAppVersion")["metadata"]["name"] == "simplenode-1.0.2-6b86b273"
    assert result.one("KeptnWorkloadVersion")["metadata"]["namespace"] == "simplenode-dev"
    contexts = [json.loads(line) for line in out.read_text().splitlines()]
    assert [c["taskType"] for c in contexts] == ["pre", "post"]
    assert contexts[0]["appName"] == "simplenode"
