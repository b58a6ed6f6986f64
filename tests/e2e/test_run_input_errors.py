"""Bad input: `klt run` exits 2, names file and field, and runs nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e import cases
from tests.e2e.conftest import KltRun

MARK = """
const data = JSON.parse(Deno.env.get("DATA") ?? "{}");
await Deno.writeTextFile(data.out, "ran\\n", { append: true });
"""


def _good(folder: Path, side_effect: Path) -> None:
    cases.write(
        folder,
        "app.yaml",
        cases.namespace(),
        cases.deployment("web", pre_tasks="mark"),
        cases.deno_task("mark", MARK, params={"out": str(side_effect)}),
    )


async def test_yaml_syntax_error_names_file_and_line(tmp_path: Path, klt_run: KltRun) -> None:
    effect = tmp_path / "ran.txt"
    _good(tmp_path / "m", effect)
    broken = tmp_path / "m" / "broken.yaml"
    broken.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: [unclosed\n")
    result = await klt_run(tmp_path / "m")
    assert result.code == 2
    assert "broken.yaml" in result.err
    assert ":4" in result.err or "line 4" in result.err
    assert not effect.exists()
    assert result.out == ""


async def test_unknown_task_definition_is_named_with_its_field(tmp_path: Path, klt_run: KltRun) -> None:
    effect = tmp_path / "ran.txt"
    _good(tmp_path / "m", effect)
    cases.write(tmp_path / "m", "other.yaml", cases.deployment("api", pre_tasks="no-such-task"))
    result = await klt_run(tmp_path / "m")
    assert result.code == 2
    assert "other.yaml" in result.err
    assert "no-such-task" in result.err
    assert "keptn.sh/pre-deployment-tasks" in result.err
    assert not effect.exists()


@pytest.mark.parametrize("target", ["=>4", "four", "~4"])
async def test_bad_evaluation_target_names_definition_and_objective(
    tmp_path: Path, klt_run: KltRun, target: str
) -> None:
    effect = tmp_path / "ran.txt"
    _good(tmp_path / "m", effect)
    cases.write(
        tmp_path / "m",
        "evals.yaml",
        cases.prometheus_provider("http://127.0.0.1:1"),
        cases.metric("cpus", "up"),
        cases.evaluation("enough-cpus", "cpus", target),
        cases.deployment("api", pre_evaluations="enough-cpus"),
    )
    result = await klt_run(tmp_path / "m")
    assert result.code == 2
    assert "evals.yaml" in result.err
    assert "enough-cpus" in result.err
    assert "spec.objectives[0].evaluationTarget" in result.err
    assert not effect.exists()


async def test_two_runtimes_in_one_definition_is_rejected_with_klts_message(
    tmp_path: Path, klt_run: KltRun
) -> None:
    effect = tmp_path / "ran.txt"
    _good(tmp_path / "m", effect)
    cases.write(
        tmp_path / "m",
        "two.yaml",
        """
apiVersion: lifecycle.keptn.sh/v1
kind: KeptnTaskDefinition
metadata:
  name: both
  namespace: shop
spec:
  deno:
    inline:
      code: console.log(1)
  python:
    inline:
      code: print(1)
""",
    )
    result = await klt_run(tmp_path / "m")
    assert result.code == 2
    assert "two.yaml" in result.err
    assert "Only one of Container, Python, or Deno field can be defined" in result.err
    assert not effect.exists()


async def test_a_missing_path_is_bad_input(tmp_path: Path, klt_run: KltRun) -> None:
    result = await klt_run(tmp_path / "nothing-here")
    assert result.code == 2
    assert "nothing-here" in result.err
