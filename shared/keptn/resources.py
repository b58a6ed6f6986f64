"""The KLT kinds a user writes, in their current (v1) shape (klt-facts §1).

Older served versions (v1alpha1…v1beta1) are converted onto these shapes by ``shared.manifests``;
everything after loading sees only these classes. Field names are KLT's (camelCase on the wire).
Objects are open world: unknown fields are ignored, as the Kubernetes API would keep them.
"""

from __future__ import annotations

import msgspec

from shared.keptn.meta import ObjectMeta

LIFECYCLE_GROUP = "lifecycle.keptn.sh"
METRICS_GROUP = "metrics.keptn.sh"
OPTIONS_GROUP = "options.keptn.sh"


class _Spec(msgspec.Struct, kw_only=True, rename="camel", omit_defaults=True):
    """Base for spec parts: camelCase names, defaults left out when written back."""


# --- KeptnApp / KeptnAppContext (§1.1, §1.2) ---------------------------------------------------


class WorkloadRef(_Spec, kw_only=True):
    """An app's workload: its name without the app prefix, and its version."""

    name: str
    version: str


class KeptnAppSpec(_Spec, kw_only=True):
    version: str
    revision: int = 1
    workloads: list[WorkloadRef] = msgspec.field(default_factory=list)


class KeptnApp(msgspec.Struct, kw_only=True, rename="camel", omit_defaults=True):
    api_version: str = f"{LIFECYCLE_GROUP}/v1"
    kind: str = "KeptnApp"
    metadata: ObjectMeta
    spec: KeptnAppSpec


class KeptnAppContextSpec(_Spec, kw_only=True):
    pre_deployment_tasks: list[str] = msgspec.field(default_factory=list)
    post_deployment_tasks: list[str] = msgspec.field(default_factory=list)
    pre_deployment_evaluations: list[str] = msgspec.field(default_factory=list)
    post_deployment_evaluations: list[str] = msgspec.field(default_factory=list)
    promotion_tasks: list[str] = msgspec.field(default_factory=list)
    metadata: dict[str, str] = msgspec.field(default_factory=dict)
    span_links: list[str] = msgspec.field(default_factory=list)


class KeptnAppContext(msgspec.Struct, kw_only=True, rename="camel", omit_defaults=True):
    api_version: str = f"{LIFECYCLE_GROUP}/v1"
    kind: str = "KeptnAppContext"
    metadata: ObjectMeta
    spec: KeptnAppContextSpec = msgspec.field(default_factory=KeptnAppContextSpec)


# --- KeptnTaskDefinition (§1.7) ----------------------------------------------------------------


class NameRef(_Spec, kw_only=True):
    name: str = ""


class InlineCode(_Spec, kw_only=True):
    code: str = ""


class HttpRef(_Spec, kw_only=True):
    url: str = ""


class ParameterMap(_Spec, kw_only=True):
    map: dict[str, str] = msgspec.field(default_factory=dict)


class SecureParameters(_Spec, kw_only=True):
    secret: str = ""


class RuntimeSpec(_Spec, kw_only=True):
    """A deno or python task: where its code comes from and what it is given."""

    function_ref: NameRef | None = None
    inline: InlineCode | None = None
    http_ref: HttpRef | None = None
    config_map_ref: NameRef | None = None
    parameters: ParameterMap = msgspec.field(default_factory=ParameterMap)
    secure_parameters: SecureParameters = msgspec.field(default_factory=SecureParameters)
    cmd_parameters: str = ""


class AutomountServiceAccountToken(_Spec, kw_only=True):
    type: bool | None = None


class KeptnTaskDefinitionSpec(_Spec, kw_only=True):
    deno: RuntimeSpec | None = None
    python: RuntimeSpec | None = None
    container: dict[str, object] | None = None
    """A full ``corev1.Container``, kept as the user wrote it (it is handed to Kubernetes verbatim)."""
    retries: int = 10
    timeout: str = "5m"
    service_account: NameRef | None = None
    automount_service_account_token: AutomountServiceAccountToken | None = None
    ttl_seconds_after_finished: int = 300
    image_pull_secrets: list[NameRef] = msgspec.field(default_factory=list)


class KeptnTaskDefinition(msgspec.Struct, kw_only=True, rename="camel", omit_defaults=True):
    api_version: str = f"{LIFECYCLE_GROUP}/v1"
    kind: str = "KeptnTaskDefinition"
    metadata: ObjectMeta
    spec: KeptnTaskDefinitionSpec


# --- KeptnEvaluationDefinition (§1.9) ----------------------------------------------------------


class MetricRef(_Spec, kw_only=True):
    name: str
    namespace: str = ""


class Objective(_Spec, kw_only=True):
    keptn_metric_ref: MetricRef
    evaluation_target: str


class KeptnEvaluationDefinitionSpec(_Spec, kw_only=True):
    objectives: list[Objective] = msgspec.field(default_factory=list)
    retries: int = 10
    retry_interval: str = "5s"


class KeptnEvaluationDefinition(msgspec.Struct, kw_only=True, rename="camel", omit_defaults=True):
    api_version: str = f"{LIFECYCLE_GROUP}/v1"
    kind: str = "KeptnEvaluationDefinition"
    metadata: ObjectMeta
    spec: KeptnEvaluationDefinitionSpec


# --- KeptnMetric, KeptnMetricsProvider (§1.12, §1.13) ------------------------------------------


class MetricRange(_Spec, kw_only=True):
    interval: str = "5m"
    step: str = ""
    aggregation: str = ""
    stored_results: int = 0


class KeptnMetricSpec(_Spec, kw_only=True):
    provider: NameRef
    query: str
    fetch_interval_seconds: int
    range: MetricRange | None = None


class KeptnMetric(msgspec.Struct, kw_only=True, rename="camel", omit_defaults=True):
    api_version: str = f"{METRICS_GROUP}/v1"
    kind: str = "KeptnMetric"
    metadata: ObjectMeta
    spec: KeptnMetricSpec


class SecretKeyRef(_Spec, kw_only=True):
    name: str = ""
    key: str = ""
    optional: bool | None = None


class KeptnMetricsProviderSpec(_Spec, kw_only=True):
    type: str = ""
    target_server: str
    secret_key_ref: SecretKeyRef | None = None
    insecure_skip_tls_verify: bool = False


class KeptnMetricsProvider(msgspec.Struct, kw_only=True, rename="camel", omit_defaults=True):
    api_version: str = f"{METRICS_GROUP}/v1"
    kind: str = "KeptnMetricsProvider"
    metadata: ObjectMeta
    spec: KeptnMetricsProviderSpec

    @property
    def provider_type(self) -> str:
        """KLT's ``GetType()``: ``spec.type``, falling back to the object's name (§1.13)."""
        return (self.spec.type or self.metadata.name).lower()


# --- KeptnConfig (§1.11) -----------------------------------------------------------------------


class KeptnConfigSpec(msgspec.Struct, kw_only=True, omit_defaults=True):
    otel_collector_url: str = msgspec.field(default="", name="OTelCollectorUrl")
    keptn_app_creation_request_timeout_seconds: int = msgspec.field(
        default=30, name="keptnAppCreationRequestTimeoutSeconds"
    )
    cloud_events_endpoint: str = msgspec.field(default="", name="cloudEventsEndpoint")
    block_deployment: bool = msgspec.field(default=True, name="blockDeployment")
    observability_timeout: str = msgspec.field(default="5m", name="observabilityTimeout")
    rest_api_enabled: bool = msgspec.field(default=False, name="restApiEnabled")


class KeptnConfig(msgspec.Struct, kw_only=True, rename="camel", omit_defaults=True):
    api_version: str = f"{OPTIONS_GROUP}/v1alpha1"
    kind: str = "KeptnConfig"
    metadata: ObjectMeta
    spec: KeptnConfigSpec = msgspec.field(default_factory=KeptnConfigSpec)
