"""Semantic checks after loading: KLT's webhook rules, durations, targets and every reference."""

from __future__ import annotations

from pathlib import Path
from textwrap import dedent

from shared.manifests import load_paths, validate

PROVIDER = """
apiVersion: metrics.keptn.sh/v1
kind: KeptnMetricsProvider
metadata: {name: prom, namespace: shop}
spec: {type: prometheus, targetServer: "http://prom:9090"}
"""
METRIC = """
apiVersion: metrics.keptn.sh/v1
kind: KeptnMetric
metadata: {name: cpus, namespace: shop}
spec: {provider: {name: prom}, query: "up", fetchIntervalSeconds: 10}
"""


def problems(tmp_path: Path, *documents: str, keptn_namespace: str = "keptn-system") -> list[str]:
    path = tmp_path / "manifests.yaml"
    path.write_text("---\n".join(dedent(d).lstrip("\n") for d in documents))
    return [str(e).replace(f"{path}:", "") for e in validate(load_paths([path]), keptn_namespace)]


def task(name: str, spec: str, namespace: str = "shop") -> str:
    body = "\n".join("  " + line for line in dedent(spec).strip("\n").splitlines())
    return (
        f"apiVersion: lifecycle.keptn.sh/v1\nkind: KeptnTaskDefinition\n"
        f"metadata: {{name: {name}, namespace: {namespace}}}\nspec:\n{body}\n"
    )


# --- task definitions ---------------------------------------------------------------------------


def test_a_task_definition_needs_exactly_one_runtime(tmp_path: Path) -> None:
    assert problems(
        tmp_path,
        task("none", "retries: 1"),
        task("two", "deno: {inline: {code: a}}\npython: {inline: {code: b}}"),
    ) == [
        "4: document 1 (KeptnTaskDefinition none): spec: Forbidden! Either Container, Python, or Deno field "
        "must be defined",
        "11: document 2 (KeptnTaskDefinition two): spec.deno: Forbidden! Only one of Container, Python, or "
        "Deno "
        "field can be defined (found python, deno)",
    ]


def test_a_runtime_needs_exactly_one_code_source(tmp_path: Path) -> None:
    assert problems(
        tmp_path,
        task("nothing", "deno: {parameters: {map: {a: b}}}"),
        task("both", "python:\n  inline: {code: print(1)}\n  httpRef: {url: 'https://example.org/t.py'}"),
    ) == [
        "5: document 1 (KeptnTaskDefinition nothing): spec.deno: no code given: set exactly one of inline, "
        "httpRef, configMapRef or functionRef",
        "13: document 2 (KeptnTaskDefinition both): spec.python.httpRef: more than one code source (inline, "
        "httpRef): set exactly one of inline, httpRef, configMapRef or functionRef",
    ]


def test_old_function_fields_are_reported_where_the_user_wrote_them(tmp_path: Path) -> None:
    text = """
        apiVersion: lifecycle.keptn.sh/v1alpha3
        kind: KeptnTaskDefinition
        metadata: {name: old, namespace: shop}
        spec:
          function:
            functionRef: {name: missing}
    """
    assert problems(tmp_path, text) == [
        "6: document 1 (KeptnTaskDefinition old): spec.function.functionRef.name: KeptnTaskDefinition "
        "'missing' not found in namespace 'shop' or the Keptn namespace 'keptn-system'"
    ]


def test_durations_must_parse_as_go_durations(tmp_path: Path) -> None:
    assert problems(tmp_path, task("slow", "timeout: 5mins\ndeno: {inline: {code: a}}")) == [
        "5: document 1 (KeptnTaskDefinition slow): spec.timeout: unknown unit 'mins' in duration '5mins'; "
        "expected a Go duration such as '300ms', '5s', '1.5m' or '1h30m' (units ns, us, µs, ms, s, m, h)"
    ]


def test_function_ref_parent_must_exist_and_have_code(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        task("base", "deno: {inline: {code: a}}", namespace="keptn-system"),
        task("child", "deno: {functionRef: {name: base}}"),
        task("grandchild", "deno: {functionRef: {name: child}}"),
    )
    assert found == [
        "17: document 3 (KeptnTaskDefinition grandchild): spec.deno.functionRef.name: KeptnTaskDefinition "
        "'child' has no code of its own (functionRef is followed one level only)"
    ]


def test_config_map_ref_needs_the_config_map_with_a_code_key(tmp_path: Path) -> None:
    config_map = (
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: scripts, namespace: shop}\ndata: {main: x}\n"
    )
    assert problems(
        tmp_path,
        config_map,
        task("from-cm", "deno: {configMapRef: {name: scripts}}"),
        task("gone", "deno: {configMapRef: {name: nope}}"),
    ) == [
        "10: document 2 (KeptnTaskDefinition from-cm): spec.deno.configMapRef.name: ConfigMap 'scripts' has "
        "no key 'code' (the task's code is read from it)",
        "16: document 3 (KeptnTaskDefinition gone): spec.deno.configMapRef.name: ConfigMap 'nope' not found "
        "in namespace 'shop'",
    ]


def test_a_secret_must_exist_where_the_task_runs_and_hold_secure_data(tmp_path: Path) -> None:
    secret = (
        "apiVersion: v1\nkind: Secret\nmetadata: {name: wrong-key, namespace: shop}\nstringData: {token: x}\n"
    )
    assert problems(
        tmp_path,
        secret,
        task("missing", "deno: {inline: {code: a}, secureParameters: {secret: absent}}"),
        task("bad-key", "deno: {inline: {code: a}, secureParameters: {secret: wrong-key}}"),
    ) == [
        "10: document 2 (KeptnTaskDefinition missing): spec.deno.secureParameters.secret: Secret 'absent' "
        "not "
        "found in namespace 'shop' (a task reads its Secret in the namespace it runs in)",
        "16: document 3 (KeptnTaskDefinition bad-key): spec.deno.secureParameters.secret: Secret 'wrong-key' "
        "in namespace 'shop' has no key 'SECURE_DATA' (the task's SECURE_DATA is read from it)",
    ]


def test_a_shared_definition_needs_its_secret_in_each_namespace_that_uses_it(tmp_path: Path) -> None:
    workload = """
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: web, namespace: shop}
        spec:
          template:
            metadata:
              annotations:
                keptn.sh/workload: web
                keptn.sh/version: "1"
                keptn.sh/pre-deployment-tasks: notify
    """
    keptn_secret = (
        "apiVersion: v1\nkind: Secret\nmetadata: {name: hook, namespace: keptn-system}\n"
        "stringData: {SECURE_DATA: x}\n"
    )
    shared = task("notify", "deno: {inline: {code: a}, secureParameters: {secret: hook}}", "keptn-system")
    assert problems(tmp_path, workload, keptn_secret, shared) == [
        "21: document 3 (KeptnTaskDefinition notify): spec.deno.secureParameters.secret: Secret 'hook' not "
        "found in namespace 'shop' (a task reads its Secret in the namespace it runs in)"
    ]


def test_container_tasks_need_a_container_name(tmp_path: Path) -> None:
    assert problems(tmp_path, task("c", "container: {image: 'busybox:1.36'}")) == [
        "5: document 1 (KeptnTaskDefinition c): spec.container.name: required field is missing"
    ]


# --- evaluations and metrics --------------------------------------------------------------------


def test_evaluation_targets_must_parse_and_name_the_objective(tmp_path: Path) -> None:
    evaluation = """
        apiVersion: lifecycle.keptn.sh/v1
        kind: KeptnEvaluationDefinition
        metadata: {name: evaluate-dependencies, namespace: shop}
        spec:
          retryInterval: 5s
          objectives:
            - keptnMetricRef: {name: cpus}
              evaluationTarget: ">=4"
            - keptnMetricRef: {name: cpus}
              evaluationTarget: "=>4"
    """
    assert problems(tmp_path, PROVIDER, METRIC, evaluation) == [
        "20: document 3 (KeptnEvaluationDefinition evaluate-dependencies): "
        "spec.objectives[1].evaluationTarget: "
        "expected '<N', '>N', '<=N', '>=N', '==N' or '!=N', got '=>4'"
    ]


def test_metric_references_resolve_in_the_ref_then_own_then_keptn_namespace(tmp_path: Path) -> None:
    keptn_metric = METRIC.replace("namespace: shop", "namespace: keptn-system").replace(
        "name: cpus", "name: mem"
    )
    keptn_provider = PROVIDER.replace("namespace: shop", "namespace: keptn-system")
    evaluation = """
        apiVersion: lifecycle.keptn.sh/v1
        kind: KeptnEvaluationDefinition
        metadata: {name: e, namespace: shop}
        spec:
          objectives:
            - {keptnMetricRef: {name: cpus}, evaluationTarget: ">1"}
            - {keptnMetricRef: {name: mem}, evaluationTarget: ">1"}
            - {keptnMetricRef: {name: cpus, namespace: other}, evaluationTarget: ">1"}
            - {keptnMetricRef: {name: disk}, evaluationTarget: ">1"}
    """
    assert problems(tmp_path, PROVIDER, METRIC, keptn_provider, keptn_metric, evaluation) == [
        "28: document 5 (KeptnEvaluationDefinition e): spec.objectives[2].keptnMetricRef.name: KeptnMetric "
        "'cpus' not found in namespace 'other'",
        "29: document 5 (KeptnEvaluationDefinition e): spec.objectives[3].keptnMetricRef.name: KeptnMetric "
        "'disk' not found in namespace 'shop' or 'keptn-system'",
    ]


def test_metric_range_rules_are_klts(tmp_path: Path) -> None:
    metric = """
        apiVersion: metrics.keptn.sh/v1
        kind: KeptnMetric
        metadata: {name: m, namespace: shop}
        spec:
          provider: {name: prom}
          query: up
          fetchIntervalSeconds: 5
          range: {interval: 1mins, step: 1m}
        ---
        apiVersion: metrics.keptn.sh/v1
        kind: KeptnMetric
        metadata: {name: n, namespace: shop}
        spec:
          provider: {name: prom}
          query: up
          fetchIntervalSeconds: 5
          range: {aggregation: p42, storedResults: 300}
    """
    assert problems(tmp_path, PROVIDER, metric) == [
        "13: document 2 (KeptnMetric m): spec.range.interval: unknown unit 'mins' in duration '1mins'; "
        "expected a Go duration such as '300ms', '5s', '1.5m' or '1h30m' (units ns, us, µs, ms, s, m, h)",
        "13: document 2 (KeptnMetric m): spec.range.step: Forbidden! Aggregation field is required if "
        "defining the step field",
        "22: document 3 (KeptnMetric n): spec.range.aggregation: Forbidden! Step interval is required for "
        "the aggregation to work",
        "22: document 3 (KeptnMetric n): spec.range.aggregation: expected one of p90, p95, p99, max, min, "
        "avg, median, got 'p42'",
        "22: document 3 (KeptnMetric n): spec.range.storedResults: must be between 0 and 255, got 300",
    ]


def test_a_metric_needs_its_provider_in_its_own_namespace(tmp_path: Path) -> None:
    assert problems(tmp_path, METRIC) == [
        "4: document 1 (KeptnMetric cpus): spec.provider.name: KeptnMetricsProvider 'prom' not found in "
        "namespace 'shop'"
    ]


def test_provider_types_are_checked_including_the_name_fallback(tmp_path: Path) -> None:
    typed = PROVIDER.replace("type: prometheus", "type: graphite")
    untyped = PROVIDER.replace("type: prometheus, ", "").replace("name: prom,", "name: my-provider,")
    assert problems(tmp_path, typed, untyped) == [
        "4: document 1 (KeptnMetricsProvider prom): spec.type: expected one of cortex, datadog, dql, "
        "dynatrace, prometheus, thanos, elastic, got 'graphite'",
        "9: document 2 (KeptnMetricsProvider my-provider): spec.type: no type given and the name "
        "'my-provider' is not a provider type; set spec.type to one of cortex, datadog, dql, dynatrace, "
        "prometheus, thanos, elastic",
    ]


def test_provider_secret_must_exist_unless_optional(tmp_path: Path) -> None:
    with_secret = PROVIDER.replace("targetServer:", "secretKeyRef: {name: token, key: API}, targetServer:")
    optional = (
        with_secret.replace("name: prom,", "name: dynatrace,")
        .replace("key: API}", "key: API, optional: true}")
        .replace("type: prometheus", "type: dynatrace")
    )
    assert problems(tmp_path, with_secret, optional) == [
        "4: document 1 (KeptnMetricsProvider prom): spec.secretKeyRef.name: Secret 'token' not found in "
        "namespace 'shop'"
    ]


def test_keptn_config_durations(tmp_path: Path) -> None:
    config = """
        apiVersion: options.keptn.sh/v1alpha1
        kind: KeptnConfig
        metadata: {name: cfg}
        spec: {observabilityTimeout: "-5m"}
    """
    assert problems(tmp_path, config) == [
        "4: document 1 (KeptnConfig cfg): spec.observabilityTimeout: duration '-5m' is negative"
    ]


# --- references from workloads and apps ---------------------------------------------------------


def test_workload_annotations_must_name_existing_definitions(tmp_path: Path) -> None:
    workload = """
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: web, namespace: shop}
        spec:
          template:
            metadata:
              labels:
                app.kubernetes.io/name: web
                keptn.sh/post-deployment-evaluations: healthy
              annotations:
                keptn.sh/pre-deployment-tasks: notify,audit
    """
    notify = task("notify", "deno: {inline: {code: a}}", namespace="keptn-system")
    assert problems(tmp_path, workload, notify) == [
        "11: document 1 (Deployment web): "
        "spec.template.metadata.annotations['keptn.sh/pre-deployment-tasks']: "
        "KeptnTaskDefinition 'audit' not found in namespace 'shop' or the Keptn namespace 'keptn-system'",
        "9: document 1 (Deployment web): "
        "spec.template.metadata.labels['keptn.sh/post-deployment-evaluations']: "
        "KeptnEvaluationDefinition 'healthy' not found in namespace 'shop' or the Keptn namespace "
        "'keptn-system'",
    ]


def test_keys_on_the_workload_object_count_when_the_pod_template_has_none(tmp_path: Path) -> None:
    workload = """
        apiVersion: apps/v1
        kind: StatefulSet
        metadata:
          name: db
          namespace: shop
          annotations: {keptn.sh/workload: db, keptn.sh/pre-deployment-tasks: backup}
    """
    assert problems(tmp_path, workload) == [
        "6: document 1 (StatefulSet db): metadata.annotations['keptn.sh/pre-deployment-tasks']: "
        "KeptnTaskDefinition 'backup' not found in namespace 'shop' or the Keptn namespace 'keptn-system'"
    ]


def test_workloads_without_a_workload_key_are_not_checked(tmp_path: Path) -> None:
    workload = """
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: web, namespace: shop}
        spec:
          template:
            metadata:
              annotations: {keptn.sh/pre-deployment-tasks: nothing}
    """
    assert problems(tmp_path, workload) == []


def test_app_context_and_old_app_lists_must_name_existing_definitions(tmp_path: Path) -> None:
    context = """
        apiVersion: lifecycle.keptn.sh/v1
        kind: KeptnAppContext
        metadata: {name: shop-app, namespace: shop}
        spec:
          preDeploymentTasks: [announce]
          promotionTasks: [promote]
          postDeploymentEvaluations: [healthy]
    """
    old_app = """
        apiVersion: lifecycle.keptn.sh/v1alpha3
        kind: KeptnApp
        metadata: {name: simpleapp, namespace: shop}
        spec:
          version: "1.0.0"
          workloads: [{name: simplenode, version: 1.0.2}]
          preDeploymentEvaluations: [app-pre-deploy-eval]
    """
    assert problems(tmp_path, context, old_app, task("promote", "deno: {inline: {code: a}}")) == [
        "5: document 1 (KeptnAppContext shop-app): spec.preDeploymentTasks[0]: KeptnTaskDefinition "
        "'announce' "
        "not found in namespace 'shop' or the Keptn namespace 'keptn-system'",
        "7: document 1 (KeptnAppContext shop-app): spec.postDeploymentEvaluations[0]: "
        "KeptnEvaluationDefinition 'healthy' not found in namespace 'shop' or the Keptn namespace "
        "'keptn-system'",
        "15: document 2 (KeptnApp simpleapp): spec.preDeploymentEvaluations[0]: KeptnEvaluationDefinition "
        "'app-pre-deploy-eval' not found in namespace 'shop' or the Keptn namespace 'keptn-system'",
    ]


def test_the_keptn_namespace_is_configurable(tmp_path: Path) -> None:
    context = """
        apiVersion: lifecycle.keptn.sh/v1
        kind: KeptnAppContext
        metadata: {name: a, namespace: shop}
        spec: {preDeploymentTasks: [notify]}
    """
    notify = task("notify", "deno: {inline: {code: a}}", namespace="klt")
    assert problems(tmp_path, context, notify, keptn_namespace="klt") == []
    assert len(problems(tmp_path, context, notify)) == 1


def test_errors_carry_structured_fields(tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text(task("t", "deno: {inline: {code: a}}\ntimeout: 1x"))
    (error,) = validate(load_paths([path]))
    assert (error.path, error.document, error.line, error.kind, error.name, error.field) == (
        str(path),
        0,
        6,
        "KeptnTaskDefinition",
        "t",
        "spec.timeout",
    )
