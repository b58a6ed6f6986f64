"""Every Keptn kind klt serves in Kubernetes: group, names, versions, columns, and its model (klt-facts §1).

This table is the only hand-written part of the CRDs; schemas come from the models it names.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import msgspec

from deploy.crdgen.models import KeptnAppCreationRequest, KeptnAppStatus, KeptnTaskDefinitionStatus
from services.metrics_provider.status import MetricStatus
from shared.keptn.analysis import Analysis, AnalysisDefinition, AnalysisValueTemplate
from shared.keptn.lifecycle import (
    KeptnAppVersion,
    KeptnEvaluation,
    KeptnTask,
    KeptnWorkload,
    KeptnWorkloadVersion,
)
from shared.keptn.resources import (
    LIFECYCLE_GROUP,
    METRICS_GROUP,
    OPTIONS_GROUP,
    KeptnApp,
    KeptnAppContext,
    KeptnConfig,
    KeptnEvaluationDefinition,
    KeptnMetric,
    KeptnMetricsProvider,
    KeptnTaskDefinition,
    RuntimeSpec,
)

ALL_VERSIONS = ("v1alpha1", "v1alpha2", "v1alpha3", "v1beta1", "v1")
ANALYSIS_VERSIONS = ("v1alpha3", "v1beta1", "v1")


@dataclass(frozen=True)
class Column:
    """One ``additionalPrinterColumns`` entry; ``priority=1`` shows only with ``-o wide``."""

    name: str
    json_path: str
    type: str = "string"
    priority: int = 0


@dataclass(frozen=True)
class Legacy:
    """A ``spec`` field an older served version has and v1 lacks. The CRDs convert with strategy None
    (only ``apiVersion`` changes), so without it in the schema the API server would prune the field when
    it stores the object at v1, and a v1alpha3 manifest would silently lose e.g. its task code."""

    name: str
    type: Any
    versions: str
    meaning: str


@dataclass(frozen=True)
class Kind:
    group: str
    model: type[msgspec.Struct]
    versions: tuple[str, ...]
    storage: str = "v1"
    short_names: tuple[str, ...] = ()
    status: Any = None
    """The status type when the model has none (``str`` for KLT's unused string statuses)."""
    columns: tuple[Column, ...] = ()
    legacy: tuple[Legacy, ...] = ()
    constraints: dict[tuple[str, ...], dict[str, Any]] = field(default_factory=dict)
    """Validation KLT's CRDs carry that the models do not, by property path (§1.7, §1.12, §1.13)."""

    @property
    def kind(self) -> str:
        """The kind name, read from the model's ``kind`` default so the two cannot disagree."""
        (kind,) = (f.default for f in msgspec.structs.fields(self.model) if f.name == "kind")
        return str(kind)

    @property
    def plural(self) -> str:
        lower = self.kind.lower()
        return lower[:-2] + "es" if lower.endswith("is") else lower + "s"

    @property
    def crd_name(self) -> str:
        return f"{self.plural}.{self.group}"


def _wide(*names: str) -> tuple[Column, ...]:
    """Phase-state columns shown with ``-o wide``; each reads the status field of the same name."""
    return tuple(Column(name, f".status.{name[0].lower()}{name[1:]}", priority=1) for name in names)


_CHECK_LISTS = tuple(
    Legacy(name, list[str], "v1alpha1-v1alpha3", "moved to KeptnAppContext in v1beta1")
    for name in (
        "preDeploymentTasks",
        "postDeploymentTasks",
        "preDeploymentEvaluations",
        "postDeploymentEvaluations",
    )
)

KINDS: tuple[Kind, ...] = (
    Kind(LIFECYCLE_GROUP, KeptnApp, ALL_VERSIONS, status=KeptnAppStatus, legacy=_CHECK_LISTS),
    Kind(LIFECYCLE_GROUP, KeptnAppContext, ("v1beta1", "v1"), status=str),
    Kind(LIFECYCLE_GROUP, KeptnAppCreationRequest, ("v1alpha3", "v1beta1", "v1")),
    Kind(
        LIFECYCLE_GROUP,
        KeptnAppVersion,
        ALL_VERSIONS,
        short_names=("kav",),
        columns=(
            Column("AppName", ".spec.appName"),
            Column("Version", ".spec.version"),
            Column("Phase", ".status.currentPhase"),
            *_wide(
                "PreDeploymentStatus",
                "PreDeploymentEvaluationStatus",
                "WorkloadOverallStatus",
                "PostDeploymentStatus",
                "PostDeploymentEvaluationStatus",
                "PromotionStatus",
            ),
        ),
    ),
    Kind(
        LIFECYCLE_GROUP,
        KeptnEvaluation,
        ALL_VERSIONS,
        short_names=("ke",),
        columns=(
            Column("AppName", ".spec.appName"),
            Column("AppVersion", ".spec.appVersion"),
            Column("WorkloadName", ".spec.workload"),
            Column("WorkloadVersion", ".spec.workloadVersion"),
            Column("RetryCount", ".status.retryCount", type="integer"),
            Column("EvaluationStatus", ".status.evaluationStatus"),
            Column("OverallStatus", ".status.overallStatus"),
        ),
    ),
    Kind(LIFECYCLE_GROUP, KeptnEvaluationDefinition, ALL_VERSIONS, short_names=("ked",), status=str),
    Kind(
        LIFECYCLE_GROUP,
        KeptnTask,
        ALL_VERSIONS,
        columns=(
            Column("AppName", ".spec.context.appName"),
            Column("AppVersion", ".spec.context.appVersion"),
            Column("WorkloadName", ".spec.context.workloadName"),
            Column("WorkloadVersion", ".spec.context.workloadVersion"),
            Column("Job Name", ".status.jobName"),
            Column("Status", ".status.status"),
        ),
    ),
    Kind(
        LIFECYCLE_GROUP,
        KeptnTaskDefinition,
        ALL_VERSIONS,
        status=KeptnTaskDefinitionStatus,
        legacy=(Legacy("function", RuntimeSpec, "v1alpha1-v1beta1", "the old name of `deno`"),),
        constraints={("spec", "timeout"): {"pattern": r"^0|([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$"}},
    ),
    Kind(LIFECYCLE_GROUP, KeptnWorkload, ALL_VERSIONS),
    Kind(
        LIFECYCLE_GROUP,
        KeptnWorkloadVersion,
        ("v1alpha4", "v1beta1", "v1"),
        short_names=("kwv",),
        columns=(
            Column("AppName", ".spec.app"),
            Column("WorkloadName", ".spec.workloadName"),
            Column("WorkloadVersion", ".spec.version"),
            Column("Phase", ".status.currentPhase"),
            *_wide(
                "PreDeploymentStatus",
                "PreDeploymentEvaluationStatus",
                "DeploymentStatus",
                "PostDeploymentStatus",
                "PostDeploymentEvaluationStatus",
            ),
        ),
    ),
    Kind(
        METRICS_GROUP,
        KeptnMetric,
        ALL_VERSIONS,
        status=MetricStatus,
        columns=(
            Column("Provider", ".spec.provider.name"),
            Column("Query", ".spec.query"),
            Column("Value", ".status.value"),
        ),
        constraints={
            ("spec", "range", "aggregation"): {"enum": ["p90", "p95", "p99", "max", "min", "avg", "median"]},
            ("spec", "range", "storedResults"): {"maximum": 255},
        },
    ),
    Kind(
        METRICS_GROUP,
        KeptnMetricsProvider,
        ("v1alpha2", "v1alpha3", "v1beta1", "v1"),
        short_names=("kmp",),
        status=str,
        constraints={("spec", "type"): {"pattern": "cortex|datadog|dql|dynatrace|prometheus|thanos|elastic"}},
    ),
    Kind(METRICS_GROUP, Analysis, ANALYSIS_VERSIONS),
    Kind(METRICS_GROUP, AnalysisDefinition, ANALYSIS_VERSIONS),
    Kind(METRICS_GROUP, AnalysisValueTemplate, ANALYSIS_VERSIONS),
    Kind(OPTIONS_GROUP, KeptnConfig, ("v1alpha1",), storage="v1alpha1", status=str),
)
