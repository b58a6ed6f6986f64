"""`klt run` end to end with evaluations against a real Prometheus scraping a real exporter."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from tests.e2e import cases
from tests.e2e.conftest import KltRun

CPUS = "sum(kube_node_status_capacity{resource='cpu'})"


def _folder(tmp_path: Path, prometheus_url: str, *, pre: str, post: str) -> Path:
    folder = tmp_path / "m"
    cases.write(
        folder,
        "all.yaml",
        cases.namespace(),
        cases.prometheus_provider(prometheus_url),
        cases.metric("available-cpus", CPUS),
        cases.evaluation("pre-check", "available-cpus", pre, retries=3, interval="300ms"),
        cases.evaluation("post-check", "available-cpus", post, retries=3, interval="300ms"),
        cases.deployment("web", pre_evaluations="pre-check", post_evaluations="post-check"),
    )
    return folder


async def test_passing_evaluations_record_this_machines_cpu_count(
    tmp_path: Path, klt_run: KltRun, prometheus: Any
) -> None:
    cpus = os.cpu_count()
    result = await klt_run(_folder(tmp_path, prometheus.url, pre=">=1", post=f"=={cpus}"))
    assert result.code == 0, result.err
    evaluations = result.of_kind("KeptnEvaluation")
    assert sorted(e["spec"]["checkType"] for e in evaluations) == ["post-eval", "pre-eval"]
    for evaluation in evaluations:
        assert evaluation["status"]["overallStatus"] == "Succeeded"
        objective = evaluation["status"]["evaluationStatus"]["available-cpus"]
        assert float(objective["value"]) == cpus
        assert objective["message"].startswith(f"value '{objective['value']}' met objective")


async def test_failing_pre_evaluation_holds_the_release_and_deprecates_later_phases(
    tmp_path: Path, klt_run: KltRun, prometheus: Any
) -> None:
    result = await klt_run(_folder(tmp_path, prometheus.url, pre=">1000", post=">0"))
    assert result.code == 1
    evaluation = result.one("KeptnEvaluation")
    assert evaluation["status"]["overallStatus"] == "Failed"
    assert evaluation["status"]["retryCount"] == 3
    assert (
        "did not meet objective '>1000'"
        in evaluation["status"]["evaluationStatus"]["available-cpus"]["message"]
    )
    wv = result.one("KeptnWorkloadVersion")
    assert wv["status"]["preDeploymentEvaluationStatus"] == "Failed"
    assert wv["status"]["deploymentStatus"] == "Deprecated"
    assert wv["status"]["postDeploymentEvaluationStatus"] == "Deprecated"


async def test_failing_post_evaluation_fails_after_the_deployment(
    tmp_path: Path, klt_run: KltRun, prometheus: Any
) -> None:
    result = await klt_run(_folder(tmp_path, prometheus.url, pre=">0", post="<1"), output="text")
    assert result.code == 1
    assert "did not meet objective '<1'" in result.out
    assert "WorkloadPostDeployEvaluations Failed" in result.out


async def test_app_level_evaluations_through_the_app_context(
    tmp_path: Path, klt_run: KltRun, prometheus: Any
) -> None:
    folder = tmp_path / "m"
    cases.write(
        folder,
        "all.yaml",
        cases.namespace(),
        cases.prometheus_provider(prometheus.url),
        cases.metric("available-cpus", CPUS),
        cases.evaluation("capacity", "available-cpus", ">0", retries=3, interval="300ms"),
        cases.evaluation("too-much", "available-cpus", ">1000", retries=2, interval="200ms"),
        cases.deployment("web", app="shop", version="1.0.0"),
        """
apiVersion: lifecycle.keptn.sh/v1
kind: KeptnAppContext
metadata:
  name: shop
  namespace: shop
spec:
  preDeploymentEvaluations: [capacity]
  postDeploymentEvaluations: [too-much]
""",
    )
    result = await klt_run(folder)
    assert result.code == 1
    av = result.one("KeptnAppVersion")
    assert av["status"]["preDeploymentEvaluationStatus"] == "Succeeded"
    assert av["status"]["workloadOverallStatus"] == "Succeeded"
    assert av["status"]["postDeploymentEvaluationStatus"] == "Failed"
    checks = {e["spec"]["evaluationDefinition"]: e for e in result.of_kind("KeptnEvaluation")}
    assert checks["capacity"]["spec"]["checkType"] == "pre-eval"
    assert checks["capacity"]["spec"]["appName"] == "shop"
    assert checks["too-much"]["status"]["overallStatus"] == "Failed"
