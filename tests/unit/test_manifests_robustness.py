"""Whatever a file holds, loading, validating and deriving end in objects or ManifestErrors, never a
traceback (bad input gets a clear error)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.derivation import derive
from shared.manifests import ManifestErrors, load_paths, validate

KINDS = [
    ("v1", "Namespace"),
    ("v1", "Secret"),
    ("v1", "ConfigMap"),
    ("v1", "List"),
    ("apps/v1", "Deployment"),
    ("apps/v1", "ReplicaSet"),
    ("lifecycle.keptn.sh/v1alpha3", "KeptnApp"),
    ("lifecycle.keptn.sh/v1beta1", "KeptnAppContext"),
    ("lifecycle.keptn.sh/v1", "KeptnTaskDefinition"),
    ("lifecycle.keptn.sh/v1alpha3", "KeptnTaskDefinition"),
    ("lifecycle.keptn.sh/v1", "KeptnEvaluationDefinition"),
    ("lifecycle.keptn.sh/v1alpha1", "KeptnEvaluationDefinition"),
    ("lifecycle.keptn.sh/v1alpha2", "KeptnEvaluationProvider"),
    ("metrics.keptn.sh/v1", "KeptnMetric"),
    ("metrics.keptn.sh/v1alpha2", "KeptnMetricsProvider"),
    ("options.keptn.sh/v1alpha1", "KeptnConfig"),
]
KEYS = [
    "metadata", "spec", "name", "namespace", "deno", "function", "python", "container", "inline", "code",
    "functionRef", "items", "template", "annotations", "labels", "objectives", "keptnMetricRef",
    "evaluationTarget", "range", "step", "aggregation", "data", "stringData", "workloads", "version",
    "provider", "query", "fetchIntervalSeconds", "preDeploymentTasks", "keptn.sh/workload",
    "keptn.sh/container", "containers", "env", "value", "image", "source", "secretName",
]  # fmt: skip
leaves = st.one_of(
    st.none(), st.booleans(), st.integers(-5, 5), st.sampled_from(["", "a", ">4", "5m", "x,y"])
)
trees = st.recursive(
    leaves,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(KEYS), inner, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(KINDS), st.dictionaries(st.sampled_from(KEYS), trees, max_size=5))
def test_any_document_loads_or_fails_with_manifest_errors(
    kind: tuple[str, str], body: dict[str, Any]
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "doc.yaml"
        path.write_text(yaml.safe_dump({"apiVersion": kind[0], "kind": kind[1], **body}))
        try:
            manifests = load_paths([path])
        except ManifestErrors as exc:
            assert exc.errors and all(str(error).startswith(str(path)) for error in exc.errors)
            return
        validate(manifests)
        derive(manifests)


def test_a_self_referencing_document_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "loop.yaml"
    path.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata: &x {k: *x}\n")
    with pytest.raises(ManifestErrors) as caught:
        load_paths([path])
    assert [str(e) for e in caught.value.errors] == [
        f"{path}:1: document 1: the document refers to itself (a YAML alias inside its own anchor)"
    ]
