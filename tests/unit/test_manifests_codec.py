"""The stored form: every kind round-trips through encode/decode, and through YAML files and the loader."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.keptn.meta import ObjectMeta
from shared.keptn.resources import (
    InlineCode,
    KeptnApp,
    KeptnAppContext,
    KeptnAppContextSpec,
    KeptnAppSpec,
    KeptnEvaluationDefinition,
    KeptnEvaluationDefinitionSpec,
    KeptnMetric,
    KeptnMetricSpec,
    KeptnTaskDefinition,
    KeptnTaskDefinitionSpec,
    MetricRange,
    MetricRef,
    NameRef,
    Objective,
    ParameterMap,
    RuntimeSpec,
    WorkloadRef,
)
from shared.keptn.workloads import (
    Container,
    EnvVar,
    PodSpec,
    PodTemplate,
    PodTemplateMeta,
    Workload,
    WorkloadSpec,
)
from shared.manifests import decode_object, encode_object, load_paths, manifest_set_from_objects
from shared.manifests.codec import SecretNotStoredError

DATA = Path(__file__).parent / "data"

names = st.from_regex(r"[a-z]([a-z0-9-]{0,20}[a-z0-9])?", fullmatch=True)
# YAML 1.1 folds NEL and the Unicode line/paragraph separators inside scalars: PyYAML's own round
# trip changes them, so they are left out of generated text.
texts = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00\x85\u2028\u2029"), max_size=30
)
label_maps = st.dictionaries(
    st.from_regex(r"[a-z]{1,8}(\.[a-z]{1,5})?/[a-z-]{1,10}", fullmatch=True), texts, max_size=3
)


def metas() -> st.SearchStrategy[ObjectMeta]:
    return st.builds(ObjectMeta, name=names, namespace=names, labels=label_maps, annotations=label_maps)


runtimes = st.builds(
    RuntimeSpec,
    inline=st.builds(InlineCode, code=texts.filter(bool)),
    parameters=st.builds(ParameterMap, map=st.dictionaries(names, texts, max_size=3)),
)
objects = st.one_of(
    st.builds(
        KeptnApp,
        metadata=metas(),
        spec=st.builds(
            KeptnAppSpec,
            version=names,
            revision=st.integers(1, 100),
            workloads=st.lists(st.builds(WorkloadRef, name=names, version=names), max_size=3),
        ),
    ),
    st.builds(
        KeptnAppContext,
        metadata=metas(),
        spec=st.builds(
            KeptnAppContextSpec,
            pre_deployment_tasks=st.lists(names, max_size=3),
            metadata=st.dictionaries(names, texts, max_size=2),
        ),
    ),
    st.builds(
        KeptnTaskDefinition,
        metadata=metas(),
        spec=st.builds(
            KeptnTaskDefinitionSpec,
            deno=runtimes,
            retries=st.integers(0, 20),
            timeout=st.sampled_from(["5m", "30s", "1h"]),
        ),
    ),
    st.builds(
        KeptnEvaluationDefinition,
        metadata=metas(),
        spec=st.builds(
            KeptnEvaluationDefinitionSpec,
            objectives=st.lists(
                st.builds(
                    Objective,
                    keptn_metric_ref=st.builds(
                        MetricRef, name=names, namespace=st.one_of(st.just(""), names)
                    ),
                    evaluation_target=st.sampled_from([">4", "<=0.5", "!=1"]),
                ),
                max_size=3,
            ),
        ),
    ),
    st.builds(
        KeptnMetric,
        metadata=metas(),
        spec=st.builds(
            KeptnMetricSpec,
            provider=st.builds(NameRef, name=names),
            query=texts,
            fetch_interval_seconds=st.integers(0, 3600),
            range=st.one_of(
                st.none(),
                st.builds(
                    MetricRange, interval=st.just("10m"), step=st.just("1m"), aggregation=st.just("max")
                ),
            ),
        ),
    ),
    st.builds(
        Workload,
        kind=st.sampled_from(["Deployment", "StatefulSet", "DaemonSet", "ReplicaSet"]),
        metadata=metas(),
        spec=st.builds(
            WorkloadSpec,
            replicas=st.one_of(st.none(), st.integers(0, 5)),
            template=st.builds(
                PodTemplate,
                metadata=st.builds(PodTemplateMeta, labels=label_maps, annotations=label_maps),
                spec=st.builds(
                    PodSpec,
                    containers=st.lists(
                        st.builds(
                            Container,
                            name=names,
                            image=texts,
                            env=st.lists(st.builds(EnvVar, name=names, value=texts), max_size=2),
                        ),
                        max_size=2,
                    ),
                ),
            ),
        ),
    ),
)


def kind_of(obj: msgspec.Struct) -> str:
    kind = getattr(obj, "kind")  # noqa: B009
    assert isinstance(kind, str)
    return kind


@given(objects)
def test_every_object_round_trips_through_its_stored_json(obj: msgspec.Struct) -> None:
    assert decode_object(kind_of(obj), encode_object(obj)) == obj


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=60)
@given(objects)
def test_every_object_written_as_yaml_loads_back_unchanged(tmp_path: Path, obj: msgspec.Struct) -> None:
    path = tmp_path / "object.yaml"
    path.write_text(
        yaml.safe_dump(msgspec.json.decode(encode_object(obj)), allow_unicode=True, sort_keys=False)
    )
    loaded = list(load_paths([path]).objects())
    assert [(kind, o) for kind, _, _, o in loaded] == [(kind_of(obj), obj)]


def test_the_seed_example_survives_storage() -> None:
    ms = load_paths([DATA / "simplenode-dev"])
    stored = [(kind, encode_object(obj)) for kind, _, _, obj in ms.objects()]
    rebuilt = manifest_set_from_objects((kind, decode_object(kind, data)) for kind, data in stored)
    assert list(rebuilt.objects()) == list(ms.objects())
    assert rebuilt.sources == {} and rebuilt.secrets == {}


def test_stored_json_uses_klts_field_names() -> None:
    ms = load_paths([DATA / "simplenode-dev"])
    data = msgspec.json.decode(encode_object(ms.metrics[("simplenode-dev", "available-cpus")]))
    assert data["apiVersion"] == "metrics.keptn.sh/v1"
    assert data["spec"]["fetchIntervalSeconds"] == 10


def test_secrets_are_never_encoded() -> None:
    ms = load_paths([DATA / "simplenode-dev"])
    secret = next(iter(ms.secrets.values()))
    with pytest.raises(SecretNotStoredError):
        encode_object(secret)
    with pytest.raises(SecretNotStoredError):
        decode_object("Secret", b"{}")
