"""The generated CRDs: current with the models, accepted by the API server's rules, KLT's names and
versions, and they accept what klt and its users write while refusing what KLT refuses."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import msgspec
import pytest
import yaml

from deploy import generate_crds
from deploy.crdgen.kinds import KINDS
from deploy.crdgen.schema import SchemaError, schema_of
from deploy.crdgen.structural import crd_problems, schema_problems, to_json_schema
from shared.keptn.analysis import Analysis, AnalysisDefinition, AnalysisValueTemplate
from shared.keptn.lifecycle import (
    EvaluationStatusItem,
    ItemStatus,
    KeptnAppVersion,
    KeptnEvaluation,
    KeptnTask,
    KeptnWorkloadVersion,
    TaskContext,
)
from shared.keptn.meta import ObjectMeta
from shared.keptn.resources import KeptnConfig
from shared.keptn.states import KeptnState
from tests.unit.crd_support import REPO, committed_crds, cr_errors, is_keptn

ALL = ["v1alpha1", "v1alpha2", "v1alpha3", "v1beta1", "v1"]
KLT_VERSIONS = {  # klt-facts §1 table; the four klt-created kinds have existed since v1alpha1
    "keptnapps.lifecycle.keptn.sh": ALL,
    "keptnevaluationdefinitions.lifecycle.keptn.sh": ALL,
    "keptntaskdefinitions.lifecycle.keptn.sh": ALL,
    "keptnappcontexts.lifecycle.keptn.sh": ["v1beta1", "v1"],
    "keptnappcreationrequests.lifecycle.keptn.sh": ["v1alpha3", "v1beta1", "v1"],
    "keptnworkloadversions.lifecycle.keptn.sh": ["v1alpha4", "v1beta1", "v1"],
    "keptnappversions.lifecycle.keptn.sh": ALL,
    "keptnworkloads.lifecycle.keptn.sh": ALL,
    "keptntasks.lifecycle.keptn.sh": ALL,
    "keptnevaluations.lifecycle.keptn.sh": ALL,
    "keptnmetrics.metrics.keptn.sh": ALL,
    "keptnmetricsproviders.metrics.keptn.sh": ["v1alpha2", "v1alpha3", "v1beta1", "v1"],
    "analyses.metrics.keptn.sh": ["v1alpha3", "v1beta1", "v1"],
    "analysisdefinitions.metrics.keptn.sh": ["v1alpha3", "v1beta1", "v1"],
    "analysisvaluetemplates.metrics.keptn.sh": ["v1alpha3", "v1beta1", "v1"],
    "keptnconfigs.options.keptn.sh": ["v1alpha1"],
}


def test_committed_crds_are_current() -> None:
    stale = generate_crds.stale_files()
    assert not stale, f"deploy/crds is out of date ({', '.join(stale)}): run `python deploy/generate_crds.py`"


def test_check_mode_reports_edited_and_leftover_files(tmp_path: Path) -> None:
    generate_crds.write_all(tmp_path)
    assert generate_crds.stale_files(tmp_path) == []
    edited = tmp_path / "metrics.keptn.sh_keptnmetrics.yaml"
    edited.write_text(edited.read_text().replace("Provider", "Provider2"))
    (tmp_path / "lifecycle.keptn.sh_keptnoldthings.yaml").write_text(generate_crds.HEADER + "{}\n")
    (tmp_path / "hand-written.yaml").write_text("kind: ConfigMap\n")
    assert generate_crds.stale_files(tmp_path) == [
        "metrics.keptn.sh_keptnmetrics.yaml",
        "lifecycle.keptn.sh_keptnoldthings.yaml",
    ]
    generate_crds.write_all(tmp_path)
    assert generate_crds.stale_files(tmp_path) == []
    assert (tmp_path / "hand-written.yaml").exists()


def test_every_kind_has_one_crd_file_listed_in_the_kustomization() -> None:
    kustomization = yaml.safe_load((REPO / "deploy/crds/kustomization.yaml").read_text())
    files = sorted(p.name for p in (REPO / "deploy/crds").glob("*_*.yaml"))
    assert kustomization["resources"] == files
    assert sorted(committed_crds()) == sorted(KLT_VERSIONS)


@pytest.mark.parametrize("name", sorted(KLT_VERSIONS))
def test_crd_is_structural_and_valid_for_the_api_server(name: str) -> None:
    crd = committed_crds()[name]
    assert crd_problems(crd) == []
    kubernetes_validate.validate(crd, "1.30", strict=True)


@pytest.mark.parametrize("name", sorted(KLT_VERSIONS))
def test_served_and_storage_versions_are_klts(name: str) -> None:
    versions = committed_crds()[name]["spec"]["versions"]
    assert [v["name"] for v in versions] == KLT_VERSIONS[name]
    assert all(v["served"] for v in versions)
    storage = [v["name"] for v in versions if v["storage"]]
    assert storage == (["v1alpha1"] if name.startswith("keptnconfigs.") else ["v1"])


def test_short_names_are_klts_and_unique() -> None:
    short = {
        s: crd["spec"]["names"]["kind"]
        for crd in committed_crds().values()
        for s in crd["spec"]["names"].get("shortNames", [])
    }
    assert short == {
        "kav": "KeptnAppVersion",
        "kwv": "KeptnWorkloadVersion",
        "ked": "KeptnEvaluationDefinition",
        "ke": "KeptnEvaluation",
        "kmp": "KeptnMetricsProvider",
    }


def _columns(name: str) -> list[tuple[str, str, int]]:
    version = committed_crds()[name]["spec"]["versions"][-1]
    return [
        (c["name"], c["jsonPath"], c.get("priority", 0)) for c in version.get("additionalPrinterColumns", [])
    ]


def test_printer_columns_match_kubectl_get_in_klt() -> None:
    assert _columns("keptnappversions.lifecycle.keptn.sh") == [
        ("AppName", ".spec.appName", 0),
        ("Version", ".spec.version", 0),
        ("Phase", ".status.currentPhase", 0),
        ("PreDeploymentStatus", ".status.preDeploymentStatus", 1),
        ("PreDeploymentEvaluationStatus", ".status.preDeploymentEvaluationStatus", 1),
        ("WorkloadOverallStatus", ".status.workloadOverallStatus", 1),
        ("PostDeploymentStatus", ".status.postDeploymentStatus", 1),
        ("PostDeploymentEvaluationStatus", ".status.postDeploymentEvaluationStatus", 1),
        ("PromotionStatus", ".status.promotionStatus", 1),
    ]
    assert [c[0] for c in _columns("keptnworkloadversions.lifecycle.keptn.sh")] == [
        "AppName",
        "WorkloadName",
        "WorkloadVersion",
        "Phase",
        "PreDeploymentStatus",
        "PreDeploymentEvaluationStatus",
        "DeploymentStatus",
        "PostDeploymentStatus",
        "PostDeploymentEvaluationStatus",
    ]
    assert [c[:2] for c in _columns("keptntasks.lifecycle.keptn.sh")] == [
        ("AppName", ".spec.context.appName"),
        ("AppVersion", ".spec.context.appVersion"),
        ("WorkloadName", ".spec.context.workloadName"),
        ("WorkloadVersion", ".spec.context.workloadVersion"),
        ("Job Name", ".status.jobName"),
        ("Status", ".status.status"),
    ]
    assert [c[0] for c in _columns("keptnevaluations.lifecycle.keptn.sh")] == [
        "AppName",
        "AppVersion",
        "WorkloadName",
        "WorkloadVersion",
        "RetryCount",
        "EvaluationStatus",
        "OverallStatus",
    ]
    assert [c[:2] for c in _columns("keptnmetrics.metrics.keptn.sh")] == [
        ("Provider", ".spec.provider.name"),
        ("Query", ".spec.query"),
        ("Value", ".status.value"),
    ]


def test_kinds_with_a_status_have_the_status_subresource() -> None:
    for name, crd in committed_crds().items():
        for version in crd["spec"]["versions"]:
            has_status = "status" in version["schema"]["openAPIV3Schema"]["properties"]
            assert ("subresources" in version) == has_status, name
    without = sorted(n for n, c in committed_crds().items() if "subresources" not in c["spec"]["versions"][0])
    assert without == ["analysisdefinitions.metrics.keptn.sh", "analysisvaluetemplates.metrics.keptn.sh"]


def _nodes(node: dict[str, Any]) -> list[dict[str, Any]]:
    found = [node]
    for sub in node.get("properties", {}).values():
        found += _nodes(sub)
    for key in ("items", "additionalProperties"):
        if isinstance(node.get(key), dict):
            found += _nodes(node[key])
    return found


def test_defaults_are_valid_values_of_their_own_field() -> None:
    seen = 0
    for crd in committed_crds().values():
        schema = crd["spec"]["versions"][-1]["schema"]["openAPIV3Schema"]
        for node in _nodes(schema):
            if "default" in node:
                jsonschema.Draft4Validator(to_json_schema(node)).validate(node["default"])
                seen += 1
    assert seen > 20


def _documents(*patterns: str) -> list[dict[str, Any]]:
    docs = []
    for pattern in patterns:
        for path in sorted(REPO.glob(pattern)):
            docs += [d for d in yaml.safe_load_all(path.read_text()) if d]
    return docs


def test_the_examples_keptn_manifests_are_accepted() -> None:
    docs = [
        d for d in _documents("examples/*/app/*.yaml", "examples/*/*/keptn-evaluations.yaml") if is_keptn(d)
    ]
    kinds = {d["kind"] for d in docs}
    assert {
        "KeptnTaskDefinition",
        "KeptnMetric",
        "KeptnMetricsProvider",
        "KeptnEvaluationDefinition",
    } <= kinds
    for doc in docs:
        assert cr_errors(doc) == [], f"{doc['kind']} {doc['metadata']['name']}"


def test_a_v1alpha3_task_keeps_its_function_code_when_stored_at_v1() -> None:
    task = next(
        d
        for d in _documents("examples/simplenode-dev/app/keptn-tasks.yaml")
        if d["kind"] == "KeptnTaskDefinition"
    )
    stored = {
        **task,
        "apiVersion": "lifecycle.keptn.sh/v1",
    }  # conversion strategy None: only apiVersion changes
    assert cr_errors(stored) == []
    spec_schema = committed_crds()["keptntaskdefinitions.lifecycle.keptn.sh"]["spec"]["versions"][-1]
    assert "function" in spec_schema["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]


NOW = "2024-05-01T10:00:00Z"


def _klt_objects() -> list[Any]:
    """One object of each kind klt writes, with status, as ``msgspec`` encodes them (nulls included)."""
    item = ItemStatus(
        definition_name="notify", status=KeptnState.SUCCEEDED, name="pre-notify-12345", start_time=NOW
    )
    meta = {"name": "x", "namespace": "simplenode-dev", "uid": "0d6f"}
    app_version = msgspec.convert(
        {
            "metadata": meta,
            "spec": {
                "appName": "simplenode",
                "version": "1.0.2",
                "workloads": [{"name": "simplenode", "version": "1.0.2"}],
            },
            "status": {
                "currentPhase": "AppPreDeployTasks",
                "preDeploymentTaskStatus": [msgspec.to_builtins(item)],
            },
        },
        KeptnAppVersion,
    )
    workload_version = msgspec.convert(
        {
            "metadata": meta,
            "spec": {
                "app": "simplenode",
                "version": "1.0.2",
                "workloadName": "simplenode-simplenode",
                "resourceReference": {"uid": "a1", "kind": "ReplicaSet", "name": "simplenode-5d4"},
                "preDeploymentTasks": ["notify"],
            },
            "status": {
                "phaseTraceIDs": {"WorkloadDeploy": {"traceparent": "00-abc-def-01"}},
                "startTime": NOW,
            },
        },
        KeptnWorkloadVersion,
    )
    task = msgspec.convert(
        {
            "metadata": meta,
            "spec": {"taskDefinition": "notify", "checkType": "pre", "parameters": {"map": {"a": "b"}}},
        },
        KeptnTask,
    )
    task.spec.context = TaskContext(
        workload_name="simplenode-simplenode", app_name="simplenode", task_type="pre", object_type="Workload"
    )
    evaluation = msgspec.convert(
        {
            "metadata": meta,
            "spec": {
                "workload": "simplenode-simplenode",
                "evaluationDefinition": "evaluate-dependencies",
                "checkType": "pre-eval",
            },
        },
        KeptnEvaluation,
    )
    evaluation.status.evaluation_status["available-cpus"] = EvaluationStatusItem(
        value="6", status=KeptnState.SUCCEEDED
    )
    template = msgspec.convert(
        {"metadata": meta, "spec": {"provider": {"name": "prometheus"}, "query": 'up{namespace="{{.ns}}"}'}},
        AnalysisValueTemplate,
    )
    definition = msgspec.convert(
        {
            "metadata": meta,
            "spec": {
                "objectives": [
                    {
                        "analysisValueTemplateRef": {"name": "ready"},
                        "target": {
                            "failure": {"lessThan": {"fixedValue": 1}},
                            "warning": {"inRange": {"lowBound": "1", "highBound": "2.5"}},
                        },
                        "weight": 2,
                        "keyObjective": True,
                    }
                ],
                "totalScore": {"passPercentage": 90, "warningPercentage": 75},
            },
        },
        AnalysisDefinition,
    )
    analysis = msgspec.convert(
        {
            "metadata": meta,
            "spec": {
                "timeframe": {"recent": "5m"},
                "args": {"ns": "simplenode-dev"},
                "analysisDefinition": {"name": "ready"},
            },
            "status": {"state": "Completed", "pass": True, "timeframe": {"from": NOW, "to": NOW}},
        },
        Analysis,
    )
    config = KeptnConfig(metadata=ObjectMeta(name="klt-config", namespace="keptn-system"))
    return [app_version, workload_version, task, evaluation, template, definition, analysis, config]


def test_objects_klt_writes_are_accepted_as_written() -> None:
    for obj in _klt_objects():
        wire = msgspec.to_builtins(obj)
        # Kinds modelled with omit_defaults leave out apiVersion/kind; what klt sends to the API has them.
        wire = {"apiVersion": obj.api_version, "kind": obj.kind, **wire}
        assert cr_errors(wire) == [], type(obj).__name__


def _metric(**spec: Any) -> dict[str, Any]:
    base = {"provider": {"name": "prometheus"}, "query": "up", "fetchIntervalSeconds": 10}
    return {
        "apiVersion": "metrics.keptn.sh/v1",
        "kind": "KeptnMetric",
        "metadata": {"name": "m"},
        "spec": {**base, **spec},
    }


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        (
            _metric(range={"interval": "5m", "step": "1m", "aggregation": "p42"}),
            "spec.range.aggregation: 'p42' is not one of",
        ),
        (
            _metric(range={"storedResults": 300}),
            "spec.range.storedResults: 300 is greater than the maximum of 255",
        ),
        (
            _metric(fetchIntervalSecond=10),
            "spec: Additional properties are not allowed ('fetchIntervalSecond' was unexpected)",
        ),
        (
            {
                "apiVersion": "lifecycle.keptn.sh/v1",
                "kind": "KeptnTaskDefinition",
                "metadata": {"name": "t"},
                "spec": {"timeout": "5mins"},
            },
            "spec.timeout: '5mins' does not match",
        ),
        (
            {
                "apiVersion": "metrics.keptn.sh/v1",
                "kind": "AnalysisDefinition",
                "metadata": {"name": "d"},
                "spec": {"totalScore": {"passPercentage": 150, "warningPercentage": 50}},
            },
            "spec.totalScore.passPercentage: 150 is greater than the maximum of 100",
        ),
        (
            {
                "apiVersion": "metrics.keptn.sh/v1beta1",
                "kind": "AnalysisDefinition",
                "metadata": {"name": "d"},
                "spec": {
                    "objectives": [
                        {
                            "analysisValueTemplateRef": {"name": "t"},
                            "target": {"failure": {"lessThan": {"fixedValue": "ten"}}},
                        }
                    ],
                    "totalScore": {"passPercentage": 90, "warningPercentage": 50},
                },
            },
            "spec.objectives.0.target.failure.lessThan.fixedValue: 'ten' does not match",
        ),
        (
            {
                "apiVersion": "lifecycle.keptn.sh/v1alpha1",
                "kind": "KeptnEvaluationDefinition",
                "metadata": {"name": "old"},
                "spec": {
                    "source": "prometheus",
                    "objectives": [{"name": "cpu", "query": "up", "evaluationTarget": ">1"}],
                },
            },
            "spec: Additional properties are not allowed ('source' was unexpected)",
        ),
        (
            {
                "apiVersion": "lifecycle.keptn.sh/v1alpha3",
                "kind": "KeptnAppCreationRequest",
                "metadata": {"name": "a"},
                "spec": {},
            },
            "spec: 'appName' is a required property",
        ),
        (
            {
                "apiVersion": "lifecycle.keptn.sh/v1",
                "kind": "KeptnEvaluation",
                "metadata": {"name": "e"},
                "spec": {"evaluationDefinition": "d", "checkType": "during"},
            },
            "spec.checkType: 'during' is not one of",
        ),
    ],
)
def test_what_klt_refuses_the_api_server_refuses(obj: dict[str, Any], expected: str) -> None:
    errors = cr_errors(obj)
    assert any(e.startswith(expected) for e in errors), errors


def test_a_task_container_is_kept_as_written() -> None:
    task = {
        "apiVersion": "lifecycle.keptn.sh/v1",
        "kind": "KeptnTaskDefinition",
        "metadata": {"name": "sleep"},
        "spec": {
            "container": {
                "name": "c",
                "image": "busybox:1.36.0",
                "command": ["sh", "-c", "sleep 30"],
                "anyField": {"x": 1},
            }
        },
    }
    assert cr_errors(task) == []


class _Holder(msgspec.Struct):
    either: int | bool | None = None
    """A union Kubernetes has no structural form for."""


def test_the_schema_walker_names_the_field_it_cannot_express() -> None:
    with pytest.raises(
        SchemaError, match=r"_Holder\.either: a union of IntType, BoolType has no structural OpenAPI form"
    ):
        schema_of(_Holder)


def test_the_structural_checker_finds_what_the_api_server_would_reject() -> None:
    bad = {
        "type": "object",
        "properties": {
            "metadata": {"type": "object", "properties": {"name": {"type": "string"}}},
            "spec": {
                "type": "object",
                "properties": {
                    "untyped": {"description": "no type"},
                    "ref": {"$ref": "#/definitions/x", "type": "object"},
                    "list": {"type": "array"},
                    "either": {"anyOf": [{"type": "string"}, {"type": "boolean"}]},
                    "both": {"type": "object", "properties": {}, "additionalProperties": {"type": "string"}},
                },
                "required": ["missing"],
            },
        },
    }
    problems = schema_problems(bad)
    assert problems == [
        "schema.metadata: only `type: object` is allowed; the API server owns metadata",
        "schema.spec.untyped: no type",
        "schema.spec.ref: `$ref` is not allowed in a structural schema",
        "schema.spec.list: an array needs items",
        "schema.spec.either: no type",
        "schema.spec.either: anyOf/oneOf/allOf/not are only allowed in the int-or-string form",
        "schema.spec.both: properties and additionalProperties are mutually exclusive",
        "schema.spec: required field 'missing' is not a property",
    ]


def test_every_kind_in_the_table_is_generated() -> None:
    assert sorted(k.crd_name for k in KINDS) == sorted(KLT_VERSIONS)
