"""KLT's analysis kinds of ``metrics.keptn.sh`` in their v1 shape (klt-facts §1.14, scoring in §7).

An AnalysisValueTemplate is a provider and a query template; an AnalysisDefinition weighs objectives,
each pointing at a template, against failure and warning targets; an Analysis asks for one definition to
be scored over a timeframe. Field names are KLT's (camelCase on the wire); objects are open world, as
Kubernetes keeps them. Older served versions (v1alpha3, v1beta1) have the same shape.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import msgspec

from shared.keptn.meta import ObjectMeta
from shared.keptn.resources import METRICS_GROUP

METRICS_API = f"{METRICS_GROUP}/v1"

_DECIMAL = r"(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))"
QUANTITY_PATTERN = rf"^(\+|-)?{_DECIMAL}(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?{_DECIMAL}))?$"
"""A Kubernetes ``resource.Quantity`` written as a string (``"10"``, ``"0.5"``, ``"100m"``, ``"1Ki"``)."""

Quantity = Annotated[str, msgspec.Meta(pattern=QUANTITY_PATTERN)] | int | float
"""A target bound. Kubernetes takes an integer or a quantity string; a plain YAML float is accepted
locally too, but the API server wants it quoted (``"0.5"``)."""

Percentage = Annotated[int, msgspec.Meta(ge=0, le=100)]


class _Spec(msgspec.Struct, kw_only=True, rename="camel", omit_defaults=True):
    """Base for spec parts: camelCase names, defaults left out when written back."""


class _StatusPart(msgspec.Struct, kw_only=True, rename="camel"):
    """Base for status parts: every field written, as klt reports the whole result."""


class ObjectReference(_Spec, kw_only=True):
    """A named object; an empty namespace means a default that depends on the referrer (§7)."""

    name: str
    namespace: str = ""


# --- AnalysisValueTemplate ---------------------------------------------------------------------


class AnalysisValueTemplateSpec(_Spec, kw_only=True):
    provider: ObjectReference
    """The KeptnMetricsProvider that runs the query."""
    query: str
    """A Go ``text/template`` executed with the Analysis ``args`` as data, e.g. ``{{.ns}}`` (§7)."""


class AnalysisValueTemplate(msgspec.Struct, kw_only=True, rename="camel"):
    """A query against one provider, shared by the objectives of any number of definitions."""

    api_version: str = METRICS_API
    kind: str = "AnalysisValueTemplate"
    metadata: ObjectMeta
    spec: AnalysisValueTemplateSpec


# --- AnalysisDefinition ------------------------------------------------------------------------


class OperatorValue(_Spec, kw_only=True):
    fixed_value: Quantity


class RangeValue(_Spec, kw_only=True):
    low_bound: Quantity
    high_bound: Quantity


class Operator(_Spec, kw_only=True):
    """A comparison of the objective's value; KLT's webhook wants exactly one of these set."""

    less_than: OperatorValue | None = None
    less_than_or_equal: OperatorValue | None = None
    greater_than: OperatorValue | None = None
    greater_than_or_equal: OperatorValue | None = None
    equal_to: OperatorValue | None = None
    in_range: RangeValue | None = None
    not_in_range: RangeValue | None = None


class Target(_Spec, kw_only=True):
    """When the value counts as a failure, and (if not a failure) when as a warning."""

    failure: Operator | None = None
    warning: Operator | None = None


class AnalysisObjective(_Spec, kw_only=True):
    analysis_value_template_ref: ObjectReference
    target: Target = msgspec.field(default_factory=Target)
    weight: int = 1
    """Share of the total score this objective carries (KLT's default 1)."""
    key_objective: bool = False
    """A failed key objective fails the whole analysis, whatever the score."""


class TotalScore(_Spec, kw_only=True):
    pass_percentage: Percentage
    """Score (percent of the summed weights) at or above which the analysis passes."""
    warning_percentage: Percentage
    """Score at or above which a non-passing analysis is a warning; must be below ``passPercentage``."""


class AnalysisDefinitionSpec(_Spec, kw_only=True):
    objectives: list[AnalysisObjective] = msgspec.field(default_factory=list)
    total_score: TotalScore


class AnalysisDefinition(msgspec.Struct, kw_only=True, rename="camel"):
    """Objectives and the score an Analysis must reach."""

    api_version: str = METRICS_API
    kind: str = "AnalysisDefinition"
    metadata: ObjectMeta
    spec: AnalysisDefinitionSpec


# --- Analysis ----------------------------------------------------------------------------------


class Timeframe(_Spec, kw_only=True):
    """Either ``recent`` (a duration back from now) or both ``from`` and ``to`` (RFC 3339)."""

    from_: str = msgspec.field(default="", name="from")
    to: str = ""
    recent: str = ""


class AnalysisSpec(_Spec, kw_only=True):
    timeframe: Timeframe
    args: dict[str, str] = msgspec.field(default_factory=dict)
    """Values for the query templates (``{{.name}}``)."""
    analysis_definition: ObjectReference


class AnalysisState(StrEnum):
    """``status.state`` of an Analysis (§1.14): it has no Failed state; ``pass`` tells the outcome."""

    PENDING = "Pending"
    PROGRESSING = "Progressing"
    COMPLETED = "Completed"


class ResolvedTimeframe(_StatusPart, kw_only=True):
    """The timeframe as first reconciled; ``recent`` is turned into ``from = now - recent``, ``to = now``."""

    from_: str = msgspec.field(default="", name="from")
    to: str = ""


class ProviderResult(_StatusPart, kw_only=True):
    """One objective's fetched value, kept so a retry only fetches what is missing or failed."""

    objective_reference: ObjectReference
    query: str = ""
    value: str = ""
    err_msg: str = ""


class AnalysisStatus(_StatusPart, kw_only=True):
    timeframe: ResolvedTimeframe = msgspec.field(default_factory=ResolvedTimeframe)
    raw: str = ""
    """The full scoring result as a JSON string (§7)."""
    pass_: bool = msgspec.field(default=False, name="pass")
    warning: bool = False
    state: AnalysisState = AnalysisState.PENDING
    stored_values: dict[str, ProviderResult] = msgspec.field(default_factory=dict)
    """Keyed by the template reference: ``name``, or ``name-namespace`` when a namespace is set."""


class Analysis(msgspec.Struct, kw_only=True, rename="camel"):
    """A request to score one AnalysisDefinition over a timeframe."""

    api_version: str = METRICS_API
    kind: str = "Analysis"
    metadata: ObjectMeta
    spec: AnalysisSpec
    status: AnalysisStatus = msgspec.field(default_factory=AnalysisStatus)
