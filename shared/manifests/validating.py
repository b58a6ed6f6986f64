"""Checks the schema cannot make: KLT's webhook rules, durations, targets and references.

Run after ``load_paths``. Each problem is a ``ManifestError`` naming the file, document, line and field
of the object at fault. Names are resolved as KLT resolves them at run time: task and evaluation
definitions in the referring object's namespace, then in the Keptn namespace (klt-facts §0); a
KeptnMetric in ``keptnMetricRef.namespace``, else the definition's namespace, else the Keptn
namespace; a provider in its metric's namespace. A task's Secret must exist in the namespace the task
runs in (its Job reads it there), with the key ``SECURE_DATA``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from shared.durations import DurationError, parse_duration
from shared.keptn.resources import KeptnTaskDefinition, RuntimeSpec
from shared.manifests.errors import ManifestError
from shared.manifests.keys import workload_keys
from shared.manifests.model import ManifestSet, ObjectKey
from shared.manifests.paths import Path
from shared.naming import (
    POST_DEPLOYMENT_EVALUATIONS_KEY,
    POST_DEPLOYMENT_TASKS_KEY,
    PRE_DEPLOYMENT_EVALUATIONS_KEY,
    PRE_DEPLOYMENT_TASKS_KEY,
)
from shared.targets import TargetError, parse_target

PROVIDER_TYPES = ("cortex", "datadog", "dql", "dynatrace", "prometheus", "thanos", "elastic")
AGGREGATIONS = ("p90", "p95", "p99", "max", "min", "avg", "median")
SECURE_DATA_KEY = "SECURE_DATA"
MAX_STORED_RESULTS = 255
NO_RUNTIME = "Forbidden! Either Container, Python, or Deno field must be defined"
MANY_RUNTIMES = "Forbidden! Only one of Container, Python, or Deno field can be defined"
CODE_SOURCES = "inline, httpRef, configMapRef or functionRef"


@dataclass
class _Checker:
    ms: ManifestSet
    keptn_namespace: str
    errors: list[ManifestError] = field(default_factory=list)
    task_uses: dict[tuple[str, str], set[str]] = field(default_factory=dict)
    """Task definition → namespaces its tasks run in (where its Secret must exist)."""

    def error(self, key: ObjectKey, path: Path, message: str, expected: str = "") -> None:
        self.errors.append(self.ms.error_at(key, path, message, expected))

    def duration(self, key: ObjectKey, path: Path, text: str) -> None:
        try:
            seconds = parse_duration(text)
        except DurationError as exc:
            self.error(key, path, str(exc))
            return
        if seconds < 0:
            self.error(key, path, f"duration {text!r} is negative")

    def at_least_zero(self, key: ObjectKey, path: Path, value: int) -> None:
        if value < 0:
            self.error(key, path, f"must not be negative, got {value}")

    # --- references ----------------------------------------------------------------------------
    def resolve(
        self, objects: Mapping[tuple[str, str], object], ns: str, name: str
    ) -> tuple[str, str] | None:
        for candidate in (ns, self.keptn_namespace):
            if (candidate, name) in objects:
                return (candidate, name)
        return None

    def where(self, ns: str) -> str:
        if ns == self.keptn_namespace:
            return f"namespace '{ns}'"
        return f"namespace '{ns}' or the Keptn namespace '{self.keptn_namespace}'"

    def references(
        self, key: ObjectKey, path: Path, tasks: Iterable[str], evaluations: Iterable[str]
    ) -> None:
        _, ns, _ = key
        for name in tasks:
            found = self.resolve(self.ms.task_definitions, ns, name)
            if found is None:
                self.error(key, path, f"KeptnTaskDefinition '{name}' not found in {self.where(ns)}")
            else:
                self.task_uses.setdefault(found, set()).add(ns)
        for name in evaluations:
            if self.resolve(self.ms.evaluation_definitions, ns, name) is None:
                self.error(key, path, f"KeptnEvaluationDefinition '{name}' not found in {self.where(ns)}")


def validate(ms: ManifestSet, keptn_namespace: str = "keptn-system") -> list[ManifestError]:
    """Every semantic problem of ``ms`` (empty when it is fine to run)."""
    checker = _Checker(ms, keptn_namespace)
    _check_workloads(checker)
    _check_app_contexts(checker)
    for (ns, name), definition in ms.task_definitions.items():
        _check_task_definition(checker, ("KeptnTaskDefinition", ns, name), definition)
    _check_task_secrets(checker)
    _check_evaluation_definitions(checker)
    _check_metrics(checker)
    _check_providers(checker)
    for config in ms.configs:
        key = ("KeptnConfig", config.metadata.namespace, config.metadata.name)
        checker.duration(key, ("spec", "observabilityTimeout"), config.spec.observability_timeout)
        checker.at_least_zero(
            key,
            ("spec", "keptnAppCreationRequestTimeoutSeconds"),
            config.spec.keptn_app_creation_request_timeout_seconds,
        )
    return checker.errors


def _check_workloads(checker: _Checker) -> None:
    for (kind, ns, name), workload in checker.ms.workloads.items():
        keys = workload_keys(workload)
        if keys is None:
            continue
        key = (kind, ns, name)
        lists = (
            (PRE_DEPLOYMENT_TASKS_KEY, keys.pre_deployment_tasks, True),
            (POST_DEPLOYMENT_TASKS_KEY, keys.post_deployment_tasks, True),
            (PRE_DEPLOYMENT_EVALUATIONS_KEY, keys.pre_deployment_evaluations, False),
            (POST_DEPLOYMENT_EVALUATIONS_KEY, keys.post_deployment_evaluations, False),
        )
        for annotation, names, is_task in lists:
            path = keys.fields.get(annotation, ())
            checker.references(key, path, names if is_task else (), () if is_task else names)


def _check_app_contexts(checker: _Checker) -> None:
    for (ns, name), context in checker.ms.app_contexts.items():
        key = ("KeptnAppContext", ns, name)
        spec = context.spec
        task_lists = (
            ("preDeploymentTasks", spec.pre_deployment_tasks),
            ("postDeploymentTasks", spec.post_deployment_tasks),
            ("promotionTasks", spec.promotion_tasks),
        )
        for field_name, names in task_lists:
            for i, task in enumerate(names):
                checker.references(key, ("spec", field_name, i), (task,), ())
        for field_name, names in (
            ("preDeploymentEvaluations", spec.pre_deployment_evaluations),
            ("postDeploymentEvaluations", spec.post_deployment_evaluations),
        ):
            for i, evaluation in enumerate(names):
                checker.references(key, ("spec", field_name, i), (), (evaluation,))


def _runtime(definition: KeptnTaskDefinition) -> tuple[str, RuntimeSpec] | None:
    spec = definition.spec
    if spec.deno is not None:
        return "deno", spec.deno
    if spec.python is not None:
        return "python", spec.python
    return None


def _code_sources(runtime: RuntimeSpec) -> list[str]:
    sources = []
    if runtime.inline is not None and runtime.inline.code:
        sources.append("inline")
    if runtime.http_ref is not None and runtime.http_ref.url:
        sources.append("httpRef")
    if runtime.config_map_ref is not None and runtime.config_map_ref.name:
        sources.append("configMapRef")
    if runtime.function_ref is not None and runtime.function_ref.name:
        sources.append("functionRef")
    return sources


def _check_task_definition(checker: _Checker, key: ObjectKey, definition: KeptnTaskDefinition) -> None:
    spec = definition.spec
    _, ns, _ = key
    runtimes = [
        r
        for r, v in (("container", spec.container), ("python", spec.python), ("deno", spec.deno))
        if v is not None
    ]
    if not runtimes:
        checker.error(key, ("spec",), NO_RUNTIME)
    elif len(runtimes) > 1:
        checker.error(key, ("spec", runtimes[1]), f"{MANY_RUNTIMES} (found {', '.join(runtimes)})")
    checker.duration(key, ("spec", "timeout"), spec.timeout)
    checker.at_least_zero(key, ("spec", "retries"), spec.retries)
    checker.at_least_zero(key, ("spec", "ttlSecondsAfterFinished"), spec.ttl_seconds_after_finished)
    if spec.container is not None:
        container_name = spec.container.get("name")
        if not isinstance(container_name, str) or not container_name:
            checker.error(key, ("spec", "container", "name"), "required field is missing")
    found = _runtime(definition)
    if found is None:
        return
    runtime_name, runtime = found
    sources = _code_sources(runtime)
    base: Path = ("spec", runtime_name)
    if not sources:
        checker.error(key, base, f"no code given: set exactly one of {CODE_SOURCES}")
    elif len(sources) > 1:
        checker.error(
            key,
            (*base, sources[1]),
            f"more than one code source ({', '.join(sources)}): set exactly one of {CODE_SOURCES}",
        )
    if runtime.function_ref is not None and runtime.function_ref.name:
        parent_name = runtime.function_ref.name
        parent_key = checker.resolve(checker.ms.task_definitions, ns, parent_name)
        path = (*base, "functionRef", "name")
        if parent_key is None:
            checker.error(key, path, f"KeptnTaskDefinition '{parent_name}' not found in {checker.where(ns)}")
        else:
            parent = checker.ms.task_definitions[parent_key]
            parent_runtime = _runtime(parent)
            own_code = (
                [s for s in _code_sources(parent_runtime[1]) if s != "functionRef"] if parent_runtime else []
            )
            if not own_code:
                checker.error(
                    key,
                    path,
                    f"KeptnTaskDefinition '{parent_name}' has no code of its own "
                    "(functionRef is followed one level only)",
                )
    if runtime.config_map_ref is not None and runtime.config_map_ref.name:
        cm_name = runtime.config_map_ref.name
        path = (*base, "configMapRef", "name")
        config_map = checker.ms.config_maps.get((ns, cm_name))
        if config_map is None:
            checker.error(key, path, f"ConfigMap '{cm_name}' not found in namespace '{ns}'")
        elif "code" not in config_map.data:
            checker.error(
                key, path, f"ConfigMap '{cm_name}' has no key 'code' (the task's code is read from it)"
            )


def _secret_of(checker: _Checker, definition: KeptnTaskDefinition, ns: str) -> tuple[str, Path] | None:
    """The Secret a definition's tasks read, following functionRef as KLT merges it (child first)."""
    found = _runtime(definition)
    if found is None:
        return None
    runtime_name, runtime = found
    if runtime.secure_parameters.secret:
        return runtime.secure_parameters.secret, ("spec", runtime_name, "secureParameters", "secret")
    if runtime.function_ref is not None and runtime.function_ref.name:
        parent_key = checker.resolve(checker.ms.task_definitions, ns, runtime.function_ref.name)
        parent = checker.ms.task_definitions.get(parent_key) if parent_key else None
        parent_runtime = _runtime(parent) if parent else None
        if parent_runtime and parent_runtime[1].secure_parameters.secret:
            return parent_runtime[1].secure_parameters.secret, ("spec", runtime_name, "functionRef", "name")
    return None


def _check_task_secrets(checker: _Checker) -> None:
    for (def_ns, def_name), definition in checker.ms.task_definitions.items():
        key = ("KeptnTaskDefinition", def_ns, def_name)
        for ns in sorted(checker.task_uses.get((def_ns, def_name), {def_ns})):
            found = _secret_of(checker, definition, ns)
            if found is None:
                continue
            secret_name, path = found
            secret = checker.ms.secrets.get((ns, secret_name))
            if secret is None:
                checker.error(
                    key,
                    path,
                    f"Secret '{secret_name}' not found in namespace '{ns}' "
                    "(a task reads its Secret in the namespace it runs in)",
                )
            elif SECURE_DATA_KEY not in {*secret.data, *secret.string_data}:
                checker.error(
                    key,
                    path,
                    f"Secret '{secret_name}' in namespace '{ns}' has no key "
                    f"'{SECURE_DATA_KEY}' (the task's SECURE_DATA is read from it)",
                )


def _check_evaluation_definitions(checker: _Checker) -> None:
    ms = checker.ms
    for (ns, name), definition in ms.evaluation_definitions.items():
        key = ("KeptnEvaluationDefinition", ns, name)
        checker.duration(key, ("spec", "retryInterval"), definition.spec.retry_interval)
        checker.at_least_zero(key, ("spec", "retries"), definition.spec.retries)
        for i, objective in enumerate(definition.spec.objectives):
            base: Path = ("spec", "objectives", i)
            try:
                parse_target(objective.evaluation_target)
            except TargetError as exc:
                checker.error(key, (*base, "evaluationTarget"), str(exc), exc.expected)
            ref = objective.keptn_metric_ref
            candidates = [ref.namespace] if ref.namespace else [ns, checker.keptn_namespace]
            if not any((candidate, ref.name) in ms.metrics for candidate in candidates):
                where = " or ".join(f"'{c}'" for c in dict.fromkeys(candidates))
                checker.error(
                    key,
                    (*base, "keptnMetricRef", "name"),
                    f"KeptnMetric '{ref.name}' not found in namespace {where}",
                )


def _check_metrics(checker: _Checker) -> None:
    ms = checker.ms
    for (ns, name), metric in ms.metrics.items():
        key = ("KeptnMetric", ns, name)
        spec = metric.spec
        if (ns, spec.provider.name) not in ms.metrics_providers:
            checker.error(
                key,
                ("spec", "provider", "name"),
                f"KeptnMetricsProvider '{spec.provider.name}' not found in namespace '{ns}'",
            )
        checker.at_least_zero(key, ("spec", "fetchIntervalSeconds"), spec.fetch_interval_seconds)
        if spec.range is None:
            continue
        rng = spec.range
        checker.duration(key, ("spec", "range", "interval"), rng.interval)
        if rng.step:
            checker.duration(key, ("spec", "range", "step"), rng.step)
        if rng.step and not rng.aggregation:
            checker.error(
                key,
                ("spec", "range", "step"),
                "Forbidden! Aggregation field is required if defining the step field",
            )
        if rng.aggregation and not rng.step:
            checker.error(
                key,
                ("spec", "range", "aggregation"),
                "Forbidden! Step interval is required for the aggregation to work",
            )
        if rng.aggregation and rng.aggregation not in AGGREGATIONS:
            checker.error(
                key,
                ("spec", "range", "aggregation"),
                f"expected one of {', '.join(AGGREGATIONS)}, got {rng.aggregation!r}",
            )
        if not 0 <= rng.stored_results <= MAX_STORED_RESULTS:
            checker.error(
                key,
                ("spec", "range", "storedResults"),
                f"must be between 0 and {MAX_STORED_RESULTS}, got {rng.stored_results}",
            )


def _check_providers(checker: _Checker) -> None:
    ms = checker.ms
    for (ns, name), provider in ms.metrics_providers.items():
        key = ("KeptnMetricsProvider", ns, name)
        if provider.provider_type not in PROVIDER_TYPES:
            if provider.spec.type:
                checker.error(
                    key,
                    ("spec", "type"),
                    f"expected one of {', '.join(PROVIDER_TYPES)}, got {provider.spec.type!r}",
                )
            else:
                checker.error(
                    key,
                    ("spec", "type"),
                    f"no type given and the name {name!r} is not a provider "
                    f"type; set spec.type to one of {', '.join(PROVIDER_TYPES)}",
                )
        ref = provider.spec.secret_key_ref
        if ref is None or not ref.name or ref.optional:
            continue
        secret = ms.secrets.get((ns, ref.name))
        path: Path = ("spec", "secretKeyRef", "name")
        if secret is None:
            checker.error(key, path, f"Secret '{ref.name}' not found in namespace '{ns}'")
        elif ref.key and ref.key not in {*secret.data, *secret.string_data}:
            checker.error(key, ("spec", "secretKeyRef", "key"), f"Secret '{ref.name}' has no key '{ref.key}'")
