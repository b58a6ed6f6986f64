"""The analysis models (klt-facts §1.14) read KLT's manifests field for field and write KLT's names."""

from __future__ import annotations

import msgspec
import pytest
import yaml

from shared.keptn.analysis import Analysis, AnalysisDefinition, AnalysisState, AnalysisValueTemplate

DEFINITION = """
apiVersion: metrics.keptn.sh/v1
kind: AnalysisDefinition
metadata:
  name: ed-my-proj-dev-svc1
  namespace: keptn-system
spec:
  objectives:
    - analysisValueTemplateRef:
        name: response-time-p95
      target:
        failure:
          lessThan:
            fixedValue: 600
        warning:
          inRange:
            lowBound: 300
            highBound: "500m"
      weight: 1
      keyObjective: false
    - analysisValueTemplateRef:
        name: error-rate
        namespace: other
      target:
        failure:
          greaterThan:
            fixedValue: "0.05"
      keyObjective: true
  totalScore:
    passPercentage: 90
    warningPercentage: 75
"""

ANALYSIS = """
apiVersion: metrics.keptn.sh/v1
kind: Analysis
metadata:
  name: analysis-sample
spec:
  timeframe:
    from: "2023-09-14T07:33:19Z"
    to: "2023-09-14T07:33:39Z"
  args:
    project: my-project
  analysisDefinition:
    name: ed-my-proj-dev-svc1
    namespace: keptn-system
"""


def _load(text: str, model: type[msgspec.Struct]) -> msgspec.Struct:
    return msgspec.convert(yaml.safe_load(text), model)


def test_a_klt_analysis_definition_reads_field_for_field() -> None:
    definition = _load(DEFINITION, AnalysisDefinition)
    assert isinstance(definition, AnalysisDefinition)
    first, second = definition.spec.objectives
    assert first.analysis_value_template_ref.name == "response-time-p95"
    assert first.target.failure is not None and first.target.failure.less_than is not None
    assert first.target.failure.less_than.fixed_value == 600
    assert first.target.warning is not None and first.target.warning.in_range is not None
    assert first.target.warning.in_range.high_bound == "500m"
    assert (second.weight, second.key_objective, second.analysis_value_template_ref.namespace) == (
        1,
        True,
        "other",
    )
    assert definition.spec.total_score.pass_percentage == 90


def test_an_analysis_reads_from_and_writes_klts_status_names() -> None:
    analysis = _load(ANALYSIS, Analysis)
    assert isinstance(analysis, Analysis)
    assert analysis.spec.timeframe.from_ == "2023-09-14T07:33:19Z"
    assert analysis.spec.args == {"project": "my-project"}
    analysis.status.pass_ = True
    analysis.status.state = AnalysisState.COMPLETED
    wire = msgspec.to_builtins(analysis)
    assert wire["spec"]["timeframe"] == {"from": "2023-09-14T07:33:19Z", "to": "2023-09-14T07:33:39Z"}
    assert wire["status"]["pass"] is True and wire["status"]["state"] == "Completed"
    assert set(wire["status"]) == {"timeframe", "raw", "pass", "warning", "state", "storedValues"}


def test_a_template_keeps_its_go_template_query() -> None:
    template = msgspec.convert(
        {
            "metadata": {"name": "ready"},
            "spec": {
                "provider": {"name": "prometheus"},
                "query": 'sum(kube_pod_status_ready{namespace="{{.ns}}"})',
            },
        },
        AnalysisValueTemplate,
    )
    assert msgspec.to_builtins(template)["spec"]["query"].endswith('"{{.ns}}"})')
    assert msgspec.to_builtins(template)["apiVersion"] == "metrics.keptn.sh/v1"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"passPercentage": 101}, "Expected `int` <= 100 - at `$.spec.totalScore.passPercentage`"),
        ({"warningPercentage": -1}, "Expected `int` >= 0 - at `$.spec.totalScore.warningPercentage`"),
    ],
)
def test_percentages_outside_0_to_100_are_refused(change: dict[str, int], message: str) -> None:
    data = yaml.safe_load(DEFINITION)
    data["spec"]["totalScore"].update(change)
    with pytest.raises(msgspec.ValidationError, match=message.replace("$", r"\$").replace("`", ".")):
        msgspec.convert(data, AnalysisDefinition)


def test_a_bound_that_is_no_quantity_is_refused_with_its_path() -> None:
    data = yaml.safe_load(DEFINITION)
    data["spec"]["objectives"][0]["target"]["failure"]["lessThan"]["fixedValue"] = "six hundred"
    with pytest.raises(
        msgspec.ValidationError, match=r"objectives\[0\]\.target\.failure\.lessThan\.fixedValue"
    ):
        msgspec.convert(data, AnalysisDefinition)
