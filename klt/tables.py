"""``klt get`` tables with KLT's printer columns (``kubectl get keptnappversions`` and friends).

Each kind is a list of columns (header and how to read the cell) plus the extra columns ``-o wide`` shows,
so a table is data, not code per kind.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from shared.keptn.lifecycle import KeptnAppVersion, KeptnEvaluation, KeptnTask, KeptnWorkloadVersion

T = TypeVar("T")
Row = Sequence[str]


@dataclass(frozen=True)
class Table:
    headers: Sequence[str]
    rows: Sequence[Row]

    def render(self) -> str:
        if not self.rows:
            return "No resources found."
        cells = [list(self.headers), *[list(row) for row in self.rows]]
        widths = [max(len(row[i]) for row in cells) for i in range(len(self.headers))]
        return "\n".join(
            "   ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in cells
        )


@dataclass(frozen=True)
class Columns(Generic[T]):
    """The printer columns of one kind: always shown, then the ones ``-o wide`` adds."""

    base: Sequence[tuple[str, Callable[[T], Any]]]
    wide: Sequence[tuple[str, Callable[[T], Any]]] = ()

    def table(self, items: Sequence[T], wide: bool) -> Table:
        columns = [*self.base, *(self.wide if wide else ())]
        return Table(
            [header for header, _ in columns], [[str(read(item)) for _, read in columns] for item in items]
        )


def _namespace(obj: Any) -> str:
    return str(obj.metadata.namespace)


def _name(obj: Any) -> str:
    return str(obj.metadata.name)


_PHASE_STATUSES_WIDE = (
    ("PREDEPLOYMENTSTATUS", lambda o: o.status.pre_deployment_status),
    ("PREDEPLOYMENTEVALUATIONSTATUS", lambda o: o.status.pre_deployment_evaluation_status),
)
_POST_STATUSES_WIDE = (
    ("POSTDEPLOYMENTSTATUS", lambda o: o.status.post_deployment_status),
    ("POSTDEPLOYMENTEVALUATIONSTATUS", lambda o: o.status.post_deployment_evaluation_status),
)

APP_VERSIONS: Columns[KeptnAppVersion] = Columns(
    base=(
        ("NAMESPACE", _namespace),
        ("NAME", _name),
        ("APPNAME", lambda av: av.spec.app_name),
        ("VERSION", lambda av: av.spec.version),
        ("PHASE", lambda av: av.status.current_phase),
        ("STATUS", lambda av: av.status.status),
    ),
    wide=(
        *_PHASE_STATUSES_WIDE,
        ("WORKLOADOVERALLSTATUS", lambda av: av.status.workload_overall_status),
        *_POST_STATUSES_WIDE,
    ),
)

WORKLOAD_VERSIONS: Columns[KeptnWorkloadVersion] = Columns(
    base=(
        ("NAMESPACE", _namespace),
        ("NAME", _name),
        ("APPNAME", lambda wv: wv.spec.app),
        ("WORKLOADNAME", lambda wv: wv.spec.workload_name),
        ("WORKLOADVERSION", lambda wv: wv.spec.version),
        ("PHASE", lambda wv: wv.status.current_phase),
        ("STATUS", lambda wv: wv.status.status),
    ),
    wide=(
        *_PHASE_STATUSES_WIDE,
        ("DEPLOYMENTSTATUS", lambda wv: wv.status.deployment_status),
        *_POST_STATUSES_WIDE,
    ),
)

TASKS: Columns[KeptnTask] = Columns(
    base=(
        ("NAMESPACE", _namespace),
        ("NAME", _name),
        ("APPNAME", lambda t: t.spec.context.app_name),
        ("APPVERSION", lambda t: t.spec.context.app_version),
        ("WORKLOADNAME", lambda t: t.spec.context.workload_name),
        ("WORKLOADVERSION", lambda t: t.spec.context.workload_version),
        ("JOB NAME", lambda t: t.status.job_name),
        ("STATUS", lambda t: t.status.status),
    ),
    wide=(
        ("ATTEMPTS", lambda t: t.status.attempts),
        ("REASON", lambda t: t.status.reason),
        ("MESSAGE", lambda t: t.status.message),
    ),
)

EVALUATIONS: Columns[KeptnEvaluation] = Columns(
    base=(
        ("NAMESPACE", _namespace),
        ("NAME", _name),
        ("APPNAME", lambda e: e.spec.app_name),
        ("APPVERSION", lambda e: e.spec.app_version),
        ("WORKLOADNAME", lambda e: e.spec.workload),
        ("WORKLOADVERSION", lambda e: e.spec.workload_version),
        ("RETRYCOUNT", lambda e: e.status.retry_count),
        (
            "EVALUATIONSTATUS",
            lambda e: ",".join(
                f"{m}={item.status}" for m, item in sorted(e.status.evaluation_status.items())
            ),
        ),
        ("OVERALLSTATUS", lambda e: e.status.overall_status),
    ),
)


def metrics_table(items: list[tuple[str, str, str, str, str]]) -> Table:
    """Rows of (namespace, name, provider, query, value), as KLT's KeptnMetric columns."""
    return Table(["NAMESPACE", "NAME", "PROVIDER", "QUERY", "VALUE"], [list(item) for item in items])
