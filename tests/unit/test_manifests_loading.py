"""Loading manifest folders: kinds kept and ignored, versions converted to v1, namespaces, errors."""

from __future__ import annotations

import json
from pathlib import Path
from textwrap import dedent

import pytest

from shared.keptn.resources import KeptnMetricsProvider
from shared.manifests import ManifestErrors, ManifestSet, load_paths, load_secrets, validate

DATA = Path(__file__).parent / "data"


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(dedent(text).lstrip("\n"))
    return path


def errors_of(*paths: Path, default_namespace: str | None = None) -> list[str]:
    with pytest.raises(ManifestErrors) as caught:
        load_paths(list(paths), default_namespace)
    return [str(e) for e in caught.value.errors]


# --- the seed's example -------------------------------------------------------------------------


def test_simplenode_dev_loads_with_v1alpha3_kinds_converted() -> None:
    ms = load_paths([DATA / "simplenode-dev"])
    kinds = sorted((kind, ns, name) for kind, ns, name, _ in ms.objects())
    assert kinds == [
        ("Deployment", "simplenode-dev", "simplenode"),
        ("KeptnEvaluationDefinition", "simplenode-dev", "evaluate-dependencies"),
        ("KeptnEvaluationDefinition", "simplenode-dev", "evaluate-deployment"),
        ("KeptnMetric", "simplenode-dev", "available-cpus"),
        ("KeptnMetricsProvider", "simplenode-dev", "prometheus"),
        ("KeptnTaskDefinition", "simplenode-dev", "notify"),
        ("Namespace", "", "simplenode-dev"),
    ]  # Service and Ingress ignored, *.tmp not read, the Secret not listed
    notify = ms.task_definitions[("simplenode-dev", "notify")]
    assert notify.api_version == "lifecycle.keptn.sh/v1"
    assert notify.spec.deno is not None and "KEPTN_CONTEXT" in notify.spec.deno.inline.code  # type: ignore[union-attr]
    assert notify.spec.deno.secure_parameters.secret == "slack-notification"
    provider = ms.metrics_providers[("simplenode-dev", "prometheus")]
    assert provider.spec.type == "" and provider.provider_type == "prometheus"
    assert validate(ms) == []
    assert load_secrets([DATA / "simplenode-dev"]) == {
        ("simplenode-dev", "slack-notification"): {"SECURE_DATA": '{"slack_hook":"not/a/real/hook"}'}
    }


def test_sources_say_where_each_object_came_from() -> None:
    ms = load_paths([DATA / "simplenode-dev"])
    source = ms.sources[("KeptnEvaluationDefinition", "simplenode-dev", "evaluate-deployment")]
    assert source.path.endswith("keptn-evaluations.yaml")
    assert (source.document, source.line) == (1, 13)
    assert source.api_version == "lifecycle.keptn.sh/v1alpha3"


# --- files, documents, kinds --------------------------------------------------------------------


def test_folders_are_read_recursively_and_sorted_with_yaml_yml_and_json(tmp_path: Path) -> None:
    write(
        tmp_path,
        "b/task.yml",
        """
        apiVersion: lifecycle.keptn.sh/v1
        kind: KeptnTaskDefinition
        metadata: {name: from-yml}
        spec: {deno: {inline: {code: "1"}}}
    """,
    )
    (tmp_path / "a.json").write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": "from-json"},
                "data": {"code": "x"},
            }
        )
    )
    write(tmp_path, ".hidden/ignored.yaml", "not: [valid")
    write(tmp_path, "kustomization.yaml", "resources: [b/task.yml]\n")
    write(tmp_path, "notes.txt", "not: [valid")
    ms = load_paths([tmp_path])
    assert set(ms.task_definitions) == {("default", "from-yml")}
    assert ms.config_maps[("default", "from-json")].data == {"code": "x"}


def test_multi_document_files_skip_empty_documents_and_unknown_kinds(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "all.yaml",
        """
        ---
        # only a comment
        ---
        apiVersion: v1
        kind: Service
        metadata: {name: svc}
        ---
        apiVersion: apps/v1
        kind: StatefulSet
        metadata: {name: db}
        spec:
          template:
            spec:
              containers: [{name: db, image: "postgres:16"}]
        ---
        apiVersion: argoproj.io/v1alpha1
        kind: Rollout
        metadata: {name: r}
    """,
    )
    ms = load_paths([path])
    db = ms.workloads[("StatefulSet", "default", "db")]
    assert db.spec.template.spec.containers[0].image == "postgres:16"
    assert db.desired_replicas == 1
    assert ms.sources[("StatefulSet", "default", "db")].document == 2  # the comment-only one counts


def test_a_kubernetes_list_is_expanded(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "list.yaml",
        """
        apiVersion: v1
        kind: List
        items:
          - apiVersion: v1
            kind: ConfigMap
            metadata: {name: one}
          - apiVersion: apps/v1
            kind: DaemonSet
            metadata: {name: agent}
            spec:
              replicas: 3
    """,
    )
    ms = load_paths([path])
    assert ("default", "one") in ms.config_maps
    assert ms.workloads[("DaemonSet", "default", "agent")].desired_replicas is None
    assert ms.sources[("DaemonSet", "default", "agent")].line == 7


def test_env_entries_with_value_from_count_as_empty(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "d.yaml",
        """
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: web}
        spec:
          template:
            metadata:
              labels: null
            spec:
              containers:
                - name: web
                  image: web:1
                  env:
                    - name: POD
                      valueFrom: {fieldRef: {fieldPath: metadata.name}}
    """,
    )
    web = load_paths([path]).workloads[("Deployment", "default", "web")]
    assert web.spec.template.spec.containers[0].env[0].value == ""
    assert web.spec.template.metadata.labels == {}


# --- namespaces ---------------------------------------------------------------------------------


def _config_map(folder: Path, name: str, namespace: str | None = None) -> None:
    ns_line = f"\n  namespace: {namespace}" if namespace else ""
    write(folder, f"{name}.yaml", f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}{ns_line}\n")


def test_objects_without_namespace_get_the_given_default(tmp_path: Path) -> None:
    _config_map(tmp_path, "a")
    _config_map(tmp_path, "b", "other")
    ms = load_paths([tmp_path], default_namespace="team")
    assert set(ms.config_maps) == {("team", "a"), ("other", "b")}


def test_a_single_declared_namespace_is_the_default(tmp_path: Path) -> None:
    _config_map(tmp_path, "a")
    write(
        tmp_path,
        "ns.yaml",
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n  namespace: ignored\n",
    )
    ms = load_paths([tmp_path])
    assert set(ms.config_maps) == {("shop", "a")}
    assert "shop" in ms.namespaces and ms.namespaces["shop"].metadata.namespace == ""


def test_with_two_namespaces_or_none_the_default_is_default(tmp_path: Path) -> None:
    _config_map(tmp_path, "a")
    assert set(load_paths([tmp_path]).config_maps) == {("default", "a")}
    write(
        tmp_path,
        "ns.yaml",
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: x}\n---\n"
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: y}\n",
    )
    assert set(load_paths([tmp_path]).config_maps) == {("default", "a")}


# --- conversion of older versions ---------------------------------------------------------------


def test_v1alpha3_app_check_lists_become_an_app_context(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "app.yaml",
        """
        apiVersion: lifecycle.keptn.sh/v1alpha3
        kind: KeptnApp
        metadata: {name: shop, namespace: prod}
        spec:
          version: "1.0.0"
          workloads: [{name: cart, version: "2.1"}]
          preDeploymentTasks: [announce]
          postDeploymentEvaluations: [healthy]
    """,
    )
    ms = load_paths([path])
    app = ms.apps[("prod", "shop")]
    assert app.api_version == "lifecycle.keptn.sh/v1" and app.spec.workloads[0].name == "cart"
    context = ms.app_contexts[("prod", "shop")]
    assert context.spec.pre_deployment_tasks == ["announce"]
    assert context.spec.post_deployment_evaluations == ["healthy"]
    assert ("prod", "shop") in ms.converted_contexts
    assert ms.sources[("KeptnAppContext", "prod", "shop")].kind == "KeptnApp"
    assert ("KeptnAppContext", "prod", "shop") not in {
        (k, n, m) for k, n, m, _ in ms.objects() if k != "KeptnAppContext"
    }


def test_an_explicit_app_context_wins_over_old_app_lists(tmp_path: Path) -> None:
    write(
        tmp_path,
        "app.yaml",
        """
        apiVersion: lifecycle.keptn.sh/v1alpha2
        kind: KeptnApp
        metadata: {name: shop}
        spec: {version: "1", preDeploymentTasks: [old]}
    """,
    )
    write(
        tmp_path,
        "context.yaml",
        """
        apiVersion: lifecycle.keptn.sh/v1beta1
        kind: KeptnAppContext
        metadata: {name: shop}
        spec: {preDeploymentTasks: [new]}
    """,
    )
    ms = load_paths([tmp_path])
    assert ms.app_contexts[("default", "shop")].spec.pre_deployment_tasks == ["new"]
    assert not ms.converted_contexts


def test_v1_app_check_lists_are_ignored_as_klt_prunes_them(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "app.yaml",
        """
        apiVersion: lifecycle.keptn.sh/v1
        kind: KeptnApp
        metadata: {name: shop}
        spec: {version: "1", preDeploymentTasks: [ignored]}
    """,
    )
    assert load_paths([path]).app_contexts == {}


def test_function_is_the_old_name_of_deno_and_empty_sources_are_unset(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "task.yaml",
        """
        apiVersion: lifecycle.keptn.sh/v1beta1
        kind: KeptnTaskDefinition
        metadata: {name: hello}
        spec:
          function:
            inline: {code: "console.log('hi')"}
            httpRef: {url: ""}
            functionRef: {}
            parameters: {map: {who: world}}
    """,
    )
    deno = load_paths([path]).task_definitions[("default", "hello")].spec.deno
    assert deno is not None and deno.parameters.map == {"who": "world"}
    assert deno.http_ref is None and deno.function_ref is None


def test_function_and_deno_together_are_rejected(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "task.yaml",
        """
        apiVersion: lifecycle.keptn.sh/v1alpha3
        kind: KeptnTaskDefinition
        metadata: {name: hello}
        spec:
          deno: {inline: {code: "a"}}
          function: {inline: {code: "b"}}
    """,
    )
    (error,) = errors_of(path)
    assert error == (
        f"{path}:6: document 1 (KeptnTaskDefinition hello): spec.function: Forbidden! Only one of Container, "
        "Python, or Deno field can be defined (spec.function is the old name of spec.deno)"
    )


def test_old_evaluation_definitions_drop_retries_as_klts_schema_does(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "eval.yaml",
        """
        apiVersion: lifecycle.keptn.sh/v1alpha3
        kind: KeptnEvaluationDefinition
        metadata: {name: e}
        spec:
          retries: 3
          objectives: [{keptnMetricRef: {name: m}, evaluationTarget: ">1"}]
    """,
    )
    spec = load_paths([path]).evaluation_definitions[("default", "e")].spec
    assert (spec.retries, spec.retry_interval) == (10, "5s")


def test_inline_query_evaluation_definitions_are_unsupported(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "eval.yaml",
        """
        apiVersion: lifecycle.keptn.sh/v1alpha2
        kind: KeptnEvaluationDefinition
        metadata: {name: old}
        spec:
          source: prometheus
          objectives:
            - {name: cpus, query: "sum(x)", evaluationTarget: ">1"}
    """,
    )
    (error,) = errors_of(path)
    assert f"{path}:5: document 1 (KeptnEvaluationDefinition old): spec.source: unsupported version" in error
    assert "keptnMetricRef" in error


def test_legacy_evaluation_provider_becomes_a_metrics_provider(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "p.yaml",
        """
        apiVersion: lifecycle.keptn.sh/v1alpha2
        kind: KeptnEvaluationProvider
        metadata: {name: prometheus}
        spec: {targetServer: "http://prom:9090", secretName: prom-auth}
    """,
    )
    ms = load_paths([path])
    provider = ms.metrics_providers[("default", "prometheus")]
    assert isinstance(provider, KeptnMetricsProvider)
    assert provider.api_version == "metrics.keptn.sh/v1" and provider.kind == "KeptnMetricsProvider"
    assert provider.provider_type == "prometheus" and provider.spec.secret_key_ref is not None
    assert provider.spec.secret_key_ref.name == "prom-auth"
    assert ms.sources[("KeptnMetricsProvider", "default", "prometheus")].kind == "KeptnEvaluationProvider"


def test_v1alpha1_metrics_provider_without_type_is_accepted(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "p.yaml",
        """
        apiVersion: metrics.keptn.sh/v1alpha1
        kind: KeptnMetricsProvider
        metadata: {name: dynatrace}
        spec:
          targetServer: "https://tenant.example.org"
          secretKeyRef: {name: dynatrace, key: DT_TOKEN}
    """,
    )
    assert load_paths([path]).metrics_providers[("default", "dynatrace")].provider_type == "dynatrace"


# --- errors -------------------------------------------------------------------------------------


def test_unknown_version_names_the_served_ones(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "ctx.yaml",
        """
        apiVersion: lifecycle.keptn.sh/v1alpha3
        kind: KeptnAppContext
        metadata: {name: shop}
    """,
    )
    (error,) = errors_of(path)
    assert error == (
        f"{path}:1: document 1 (KeptnAppContext shop): apiVersion: lifecycle.keptn.sh/v1alpha3 is not a "
        "served version of KeptnAppContext; use one of lifecycle.keptn.sh/v1beta1, lifecycle.keptn.sh/v1"
    )


def test_a_keptn_kind_in_the_wrong_group_is_an_error(tmp_path: Path) -> None:
    path = write(
        tmp_path, "m.yaml", "apiVersion: lifecycle.keptn.sh/v1\nkind: KeptnMetric\nmetadata: {name: m}\n"
    )
    (error,) = errors_of(path)
    assert "KeptnMetric belongs to API group metrics.keptn.sh, not lifecycle.keptn.sh" in error


def test_wrong_types_and_missing_fields_name_the_field_and_its_line(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "bad.yaml",
        """
        apiVersion: metrics.keptn.sh/v1
        kind: KeptnMetric
        metadata: {name: cpus}
        spec:
          provider: {name: prom}
          query: "up"
          fetchIntervalSeconds: "10"
        ---
        apiVersion: lifecycle.keptn.sh/v1
        kind: KeptnApp
        metadata: {name: shop}
        spec:
          workloads: []
        ---
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: web}
        spec:
          template:
            metadata:
              annotations:
                keptn.sh/workload: web
                keptn.sh/version: 1.0
    """,
    )
    errors = errors_of(path)
    assert errors == [
        f"{path}:7: document 1 (KeptnMetric cpus): spec.fetchIntervalSeconds: "
        "expected an integer, got a string",
        f"{path}:12: document 2 (KeptnApp shop): spec.version: required field is missing",
        f"{path}:23: document 3 (Deployment web): spec.template.metadata.annotations['keptn.sh/version']: "
        "expected a string, got a number (quote the value so YAML reads it as text)",
    ]


def test_yaml_syntax_errors_give_file_and_line_and_keep_other_files(tmp_path: Path) -> None:
    write(tmp_path, "a-good.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ok}\n")
    bad = write(tmp_path, "b-bad.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: [broken\n")
    (error,) = errors_of(tmp_path)
    assert error.startswith(f"{bad}:") and "YAML syntax error" in error


def test_missing_kind_and_non_objects_are_errors(tmp_path: Path) -> None:
    path = write(tmp_path, "x.yaml", "apiVersion: v1\nmetadata: {name: x}\n---\n- just\n- a list\n")
    assert errors_of(path) == [
        f"{path}:1: document 1 (x): kind: required field is missing",
        f"{path}:4: document 2: expected a Kubernetes object (a mapping with apiVersion and kind)",
    ]


def test_duplicate_objects_name_both_files(tmp_path: Path) -> None:
    first = write(
        tmp_path, "a.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm, namespace: ns}\n"
    )
    second = write(
        tmp_path, "b.yaml", "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm, namespace: ns}\n"
    )
    (error,) = errors_of(tmp_path)
    assert error == (
        f"{second}:2: document 1 (ConfigMap cm): ConfigMap ns/cm is defined twice; "
        f"it is also defined at {first}:1"
    )


def test_duplicate_yaml_keys_are_errors(tmp_path: Path) -> None:
    path = write(
        tmp_path, "d.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\nmetadata: {name: b}\n"
    )
    (error,) = errors_of(path)
    assert error == f"{path}:4: document 1: metadata: key given twice in the same mapping"


def test_all_errors_are_collected(tmp_path: Path) -> None:
    write(tmp_path, "1.yaml", "apiVersion: lifecycle.keptn.sh/v9\nkind: KeptnApp\nmetadata: {name: a}\n")
    write(tmp_path, "2.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {}\n")
    write(tmp_path, "3.yaml", "a: [\n")
    assert len(errors_of(tmp_path)) == 3


def test_a_missing_path_is_an_error(tmp_path: Path) -> None:
    assert errors_of(tmp_path / "nope") == [f"{tmp_path / 'nope'}: no such file or folder"]


# --- secrets ------------------------------------------------------------------------------------


def test_secret_data_is_base64_and_string_data_wins(tmp_path: Path) -> None:
    write(
        tmp_path,
        "s.yaml",
        """
        apiVersion: v1
        kind: Secret
        metadata: {name: creds, namespace: team}
        data:
          user: YWRtaW4=
          token: b2xk
        stringData:
          token: new-token
    """,
    )
    assert load_secrets([tmp_path]) == {("team", "creds"): {"user": "admin", "token": "new-token"}}
    secret = load_paths([tmp_path]).secrets[("team", "creds")]
    for text in (repr(secret), str(secret), repr([secret])):
        assert "admin" not in text and "new-token" not in text and "YWRtaW4" not in text
        assert "creds" in text and "token" in text


def test_secret_errors_never_show_values(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "s.yaml",
        """
        apiVersion: v1
        kind: Secret
        metadata: {name: creds}
        data:
          password: "hunter2!!"
          count: 42
    """,
    )
    errors = errors_of(path)
    assert errors == [
        f"{path}:6: document 1 (Secret creds): data.count: expected a string, got an integer "
        "(quote the value so YAML reads it as text)"
    ]
    write(
        tmp_path,
        "s.yaml",
        "apiVersion: v1\nkind: Secret\nmetadata: {name: creds}\ndata:\n  password: 'hunter2!!'\n",
    )
    for message in [*errors_of(path), *(str(e) for e in _secret_errors(tmp_path))]:
        assert "hunter2" not in message
        assert "data.password: is not valid base64" in message or "data.count" in message


def _secret_errors(folder: Path) -> list[object]:
    with pytest.raises(ManifestErrors) as caught:
        load_secrets([folder])
    return list(caught.value.errors)


def test_load_secrets_ignores_problems_in_other_kinds(tmp_path: Path) -> None:
    write(
        tmp_path,
        "s.yaml",
        "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\nstringData: {SECURE_DATA: x}\n",
    )
    write(
        tmp_path,
        "t.yaml",
        "apiVersion: lifecycle.keptn.sh/v9\nkind: KeptnTaskDefinition\nmetadata: {name: t}\n",
    )
    assert load_secrets([tmp_path]) == {("default", "s"): {"SECURE_DATA": "x"}}


def test_objects_never_yield_secrets() -> None:
    ms = load_paths([DATA / "simplenode-dev"])
    assert ms.secrets and all(kind != "Secret" for kind, *_ in ms.objects())


def test_manifest_set_put_rejects_kinds_it_does_not_keep() -> None:
    with pytest.raises(TypeError):
        ManifestSet().put(KeptnMetricsProvider)  # type: ignore[arg-type]


def test_yaml_errors_say_where_an_unclosed_construct_starts(tmp_path: Path) -> None:
    path = write(tmp_path, "cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: [unclosed\n")
    assert errors_of(path) == [
        f"{path}:5: document 1: YAML syntax error: did not find expected ',' or ']' "
        "(while parsing a flow sequence that starts at line 4)"
    ]


def test_yaml_errors_in_a_secret_do_not_quote_it(tmp_path: Path) -> None:
    path = write(tmp_path, "s.yaml", 'apiVersion: v1\nkind: Secret\nstringData:\n  token: "s3cr3t-value\n')
    (error,) = errors_of(path)
    assert "s3cr3t" not in error and "YAML syntax error" in error
